//! [`Empty`]: a [`Store`] that holds nothing — the target an export plans against, so that
//! every image is walked whole (nothing is "present" in a bundle not yet written).

use bytes::Bytes;
use purser::digest::Digest;
use purser::plan::Repository;

use super::{BlobStream, Pushed, Store, StoreError, StoredManifest};

/// Holds nothing; refuses writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Empty;

fn refused() -> StoreError {
    StoreError::message("nothing can be written to an empty store")
}

impl Store for Empty {
    async fn blob_exists(&self, _: &Repository, _: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    async fn blob_get(&self, _: &Repository, d: &Digest, _: u64) -> Result<BlobStream, StoreError> {
        Err(StoreError::message(format!(
            "blob {d}: an empty store holds nothing"
        )))
    }

    async fn blob_put(
        &self,
        _: &Repository,
        _: &Digest,
        _: u64,
        _: BlobStream,
    ) -> Result<(), StoreError> {
        Err(refused())
    }

    async fn blob_mount(
        &self,
        _: &Repository,
        _: &Digest,
        _: &Repository,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn manifest_head(&self, _: &Repository, _: &str) -> Result<Option<Digest>, StoreError> {
        Ok(None)
    }

    async fn manifest_get(
        &self,
        _: &Repository,
        _: &str,
    ) -> Result<Option<StoredManifest>, StoreError> {
        Ok(None)
    }

    async fn manifest_put(
        &self,
        _: &Repository,
        _: &str,
        _: &str,
        _: Bytes,
    ) -> Result<Pushed, StoreError> {
        Err(refused())
    }

    async fn tags(&self, _: &Repository) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    async fn referrers(&self, _: &Repository, _: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
}
