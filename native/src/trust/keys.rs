//! Keys as cosign writes them: [`SigningKey::from_pem`] reads `cosign.key` (an `ENCRYPTED
//! SIGSTORE PRIVATE KEY` PEM — or `ENCRYPTED COSIGN PRIVATE KEY`, its older name — whose
//! JSON holds an scrypt-derived key's NaCl secretbox around a PKCS#8 ECDSA P-256 key) or a
//! plain `PRIVATE KEY` / `EC PRIVATE KEY` PEM; [`VerifyingKey::from_pem`] reads `cosign.pub`
//! (a `PUBLIC KEY` PEM, SPKI). Signatures are ECDSA P-256 over SHA-256, ASN.1 DER, as cosign
//! makes and checks them. The arithmetic is ring's (rustls's provider already).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde::Deserialize;

/// The DER that precedes a P-256 public point in a SubjectPublicKeyInfo: SEQUENCE {
/// SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not PEM, or not the kind of PEM expected.
    Pem { detail: String },
    /// The password does not open the encrypted key.
    WrongPassword,
    /// A key of another kind (RSA, Ed25519, another curve) or a KDF or cipher cosign does not
    /// write.
    Unsupported { what: String },
    /// The bytes do not make a key.
    Malformed { detail: String },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Pem { detail } => write!(f, "not a key file: {detail}"),
            KeyError::WrongPassword => f.write_str(
                "the password does not open this key (set COSIGN_PASSWORD to the one given to \
                 cosign generate-key-pair)",
            ),
            KeyError::Unsupported { what } => {
                write!(
                    f,
                    "{what} is not supported: use an ECDSA P-256 key, as cosign makes"
                )
            }
            KeyError::Malformed { detail } => write!(f, "a damaged key: {detail}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// One PEM block: its type (`PUBLIC KEY`) and its bytes.
fn pem(text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let begin = text.find("-----BEGIN ").ok_or_else(|| KeyError::Pem {
        detail: "no -----BEGIN line".to_owned(),
    })?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let (kind, rest) = rest.split_once("-----").ok_or_else(|| KeyError::Pem {
        detail: "a -----BEGIN line that does not end".to_owned(),
    })?;
    let end = format!("-----END {kind}-----");
    let body = rest
        .split(&end)
        .next()
        .filter(|_| rest.contains(&end))
        .ok_or_else(|| KeyError::Pem {
            detail: format!("no {end} line"),
        })?;
    let b64: String = body
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.trim().chars())
        .collect();
    let bytes = STANDARD.decode(b64).map_err(|e| KeyError::Pem {
        detail: format!("{kind}: {e}"),
    })?;
    Ok((kind.to_owned(), bytes))
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>, KeyError> {
    STANDARD.decode(text).map_err(|e| KeyError::Malformed {
        detail: format!("{field}: {e}"),
    })
}

/// A public key cosign verifies with.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    /// The uncompressed point (65 bytes).
    point: Vec<u8>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey(P-256 {})", self.fingerprint())
    }
}

impl VerifyingKey {
    /// `cosign.pub`: a `PUBLIC KEY` PEM holding an ECDSA P-256 SubjectPublicKeyInfo.
    pub fn from_pem(text: &str) -> Result<VerifyingKey, KeyError> {
        let (kind, der) = pem(text)?;
        if kind != "PUBLIC KEY" {
            return Err(KeyError::Pem {
                detail: format!("a {kind} PEM, not a PUBLIC KEY"),
            });
        }
        VerifyingKey::from_spki(&der)
    }

    /// A DER SubjectPublicKeyInfo.
    pub fn from_spki(der: &[u8]) -> Result<VerifyingKey, KeyError> {
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 4 => Ok(VerifyingKey {
                point: point.to_vec(),
            }),
            _ => Err(KeyError::Unsupported {
                what: "a public key that is not ECDSA P-256 (uncompressed)".to_owned(),
            }),
        }
    }

    /// The SubjectPublicKeyInfo, DER.
    #[must_use]
    pub fn spki(&self) -> Vec<u8> {
        [&P256_SPKI_PREFIX[..], &self.point].concat()
    }

    /// `cosign.pub` as cosign writes it.
    #[must_use]
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(self.spki());
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// The sha256 of the SubjectPublicKeyInfo, hex: how reports name a key.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        purser::digest::Digest::sha256(&self.spki())
            .hex()
            .to_owned()
    }

    /// Whether `signature` (ASN.1 DER) is this key's ECDSA-SHA256 signature of `message`.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, signature)
            .is_ok()
    }
}

/// A private key purser signs with.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(P-256 {})", self.public.fingerprint())
    }
}

#[derive(Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

impl SigningKey {
    /// `cosign.key` (encrypted, opened with `password`) or an unencrypted PKCS#8 or SEC1 PEM
    /// (`password` unused).
    pub fn from_pem(text: &str, password: &[u8]) -> Result<SigningKey, KeyError> {
        let (kind, bytes) = pem(text)?;
        match kind.as_str() {
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                SigningKey::from_pkcs8(&decrypt(&bytes, password)?)
            }
            "PRIVATE KEY" => SigningKey::from_pkcs8(&bytes),
            "EC PRIVATE KEY" => SigningKey::from_pkcs8(&sec1_to_pkcs8(&bytes)),
            other => Err(KeyError::Pem {
                detail: format!("a {other} PEM, not a private key"),
            }),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<SigningKey, KeyError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &SystemRandom::new())
                .map_err(|e| KeyError::Unsupported {
                    what: format!("this private key ({e})"),
                })?;
        let public = VerifyingKey {
            point: pair.public_key().as_ref().to_vec(),
        };
        Ok(SigningKey { pair, public })
    }

    #[must_use]
    pub fn public(&self) -> &VerifyingKey {
        &self.public
    }

    /// The ECDSA-SHA256 signature of `message`, ASN.1 DER.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|e| KeyError::Malformed {
                detail: format!("signing failed: {e}"),
            })
    }
}

/// The PKCS#8 bytes inside `cosign.key`'s JSON.
fn decrypt(json: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    let e: Encrypted = serde_json::from_slice(json).map_err(|e| KeyError::Malformed {
        detail: format!("the encrypted key's JSON: {e}"),
    })?;
    if e.kdf.name != "scrypt" {
        return Err(KeyError::Unsupported {
            what: format!("key derivation {:?}", e.kdf.name),
        });
    }
    if e.cipher.name != "nacl/secretbox" {
        return Err(KeyError::Unsupported {
            what: format!("cipher {:?}", e.cipher.name),
        });
    }
    let n = e.kdf.params.n;
    if !n.is_power_of_two() || n < 2 {
        return Err(KeyError::Malformed {
            detail: format!("scrypt N = {n} is not a power of two"),
        });
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, e.kdf.params.r, e.kdf.params.p, 32)
        .map_err(|err| KeyError::Malformed {
            detail: format!("scrypt parameters: {err}"),
        })?;
    let salt = b64("kdf.salt", &e.kdf.salt)?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).map_err(|err| KeyError::Malformed {
        detail: format!("scrypt: {err}"),
    })?;
    let nonce = b64("cipher.nonce", &e.cipher.nonce)?;
    if nonce.len() != 24 {
        return Err(KeyError::Malformed {
            detail: format!("a secretbox nonce of {} bytes, not 24", nonce.len()),
        });
    }
    let sealed = b64("ciphertext", &e.ciphertext)?;
    XSalsa20Poly1305::new(&key.into())
        .decrypt(nonce.as_slice().into(), sealed.as_slice())
        .map_err(|_| KeyError::WrongPassword)
}

/// DER length bytes.
fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=127 => vec![n as u8],
        128..=255 => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

/// A SEC1 `ECPrivateKey` wrapped as PKCS#8 for P-256: SEQUENCE { 0, SEQUENCE {
/// id-ecPublicKey, prime256v1 }, OCTET STRING { sec1 } }.
fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    let algorithm = &P256_SPKI_PREFIX[2..23];
    let mut octets = vec![0x04];
    octets.extend(der_len(sec1.len()));
    octets.extend_from_slice(sec1);
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(algorithm);
    body.extend(octets);
    let mut out = vec![0x30];
    out.extend(der_len(body.len()));
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key made here: sign, verify, and the PEM round trip.
    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pem_text = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let key = SigningKey::from_pem(&pem_text, b"").unwrap();
        let sig = key.sign(b"payload").unwrap();
        assert!(key.public().verify(b"payload", &sig));
        assert!(!key.public().verify(b"payload!", &sig));
        let back = VerifyingKey::from_pem(&key.public().to_pem()).unwrap();
        assert_eq!(&back, key.public());

        let other = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let other = SigningKey::from_pkcs8(other.as_ref()).unwrap();
        assert!(!other.public().verify(b"payload", &sig));
    }

    #[test]
    fn what_is_not_a_key_is_named() {
        assert!(matches!(
            VerifyingKey::from_pem("hello"),
            Err(KeyError::Pem { .. })
        ));
        let err = VerifyingKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a PUBLIC KEY"), "{err}");
        let err = SigningKey::from_pem(
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
            b"x",
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::Malformed { .. }), "{err}");
    }
}

/// Keys cosign made (native/tests/fixtures/cosign, see its README.md): they open with the
/// right password only, and sign what their public half verifies.
#[cfg(test)]
mod cosign_fixtures {
    use super::*;
    use crate::trust::{fixture, fixture_key};

    #[test]
    fn cosign_keys_open_and_match_their_public_keys() {
        for (key, password, public) in [
            ("cosign.key", &b"test"[..], "cosign.pub"),
            ("other.key", &b"test"[..], "other.pub"),
            ("empty-password.key", &b""[..], "empty-password.pub"),
            ("legacy-cosign-pem.key", &b"test"[..], "cosign.pub"),
        ] {
            let signing = SigningKey::from_pem(&String::from_utf8_lossy(&fixture(key)), password)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            let verifying = fixture_key(public);
            assert_eq!(signing.public(), &verifying, "{key} and {public}");
            let sig = signing.sign(b"hello").unwrap();
            assert!(verifying.verify(b"hello", &sig), "{key}");
        }
        assert_eq!(
            SigningKey::from_pem(&String::from_utf8_lossy(&fixture("cosign.key")), b"wrong")
                .unwrap_err(),
            KeyError::WrongPassword
        );
        let other = fixture_key("other.pub");
        let sig = SigningKey::from_pem(&String::from_utf8_lossy(&fixture("cosign.key")), b"test")
            .unwrap()
            .sign(b"hello")
            .unwrap();
        assert!(!other.verify(b"hello", &sig));
    }
}
