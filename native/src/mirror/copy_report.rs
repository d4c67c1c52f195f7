//! [`CopyReport`]: what a copy (or an import, the same engine) did, image by image
//! ([`ImageRow`]) and chart by chart ([`ChartRow`]), the likely images left out
//! ([`UnresolvedRow`]) and the totals; serialised as the `--json` report. Its text is
//! [`super::copy_print`].

use purser::digest::Digest;
use purser::plan::Plan;
use purser::reference::Reference;
use serde::{Deserialize, Deserializer, Serialize};

use super::scan_gate::PlatformScan;

use crate::copy::TagsUnlisted;

/// One image's outcome.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    pub source: String,
    pub destination: String,
    /// At the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// At the source, when it differs (platforms filtered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<Digest>,
    /// `copied`, `present`, `missing`, `failed`, or with --dry-run `planned`.
    #[serde(deserialize_with = "state")]
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub referrers: usize,
    /// Only heuristics found it, and the source registry has it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// What `--verify`'s policy made of the source's signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// The source signatures the policy accepted (they go into the lock).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<purser::lock::VerifiedSignature>,
    /// What `--sign-key` did at the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
    /// Its source registry would not list tags: cosign's `sha256-<hex>.sig` / `.att` /
    /// `.sbom` tags were not looked for (nor, without a referrers API, the referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_unlisted: Option<TagsUnlisted>,
    /// What `--scan` found, per platform at the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scan: Vec<PlatformScan>,
    /// What `--patch` did with it at the target.
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub patch: Option<super::patch::PatchRow>,
}

impl ImageRow {
    /// A row of `source` to `destination` in `state`, nothing else known yet.
    pub fn new(source: String, destination: String, state: &'static str) -> ImageRow {
        ImageRow {
            source,
            destination,
            digest: None,
            source_digest: None,
            state,
            message: None,
            referrers: 0,
            confirmed: false,
            verified: None,
            signatures: Vec::new(),
            signed: None,
            tags_unlisted: None,
            scan: Vec::new(),
            patch: None,
        }
    }
}

/// A likely image the source registry says does not exist: left out of the plan.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedRow {
    pub source: String,
    /// What the registry answered (or, with `--lock`, what the lock says it answered).
    pub reason: String,
    /// Where the reference was found.
    pub found_at: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ChartRow {
    pub name: String,
    pub version: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    #[serde(deserialize_with = "state")]
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What `--verify`'s policy (or `--keyring`, for a chart archive) made of its signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// What `--sign-key` did at the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct BlobCounts {
    pub unique: usize,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ByteCounts {
    pub unique: u64,
    pub uploaded: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Requests {
    pub source: u64,
    pub target: u64,
}

/// What `helm mirror copy` did.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    pub complete: bool,
    pub images: Vec<ImageRow>,
    /// Likely images left out because their registry says they do not exist (not failures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<UnresolvedRow>,
    pub charts: Vec<ChartRow>,
    pub blobs: BlobCounts,
    pub bytes: ByteCounts,
    pub requests: Requests,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// The Trivy database `--patch` scanned with, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_database: Option<String>,
    /// The plan itself (`--dry-run --json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
}

/// An image a copy or an import left at the target (copied, or there already).
pub struct AtTarget {
    /// Its row in [`CopyReport::images`].
    pub row: usize,
    /// The source, as the row names it.
    pub image: Reference,
    /// Where it is: the destination pinned to the row's digest.
    pub at: Reference,
    /// Where it was placed (the destination as the row names it).
    pub destination: Reference,
}

impl CopyReport {
    /// Every image row that is at the target (`copied` or `present`, with a digest), charts
    /// and artifacts included: what scans and patches at the target work on.
    pub fn at_target(&self) -> Vec<AtTarget> {
        self.images
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.state, "copied" | "present"))
            .filter_map(|(row, r)| {
                let digest = r.digest.as_ref()?;
                let image = Reference::parse(&r.source).ok()?;
                let destination = Reference::parse(&r.destination).ok()?;
                let at = destination
                    .with_digest(digest.as_str())
                    .unwrap_or_else(|_| destination.clone());
                Some(AtTarget {
                    row,
                    image,
                    at,
                    destination,
                })
            })
            .collect()
    }
}

/// A row's state, one of [`STATES`] (an alias, so that serde's derive does not take the
/// field for text borrowed from the input).
pub type State = &'static str;

/// Every state a row of a [`CopyReport`] can be in.
const STATES: [&str; 9] = [
    "planned",
    "copied",
    "present",
    "missing",
    "failed",
    "unresolved",
    "blocked",
    "refused",
    "exported",
];

/// A row's state read back (a report carried in a plan file): one of [`STATES`].
fn state<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    let text = String::deserialize(deserializer)?;
    STATES
        .iter()
        .find(|s| **s == text)
        .copied()
        .ok_or_else(|| serde::de::Error::unknown_variant(&text, &STATES))
}

/// For `skip_serializing_if` on counts.
pub(crate) fn is_zero(n: &usize) -> bool {
    *n == 0
}
