//! The OCI image layout inside a bundle: [`Layout`], built by [`Layout::from_plan`] from a
//! copy [`Plan`] whose targets are the source repositories themselves, and `index.json`
//! read back by [`parse_index`].
//!
//! `index.json` names each image and chart by its full source reference, in both
//! `org.opencontainers.image.ref.name` (what skopeo's `oci:` and `oci-archive:` look up) and
//! `io.containerd.image.name` (what containerd and nerdctl look up). Referrers are untagged
//! entries, and each subject's referrers also get a `sha256-<hex>` fallback-tag index (so
//! tools that only know the tag scheme find them); cosign's `.sig`/`.att`/`.sbom` tags are
//! named entries like any tag.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::plan::{
    BlobStep, Descriptor, Manifest, OCI_INDEX, Plan, PlanError, Repository, fallback_index,
    parse_manifest,
};

/// The layout marker file and its content.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// The layout's index.
pub const INDEX_FILE: &str = "index.json";
/// The annotation that names an entry (OCI), and the one containerd reads.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// `blobs/<algorithm>/<hex>`.
#[must_use]
pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

/// The digest a `blobs/<algorithm>/<hex>` member holds; None for any other name.
#[must_use]
pub fn blob_digest(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{algorithm}:{hex}")).ok()
}

/// Whether a tag belongs to a subject rather than naming an image: a `sha256-<hex>`
/// referrers fallback tag, or a cosign `sha256-<hex>.sig` / `.att` / `.sbom` tag.
#[must_use]
pub fn is_referrer_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|rest| {
        let hex = rest.split('.').next().unwrap_or(rest);
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The name an index entry is known by: the containerd name when it is set, else the OCI
/// ref name. Either may be a full reference or (other tools) a bare tag.
#[must_use]
pub fn entry_name(d: &Descriptor) -> Option<&str> {
    d.annotations
        .get(CONTAINERD_NAME)
        .or_else(|| d.annotations.get(REF_NAME))
        .map(String::as_str)
        .filter(|n| !n.is_empty())
}

/// A descriptor named `name` in both annotations.
fn named(mut d: Descriptor, name: String) -> Descriptor {
    d.annotations.insert(REF_NAME.to_owned(), name.clone());
    d.annotations.insert(CONTAINERD_NAME.to_owned(), name);
    d
}

/// Why `index.json` cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LayoutError {}

/// The entries of an `index.json`.
pub fn parse_index(bytes: &[u8]) -> Result<Vec<Descriptor>, LayoutError> {
    #[derive(Deserialize)]
    struct Index {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u64>,
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    let index: Index = serde_json::from_slice(bytes).map_err(|e| {
        LayoutError(format!(
            "index.json is not an OCI image index ({e}); the bundle is damaged or is not an \
             OCI image layout"
        ))
    })?;
    if index.schema_version != Some(2) {
        return Err(LayoutError(format!(
            "index.json has schemaVersion {}, not 2",
            index
                .schema_version
                .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
        )));
    }
    Ok(index.manifests)
}

/// `index.json` bytes listing `entries`.
#[must_use]
pub fn index_json(entries: &[Descriptor]) -> Vec<u8> {
    let mut index = Map::new();
    index.insert("schemaVersion".into(), 2.into());
    index.insert("mediaType".into(), OCI_INDEX.into());
    index.insert(
        "manifests".into(),
        serde_json::to_value(entries).unwrap_or(Value::Array(Vec::new())),
    );
    let mut out = serde_json::to_vec_pretty(&Value::Object(index)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A manifest stored as a blob of the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutManifest {
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

/// What an export writes, in the order it writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// `index.json`'s entries.
    pub index: Vec<Descriptor>,
    /// Every manifest (and fallback index), each once.
    pub manifests: Vec<LayoutManifest>,
    /// Config blobs (small), then layers.
    pub configs: Vec<BlobStep>,
    pub layers: Vec<BlobStep>,
}

impl Layout {
    /// The layout of `plan`, whose target repositories are the names the bundle gives (the
    /// source references).
    pub fn from_plan(plan: &Plan) -> Result<Layout, PlanError> {
        let mut layout = Layout::default();
        let mut stored: BTreeSet<Digest> = BTreeSet::new();
        let mut configs: BTreeSet<Digest> = BTreeSet::new();
        let mut sizes: BTreeMap<Digest, (String, u64)> = BTreeMap::new();
        for m in &plan.manifests {
            sizes.insert(m.digest.clone(), (m.media_type.clone(), m.size));
            if stored.insert(m.digest.clone()) {
                layout.manifests.push(LayoutManifest {
                    digest: m.digest.clone(),
                    bytes: m.bytes.clone(),
                });
                if let Ok(Manifest::Image {
                    config: Some(c), ..
                }) = parse_manifest(&m.bytes, &m.media_type)
                {
                    configs.insert(c.digest);
                }
            }
        }
        let descriptor = |digest: &Digest| {
            let (media_type, size) = sizes.get(digest).cloned().unwrap_or_default();
            Descriptor::new(&media_type, digest.clone(), size)
        };

        // Named entries: every tag, then images known only by digest.
        let mut tagged: BTreeSet<Digest> = BTreeSet::new();
        for t in &plan.tags {
            tagged.insert(t.digest.clone());
            layout.index.push(named(
                descriptor(&t.digest),
                format!("{}:{}", t.target, t.tag),
            ));
        }
        for image in &plan.images {
            if tagged.insert(image.digest.clone()) {
                layout
                    .index
                    .push(named(descriptor(&image.digest), image.destination.clone()));
            }
        }

        // Referrers: untagged entries, and per subject a fallback-tag index of those that
        // carry a `subject` (cosign `.sig` tags do not, and are named above).
        let mut fallback: BTreeMap<(Repository, Digest), Vec<Descriptor>> = BTreeMap::new();
        for m in plan.manifests.iter().filter(|m| m.subject.is_some()) {
            if tagged.insert(m.digest.clone()) {
                layout.index.push(descriptor(&m.digest));
            }
            let has_subject = serde_json::from_slice::<Value>(&m.bytes)
                .ok()
                .is_some_and(|v| v.get("subject").is_some());
            if let (Some(subject), true) = (&m.subject, has_subject) {
                let mut d = descriptor(&m.digest);
                d.artifact_type = m.artifact_type.clone();
                d.annotations = m.annotations.clone();
                fallback
                    .entry((m.target.clone(), subject.clone()))
                    .or_default()
                    .push(d);
            }
        }
        for ((repo, subject), referrers) in fallback {
            let bytes = fallback_index(None, &referrers)?;
            let digest = Digest::sha256(&bytes);
            let mut d = Descriptor::new(OCI_INDEX, digest.clone(), bytes.len() as u64);
            d = named(d, format!("{repo}:{}", subject.fallback_tag()));
            layout.index.push(d);
            if stored.insert(digest.clone()) {
                layout.manifests.push(LayoutManifest { digest, bytes });
            }
        }

        for b in &plan.blobs {
            if stored.contains(&b.digest) {
                continue;
            }
            if configs.contains(&b.digest) {
                layout.configs.push(b.clone());
            } else {
                layout.layers.push(b.clone());
            }
        }
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ImageStep, PlanBuilder};

    fn image(config: &[u8], layer: &[u8], subject: Option<(&Digest, u64)>) -> Vec<u8> {
        let mut v = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": Digest::sha256(config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": Digest::sha256(layer).to_string(), "size": layer.len()}],
        });
        if let Some((d, size)) = subject {
            v["subject"] = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d.to_string(), "size": size});
            v["artifactType"] = "application/vnd.dev.sigstore.bundle.v0.3+json".into();
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn entries_name_images_and_index_referrers() {
        let repo = Repository::new("registry.example", "team/app");
        let app = image(b"cfg", b"layer", None);
        let app_digest = Digest::sha256(&app);
        let sig = image(b"{}", b"sig", Some((&app_digest, app.len() as u64)));
        let sig_digest = Digest::sha256(&sig);
        let mut b = PlanBuilder::new();
        b.add_manifest(&repo, &repo, app.clone(), crate::plan::OCI_MANIFEST, None)
            .unwrap();
        b.add_referrer(
            &app_digest,
            &repo,
            &repo,
            sig,
            crate::plan::OCI_MANIFEST,
            None,
        )
        .unwrap();
        b.tag(&repo, "1.0", &app_digest).unwrap();
        b.image(ImageStep {
            source: "registry.example/team/app:1.0".into(),
            destination: "registry.example/team/app:1.0".into(),
            digest: app_digest.clone(),
            source_digest: app_digest.clone(),
            platforms: vec![],
            referrers: 1,
        });
        let layout = Layout::from_plan(&b.build()).unwrap();
        let names: Vec<Option<&str>> = layout.index.iter().map(entry_name).collect();
        assert_eq!(
            names,
            [
                Some("registry.example/team/app:1.0"),
                None,
                Some(format!("registry.example/team/app:{}", app_digest.fallback_tag()).as_str())
            ]
        );
        assert_eq!(layout.index[1].digest, sig_digest);
        assert_eq!(layout.manifests.len(), 3);
        let fallback = &layout.manifests[2];
        assert!(String::from_utf8_lossy(&fallback.bytes).contains(sig_digest.as_str()));
        assert_eq!(layout.configs.len(), 2);
        assert_eq!(layout.layers.len(), 2);
        let json = index_json(&layout.index);
        let back = parse_index(&json).unwrap();
        assert_eq!(back, layout.index);
    }

    #[test]
    fn garbage_index_is_refused_with_the_reason() {
        let err = parse_index(b"\x00garbage").unwrap_err();
        assert!(err.0.contains("not an OCI image index"), "{err}");
        let err = parse_index(br#"{"manifests":[]}"#).unwrap_err();
        assert!(err.0.contains("schemaVersion"), "{err}");
        assert_eq!(
            blob_digest(&blob_path(&Digest::sha256(b"x"))),
            Some(Digest::sha256(b"x"))
        );
        assert_eq!(blob_digest("purser/bundle.json"), None);
    }
}
