//! Rekor (v1) transparency-log entries, checked offline against a [`TrustedRoot`]:
//! [`verify_promise`] checks the Signed Entry Timestamp, [`verify_inclusion`] the Merkle
//! inclusion proof and its signed checkpoint, [`check_body`] that the entry is about this
//! signature, this certificate and this artifact; [`legacy_entry`] reads the Rekor bundle
//! cosign's legacy `.sig` layers carry (`dev.sigstore.cosign/bundle`) as a [`TlogEntry`].
//!
//! The SET is the log's ECDSA signature (ASN.1 DER, over SHA-256) of the canonical JSON
//! `{"body":"<canonicalizedBody, standard base64>","integratedTime":<n>,"logID":"<hex of the
//! log id>","logIndex":<n>}`: keys sorted, no spaces (checked against the public-good
//! fixtures). The checkpoint is a signed note: `<origin>\n<tree size>\n<root hash, base64>\n`
//! (plus any other lines), a blank line, then `— <name> <base64(key hint ‖ signature)>` lines;
//! for Rekor v1 the key hint is the first 4 bytes of the log id and the signature is over the
//! text before the blank line.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use super::certificate::{Cert, pem_certificates};
use super::sigstore_bundle::{InclusionProof, TlogEntry};
use super::trusted_root::{TransparencyLog, TrustedRoot};

/// Why a Rekor entry does not vouch for a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RekorError {
    /// Not readable as an entry of a kind read here.
    Malformed(String),
    /// A kind of entry not checked here.
    Unsupported(String),
    /// No log of the trusted root has this id (or it was not valid at the entry's time).
    UnknownLog { log_id: String, detail: String },
    /// The Signed Entry Timestamp is missing or does not verify with the log's key.
    BadPromise { log_id: String, detail: String },
    /// The inclusion proof or its checkpoint does not verify.
    BadInclusionProof(String),
    /// The entry is about another signature, certificate or artifact.
    Mismatch(String),
}

impl fmt::Display for RekorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RekorError::Malformed(d) => write!(f, "a Rekor entry that cannot be read: {d}"),
            RekorError::Unsupported(d) => write!(f, "a Rekor entry not checked here: {d}"),
            RekorError::UnknownLog { log_id, detail } => {
                write!(f, "the Rekor entry is from log {log_id}, {detail}")
            }
            RekorError::BadPromise { log_id, detail } => write!(
                f,
                "the Rekor signed entry timestamp does not verify with the key of log {log_id}: {detail}"
            ),
            RekorError::BadInclusionProof(d) => {
                write!(f, "the Rekor inclusion proof does not verify: {d}")
            }
            RekorError::Mismatch(d) => {
                write!(f, "the Rekor entry is not about this signature: {d}")
            }
        }
    }
}

impl std::error::Error for RekorError {}

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, hex.
#[must_use]
pub fn sha256(bytes: &[u8]) -> String {
    hex(digest(&SHA256, bytes).as_ref())
}

/// The canonical JSON a SET signs; fields in this (sorted) order, serde_json writes it
/// compact.
#[derive(Serialize)]
struct Promised<'a> {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: i64,
}

/// The bytes the Signed Entry Timestamp of `entry` signs.
#[must_use]
pub fn promised_bytes(entry: &TlogEntry) -> Vec<u8> {
    let log_id = hex(&entry.log_id);
    serde_json::to_vec(&Promised {
        body: STANDARD.encode(&entry.canonicalized_body),
        integrated_time: entry.integrated_time,
        log_id: &log_id,
        log_index: entry.log_index,
    })
    .unwrap_or_default()
}

/// Checks the entry's Signed Entry Timestamp with the key of the trusted root's log whose id
/// it names (a log valid at the entry's integrated time), and returns that log.
pub fn verify_promise<'r>(
    entry: &TlogEntry,
    root: &'r TrustedRoot,
) -> Result<&'r TransparencyLog, RekorError> {
    let log_id = hex(&entry.log_id);
    let candidates: Vec<&TransparencyLog> = root
        .tlogs
        .iter()
        .filter(|l| l.log_id == entry.log_id)
        .collect();
    if candidates.is_empty() {
        return Err(RekorError::UnknownLog {
            detail: format!(
                "not one of the {} transparency log(s) of the trusted root",
                root.tlogs.len()
            ),
            log_id,
        });
    }
    let Some(log) = candidates
        .into_iter()
        .find(|l| l.valid_for.contains(entry.integrated_time))
    else {
        return Err(RekorError::UnknownLog {
            detail: format!(
                "whose key was not valid at the entry's integrated time {}",
                entry.integrated_time
            ),
            log_id,
        });
    };
    let Some(set) = &entry.signed_entry_timestamp else {
        return Err(RekorError::BadPromise {
            log_id,
            detail: "the entry has no inclusionPromise (Rekor v2 entries are not read here)"
                .to_owned(),
        });
    };
    if !log.public_key.verify(&promised_bytes(entry), set) {
        return Err(RekorError::BadPromise {
            log_id,
            detail: format!(
                "signature over body, integratedTime {}, logIndex {}",
                entry.integrated_time, entry.log_index
            ),
        });
    }
    Ok(log)
}

/// Checks the entry's inclusion proof, when it has one: the Merkle audit path from the
/// entry's leaf hash to the proof's root hash, and the checkpoint naming that root and tree
/// size, signed by `log`. An entry without a proof passes (its SET is its evidence).
pub fn verify_inclusion(entry: &TlogEntry, log: &TransparencyLog) -> Result<(), RekorError> {
    let Some(proof) = &entry.inclusion_proof else {
        return Ok(());
    };
    let bad = |d: String| Err(RekorError::BadInclusionProof(d));
    let mut leaf = vec![0u8];
    leaf.extend_from_slice(&entry.canonicalized_body);
    let leaf_hash = digest(&SHA256, &leaf).as_ref().to_vec();
    match merkle_root(proof, &leaf_hash) {
        Some(root) if root == proof.root_hash => {}
        Some(root) => {
            return bad(format!(
                "the audit path leads to root {}, the proof says {}",
                hex(&root),
                hex(&proof.root_hash)
            ));
        }
        None => {
            return bad(format!(
                "{} hashes do not make a path for index {} in a tree of {}",
                proof.hashes.len(),
                proof.log_index,
                proof.tree_size
            ));
        }
    }
    verify_checkpoint(proof, log)
}

/// The root hash an audit path leads to (RFC 9162, 2.1.3.2), or `None` when the path does
/// not fit the index and tree size.
fn merkle_root(proof: &InclusionProof, leaf_hash: &[u8]) -> Option<Vec<u8>> {
    let index = u64::try_from(proof.log_index).ok()?;
    let size = u64::try_from(proof.tree_size).ok()?;
    if index >= size {
        return None;
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = leaf_hash.to_vec();
    for p in &proof.hashes {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// An interior Merkle node: SHA-256(0x01 ‖ left ‖ right).
fn node(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + left.len() + right.len());
    bytes.push(1);
    bytes.extend_from_slice(left);
    bytes.extend_from_slice(right);
    digest(&SHA256, &bytes).as_ref().to_vec()
}

/// The checkpoint of `proof` names its tree size and root hash, and the log signed it.
fn verify_checkpoint(proof: &InclusionProof, log: &TransparencyLog) -> Result<(), RekorError> {
    let bad = |d: String| Err(RekorError::BadInclusionProof(d));
    let Some((text, signatures)) = proof.checkpoint.split_once("\n\n") else {
        return bad("a checkpoint without its signature lines".to_owned());
    };
    let signed = format!("{text}\n");
    let mut lines = text.lines();
    let (_origin, size, root) = (lines.next(), lines.next(), lines.next());
    if size.and_then(|s| s.parse::<i64>().ok()) != Some(proof.tree_size) {
        return bad(format!(
            "the checkpoint's tree size {:?} is not the proof's {}",
            size.unwrap_or(""),
            proof.tree_size
        ));
    }
    if root.and_then(|r| STANDARD.decode(r).ok()).as_deref() != Some(proof.root_hash.as_slice()) {
        return bad(format!(
            "the checkpoint's root hash {:?} is not the proof's",
            root.unwrap_or("")
        ));
    }
    let hint = log.log_id.get(..4).unwrap_or_default();
    let verified = signatures
        .lines()
        .filter_map(|line| line.strip_prefix("\u{2014} "))
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(_, b64)| STANDARD.decode(b64).ok())
        .filter(|raw| raw.len() > 4 && &raw[..4] == hint)
        .any(|raw| log.public_key.verify(signed.as_bytes(), &raw[4..]));
    if verified {
        Ok(())
    } else {
        bad(format!(
            "no signature of the checkpoint verifies with the key of log {}",
            hex(&log.log_id)
        ))
    }
}

/// What the entry must be about.
#[derive(Clone, Copy, Debug)]
pub enum Expected<'a> {
    /// A `hashedrekord`: this signature, by this certificate, over the artifact whose
    /// SHA-256 is `artifact_sha256` (hex).
    HashedRekord {
        signature: &'a [u8],
        leaf: &'a Cert,
        artifact_sha256: &'a str,
    },
    /// A `dsse`: an envelope with this signature, by this certificate, whose payload's
    /// SHA-256 is `payload_sha256` (hex).
    Dsse {
        signature: &'a [u8],
        leaf: &'a Cert,
        payload_sha256: &'a str,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    api_version: String,
    kind: String,
    spec: serde_json::Value,
}

#[derive(Deserialize)]
struct HashedRekordSpec {
    data: HashedRekordData,
    signature: HashedRekordSignature,
}

#[derive(Deserialize)]
struct HashedRekordData {
    hash: Hash,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekordSignature {
    content: String,
    public_key: HashedRekordKey,
}

#[derive(Deserialize)]
struct HashedRekordKey {
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    payload_hash: Hash,
    signatures: Vec<DsseSignature>,
}

#[derive(Deserialize)]
struct DsseSignature {
    signature: String,
    verifier: String,
}

/// Checks that the entry's body (its `canonicalizedBody`) is of the kind `kindVersion` says
/// and records `expected`: the same signature bytes, the same certificate, the artifact's
/// (or the DSSE payload's) SHA-256. A DSSE entry's `envelopeHash` is not recomputed.
pub fn check_body(entry: &TlogEntry, expected: Expected<'_>) -> Result<(), RekorError> {
    let body: Body = serde_json::from_slice(&entry.canonicalized_body)
        .map_err(|e| RekorError::Malformed(format!("canonicalizedBody: {e}")))?;
    if body.kind != entry.kind || body.api_version != entry.version {
        return Err(RekorError::Mismatch(format!(
            "the body is a {} {}, the entry says {} {}",
            body.kind, body.api_version, entry.kind, entry.version
        )));
    }
    let spec_error = |e: serde_json::Error| {
        RekorError::Malformed(format!("the {} {} body: {e}", body.kind, body.api_version))
    };
    let decode = |what: &str, text: &str| {
        STANDARD
            .decode(text)
            .map_err(|e| RekorError::Malformed(format!("{what}: {e}")))
    };
    let same_cert = |what: &str, b64_pem: &str, leaf: &Cert| -> Result<(), RekorError> {
        let pem = decode(what, b64_pem)?;
        let der = pem_certificates(&String::from_utf8_lossy(&pem))
            .map_err(|e| RekorError::Malformed(format!("{what}: {e}")))?;
        if der.first().map(Vec::as_slice) == Some(leaf.der()) {
            Ok(())
        } else {
            Err(RekorError::Mismatch(format!(
                "{what} is another certificate than the signer's"
            )))
        }
    };
    let same_hash = |what: &str, hash: &Hash, expected: &str| -> Result<(), RekorError> {
        if hash.algorithm == "sha256" && hash.value.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(RekorError::Mismatch(format!(
                "{what} is {}:{}, expected sha256:{expected}",
                hash.algorithm, hash.value
            )))
        }
    };
    match (expected, body.kind.as_str(), body.api_version.as_str()) {
        (
            Expected::HashedRekord {
                signature,
                leaf,
                artifact_sha256,
            },
            "hashedrekord",
            "0.0.1",
        ) => {
            let spec: HashedRekordSpec =
                serde_json::from_value(body.spec.clone()).map_err(spec_error)?;
            same_hash("the logged artifact hash", &spec.data.hash, artifact_sha256)?;
            if decode("the logged signature", &spec.signature.content)? != signature {
                return Err(RekorError::Mismatch(
                    "the logged signature is another signature".to_owned(),
                ));
            }
            same_cert(
                "the logged public key",
                &spec.signature.public_key.content,
                leaf,
            )
        }
        (
            Expected::Dsse {
                signature,
                leaf,
                payload_sha256,
            },
            "dsse",
            "0.0.1",
        ) => {
            let spec: DsseSpec = serde_json::from_value(body.spec.clone()).map_err(spec_error)?;
            same_hash(
                "the logged payload hash",
                &spec.payload_hash,
                payload_sha256,
            )?;
            let [logged] = spec.signatures.as_slice() else {
                return Err(RekorError::Mismatch(format!(
                    "{} logged signatures, not one",
                    spec.signatures.len()
                )));
            };
            if decode("the logged signature", &logged.signature)? != signature {
                return Err(RekorError::Mismatch(
                    "the logged signature is another signature".to_owned(),
                ));
            }
            same_cert("the logged verifier", &logged.verifier, leaf)
        }
        (Expected::HashedRekord { .. }, "hashedrekord", _)
        | (Expected::Dsse { .. }, "dsse", _)
        | (_, "intoto" | "rekord", _) => Err(RekorError::Unsupported(format!(
            "a {} {} entry (hashedrekord 0.0.1 and dsse 0.0.1 are read)",
            body.kind, body.api_version
        ))),
        (Expected::HashedRekord { .. }, kind, _) => Err(RekorError::Mismatch(format!(
            "a {kind} entry for a message signature (expected hashedrekord)"
        ))),
        (Expected::Dsse { .. }, kind, _) => Err(RekorError::Mismatch(format!(
            "a {kind} entry for a DSSE envelope (expected dsse)"
        ))),
    }
}

#[derive(Deserialize)]
struct RawLegacyBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RawLegacyPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLegacyPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KindVersion {
    api_version: String,
    kind: String,
}

/// Reads the `dev.sigstore.cosign/bundle` annotation:
/// `{"SignedEntryTimestamp": base64, "Payload": {"body": base64, "integratedTime": n,
/// "logIndex": n, "logID": hex}}`. The kind and version come from the body itself.
pub fn legacy_entry(annotation: &str) -> Result<TlogEntry, RekorError> {
    let raw: RawLegacyBundle = serde_json::from_str(annotation)
        .map_err(|e| RekorError::Malformed(format!("the cosign Rekor bundle: {e}")))?;
    let malformed = |what: &str, e: &dyn fmt::Display| {
        RekorError::Malformed(format!("the cosign Rekor bundle's {what}: {e}"))
    };
    let body = STANDARD
        .decode(&raw.payload.body)
        .map_err(|e| malformed("Payload.body", &e))?;
    let kind: KindVersion =
        serde_json::from_slice(&body).map_err(|e| malformed("Payload.body", &e))?;
    let log_id =
        unhex(&raw.payload.log_id).ok_or_else(|| malformed("Payload.logID", &"not hex"))?;
    Ok(TlogEntry {
        log_index: raw.payload.log_index,
        log_id,
        kind: kind.kind,
        version: kind.api_version,
        integrated_time: raw.payload.integrated_time,
        signed_entry_timestamp: Some(
            STANDARD
                .decode(&raw.signed_entry_timestamp)
                .map_err(|e| malformed("SignedEntryTimestamp", &e))?,
        ),
        canonicalized_body: body,
        inclusion_proof: None,
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((hex_digit(*hi)? << 4) | hex_digit(*lo)?),
            _ => None,
        })
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::keyless::fixture;
    use crate::trust::sigstore_bundle::parse;

    fn root() -> TrustedRoot {
        TrustedRoot::parse(&fixture("trusted_root.json")).unwrap()
    }

    fn entry(name: &str) -> TlogEntry {
        let bundle = parse(&fixture(name)).unwrap();
        bundle
            .verification_material
            .transparency_log_entries()
            .unwrap()
            .remove(0)
    }

    #[test]
    fn the_promise_is_over_sorted_compact_json() {
        let e = entry("dsse/bundle.sigstore.json");
        let text = String::from_utf8(promised_bytes(&e)).unwrap();
        assert!(text.starts_with("{\"body\":\"eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiZHNzZSIs"));
        assert!(text.ends_with(
            "\",\"integratedTime\":1734374576,\"logID\":\"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d\",\"logIndex\":155690850}"
        ));
    }

    #[test]
    fn public_good_promises_and_proofs_verify_and_edits_do_not() {
        let root = root();
        for name in ["dsse/bundle.sigstore.json", "message/bundle.sigstore.json"] {
            let e = entry(name);
            let log = verify_promise(&e, &root).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(log.base_url, "https://rekor.sigstore.dev");
            assert_eq!(verify_inclusion(&e, log), Ok(()), "{name}");

            let mut flipped = e.clone();
            if let Some(set) = flipped.signed_entry_timestamp.as_mut() {
                set[10] ^= 1;
            }
            assert!(matches!(
                verify_promise(&flipped, &root),
                Err(RekorError::BadPromise { .. })
            ));
            let mut later = e.clone();
            later.integrated_time += 1;
            assert!(matches!(
                verify_promise(&later, &root),
                Err(RekorError::BadPromise { .. })
            ));
            let mut other_index = e.clone();
            other_index.log_index += 1;
            assert!(matches!(
                verify_promise(&other_index, &root),
                Err(RekorError::BadPromise { .. })
            ));
            let mut no_set = e.clone();
            no_set.signed_entry_timestamp = None;
            assert!(matches!(
                verify_promise(&no_set, &root),
                Err(RekorError::BadPromise { .. })
            ));
            let mut other_log = e.clone();
            other_log.log_id[0] ^= 1;
            assert!(matches!(
                verify_promise(&other_log, &root),
                Err(RekorError::UnknownLog { .. })
            ));
            let mut before_log = e.clone();
            before_log.integrated_time = 1_600_000_000;
            assert!(matches!(
                verify_promise(&before_log, &root),
                Err(RekorError::UnknownLog { .. })
            ));

            let proof = e.inclusion_proof.clone().unwrap();
            let mut bad_path = e.clone();
            bad_path.inclusion_proof.as_mut().unwrap().hashes[3][0] ^= 1;
            assert!(matches!(
                verify_inclusion(&bad_path, log),
                Err(RekorError::BadInclusionProof(_))
            ));
            let mut short = e.clone();
            short.inclusion_proof.as_mut().unwrap().hashes.pop();
            assert!(matches!(
                verify_inclusion(&short, log),
                Err(RekorError::BadInclusionProof(_))
            ));
            let mut bad_body = e.clone();
            bad_body.canonicalized_body.push(b' ');
            assert!(matches!(
                verify_inclusion(&bad_body, log),
                Err(RekorError::BadInclusionProof(_))
            ));
            let mut bad_note = e.clone();
            bad_note.inclusion_proof.as_mut().unwrap().checkpoint =
                proof
                    .checkpoint
                    .replacen("rekor.sigstore.dev - ", "rekor.sigstore.dev -- ", 1);
            let err = verify_inclusion(&bad_note, log).unwrap_err();
            assert!(
                err.to_string().contains("no signature of the checkpoint"),
                "{err}"
            );
            let mut unsigned = e.clone();
            unsigned.inclusion_proof.as_mut().unwrap().checkpoint =
                proof.checkpoint.split("\n\n").next().unwrap().to_owned();
            assert!(verify_inclusion(&unsigned, log).is_err());
        }
    }

    #[test]
    fn the_legacy_annotation_is_the_same_entry() {
        let manifest: serde_json::Value =
            serde_json::from_slice(&fixture("legacy/sig-manifest.json")).unwrap();
        let annotation = manifest["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"]
            .as_str()
            .unwrap();
        let e = legacy_entry(annotation).unwrap();
        assert_eq!(e.kind, "hashedrekord");
        assert_eq!(e.version, "0.0.1");
        assert_eq!(e.integrated_time, 1_772_192_809);
        assert_eq!(e.log_index, 1_003_522_141);
        let root = root();
        assert!(verify_promise(&e, &root).is_ok());
        assert!(legacy_entry("{}").is_err());
        assert!(legacy_entry(&annotation.replace("c0d23d6a", "c0d23d6")).is_err());
        assert_eq!(unhex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("é0"), None);
    }

    /// The leaf certificate and signature of a bundle fixture.
    fn signer(name: &str) -> (Cert, Vec<u8>) {
        let bundle = parse(&fixture(name)).unwrap();
        let leaf = bundle
            .verification_material
            .leaf_certificate()
            .unwrap()
            .unwrap();
        let signature = match bundle.content() {
            crate::trust::sigstore_bundle::Content::Dsse { signature, .. }
            | crate::trust::sigstore_bundle::Content::Message { signature, .. } => {
                signature.to_vec()
            }
        };
        (Cert::from_der(&leaf).unwrap(), signature)
    }

    #[test]
    fn a_body_must_record_this_signature_certificate_and_hash() {
        const A_TXT: &str = "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
        let dsse = entry("dsse/bundle.sigstore.json");
        let (dsse_leaf, dsse_sig) = signer("dsse/bundle.sigstore.json");
        let payload = parse(&fixture("dsse/bundle.sigstore.json")).unwrap();
        let payload_sha256 = match payload.content() {
            crate::trust::sigstore_bundle::Content::Dsse { payload, .. } => sha256(payload),
            crate::trust::sigstore_bundle::Content::Message { .. } => unreachable!(),
        };
        let as_dsse = |signature: &[u8], leaf: &Cert, hash: &str| {
            check_body(
                &dsse,
                Expected::Dsse {
                    signature,
                    leaf,
                    payload_sha256: hash,
                },
            )
        };
        assert_eq!(as_dsse(&dsse_sig, &dsse_leaf, &payload_sha256), Ok(()));
        let (message_leaf, message_sig) = signer("message/bundle.sigstore.json");
        let mismatch = |r: Result<(), RekorError>| matches!(r, Err(RekorError::Mismatch(_)));
        assert!(mismatch(as_dsse(&dsse_sig, &dsse_leaf, A_TXT)));
        assert!(mismatch(as_dsse(&message_sig, &dsse_leaf, &payload_sha256)));
        assert!(mismatch(as_dsse(&dsse_sig, &message_leaf, &payload_sha256)));
        assert!(mismatch(check_body(
            &dsse,
            Expected::HashedRekord {
                signature: &dsse_sig,
                leaf: &dsse_leaf,
                artifact_sha256: A_TXT,
            },
        )));

        let hashed = entry("message/bundle.sigstore.json");
        let as_hashed = |signature: &[u8], leaf: &Cert, hash: &str| {
            check_body(
                &hashed,
                Expected::HashedRekord {
                    signature,
                    leaf,
                    artifact_sha256: hash,
                },
            )
        };
        assert_eq!(as_hashed(&message_sig, &message_leaf, A_TXT), Ok(()));
        assert!(mismatch(as_hashed(
            &message_sig,
            &message_leaf,
            &payload_sha256
        )));
        assert!(mismatch(as_hashed(&dsse_sig, &message_leaf, A_TXT)));
        assert!(mismatch(as_hashed(&message_sig, &dsse_leaf, A_TXT)));
        // The kind the entry declares must be the body's.
        let mut relabelled = hashed.clone();
        relabelled.kind = "dsse".to_owned();
        assert!(mismatch(check_body(
            &relabelled,
            Expected::HashedRekord {
                signature: &message_sig,
                leaf: &message_leaf,
                artifact_sha256: A_TXT,
            },
        )));
        let mut garbage = hashed.clone();
        garbage.canonicalized_body = b"{}".to_vec();
        assert!(matches!(
            check_body(
                &garbage,
                Expected::HashedRekord {
                    signature: &message_sig,
                    leaf: &message_leaf,
                    artifact_sha256: A_TXT,
                },
            ),
            Err(RekorError::Malformed(_))
        ));
    }

    #[test]
    fn merkle_paths_of_small_trees() {
        // A tree of 3 leaves a, b, c: root = node(node(a, b), c).
        let (a, b, c) = (vec![1u8; 32], vec![2u8; 32], vec![3u8; 32]);
        let root = node(&node(&a, &b), &c);
        let proof = |index: i64, hashes: Vec<Vec<u8>>| InclusionProof {
            log_index: index,
            tree_size: 3,
            root_hash: root.clone(),
            hashes,
            checkpoint: String::new(),
        };
        assert_eq!(
            merkle_root(&proof(0, vec![b.clone(), c.clone()]), &a),
            Some(root.clone())
        );
        assert_eq!(
            merkle_root(&proof(1, vec![a.clone(), c.clone()]), &b),
            Some(root.clone())
        );
        assert_eq!(
            merkle_root(&proof(2, vec![node(&a, &b)]), &c),
            Some(root.clone())
        );
        assert_eq!(
            merkle_root(&proof(2, vec![node(&a, &b), a.clone()]), &c),
            None
        );
        assert_eq!(merkle_root(&proof(3, vec![]), &c), None);
    }
}
