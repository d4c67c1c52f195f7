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
//! ASCII-armored ones as well, and secret keyrings (their public halves). The OpenPGP checks
//! are [`super::openpgp`]'s, under its [`Accept::Helm`] policy.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::openpgp::{self, Accept, OpenPgpError};

/// Who signed a verified `.prov`.
pub use super::openpgp::Signer;

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
                "the provenance signature by key {key_id} does not verify: {reason}"
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

impl From<OpenPgpError> for ProvenanceError {
    fn from(e: OpenPgpError) -> ProvenanceError {
        match e {
            OpenPgpError::KeyringUnreadable(why) => ProvenanceError::KeyringUnreadable(why),
            OpenPgpError::NotClearSigned(why) | OpenPgpError::SignatureUnreadable(why) => {
                ProvenanceError::NotClearSigned(why)
            }
            OpenPgpError::UnknownIssuer { key_ids } => ProvenanceError::UnknownIssuer { key_ids },
            OpenPgpError::BadSignature { key_id, reason } => {
                ProvenanceError::BadSignature { key_id, reason }
            }
            OpenPgpError::WeakDigest { key_id, digest } => ProvenanceError::BadSignature {
                key_id,
                reason: format!("it hashes with the weak digest {digest}"),
            },
            OpenPgpError::KeyRevoked { key_id } => ProvenanceError::KeyRevoked { key_id },
            OpenPgpError::KeyExpired { key_id, at } => ProvenanceError::KeyExpired { key_id, at },
            OpenPgpError::SignatureExpired { key_id, at } => {
                ProvenanceError::SignatureExpired { key_id, at }
            }
        }
    }
}

/// Checks `prov` (the `.prov` file's bytes) for the chart archive `archive` named
/// `archive_name` (its file name, `NAME-VERSION.tgz`, the key of the signed `files:` map),
/// against `keyring` (a binary or ASCII-armored OpenPGP keyring), as `helm verify` does.
pub fn verify_provenance(
    archive: &[u8],
    archive_name: &str,
    prov: &[u8],
    keyring: &[u8],
) -> Result<Signer, ProvenanceError> {
    let keys = openpgp::read_keyring(keyring)?;
    let (signed, signer) = openpgp::verify_cleartext(prov, &keys, Accept::Helm)?;

    let files = signed_files(&signed)?;
    let Some(expected) = files.get(archive_name) else {
        return Err(ProvenanceError::ArchiveNotListed {
            archive: archive_name.to_string(),
            listed: files.into_keys().collect(),
        });
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, archive);
    let found = format!(
        "sha256:{}",
        openpgp::hex(digest.as_ref()).to_ascii_lowercase()
    );
    if *expected != found {
        return Err(ProvenanceError::DigestMismatch {
            archive: archive_name.to_string(),
            expected: expected.clone(),
            found,
        });
    }
    Ok(signer)
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
