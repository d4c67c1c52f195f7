//! [`KeylessError`]: why a keyless signature is not accepted, worded to say what was expected
//! and what was found; the certificate's, the bundle's and the log's own errors fold into it.

use std::fmt;

use purser::digest::Digest;
use purser::lock::rfc3339 as format_time;

use crate::trust::certificate::CertError;
use crate::trust::rekor::RekorError;
use crate::trust::sigstore_bundle::BundleError;

/// Why a keyless signature is not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeylessError {
    /// Unreadable input: the bundle, the certificate, the Rekor entry, a pattern.
    Malformed(String),
    /// A form not verified here.
    Unsupported(String),
    /// Signed with a key: no certificate.
    NotKeyless,
    /// No identity to accept was given.
    NoIdentities,
    /// No Rekor entry, or one the trusted root does not vouch for (unknown log, bad SET, bad
    /// inclusion proof, a future time, not about this signature).
    Transparency(RekorError),
    /// An integrated time after now.
    FromTheFuture { integrated_time: i64, now: i64 },
    /// The leaf does not chain to a Fulcio CA of the trusted root valid at the signing time.
    Untrusted { issuer: String, time: i64 },
    /// The leaf was not valid at the signing time.
    OutsideValidity {
        time: i64,
        not_before: i64,
        not_after: i64,
    },
    /// The leaf is not a code-signing certificate.
    NotCodeSigning,
    /// Nobody accepted signed it.
    OtherIdentity {
        expected: Vec<String>,
        subjects: Vec<String>,
        issuer: Option<String>,
    },
    /// The signature does not verify with the leaf's key.
    BadSignature { what: String },
    /// The signature is for another digest.
    OtherSubject {
        expected: Digest,
        found: Vec<String>,
    },
}

impl fmt::Display for KeylessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeylessError::Malformed(d) => write!(f, "a keyless signature that cannot be read: {d}"),
            KeylessError::Unsupported(d) => write!(f, "a keyless signature not verified here: {d}"),
            KeylessError::NotKeyless => f.write_str(
                "not a keyless signature: it has no certificate (it was signed with a key)",
            ),
            KeylessError::NoIdentities => {
                f.write_str("no identity (subject and issuer) to accept a keyless signature from")
            }
            KeylessError::Transparency(e) => e.fmt(f),
            KeylessError::FromTheFuture {
                integrated_time,
                now,
            } => write!(
                f,
                "the Rekor entry's integrated time {} is later than now ({})",
                format_time(*integrated_time),
                format_time(*now)
            ),
            KeylessError::Untrusted { issuer, time } => write!(
                f,
                "the certificate (issued by {issuer}) does not chain to any Fulcio CA in the \
                 trusted root valid at the signing time {}",
                format_time(*time)
            ),
            KeylessError::OutsideValidity {
                time,
                not_before,
                not_after,
            } => write!(
                f,
                "the signing time {} is outside the certificate's validity {} to {}",
                format_time(*time),
                format_time(*not_before),
                format_time(*not_after)
            ),
            KeylessError::NotCodeSigning => {
                f.write_str("the certificate is not for code signing (no codeSigning EKU)")
            }
            KeylessError::OtherIdentity {
                expected,
                subjects,
                issuer,
            } => write!(
                f,
                "signed by {} issued by {}, expected {}",
                if subjects.is_empty() {
                    "no subject".to_owned()
                } else {
                    subjects.join(", ")
                },
                issuer.as_deref().unwrap_or("no OIDC issuer"),
                expected.join(" or ")
            ),
            KeylessError::BadSignature { what } => write!(
                f,
                "the signature over {what} does not verify with the certificate's key"
            ),
            KeylessError::OtherSubject { expected, found } => write!(
                f,
                "the signature is for {}, not {expected}",
                if found.is_empty() {
                    "no digest".to_owned()
                } else {
                    found.join(", ")
                }
            ),
        }
    }
}

impl std::error::Error for KeylessError {}

impl From<RekorError> for KeylessError {
    fn from(e: RekorError) -> KeylessError {
        KeylessError::Transparency(e)
    }
}

impl From<CertError> for KeylessError {
    fn from(e: CertError) -> KeylessError {
        KeylessError::Malformed(e.to_string())
    }
}

impl From<BundleError> for KeylessError {
    fn from(e: BundleError) -> KeylessError {
        match e {
            BundleError::Unsupported(d) => KeylessError::Unsupported(d),
            other => KeylessError::Malformed(other.to_string()),
        }
    }
}
