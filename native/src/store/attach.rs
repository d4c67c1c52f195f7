//! Attaching an artifact to a manifest in any [`Store`]: [`attach`] puts the artifact's blobs
//! and its manifest (which names `subject`), and, where the store does not index subjects
//! (no referrers API), adds it to the subject's `sha256-<hex>` fallback index, as OCI 1.1
//! says clients do. Signatures (`trust::sign`) and SBOMs (`copy --sbom`) are attached so.

use bytes::Bytes;
use purser::digest::Digest;
use purser::plan::{
    Descriptor, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, OCI_INDEX, OCI_MANIFEST, Repository, fallback_index,
};
use serde_json::json;

use super::{Store, StoreError};

/// Puts `blobs` (those missing), then `manifest` (an OCI image manifest whose `subject` is
/// `subject`, of `artifact_type`) by digest, then the fallback index entry where needed; the
/// manifest's digest.
pub async fn attach<S: Store>(
    store: &S,
    repo: &Repository,
    subject: &Descriptor,
    artifact_type: &str,
    blobs: Vec<Vec<u8>>,
    manifest: Vec<u8>,
) -> Result<Digest, StoreError> {
    for blob in blobs {
        put_blob(store, repo, blob).await?;
    }
    let digest = Digest::sha256(&manifest);
    let size = manifest.len() as u64;
    let pushed = store
        .manifest_put(repo, digest.as_str(), OCI_MANIFEST, Bytes::from(manifest))
        .await?;
    if pushed.subject_indexed || store.referrers(repo, &subject.digest).await?.is_some() {
        return Ok(digest);
    }
    let mut entry = Descriptor::new(OCI_MANIFEST, digest.clone(), size);
    entry.artifact_type = Some(artifact_type.to_owned());
    let tag = subject.digest.fallback_tag();
    let existing = store.manifest_get(repo, &tag).await?;
    let index = fallback_index(existing.as_ref().map(|m| m.bytes.as_slice()), &[entry])
        .map_err(|e| StoreError::message(format!("{repo}:{tag}: {e}")))?;
    store
        .manifest_put(repo, &tag, OCI_INDEX, Bytes::from(index))
        .await?;
    Ok(digest)
}

/// Attaches one document (an SBOM, a VEX) to `subject` as an OCI 1.1 artifact: the empty
/// config, the document as its one layer of `artifact_type`, and `annotations` on the
/// manifest.
pub async fn attach_document<S: Store>(
    store: &S,
    repo: &Repository,
    subject: &Descriptor,
    artifact_type: &str,
    document: Vec<u8>,
    annotations: serde_json::Map<String, serde_json::Value>,
) -> Result<Digest, StoreError> {
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "size": EMPTY_CONFIG.len(),
            "digest": Digest::sha256(EMPTY_CONFIG).to_string(),
        },
        "layers": [{
            "mediaType": artifact_type,
            "size": document.len(),
            "digest": Digest::sha256(&document).to_string(),
        }],
        "subject": {
            "mediaType": subject.media_type,
            "size": subject.size,
            "digest": subject.digest.to_string(),
        },
        "annotations": annotations,
    }))
    .expect("an artifact manifest serialises");
    attach(
        store,
        repo,
        subject,
        artifact_type,
        vec![EMPTY_CONFIG.to_vec(), document],
        manifest,
    )
    .await
}

/// Puts `bytes` as a blob unless the store has it.
pub async fn put_blob<S: Store>(
    store: &S,
    repo: &Repository,
    bytes: Vec<u8>,
) -> Result<(), StoreError> {
    let digest = Digest::sha256(&bytes);
    if store.blob_exists(repo, &digest).await?.is_some() {
        return Ok(());
    }
    let size = bytes.len() as u64;
    let body: super::BlobStream =
        Box::pin(futures_util::stream::once(
            async move { Ok(Bytes::from(bytes)) },
        ));
    store.blob_put(repo, &digest, size, body).await
}
