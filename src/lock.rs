//! The images-lock file (HIP draft "images-lock": `apiVersion: v0`, `kind: ImagesLock`), as
//! the `Images.lock` existing tools read it, extended compatibly: `images[].digest` holds the
//! digest the reference names (an index where there is one) and `images[].digests[]` one
//! entry per platform manifest (`arch` is `os/architecture[/variant]`).
//!
//! Images found by heuristics (`confidence: likely`: container args and env, ConfigMap data,
//! image-named fields of unknown resources) are asked of their registry before they are
//! locked: one that exists is locked like any other and marked `confirmed: true`; one its
//! registry says does not exist goes to the separate top-level `unresolved` list, which
//! `verify`, `status`, `copy` and `relocate` leave alone. Locks without these fields read as
//! before.

use crate::inventory::{Confidence, Image, Inventory};
use crate::yaml;
use serde::{Deserialize, Serialize};
use std::fmt;

pub const API_VERSION: &str = "v0";
pub const KIND: &str = "ImagesLock";

/// The chart a lock (or a report) is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartId {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Where the chart was taken from: a path, `repo/name`, an `oci://` or `https://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// sha256 of the packaged chart, when it was read from an archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub generated_at: String,
    pub generated_by: String,
}

/// One platform manifest of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformDigest {
    pub digest: String,
    /// `linux/amd64`, `linux/arm/v7`.
    pub arch: String,
    /// The last vulnerability scan of this manifest (`helm mirror scan --lock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanRecord>,
    /// The patched manifest made of this one (`helm mirror patch`), and what it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patched: Option<PatchedPlatform>,
}

/// A platform manifest patched: its digest and the packages replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchedPlatform {
    pub digest: String,
    pub packages: Vec<PackageChange>,
    /// The scan of the patched manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanRecord>,
}

/// One package a patch replaced (`from` absent: a dependency added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageChange {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
}

/// Where the patched image is: its reference (`…:TAG-patched`) and the digest that tag
/// names (the new index for a multi-platform image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchedImage {
    pub reference: String,
    pub digest: String,
}

impl PlatformDigest {
    /// A platform manifest not scanned yet.
    pub fn new(digest: impl Into<String>, arch: impl Into<String>) -> PlatformDigest {
        PlatformDigest {
            digest: digest.into(),
            arch: arch.into(),
            scan: None,
            patched: None,
        }
    }
}

/// When a platform manifest was scanned, against which database, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRecord {
    /// RFC 3339, UTC.
    pub scanned_at: String,
    /// `trivy-db UPDATED_AT`, or `trivy server URL`.
    pub database: String,
    pub vulnerabilities: crate::scan::Counts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedImage {
    pub name: String,
    /// The canonical reference, as the chart names it.
    pub image: String,
    pub chart: String,
    /// The digest the reference resolves to: the index digest for a multi-platform image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default)]
    pub digests: Vec<PlatformDigest>,
    /// The digest the source names, when the copy differs (`helm mirror copy --platform`
    /// narrows an index, so `digest` is the copy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// Where the image was copied to (`helm mirror copy -o`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Why the image could not be resolved (written only with `--allow-missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// `likely` when only heuristics found the image; not written for `certain` ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// A `likely` image its registry was asked about and holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// The source's signatures a signature policy accepted (`helm mirror copy --verify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<VerifiedSignature>,
    /// The patched image (`helm mirror patch`), which `relocate --prefer patched` pins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patched: Option<PatchedImage>,
}

/// Who signed which digest, as a signature policy verified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedSignature {
    /// The digest signed (at the source).
    pub digest: String,
    /// `sigstore-bundle` (an OCI referrer) or `simple-signing` (cosign's `.sig` tag).
    pub format: String,
    /// A key-signed signature: the sha256 of the key's SubjectPublicKeyInfo, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A keyless signature: the certificate's subject (e-mail or URI) and OIDC issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// A `likely` image its registry says does not exist (or will not show): not locked, not
/// copied, not pinned, not a failure. Kept so that the lock says what was left out and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedImage {
    pub name: String,
    /// The canonical reference, as the chart names it.
    pub image: String,
    pub chart: String,
    pub confidence: Confidence,
    /// What the registry answered.
    pub reason: String,
    /// Where the reference was found (template, resource, field), one entry a place.
    #[serde(default)]
    pub found_at: Vec<String>,
}

impl UnresolvedImage {
    /// The entry for `image`, set aside from the lock entry `entry` for `reason`.
    pub fn new(entry: &LockedImage, image: &Image, reason: String) -> UnresolvedImage {
        UnresolvedImage {
            name: entry.name.clone(),
            image: entry.image.clone(),
            chart: entry.chart.clone(),
            confidence: image.confidence,
            reason,
            found_at: image
                .findings
                .iter()
                .map(|f| f.origin.to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub chart: ChartId,
    #[serde(default)]
    pub images: Vec<LockedImage>,
    /// Likely images their registries say do not exist: left out of `images`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<UnresolvedImage>,
}

impl Lock {
    /// A lock listing every image of `inventory`, digests not yet resolved.
    pub fn from_inventory(inventory: &Inventory, chart: Option<&ChartId>, stamp: &Stamp) -> Lock {
        let chart = chart.cloned().unwrap_or_default();
        let images = inventory
            .images
            .iter()
            .zip(inventory.names())
            .map(|(image, name)| LockedImage {
                name,
                image: image.reference.canonical(),
                chart: image
                    .chart()
                    .and_then(|c| c.rsplit('/').next().map(str::to_owned))
                    .unwrap_or_else(|| chart.name.clone()),
                digest: None,
                digests: Vec::new(),
                source_digest: None,
                mirror: None,
                missing: None,
                confidence: (image.confidence == Confidence::Likely).then_some(Confidence::Likely),
                confirmed: false,
                signatures: Vec::new(),
                patched: None,
            })
            .collect();
        Lock {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: Metadata {
                generated_at: stamp.generated_at.clone(),
                generated_by: stamp.generated_by.clone(),
            },
            chart,
            images,
            unresolved: Vec::new(),
        }
    }

    /// Reads a lock file; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Lock, LockError> {
        let not_a_lock = |detail: String| LockError::NotALock {
            source: source.to_owned(),
            detail,
        };
        let node = yaml::parse_one(text, 1).map_err(|e| not_a_lock(e.to_string()))?;
        let head: Head = yaml::de::from_node(&node).map_err(|e| not_a_lock(e.to_string()))?;
        if head.kind.as_deref() != Some(KIND) || head.api_version.as_deref() != Some(API_VERSION) {
            return Err(LockError::WrongKind {
                source: source.to_owned(),
                api_version: head.api_version,
                kind: head.kind,
            });
        }
        yaml::de::from_node(&node).map_err(|e| LockError::Invalid {
            source: source.to_owned(),
            detail: e.to_string(),
        })
    }

    pub fn to_yaml(&self) -> String {
        yaml::write::to_string(self).expect("a lock serialises")
    }

    /// The entry for a canonical reference.
    pub fn find(&self, canonical: &str) -> Option<&LockedImage> {
        self.images.iter().find(|i| i.image == canonical)
    }

    /// The unresolved likely entry for a canonical reference.
    pub fn find_unresolved(&self, canonical: &str) -> Option<&UnresolvedImage> {
        self.unresolved.iter().find(|i| i.image == canonical)
    }
}

/// Who made a lock (or a report) and when: the lock's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// RFC 3339 UTC time.
    pub generated_at: String,
    pub generated_by: String,
}

impl Stamp {
    /// A stamp for `unix_seconds` (the caller reads the clock: the core does no I/O).
    pub fn at(unix_seconds: i64) -> Stamp {
        Stamp {
            generated_at: rfc3339(unix_seconds),
            generated_by: format!("purser {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// RFC 3339 UTC for a Unix time (days-from-civil, no calendar crate needed).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Why a text is not a lock file; `source` names the file as the caller gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockError {
    /// Not YAML, or not a mapping with `apiVersion` and `kind` strings.
    NotALock { source: String, detail: String },
    /// YAML, but another `apiVersion`/`kind` (as found, when present).
    WrongKind {
        source: String,
        api_version: Option<String>,
        kind: Option<String>,
    },
    /// An images-lock whose body does not read (a field of the wrong type, a missing one).
    Invalid { source: String, detail: String },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::NotALock { source, detail } => {
                write!(f, "{source} is not an images-lock file: {detail}")
            }
            LockError::WrongKind {
                source,
                api_version,
                kind,
            } => write!(
                f,
                "{source} is not an images-lock file: expected `apiVersion: {API_VERSION}` and `kind: {KIND}`, found {} and {} \
                 (write one with `helm mirror lock CHART -o {source}`)",
                api_version
                    .as_ref()
                    .map_or("no apiVersion".into(), |v| format!("apiVersion {v:?}")),
                kind.as_ref()
                    .map_or("no kind".into(), |k| format!("kind {k:?}")),
            ),
            LockError::Invalid { source, detail } => write!(f, "{source}: {detail}"),
        }
    }
}

impl std::error::Error for LockError {}

/// For callers whose errors are messages: the message.
impl From<LockError> for String {
    fn from(e: LockError) -> String {
        e.to_string()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    api_version: Option<String>,
    kind: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT_LOCK: &str = "apiVersion: v0\nkind: ImagesLock\nmetadata:\n  generatedAt: \"2023-11-08T09:39:01.383355Z\"\n  generatedBy: Distribution Tooling for Helm\nchart:\n  name: wordpress\n  version: 18.1.10\n  appVersion: 6.3.2\nimages:\n  - name: wordpress\n    image: docker.io/bitnami/wordpress:6.3.2-debian-11-r2\n    chart: wordpress\n    digests:\n      - digest: sha256:0123456789012345678901234567890123456789012345678901234567890123\n        arch: linux/amd64\n";

    #[test]
    fn reads_what_dt_writes_and_round_trips() {
        let lock = Lock::parse(DT_LOCK, "Images.lock").unwrap();
        assert_eq!(lock.chart.name, "wordpress");
        assert_eq!(lock.images[0].digests[0].arch, "linux/amd64");
        assert_eq!(lock.images[0].digest, None);
        let again = Lock::parse(&lock.to_yaml(), "again").unwrap();
        assert_eq!(again, lock);
    }

    #[test]
    fn likely_images_confirmed_and_unresolved_round_trip() {
        let text = format!(
            "{DT_LOCK}    confidence: likely\n    confirmed: true\nunresolved:\n  - name: ghost\n    image: docker.io/acme/ghost:1\n    chart: wordpress\n    confidence: likely\n    reason: not found\n    foundAt:\n      - \"wordpress/templates/cm.yaml: ConfigMap cfg data.image\"\n"
        );
        let lock = Lock::parse(&text, "Images.lock").unwrap();
        assert_eq!(lock.images[0].confidence, Some(Confidence::Likely));
        assert!(lock.images[0].confirmed);
        assert_eq!(lock.unresolved.len(), 1);
        assert_eq!(
            lock.find_unresolved("docker.io/acme/ghost:1")
                .unwrap()
                .found_at
                .len(),
            1
        );
        assert!(lock.find("docker.io/acme/ghost:1").is_none());
        let yaml = lock.to_yaml();
        assert!(
            yaml.contains("confidence: likely") && yaml.contains("confirmed: true"),
            "{yaml}"
        );
        assert_eq!(Lock::parse(&yaml, "again").unwrap(), lock);
        // Old locks: no such fields, none written back.
        let old = Lock::parse(DT_LOCK, "Images.lock").unwrap();
        assert!(old.unresolved.is_empty() && !old.images[0].confirmed);
        let yaml = old.to_yaml();
        assert!(
            !yaml.contains("unresolved")
                && !yaml.contains("confirmed")
                && !yaml.contains("confidence"),
            "{yaml}"
        );
    }

    #[test]
    fn not_a_lock() {
        let err = Lock::parse("apiVersion: v1\nkind: Pod\n", "pod.yaml").unwrap_err();
        assert!(matches!(err, LockError::WrongKind { .. }));
        let err = err.to_string();
        assert!(
            err.contains("pod.yaml is not an images-lock file") && err.contains("kind \"Pod\""),
            "{err}"
        );
        let err = Lock::parse("[1, 2", "x.lock").unwrap_err().to_string();
        assert!(err.contains("x.lock is not an images-lock file"), "{err}");
    }

    #[test]
    fn rfc3339_known_points() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_237_200), "2026-11-21T05:00:00Z");
    }
}
