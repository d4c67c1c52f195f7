//! The copy plan: [`Plan`], everything one mirror run moves, built by a [`PlanBuilder`].
//!
//! The native side fetches manifests and hands their raw bytes to
//! [`PlanBuilder::add_manifest`] (or [`PlanBuilder::add_referrer`]), which checks their digest,
//! parses them and answers with the child manifests to fetch next; [`PlanBuilder::tag`] and
//! [`PlanBuilder::image`] record the tags to set and what to report; [`PlanBuilder::build`]
//! puts it all in the order an executor can run without further thought:
//!
//! - `blobs`: one [`BlobStep`] per digest across the whole plan, with every source repository
//!   that holds it and every target repository that needs it;
//! - `manifests`: every manifest after the manifests it names (an index after its children, a
//!   referrer after its subject), each `(target, digest)` once, carrying the exact bytes that
//!   were fetched: manifests are never re-serialised, so digests survive the copy;
//! - `tags`: last, once everything they point to is in place.
//!
//! A plan is plain data: [`Plan::to_json`] / [`Plan::from_json`] carry it to another process,
//! [`Plan::shares`] splits its blobs between parallel workers and [`Plan::commit`] is what runs
//! after them. [`filter_index`] narrows an index to some platforms, [`fallback_index`] writes
//! the referrers tag-schema index for registries without the referrers API.

mod builder;
mod index;
mod manifest;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;
use crate::reference::Reference;

pub use builder::PlanBuilder;
pub use index::{fallback_index, filter_index, referrers_of};
pub use manifest::{
    DOCKER_LIST, DOCKER_MANIFEST, Descriptor, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, Manifest,
    OCI_ARTIFACT_MANIFEST, OCI_INDEX, OCI_MANIFEST, Platform, annotation, is_index, parse_manifest,
};

/// A repository in a registry: `registry/path`, e.g. `127.0.0.1:5000/team/app`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    /// Host and port: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// The repository path inside the registry: `library/nginx`.
    pub path: String,
}

impl Repository {
    #[must_use]
    pub fn new(registry: impl Into<String>, path: impl Into<String>) -> Repository {
        Repository {
            registry: registry.into(),
            path: path.into(),
        }
    }

    /// Splits `registry/path` at the first `/`; both parts must be non-empty.
    pub fn parse(input: &str) -> Result<Repository, PlanError> {
        match input.split_once('/') {
            Some((registry, path)) if !registry.is_empty() && !path.is_empty() => {
                Ok(Repository::new(registry, path))
            }
            _ => Err(PlanError::BadRepository {
                input: input.to_owned(),
            }),
        }
    }

    /// The repository an image reference names (its tag and digest dropped).
    #[must_use]
    pub fn from_reference(reference: &Reference) -> Repository {
        Repository::new(reference.registry(), reference.repository())
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl FromStr for Repository {
    type Err = PlanError;

    fn from_str(s: &str) -> Result<Repository, PlanError> {
        Repository::parse(s)
    }
}

impl Serialize for Repository {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Repository {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Repository, D::Error> {
        let text = String::deserialize(deserializer)?;
        Repository::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One manifest to push, byte for byte as it was fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestStep {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub source: Repository,
    pub target: Repository,
    /// The manifest exactly as fetched (base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
    /// Config and layers that must be in `target` before this manifest is pushed (foreign
    /// layers, served from their `urls`, are left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<Digest>,
    /// Manifests this one names (an index's entries), pushed to `target` before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    /// The manifest this one refers to, when it is a referrer (signature, SBOM, attestation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One blob to copy, once for the whole plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobStep {
    pub digest: Digest,
    pub size: u64,
    /// The media type of the first descriptor that named it.
    #[serde(default)]
    pub media_type: String,
    /// Source repositories whose manifests name it, in first-seen order; the first is preferred.
    pub sources: Vec<Repository>,
    /// Every target repository that needs it, in first-seen order.
    pub targets: Vec<Repository>,
}

/// A tag to point at a manifest once every manifest is pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagStep {
    pub target: Repository,
    pub tag: String,
    pub digest: Digest,
    pub media_type: String,
}

/// One platform of a copied image: `os/arch[/variant]` and its manifest digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePlatform {
    pub platform: String,
    pub digest: Digest,
}

/// One image as the user sees it, for reports and the lock of the copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStep {
    /// The reference as the user or the lock names it.
    pub source: String,
    pub destination: String,
    /// The root manifest's digest at the target.
    pub digest: Digest,
    /// The root manifest's digest at the source; differs from `digest` only when platforms
    /// were filtered out.
    pub source_digest: Digest,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<ImagePlatform>,
    /// How many referrers (signatures, SBOMs, attestations) are copied with it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub referrers: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Everything to copy, in the order to copy it: blobs (any order, in parallel), then
/// manifests (in this order), then tags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<BlobStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<ManifestStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagStep>,
}

/// What a plan moves, for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub images: usize,
    pub manifests: usize,
    /// Unique blobs.
    pub blobs: usize,
    /// Sum of the unique blobs' sizes.
    pub bytes: u64,
    /// Every repository written to, sorted.
    pub target_repositories: Vec<Repository>,
    /// Manifests copied as referrers of another.
    pub referrers: usize,
}

impl Plan {
    #[must_use]
    pub fn totals(&self) -> Totals {
        let targets: BTreeSet<&Repository> = self
            .manifests
            .iter()
            .map(|m| &m.target)
            .chain(self.blobs.iter().flat_map(|b| &b.targets))
            .chain(self.tags.iter().map(|t| &t.target))
            .collect();
        Totals {
            images: self.images.len(),
            manifests: self.manifests.len(),
            blobs: self.blobs.len(),
            bytes: self.blobs.iter().map(|b| b.size).sum(),
            target_repositories: targets.into_iter().cloned().collect(),
            referrers: self
                .manifests
                .iter()
                .filter(|m| m.subject.is_some())
                .count(),
        }
    }

    /// The plan as JSON (manifest bytes in base64), for [`Plan::from_json`].
    #[must_use]
    pub fn to_json(&self) -> String {
        // Every map in a plan has string keys and every value is plain data, so this cannot
        // fail.
        serde_json::to_string_pretty(self).expect("a Plan always serialises to JSON")
    }

    /// Reads a plan [`Plan::to_json`] wrote, checking that every manifest's bytes still match
    /// its digest and size.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| PlanError::BadPlan {
            detail: e.to_string(),
        })?;
        plan.verify()?;
        Ok(plan)
    }

    /// Checks that every manifest's bytes still match its digest and size (a plan read from
    /// elsewhere).
    pub fn verify(&self) -> Result<(), PlanError> {
        for step in &self.manifests {
            let actual = Digest::compute(step.digest.algorithm(), &step.bytes);
            if actual != step.digest || step.size != step.bytes.len() as u64 {
                return Err(PlanError::BadPlan {
                    detail: format!(
                        "the bytes of manifest {} for {} hash to {} ({} bytes, {} recorded)",
                        step.digest,
                        step.target,
                        actual,
                        step.bytes.len(),
                        step.size
                    ),
                });
            }
        }
        Ok(())
    }

    /// The blobs split into parts of about equal bytes, for parallel workers: largest blob
    /// first, each into the share with the fewest bytes so far, so any two shares differ by at
    /// most the largest blob. Each share holds only blobs (in plan order); run
    /// [`Plan::commit`] after all of them.
    ///
    /// Gives `n` shares, but never more than there are blobs: a plan with fewer blobs than `n`
    /// gives one share per blob, and a plan without blobs (or `n == 0`) gives one share,
    /// which is empty when there are no blobs.
    #[must_use]
    pub fn shares(&self, n: usize) -> Vec<Plan> {
        let count = n.clamp(1, self.blobs.len().max(1));
        let mut by_size: Vec<usize> = (0..self.blobs.len()).collect();
        by_size.sort_by(|&a, &b| self.blobs[b].size.cmp(&self.blobs[a].size).then(a.cmp(&b)));
        let mut loads = vec![0u64; count];
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
        for blob in by_size {
            // Ties go to the share with fewer blobs, so empty shares fill first even with
            // empty blobs.
            let lightest = (0..count)
                .min_by_key(|&s| (loads[s], members[s].len(), s))
                .unwrap_or(0);
            loads[lightest] += self.blobs[blob].size;
            members[lightest].push(blob);
        }
        members
            .into_iter()
            .map(|mut share| {
                share.sort_unstable();
                Plan {
                    blobs: share.into_iter().map(|i| self.blobs[i].clone()).collect(),
                    ..Plan::default()
                }
            })
            .collect()
    }

    /// The plan without its blobs: the manifests, tags and images, to run once every share of
    /// [`Plan::shares`] is done.
    #[must_use]
    pub fn commit(&self) -> Plan {
        Plan {
            images: self.images.clone(),
            blobs: Vec::new(),
            manifests: self.manifests.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// Why a manifest, an index or a plan could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// A manifest media type purser does not read.
    UnsupportedMediaType { media_type: String },
    /// Manifest bytes that do not parse as their media type says. `source` (the repository,
    /// `registry/path`) and `digest` are known once the manifest was fetched from somewhere.
    /// Repositories in errors are written out as text, to keep the error small.
    BadManifest {
        source: Option<String>,
        digest: Option<Digest>,
        media_type: String,
        detail: String,
    },
    /// Manifest bytes that do not hash to the digest they were fetched by.
    DigestMismatch {
        source: String,
        expected: Digest,
        actual: Digest,
    },
    /// Two descriptors of one blob that disagree on its size.
    BlobSizeConflict {
        digest: Digest,
        size: u64,
        other: u64,
        source: String,
    },
    /// A tag for a manifest the plan does not push to that repository.
    UnknownManifest {
        target: String,
        tag: String,
        digest: Digest,
    },
    /// One tag asked to point at two manifests.
    TagConflict {
        target: String,
        tag: String,
        existing: Digest,
        new: Digest,
    },
    /// Not `registry/path`.
    BadRepository { input: String },
    /// A `--platform` value that is not `os/arch` or `os/arch/variant`.
    BadPlatform { input: String },
    /// None of the platforms wanted is in the index.
    NoPlatformMatch {
        wanted: Vec<String>,
        present: Vec<String>,
    },
    /// Platform filtering asked of something that is not an index.
    NotAnIndex { media_type: String },
    /// A referrers list or fallback index that does not parse.
    BadIndex { what: &'static str, detail: String },
    /// A plan file that does not parse or whose manifests were altered.
    BadPlan { detail: String },
}

impl PlanError {
    /// A parse error from [`parse_manifest`], placed: where the manifest came from.
    fn located(self, at: &Repository, digest: &Digest) -> PlanError {
        match self {
            PlanError::BadManifest {
                media_type, detail, ..
            } => PlanError::BadManifest {
                source: Some(at.to_string()),
                digest: Some(digest.clone()),
                media_type,
                detail,
            },
            other => other,
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::UnsupportedMediaType { media_type } => write!(
                f,
                "manifest media type {media_type:?} is not one purser copies (OCI index or \
                 manifest, Docker manifest list or schema 2 manifest, OCI artifact manifest)"
            ),
            PlanError::BadManifest {
                source,
                digest,
                media_type,
                detail,
            } => {
                write!(f, "the {media_type} manifest")?;
                if let Some(digest) = digest {
                    write!(f, " {digest}")?;
                }
                if let Some(source) = source {
                    write!(f, " from {source}")?;
                }
                write!(
                    f,
                    " does not parse: {detail}; the registry served something that is not a \
                     valid manifest of that type"
                )
            }
            PlanError::DigestMismatch {
                source,
                expected,
                actual,
            } => write!(
                f,
                "the manifest fetched from {source} as {expected} hashes to {actual}; the \
                 registry served other content than asked for, so nothing from it is copied \
                 (check the registry or a proxy in front of it)"
            ),
            PlanError::BlobSizeConflict {
                digest,
                size,
                other,
                source,
            } => write!(
                f,
                "blob {digest} is listed with size {other} by a manifest from {source} but with \
                 size {size} elsewhere; one of the manifests is wrong, so the copy would fail"
            ),
            PlanError::UnknownManifest {
                target,
                tag,
                digest,
            } => write!(
                f,
                "tag {tag} of {target} would point at {digest}, which the plan does not push \
                 there; add the manifest before tagging it"
            ),
            PlanError::TagConflict {
                target,
                tag,
                existing,
                new,
            } => write!(
                f,
                "tag {tag} of {target} would point at both {existing} and {new}; two images are \
                 mapped to the same destination, so give them different names or tags"
            ),
            PlanError::BadRepository { input } => write!(
                f,
                "{input:?} is not a repository: write it as registry/path, e.g. \
                 127.0.0.1:5000/team/app"
            ),
            PlanError::BadPlatform { input } => write!(
                f,
                "{input:?} is not a platform: write it as os/arch or os/arch/variant, e.g. \
                 linux/amd64 or linux/arm/v7"
            ),
            PlanError::NoPlatformMatch { wanted, present } => write!(
                f,
                "none of the platforms wanted ({}) is in the index, which has {}; pick \
                 platforms from that list",
                wanted.join(", "),
                if present.is_empty() {
                    "no platform entries".to_owned()
                } else {
                    present.join(", ")
                }
            ),
            PlanError::NotAnIndex { media_type } => write!(
                f,
                "platforms can only be chosen from an index, and this is a {media_type}; it is \
                 a single-platform image, so copy it without platform filtering"
            ),
            PlanError::BadIndex { what, detail } => write!(
                f,
                "{what} does not parse: {detail}; the registry served something that is not an \
                 OCI index"
            ),
            PlanError::BadPlan { detail } => write!(
                f,
                "the copy plan is not usable: {detail}; plan the copy again"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// `Vec<u8>` as a base64 string (standard alphabet, padded).
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
