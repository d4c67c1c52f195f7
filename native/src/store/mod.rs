//! The storage seam: one [`Store`] trait — blobs (exists, get as a stream, put from a stream,
//! mount) and manifests (head, get raw, put raw), tags and referrers — in the spirit of
//! regclient's scheme API. [`RegistryStore`] implements it over the registry client,
//! [`BundleStore`] over a bundle (an OCI image layout in a tar, possibly in parts) and
//! [`Empty`] holds nothing (what an export plans against): copy and import are one executor
//! ([`crate::copy`]) over different stores, and export writes the plan of the same walk.
//!
//! Blob bodies are streams ([`BlobStream`]): no implementation holds a whole layer. Artifacts
//! that name a subject (signatures, SBOMs) are attached with [`attach`].

mod attach;
mod bundle;
mod empty;
mod registry;

use std::future::Future;

use bytes::Bytes;
use purser::digest::Digest;
use purser::plan::Repository;

pub use crate::registry::{BlobStream, Pushed, RegistryError as StoreError};
pub use attach::{attach, attach_document, put_blob};
pub use bundle::{BundleStore, NamedEntry};
pub use empty::Empty;
pub use registry::RegistryStore;

/// A manifest as stored: exact bytes, media type, digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// Where images, their blobs and their referrers are kept. `reference` arguments are a tag
/// or a digest (`sha256:…`).
pub trait Store: Send + Sync + 'static {
    /// The blob's size when `repo` holds it.
    fn blob_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The blob's bytes, verified against `digest` and `size` as they flow.
    fn blob_get(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
    ) -> impl Future<Output = Result<BlobStream, StoreError>> + Send;

    /// Stores `size` bytes from `body` as `digest`; visible only once all arrived and
    /// verified.
    fn blob_put(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        body: BlobStream,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes a blob `from` holds (same store) available in `repo` without moving its bytes;
    /// false when the store will not (then put it).
    fn blob_mount(
        &self,
        repo: &Repository,
        digest: &Digest,
        from: &Repository,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The digest `reference` names, None when there is no such manifest.
    fn manifest_head(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Digest>, StoreError>> + Send;

    /// The manifest `reference` names; None when there is none.
    fn manifest_get(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> impl Future<Output = Result<Option<StoredManifest>, StoreError>> + Send;

    /// Stores manifest bytes as they are under `reference` (a tag, or their digest).
    fn manifest_put(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> impl Future<Output = Result<Pushed, StoreError>> + Send;

    /// Every tag in `repo` (empty when it does not exist).
    fn tags(
        &self,
        repo: &Repository,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The referrers index of `digest` when the store serves a referrers API; None when it
    /// does not (then referrers are found through the `sha256-<hex>` tag).
    fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
}
