//! The mirror's own signatures, written as cosign writes them so cosign, Kyverno, the
//! sigstore policy-controller and Flux verify them. [`Signer::load`] opens the key (cosign's
//! encrypted `cosign.key` with `COSIGN_PASSWORD`, or a plain PEM); [`Signer::sign`] signs one
//! digest in a store — with `recursive`, an index's manifests too — and says per digest
//! whether it signed or found its own signature already there ([`Signed`]).
//!
//! Formats ([`SignatureFormat`]):
//! - `bundle` (default): a Sigstore bundle v0.3 (DSSE, in-toto statement) as an OCI 1.1
//!   referrer, exactly the manifest cosign v3 writes, plus an entry in the `sha256-<hex>`
//!   fallback index where the registry has no referrers API;
//! - `legacy`: a simple-signing layer appended to the `sha256-<hex>.sig` manifest, keeping
//!   every other signer's layers.
//!
//! Signing twice with the same key adds nothing: a signature of the digest that verifies
//! with the key is looked for first.

use std::path::Path;

use bytes::Bytes;
use purser::digest::Digest;
use purser::plan::{
    Descriptor, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, Manifest, OCI_MANIFEST, Repository, parse_manifest,
};
use serde_json::{Value, json};

use super::found::{Found, signatures_of};
use super::keys::SigningKey;
use super::sigstore_bundle::{self, BUNDLE_V03, COSIGN_SIGN};
use super::simple_signing::{self, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
use crate::store::{Store, StoreError, attach, put_blob};

/// Which signature format is written.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormat {
    /// A Sigstore bundle v0.3 as an OCI referrer (cosign v3's default).
    Bundle,
    /// cosign's simple-signing `.sig` tag (cosign v2's default).
    Legacy,
}

/// A key, ready to sign.
pub struct Signer {
    key: SigningKey,
    format: SignatureFormat,
    recursive: bool,
    /// `org.opencontainers.image.created` of the referrers written (RFC 3339).
    created: String,
}

/// One digest's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub digest: Digest,
    /// False: a signature by this key was there already.
    pub new: bool,
}

impl Signer {
    /// The key at `path`; an encrypted cosign key opens with `COSIGN_PASSWORD` (set, even
    /// empty), as cosign does.
    pub fn load(
        path: &Path,
        format: SignatureFormat,
        recursive: bool,
        now_unix: i64,
    ) -> Result<Signer, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("signing key {}: {e}", path.display()))?;
        let encrypted = text.contains("-----BEGIN ENCRYPTED");
        let password = std::env::var_os("COSIGN_PASSWORD");
        if encrypted && password.is_none() {
            return Err(format!(
                "signing key {}: it is encrypted; set COSIGN_PASSWORD to its password (empty for none), as for cosign",
                path.display()
            ));
        }
        let password = password.unwrap_or_default();
        let key = SigningKey::from_pem(&text, password.as_encoded_bytes())
            .map_err(|e| format!("signing key {}: {e}", path.display()))?;
        Ok(Signer {
            key,
            format,
            recursive,
            created: purser::lock::rfc3339(now_unix),
        })
    }

    /// The sha256 of the public key, hex: how reports name the signer.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        self.key.public().fingerprint()
    }

    /// Signs `digest` in `repo` (and, recursively, an index's manifests).
    pub async fn sign<S: Store>(
        &self,
        store: &S,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Vec<Signed>, StoreError> {
        let subject = store
            .manifest_get(repo, digest.as_str())
            .await?
            .ok_or_else(|| StoreError::message(format!("{repo}@{digest}: not there to sign")))?;
        let mut digests = vec![(
            digest.clone(),
            subject.media_type.clone(),
            subject.bytes.len(),
        )];
        if self.recursive
            && let Ok(Manifest::Index { manifests, .. }) =
                parse_manifest(&subject.bytes, &subject.media_type)
        {
            digests.extend(
                manifests
                    .into_iter()
                    .map(|d| (d.digest, d.media_type, d.size as usize)),
            );
        }
        let mut out = Vec::new();
        for (digest, media_type, size) in digests {
            let new = match self.signed_already(store, repo, &digest).await? {
                true => false,
                false => {
                    let subject = Descriptor::new(&media_type, digest.clone(), size as u64);
                    match self.format {
                        SignatureFormat::Bundle => {
                            self.attach_bundle(store, repo, &subject).await?
                        }
                        SignatureFormat::Legacy => self.append_legacy(store, repo, &digest).await?,
                    }
                    true
                }
            };
            out.push(Signed { digest, new });
        }
        Ok(out)
    }

    /// Whether a signature of `digest` in this signer's format verifies with its key.
    async fn signed_already<S: Store>(
        &self,
        store: &S,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, StoreError> {
        let key = self.key.public();
        Ok(signatures_of(store, repo, digest)
            .await?
            .iter()
            .any(|f| match (f, self.format) {
                (Found::Bundle { bundle: Ok(b), .. }, SignatureFormat::Bundle) => {
                    b.verify_with_key(key, digest).is_ok()
                }
                (
                    Found::Legacy {
                        signature,
                        payload: Ok(p),
                    },
                    SignatureFormat::Legacy,
                ) => {
                    key.verify(p, &signature.signature)
                        && simple_signing::parse_payload(p).is_ok_and(|c| &c.digest == digest)
                }
                _ => false,
            }))
    }

    /// The bundle referrer of `subject`, and its fallback index entry when the registry
    /// does not index subjects.
    async fn attach_bundle<S: Store>(
        &self,
        store: &S,
        repo: &Repository,
        subject: &Descriptor,
    ) -> Result<(), StoreError> {
        let bundle = sigstore_bundle::sign(&self.key, &subject.digest)
            .map_err(|e| StoreError::message(format!("signing {}: {e}", subject.digest)))?;
        let bundle_digest = Digest::sha256(&bundle);
        let manifest = referrer_manifest(subject, &bundle_digest, bundle.len(), &self.created);
        attach(
            store,
            repo,
            subject,
            BUNDLE_V03,
            vec![EMPTY_CONFIG.to_vec(), bundle],
            manifest,
        )
        .await
        .map(|_| ())
    }

    /// A simple-signing layer appended to the `.sig` manifest of `digest`.
    async fn append_legacy<S: Store>(
        &self,
        store: &S,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<(), StoreError> {
        let tag = digest.cosign_tag("sig");
        let existing = store.manifest_get(repo, &tag).await?;
        let mut layers: Vec<Value> = match &existing {
            None => Vec::new(),
            Some(m) => serde_json::from_slice::<Value>(&m.bytes)
                .ok()
                .and_then(|v| v.get("layers").and_then(Value::as_array).cloned())
                .ok_or_else(|| {
                    StoreError::message(format!(
                        "{repo}:{tag}: not an image manifest; leaving it alone"
                    ))
                })?,
        };
        let payload = simple_signing::payload(&format!("{}/{}", repo.registry, repo.path), digest);
        let signature = self
            .key
            .sign(&payload)
            .map_err(|e| StoreError::message(format!("signing {digest}: {e}")))?;
        let payload_digest = Digest::sha256(&payload);
        layers.push(json!({
            "mediaType": SIMPLE_SIGNING,
            "size": payload.len(),
            "digest": payload_digest.to_string(),
            "annotations": {
                SIGNATURE_ANNOTATION:
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature),
            },
        }));
        let config = sig_config(&layers);
        let config_digest = Digest::sha256(&config);
        let config_size = config.len();
        put_blob(store, repo, payload).await?;
        put_blob(store, repo, config).await?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": config_size,
                "digest": config_digest.to_string(),
            },
            "layers": layers,
        }))
        .unwrap_or_default();
        store
            .manifest_put(repo, &tag, OCI_MANIFEST, Bytes::from(manifest))
            .await
            .map(|_| ())
    }
}

/// The manifest cosign v3 writes for a bundle of `subject`: empty config carrying the
/// artifact type, one bundle layer, its annotations, the subject.
fn referrer_manifest(
    subject: &Descriptor,
    bundle: &Digest,
    bundle_size: usize,
    created: &str,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "size": EMPTY_CONFIG.len(),
            "digest": Digest::sha256(EMPTY_CONFIG).to_string(),
            "artifactType": BUNDLE_V03,
        },
        "layers": [{
            "mediaType": BUNDLE_V03,
            "size": bundle_size,
            "digest": bundle.to_string(),
        }],
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": COSIGN_SIGN,
            (purser::plan::annotation::CREATED): created,
        },
        "subject": {
            "mediaType": subject.media_type,
            "size": subject.size,
            "digest": subject.digest.to_string(),
        },
        "artifactType": BUNDLE_V03,
    }))
    .unwrap_or_default()
}

/// The config of a `.sig` image as go-containerregistry builds it: one history entry and
/// one diff id per layer, zero times.
fn sig_config(layers: &[Value]) -> Vec<u8> {
    let zero = "0001-01-01T00:00:00Z";
    let diff_ids: Vec<Value> = layers
        .iter()
        .filter_map(|l| l.get("digest").cloned())
        .collect();
    serde_json::to_vec(&json!({
        "architecture": "",
        "created": zero,
        "history": vec![json!({"created": zero}); layers.len()],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
    .unwrap_or_default()
}
