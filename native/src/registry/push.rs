//! Writing manifests: PUT the exact bytes under a tag or a digest. The registry's
//! `Docker-Content-Digest` must equal the digest of the bytes sent, and its `OCI-Subject`
//! header tells whether it indexed a referrer's subject itself (the referrers API).

use bytes::Bytes;
use purser::digest::Digest;
use reqwest::{Method, StatusCode};

use super::status::{check_status, mismatch};
use super::transport::{Access, Call};
use super::{Client, MAX_MANIFEST_BYTES, RegistryError};

/// What a manifest PUT did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    pub digest: Digest,
    /// The registry answered `OCI-Subject`: it serves this referrer through the referrers
    /// API, and no fallback tag is needed.
    pub subject_indexed: bool,
}

impl Client {
    /// PUTs `bytes` as `media_type` to `registry/repository:reference` (a tag or the digest).
    pub async fn manifest_put(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Pushed, RegistryError> {
        let separator = if reference.contains(':') { '@' } else { ':' };
        let t = self.target(
            registry,
            repository,
            format!("{registry}/{repository}{separator}{reference}"),
        );
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(RegistryError::message(format!(
                "{}: the manifest is {} bytes, more than the {} MiB registries accept",
                t.shown,
                bytes.len(),
                MAX_MANIFEST_BYTES >> 20
            )));
        }
        let digest = Digest::sha256(&bytes);
        let mut call = Call::new(
            Method::PUT,
            t.url(&format!("manifests/{reference}")),
            Access::Push,
        );
        call.content_type = Some(media_type);
        call.body = Some(bytes);
        let (reply, sent) = self.call(&t, call).await?;
        if reply.status != StatusCode::CREATED {
            check_status(&t, &reply, sent)?;
        }
        if let Some(header) = reply.header("docker-content-digest").map(str::trim)
            && let Ok(theirs) = Digest::parse(header)
            && theirs.algorithm() == digest.algorithm()
            && theirs != digest
        {
            return Err(mismatch(&t, &digest, &theirs, "of the bytes sent"));
        }
        Ok(Pushed {
            digest,
            subject_indexed: reply.header("oci-subject").is_some(),
        })
    }
}
