//! OpenPGP signatures checked against a keyring, for Helm's `.prov` files
//! ([`super::provenance`]) and APT's signed Release files ([`crate::patch::release_signature`]):
//! [`read_keyring`] reads the keys, [`verify_cleartext`] checks a clear-signed message and
//! [`verify_detached`] a detached signature, each under an [`Accept`] policy, and both name the
//! [`Signer`]; every refusal is an [`OpenPgpError`].
//!
//! A signature counts when its issuer (key ID or fingerprint) is a key of the keyring, the
//! primary key or a subkey bound to it for signing (binding and back-signature valid), and it
//! verifies over the document; then neither the key, its user IDs nor the subkey may be
//! revoked, neither key nor signature expired.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, PublicOrSecret, SignedPublicKey,
    SignedPublicSubKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{Fingerprint, KeyDetails, PublicKeyTrait, Tag};

/// Who made a signature that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The primary key's fingerprint, upper-case hex (what `helm verify` prints as "Using Key
    /// With Fingerprint").
    pub fingerprint: String,
    /// The ID of the key that made the signature, upper-case hex: the primary key's, or a
    /// signing subkey's when it was signed with one (`gpg --clearsign` does; Helm never does).
    pub key_id: String,
    /// The key's user ID, `name <email>` (its primary one, else the newest).
    pub user_id: String,
}

/// Why a signature does not vouch for a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenPgpError {
    /// The keyring is neither a binary nor an ASCII-armored OpenPGP keyring, or holds no key.
    KeyringUnreadable(String),
    /// The text is not an OpenPGP clear-signed message.
    NotClearSigned(String),
    /// The detached signature is not OpenPGP signature packets (binary or armored).
    SignatureUnreadable(String),
    /// No signing key of the keyring has the ID (or fingerprint) of any signature's issuer.
    UnknownIssuer { key_ids: Vec<String> },
    /// The signature does not verify with the issuer's key: the signed text was changed, or
    /// the signature is damaged.
    BadSignature { key_id: String, reason: String },
    /// The signature verifies but hashes with a digest [`Accept::Apt`] does not trust (MD5,
    /// SHA-1, RIPEMD-160).
    WeakDigest { key_id: String, digest: String },
    /// The issuer's key (or the user ID, or the signing subkey) was revoked.
    KeyRevoked { key_id: String },
    /// The issuer's key expired (at the given time, RFC 3339).
    KeyExpired { key_id: String, at: String },
    /// The signature itself expired (at the given time, RFC 3339).
    SignatureExpired { key_id: String, at: String },
}

impl fmt::Display for OpenPgpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyringUnreadable(why) => write!(f, "the keyring cannot be read: {why}"),
            Self::NotClearSigned(why) => {
                write!(f, "it is not an OpenPGP clear-signed message: {why}")
            }
            Self::SignatureUnreadable(why) => {
                write!(f, "the signature is not an OpenPGP signature: {why}")
            }
            Self::UnknownIssuer { key_ids } => write!(
                f,
                "it is signed by key {}, which is not in the keyring",
                key_ids.join(", ")
            ),
            Self::BadSignature { key_id, reason } => {
                write!(f, "the signature by key {key_id} does not verify: {reason}")
            }
            Self::WeakDigest { key_id, digest } => write!(
                f,
                "the signature by key {key_id} hashes with {digest}, a digest too weak to \
                 trust"
            ),
            Self::KeyRevoked { key_id } => {
                write!(f, "it is signed by key {key_id}, which is revoked")
            }
            Self::KeyExpired { key_id, at } => {
                write!(f, "it is signed by key {key_id}, which expired at {at}")
            }
            Self::SignatureExpired { key_id, at } => {
                write!(f, "the signature by key {key_id} expired at {at}")
            }
        }
    }
}

impl std::error::Error for OpenPgpError {}

/// Which of several signatures decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// As Helm (Go's OpenPGP library) takes it: the first signature whose issuer is in the
    /// keyring decides, whatever its digest.
    Helm,
    /// As APT takes gpgv's verdict: one good signature suffices, one that does not verify
    /// (by a key of the keyring) refuses; signatures by unknown, revoked or expired keys,
    /// expired ones and those over MD5, SHA-1 or RIPEMD-160 do not count.
    Apt,
}

/// The public keys of a keyring (binary or armored; secret keys give their public halves).
pub fn read_keyring(keyring: &[u8]) -> Result<Vec<SignedPublicKey>, OpenPgpError> {
    let unreadable = |e: pgp::errors::Error| OpenPgpError::KeyringUnreadable(e.to_string());
    let (keys, _headers) = PublicOrSecret::from_reader_many(keyring).map_err(unreadable)?;
    let mut out = Vec::new();
    for key in keys {
        out.push(match key.map_err(unreadable)? {
            PublicOrSecret::Public(key) => key,
            PublicOrSecret::Secret(key) => key.signed_public_key(),
        });
    }
    if out.is_empty() {
        return Err(OpenPgpError::KeyringUnreadable(
            "it holds no OpenPGP key".into(),
        ));
    }
    Ok(out)
}

/// Checks the clear-signed message `text` (nothing may precede or follow it) against `keys`;
/// answers the signed text (dash-unescaped, lines ending in CRLF, as it was hashed) and who
/// signed it.
pub fn verify_cleartext(
    text: &[u8],
    keys: &[SignedPublicKey],
    accept: Accept,
) -> Result<(String, Signer), OpenPgpError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| OpenPgpError::NotClearSigned("it is not UTF-8 text".into()))?;
    let (message, _headers) = CleartextSignedMessage::from_string(text)
        .map_err(|e| OpenPgpError::NotClearSigned(e.to_string()))?;
    let signed = message.signed_text();
    let signer = check_signatures(message.signatures(), signed.as_bytes(), keys, accept)?;
    Ok((signed, signer))
}

/// Checks `signature` (one or more signature packets, binary or ASCII-armored) over `data`
/// against `keys`; answers who signed it.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keys: &[SignedPublicKey],
    accept: Accept,
) -> Result<Signer, OpenPgpError> {
    let unreadable = |e: pgp::errors::Error| OpenPgpError::SignatureUnreadable(e.to_string());
    let (packets, _headers) = DetachedSignature::from_reader_many(signature).map_err(unreadable)?;
    let mut signatures = Vec::new();
    for packet in packets {
        signatures.push(packet.map_err(unreadable)?.signature);
    }
    if signatures.is_empty() {
        return Err(OpenPgpError::SignatureUnreadable(
            "it holds no signature".into(),
        ));
    }
    check_signatures(&signatures, data, keys, accept)
}

/// `signatures` over `signed` under `accept`.
fn check_signatures(
    signatures: &[Signature],
    signed: &[u8],
    keys: &[SignedPublicKey],
    accept: Accept,
) -> Result<Signer, OpenPgpError> {
    let mut issuers = Vec::new();
    let mut good = None;
    let mut refused = None;
    for signature in signatures {
        let Some(verdict) = check_signature(signature, signed, keys) else {
            let ids = signature.issuer();
            if ids.is_empty() {
                issuers.extend(
                    signature
                        .issuer_fingerprint()
                        .iter()
                        .map(|fp| fingerprint(fp)),
                );
            } else {
                issuers.extend(ids.iter().map(|id| hex(id.as_ref())));
            }
            continue;
        };
        if accept == Accept::Helm {
            return verdict;
        }
        match verdict.and_then(|signer| strong_digest(signature, signer)) {
            Ok(signer) => {
                good.get_or_insert(signer);
            }
            Err(bad @ OpenPgpError::BadSignature { .. }) => return Err(bad),
            Err(other) => {
                refused.get_or_insert(other);
            }
        }
    }
    if let Some(signer) = good {
        return Ok(signer);
    }
    if let Some(refused) = refused {
        return Err(refused);
    }
    if issuers.is_empty() {
        issuers.push("(none named)".into());
    }
    Err(OpenPgpError::UnknownIssuer { key_ids: issuers })
}

/// `signature` checked with its issuer among `keys`; None when no key is its issuer.
fn check_signature(
    signature: &Signature,
    signed: &[u8],
    keys: &[SignedPublicKey],
) -> Option<Result<Signer, OpenPgpError>> {
    let ids = signature.issuer();
    let fingerprints = signature.issuer_fingerprint();
    let is_issuer = |key: &dyn KeyDetails| {
        fingerprints.contains(&&key.fingerprint()) || ids.contains(&&key.key_id())
    };
    for key in keys {
        if is_issuer(&key.primary_key) {
            return Some(check_with_primary(signature, signed, key));
        }
        if let Some(sub) = key.public_subkeys.iter().find(|s| is_issuer(&s.key)) {
            return Some(check_with_subkey(signature, signed, key, sub));
        }
    }
    None
}

/// `signer`'s signature, unless it hashes with a digest APT does not trust.
fn strong_digest(signature: &Signature, signer: Signer) -> Result<Signer, OpenPgpError> {
    match signature.hash_alg() {
        Some(
            HashAlgorithm::Sha224
            | HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512,
        ) => Ok(signer),
        other => Err(OpenPgpError::WeakDigest {
            key_id: signer.key_id,
            digest: other.map_or_else(|| "an unknown digest".to_string(), |h| h.to_string()),
        }),
    }
}

/// `signature` made by `key`'s primary key.
fn check_with_primary(
    signature: &Signature,
    signed: &[u8],
    key: &SignedPublicKey,
) -> Result<Signer, OpenPgpError> {
    let key_id = hex(key.primary_key.key_id().as_ref());
    let (user_id, self_signature) = identity(key, &key_id)?;
    if !self_signature.key_flags().sign() && has_key_flags(self_signature) {
        return Err(OpenPgpError::UnknownIssuer {
            key_ids: vec![format!("{key_id} (a key not for signing)")],
        });
    }
    verify_document(signature, signed, &key.primary_key, &key_id)?;
    if primary_revoked(key) {
        return Err(OpenPgpError::KeyRevoked { key_id });
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
) -> Result<Signer, OpenPgpError> {
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
        return Err(OpenPgpError::UnknownIssuer {
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
        return Err(OpenPgpError::KeyRevoked { key_id });
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
) -> Result<(), OpenPgpError> {
    let bad = |reason: String| OpenPgpError::BadSignature {
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
    // The library's own message (an assertion over hash prefixes) says nothing a user can
    // act on; what it means does.
    signature
        .verify(key, signed)
        .map_err(|_| bad("the text is not the one signed, or the signature is damaged".into()))
}

/// The key's user ID and its self-signature: the primary user ID among those whose newest
/// self-certification verifies, else the most recently certified one. A key whose certified
/// user IDs are all revoked is revoked; a key with none is not usable.
fn identity<'k>(
    key: &'k SignedPublicKey,
    key_id: &str,
) -> Result<(String, &'k Signature), OpenPgpError> {
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
        None if revoked => Err(OpenPgpError::KeyRevoked {
            key_id: key_id.to_string(),
        }),
        None => Err(OpenPgpError::UnknownIssuer {
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
) -> Result<(), OpenPgpError> {
    let Some(validity) = self_signature.key_expiration_time() else {
        return Ok(());
    };
    if validity.num_seconds() <= 0 {
        return Ok(());
    }
    match key.created_at().checked_add_signed(*validity) {
        Some(end) if end.timestamp() <= now() => Err(OpenPgpError::KeyExpired {
            key_id: key_id.to_string(),
            at: end.to_rfc3339(),
        }),
        _ => Ok(()),
    }
}

/// The document signature has not expired.
fn signature_not_expired(signature: &Signature, key_id: &str) -> Result<(), OpenPgpError> {
    let (Some(created), Some(validity)) =
        (signature.created(), signature.signature_expiration_time())
    else {
        return Ok(());
    };
    if validity.num_seconds() <= 0 {
        return Ok(());
    }
    match created.checked_add_signed(*validity) {
        Some(end) if end.timestamp() <= now() => Err(OpenPgpError::SignatureExpired {
            key_id: key_id.to_string(),
            at: end.to_rfc3339(),
        }),
        _ => Ok(()),
    }
}

/// A fingerprint as upper-case hex.
fn fingerprint(fp: &Fingerprint) -> String {
    hex(fp.as_bytes())
}

/// Upper-case hex, as OpenPGP key IDs and fingerprints are written.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of native/tests/fixtures/helm-prov (real GnuPG and Helm output).
    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/helm-prov")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_sha1_signature_counts_for_helm_but_not_for_apt() {
        let keys = read_keyring(&fixture("pubring.gpg")).unwrap();
        let prov = fixture("gpg-sha1.prov");
        let (text, signer) = verify_cleartext(&prov, &keys, Accept::Helm).unwrap();
        assert!(text.contains("\r\n...\r\n"), "{text:?}");
        assert_eq!(signer.key_id, "C1AF48ABB9C89207");
        assert_eq!(
            verify_cleartext(&prov, &keys, Accept::Apt),
            Err(OpenPgpError::WeakDigest {
                key_id: "C1AF48ABB9C89207".into(),
                digest: "SHA1".into()
            })
        );
        // a SHA-512 one counts for both
        let prov = fixture("tiny-0.1.0.tgz.prov");
        assert_eq!(
            verify_cleartext(&prov, &keys, Accept::Apt).map(|(_, s)| s.key_id),
            Ok("C1AF48ABB9C89207".into())
        );
    }

    #[test]
    fn a_detached_signature_that_is_not_one_is_unreadable() {
        let keys = read_keyring(&fixture("pubring.gpg")).unwrap();
        for signature in [&b"not a signature"[..], b"", &fixture("pubring.gpg")] {
            let err = verify_detached(b"data", signature, &keys, Accept::Apt).unwrap_err();
            assert!(
                matches!(err, OpenPgpError::SignatureUnreadable(_)),
                "{err:?}"
            );
        }
    }
}
