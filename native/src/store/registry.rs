//! [`RegistryStore`]: the [`Store`] of a registry, over the [`Client`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use purser::digest::Digest;
use purser::plan::Repository;
use purser::reference::Reference;

use super::{BlobStream, Pushed, Store, StoreError, StoredManifest};
use crate::registry::{BlobAccess, Client, Mount};

/// Registries as a store; which registry is each call's [`Repository::registry`].
#[derive(Clone)]
pub struct RegistryStore {
    client: Client,
    /// Blob HEADs ask with a push token (a target) or a pull token (a source).
    access: BlobAccess,
    /// Upload sessions a registry opened in answer to a mount it would not do: the upload
    /// that follows goes into them instead of opening another.
    sessions: Arc<Mutex<HashMap<(Repository, Digest), String>>>,
}

impl RegistryStore {
    /// A store read from: pull tokens.
    pub fn source(client: Client) -> RegistryStore {
        RegistryStore {
            client,
            access: BlobAccess::Pull,
            sessions: Arc::default(),
        }
    }

    /// A store written to: push tokens from the first request on.
    pub fn target(client: Client) -> RegistryStore {
        RegistryStore {
            client,
            access: BlobAccess::Push,
            sessions: Arc::default(),
        }
    }
}

fn reference(repo: &Repository, reference: &str) -> Result<Reference, StoreError> {
    let separator = if reference.contains(':') { '@' } else { ':' };
    let text = format!("{}/{}{separator}{reference}", repo.registry, repo.path);
    Reference::parse(&text).map_err(|e| {
        StoreError::message(format!("{text} is not an image reference: {}", e.reason()))
    })
}

impl Store for RegistryStore {
    async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Option<u64>, StoreError> {
        self.client
            .blob_exists(&repo.registry, &repo.path, digest, self.access)
            .await
    }

    async fn blob_get(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobStream, StoreError> {
        self.client
            .blob_get(&repo.registry, &repo.path, digest, size)
            .await
    }

    async fn blob_put(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        body: BlobStream,
    ) -> Result<(), StoreError> {
        let session = self
            .sessions
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&(repo.clone(), digest.clone())));
        self.client
            .blob_put(&repo.registry, &repo.path, digest, size, body, session)
            .await
    }

    async fn blob_mount(
        &self,
        repo: &Repository,
        digest: &Digest,
        from: &Repository,
    ) -> Result<bool, StoreError> {
        if from.registry != repo.registry {
            return Ok(false);
        }
        match self
            .client
            .blob_mount(&repo.registry, &repo.path, digest, &from.path)
            .await?
        {
            Mount::Mounted => Ok(true),
            Mount::Session(location) => {
                if let Ok(mut sessions) = self.sessions.lock() {
                    sessions.insert((repo.clone(), digest.clone()), location);
                }
                Ok(false)
            }
            Mount::Refused => Ok(false),
        }
    }

    async fn manifest_head(
        &self,
        repo: &Repository,
        name: &str,
    ) -> Result<Option<Digest>, StoreError> {
        let r = reference(repo, name)?;
        match self.client.head(&r).await {
            Ok(d) => Ok(Some(d.digest)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn manifest_get(
        &self,
        repo: &Repository,
        name: &str,
    ) -> Result<Option<StoredManifest>, StoreError> {
        let r = reference(repo, name)?;
        match self.client.manifest(&r).await {
            Ok(m) => Ok(Some(StoredManifest {
                bytes: m.bytes,
                media_type: m.media_type,
                digest: m.digest,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn manifest_put(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Pushed, StoreError> {
        self.client
            .manifest_put(&repo.registry, &repo.path, reference, media_type, bytes)
            .await
    }

    async fn tags(&self, repo: &Repository) -> Result<Vec<String>, StoreError> {
        self.client.tags(&repo.registry, &repo.path).await
    }

    async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.client
            .referrers(&repo.registry, &repo.path, digest)
            .await
    }
}
