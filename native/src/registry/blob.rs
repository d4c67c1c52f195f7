//! Blobs: whether a repository has one (HEAD), reading one as a verified stream (GET), writing
//! one from a stream (POST an upload session, then PUT the body with its digest), and
//! cross-repository mounts (POST `?mount=&from=`, never the non-standard `origin`).
//!
//! Nothing here holds a whole blob: bodies pass through as chunks, hashed on the way, and a
//! body whose bytes do not hash to its digest ends in an error instead of its last chunk, so
//! an upload fed from it is never committed.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use purser::digest::Digest;
use reqwest::{Method, StatusCode};

use super::exchange::Target;
use super::status::check_status;
use super::transport::{Access, Call};
use super::{Client, RegistryError};

/// A blob body: chunks in order, or the error that cut it short.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>;

/// What a mount request got.
#[derive(Debug)]
pub enum Mount {
    /// The blob is in the repository now.
    Mounted,
    /// The registry opened an upload session instead (the source was not readable, or it
    /// does not mount): upload into it.
    Session(String),
    /// Refused (400/401/403/404): upload instead.
    Refused,
}

impl Client {
    fn blob_target(&self, registry: &str, repository: &str, digest: &Digest) -> Target {
        self.target(
            registry,
            repository,
            format!("{registry}/{repository}@{digest}"),
        )
    }

    /// The blob's size if `repository` has it; None if not (404).
    pub async fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        access: BlobAccess,
    ) -> Result<Option<u64>, RegistryError> {
        let t = self.blob_target(registry, repository, digest);
        let call = Call::new(
            Method::HEAD,
            t.url(&format!("blobs/{digest}")),
            access.access(),
        );
        let (reply, sent) = self.call(&t, call).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check_status(&t, &reply, sent)?;
        Ok(Some(
            reply
                .header(reqwest::header::CONTENT_LENGTH.as_str())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
        ))
    }

    /// The blob as a stream of chunks, checked against `digest` and `size` as it flows: more
    /// bytes than `size`, or bytes with another digest, end the stream with an error.
    pub async fn blob_get(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobStream, RegistryError> {
        let t = self.blob_target(registry, repository, digest);
        let mut call = Call::new(Method::GET, t.url(&format!("blobs/{digest}")), Access::Pull);
        call.limit = None;
        let (reply, sent) = self.call(&t, call).await?;
        check_status(&t, &reply, sent)?;
        let Some(response) = reply.stream else {
            return Err(RegistryError::message(format!(
                "{}: {registry} answered the blob request without a body",
                t.shown
            )));
        };
        let shown = t.shown.clone();
        let registry = registry.to_owned();
        let raw = response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| RegistryError::Connect {
                reference: shown.clone(),
                registry: registry.clone(),
                detail: format!("the blob download broke: {e}"),
            })
        });
        Ok(verified(raw, digest.clone(), size, t.shown, t.registry))
    }

    /// Opens an upload session in `repository`: its location.
    async fn upload_session(&self, t: &Target) -> Result<String, RegistryError> {
        let call = Call::new(Method::POST, t.url("blobs/uploads/"), Access::Push);
        let (reply, sent) = self.call(t, call).await?;
        if reply.status != StatusCode::ACCEPTED {
            check_status(t, &reply, sent)?;
        }
        reply
            .header(reqwest::header::LOCATION.as_str())
            .map(|l| t.location(l))
            .ok_or_else(|| {
                RegistryError::message(format!(
                    "{}: {} opened an upload session without a Location header",
                    t.shown, t.registry
                ))
            })
    }

    /// Uploads a blob of `size` bytes from `body` (into `session` when a mount opened one):
    /// the body is sent once, as a stream, with the final PUT that names the digest, so the
    /// blob exists only if all of it arrived and hashed right.
    pub async fn blob_put(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: BlobStream,
        session: Option<String>,
    ) -> Result<(), RegistryError> {
        let t = self.blob_target(registry, repository, digest);
        let location = match session {
            Some(location) => location,
            None => self.upload_session(&t).await?,
        };
        let mut url = reqwest::Url::parse(&location).map_err(|_| {
            RegistryError::message(format!(
                "{}: {registry} gave an upload location that is not a URL: {location:?}",
                t.shown
            ))
        })?;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        // The body's own error (a digest mismatch, a broken source) reaches reqwest as a
        // broken request: keep it, to report it rather than the broken connection.
        let failure: Arc<Mutex<Option<RegistryError>>> = Arc::default();
        let kept = failure.clone();
        let body = body.inspect(move |chunk| {
            if let (Err(e), Ok(mut slot)) = (chunk, kept.lock()) {
                slot.get_or_insert_with(|| e.clone());
            }
        });
        let result = self
            .call_streaming(
                &t,
                Method::PUT,
                url.as_str(),
                Access::Push,
                reqwest::Body::wrap_stream(body),
                size,
            )
            .await;
        if let Some(e) = failure.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(e);
        }
        let (reply, sent) = result?;
        if reply.status != StatusCode::CREATED {
            check_status(&t, &reply, sent)?;
        }
        Ok(())
    }

    /// Asks the registry to mount `digest` from `from` (a repository on the same registry
    /// that this client may pull) into `repository`.
    pub async fn blob_mount(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Mount, RegistryError> {
        let t = self.blob_target(registry, repository, digest);
        let mut url = reqwest::Url::parse(&t.url("blobs/uploads/"))
            .map_err(|_| RegistryError::message(format!("{}: not a URL", t.shown)))?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let call = Call::new(Method::POST, url.to_string(), Access::Mount { from });
        let (reply, sent) = self.call(&t, call).await?;
        match reply.status {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(reply
                .header(reqwest::header::LOCATION.as_str())
                .map_or(Mount::Refused, |l| Mount::Session(t.location(l)))),
            StatusCode::BAD_REQUEST
            | StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND => Ok(Mount::Refused),
            _ => check_status(&t, &reply, sent).map(|()| Mount::Refused),
        }
    }
}

/// Which token a blob HEAD needs: a pull token for a source, a push token at a target (so
/// that the HEAD and the upload after it share one token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobAccess {
    Pull,
    Push,
}

impl BlobAccess {
    fn access(self) -> Access<'static> {
        match self {
            BlobAccess::Pull => Access::Pull,
            BlobAccess::Push => Access::Push,
        }
    }
}

/// `body` checked as it flows: at most `size` bytes, hashing to `digest`, else an error in
/// place of the end.
pub fn verified(
    body: impl Stream<Item = Result<Bytes, RegistryError>> + Send + 'static,
    digest: Digest,
    size: u64,
    shown: String,
    registry: String,
) -> BlobStream {
    let verifier = digest.verifier();
    let state = (Box::pin(body), Some(verifier));
    Box::pin(futures_util::stream::unfold(
        state,
        move |(mut body, verifier)| {
            let shown = shown.clone();
            let registry = registry.clone();
            async move {
                let mut verifier = verifier?;
                match body.next().await {
                    Some(Ok(chunk)) => {
                        verifier.update(&chunk);
                        if verifier.bytes_seen() == size {
                            // The last chunk goes out only once the whole blob verified: an
                            // upload that already sent every byte would otherwise be judged by
                            // the target, not by the source that served the wrong bytes.
                            let item = match verifier.finish() {
                                Ok(()) => Ok(chunk),
                                Err(m) => Err(RegistryError::DigestMismatch {
                                    reference: shown,
                                    registry,
                                    expected: m.expected.to_string(),
                                    actual: m.actual.to_string(),
                                    expected_from: "named by the manifest",
                                }),
                            };
                            return Some((item, (body, None)));
                        }
                        if verifier.bytes_seen() > size {
                            let error = RegistryError::BadResponse {
                                reference: shown,
                                registry,
                                detail: format!(
                                    "the blob is longer than the {size} bytes its descriptor says"
                                ),
                            };
                            return Some((Err(error), (body, None)));
                        }
                        Some((Ok(chunk), (body, Some(verifier))))
                    }
                    Some(Err(e)) => Some((Err(e), (body, None))),
                    None => match verifier.finish() {
                        Ok(()) => None,
                        Err(mismatch) => {
                            let error = RegistryError::DigestMismatch {
                                reference: shown,
                                registry,
                                expected: mismatch.expected.to_string(),
                                actual: mismatch.actual.to_string(),
                                expected_from: "named by the manifest",
                            };
                            Some((Err(error), (body, None)))
                        }
                    },
                }
            }
        },
    ))
}
