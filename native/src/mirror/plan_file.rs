//! [`PlanFile`]: a copy planned on one machine and run on others. It holds the core [`Plan`]
//! (the raw manifests to put, every unique blob with its size, its sources and the
//! repositories it must end up in, the tags), its shares of blobs balanced by bytes, the
//! blobs only the planning machine had (charts pushed from their archives), the report as it
//! reads before anything moves and the lock the commit writes.
//!
//! `helm mirror plan` writes it ([`PlanFile::to_bytes`], to a file and with `--push` as an
//! OCI artifact, [`push`]); `execute` and `commit` read it back ([`load`]: a path, or
//! `REGISTRY/REPO@sha256:…`), checking every manifest and every carried blob against its
//! digest and that the shares cover each blob exactly once. The file is content-addressed:
//! its SHA-256 names it, and the same plan gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::TryStreamExt;
use purser::digest::Digest;
use purser::lock::Lock;
use purser::plan::{EMPTY_CONFIG, EMPTY_MEDIA_TYPE, OCI_MANIFEST, Plan, Repository};
use purser::reference::Reference;
use serde::{Deserialize, Serialize};

use super::args::RegistryArgs;
use super::copy_report::CopyReport;
use crate::registry::RegistryError;
use crate::store::{RegistryStore, Store, put_blob};
use crate::trust::sign::SignatureFormat;

/// The plan file's `apiVersion` and `kind`.
pub const API_VERSION: &str = "purser.dev/v1alpha1";
pub const KIND: &str = "MirrorPlan";
/// The media type of the plan file, and the artifact type of the OCI artifact that carries it.
pub const MEDIA_TYPE: &str = "application/vnd.purser.mirror-plan.v1+json";

/// A copy, planned: everything `execute` and `commit` need, nothing secret (credentials come
/// from where each step runs).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    pub api_version: String,
    pub kind: String,
    /// The target, as `--to` named it.
    pub to: String,
    /// How the registries are reached (plain HTTP, TLS), as `plan` was told.
    pub transport: Transport,
    /// Exit 0 from `commit` even when images were missing upstream.
    #[serde(default)]
    pub allow_missing: bool,
    /// `--sign-key`: the commit signs what it publishes with this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<SignSpec>,
    /// Each share's blobs, by digest: share `i` is what `execute --shard i` uploads.
    pub shares: Vec<Vec<Digest>>,
    /// Blobs that come from the plan itself, not a source registry (charts pushed from their
    /// archives: config, archive, provenance), base64.
    #[serde(
        default,
        with = "local_blobs",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub local: BTreeMap<Digest, Vec<u8>>,
    /// The report as it reads before the run: rows `planned`, or already `present`,
    /// `missing`, `refused`, `blocked`, `failed`.
    pub report: CopyReport,
    /// The lock of the charts, filled with the digests at the target by `commit -o`.
    pub lock: Lock,
    pub plan: Plan,
}

/// What `--plain-http`, `--insecure-skip-tls-verify`, `--ca-file` and `--source-mirror` said
/// at plan time; `execute` and `commit` add their own.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Transport {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plain_http: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure_skip_tls_verify: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_file: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_mirror: Vec<String>,
}

impl Transport {
    pub fn of(registry: &RegistryArgs) -> Transport {
        Transport {
            plain_http: registry.plain_http.clone(),
            insecure_skip_tls_verify: registry.insecure_skip_tls_verify.clone(),
            ca_file: registry.ca_file.clone(),
            source_mirror: registry.source_mirror.clone(),
        }
    }

    /// `registry` with what the plan says added to what was typed (CA files: the plan's only
    /// when none are typed).
    pub fn apply(&self, registry: &mut RegistryArgs) {
        fn add<T: Clone + PartialEq>(to: &mut Vec<T>, from: &[T]) {
            for item in from {
                if !to.contains(item) {
                    to.push(item.clone());
                }
            }
        }
        add(&mut registry.plain_http, &self.plain_http);
        add(
            &mut registry.insecure_skip_tls_verify,
            &self.insecure_skip_tls_verify,
        );
        // CA files typed replace the plan's: those are paths on the planning machine, and a
        // pod has its own (`helm mirror jobs` mounts them).
        if registry.ca_file.is_empty() {
            registry.ca_file = self.ca_file.clone();
        }
        add(&mut registry.source_mirror, &self.source_mirror);
    }
}

/// `--sign-key` and its options, for the commit.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SignSpec {
    pub key: PathBuf,
    pub format: SignatureFormat,
    pub recursive: bool,
}

/// Why a plan could not be read.
#[derive(Debug)]
pub enum LoadError {
    /// The plan is not there, does not parse or was altered: running again will not help.
    Bad(String),
    /// The registry holding the plan could not be reached: running again may.
    Unreachable(String),
}

impl LoadError {
    pub fn message(&self) -> &str {
        match self {
            LoadError::Bad(m) | LoadError::Unreachable(m) => m,
        }
    }
}

impl PlanFile {
    /// The plan as the bytes of its file: compact JSON, the same for the same plan.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_vec(self).expect("a plan file serialises to JSON")
    }

    /// Reads the bytes [`PlanFile::to_bytes`] wrote, checking what can be checked: the kind,
    /// every manifest's and carried blob's digest, and that the shares cover each blob of the
    /// plan exactly once. `from` names where the bytes came from, for errors.
    pub fn from_bytes(bytes: &[u8], from: &str) -> Result<PlanFile, String> {
        let file: PlanFile = serde_json::from_slice(bytes).map_err(|e| {
            format!("{from}: not a purser mirror plan ({e}); write one with `helm mirror plan`")
        })?;
        if file.api_version != API_VERSION || file.kind != KIND {
            return Err(format!(
                "{from}: a {} {} is not a {API_VERSION} {KIND}; this purser reads only that",
                file.api_version, file.kind
            ));
        }
        file.plan.verify().map_err(|e| format!("{from}: {e}"))?;
        for (digest, bytes) in &file.local {
            if Digest::compute(digest.algorithm(), bytes) != *digest {
                return Err(format!(
                    "{from}: the blob carried as {digest} does not hash to it; the plan was \
                     altered: plan again"
                ));
            }
        }
        let wanted: BTreeSet<&Digest> = file.plan.blobs.iter().map(|b| &b.digest).collect();
        let mut seen = BTreeSet::new();
        for (i, share) in file.shares.iter().enumerate() {
            for digest in share {
                if !wanted.contains(digest) || !seen.insert(digest) {
                    return Err(format!(
                        "{from}: share {i} names blob {digest}, which the plan does not hold or \
                         another share has; the plan was altered: plan again"
                    ));
                }
            }
        }
        if let Some(left) = wanted.difference(&seen).next() {
            return Err(format!(
                "{from}: no share uploads blob {left}; the plan was altered: plan again"
            ));
        }
        Ok(file)
    }

    /// The blobs of share `index`, in plan order.
    pub fn share(&self, index: usize) -> Option<Vec<purser::plan::BlobStep>> {
        let share: BTreeSet<&Digest> = self.shares.get(index)?.iter().collect();
        Some(
            self.plan
                .blobs
                .iter()
                .filter(|b| share.contains(&b.digest))
                .cloned()
                .collect(),
        )
    }

    /// The share that uploads `digest`.
    pub fn share_of(&self, digest: &Digest) -> Option<usize> {
        self.shares.iter().position(|s| s.contains(digest))
    }
}

/// A plan read back: what it says, its SHA-256, its bytes.
pub struct Loaded {
    pub file: PlanFile,
    pub digest: Digest,
    pub bytes: Vec<u8>,
    /// It came from a registry (`REF@sha256:…`), not a file.
    pub from_registry: bool,
}

/// A plan named on the command line: a file, or `REGISTRY/REPO@sha256:…` (`oci://` allowed)
/// when no file has that name. `registry` reaches the registry that holds it.
pub async fn load(name: &str, registry: &RegistryArgs) -> Result<Loaded, LoadError> {
    let path = Path::new(name);
    let from_registry = !path.exists() && name.contains('@');
    let bytes = if !from_registry {
        std::fs::read(path).map_err(|e| {
            LoadError::Bad(format!(
                "{name}: cannot read the plan: {e}; give the file `helm mirror plan --out` \
                 wrote, or the REF@sha256:… `plan --push` printed"
            ))
        })?
    } else {
        fetch(name.strip_prefix("oci://").unwrap_or(name), registry).await?
    };
    let digest = Digest::sha256(&bytes);
    let file = PlanFile::from_bytes(&bytes, name).map_err(LoadError::Bad)?;
    Ok(Loaded {
        file,
        digest,
        bytes,
        from_registry,
    })
}

/// The plan artifact `name` (pinned by digest) from its registry: its one layer.
async fn fetch(name: &str, registry: &RegistryArgs) -> Result<Vec<u8>, LoadError> {
    let reference = Reference::parse(name)
        .map_err(|e| LoadError::Bad(format!("{name}: not a plan reference: {}", e.reason())))?;
    let Some(digest) = reference.digest() else {
        return Err(LoadError::Bad(format!(
            "{name}: pin the plan by digest (REF@sha256:…, as `plan --push` prints it)"
        )));
    };
    let client = registry.target_client().map_err(LoadError::Bad)?;
    let store = RegistryStore::target(client);
    let repo = Repository::from_reference(&reference);
    let failed = |e: RegistryError| {
        let message = format!("{name}: reading the plan: {e}");
        if e.is_transient() || matches!(e, RegistryError::RetriesExhausted { .. }) {
            LoadError::Unreachable(message)
        } else {
            LoadError::Bad(message)
        }
    };
    let manifest = store
        .manifest_get(&repo, digest)
        .await
        .map_err(failed)?
        .ok_or_else(|| LoadError::Bad(format!("{name}: no such plan at its registry")))?;
    let layer = serde_json::from_slice::<serde_json::Value>(&manifest.bytes)
        .ok()
        .filter(|m| m["artifactType"] == MEDIA_TYPE)
        .and_then(|m| {
            let layer = &m["layers"][0];
            Some((
                layer["digest"].as_str()?.parse::<Digest>().ok()?,
                layer["size"].as_u64()?,
            ))
        })
        .ok_or_else(|| {
            LoadError::Bad(format!(
                "{name}: not a purser plan artifact (artifactType {MEDIA_TYPE} with one layer)"
            ))
        })?;
    let stream = store
        .blob_get(&repo, &layer.0, layer.1)
        .await
        .map_err(failed)?;
    let chunks: Vec<Bytes> = stream.try_collect().await.map_err(failed)?;
    Ok(chunks.concat())
}

/// Pushes `bytes` (a plan file) to `target` as an OCI artifact: the empty config, the plan
/// as its one layer, `artifactType` [`MEDIA_TYPE`]; tagged as `target` names it. The
/// artifact's reference pinned by digest.
pub async fn push(
    target: &Reference,
    bytes: Vec<u8>,
    registry: &RegistryArgs,
) -> Result<Reference, String> {
    let client = registry.target_client()?;
    let store = RegistryStore::target(client);
    let repo = Repository::from_reference(target);
    let layer = Digest::sha256(&bytes);
    let size = bytes.len();
    let failed = |e: RegistryError| format!("pushing the plan to {}: {e}", target.canonical());
    put_blob(&store, &repo, EMPTY_CONFIG.to_vec())
        .await
        .map_err(failed)?;
    put_blob(&store, &repo, bytes).await.map_err(failed)?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MEDIA_TYPE,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": Digest::sha256(EMPTY_CONFIG),
            "size": EMPTY_CONFIG.len(),
        },
        "layers": [{
            "mediaType": MEDIA_TYPE,
            "digest": layer,
            "size": size,
            "annotations": { "org.opencontainers.image.title": "plan.json" },
        }],
    }))
    .expect("a manifest serialises");
    let digest = Digest::sha256(&manifest);
    let tag = target.tag().unwrap_or(digest.as_str());
    store
        .manifest_put(&repo, tag, OCI_MANIFEST, Bytes::from(manifest))
        .await
        .map_err(failed)?;
    target
        .with_digest(digest.as_str())
        .map_err(|e| format!("{}: {}", target.canonical(), e.reason()))
}

/// The carried blobs as `{digest: base64}`.
mod local_blobs {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use purser::digest::Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        blobs: &BTreeMap<Digest, Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(blobs.iter().map(|(d, b)| (d.as_str(), STANDARD.encode(b))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<Digest, Vec<u8>>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(deserializer)?;
        text.into_iter()
            .map(|(d, b)| {
                let digest = d.parse::<Digest>().map_err(serde::de::Error::custom)?;
                let bytes = STANDARD.decode(b).map_err(serde::de::Error::custom)?;
                Ok((digest, bytes))
            })
            .collect()
    }
}
