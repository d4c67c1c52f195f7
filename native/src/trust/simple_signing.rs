//! cosign's legacy signatures: a `sha256-<hex>.sig` tag whose manifest's layers are
//! simple-signing payloads ([`payload`], [`Claim`]), each with its signature in the
//! `dev.cosignproject.cosign/signature` annotation ([`signatures_in`]). What is signed is the
//! payload's bytes (ECDSA P-256 over their SHA-256); the payload names the image digest.

use std::collections::BTreeMap;
use std::fmt;

use purser::digest::Digest;
use purser::plan::{Descriptor, Manifest, parse_manifest};
use serde::Deserialize;
use serde_json::json;

/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the base64 signature of a layer's payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The annotations holding a keyless signer's certificate and chain (PEM), and the Rekor
/// bundle (JSON).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// `critical.type` of a cosign image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// What a payload claims: the image digest signed, and the repository it was signed as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub docker_reference: String,
    pub digest: Digest,
}

/// A payload that is not a cosign image signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a cosign signature payload: {}", self.0)
    }
}

impl std::error::Error for PayloadError {}

/// The payload cosign signs for `digest` as it is known in `repository` (no tag).
#[must_use]
pub fn payload(repository: &str, digest: &Digest) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest.to_string()},
            "type": SIGNATURE_TYPE,
        },
        "optional": null,
    }))
    .unwrap_or_default()
}

/// The claim of payload `bytes`.
pub fn parse_payload(bytes: &[u8]) -> Result<Claim, PayloadError> {
    #[derive(Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(Deserialize)]
    struct Critical {
        identity: Identity,
        image: Image,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct Identity {
        #[serde(rename = "docker-reference", default)]
        docker_reference: String,
    }
    #[derive(Deserialize)]
    struct Image {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    let p: Payload = serde_json::from_slice(bytes).map_err(|e| PayloadError(e.to_string()))?;
    if p.critical.kind != SIGNATURE_TYPE {
        return Err(PayloadError(format!(
            "critical.type is {:?}, not {SIGNATURE_TYPE:?}",
            p.critical.kind
        )));
    }
    let digest = Digest::parse(&p.critical.image.digest).map_err(|e| {
        PayloadError(format!(
            "docker-manifest-digest {:?}: {e}",
            p.critical.image.digest
        ))
    })?;
    Ok(Claim {
        docker_reference: p.critical.identity.docker_reference,
        digest,
    })
}

/// One signature of a `.sig` manifest: the payload layer and what its annotations carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacySignature {
    /// The payload blob.
    pub payload: Descriptor,
    /// The signature, decoded from base64.
    pub signature: Vec<u8>,
    /// A keyless signer's certificate (PEM) and chain, and the Rekor bundle, when present.
    pub certificate: Option<String>,
    pub chain: Option<String>,
    pub rekor_bundle: Option<String>,
}

/// The signatures in a `.sig` manifest (layers of other types are left alone); a layer whose
/// signature annotation is missing or not base64 is an error naming it.
pub fn signatures_in(
    manifest: &[u8],
    media_type: &str,
) -> Result<Vec<LegacySignature>, PayloadError> {
    let Manifest::Image { layers, .. } =
        parse_manifest(manifest, media_type).map_err(|e| PayloadError(e.to_string()))?
    else {
        return Err(PayloadError(
            "a .sig tag names an index, not a manifest".to_owned(),
        ));
    };
    let mut out = Vec::new();
    for layer in layers
        .into_iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING)
    {
        let get = |key: &str, a: &BTreeMap<String, String>| a.get(key).cloned();
        let encoded = get(SIGNATURE_ANNOTATION, &layer.annotations).ok_or_else(|| {
            PayloadError(format!(
                "layer {} has no {SIGNATURE_ANNOTATION} annotation",
                layer.digest
            ))
        })?;
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim())
                .map_err(|e| {
                    PayloadError(format!(
                        "layer {}: the signature is not base64: {e}",
                        layer.digest
                    ))
                })?;
        out.push(LegacySignature {
            certificate: get(CERTIFICATE_ANNOTATION, &layer.annotations),
            chain: get(CHAIN_ANNOTATION, &layer.annotations),
            rekor_bundle: get(REKOR_BUNDLE_ANNOTATION, &layer.annotations),
            signature,
            payload: layer,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_the_digest_it_signs() {
        let d = Digest::sha256(b"manifest");
        let bytes = payload("registry.example/team/app", &d);
        let claim = parse_payload(&bytes).unwrap();
        assert_eq!(claim.digest, d);
        assert_eq!(claim.docker_reference, "registry.example/team/app");
        let err = parse_payload(br#"{"critical":{"identity":{},"image":{"docker-manifest-digest":"sha256:00"},"type":"x"}}"#)
            .unwrap_err();
        assert!(err.0.contains("critical.type"), "{err}");
    }
}

/// A `.sig` cosign v2 wrote (native/tests/fixtures/cosign/legacy-v2): its signature verifies
/// over the payload with `cosign.pub` and not with `other.pub`, and the payload names the
/// signed image's digest.
#[cfg(test)]
mod cosign_fixtures {
    use super::*;
    use crate::trust::{fixture, fixture_key};

    #[test]
    fn a_cosign_v2_signature_verifies_with_its_key_only() {
        let manifest = fixture("legacy-v2/sig-manifest-1.json");
        let signatures = signatures_in(&manifest, purser::plan::OCI_MANIFEST).unwrap();
        assert_eq!(signatures.len(), 1);
        let s = &signatures[0];
        let payload = fixture("legacy-v2/payload.json");
        assert_eq!(Digest::sha256(&payload), s.payload.digest);
        let key = fixture_key;
        assert!(key("cosign.pub").verify(&payload, &s.signature));
        assert!(!key("other.pub").verify(&payload, &s.signature));
        let mut tampered = payload.clone();
        tampered[10] ^= 1;
        assert!(!key("cosign.pub").verify(&tampered, &s.signature));
        let claim = parse_payload(&payload).unwrap();
        assert_eq!(
            claim.digest,
            Digest::sha256(&fixture("subjects/image.json"))
        );
        // The payload purser would write for the same image: cosign reads the same claim.
        let ours = super::payload(&claim.docker_reference, &claim.digest);
        assert_eq!(parse_payload(&ours).unwrap(), claim);
    }
}
