//! Likely images confirmed against their registries.
//!
//! An image only heuristics found (`Confidence::Likely`: container args and env, ConfigMap
//! data, image-named fields of unknown resources, image-shaped values) may not be an image at
//! all. `helm mirror lock` and the copy engine (`helm mirror copy`, and export, which is the
//! same engine over another store) ask its registry anyway — the request they make for every
//! image, nothing extra — and read the answer with [`judge`] / [`absent`]:
//!
//! - **present**: locked and copied like any other image, marked `confirmed: true`;
//! - **absent** ([`absent`]): set aside in the lock's `unresolved` list and reported, one
//!   line an image naming where it was found; not a failure (exit 0, lock written);
//! - **anything else** (5xx or 429 after the retries, refused or broken connections, TLS, an
//!   unknown host, refused credentials, a bad answer): a failure, as for a certain image —
//!   a registry that cannot answer has not said the image is absent.
//!
//! Certain images are never set aside: a certain image that cannot be resolved fails
//! (`--allow-missing` as before).

use purser::inventory::{Confidence, Image};

use crate::registry::RegistryError;

/// What the registry's answer means for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Resolved: lock or copy it (a likely image is then confirmed).
    Present,
    /// A likely image the registry says it does not have: set aside, with the reason.
    Unresolved(String),
    /// A failure, as for any image.
    Failed(String),
}

/// Whether the registry's refusal says "no such image" (as far as it will tell):
///
/// - `NotFound`: 404, `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`;
/// - `Unauthorized` to a request that carried a token the registry's token service granted
///   (anonymous or with the user's credentials): the refusal is about the repository. Docker
///   Hub answers a repository that does not exist this way (`401 UNAUTHORIZED: authentication
///   required`, by design, so as not to disclose private ones), as do Quay and GHCR;
/// - `Denied` (403): the registry accepted who is asking and refuses this repository.
///
/// Either refusal cannot be told from a private repository the credentials cannot see,
/// which could not be copied either; the reason kept names the credentials used.
///
/// Not absent: a registry that wants credentials for everything and got none or wrong ones
/// (basic auth: the 401 carried no token), the token service refusing the credentials (a
/// wrong password), credentials that exist but were withheld (plain-HTTP realm, identity
/// token against basic auth), a credential helper failing — set-up problems that would hide
/// real images — and every transient or transport failure.
pub fn absent(error: &RegistryError) -> bool {
    match error {
        RegistryError::NotFound { .. } | RegistryError::Denied { .. } => true,
        RegistryError::Unauthorized { token, .. } => *token,
        _ => false,
    }
}

/// The verdict on `image` from the answer to resolving it.
pub fn judge<T>(image: &Image, answer: &Result<T, RegistryError>) -> Verdict {
    match answer {
        Ok(_) => Verdict::Present,
        Err(e) if image.confidence == Confidence::Likely && absent(e) => {
            Verdict::Unresolved(e.to_string())
        }
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

/// `unresolved likely IMAGE: REASON` and `  found at PLACE` lines, for stderr.
pub fn describe(image: &str, reason: &str, found_at: &[String]) -> String {
    let mut text = format!("unresolved likely image {image} (left out): {reason}");
    for place in found_at {
        text.push_str("\n  found at ");
        text.push_str(place);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::CredentialSource;

    fn unauthorized(detail: &str, token: bool) -> RegistryError {
        RegistryError::Unauthorized {
            reference: "docker.io/acme/ghost:1".into(),
            registry: "docker.io".into(),
            credentials: CredentialSource::Anonymous,
            detail: detail.into(),
            token,
        }
    }

    #[test]
    fn what_counts_as_absent() {
        let not_found = RegistryError::NotFound {
            reference: "r".into(),
            registry: "h".into(),
        };
        assert!(absent(&not_found));
        assert!(absent(&unauthorized(
            "UNAUTHORIZED: authentication required",
            true
        )));
        assert!(!absent(&unauthorized("HTTP 401 Unauthorized", false)));
        assert!(absent(&RegistryError::Denied {
            reference: "r".into(),
            registry: "h".into(),
            credentials: CredentialSource::Anonymous,
        }));
        assert!(!absent(&unauthorized(
            "its token service at auth.docker.io answered HTTP 401",
            false
        )));
        let unavailable = RegistryError::Status {
            reference: "r".into(),
            registry: "h".into(),
            status: 503,
            detail: String::new(),
        };
        assert!(!absent(&unavailable));
        assert!(!absent(&RegistryError::RetriesExhausted {
            reference: "r".into(),
            registry: "h".into(),
            attempts: 3,
            elapsed: std::time::Duration::from_secs(1),
            last: Box::new(unavailable),
        }));
        assert!(!absent(&RegistryError::Connect {
            reference: "r".into(),
            registry: "h".into(),
            detail: "connection refused".into(),
        }));
    }
}
