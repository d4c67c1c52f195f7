//! cosign v3's signatures: a Sigstore bundle (v0.3) whose DSSE envelope wraps an in-toto
//! statement naming the signed digest, stored as an OCI 1.1 referrer of the image. [`parse`]
//! reads a bundle, [`Bundle::verify_with_key`] checks a key-signed one (the DSSE signature
//! over [`pae`], the payload type, the subject digest, the predicate type), [`sign`] makes one
//! as cosign v3 does for key signing without a transparency log. For keyless verification
//! (`super::keyless`) a bundle also gives its content ([`Bundle::content`]: the DSSE
//! envelope, or a `messageSignature` over an artifact digest), its leaf certificate and its
//! Rekor entries ([`VerificationMaterial::leaf_certificate`],
//! [`VerificationMaterial::transparency_log_entries`]). Facts and real examples:
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
    message_signature: Option<RawMessageSignature>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    #[serde(default)]
    message_digest: Option<RawMessageDigest>,
    signature: String,
}

#[derive(Clone, Debug, Deserialize)]
struct RawMessageDigest {
    algorithm: String,
    digest: String,
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

/// One Rekor entry of `verificationMaterial.tlogEntries`, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: i64,
    /// `logId.keyId`, decoded.
    pub log_id: Vec<u8>,
    /// `kindVersion`: `hashedrekord` / `0.0.1`, `dsse` / `0.0.1`, ...
    pub kind: String,
    pub version: String,
    pub integrated_time: i64,
    /// `inclusionPromise.signedEntryTimestamp`, decoded, when present.
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// `canonicalizedBody`, decoded: the entry as Rekor stored it (JSON).
    pub canonicalized_body: Vec<u8>,
    /// `inclusionProof`, when present.
    pub inclusion_proof: Option<InclusionProof>,
}

/// `inclusionProof` of a tlog entry: a Merkle audit path and the signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: i64,
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
    pub hashes: Vec<Vec<u8>>,
    /// `checkpoint.envelope`: the signed note text.
    pub checkpoint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTlogEntry {
    log_index: Int64,
    log_id: RawLogId,
    kind_version: RawKindVersion,
    integrated_time: Int64,
    #[serde(default)]
    inclusion_promise: Option<RawPromise>,
    canonicalized_body: String,
    #[serde(default)]
    inclusion_proof: Option<RawInclusionProof>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawKindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInclusionProof {
    log_index: Int64,
    root_hash: String,
    tree_size: Int64,
    #[serde(default)]
    hashes: Vec<String>,
    #[serde(default)]
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

/// A protobuf int64: protojson writes it as a string, and reads a number too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int64 {
    Text(String),
    Number(i64),
}

impl Int64 {
    fn value(&self, what: &str) -> Result<i64, BundleError> {
        match self {
            Int64::Number(n) => Ok(*n),
            Int64::Text(t) => t
                .parse()
                .map_err(|_| BundleError::Malformed(format!("{what}: {t:?} is not an integer"))),
        }
    }
}

impl VerificationMaterial {
    /// The signing certificate's DER: `certificate.rawBytes`, or the first of
    /// `x509CertificateChain.certificates` (bundles before v0.3); `None` for a key-signed
    /// bundle.
    pub fn leaf_certificate(&self) -> Result<Option<Vec<u8>>, BundleError> {
        let raw = match (&self.certificate, &self.x509_certificate_chain) {
            (Some(cert), _) => &cert["rawBytes"],
            (None, Some(chain)) => &chain["certificates"][0]["rawBytes"],
            (None, None) => return Ok(None),
        };
        let text = raw.as_str().ok_or_else(|| {
            BundleError::Malformed("the certificate has no rawBytes string".to_owned())
        })?;
        STANDARD
            .decode(text)
            .map(Some)
            .map_err(|e| BundleError::Malformed(format!("certificate rawBytes: {e}")))
    }

    /// The Rekor entries, decoded.
    pub fn transparency_log_entries(&self) -> Result<Vec<TlogEntry>, BundleError> {
        self.tlog_entries
            .iter()
            .enumerate()
            .map(|(i, value)| {
                tlog_entry(value).map_err(|e| match e {
                    BundleError::Malformed(d) => {
                        BundleError::Malformed(format!("tlogEntries[{i}]: {d}"))
                    }
                    other => other,
                })
            })
            .collect()
    }
}

fn tlog_entry(value: &serde_json::Value) -> Result<TlogEntry, BundleError> {
    let raw: RawTlogEntry =
        serde_json::from_value(value.clone()).map_err(|e| BundleError::Malformed(e.to_string()))?;
    let b64 = |what: &str, text: &str| {
        STANDARD
            .decode(text)
            .map_err(|e| BundleError::Malformed(format!("{what}: {e}")))
    };
    let inclusion_proof = match raw.inclusion_proof {
        None => None,
        Some(p) => Some(InclusionProof {
            log_index: p.log_index.value("inclusionProof.logIndex")?,
            tree_size: p.tree_size.value("inclusionProof.treeSize")?,
            root_hash: b64("inclusionProof.rootHash", &p.root_hash)?,
            hashes: p
                .hashes
                .iter()
                .map(|h| b64("inclusionProof.hashes", h))
                .collect::<Result<_, _>>()?,
            checkpoint: p.checkpoint.map(|c| c.envelope).unwrap_or_default(),
        }),
    };
    Ok(TlogEntry {
        log_index: raw.log_index.value("logIndex")?,
        log_id: b64("logId.keyId", &raw.log_id.key_id)?,
        kind: raw.kind_version.kind,
        version: raw.kind_version.version,
        integrated_time: raw.integrated_time.value("integratedTime")?,
        signed_entry_timestamp: raw
            .inclusion_promise
            .map(|p| {
                b64(
                    "inclusionPromise.signedEntryTimestamp",
                    &p.signed_entry_timestamp,
                )
            })
            .transpose()?,
        canonicalized_body: b64("canonicalizedBody", &raw.canonicalized_body)?,
        inclusion_proof,
    })
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
    /// A `messageSignature` bundle's digest (then the fields above are empty but for
    /// `signature`).
    message: Option<MessageDigest>,
}

/// `messageSignature.messageDigest`: the algorithm as the bundle names it (`SHA2_256`) and
/// the digest bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MessageDigest {
    algorithm: String,
    digest: Vec<u8>,
}

/// What a bundle signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content<'a> {
    /// A DSSE envelope: the signature is over [`pae`] of the exact payload.
    Dsse {
        payload_type: &'a str,
        payload: &'a [u8],
        signature: &'a [u8],
    },
    /// A message signature: the signature is over the artifact's bytes; the bundle names
    /// their digest (`SHA2_256` and the raw digest; empty when absent).
    Message {
        algorithm: &'a str,
        digest: &'a [u8],
        signature: &'a [u8],
    },
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
    let b64 = |what: &str, text: &str| {
        STANDARD
            .decode(text)
            .map_err(|e| BundleError::Malformed(format!("{what}: {e}")))
    };
    let envelope = match (raw.dsse_envelope, raw.message_signature) {
        (Some(envelope), _) => envelope,
        (None, Some(message)) => {
            let (algorithm, digest) = match &message.message_digest {
                Some(d) => (
                    d.algorithm.clone(),
                    b64("messageSignature.messageDigest.digest", &d.digest)?,
                ),
                None => (String::new(), Vec::new()),
            };
            return Ok(Bundle {
                verification_material: raw.verification_material,
                payload_type: String::new(),
                payload: Vec::new(),
                signature: b64("messageSignature.signature", &message.signature)?,
                message: Some(MessageDigest { algorithm, digest }),
            });
        }
        (None, None) => {
            return Err(BundleError::Unsupported(
                "neither a dsseEnvelope nor a messageSignature".to_owned(),
            ));
        }
    };
    let [signature] = envelope.signatures.as_slice() else {
        return Err(BundleError::Malformed(format!(
            "{} DSSE signatures, not one",
            envelope.signatures.len()
        )));
    };
    Ok(Bundle {
        payload: b64("dsseEnvelope.payload", &envelope.payload)?,
        signature: b64("dsseEnvelope.signatures[0].sig", &signature.sig)?,
        payload_type: envelope.payload_type,
        verification_material: raw.verification_material,
        message: None,
    })
}

impl Bundle {
    /// What the bundle signs, and the signature.
    #[must_use]
    pub fn content(&self) -> Content<'_> {
        match &self.message {
            Some(m) => Content::Message {
                algorithm: &m.algorithm,
                digest: &m.digest,
                signature: &self.signature,
            },
            None => Content::Dsse {
                payload_type: &self.payload_type,
                payload: &self.payload,
                signature: &self.signature,
            },
        }
    }

    /// The in-toto statement's subject digests (`sha256:<hex>`) and predicate type.
    pub(crate) fn statement(&self) -> Result<(Vec<String>, String), BundleError> {
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
        if self.message.is_some() {
            return Err(BundleError::Unsupported(
                "a message signature, not a DSSE envelope".to_owned(),
            ));
        }
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
