//! `--sbom` on copy: for each platform manifest that reached the target, a CycloneDX SBOM
//! (Trivy's `--format cyclonedx`, made from the copy at the target) attached there as an OCI
//! referrer (`artifactType: application/vnd.cyclonedx+json`; in the fallback index where the
//! registry has no referrers API), so it travels with the image, through `export` and
//! `import` too. A platform that has one already keeps it. [`attach_sboms`] writes each
//! SBOM's digest into the report's scan rows; a failure makes the report incomplete.

use purser::digest::Digest;
use purser::plan::{Descriptor, Repository};
use purser::reference::Reference;
use serde_json::{Value, json};

use super::copy_report::CopyReport;
use crate::registry::Client;
use crate::store::{RegistryStore, Store, StoreError, attach_document};
use crate::trivy::{Format, Trivy};

/// The media type of a CycloneDX JSON document, as artifact type and layer type.
pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";

/// Attaches an SBOM to every scanned platform of every copied or present image; `created`
/// (RFC 3339) goes into each SBOM manifest's annotations.
pub async fn attach_sboms(trivy: &Trivy, target: &Client, report: &mut CopyReport, created: &str) {
    let store = RegistryStore::target(target.clone());
    let mut failed = false;
    for row in &mut report.images {
        if !matches!(row.state, "copied" | "present") || row.scan.is_empty() {
            continue;
        }
        let Ok(destination) = Reference::parse(&row.destination) else {
            continue;
        };
        let repo = Repository::from_reference(&destination);
        for scan in &mut row.scan {
            match sbom_of(
                trivy,
                target,
                &store,
                &destination,
                &repo,
                &scan.digest,
                created,
            )
            .await
            {
                Ok(digest) => scan.sbom = Some(digest),
                Err(e) => {
                    failed = true;
                    let note = format!("no SBOM for {}: {e}", scan.platform);
                    row.message = Some(match row.message.take() {
                        Some(m) => format!("{m}; {note}"),
                        None => note,
                    });
                }
            }
        }
    }
    if failed {
        report.complete = false;
    }
}

/// The SBOM referrer of `digest` in `repo`: the one there, else a new one.
async fn sbom_of(
    trivy: &Trivy,
    target: &Client,
    store: &RegistryStore,
    destination: &Reference,
    repo: &Repository,
    digest: &Digest,
    created: &str,
) -> Result<Digest, String> {
    let subject = store
        .manifest_get(repo, digest.as_str())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{repo}@{digest} is not at the target"))?;
    if let Some(existing) = existing_sbom(store, repo, digest)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(existing);
    }
    let handover = target
        .handover(destination, digest)
        .await
        .map_err(|e| e.to_string())?;
    let sbom = trivy
        .scan(&handover, Format::CycloneDx)
        .await
        .map_err(|e| e.to_string())?;
    let subject = Descriptor::new(
        subject.media_type.as_str(),
        subject.digest.clone(),
        subject.bytes.len() as u64,
    );
    let mut annotations = serde_json::Map::new();
    annotations.insert(purser::plan::annotation::CREATED.into(), json!(created));
    annotations.insert("dev.purser.sbom.generator".into(), json!("trivy"));
    attach_document(store, repo, &subject, CYCLONEDX, sbom, annotations)
        .await
        .map_err(|e| e.to_string())
}

/// A CycloneDX referrer of `digest` already in `repo` (referrers API, else fallback tag).
async fn existing_sbom(
    store: &RegistryStore,
    repo: &Repository,
    digest: &Digest,
) -> Result<Option<Digest>, StoreError> {
    let index = match store.referrers(repo, digest).await? {
        Some(index) => Some(index),
        None => store
            .manifest_get(repo, &digest.fallback_tag())
            .await?
            .map(|m| m.bytes),
    };
    let Some(index) = index else { return Ok(None) };
    let index: Value = serde_json::from_slice(&index).unwrap_or(Value::Null);
    Ok(index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["artifactType"] == CYCLONEDX)
        .find_map(|m| m["digest"].as_str().and_then(|d| Digest::parse(d).ok())))
}
