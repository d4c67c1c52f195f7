//! Reading manifests: [`Manifest`], built by [`parse_manifest`] from a manifest's bytes and the
//! media type the registry served it with, and the [`Descriptor`]s it names. Unknown fields
//! are ignored, and nothing here writes a manifest back out.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::PlanError;
use crate::digest::Digest;

/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker manifest list (schema 2), the Docker predecessor of the OCI index.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The short-lived OCI 1.1 release-candidate artifact manifest; some registries still hold it.
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";
/// The pre-defined OCI annotation keys (image-spec `annotations.md`) purser writes and reads.
pub mod annotation {
    pub const TITLE: &str = "org.opencontainers.image.title";
    pub const VERSION: &str = "org.opencontainers.image.version";
    pub const DESCRIPTION: &str = "org.opencontainers.image.description";
    pub const URL: &str = "org.opencontainers.image.url";
    pub const SOURCE: &str = "org.opencontainers.image.source";
    pub const AUTHORS: &str = "org.opencontainers.image.authors";
    pub const CREATED: &str = "org.opencontainers.image.created";
    pub const REVISION: &str = "org.opencontainers.image.revision";
    pub const LICENSES: &str = "org.opencontainers.image.licenses";
}

/// The OCI empty descriptor's media type: the config of an artifact that needs none.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty descriptor's content.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// Config media types of runnable images; any other config type makes a manifest an artifact.
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// Layer media types a registry need not hold: with `urls`, the blob lives elsewhere.
const NON_DISTRIBUTABLE: [&str; 4] = [
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
];

/// Whether `media_type` is an index (OCI index or Docker manifest list).
#[must_use]
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// The platform of an index entry. Other platform fields (`os.version`, `os.features`) are
/// not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The variant, treating an empty one as none.
    #[must_use]
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref().filter(|v| !v.is_empty())
    }
}

impl fmt::Display for Platform {
    /// `os/architecture[/variant]`, e.g. `linux/arm/v7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = self.variant() {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An OCI content descriptor: what a manifest says about a blob or another manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Required by the spec; an absent one reads as empty rather than failing the copy.
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// A descriptor with only the required fields.
    #[must_use]
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            urls: Vec::new(),
            artifact_type: None,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Whether the blob need not be copied: a non-distributable (foreign) layer served from
    /// its `urls`, which registries neither hold nor accept.
    #[must_use]
    pub fn is_foreign(&self) -> bool {
        !self.urls.is_empty() && NON_DISTRIBUTABLE.contains(&self.media_type.as_str())
    }
}

/// A parsed manifest: what it points to, nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one manifest is parsed at a time and never stored in bulk; boxing the config \
              would only make it clumsier to read"
)]
pub enum Manifest {
    /// An OCI index or Docker manifest list.
    Index {
        manifests: Vec<Descriptor>,
        subject: Option<Descriptor>,
        artifact_type: Option<String>,
        annotations: BTreeMap<String, String>,
    },
    /// An OCI or Docker image manifest, or an OCI artifact manifest (whose `blobs` are its
    /// layers and which has no config).
    Image {
        config: Option<Descriptor>,
        layers: Vec<Descriptor>,
        subject: Option<Descriptor>,
        /// `artifactType`, else the config media type when it is not an image config (e.g.
        /// `application/vnd.cncf.helm.config.v1+json` for a Helm chart).
        artifact_type: Option<String>,
        annotations: BTreeMap<String, String>,
    },
}

impl Manifest {
    #[must_use]
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Index { subject, .. } | Manifest::Image { subject, .. } => subject.as_ref(),
        }
    }

    #[must_use]
    pub fn artifact_type(&self) -> Option<&str> {
        match self {
            Manifest::Index { artifact_type, .. } | Manifest::Image { artifact_type, .. } => {
                artifact_type.as_deref()
            }
        }
    }

    #[must_use]
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        match self {
            Manifest::Index { annotations, .. } | Manifest::Image { annotations, .. } => {
                annotations
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIndex {
    manifests: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawImage {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtifact {
    #[serde(default)]
    blobs: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Parses manifest `bytes` served as `media_type` (one of the five constants of this module).
/// The error names neither registry nor digest; [`PlanBuilder`](super::PlanBuilder) adds them.
pub fn parse_manifest(bytes: &[u8], media_type: &str) -> Result<Manifest, PlanError> {
    let bad = |e: serde_json::Error| PlanError::BadManifest {
        source: None,
        digest: None,
        media_type: media_type.to_owned(),
        detail: e.to_string(),
    };
    match media_type {
        OCI_INDEX | DOCKER_LIST => {
            let raw: RawIndex = serde_json::from_slice(bytes).map_err(bad)?;
            Ok(Manifest::Index {
                manifests: raw.manifests,
                subject: raw.subject,
                artifact_type: raw.artifact_type,
                annotations: raw.annotations,
            })
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let raw: RawImage = serde_json::from_slice(bytes).map_err(bad)?;
            let artifact_type = raw.artifact_type.or_else(|| {
                (!IMAGE_CONFIGS.contains(&raw.config.media_type.as_str()))
                    .then(|| raw.config.media_type.clone())
            });
            Ok(Manifest::Image {
                config: Some(raw.config),
                layers: raw.layers,
                subject: raw.subject,
                artifact_type,
                annotations: raw.annotations,
            })
        }
        OCI_ARTIFACT_MANIFEST => {
            let raw: RawArtifact = serde_json::from_slice(bytes).map_err(bad)?;
            Ok(Manifest::Image {
                config: None,
                layers: raw.blobs,
                subject: raw.subject,
                artifact_type: raw.artifact_type,
                annotations: raw.annotations,
            })
        }
        other => Err(PlanError::UnsupportedMediaType {
            media_type: other.to_owned(),
        }),
    }
}
