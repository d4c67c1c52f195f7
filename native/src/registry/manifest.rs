//! Reading manifests: HEAD, GET (raw bytes, digest verified) and resolving a reference to its
//! platforms.

use purser::digest::Digest;
use purser::reference::Reference;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::media::IndexError;
use super::status::{
    FROM_MANIFEST, FROM_REFERENCE, FROM_REGISTRY, IN_CONFIG, IN_HEADER, IN_INDEX, bad,
    check_status, malformed, mismatch,
};
use super::transport::{Access, Call};
use super::{
    Client, Descriptor, MAX_CONFIG_BYTES, PlatformManifest, RawManifest, RegistryError, Resolved,
    media,
};

impl Client {
    /// Content-Length, or answers another status than 200/401/403/404 (a HEAD reply has no
    /// body to explain itself).
    pub async fn head(&self, r: &Reference) -> Result<Descriptor, RegistryError> {
        let t = self.target_of(r);
        let (reply, sent) = self.manifest_request(&t, r, Method::HEAD).await?;
        let plain_answer = matches!(
            reply.status,
            StatusCode::OK
                | StatusCode::NOT_FOUND
                | StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
        );
        if !plain_answer {
            // HEAD refused (405), or an odd status whose reason is only in a body: ask by GET.
            return self.head_by_get(r).await;
        }
        check_status(&t, &reply, sent)?;
        // A header that is not a digest: the GET below says so, or computes one.
        let digest = reply
            .header("docker-content-digest")
            .map(str::trim)
            .and_then(|d| Digest::parse(d).ok());
        let media_type = reply
            .header(CONTENT_TYPE.as_str())
            .map(media::essence)
            .filter(|m| media::is_supported(m));
        let size = reply
            .header(reqwest::header::CONTENT_LENGTH.as_str())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let (Some(digest), Some(media_type), Some(size)) = (digest, media_type, size) else {
            return self.head_by_get(r).await;
        };
        if let Some(pinned) = r.digest() {
            let pinned = match Digest::parse(pinned) {
                Ok(pinned) if pinned.algorithm() == digest.algorithm() => pinned,
                // Another algorithm than the registry's: only the bytes can tell.
                _ => return self.head_by_get(r).await,
            };
            if pinned != digest {
                return Err(mismatch(&t, &pinned, &digest, FROM_REFERENCE));
            }
        }
        Ok(Descriptor {
            digest,
            media_type: media_type.to_owned(),
            size,
        })
    }

    async fn head_by_get(&self, r: &Reference) -> Result<Descriptor, RegistryError> {
        let m = self.manifest(r).await?;
        Ok(Descriptor {
            size: m.bytes.len() as u64,
            digest: m.digest,
            media_type: m.media_type,
        })
    }

    /// The manifest bytes as served, their media type and verified digest.
    pub async fn manifest(&self, r: &Reference) -> Result<RawManifest, RegistryError> {
        let t = self.target_of(r);
        let (reply, sent) = self.manifest_request(&t, r, Method::GET).await?;
        check_status(&t, &reply, sent)?;
        let header = reply
            .header("docker-content-digest")
            .map(str::trim)
            .filter(|d| !d.is_empty());
        let header = header
            .map(|h| Digest::parse(h).map_err(|e| malformed(&t, IN_HEADER, e)))
            .transpose()?;
        if let Some(header) = &header {
            let actual = Digest::compute(header.algorithm(), &reply.body);
            if actual != *header {
                return Err(mismatch(&t, header, &actual, FROM_REGISTRY));
            }
        }
        let digest = match r.digest() {
            Some(pinned) => {
                let pinned = Digest::parse(pinned).map_err(|_| {
                    bad(
                        &t,
                        format!("the pinned digest {pinned} uses an unsupported algorithm"),
                    )
                })?;
                let actual = Digest::compute(pinned.algorithm(), &reply.body);
                if actual != pinned {
                    return Err(mismatch(&t, &pinned, &actual, FROM_REFERENCE));
                }
                actual
            }
            None => header.unwrap_or_else(|| Digest::sha256(&reply.body)),
        };
        // Digests first: bytes damaged in transit are a mismatch, whatever they parse as.
        let media_type = media::classify(&reply.body, reply.header(CONTENT_TYPE.as_str()))
            .map_err(|detail| bad(&t, detail))?;
        Ok(RawManifest {
            bytes: reply.body,
            media_type,
            digest,
        })
    }

    /// [`manifest`](Self::manifest), and for an index or manifest list its platforms.
    pub async fn resolve(&self, r: &Reference) -> Result<Resolved, RegistryError> {
        let m = self.manifest(r).await?;
        let is_index = media::is_index(&m.media_type);
        let (platforms, attestations) = if is_index {
            media::platforms(&m.bytes).map_err(|e| match e {
                IndexError::Unreadable(detail) => bad(&self.target_of(r), detail),
                IndexError::Digest(e) => malformed(&self.target_of(r), IN_INDEX, e),
            })?
        } else {
            let platform = self.image_platform(r, &m).await?;
            (platform.into_iter().collect(), 0)
        };
        Ok(Resolved {
            digest: m.digest,
            media_type: m.media_type,
            platforms,
            attestations,
            is_index,
        })
    }

    /// The platform of a single image manifest, read from its config blob (one more GET);
    /// `None` for manifests whose config is not an image config (artifacts).
    async fn image_platform(
        &self,
        r: &Reference,
        manifest: &RawManifest,
    ) -> Result<Option<PlatformManifest>, RegistryError> {
        let t = self.target_of(r);
        let Some((config_type, config_digest)) = media::image_config(&manifest.bytes) else {
            return Ok(None);
        };
        let config_digest =
            Digest::parse(&config_digest).map_err(|e| malformed(&t, IN_CONFIG, e))?;
        let path = format!("blobs/{config_digest}");
        let (reply, sent) = self
            .call(&t, {
                let mut call = Call::new(Method::GET, t.url(&path), Access::Pull);
                call.limit = Some(MAX_CONFIG_BYTES);
                call
            })
            .await?;
        check_status(&t, &reply, sent)?;
        let actual = Digest::compute(config_digest.algorithm(), &reply.body);
        if actual != config_digest {
            return Err(mismatch(&t, &config_digest, &actual, FROM_MANIFEST));
        }
        let (os, architecture, variant) = media::config_platform(&reply.body)
            .map_err(|detail| bad(&t, format!("image config {config_type}: {detail}")))?;
        Ok(Some(PlatformManifest {
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            os,
            architecture,
            variant,
        }))
    }
}
