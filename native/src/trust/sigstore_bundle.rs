//! cosign v3's signatures: a Sigstore bundle (v0.3) whose DSSE envelope wraps an in-toto
//! statement naming the signed digest, stored as an OCI 1.1 referrer of the image. [`parse`]
//! reads a bundle, [`Bundle::verify_with_key`] checks a key-signed one (the DSSE signature
//! over [`pae`], the payload type, the subject digest, the predicate type), [`sign`] makes one
//! as cosign v3 does for key signing without a transparency log. Facts and real examples:
//! native/tests/fixtures/cosign/FORMATS.md, section 4.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use purser::digest::Digest;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::keys::{KeyError, SigningKey, VerifyingKey};

/// The bundle media type cosign v3 writes (layer media type and referrer artifactType).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The predicate type of `cosign sign`.
pub const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
/// The in-toto statement type.
const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// Why a bundle does not verify; each names what was expected and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleError {
    /// Not a Sigstore bundle of a version read here, or not JSON.
    Malformed(String),
    /// A bundle whose content is not a DSSE envelope (a message signature), or of another
    /// payload type.
    Unsupported(String),
    /// The signature does not verify with the key.
    BadSignature { key: String },
    /// The statement names other digests than the one asked about.
    OtherSubject {
        expected: Digest,
        found: Vec<String>,
    },
    /// Signed, but not as a signature (an attestation of another predicate).
    OtherPredicate { found: String },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::Malformed(d) => write!(f, "not a Sigstore bundle: {d}"),
            BundleError::Unsupported(d) => write!(f, "a Sigstore bundle not read here: {d}"),
            BundleError::BadSignature { key } => {
                write!(f, "the signature does not verify with key {key}")
            }
            BundleError::OtherSubject { expected, found } => write!(
                f,
                "the signature is for {}, not {expected}",
                if found.is_empty() {
                    "no digest".to_owned()
                } else {
                    found.join(", ")
                }
            ),
            BundleError::OtherPredicate { found } => write!(
                f,
                "a statement of predicate {found:?}, not a signature ({COSIGN_SIGN})"
            ),
        }
    }
}

impl std::error::Error for BundleError {}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    #[serde(default)]
    verification_material: VerificationMaterial,
    #[serde(default)]
    dsse_envelope: Option<Envelope>,
    #[serde(default)]
    message_signature: Option<serde_json::Value>,
}

/// What the bundle carries to verify it with.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(default)]
    pub public_key: Option<PublicKeyHint>,
    /// A keyless signer's certificate (`{"rawBytes": base64 DER}`).
    #[serde(default)]
    pub certificate: Option<serde_json::Value>,
    #[serde(default)]
    pub x509_certificate_chain: Option<serde_json::Value>,
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PublicKeyHint {
    #[serde(default)]
    pub hint: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Clone, Debug, Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// A bundle, read.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub verification_material: VerificationMaterial,
    /// The DSSE payload type and the exact payload bytes (never re-serialised).
    payload_type: String,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// `DSSEv1 <len(type)> <type> <len(payload)> <payload>`: what a DSSE signature signs.
#[must_use]
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Reads bundle JSON.
pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let raw: RawBundle =
        serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
    let version_ok = raw.media_type == BUNDLE_V03
        || raw
            .media_type
            .strip_prefix("application/vnd.dev.sigstore.bundle+json;version=")
            .is_some_and(|v| v.starts_with("0.3"));
    if !version_ok {
        return Err(BundleError::Unsupported(format!(
            "mediaType {:?} (v0.3 is read)",
            raw.media_type
        )));
    }
    let Some(envelope) = raw.dsse_envelope else {
        return Err(BundleError::Unsupported(
            if raw.message_signature.is_some() {
                "a message signature, not a DSSE envelope".to_owned()
            } else {
                "no dsseEnvelope".to_owned()
            },
        ));
    };
    let [signature] = envelope.signatures.as_slice() else {
        return Err(BundleError::Malformed(format!(
            "{} DSSE signatures, not one",
            envelope.signatures.len()
        )));
    };
    let b64 = |what: &str, text: &str| {
        STANDARD
            .decode(text)
            .map_err(|e| BundleError::Malformed(format!("{what}: {e}")))
    };
    Ok(Bundle {
        payload: b64("dsseEnvelope.payload", &envelope.payload)?,
        signature: b64("dsseEnvelope.signatures[0].sig", &signature.sig)?,
        payload_type: envelope.payload_type,
        verification_material: raw.verification_material,
    })
}

impl Bundle {
    /// The in-toto statement's subject digests (`sha256:<hex>`) and predicate type.
    fn statement(&self) -> Result<(Vec<String>, String), BundleError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Statement {
            #[serde(rename = "_type")]
            kind: String,
            #[serde(default)]
            subject: Vec<Subject>,
            #[serde(default)]
            predicate_type: String,
        }
        #[derive(Deserialize)]
        struct Subject {
            #[serde(default)]
            digest: std::collections::BTreeMap<String, String>,
        }
        let s: Statement = serde_json::from_slice(&self.payload)
            .map_err(|e| BundleError::Malformed(format!("the in-toto statement: {e}")))?;
        if s.kind != STATEMENT_V1 && !s.kind.starts_with("https://in-toto.io/Statement/") {
            return Err(BundleError::Unsupported(format!(
                "statement _type {:?}",
                s.kind
            )));
        }
        let digests = s
            .subject
            .iter()
            .flat_map(|x| x.digest.iter().map(|(alg, hex)| format!("{alg}:{hex}")))
            .collect();
        Ok((digests, s.predicate_type))
    }

    /// Checks that `key` signed this bundle as a cosign signature of `digest`: the DSSE
    /// signature over the exact payload, an in-toto payload, `digest` among the subjects, the
    /// predicate `cosign sign` writes. The key hint is not trusted (cosign ignores it too).
    pub fn verify_with_key(&self, key: &VerifyingKey, digest: &Digest) -> Result<(), BundleError> {
        if self.payload_type != IN_TOTO {
            return Err(BundleError::Unsupported(format!(
                "payloadType {:?}, not {IN_TOTO}",
                self.payload_type
            )));
        }
        if !key.verify(&pae(&self.payload_type, &self.payload), &self.signature) {
            return Err(BundleError::BadSignature {
                key: key.fingerprint(),
            });
        }
        let (digests, predicate) = self.statement()?;
        if !digests.iter().any(|d| d == digest.as_str()) {
            return Err(BundleError::OtherSubject {
                expected: digest.clone(),
                found: digests,
            });
        }
        if predicate != COSIGN_SIGN {
            return Err(BundleError::OtherPredicate { found: predicate });
        }
        Ok(())
    }
}

/// `verificationMaterial.publicKey.hint`: base64 of the sha256 of the key's SPKI DER.
#[must_use]
pub fn hint(key: &VerifyingKey) -> String {
    let d = purser::digest::Digest::sha256(&key.spki());
    let raw: Vec<u8> = (0..d.hex().len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&d.hex()[i..i + 2], 16).ok())
        .collect();
    STANDARD.encode(raw)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Out<'a> {
    media_type: &'a str,
    verification_material: serde_json::Value,
    dsse_envelope: serde_json::Value,
}

/// A bundle signing `digest` with `key`, as cosign v3 writes one for `cosign sign --key`
/// without a transparency log: compact JSON, no tlog entries.
pub fn sign(key: &SigningKey, digest: &Digest) -> Result<Vec<u8>, KeyError> {
    let statement = serde_json::to_vec(&json!({
        "_type": STATEMENT_V1,
        "subject": [{"digest": {digest.algorithm().name(): digest.hex()}, "annotations": {}}],
        "predicateType": COSIGN_SIGN,
        "predicate": {},
    }))
    .unwrap_or_default();
    let signature = key.sign(&pae(IN_TOTO, &statement))?;
    Ok(serde_json::to_vec(&Out {
        media_type: BUNDLE_V03,
        verification_material: json!({"publicKey": {"hint": hint(key.public())}}),
        dsse_envelope: json!({
            "payload": STANDARD.encode(&statement),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": STANDARD.encode(&signature)}],
        }),
    })
    .unwrap_or_default())
}

/// Bundles cosign wrote (native/tests/fixtures/cosign): they verify with their key, for their
/// digest, and nothing else does; a bundle purser signs verifies the same way.
#[cfg(test)]
mod cosign_fixtures {
    use super::*;
    use crate::trust::{fixture, fixture_key};

    #[test]
    fn cosign_bundles_verify_with_their_key_for_their_digest_only() {
        let image = Digest::sha256(&fixture("subjects/image.json"));
        let index = Digest::sha256(&fixture("subjects/index.json"));
        let key = fixture_key("cosign.pub");
        for name in ["bundle-v3/image-bundle.json", "bundle-v2/bundle.json"] {
            let b = parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(b.verify_with_key(&key, &image), Ok(()), "{name}");
            assert!(
                matches!(
                    b.verify_with_key(&fixture_key("other.pub"), &image),
                    Err(BundleError::BadSignature { .. })
                ),
                "{name}"
            );
            assert!(
                matches!(
                    b.verify_with_key(&key, &index),
                    Err(BundleError::OtherSubject { .. })
                ),
                "{name}"
            );
        }
        let b = parse(&fixture("bundle-v3/image-bundle.json")).unwrap();
        assert_eq!(
            b.verification_material
                .public_key
                .as_ref()
                .map(|h| h.hint.as_str()),
            Some(hint(&key).as_str())
        );
        let mut tampered = b.clone();
        tampered.payload[20] ^= 1;
        assert!(tampered.verify_with_key(&key, &image).is_err());
        let b = parse(&fixture("bundle-v3/index-bundle.json")).unwrap();
        assert_eq!(b.verify_with_key(&key, &index), Ok(()));
    }

    #[test]
    fn a_bundle_purser_signs_verifies_like_cosigns() {
        let key = SigningKey::from_pem(&String::from_utf8(fixture("cosign.key")).unwrap(), b"test")
            .unwrap();
        let digest = Digest::sha256(b"some manifest");
        let bytes = sign(&key, &digest).unwrap();
        let b = parse(&bytes).unwrap();
        assert_eq!(
            b.verify_with_key(&fixture_key("cosign.pub"), &digest),
            Ok(())
        );
        assert!(
            b.verify_with_key(&fixture_key("other.pub"), &digest)
                .is_err()
        );
        // The same shape as cosign's own.
        let ours: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let theirs: serde_json::Value =
            serde_json::from_slice(&fixture("bundle-v3/image-bundle.json")).unwrap();
        assert_eq!(ours["mediaType"], theirs["mediaType"]);
        assert_eq!(
            ours["verificationMaterial"]["publicKey"]["hint"],
            theirs["verificationMaterial"]["publicKey"]["hint"]
        );
        assert!(parse(b"{\"mediaType\":\"x\"}").is_err());
    }
}
