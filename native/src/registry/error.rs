//! What can go wrong talking to a registry, said so that a user knows which image, which
//! registry, what happened and what to do. No variant ever holds a secret: credentials are
//! named by where they came from ([`CredentialSource`]), never by value.

use std::fmt;
use std::time::Duration;

use purser::digest::DigestError;

use super::credentials::CredentialSource;

/// A failed registry operation. Every variant but `Options` and `Message` names the image
/// reference (as the caller wrote it, canonical form) and the registry host.
#[derive(Debug, Clone)]
pub enum RegistryError {
    /// The client could not be built: an unreadable CA file, a bad client certificate, a
    /// broken docker config.
    Options { reason: String },
    /// The registry has no such repository, tag or digest (404 / MANIFEST_UNKNOWN / NAME_UNKNOWN).
    NotFound { reference: String, registry: String },
    /// The registry (or its token service) refused the credentials, or wanted some and got none.
    Unauthorized {
        reference: String,
        registry: String,
        credentials: CredentialSource,
        detail: String,
        /// The request carried a token the registry's token service granted (anonymous or
        /// with credentials): the refusal is about this repository (Docker Hub answers so for
        /// one that does not exist), not about who is asking.
        token: bool,
    },
    /// Authenticated, but not allowed to read this repository (403 / DENIED).
    Denied {
        reference: String,
        registry: String,
        credentials: CredentialSource,
    },
    /// The registry's host name does not resolve.
    UnknownHost { reference: String, registry: String },
    /// No connection, or the connection broke (refused, reset, closed early, timed out).
    Connect {
        reference: String,
        registry: String,
        detail: String,
    },
    /// The TLS handshake failed (unknown issuer, wrong name, expired, not TLS at all).
    Tls {
        reference: String,
        registry: String,
        detail: String,
    },
    /// Bytes whose digest is not the one they should have: the registry's own
    /// `Docker-Content-Digest`, or the digest the reference pins.
    DigestMismatch {
        reference: String,
        registry: String,
        expected: String,
        actual: String,
        /// Where `expected` came from: "the reference" or "the registry's Docker-Content-Digest".
        expected_from: &'static str,
    },
    /// A digest the registry sent that is not one (a `Docker-Content-Digest` header, an index
    /// entry, a manifest's config descriptor): refused where it arrives, so no caller has to
    /// parse it again.
    MalformedDigest {
        reference: String,
        registry: String,
        /// Where the digest was: "its Docker-Content-Digest header", "an index entry", ….
        found_in: &'static str,
        error: Box<DigestError>,
    },
    /// A response that is not a usable manifest: not JSON, unsupported media type, too large,
    /// a missing header.
    BadResponse {
        reference: String,
        registry: String,
        detail: String,
    },
    /// Any other HTTP status (5xx, 429 and 408 end here when they are not retried further).
    Status {
        reference: String,
        registry: String,
        status: u16,
        detail: String,
    },
    /// A credential helper or credential file failed for this registry.
    Credentials {
        reference: String,
        registry: String,
        source: CredentialSource,
        detail: String,
    },
    /// A caller's own per-image error (e.g. "no manifest for linux/s390x"), already worded.
    Message(String),
    /// A bundle that cannot be trusted: a member whose bytes do not match its digest, one cut
    /// short, one missing (in a part not given). Never retried; an import stops before
    /// anything becomes visible.
    Bundle { member: String, detail: String },
    /// Transient failures every time until the retry budget ran out.
    RetriesExhausted {
        reference: String,
        registry: String,
        attempts: u32,
        elapsed: Duration,
        last: Box<RegistryError>,
    },
}

impl RegistryError {
    /// A caller's own error, already worded (it should name the reference).
    pub fn message(text: impl Into<String>) -> RegistryError {
        RegistryError::Message(text.into())
    }

    /// The registry has no such repository, tag or digest.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }

    /// Whether trying again later might help: 5xx (but 501/505), 429, 408, broken or refused
    /// connections, timeouts.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Connect { .. } => true,
            RegistryError::Status { status, .. } => {
                matches!(status, 408 | 429) || (*status >= 500 && !matches!(status, 501 | 505))
            }
            _ => false,
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Options { reason } => write!(f, "registry options: {reason}"),
            RegistryError::Message(text) => f.write_str(text),
            RegistryError::Bundle { member, detail } => {
                write!(f, "bundle member {member}: {detail}")
            }
            RegistryError::NotFound {
                reference,
                registry,
            } => write!(
                f,
                "{reference}: not found on {registry} (no such repository, tag or digest); check the name and tag, and that your credentials can see it"
            ),
            RegistryError::Unauthorized {
                reference,
                registry,
                credentials,
                detail,
                ..
            } => {
                write!(f, "{reference}: {registry} refused access ({detail}); ")?;
                match credentials {
                    CredentialSource::Anonymous => write!(
                        f,
                        "no credentials were found for {registry}: log in (`helm registry login {registry}` or `docker login {registry}`) or set PURSER_REGISTRY_USERNAME and PURSER_REGISTRY_PASSWORD"
                    ),
                    source => write!(
                        f,
                        "the credentials used came from {source}: check them, or log in again"
                    ),
                }
            }
            RegistryError::Denied {
                reference,
                registry,
                credentials,
            } => write!(
                f,
                "{reference}: {registry} denied access to the repository with {credentials}; ask for pull access, or use other credentials"
            ),
            RegistryError::UnknownHost {
                reference,
                registry,
            } => write!(
                f,
                "{reference}: registry host {registry} does not resolve; check the registry name (and your DNS or proxy settings)"
            ),
            RegistryError::Connect {
                reference,
                registry,
                detail,
            } => write!(
                f,
                "{reference}: cannot talk to {registry}: {detail}; check that the registry is up and reachable (and whether it needs --plain-http {registry})"
            ),
            RegistryError::Tls {
                reference,
                registry,
                detail,
            } => write!(
                f,
                "{reference}: TLS with {registry} failed: {detail}; trust its CA with --ca-file FILE, or (only if you trust the network) --insecure-skip-tls-verify {registry}, or if it serves plain HTTP use --plain-http {registry}"
            ),
            RegistryError::DigestMismatch {
                reference,
                registry,
                expected,
                actual,
                expected_from,
            } => write!(
                f,
                "{reference}: digest mismatch from {registry}: expected {expected} ({expected_from}), got bytes with digest {actual}; the tag may have moved, or the registry or something between is corrupting data"
            ),
            RegistryError::MalformedDigest {
                reference,
                registry,
                found_in,
                error,
            } => write!(
                f,
                "{reference}: {registry} sent a malformed digest in {found_in}: {error} (the registry, or something between, is not speaking the OCI distribution spec)"
            ),
            RegistryError::BadResponse {
                reference,
                registry,
                detail,
            } => write!(
                f,
                "{reference}: {registry} answered with something that is not a usable manifest: {detail}"
            ),
            RegistryError::Status {
                reference,
                registry,
                status,
                detail,
            } => {
                write!(f, "{reference}: {registry} answered HTTP {status}")?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                if *status >= 500 || *status == 429 {
                    write!(
                        f,
                        "; the registry is overloaded or failing, try again later"
                    )?;
                }
                Ok(())
            }
            RegistryError::Credentials {
                reference,
                registry,
                source,
                detail,
            } => write!(
                f,
                "{reference}: cannot get credentials for {registry} from {source}: {detail}"
            ),
            RegistryError::RetriesExhausted {
                reference,
                registry,
                attempts,
                elapsed,
                last,
            } => {
                let last = last.to_string();
                // The last error starts with the reference: do not say it twice.
                let last = last
                    .strip_prefix(reference.as_str())
                    .and_then(|rest| rest.strip_prefix(": "))
                    .unwrap_or(&last);
                write!(
                    f,
                    "{reference}: gave up on {registry} after {attempts} attempts in {:.1}s; last error: {last}",
                    elapsed.as_secs_f64()
                )
            }
        }
    }
}

impl std::error::Error for RegistryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_enough_to_return() {
        // clippy's result_large_err limit: callers return Result<_, RegistryError> everywhere.
        assert!(std::mem::size_of::<RegistryError>() <= 128);
    }

    #[test]
    fn malformed_digest_names_image_registry_and_place() {
        let error = RegistryError::MalformedDigest {
            reference: "example.com/app:1".to_owned(),
            registry: "example.com".to_owned(),
            found_in: "its Docker-Content-Digest header",
            error: Box::new(purser::digest::Digest::parse("sha256:abc").unwrap_err()),
        };
        let text = error.to_string();
        assert!(text.starts_with("example.com/app:1: example.com sent a malformed digest in its Docker-Content-Digest header: \"sha256:abc\""), "{text}");
        assert!(!error.is_transient() && !error.is_not_found());
    }
}
