//! Listing: the OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`) and tag lists
//! (`GET /v2/<name>/tags/list`, following `Link` pages).

use purser::digest::Digest;
use reqwest::{Method, StatusCode};

use super::status::check_status;
use super::transport::{Access, Call};
use super::{Client, MAX_MANIFEST_BYTES, RegistryError};

impl Client {
    /// The referrers index of `digest` from the referrers API; None when the registry has no
    /// referrers API (it answers 404 or 405 there), so the tag fallback applies.
    pub async fn referrers(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let t = self.target(
            registry,
            repository,
            format!("{registry}/{repository}@{digest}"),
        );
        let mut call = Call::new(
            Method::GET,
            t.url(&format!("referrers/{digest}")),
            Access::Pull,
        );
        call.accept = Some("application/vnd.oci.image.index.v1+json");
        call.limit = Some(MAX_MANIFEST_BYTES);
        let (reply, sent) = self.call(&t, call).await?;
        match reply.status {
            StatusCode::OK => {
                let json = reply
                    .header(reqwest::header::CONTENT_TYPE.as_str())
                    .is_none_or(|t| t.contains("json"));
                Ok(json.then_some(reply.body))
            }
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Ok(None),
            _ => check_status(&t, &reply, sent).map(|()| None),
        }
    }

    /// Every tag of `repository` (an empty list when the repository does not exist).
    pub async fn tags(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let t = self.target(registry, repository, format!("{registry}/{repository}"));
        let mut url = t.url("tags/list?n=1000");
        let mut tags = Vec::new();
        for _ in 0..10_000 {
            let (reply, sent) = self
                .call(&t, Call::new(Method::GET, url.clone(), Access::Pull))
                .await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Ok(tags);
            }
            check_status(&t, &reply, sent)?;
            let page: Page = serde_json::from_slice(&reply.body).map_err(|e| {
                RegistryError::message(format!(
                    "{}: {registry} answered the tag list with something that is not one: {e}",
                    t.shown
                ))
            })?;
            tags.extend(page.tags.unwrap_or_default());
            // `Link: </v2/name/tags/list?n=1000&last=x>; rel="next"`
            let next = reply
                .header(reqwest::header::LINK.as_str())
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned()
                });
            match next {
                Some(next) if !next.is_empty() => url = t.location(&next),
                _ => return Ok(tags),
            }
        }
        Ok(tags)
    }
}
