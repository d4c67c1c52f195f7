//! Daemonless patching of the OS packages of images (`helm mirror patch`, `copy --patch`,
//! `import --patch`): [`Patcher`], built by [`Patcher::new`] from a [`Fetcher`] (package
//! repositories, `--package-mirror`) and extra keyrings, takes one platform manifest and the
//! findings of its Trivy scan and returns a [`PlatformResult`]: the manifest with one layer
//! added that replaces each vulnerable package by its fixed version — or why not. [`publish`]
//! then puts an image's patched platforms (and the others as they are) under a new tag.
//!
//! The formats, each verified the way its distribution does: [`deb`] and [`apk`] read
//! packages, [`release_signature`] checks an APT repository's signed Release. [`rootfs`] is the
//! image's files as the layers make them, [`dpkg`] and [`alpine`] decide what the layer holds,
//! [`layer`] writes it and [`image`] appends it to the config and the manifest.

pub mod alpine;
pub mod apk;
pub mod archive;
pub mod deb;
pub mod dpkg;
pub mod fetch;
pub mod image;
pub mod layer;
pub mod publish;
pub mod release_signature;
pub mod rootfs;

use std::collections::BTreeMap;

use futures_util::StreamExt;
use purser::digest::Digest;
use purser::patch::Family;
use purser::patch::resolve::Want;
use purser::plan::Repository;
use purser::scan::Finding;
use serde::Serialize;

use crate::store::{Store, StoreError};
use fetch::Fetcher;
use layer::{Layer, LayerBuilder};
use release_signature::Keyring;
use rootfs::ImageFiles;

/// One package replaced (or added, as a dependency of a fix).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub package: String,
    /// None: not installed before (a dependency a fix needs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    /// Where the package came from.
    pub source: String,
}

/// What a family's patch wrote into the layer.
pub struct Outcome {
    pub changes: Vec<Change>,
    /// The newest time of a package file: the layer's members and its history entry take it,
    /// so the same patch gives the same digest.
    pub mtime: u64,
}

/// Why a platform is not patched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Patching natively cannot do it (maintainer scripts, no package database, …).
    NotPatchable,
    /// It should have worked and did not (a fetch, a signature, a missing fix).
    Failed,
}

impl Refusal {
    pub fn not_patchable(reason: String) -> Refusal {
        Refusal {
            kind: RefusalKind::NotPatchable,
            reason,
        }
    }

    pub fn failed(reason: String) -> Refusal {
        Refusal {
            kind: RefusalKind::Failed,
            reason,
        }
    }

    /// The fixed versions could not be resolved from the repositories that were read;
    /// `refused` says why each other repository was not (a bad signature, a fetch): when
    /// none was read, that is the cause and leads the reason.
    pub fn unresolved(
        error: purser::patch::resolve::ResolveError,
        refused: &[String],
        read_any: bool,
    ) -> Refusal {
        use purser::patch::resolve::ResolveError;
        let reason = match (&error, read_any, refused.is_empty()) {
            (ResolveError::NoFixedVersion { name, fixed, .. }, false, false) => format!(
                "no repository of the image could be used to find {name} {fixed} or newer: {}",
                refused.join("; ")
            ),
            (_, false, false) => format!(
                "{error}: no repository of the image could be used: {}",
                refused.join("; ")
            ),
            (_, false, true) => format!("{error} (the image's repositories list no packages)"),
            (_, true, false) => format!("{error}; also refused: {}", refused.join("; ")),
            (_, true, true) => error.to_string(),
        };
        Refusal::failed(reason)
    }
}

/// A platform manifest with its patch layer.
pub struct PatchedPlatform {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
    pub config: Vec<u8>,
    pub layer: Layer,
    pub changes: Vec<Change>,
    /// The findings the new versions fix (their ids).
    pub fixes: Vec<String>,
    /// The original manifest's layers, to carry to the target.
    pub layers: Vec<(Digest, u64)>,
}

pub enum PlatformResult {
    Patched(Box<PatchedPlatform>),
    NothingFixable,
    Refused(Refusal),
}

pub struct Patcher {
    fetcher: Fetcher,
    keyrings: Vec<Keyring>,
}

/// The fixable findings in OS packages, a want per package (its highest fixed version).
fn wants(findings: &[Finding], family: Family) -> (Vec<Want>, Vec<String>) {
    let mut by_package: BTreeMap<&str, &str> = BTreeMap::new();
    let mut ids = Vec::new();
    for f in findings.iter().filter(|f| f.os_package) {
        let Some(fixed) = f.fixed.as_deref() else {
            continue;
        };
        // Trivy lists several fixed versions as "1.2.3, 1.3.1" for language packages; an OS
        // package has one.
        let fixed = fixed.split(',').next().unwrap_or(fixed).trim();
        ids.push(f.id.clone());
        let slot = by_package.entry(&f.package).or_insert(fixed);
        if family.compare(fixed, slot).is_gt() {
            *slot = fixed;
        }
    }
    ids.sort();
    ids.dedup();
    let wants = by_package
        .into_iter()
        .map(|(name, fixed)| Want {
            name: name.to_owned(),
            fixed: fixed.to_owned(),
        })
        .collect();
    (wants, ids)
}

/// A blob's bytes.
async fn read_blob<S: Store>(
    store: &S,
    repo: &Repository,
    digest: &Digest,
    size: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut stream = store.blob_get(repo, digest, size).await?;
    let mut out = Vec::with_capacity(size as usize);
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// A descriptor's digest and size.
fn descriptor(value: &serde_json::Value) -> Option<(Digest, u64)> {
    Some((
        Digest::parse(value.get("digest")?.as_str()?).ok()?,
        value.get("size")?.as_u64()?,
    ))
}

impl Patcher {
    pub fn new(fetcher: Fetcher, keyrings: Vec<Keyring>) -> Patcher {
        Patcher { fetcher, keyrings }
    }

    /// Patches the platform manifest `digest` of `repo` (platform `platform`, `linux/amd64`)
    /// for the fixable OS-package findings of its scan.
    pub async fn patch_platform<S: Store>(
        &self,
        store: &S,
        repo: &Repository,
        digest: &Digest,
        platform: &str,
        findings: &[Finding],
    ) -> PlatformResult {
        if !findings.iter().any(|f| f.os_package && f.fixable()) {
            return PlatformResult::NothingFixable;
        }
        match self
            .try_patch(store, repo, digest, platform, findings)
            .await
        {
            Ok(Some(patched)) => PlatformResult::Patched(Box::new(patched)),
            Ok(None) => PlatformResult::NothingFixable,
            Err(refusal) => PlatformResult::Refused(refusal),
        }
    }

    async fn try_patch<S: Store>(
        &self,
        store: &S,
        repo: &Repository,
        digest: &Digest,
        platform: &str,
        findings: &[Finding],
    ) -> Result<Option<PatchedPlatform>, Refusal> {
        let at = format!("{repo}@{digest}");
        let registry = |e: StoreError| Refusal::failed(format!("{at}: {e}"));
        let manifest = store
            .manifest_get(repo, digest.as_str())
            .await
            .map_err(registry)?
            .ok_or_else(|| Refusal::failed(format!("{at}: the manifest is gone")))?;
        let parsed: serde_json::Value = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| Refusal::failed(format!("{at}: the manifest is not JSON: {e}")))?;
        let (config_digest, config_size) = parsed
            .get("config")
            .and_then(descriptor)
            .ok_or_else(|| Refusal::failed(format!("{at}: the manifest names no config")))?;
        let layers: Vec<(Digest, u64)> = parsed
            .get("layers")
            .and_then(serde_json::Value::as_array)
            .map(|l| l.iter().filter_map(descriptor).collect())
            .unwrap_or_default();
        let config = read_blob(store, repo, &config_digest, config_size)
            .await
            .map_err(registry)?;
        let mut files = ImageFiles::default();
        for (layer, size) in &layers {
            let bytes = read_blob(store, repo, layer, *size)
                .await
                .map_err(registry)?;
            files
                .apply(&bytes, layer.as_str())
                .map_err(|e| Refusal::failed(format!("{at}: {e}")))?;
        }
        let mut builder = LayerBuilder::default();
        let (outcome, ids) = if dpkg::detect(&files) {
            let (wants, ids) = wants(findings, Family::Dpkg);
            let outcome = dpkg::patch(
                &files,
                platform,
                &wants,
                &self.fetcher,
                &self.keyrings,
                &mut builder,
            )
            .await?;
            (outcome, ids)
        } else if alpine::detect(&files) {
            let (wants, ids) = wants(findings, Family::Apk);
            let outcome =
                alpine::patch(&files, platform, &wants, &self.fetcher, &mut builder).await?;
            (outcome, ids)
        } else {
            return Err(Refusal::not_patchable(
                "no dpkg or apk package database in the image (/var/lib/dpkg/status, \
                 /lib/apk/db/installed)"
                    .to_owned(),
            ));
        };
        if outcome.changes.is_empty() {
            return Ok(None);
        }
        let layer = builder
            .finish(outcome.mtime)
            .map_err(|e| Refusal::failed(format!("writing the patch layer: {e}")))?;
        let created_by = format!(
            "purser patch: {}",
            outcome
                .changes
                .iter()
                .map(|c| match &c.from {
                    Some(from) => format!("{} {from} -> {}", c.package, c.to),
                    None => format!("{} {} (new dependency)", c.package, c.to),
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let appended = image::append_layer(
            &manifest.bytes,
            digest,
            &config,
            &layer,
            &created_by,
            &purser::lock::rfc3339(outcome.mtime as i64),
        )
        .map_err(|e| Refusal::failed(format!("{at}: {e}")))?;
        Ok(Some(PatchedPlatform {
            digest: Digest::sha256(&appended.manifest),
            manifest: appended.manifest,
            media_type: appended.media_type,
            config: appended.config,
            layer,
            changes: outcome.changes,
            fixes: ids,
            layers,
        }))
    }
}
