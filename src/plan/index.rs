//! Indexes purser writes itself: a platform subset of an index ([`filter_index`]) and the
//! referrers tag-schema index ([`fallback_index`]), plus reading a referrers list
//! ([`referrers_of`]). Both writers emit canonical JSON (object keys sorted, no whitespace), so
//! the same input always gives the same bytes and digest, whatever features `serde_json` was
//! built with.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::PlanError;
use super::manifest::{Descriptor, OCI_INDEX, Platform, is_index};

const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
const ATTESTATION: &str = "attestation-manifest";

/// One `--platform` value: `os/arch` (any variant) or `os/arch/variant`.
struct Wanted<'a> {
    os: &'a str,
    architecture: &'a str,
    variant: Option<&'a str>,
}

impl<'a> Wanted<'a> {
    fn parse(input: &'a str) -> Result<Wanted<'a>, PlanError> {
        let parts: Vec<&str> = input.split('/').collect();
        match parts[..] {
            [os, architecture] if !os.is_empty() && !architecture.is_empty() => Ok(Wanted {
                os,
                architecture,
                variant: None,
            }),
            [os, architecture, variant]
                if !os.is_empty() && !architecture.is_empty() && !variant.is_empty() =>
            {
                Ok(Wanted {
                    os,
                    architecture,
                    variant: Some(variant),
                })
            }
            _ => Err(PlanError::BadPlatform {
                input: input.to_owned(),
            }),
        }
    }

    fn matches(&self, platform: &Platform) -> bool {
        self.os == platform.os
            && self.architecture == platform.architecture
            && self.variant.is_none_or(|v| {
                Some(v) == default_variant(&platform.architecture, platform.variant())
            })
    }
}

/// `arm64` without a variant is `arm64/v8`, as container runtimes read it.
fn default_variant<'a>(architecture: &str, variant: Option<&'a str>) -> Option<&'a str> {
    match variant {
        None if architecture == "arm64" => Some("v8"),
        other => other,
    }
}

/// What an index entry is, for filtering.
enum Entry {
    /// A platform image (not `unknown/unknown`).
    Platform(Platform),
    /// A BuildKit attestation manifest, and the digest of the manifest it describes.
    Attestation(Option<String>),
    /// Anything else (no platform, or `unknown/unknown` without the attestation annotation):
    /// kept whatever platforms are wanted.
    Other,
}

fn classify(descriptor: &Descriptor) -> Entry {
    if descriptor
        .annotations
        .get(REFERENCE_TYPE)
        .map(String::as_str)
        == Some(ATTESTATION)
    {
        return Entry::Attestation(descriptor.annotations.get(REFERENCE_DIGEST).cloned());
    }
    match &descriptor.platform {
        Some(p) if !(p.os == "unknown" && p.architecture == "unknown") => {
            Entry::Platform(p.clone())
        }
        _ => Entry::Other,
    }
}

/// The index `bytes` (served as `media_type`) narrowed to the platforms `wanted`, each
/// `os/arch` (every variant) or `os/arch/variant` (`linux/arm64/v8` also matches an arm64 entry
/// without a variant).
///
/// Returns `None` when nothing would be dropped (every platform entry matches, or `wanted` is
/// empty): copy the original bytes, whose digest stays valid. Otherwise returns the new index:
/// the matching platform entries, the attestation manifests whose
/// `vnd.docker.reference.digest` names a kept entry (or that name none), every entry without a
/// platform, and every other top-level field unchanged in value. A new index has a new digest
/// (unavoidably: its bytes differ), written as canonical JSON. Fails when no platform entry
/// matches, naming the platforms wanted and the ones present.
pub fn filter_index(
    bytes: &[u8],
    media_type: &str,
    wanted: &[String],
) -> Result<Option<Vec<u8>>, PlanError> {
    if !is_index(media_type) {
        return Err(PlanError::NotAnIndex {
            media_type: media_type.to_owned(),
        });
    }
    let wanted_parsed = wanted
        .iter()
        .map(|w| Wanted::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    if wanted_parsed.is_empty() {
        return Ok(None);
    }
    let bad = |detail: String| PlanError::BadManifest {
        source: None,
        digest: None,
        media_type: media_type.to_owned(),
        detail,
    };
    let mut index: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let Some(Value::Array(entries)) = index.remove("manifests") else {
        return Err(bad("it has no `manifests` list".to_owned()));
    };

    let mut kinds = Vec::with_capacity(entries.len());
    let mut kept_digests = BTreeSet::new();
    let mut present = Vec::new();
    let mut dropped = false;
    for entry in &entries {
        let descriptor: Descriptor = serde_json::from_value(entry.clone())
            .map_err(|e| bad(format!("an entry of `manifests` is not a descriptor: {e}")))?;
        let kind = classify(&descriptor);
        if let Entry::Platform(platform) = &kind {
            present.push(platform.to_string());
            if wanted_parsed.iter().any(|w| w.matches(platform)) {
                kept_digests.insert(descriptor.digest.to_string());
            } else {
                dropped = true;
            }
        }
        kinds.push((kind, descriptor.digest.to_string()));
    }
    if kept_digests.is_empty() {
        return Err(PlanError::NoPlatformMatch {
            wanted: wanted.to_vec(),
            present,
        });
    }
    if !dropped {
        return Ok(None);
    }
    let kept: Vec<Value> = entries
        .into_iter()
        .zip(kinds)
        .filter(|(_, (kind, digest))| match kind {
            Entry::Platform(_) => kept_digests.contains(digest),
            Entry::Attestation(Some(of)) => kept_digests.contains(of),
            Entry::Attestation(None) | Entry::Other => true,
        })
        .map(|(entry, _)| entry)
        .collect();
    index.insert("manifests".to_owned(), Value::Array(kept));
    Ok(Some(canonical(&Value::Object(index))))
}

/// The referrers tag-schema index (stored under [`Digest::fallback_tag`]) after adding `add`:
/// the entries of `existing` (the index now under that tag, if any) kept as they were, then
/// each descriptor of `add` not already listed (by digest), written with its `mediaType`,
/// `digest`, `size`, `artifactType` and `annotations`. Canonical JSON, so deterministic.
///
/// [`Digest::fallback_tag`]: crate::digest::Digest::fallback_tag
pub fn fallback_index(existing: Option<&[u8]>, add: &[Descriptor]) -> Result<Vec<u8>, PlanError> {
    let mut entries: Vec<Value> = match existing {
        None => Vec::new(),
        Some(bytes) => {
            let mut index: Map<String, Value> =
                serde_json::from_slice(bytes).map_err(|e| PlanError::BadIndex {
                    what: "the existing referrers fallback index",
                    detail: e.to_string(),
                })?;
            match index.remove("manifests") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(entries)) => entries,
                Some(_) => {
                    return Err(PlanError::BadIndex {
                        what: "the existing referrers fallback index",
                        detail: "`manifests` is not a list".to_owned(),
                    });
                }
            }
        }
    };
    let mut listed: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e.get("digest").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for descriptor in add {
        if !listed.insert(descriptor.digest.to_string()) {
            continue;
        }
        let mut entry = Map::new();
        entry.insert("mediaType".into(), descriptor.media_type.clone().into());
        entry.insert("digest".into(), descriptor.digest.to_string().into());
        entry.insert("size".into(), descriptor.size.into());
        if let Some(artifact_type) = &descriptor.artifact_type {
            entry.insert("artifactType".into(), artifact_type.clone().into());
        }
        if !descriptor.annotations.is_empty() {
            let annotations = descriptor
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect();
            entry.insert("annotations".into(), Value::Object(annotations));
        }
        entries.push(Value::Object(entry));
    }
    let mut index = Map::new();
    index.insert("schemaVersion".into(), 2.into());
    index.insert("mediaType".into(), OCI_INDEX.into());
    index.insert("manifests".into(), Value::Array(entries));
    Ok(canonical(&Value::Object(index)))
}

/// The descriptors of a referrers API response or a referrers fallback index (an absent
/// `manifests` list reads as none).
pub fn referrers_of(bytes: &[u8]) -> Result<Vec<Descriptor>, PlanError> {
    #[derive(Deserialize)]
    struct Referrers {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    let referrers: Referrers = serde_json::from_slice(bytes).map_err(|e| PlanError::BadIndex {
        what: "the referrers list",
        detail: e.to_string(),
    })?;
    Ok(referrers.manifests)
}

/// `value` as JSON with every object's keys sorted and no whitespace.
fn canonical(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out.into_bytes()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_by_key(|(key, _)| *key);
            out.push('{');
            for (i, (key, field)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(field, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
