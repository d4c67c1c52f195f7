//! The signatures a store holds for one manifest digest, as cosign finds them: Sigstore
//! bundles among the digest's referrers (the referrers API, else the `sha256-<hex>` tag
//! index), and the simple-signing layers of the `sha256-<hex>.sig` tag. [`signatures_of`]
//! reads them into [`Found`] values; what a key or an identity makes of them is decided by
//! the caller ([`super::verify`], [`super::sign`]).
//!
//! Unlike cosign, the `.sig` tag is read even when bundles exist: a bundle by a key the policy
//! does not name does not hide a good legacy signature.

use futures_util::StreamExt;
use purser::digest::Digest;
use purser::plan::{Descriptor, Manifest, Repository, parse_manifest, referrers_of};

use super::sigstore_bundle::{self, BUNDLE_V03, Bundle};
use super::simple_signing::{self, LegacySignature};
use crate::store::{Store, StoreError};

/// The largest signature blob read (a bundle with a certificate chain is a few KiB).
const MAX_SIGNATURE_BLOB: u64 = 1 << 20;

/// One signature found.
#[derive(Clone, Debug)]
pub enum Found {
    /// A Sigstore bundle referrer (manifest digest), read or why it cannot be.
    Bundle {
        referrer: Digest,
        bundle: Result<Bundle, String>,
    },
    /// One signature of the `.sig` tag, with its payload bytes or why they cannot be read.
    Legacy {
        signature: LegacySignature,
        payload: Result<Vec<u8>, String>,
    },
}

impl Found {
    /// `Sigstore bundle sha256:…` or `.sig layer sha256:…`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Found::Bundle { referrer, .. } => format!("Sigstore bundle {referrer}"),
            Found::Legacy { signature, .. } => {
                format!(".sig signature (payload {})", signature.payload.digest)
            }
        }
    }
}

/// The descriptors of `digest`'s referrers: from the referrers API, else its fallback tag.
pub async fn referrers<S: Store>(
    store: &S,
    repo: &Repository,
    digest: &Digest,
) -> Result<Vec<Descriptor>, StoreError> {
    let index = match store.referrers(repo, digest).await? {
        Some(bytes) => Some(bytes),
        None => store
            .manifest_get(repo, &digest.fallback_tag())
            .await?
            .map(|m| m.bytes),
    };
    match index {
        None => Ok(Vec::new()),
        Some(bytes) => referrers_of(&bytes)
            .map_err(|e| StoreError::message(format!("{repo}: the referrers of {digest}: {e}"))),
    }
}

/// Every cosign signature `store` holds for `digest` in `repo`.
pub async fn signatures_of<S: Store>(
    store: &S,
    repo: &Repository,
    digest: &Digest,
) -> Result<Vec<Found>, StoreError> {
    let mut out = Vec::new();
    for d in referrers(store, repo, digest).await? {
        // Other referrers (SBOMs, attestations of other tools) are passed over by their
        // artifact type. cosign v2 lists its bundles in a fallback index with the empty
        // config's type, so that one, and none, are read to find out.
        if d.artifact_type.as_deref().is_some_and(|t| {
            !t.starts_with("application/vnd.dev.sigstore.bundle")
                && t != purser::plan::EMPTY_MEDIA_TYPE
        }) {
            continue;
        }
        let Some(m) = store.manifest_get(repo, d.digest.as_str()).await? else {
            continue;
        };
        let Ok(Manifest::Image { layers, .. }) = parse_manifest(&m.bytes, &m.media_type) else {
            continue;
        };
        let [layer] = layers.as_slice() else {
            continue;
        };
        if !layer
            .media_type
            .starts_with("application/vnd.dev.sigstore.bundle")
        {
            continue;
        }
        let bundle = if layer.media_type == BUNDLE_V03 {
            read_small(store, repo, layer)
                .await
                .and_then(|bytes| sigstore_bundle::parse(&bytes).map_err(|e| e.to_string()))
        } else {
            Err(format!("media type {}, not {BUNDLE_V03}", layer.media_type))
        };
        out.push(Found::Bundle {
            referrer: m.digest,
            bundle,
        });
    }
    if let Some(m) = store.manifest_get(repo, &digest.cosign_tag("sig")).await? {
        let signatures = simple_signing::signatures_in(&m.bytes, &m.media_type).map_err(|e| {
            StoreError::message(format!("{repo}:{}: {e}", digest.cosign_tag("sig")))
        })?;
        for signature in signatures {
            let payload = read_small(store, repo, &signature.payload).await;
            out.push(Found::Legacy { signature, payload });
        }
    }
    Ok(out)
}

/// A small blob (a signature's bundle or payload), whole; too large or unreadable is an error.
async fn read_small<S: Store>(
    store: &S,
    repo: &Repository,
    d: &Descriptor,
) -> Result<Vec<u8>, String> {
    if d.size > MAX_SIGNATURE_BLOB {
        return Err(format!(
            "blob {} is {} bytes, more than a signature holds ({MAX_SIGNATURE_BLOB})",
            d.digest, d.size
        ));
    }
    let mut stream = store
        .blob_get(repo, &d.digest, d.size)
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::with_capacity(usize::try_from(d.size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok(bytes)
}
