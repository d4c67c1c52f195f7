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
//!
//! # Files
//!
//! This file holds the two verifications and the steps they share; `identity` the
//! [`Identity`] and [`Matcher`] a signer is accepted by, `fulcio` the certificate chain and
//! validity, `error` the [`KeylessError`], and `public_good` the tests on real signatures of
//! the public-good instance.

use std::time::{SystemTime, UNIX_EPOCH};

use purser::digest::Digest;

use super::certificate::Cert;
use super::rekor::{self, Expected, RekorError};
use super::sigstore_bundle::{Bundle, Content, IN_TOTO, TlogEntry, pae};
use super::simple_signing::{LegacySignature, parse_payload};
use super::trusted_root::TrustedRoot;

mod error;
mod fulcio;
mod identity;
#[cfg(test)]
mod public_good;

pub use error::KeylessError;
pub use fulcio::check_validity;
pub use identity::{Identity, Matcher};

use fulcio::chains_to_fulcio;

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
    let matched = issuer
        .as_deref()
        .and_then(|issuer| identity::accepted(identities, &subjects, issuer));
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

/// A file of native/tests/fixtures/sigstore-public (real signatures of the public-good
/// Sigstore instance; its README.md says where each comes from).
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sigstore-public")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
