//! Keyless cosign signatures (Sigstore public-good style), verified offline against a
//! [`TrustedRoot`]: [`verify_bundle_keyless`] for a Sigstore bundle (a DSSE envelope, as
//! `cosign sign` v3 writes, or a `messageSignature`, as `cosign sign-blob` writes) and
//! [`verify_legacy_keyless`] for a legacy `.sig` layer (certificate, chain and Rekor bundle
//! annotations). Both answer a [`KeylessSigner`] (who signed, per the certificate, and when,
//! per the log) or a [`KeylessError`] naming what was expected and what was found.
//!
//! Everything is checked, in this order:
//! 1. every Rekor entry's Signed Entry Timestamp verifies with the key of the trusted root's
//!    log of that id, valid at the entry's integrated time ([`rekor::verify_promise`]); an
//!    entry's inclusion proof, when the bundle has one, leads to the root hash of a
//!    checkpoint that log signed ([`rekor::verify_inclusion`]); no integrated time is
//!    later than `now`. The signing time is the integrated time (RFC 3161 timestamps are
//!    not read; Rekor v2 entries, which have no SET, are refused);
//! 2. the leaf certificate chains, signature by signature, to a Fulcio certificate
//!    authority of the trusted root valid at the signing time, every certificate of that
//!    chain valid then too. Only the trusted root's certificates are used: the bundle's (or
//!    the `.sig` layer's) own chain is ignored;
//! 3. the leaf was valid at the signing time, and is for code signing;
//! 4. one of the [`Identity`]s matches: a subject alternative name (email or URI) and the
//!    OIDC issuer extension (1.3.6.1.4.1.57264.1.8, or the older .1.1);
//! 5. the signature verifies with the leaf's key (over the DSSE PAE, the artifact, or the
//!    simple-signing payload);
//! 6. the Rekor entry records this signature, this certificate and this payload or artifact
//!    hash (`hashedrekord` 0.0.1 or `dsse` 0.0.1; `intoto` entries are refused);
//! 7. the signature is for the digest asked about (the in-toto subject, the artifact's
//!    digest, the simple-signing claim).
//!
//! SCTs in the certificate are not checked (cosign checks them against the CT logs); the
//! predicate type of a DSSE statement is reported, not judged.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use purser::digest::Digest;
use regex::Regex;

use super::certificate::{Cert, CertError};
use super::rekor::{self, Expected, RekorError};
use super::sigstore_bundle::{Bundle, BundleError, Content, IN_TOTO, TlogEntry, pae};
use super::simple_signing::{LegacySignature, parse_payload};
use super::trusted_root::TrustedRoot;
use purser::lock::rfc3339 as format_time;

/// How a subject or an issuer is matched.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// The whole string, exactly.
    Exact(String),
    /// A regular expression, matched as cosign's `--certificate-identity-regexp` and Flux's
    /// `matchOIDCIdentity` match theirs (Go `regexp.MatchString`): unanchored, so a pattern
    /// that must match the whole string needs its own `^...$`. The `regex` crate's syntax is
    /// Go's RE2 syntax for all but exotic features.
    Regex(Regex),
}

impl Matcher {
    /// A regular-expression matcher; a pattern that does not compile is an error naming it.
    pub fn regex(pattern: &str) -> Result<Matcher, KeylessError> {
        Regex::new(pattern).map(Matcher::Regex).map_err(|e| {
            KeylessError::Malformed(format!("the regular expression {pattern:?}: {e}"))
        })
    }

    #[must_use]
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// A signer accepted: the certificate's subject (SAN) and its OIDC issuer.
#[derive(Clone, Debug)]
pub struct Identity {
    pub subject: Matcher,
    pub issuer: Matcher,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subject {} issued by {}", self.subject, self.issuer)
    }
}

/// Who signed, as the verified certificate says, and when, as the log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeylessSigner {
    /// The subject alternative name that matched (an email or a URI).
    pub subject: String,
    /// The OIDC issuer.
    pub issuer: String,
    /// The Rekor integrated time (seconds since the Unix epoch) and log index.
    pub integrated_time: i64,
    pub log_index: i64,
    /// The in-toto predicate type of a DSSE bundle (`None` for other forms).
    pub predicate_type: Option<String>,
}

/// What a bundle signs, as the caller knows it.
#[derive(Clone, Copy, Debug)]
pub enum Artifact<'a> {
    /// Only its digest: enough for a DSSE bundle (its statement names the digest).
    Digest(&'a Digest),
    /// Its bytes: needed for a `messageSignature`, whose signature is over the bytes.
    Bytes(&'a [u8]),
}

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

/// Verifies a keyless Sigstore bundle for `artifact` (see the module documentation for
/// every check).
pub fn verify_bundle_keyless(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    root: &TrustedRoot,
    identities: &[Identity],
    now: SystemTime,
) -> Result<KeylessSigner, KeylessError> {
    let leaf = bundle
        .verification_material
        .leaf_certificate()?
        .ok_or(KeylessError::NotKeyless)?;
    let leaf = Cert::from_der(&leaf)?;
    let entries = bundle.verification_material.transparency_log_entries()?;
    let mut signer = check_signer(&leaf, &entries, root, identities, now)?;
    match bundle.content() {
        Content::Dsse {
            payload_type,
            payload,
            signature,
        } => {
            if payload_type != IN_TOTO {
                return Err(KeylessError::Unsupported(format!(
                    "payloadType {payload_type:?}, not {IN_TOTO}"
                )));
            }
            if !leaf
                .public_key()
                .verify(&pae(payload_type, payload), signature)
            {
                return Err(KeylessError::BadSignature {
                    what: "the DSSE envelope".to_owned(),
                });
            }
            let payload_sha256 = rekor::sha256(payload);
            for entry in &entries {
                rekor::check_body(
                    entry,
                    Expected::Dsse {
                        signature,
                        leaf: &leaf,
                        payload_sha256: &payload_sha256,
                    },
                )?;
            }
            let (digests, predicate) = bundle.statement()?;
            let expected = match artifact {
                Artifact::Digest(d) => d.clone(),
                Artifact::Bytes(b) => Digest::sha256(b),
            };
            if !digests.iter().any(|d| d == expected.as_str()) {
                return Err(KeylessError::OtherSubject {
                    expected,
                    found: digests,
                });
            }
            signer.predicate_type = Some(predicate);
        }
        Content::Message {
            algorithm,
            digest,
            signature,
        } => {
            let Artifact::Bytes(bytes) = artifact else {
                return Err(KeylessError::Unsupported(
                    "a message signature is over the artifact's bytes, and only its digest was given"
                        .to_owned(),
                ));
            };
            let artifact_sha256 = rekor::sha256(bytes);
            if !digest.is_empty()
                && (algorithm != "SHA2_256" || rekor::hex(digest) != artifact_sha256)
            {
                return Err(KeylessError::OtherSubject {
                    expected: Digest::sha256(bytes),
                    found: vec![format!("{algorithm}:{}", rekor::hex(digest))],
                });
            }
            if !leaf.public_key().verify(bytes, signature) {
                return Err(KeylessError::BadSignature {
                    what: "the artifact".to_owned(),
                });
            }
            for entry in &entries {
                rekor::check_body(
                    entry,
                    Expected::HashedRekord {
                        signature,
                        leaf: &leaf,
                        artifact_sha256: &artifact_sha256,
                    },
                )?;
            }
        }
    }
    Ok(signer)
}

/// Verifies a keyless legacy `.sig` layer: `payload` is the layer's blob (the simple-signing
/// payload, as stored), `digest` the image digest it must claim.
pub fn verify_legacy_keyless(
    sig: &LegacySignature,
    payload: &[u8],
    digest: &Digest,
    root: &TrustedRoot,
    identities: &[Identity],
    now: SystemTime,
) -> Result<KeylessSigner, KeylessError> {
    let stored = &sig.payload.digest;
    if Digest::compute(stored.algorithm(), payload) != *stored {
        return Err(KeylessError::Malformed(format!(
            "the payload given is not the layer's blob {stored}"
        )));
    }
    let leaf = Cert::from_pem(sig.certificate.as_deref().ok_or(KeylessError::NotKeyless)?)?;
    let annotation = sig.rekor_bundle.as_deref().ok_or_else(|| {
        KeylessError::Transparency(RekorError::Malformed(
            "the layer has no dev.sigstore.cosign/bundle annotation".to_owned(),
        ))
    })?;
    let entry = rekor::legacy_entry(annotation)?;
    let signer = check_signer(&leaf, std::slice::from_ref(&entry), root, identities, now)?;
    if !leaf.public_key().verify(payload, &sig.signature) {
        return Err(KeylessError::BadSignature {
            what: "the simple-signing payload".to_owned(),
        });
    }
    rekor::check_body(
        &entry,
        Expected::HashedRekord {
            signature: &sig.signature,
            leaf: &leaf,
            artifact_sha256: &rekor::sha256(payload),
        },
    )?;
    let claim = parse_payload(payload).map_err(|e| KeylessError::Malformed(e.to_string()))?;
    if claim.digest != *digest {
        return Err(KeylessError::OtherSubject {
            expected: digest.clone(),
            found: vec![claim.digest.to_string()],
        });
    }
    Ok(signer)
}

/// Steps 1 to 4 of the module documentation: the log entries, the chain, the validity, the
/// code-signing EKU and the identity.
fn check_signer(
    leaf: &Cert,
    entries: &[TlogEntry],
    root: &TrustedRoot,
    identities: &[Identity],
    now: SystemTime,
) -> Result<KeylessSigner, KeylessError> {
    if identities.is_empty() {
        return Err(KeylessError::NoIdentities);
    }
    let Some(first) = entries.first() else {
        return Err(KeylessError::Transparency(RekorError::Malformed(
            "no transparency log entry: the signing time cannot be established".to_owned(),
        )));
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    for entry in entries {
        let log = rekor::verify_promise(entry, root)?;
        rekor::verify_inclusion(entry, log)?;
        if entry.integrated_time > now {
            return Err(KeylessError::FromTheFuture {
                integrated_time: entry.integrated_time,
                now,
            });
        }
    }
    let time = first.integrated_time;
    if !chains_to_fulcio(leaf, root, time) {
        return Err(KeylessError::Untrusted {
            issuer: leaf.issuer(),
            time,
        });
    }
    for entry in entries {
        check_validity(leaf, entry.integrated_time)?;
    }
    if !leaf.is_code_signing()? {
        return Err(KeylessError::NotCodeSigning);
    }
    let subjects = leaf.san_identities()?;
    let issuer = leaf.oidc_issuer()?;
    let matched = issuer.as_deref().and_then(|issuer| {
        identities
            .iter()
            .filter(|id| id.issuer.matches(issuer))
            .find_map(|id| subjects.iter().find(|s| id.subject.matches(s)))
    });
    match (matched, issuer) {
        (Some(subject), Some(issuer)) => Ok(KeylessSigner {
            subject: subject.clone(),
            issuer,
            integrated_time: time,
            log_index: first.log_index,
            predicate_type: None,
        }),
        (_, issuer) => Err(KeylessError::OtherIdentity {
            expected: identities.iter().map(ToString::to_string).collect(),
            subjects,
            issuer,
        }),
    }
}

/// The signing time lies within the leaf's notBefore..=notAfter.
pub fn check_validity(leaf: &Cert, time: i64) -> Result<(), KeylessError> {
    if leaf.valid_at(time) {
        Ok(())
    } else {
        let (not_before, not_after) = leaf.validity();
        Err(KeylessError::OutsideValidity {
            time,
            not_before,
            not_after,
        })
    }
}

/// Whether some Fulcio CA of `root`, valid at `time`, issued `leaf`: the leaf signed by the
/// chain's first certificate, each by the next, every one of them a CA valid at `time`.
fn chains_to_fulcio(leaf: &Cert, root: &TrustedRoot, time: i64) -> bool {
    root.certificate_authorities
        .iter()
        .filter(|ca| ca.valid_for.contains(time))
        .any(|ca| {
            let mut child = leaf;
            for parent in &ca.chain {
                if !parent.valid_at(time)
                    || !parent.is_ca().unwrap_or(false)
                    || !child.is_signed_by(parent)
                {
                    return false;
                }
                child = parent;
            }
            true
        })
}

/// A file of native/tests/fixtures/sigstore-public (real signatures of the public-good
/// Sigstore instance; its README.md says where each comes from).
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sigstore-public")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Real keyless signatures of the public-good instance (native/tests/fixtures/sigstore-public)
/// against its trusted root: each verifies for its signer and artifact, and every edit or
/// other expectation is refused with the error naming it.
#[cfg(test)]
mod public_good {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::Value;

    use super::*;
    use crate::trust::sigstore_bundle::parse;
    use crate::trust::simple_signing::signatures_in;

    const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    const RELEASE: &str = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.28";
    const IMAGE: &str = "sha256:8c0d347ab4b606c93ba087efc5c0e6e58154b052b0eb1d658a313cdaeff93d71";

    fn root() -> TrustedRoot {
        TrustedRoot::parse(&fixture("trusted_root.json")).unwrap()
    }

    fn exact(subject: &str, issuer: &str) -> Vec<Identity> {
        vec![Identity {
            subject: Matcher::Exact(subject.to_owned()),
            issuer: Matcher::Exact(issuer.to_owned()),
        }]
    }

    fn json(name: &str) -> Value {
        serde_json::from_slice(&fixture(name)).unwrap()
    }

    fn bundle(value: &Value) -> Bundle {
        parse(&serde_json::to_vec(value).unwrap()).unwrap()
    }

    fn a_txt() -> Digest {
        Digest::sha256(&fixture("a.txt"))
    }

    fn dsse(value: &Value, identities: &[Identity]) -> Result<KeylessSigner, KeylessError> {
        verify_bundle_keyless(
            &bundle(value),
            Artifact::Digest(&a_txt()),
            &root(),
            identities,
            SystemTime::now(),
        )
    }

    #[test]
    fn a_dsse_bundle_verifies_for_its_signer_and_subject() {
        let signer = dsse(&json("dsse/bundle.sigstore.json"), &exact(BEACON, GITHUB)).unwrap();
        assert_eq!(
            signer,
            KeylessSigner {
                subject: BEACON.to_owned(),
                issuer: GITHUB.to_owned(),
                integrated_time: 1_734_374_576,
                log_index: 155_690_850,
                predicate_type: Some("https://slsa.dev/provenance/v1".to_owned()),
            }
        );
        // Regular expressions, unanchored as Go's MatchString, and a list where one matches.
        let identities = vec![
            Identity {
                subject: Matcher::regex("^https://github.com/someone-else/").unwrap(),
                issuer: Matcher::regex(".*").unwrap(),
            },
            Identity {
                subject: Matcher::regex("extremely-dangerous-oidc-beacon\\.yml@refs/heads/main")
                    .unwrap(),
                issuer: Matcher::regex("^https://token\\.actions\\.githubusercontent\\.com$")
                    .unwrap(),
            },
        ];
        let signer = dsse(&json("dsse/bundle.sigstore.json"), &identities).unwrap();
        assert_eq!(signer.subject, BEACON);
        // The bytes of the subject do as well as its digest.
        let signer = verify_bundle_keyless(
            &bundle(&json("dsse/bundle.sigstore.json")),
            Artifact::Bytes(&fixture("a.txt")),
            &root(),
            &exact(BEACON, GITHUB),
            SystemTime::now(),
        );
        assert!(signer.is_ok(), "{signer:?}");
    }

    #[test]
    fn a_message_signature_bundle_verifies_over_the_artifact_bytes() {
        let b = bundle(&json("message/bundle.sigstore.json"));
        let verify = |artifact: Artifact<'_>| {
            verify_bundle_keyless(
                &b,
                artifact,
                &root(),
                &exact(BEACON, GITHUB),
                SystemTime::now(),
            )
        };
        let signer = verify(Artifact::Bytes(&fixture("a.txt"))).unwrap();
        assert_eq!(signer.integrated_time, 1_710_869_186);
        assert_eq!(signer.log_index, 79_571_823);
        assert_eq!(signer.issuer, GITHUB);
        assert_eq!(signer.predicate_type, None);
        // A digest alone cannot check a signature over bytes.
        assert!(matches!(
            verify(Artifact::Digest(&a_txt())),
            Err(KeylessError::Unsupported(_))
        ));
        // Another artifact: the bundle's digest names the one signed.
        let mut other = fixture("a.txt");
        other[0] ^= 1;
        let err = verify(Artifact::Bytes(&other)).unwrap_err();
        assert!(
            matches!(&err, KeylessError::OtherSubject { found, .. } if found[0].starts_with("SHA2_256:a0cfc712")),
            "{err}"
        );
        // Without the (unauthenticated) digest hint, the signature itself refuses it.
        let mut value = json("message/bundle.sigstore.json");
        value["messageSignature"]
            .as_object_mut()
            .unwrap()
            .remove("messageDigest");
        let err = verify_bundle_keyless(
            &bundle(&value),
            Artifact::Bytes(&other),
            &root(),
            &exact(BEACON, GITHUB),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(err, KeylessError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn a_legacy_sig_layer_verifies_for_its_signer_and_image() {
        let manifest = fixture("legacy/sig-manifest.json");
        let sigs = signatures_in(&manifest, purser::plan::OCI_MANIFEST).unwrap();
        let payload = fixture("legacy/payload.json");
        let image = Digest::parse(IMAGE).unwrap();
        let verify = |payload: &[u8], digest: &Digest, identities: &[Identity]| {
            verify_legacy_keyless(
                &sigs[0],
                payload,
                digest,
                &root(),
                identities,
                SystemTime::now(),
            )
        };
        let signer = verify(&payload, &image, &exact(RELEASE, GITHUB)).unwrap();
        assert_eq!(signer.subject, RELEASE);
        assert_eq!(signer.integrated_time, 1_772_192_809);
        assert_eq!(signer.log_index, 1_003_522_141);
        let identities = vec![Identity {
            subject: Matcher::regex("https://github.com.*").unwrap(),
            issuer: Matcher::Exact(GITHUB.to_owned()),
        }];
        assert!(verify(&payload, &image, &identities).is_ok());

        let err = verify(&payload, &a_txt(), &exact(RELEASE, GITHUB)).unwrap_err();
        assert!(
            matches!(&err, KeylessError::OtherSubject { found, .. } if found == &[IMAGE.to_owned()]),
            "{err}"
        );
        let err = verify(&payload, &image, &exact(BEACON, GITHUB)).unwrap_err();
        assert!(matches!(err, KeylessError::OtherIdentity { .. }), "{err}");
        let mut tampered = payload.clone();
        tampered[20] ^= 1;
        assert!(matches!(
            verify(&tampered, &image, &exact(RELEASE, GITHUB)),
            Err(KeylessError::Malformed(_))
        ));
        // A layer whose blob digest was edited to match a tampered payload: the signature
        // refuses it.
        let mut forged = sigs[0].clone();
        forged.payload.digest = Digest::sha256(&tampered);
        let err = verify_legacy_keyless(
            &forged,
            &tampered,
            &image,
            &root(),
            &exact(RELEASE, GITHUB),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(err, KeylessError::BadSignature { .. }), "{err}");
        // The Rekor bundle is required, and its SET must verify.
        let mut no_bundle = sigs[0].clone();
        no_bundle.rekor_bundle = None;
        let err = verify_legacy_keyless(
            &no_bundle,
            &payload,
            &image,
            &root(),
            &exact(RELEASE, GITHUB),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(err, KeylessError::Transparency(_)), "{err}");
        let mut edited = sigs[0].clone();
        edited.rekor_bundle = edited
            .rekor_bundle
            .map(|b| b.replace("\"logIndex\":1003522141", "\"logIndex\":1003522142"));
        let err = verify_legacy_keyless(
            &edited,
            &payload,
            &image,
            &root(),
            &exact(RELEASE, GITHUB),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                KeylessError::Transparency(RekorError::BadPromise { .. })
            ),
            "{err}"
        );
        let mut keyed = sigs[0].clone();
        keyed.certificate = None;
        assert!(matches!(
            verify_legacy_keyless(
                &keyed,
                &payload,
                &image,
                &root(),
                &exact(RELEASE, GITHUB),
                SystemTime::now()
            ),
            Err(KeylessError::NotKeyless)
        ));
    }

    #[test]
    fn another_subject_or_issuer_is_refused_naming_both() {
        let value = json("dsse/bundle.sigstore.json");
        let err = dsse(
            &value,
            &exact(
                "https://github.com/me/repo/.github/workflows/x.yml@refs/heads/main",
                GITHUB,
            ),
        )
        .unwrap_err();
        assert!(matches!(err, KeylessError::OtherIdentity { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(BEACON) && text.contains("github.com/me/repo"),
            "{text}"
        );
        let err = dsse(&value, &exact(BEACON, "https://accounts.google.com")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("issued by {GITHUB}")) && text.contains("accounts.google.com"),
            "{text}"
        );
        // A regular expression that matches only in part of the subject is unanchored, so
        // anchoring it the wrong way refuses.
        let anchored = vec![Identity {
            subject: Matcher::regex("^extremely-dangerous").unwrap(),
            issuer: Matcher::Exact(GITHUB.to_owned()),
        }];
        assert!(matches!(
            dsse(&value, &anchored),
            Err(KeylessError::OtherIdentity { .. })
        ));
        // Subject and issuer must match in the same identity.
        let crossed = vec![
            Identity {
                subject: Matcher::Exact(BEACON.to_owned()),
                issuer: Matcher::Exact("https://accounts.google.com".to_owned()),
            },
            Identity {
                subject: Matcher::Exact("someone@example.com".to_owned()),
                issuer: Matcher::Exact(GITHUB.to_owned()),
            },
        ];
        assert!(matches!(
            dsse(&value, &crossed),
            Err(KeylessError::OtherIdentity { .. })
        ));
        assert_eq!(dsse(&value, &[]), Err(KeylessError::NoIdentities));
        assert!(matches!(
            Matcher::regex("("),
            Err(KeylessError::Malformed(_))
        ));
    }

    #[test]
    fn a_modified_payload_or_another_digest_is_refused() {
        let mut value = json("dsse/bundle.sigstore.json");
        let payload = STANDARD
            .decode(value["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let edited = String::from_utf8(payload)
            .unwrap()
            .replace("a0cfc71271d6e278", "b0cfc71271d6e278");
        value["dsseEnvelope"]["payload"] = STANDARD.encode(edited).into();
        let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
        assert!(matches!(err, KeylessError::BadSignature { .. }), "{err}");

        let value = json("dsse/bundle.sigstore.json");
        let other = Digest::sha256(b"another artifact");
        let err = verify_bundle_keyless(
            &bundle(&value),
            Artifact::Digest(&other),
            &root(),
            &exact(BEACON, GITHUB),
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            KeylessError::OtherSubject {
                expected: other,
                found: vec![a_txt().to_string()],
            }
        );
    }

    #[test]
    fn a_foreign_certificate_or_a_root_without_the_fulcio_ca_is_untrusted() {
        // The leaf of a bundle signed by the staging instance, swapped in.
        let staging = json("staging/bundle.sigstore.json");
        let foreign =
            staging["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
                .clone();
        let mut value = json("dsse/bundle.sigstore.json");
        value["verificationMaterial"]["certificate"]["rawBytes"] = foreign;
        let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
        assert!(matches!(err, KeylessError::Untrusted { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("does not chain to any Fulcio CA in the trusted root"),
            "{err}"
        );

        let value = json("dsse/bundle.sigstore.json");
        let verify_with = |root: &TrustedRoot| {
            verify_bundle_keyless(
                &bundle(&value),
                Artifact::Digest(&a_txt()),
                root,
                &exact(BEACON, GITHUB),
                SystemTime::now(),
            )
        };
        let mut no_ca = root();
        no_ca.certificate_authorities.clear();
        assert!(matches!(
            verify_with(&no_ca),
            Err(KeylessError::Untrusted { .. })
        ));
        // Only the 2021 CA, which expired before this signature and did not issue it.
        let mut old_ca = root();
        old_ca.certificate_authorities.truncate(1);
        assert!(matches!(
            verify_with(&old_ca),
            Err(KeylessError::Untrusted { .. })
        ));
        // The current CA, but declared valid only until before the signing time.
        let mut ended = root();
        ended.certificate_authorities[1].valid_for.end = Some(1_734_374_575);
        assert!(matches!(
            verify_with(&ended),
            Err(KeylessError::Untrusted { .. })
        ));
        // A CA listed as its issuing certificate alone still vouches for its leaves: the
        // trusted root's certificates are the anchors, whatever their depth.
        let mut intermediate_only = root();
        intermediate_only.certificate_authorities[1]
            .chain
            .truncate(1);
        assert!(verify_with(&intermediate_only).is_ok());
        // A root whose log is missing cannot vouch for the time.
        let mut no_log = root();
        no_log.tlogs.clear();
        assert!(matches!(
            verify_with(&no_log),
            Err(KeylessError::Transparency(RekorError::UnknownLog { .. }))
        ));
        // cosign's minimal root (no CA, no log).
        let minimal = TrustedRoot::parse(&crate::trust::fixture("trusted_root.json")).unwrap();
        assert!(verify_with(&minimal).is_err());
    }

    #[test]
    fn an_edited_promise_or_time_is_refused() {
        let mut value = json("dsse/bundle.sigstore.json");
        let set = &mut value["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"];
        let mut raw = STANDARD.decode(set.as_str().unwrap()).unwrap();
        raw[12] ^= 1;
        *set = STANDARD.encode(raw).into();
        let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
        assert!(
            matches!(
                err,
                KeylessError::Transparency(RekorError::BadPromise { .. })
            ),
            "{err}"
        );

        // An integrated time after the certificate expired: the SET no longer verifies.
        let mut value = json("dsse/bundle.sigstore.json");
        value["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1734375300".into();
        let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
        assert!(
            matches!(
                err,
                KeylessError::Transparency(RekorError::BadPromise { .. })
            ),
            "{err}"
        );

        // Verified "before" it was logged.
        let value = json("dsse/bundle.sigstore.json");
        let err = verify_bundle_keyless(
            &bundle(&value),
            Artifact::Digest(&a_txt()),
            &root(),
            &exact(BEACON, GITHUB),
            UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        )
        .unwrap_err();
        assert_eq!(
            err,
            KeylessError::FromTheFuture {
                integrated_time: 1_734_374_576,
                now: 1_700_000_000
            }
        );

        // No log entry at all.
        let mut value = json("dsse/bundle.sigstore.json");
        value["verificationMaterial"]["tlogEntries"] = Value::Array(Vec::new());
        assert!(matches!(
            dsse(&value, &exact(BEACON, GITHUB)),
            Err(KeylessError::Transparency(RekorError::Malformed(_)))
        ));
    }

    #[test]
    fn the_signing_time_must_lie_within_the_certificate() {
        let value = json("dsse/bundle.sigstore.json");
        let leaf = bundle(&value)
            .verification_material
            .leaf_certificate()
            .unwrap()
            .unwrap();
        let leaf = Cert::from_der(&leaf).unwrap();
        assert_eq!(check_validity(&leaf, 1_734_374_576), Ok(()));
        assert_eq!(check_validity(&leaf, 1_734_375_176), Ok(()));
        let err = check_validity(&leaf, 1_734_375_177).unwrap_err();
        assert_eq!(
            err,
            KeylessError::OutsideValidity {
                time: 1_734_375_177,
                not_before: 1_734_374_576,
                not_after: 1_734_375_176,
            }
        );
        assert_eq!(
            err.to_string(),
            "the signing time 2024-12-16T18:52:57Z is outside the certificate's validity \
             2024-12-16T18:42:56Z to 2024-12-16T18:52:56Z"
        );
        assert!(check_validity(&leaf, 1_734_374_575).is_err());
    }

    #[test]
    fn malformed_or_keyed_bundles_are_named() {
        assert!(parse(b"{not json").is_err());
        let mut value = json("dsse/bundle.sigstore.json");
        value["verificationMaterial"]["certificate"]["rawBytes"] = "MIIB".into();
        assert!(matches!(
            dsse(&value, &exact(BEACON, GITHUB)),
            Err(KeylessError::Malformed(_))
        ));
        let mut value = json("dsse/bundle.sigstore.json");
        value["verificationMaterial"]["certificate"]["rawBytes"] = "not base64!".into();
        assert!(matches!(
            dsse(&value, &exact(BEACON, GITHUB)),
            Err(KeylessError::Malformed(_))
        ));
        let mut value = json("dsse/bundle.sigstore.json");
        value["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "minus one".into();
        assert!(matches!(
            dsse(&value, &exact(BEACON, GITHUB)),
            Err(KeylessError::Malformed(_))
        ));
        let mut value = json("dsse/bundle.sigstore.json");
        value["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = "e30=".into();
        assert!(matches!(
            dsse(&value, &exact(BEACON, GITHUB)),
            Err(KeylessError::Transparency(_))
        ));
        // A message-signature bundle is read, and refused by the key verification, which
        // reads DSSE envelopes only.
        let message = parse(&fixture("message/bundle.sigstore.json")).unwrap();
        let key = crate::trust::fixture_key("cosign.pub");
        assert!(matches!(
            message.verify_with_key(&key, &a_txt()),
            Err(BundleError::Unsupported(_))
        ));
        // A bundle cosign signed with a key has no certificate.
        let keyed = parse(&crate::trust::fixture("bundle-v3/image-bundle.json")).unwrap();
        assert_eq!(
            verify_bundle_keyless(
                &keyed,
                Artifact::Digest(&a_txt()),
                &root(),
                &exact(BEACON, GITHUB),
                SystemTime::now()
            ),
            Err(KeylessError::NotKeyless)
        );
    }
}
