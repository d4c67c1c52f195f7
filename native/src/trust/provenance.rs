//! Helm chart provenance: [`verify_provenance`] checks a chart archive's `.prov` file against an
//! OpenPGP keyring as `helm verify --keyring` does, and names the [`Signer`]; every refusal is a
//! [`ProvenanceError`].
//!
//! `helm package --sign` writes `NAME-VERSION.tgz.prov`: an OpenPGP clear-signed message (the
//! Cleartext Signature Framework of RFC 9580, SHA-512, made by the key's primary key) whose body
//! is the chart's `Chart.yaml`, a `...` line, then `files:` mapping the archive's file name to
//! `sha256:<hex>`. Helm 4 (`pkg/provenance`) checks the signature with a key of the keyring
//! (refusing a revoked or expired key and an expired signature), then that the archive's
//! SHA-256 is the `files` entry of the archive's file name. It does not compare the signed
//! `Chart.yaml` with the chart, so neither does this. Helm reads only binary keyrings; this reads
//! ASCII-armored ones as well, and secret keyrings (their public halves).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{CleartextSignedMessage, PublicOrSecret, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{Fingerprint, KeyDetails, PublicKeyTrait, Tag};
use serde::Deserialize;

/// Who signed a verified `.prov`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The primary key's fingerprint, upper-case hex (what `helm verify` prints as "Using Key
    /// With Fingerprint").
    pub fingerprint: String,
    /// The ID of the key that made the signature, upper-case hex: the primary key's, or a
    /// signing subkey's when the `.prov` was signed with one (`gpg --clearsign` does; Helm
    /// never does).
    pub key_id: String,
    /// The key's user ID, `name <email>` (its primary one, else the newest).
    pub user_id: String,
}

/// Why a `.prov` does not vouch for an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvenanceError {
    /// The keyring is neither a binary nor an ASCII-armored OpenPGP keyring, or holds no key.
    KeyringUnreadable(String),
    /// The `.prov` is not an OpenPGP clear-signed message.
    NotClearSigned(String),
    /// No signing key of the keyring has the ID (or fingerprint) of any signature's issuer.
    UnknownIssuer { key_ids: Vec<String> },
    /// The signature does not verify with the issuer's key: the signed text was changed, or
    /// the signature is damaged.
    BadSignature { key_id: String, reason: String },
    /// The issuer's key (or the user ID, or the signing subkey) was revoked.
    KeyRevoked { key_id: String },
    /// The issuer's key expired (at the given time, RFC 3339).
    KeyExpired { key_id: String, at: String },
    /// The signature itself expired (at the given time, RFC 3339).
    SignatureExpired { key_id: String, at: String },
    /// The signed text is not `Chart.yaml`, `...`, and a YAML `files:` map.
    MalformedBody(String),
    /// The signed `files:` map has no entry for the archive's file name.
    ArchiveNotListed {
        archive: String,
        listed: Vec<String>,
    },
    /// The archive's digest is not the one signed.
    DigestMismatch {
        archive: String,
        expected: String,
        found: String,
    },
}

impl fmt::Display for ProvenanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyringUnreadable(why) => write!(f, "the keyring cannot be read: {why}"),
            Self::NotClearSigned(why) => {
                write!(
                    f,
                    "the provenance file is not a PGP clear-signed message: {why}"
                )
            }
            Self::UnknownIssuer { key_ids } => write!(
                f,
                "the provenance file is signed by key {}, which is not in the keyring",
                key_ids.join(", ")
            ),
            Self::BadSignature { key_id, reason } => write!(
                f,
                "the provenance signature by key {key_id} does not verify (the signed text \
                 was changed?): {reason}"
            ),
            Self::KeyRevoked { key_id } => {
                write!(
                    f,
                    "the provenance file is signed by key {key_id}, which is revoked"
                )
            }
            Self::KeyExpired { key_id, at } => write!(
                f,
                "the provenance file is signed by key {key_id}, which expired at {at}"
            ),
            Self::SignatureExpired { key_id, at } => write!(
                f,
                "the provenance signature by key {key_id} expired at {at}"
            ),
            Self::MalformedBody(why) => {
                write!(f, "the signed provenance text is not Helm's: {why}")
            }
            Self::ArchiveNotListed { archive, listed } => write!(
                f,
                "the provenance file lists no digest for {archive} (it lists: {})",
                if listed.is_empty() {
                    "nothing".to_string()
                } else {
                    listed.join(", ")
                }
            ),
            Self::DigestMismatch {
                archive,
                expected,
                found,
            } => write!(
                f,
                "{archive} does not match its provenance: signed digest {expected}, archive \
                 digest {found}"
            ),
        }
    }
}

impl std::error::Error for ProvenanceError {}

/// Checks `prov` (the `.prov` file's bytes) for the chart archive `archive` named
/// `archive_name` (its file name, `NAME-VERSION.tgz`, the key of the signed `files:` map),
/// against `keyring` (a binary or ASCII-armored OpenPGP keyring), as `helm verify` does.
pub fn verify_provenance(
    archive: &[u8],
    archive_name: &str,
    prov: &[u8],
    keyring: &[u8],
) -> Result<Signer, ProvenanceError> {
    let keys = read_keyring(keyring)?;
    let text = std::str::from_utf8(prov)
        .map_err(|_| ProvenanceError::NotClearSigned("it is not UTF-8 text".into()))?;
    let (message, _headers) = CleartextSignedMessage::from_string(text)
        .map_err(|e| ProvenanceError::NotClearSigned(e.to_string()))?;
    let signed = message.signed_text();
    let signer = check_signatures(message.signatures(), signed.as_bytes(), &keys)?;

    let files = signed_files(&signed)?;
    let Some(expected) = files.get(archive_name) else {
        return Err(ProvenanceError::ArchiveNotListed {
            archive: archive_name.to_string(),
            listed: files.into_keys().collect(),
        });
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, archive);
    let found = format!("sha256:{}", hex(digest.as_ref()).to_ascii_lowercase());
    if *expected != found {
        return Err(ProvenanceError::DigestMismatch {
            archive: archive_name.to_string(),
            expected: expected.clone(),
            found,
        });
    }
    Ok(signer)
}

/// The public keys of a keyring (binary or armored; secret keys give their public halves).
fn read_keyring(keyring: &[u8]) -> Result<Vec<SignedPublicKey>, ProvenanceError> {
    let unreadable = |e: pgp::errors::Error| ProvenanceError::KeyringUnreadable(e.to_string());
    let (keys, _headers) = PublicOrSecret::from_reader_many(keyring).map_err(unreadable)?;
    let mut out = Vec::new();
    for key in keys {
        out.push(match key.map_err(unreadable)? {
            PublicOrSecret::Public(key) => key,
            PublicOrSecret::Secret(key) => key.signed_public_key(),
        });
    }
    if out.is_empty() {
        return Err(ProvenanceError::KeyringUnreadable(
            "it holds no OpenPGP key".into(),
        ));
    }
    Ok(out)
}

/// The first signature whose issuer is a signing key of `keys` (as Helm's OpenPGP library
/// takes it), verified over `signed`, and the state of that key.
fn check_signatures(
    signatures: &[Signature],
    signed: &[u8],
    keys: &[SignedPublicKey],
) -> Result<Signer, ProvenanceError> {
    let mut issuers = Vec::new();
    for signature in signatures {
        let ids = signature.issuer();
        let fingerprints = signature.issuer_fingerprint();
        let is_issuer = |key: &dyn KeyDetails| {
            fingerprints.contains(&&key.fingerprint()) || ids.contains(&&key.key_id())
        };
        for key in keys {
            if is_issuer(&key.primary_key) {
                return check_with_primary(signature, signed, key);
            }
            if let Some(sub) = key.public_subkeys.iter().find(|s| is_issuer(&s.key)) {
                return check_with_subkey(signature, signed, key, sub);
            }
        }
        if ids.is_empty() {
            issuers.extend(fingerprints.iter().map(|fp| fingerprint(fp)));
        } else {
            issuers.extend(ids.iter().map(|id| hex(id.as_ref())));
        }
    }
    if issuers.is_empty() {
        issuers.push("(none named)".into());
    }
    Err(ProvenanceError::UnknownIssuer { key_ids: issuers })
}

/// `signature` made by `key`'s primary key.
fn check_with_primary(
    signature: &Signature,
    signed: &[u8],
    key: &SignedPublicKey,
) -> Result<Signer, ProvenanceError> {
    let key_id = hex(key.primary_key.key_id().as_ref());
    let (user_id, self_signature) = identity(key, &key_id)?;
    if !self_signature.key_flags().sign() && has_key_flags(self_signature) {
        return Err(ProvenanceError::UnknownIssuer {
            key_ids: vec![format!("{key_id} (a key not for signing)")],
        });
    }
    verify_document(signature, signed, &key.primary_key, &key_id)?;
    if primary_revoked(key) {
        return Err(ProvenanceError::KeyRevoked { key_id });
    }
    not_expired(&key.primary_key, self_signature, &key_id)?;
    signature_not_expired(signature, &key_id)?;
    Ok(Signer {
        fingerprint: fingerprint(&key.primary_key.fingerprint()),
        key_id,
        user_id,
    })
}

/// `signature` made by `sub`, a subkey of `key`, which must be bound to it as a signing key
/// (its binding signature and the subkey's back-signature valid).
fn check_with_subkey(
    signature: &Signature,
    signed: &[u8],
    key: &SignedPublicKey,
    sub: &SignedPublicSubKey,
) -> Result<Signer, ProvenanceError> {
    let key_id = hex(sub.key.key_id().as_ref());
    let primary_id = hex(key.primary_key.key_id().as_ref());
    let (user_id, self_signature) = identity(key, &primary_id)?;
    let binding = sub
        .signatures
        .iter()
        .filter(|b| {
            b.typ() == Some(SignatureType::SubkeyBinding)
                && b.key_flags().sign()
                && b.verify_subkey_binding(&key.primary_key, &sub.key).is_ok()
                && b.embedded_signature().is_some_and(|back| {
                    back.verify_primary_key_binding(&sub.key, &key.primary_key)
                        .is_ok()
                })
        })
        .max_by_key(|b| b.created().map(|t| t.timestamp()));
    let Some(binding) = binding else {
        return Err(ProvenanceError::UnknownIssuer {
            key_ids: vec![format!("{key_id} (a subkey not bound for signing)")],
        });
    };
    verify_document(signature, signed, &sub.key, &key_id)?;
    if primary_revoked(key)
        || sub.signatures.iter().any(|r| {
            r.typ() == Some(SignatureType::SubkeyRevocation)
                && r.verify_subkey_binding(&key.primary_key, &sub.key).is_ok()
        })
    {
        return Err(ProvenanceError::KeyRevoked { key_id });
    }
    not_expired(&key.primary_key, self_signature, &primary_id)?;
    not_expired(&sub.key, binding, &key_id)?;
    signature_not_expired(signature, &key_id)?;
    Ok(Signer {
        fingerprint: fingerprint(&key.primary_key.fingerprint()),
        key_id,
        user_id,
    })
}

/// The signature over the document: a binary or text signature that verifies with `key`.
fn verify_document(
    signature: &Signature,
    signed: &[u8],
    key: &impl PublicKeyTrait,
    key_id: &str,
) -> Result<(), ProvenanceError> {
    let bad = |reason: String| ProvenanceError::BadSignature {
        key_id: key_id.to_string(),
        reason,
    };
    match signature.typ() {
        Some(SignatureType::Binary | SignatureType::Text) => {}
        other => {
            return Err(bad(format!(
                "a signature of type {other:?}, not over a document"
            )));
        }
    }
    signature
        .verify(key, signed)
        .map_err(|e| bad(e.to_string()))
}

/// The key's user ID and its self-signature: the primary user ID among those whose newest
/// self-certification verifies, else the most recently certified one. A key whose certified
/// user IDs are all revoked is revoked; a key with none is not usable.
fn identity<'k>(
    key: &'k SignedPublicKey,
    key_id: &str,
) -> Result<(String, &'k Signature), ProvenanceError> {
    let mut best: Option<(bool, i64, String, &Signature)> = None;
    let mut revoked = false;
    for user in &key.details.users {
        let certifies = |s: &&Signature| {
            matches!(
                s.typ(),
                Some(
                    SignatureType::CertGeneric
                        | SignatureType::CertPersona
                        | SignatureType::CertCasual
                        | SignatureType::CertPositive
                )
            ) && s
                .verify_certification(&key.primary_key, Tag::UserId, &user.id)
                .is_ok()
        };
        let Some(newest) = user
            .signatures
            .iter()
            .filter(certifies)
            .max_by_key(|s| s.created().map(|t| t.timestamp()))
        else {
            continue;
        };
        if user.signatures.iter().any(|s| {
            s.typ() == Some(SignatureType::CertRevocation)
                && s.verify_certification(&key.primary_key, Tag::UserId, &user.id)
                    .is_ok()
        }) {
            revoked = true;
            continue;
        }
        let rank = (
            newest.is_primary(),
            newest.created().map_or(0, |t| t.timestamp()),
        );
        if best.as_ref().is_none_or(|b| rank > (b.0, b.1)) {
            let name = String::from_utf8_lossy(user.id.id()).into_owned();
            best = Some((rank.0, rank.1, name, newest));
        }
    }
    match best {
        Some((_, _, name, signature)) => Ok((name, signature)),
        None if revoked => Err(ProvenanceError::KeyRevoked {
            key_id: key_id.to_string(),
        }),
        None => Err(ProvenanceError::UnknownIssuer {
            key_ids: vec![format!("{key_id} (a key without a valid user ID)")],
        }),
    }
}

/// Whether a self-signature states key flags at all (a key without them may sign).
fn has_key_flags(signature: &Signature) -> bool {
    signature.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, pgp::packet::SubpacketData::KeyFlags(_)))
    })
}

/// Seconds since the Unix epoch, now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether the primary key revoked itself.
fn primary_revoked(key: &SignedPublicKey) -> bool {
    key.details.revocation_signatures.iter().any(|r| {
        r.typ() == Some(SignatureType::KeyRevocation) && r.verify_key(&key.primary_key).is_ok()
    })
}

/// `key`, whose (binding or self-) signature is `self_signature`, has not expired.
fn not_expired(
    key: &impl PublicKeyTrait,
    self_signature: &Signature,
    key_id: &str,
) -> Result<(), ProvenanceError> {
    let Some(validity) = self_signature.key_expiration_time() else {
        return Ok(());
    };
    if validity.num_seconds() <= 0 {
        return Ok(());
    }
    match key.created_at().checked_add_signed(*validity) {
        Some(end) if end.timestamp() <= now() => Err(ProvenanceError::KeyExpired {
            key_id: key_id.to_string(),
            at: end.to_rfc3339(),
        }),
        _ => Ok(()),
    }
}

/// The document signature has not expired.
fn signature_not_expired(signature: &Signature, key_id: &str) -> Result<(), ProvenanceError> {
    let (Some(created), Some(validity)) =
        (signature.created(), signature.signature_expiration_time())
    else {
        return Ok(());
    };
    if validity.num_seconds() <= 0 {
        return Ok(());
    }
    match created.checked_add_signed(*validity) {
        Some(end) if end.timestamp() <= now() => Err(ProvenanceError::SignatureExpired {
            key_id: key_id.to_string(),
            at: end.to_rfc3339(),
        }),
        _ => Ok(()),
    }
}

/// The `files:` map of the signed text (CRLF as signed): what follows the first `...` line,
/// as Helm splits it.
fn signed_files(signed: &str) -> Result<BTreeMap<String, String>, ProvenanceError> {
    #[derive(Deserialize)]
    struct Sums {
        #[serde(default)]
        files: Option<BTreeMap<String, String>>,
    }
    let text = signed.replace("\r\n", "\n");
    let Some((_chart_yaml, sums)) = text.split_once("\n...\n") else {
        return Err(ProvenanceError::MalformedBody(
            "no `...` line after the Chart.yaml".into(),
        ));
    };
    // Helm splits at every `...` line and reads only the second part.
    let sums = sums.split("\n...\n").next().unwrap_or_default();
    let parsed: Sums = serde_saphyr::from_str(sums)
        .map_err(|e| ProvenanceError::MalformedBody(format!("the files map: {e}")))?;
    Ok(parsed.files.unwrap_or_default())
}

/// A fingerprint as upper-case hex.
fn fingerprint(fp: &Fingerprint) -> String {
    hex(fp.as_bytes())
}

/// Upper-case hex, as OpenPGP key IDs and fingerprints are written.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of native/tests/fixtures/helm-prov (real GnuPG and Helm output; its README.md
    /// says how each was made).
    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/helm-prov")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    const TINY: &str = "tiny-0.1.0.tgz";
    const TINY_DIGEST: &str =
        "sha256:695d98fa34e3177108188acf0133e242337d6b2e74cad2fc6450572e4ea038ec";
    /// The RSA key Helm signed tiny with (its primary key) and its signing subkey.
    const TEST_FPR: &str = "3BA0E2DF01A906785E40C4E2C1AF48ABB9C89207";
    const TEST_ID: &str = "C1AF48ABB9C89207";
    const TEST_SUBKEY_ID: &str = "F7F8C124D3B85F31";
    const TEST_UID: &str = "purser test <test@purser.invalid>";

    /// tiny's archive, with `prov` for its provenance, against `keyring`.
    fn tiny(prov: &[u8], keyring: &str) -> Result<Signer, ProvenanceError> {
        verify_provenance(&fixture(TINY), TINY, prov, &fixture(keyring))
    }

    fn tiny_prov() -> Vec<u8> {
        fixture("tiny-0.1.0.tgz.prov")
    }

    fn test_signer(key_id: &str) -> Signer {
        Signer {
            fingerprint: TEST_FPR.into(),
            key_id: key_id.into(),
            user_id: TEST_UID.into(),
        }
    }

    #[test]
    fn helm_signed_rsa_chart_verifies_with_the_binary_keyring() {
        assert_eq!(tiny(&tiny_prov(), "pubring.gpg"), Ok(test_signer(TEST_ID)));
    }

    #[test]
    fn helm_signed_ed25519_chart_verifies() {
        let name = "tiny-ed25519-0.1.0.tgz";
        let signer = verify_provenance(
            &fixture(name),
            name,
            &fixture("tiny-ed25519-0.1.0.tgz.prov"),
            &fixture("pubring.gpg"),
        );
        assert_eq!(
            signer,
            Ok(Signer {
                fingerprint: "E499FCB29D3679E36068CCB813D896814567553F".into(),
                key_id: "13D896814567553F".into(),
                user_id: "purser ed25519 <ed25519@purser.invalid>".into(),
            })
        );
    }

    #[test]
    fn an_ascii_armored_keyring_works_too() {
        assert_eq!(tiny(&tiny_prov(), "pubring.asc"), Ok(test_signer(TEST_ID)));
    }

    #[test]
    fn gpg_clear_signed_with_a_subkey_verifies_and_names_the_subkey() {
        let signer = tiny(&fixture("gpg-subkey.prov"), "pubring.gpg");
        assert_eq!(signer, Ok(test_signer(TEST_SUBKEY_ID)));
    }

    #[test]
    fn a_sha1_signature_is_accepted_as_helm_accepts_it() {
        let signer = tiny(&fixture("gpg-sha1.prov"), "pubring.gpg");
        assert_eq!(signer, Ok(test_signer(TEST_ID)));
    }

    #[test]
    fn a_keyring_without_the_signer_names_the_signature_key_id() {
        let err = tiny(&tiny_prov(), "other-pubring.gpg").unwrap_err();
        assert_eq!(
            err,
            ProvenanceError::UnknownIssuer {
                key_ids: vec![TEST_ID.into()]
            }
        );
        assert!(err.to_string().contains(TEST_ID), "{err}");
    }

    #[test]
    fn one_changed_archive_byte_is_a_digest_mismatch() {
        let mut archive = fixture(TINY);
        let last = archive.len() - 1;
        archive[last] ^= 1;
        let err = verify_provenance(&archive, TINY, &tiny_prov(), &fixture("pubring.gpg"));
        let found = "sha256:e096a999a22bde5a22539a6e3f56900672b091a3fc79af4e848e7dd43fc9de24";
        assert_eq!(
            err,
            Err(ProvenanceError::DigestMismatch {
                archive: TINY.into(),
                expected: TINY_DIGEST.into(),
                found: found.into(),
            })
        );
        let message = err.unwrap_err().to_string();
        assert!(
            message.contains(TINY_DIGEST) && message.contains(found),
            "{message}"
        );
    }

    #[test]
    fn an_edited_signed_body_is_a_bad_signature() {
        let prov = String::from_utf8(tiny_prov()).unwrap();
        let edited = prov.replace(
            "description: purser provenance fixture\n",
            "description: purser provenance fixturf\n",
        );
        assert_ne!(prov, edited);
        let err = tiny(edited.as_bytes(), "pubring.gpg").unwrap_err();
        assert!(
            matches!(&err, ProvenanceError::BadSignature { key_id, .. } if key_id == TEST_ID),
            "{err:?}"
        );
    }

    #[test]
    fn a_signed_digest_of_another_archive_is_a_bad_signature() {
        // The attack the signature stops: the files entry swapped for another archive's.
        let prov = String::from_utf8(tiny_prov()).unwrap();
        let edited = prov.replace(&TINY_DIGEST[7..], &"0".repeat(64));
        assert_ne!(prov, edited);
        let err = tiny(edited.as_bytes(), "pubring.gpg").unwrap_err();
        assert!(
            matches!(err, ProvenanceError::BadSignature { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_prov_that_is_not_a_pgp_message_is_refused() {
        let err = tiny(
            b"apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
            "pubring.gpg",
        );
        assert!(
            matches!(err, Err(ProvenanceError::NotClearSigned(_))),
            "{err:?}"
        );
        // nor is text before the signed message (nothing outside the signature is trusted)
        let mut prov = b"files:\n  tiny-0.1.0.tgz: sha256:00\n".to_vec();
        prov.extend(tiny_prov());
        let err = tiny(&prov, "pubring.gpg");
        assert!(
            matches!(err, Err(ProvenanceError::NotClearSigned(_))),
            "{err:?}"
        );
    }

    #[test]
    fn a_garbage_keyring_is_unreadable() {
        for keyring in [
            &b"this is not a keyring\n"[..],
            &[0xff; 64][..],
            b"",
            &fixture(TINY)[..],
        ] {
            let err = verify_provenance(&fixture(TINY), TINY, &tiny_prov(), keyring);
            assert!(
                matches!(err, Err(ProvenanceError::KeyringUnreadable(_))),
                "{err:?}"
            );
        }
    }

    #[test]
    fn an_archive_under_another_name_is_not_listed() {
        let err = verify_provenance(
            &fixture(TINY),
            "renamed-0.1.0.tgz",
            &tiny_prov(),
            &fixture("pubring.gpg"),
        );
        assert_eq!(
            err,
            Err(ProvenanceError::ArchiveNotListed {
                archive: "renamed-0.1.0.tgz".into(),
                listed: vec![TINY.into()],
            })
        );
    }

    #[test]
    fn a_revoked_key_is_refused() {
        let name = "tiny-revoked-0.1.0.tgz";
        let prov = fixture("tiny-revoked-0.1.0.tgz.prov");
        let err = verify_provenance(&fixture(name), name, &prov, &fixture("revoked-pubring.gpg"));
        assert_eq!(
            err,
            Err(ProvenanceError::KeyRevoked {
                key_id: "83CDE3038CDD7CC5".into()
            })
        );
    }

    #[test]
    fn an_expired_key_is_refused() {
        let name = "tiny-expired-0.1.0.tgz";
        let prov = fixture("tiny-expired-0.1.0.tgz.prov");
        let err = verify_provenance(&fixture(name), name, &prov, &fixture("expired-pubring.gpg"));
        assert_eq!(
            err,
            Err(ProvenanceError::KeyExpired {
                key_id: "CC89F7349893AC6E".into(),
                at: "2020-01-02T00:00:00+00:00".into(),
            })
        );
    }

    #[test]
    fn an_expired_signature_is_refused() {
        let err = tiny(&fixture("gpg-sig-expired.prov"), "pubring.gpg");
        assert_eq!(
            err,
            Err(ProvenanceError::SignatureExpired {
                key_id: TEST_ID.into(),
                at: "2020-01-03T00:00:00+00:00".into(),
            })
        );
    }

    #[test]
    fn the_files_map_is_read_from_the_signed_text_after_the_dots() {
        let signed = "apiVersion: v2\r\nname: tiny\r\n\r\n...\r\nfiles:\r\n  a.tgz: sha256:ab\r\n";
        let files = signed_files(signed).unwrap();
        assert_eq!(files.get("a.tgz").map(String::as_str), Some("sha256:ab"));
        assert!(matches!(
            signed_files("apiVersion: v2\nfiles: {}\n"),
            Err(ProvenanceError::MalformedBody(_))
        ));
    }
}
