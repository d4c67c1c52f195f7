//! Package repositories over HTTP(S): [`Fetcher`], built by [`Fetcher::new`] from the HTTP
//! client (the registry client's TLS roots and CA files) and the `--package-mirror` rules,
//! fetches repository files and packages; a mirror rule sends a URL the image names to the
//! site's own copy. Everything fetched is verified by the caller (signatures, checksums):
//! plain HTTP is fine, as it is for apt and apk.

use std::fmt;

/// One `--package-mirror`: `URL` (every repository, the upstream paths kept under it) or
/// `ORIGINAL=URL` (that repository, and what is below it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorRule {
    pub original: Option<String>,
    pub mirror: String,
}

impl MirrorRule {
    pub fn parse(text: &str) -> Result<MirrorRule, String> {
        let (original, mirror) = match text.split_once('=') {
            Some((original, mirror)) => (Some(original.trim_end_matches('/').to_owned()), mirror),
            None => (None, text),
        };
        if !(mirror.starts_with("http://") || mirror.starts_with("https://")) {
            return Err(format!(
                "--package-mirror {text:?}: give URL or ORIGINAL=URL, with an http:// or https:// URL"
            ));
        }
        Ok(MirrorRule {
            original,
            mirror: mirror.trim_end_matches('/').to_owned(),
        })
    }
}

/// Why a repository file could not be had.
#[derive(Debug)]
pub enum FetchError {
    /// The server answered 404 (or 410).
    NotFound { url: String },
    /// Another status, or no answer at all.
    Failed { url: String, reason: String },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NotFound { url } => write!(f, "{url}: not found (404)"),
            FetchError::Failed { url, reason } => write!(f, "{url}: {reason}"),
        }
    }
}

impl std::error::Error for FetchError {}

#[derive(Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    mirrors: Vec<MirrorRule>,
}

impl Fetcher {
    pub fn new(http: reqwest::Client, mirrors: Vec<MirrorRule>) -> Fetcher {
        Fetcher { http, mirrors }
    }

    /// The repository base URL to use for `url` as the image names it.
    pub fn base(&self, url: &str) -> String {
        let url = url.trim_end_matches('/');
        for rule in &self.mirrors {
            match &rule.original {
                // The site's mirror keeps the upstream paths under its own URL.
                None => {
                    let path = url
                        .split_once("://")
                        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                        .unwrap_or("");
                    return format!("{}{path}", rule.mirror);
                }
                Some(original) if url == original => return rule.mirror.clone(),
                Some(original) => {
                    if let Some(rest) = url.strip_prefix(&format!("{original}/")) {
                        return format!("{}/{rest}", rule.mirror);
                    }
                }
            }
        }
        url.to_owned()
    }

    /// Whether any mirror rule is set (a repository the image does not name can then be
    /// reached).
    pub fn mirror_for_all(&self) -> Option<&str> {
        self.mirrors
            .iter()
            .find(|r| r.original.is_none())
            .map(|r| r.mirror.as_str())
    }

    /// The body of `url`.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let failed = |reason: String| FetchError::Failed {
            url: url.to_owned(),
            reason,
        };
        let reply = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(crate::causes(&e)))?;
        let status = reply.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(FetchError::NotFound {
                url: url.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(failed(format!("the server answered {status}")));
        }
        let body = reply.bytes().await.map_err(|e| failed(crate::causes(&e)))?;
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rules_send_urls_to_the_site_copy() {
        // reqwest over rustls needs a process-wide provider, as main installs it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fetcher = Fetcher::new(
            reqwest::Client::new(),
            vec![
                MirrorRule::parse("http://deb.debian.org/debian-security=http://m.local/sec")
                    .unwrap(),
            ],
        );
        assert_eq!(
            fetcher.base("http://deb.debian.org/debian-security/"),
            "http://m.local/sec"
        );
        assert_eq!(
            fetcher.base("http://deb.debian.org/debian"),
            "http://deb.debian.org/debian"
        );
        let all = Fetcher::new(
            reqwest::Client::new(),
            vec![MirrorRule::parse("https://m.local/all/").unwrap()],
        );
        assert_eq!(
            all.base("http://dl-cdn.alpinelinux.org/alpine/v3.19/main"),
            "https://m.local/all/alpine/v3.19/main"
        );
        assert!(MirrorRule::parse("ftp://x").is_err());
    }
}
