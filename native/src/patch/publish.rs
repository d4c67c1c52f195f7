//! Putting a patched image at the target: [`publish`] carries every blob the patched image
//! needs (the original layers — HEAD first, mounted within a registry, streamed otherwise —
//! the patch layer and the new config), puts each platform manifest by digest, then the new
//! index (the patched platforms in place of the originals, the others as they were) and
//! only then the tag. Nothing is tagged until everything it names is there, so an interrupted
//! publish leaves no half-written image visible.

use std::collections::BTreeMap;

use crate::registry::media::OCI_INDEX;
use bytes::Bytes;
use purser::digest::Digest;
use purser::plan::Repository;
use serde_json::Value;

use super::PatchedPlatform;
use crate::store::{Store, StoreError, StoredManifest, put_blob};

/// Makes `digest` (`size` bytes) of `from` at `source` present in `to` at `target`.
async fn carry<S: Store, T: Store>(
    source: &S,
    from: &Repository,
    target: &T,
    to: &Repository,
    digest: &Digest,
    size: u64,
) -> Result<(), StoreError> {
    if target.blob_exists(to, digest).await?.is_some() {
        return Ok(());
    }
    if from.registry == to.registry && from != to && target.blob_mount(to, digest, from).await? {
        return Ok(());
    }
    let body = source.blob_get(from, digest, size).await?;
    target.blob_put(to, digest, size, body).await
}

fn descriptors(manifest: &[u8]) -> Vec<(Digest, u64)> {
    let Ok(value) = serde_json::from_slice::<Value>(manifest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(config) = value.get("config").and_then(super::descriptor) {
        out.push(config);
    }
    if let Some(layers) = value.get("layers").and_then(Value::as_array) {
        out.extend(layers.iter().filter_map(super::descriptor));
    }
    out
}

/// A platform manifest as it is, with its blobs.
async fn carry_manifest<S: Store, T: Store>(
    source: &S,
    from: &Repository,
    target: &T,
    to: &Repository,
    digest: &Digest,
) -> Result<(), StoreError> {
    let manifest = source
        .manifest_get(from, digest.as_str())
        .await?
        .ok_or_else(|| StoreError::message(format!("{from}@{digest}: the manifest is gone")))?;
    for (blob, size) in descriptors(&manifest.bytes) {
        carry(source, from, target, to, &blob, size).await?;
    }
    target
        .manifest_put(
            to,
            digest.as_str(),
            &manifest.media_type,
            Bytes::from(manifest.bytes),
        )
        .await?;
    Ok(())
}

/// A patched platform: the original layers, the patch layer, the config, the manifest.
async fn put_patched<S: Store, T: Store>(
    source: &S,
    from: &Repository,
    target: &T,
    to: &Repository,
    patched: &PatchedPlatform,
) -> Result<(), StoreError> {
    for (blob, size) in &patched.layers {
        carry(source, from, target, to, blob, *size).await?;
    }
    put_blob(target, to, patched.layer.gzip.clone()).await?;
    put_blob(target, to, patched.config.clone()).await?;
    target
        .manifest_put(
            to,
            patched.digest.as_str(),
            &patched.media_type,
            Bytes::from(patched.manifest.clone()),
        )
        .await?;
    Ok(())
}

/// What was published: the digest the tag names and the manifest's media type and size.
pub struct Published {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// Publishes the image `top` of `from` (an index or a single platform manifest) with the
/// `patched` platforms (by original digest) replaced, at `to` under `tag`. Attestation
/// entries of an index (platform `unknown/unknown`) describe the unpatched build and are left
/// out.
pub async fn publish<S: Store, T: Store>(
    source: &S,
    from: &Repository,
    target: &T,
    to: &Repository,
    top: &StoredManifest,
    patched: &BTreeMap<Digest, &PatchedPlatform>,
    tag: &str,
) -> Result<Published, StoreError> {
    if let Some(single) = patched.get(&top.digest) {
        put_patched(source, from, target, to, single).await?;
        target
            .manifest_put(
                to,
                tag,
                &single.media_type,
                Bytes::from(single.manifest.clone()),
            )
            .await?;
        return Ok(Published {
            digest: single.digest.clone(),
            media_type: single.media_type.clone(),
            size: single.manifest.len() as u64,
        });
    }
    let mut index: Value = serde_json::from_slice(&top.bytes)
        .map_err(|e| StoreError::message(format!("{from}@{}: not JSON: {e}", top.digest)))?;
    let entries = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            StoreError::message(format!(
                "{from}@{}: neither an index nor a patched manifest",
                top.digest
            ))
        })?;
    let mut kept = Vec::new();
    for mut entry in std::mem::take(entries) {
        let attestation = entry.pointer("/platform/os").and_then(Value::as_str) == Some("unknown");
        if attestation {
            continue;
        }
        let Some((digest, _)) = super::descriptor(&entry) else {
            continue;
        };
        match patched.get(&digest) {
            Some(p) => {
                put_patched(source, from, target, to, p).await?;
                entry["digest"] = Value::from(p.digest.as_str());
                entry["size"] = Value::from(p.manifest.len());
                entry["mediaType"] = Value::from(p.media_type.as_str());
            }
            None => carry_manifest(source, from, target, to, &digest).await?,
        }
        kept.push(entry);
    }
    *entries = kept;
    // An OCI index names what it was patched from, as its patched manifests do (a Docker
    // list has no annotations).
    if top.media_type == OCI_INDEX
        && let Some(object) = index.as_object_mut()
    {
        let annotations = object
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(
                super::image::PATCHED_FROM.into(),
                Value::from(top.digest.as_str()),
            );
        }
    }
    let bytes = serde_json::to_vec(&index).expect("JSON serialises");
    let digest = Digest::sha256(&bytes);
    let size = bytes.len() as u64;
    target
        .manifest_put(to, tag, &top.media_type, Bytes::from(bytes))
        .await?;
    Ok(Published {
        digest,
        media_type: top.media_type.clone(),
        size,
    })
}
