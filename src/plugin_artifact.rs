//! A Helm 4 plugin package as `helm plugin install oci://REGISTRY/REPO/NAME:VERSION` pulls it:
//! [`PluginArtifact`], built by [`PluginArtifact::build`] from the package (`NAME-VERSION.tgz`)
//! and its provenance file (`NAME-VERSION.tgz.prov`), if any.
//!
//! Helm has no `helm plugin push`; what it pulls is fixed by Helm v4's `pkg/registry/plugin.go`
//! (`PullPlugin`) and `internal/plugin/installer/oci_installer.go`:
//!
//! - an OCI image manifest whose `artifactType` is `application/vnd.helm.plugin.v1+json`, with
//!   the empty config (`application/vnd.oci.empty.v1+json`, `{}`);
//! - the package as a layer titled (`org.opencontainers.image.title`) `NAME-VERSION.tgz`, where
//!   NAME is the last path segment of the repository, and the provenance as a layer titled
//!   `NAME-VERSION.tgz.prov`;
//! - layer media types `application/vnd.oci.image.layer.v1.tar+gzip` (the package) and
//!   `application/vnd.oci.image.layer.v1.tar` (the provenance): Helm pulls only layers of those
//!   two types, so a provenance layer of any other type makes the whole install fail.
//!
//! Helm then checks the provenance against `NAME-VERSION.tgz` from the package's own
//! `plugin.yaml`, so [`PluginArtifact::build`] refuses, before anything is pushed, what Helm
//! would refuse after: a package without a Helm 4 `plugin.yaml`, a provenance file that names
//! another file or another checksum.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::Serialize;

use crate::bundle::tar::{self, TarError};
use crate::digest::Digest;
use crate::plan::{Descriptor, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, OCI_MANIFEST, annotation};
use crate::yaml;

/// The artifact type of a Helm plugin.
pub const ARTIFACT_TYPE: &str = "application/vnd.helm.plugin.v1+json";
/// The media type of the package layer.
pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The media type of the provenance layer (Helm pulls no other type).
pub const PROVENANCE_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// Most bytes a package may expand to (a plugin with static binaries for a few platforms).
const MAX_UNPACKED: u64 = 1 << 30;

/// A plugin package ready to push: the manifest's bytes and the blobs it names. The blobs'
/// bytes are the empty config ([`EMPTY_CONFIG`]), the package and the provenance file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginArtifact {
    /// `name` and `version` of the package's `plugin.yaml`.
    pub name: String,
    pub version: String,
    /// The tag it goes under: the version, `+` written `_` (a tag cannot hold `+`; Helm does
    /// the same for charts).
    pub tag: String,
    /// The layer file name: `NAME-VERSION.tgz`.
    pub file_name: String,
    pub config: Descriptor,
    pub package: Descriptor,
    pub provenance: Option<Descriptor>,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

/// Why a file cannot be pushed as a Helm 4 plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginArtifactError {
    /// Not gzip, or a damaged gzip stream.
    NotGzip { detail: String },
    /// The tar inside is damaged or holds what a package must not (links, `..`).
    Tar(TarError),
    /// More than [`MAX_UNPACKED`] bytes once decompressed.
    TooLarge,
    /// No `plugin.yaml` at the root or in the one top-level directory.
    NoMetadata,
    /// `plugin.yaml` in more than one place.
    ManyMetadata { paths: Vec<String> },
    /// A legacy (Helm 3) plugin: no `apiVersion`. Helm 3 cannot install from a registry.
    Legacy { name: String },
    /// `plugin.yaml` is not YAML, or a field is missing or invalid.
    Metadata { detail: String },
    /// The provenance file is not for this package.
    Provenance { detail: String },
}

impl fmt::Display for PluginArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginArtifactError::NotGzip { detail } => write!(
                f,
                "not a plugin package: a package is a gzip-compressed tar ({detail})"
            ),
            PluginArtifactError::Tar(e) => write!(f, "not a usable plugin package: {e}"),
            PluginArtifactError::TooLarge => write!(
                f,
                "not a plugin package: it expands to more than {MAX_UNPACKED} bytes"
            ),
            PluginArtifactError::NoMetadata => write!(
                f,
                "not a plugin package: no plugin.yaml at its root or in its top-level directory \
                 (make it with scripts/package.sh or `helm plugin package`)"
            ),
            PluginArtifactError::ManyMetadata { paths } => write!(
                f,
                "not one plugin: plugin.yaml is in {}; package one plugin per file",
                paths.join(", ")
            ),
            PluginArtifactError::Legacy { name } => write!(
                f,
                "{name} is a Helm 3 (legacy) plugin, and Helm 3 cannot install plugins from a \
                 registry: publish it as a file (https://, or a path) instead"
            ),
            PluginArtifactError::Metadata { detail } => {
                write!(f, "plugin.yaml is not valid: {detail}")
            }
            PluginArtifactError::Provenance { detail } => write!(
                f,
                "the provenance file is not for this package: {detail}; `helm plugin install` \
                 would refuse it, so sign the package again"
            ),
        }
    }
}

impl std::error::Error for PluginArtifactError {}

impl From<TarError> for PluginArtifactError {
    fn from(e: TarError) -> PluginArtifactError {
        PluginArtifactError::Tar(e)
    }
}

/// What Helm reads of `plugin.yaml` to name the package.
struct Metadata {
    name: String,
    version: String,
    description: Option<String>,
}

impl PluginArtifact {
    /// The artifact of the package `package` (a `.tgz`) and its `provenance` file.
    /// Deterministic: the same inputs give the same bytes.
    pub fn build(
        package: &[u8],
        provenance: Option<&[u8]>,
    ) -> Result<PluginArtifact, PluginArtifactError> {
        let metadata = read_metadata(package)?;
        let file_name = format!("{}-{}.tgz", metadata.name, metadata.version);
        let package_digest = Digest::sha256(package);
        if let Some(prov) = provenance {
            check_provenance(prov, &file_name, &package_digest)?;
        }
        let titled = |media_type: &str, bytes: &[u8], title: String| {
            let mut d = Descriptor::new(media_type, Digest::sha256(bytes), len(bytes));
            d.annotations.insert(annotation::TITLE.to_owned(), title);
            d
        };
        let config = Descriptor::new(EMPTY_MEDIA_TYPE, Digest::sha256(EMPTY_CONFIG), 2);
        let package = titled(PACKAGE_MEDIA_TYPE, package, file_name.clone());
        let provenance =
            provenance.map(|p| titled(PROVENANCE_MEDIA_TYPE, p, format!("{file_name}.prov")));
        let mut annotations = BTreeMap::from([
            (annotation::TITLE, metadata.name.clone()),
            (annotation::VERSION, metadata.version.clone()),
        ]);
        if let Some(description) = &metadata.description {
            annotations.insert(annotation::DESCRIPTION, description.clone());
        }
        let manifest = serde_json::to_vec(&Manifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            artifact_type: ARTIFACT_TYPE,
            config: &config,
            layers: std::iter::once(&package).chain(&provenance).collect(),
            annotations,
        })
        .expect("a manifest serialises");
        Ok(PluginArtifact {
            tag: metadata.version.replace('+', "_"),
            name: metadata.name,
            version: metadata.version,
            file_name,
            config,
            package,
            provenance,
            manifest_digest: Digest::sha256(&manifest),
            manifest,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    artifact_type: &'a str,
    config: &'a Descriptor,
    layers: Vec<&'a Descriptor>,
    annotations: BTreeMap<&'a str, String>,
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// `plugin.yaml` of the package: at its root, or in its one top-level directory (Helm 4's
/// layout, `NAME/plugin.yaml`).
fn read_metadata(package: &[u8]) -> Result<Metadata, PluginArtifactError> {
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(package)
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut tar_bytes)
        .map_err(|e| PluginArtifactError::NotGzip {
            detail: e.to_string(),
        })?;
    if len(&tar_bytes) > MAX_UNPACKED {
        return Err(PluginArtifactError::TooLarge);
    }
    let members = tar::members(len(&tar_bytes), |offset, n| {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(tar_bytes.len());
        let end = start.saturating_add(n).min(tar_bytes.len());
        Ok(tar_bytes[start..end].to_vec())
    })?;
    let found: Vec<_> = members
        .iter()
        .filter(|m| {
            let mut parts = m.name.split('/');
            matches!(
                (parts.next(), parts.next(), parts.next()),
                (Some("plugin.yaml"), None, _) | (Some(_), Some("plugin.yaml"), None)
            )
        })
        .collect();
    let member = match found.as_slice() {
        [] => return Err(PluginArtifactError::NoMetadata),
        [one] => one,
        many => {
            return Err(PluginArtifactError::ManyMetadata {
                paths: many.iter().map(|m| m.name.clone()).collect(),
            });
        }
    };
    let start = usize::try_from(member.offset).unwrap_or(usize::MAX);
    let end = start.saturating_add(usize::try_from(member.size).unwrap_or(usize::MAX));
    let text = tar_bytes
        .get(start..end)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| PluginArtifactError::Metadata {
            detail: format!("{} is not UTF-8 text", member.name),
        })?;
    parse_metadata(text, &member.name)
}

fn parse_metadata(text: &str, path: &str) -> Result<Metadata, PluginArtifactError> {
    let invalid = |detail: String| PluginArtifactError::Metadata {
        detail: format!("{path}: {detail}"),
    };
    let root = yaml::parse_one(text, 1).map_err(|e| invalid(e.to_string()))?;
    let field = |key: &str| root.get(key).and_then(|n| n.as_text()).map(str::to_owned);
    let name = field("name").ok_or_else(|| invalid("no `name`".into()))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(format!(
            "name {name:?} is not a plugin name (letters, digits, `_` and `-`)"
        )));
    }
    if root.get("apiVersion").is_none() {
        return Err(PluginArtifactError::Legacy { name });
    }
    let version = field("version").ok_or_else(|| invalid("no `version`".into()))?;
    let tag_ok = !version.is_empty()
        && version.len() <= 128
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
        && !version.starts_with(['.', '-']);
    if !tag_ok {
        return Err(invalid(format!(
            "version {version:?} cannot be a registry tag (use a semantic version)"
        )));
    }
    let description = root
        .path(&["config", "shortHelp"])
        .and_then(|n| n.as_text())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(Metadata {
        name,
        version,
        description,
    })
}

/// The clear-signed text of a `.prov` must list `file_name: sha256:HEX` with the package's
/// digest (Helm checks the signature too, with the user's keyring; that is not done here).
fn check_provenance(
    prov: &[u8],
    file_name: &str,
    package: &Digest,
) -> Result<(), PluginArtifactError> {
    let text = std::str::from_utf8(prov).map_err(|_| PluginArtifactError::Provenance {
        detail: "it is not text".into(),
    })?;
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(PluginArtifactError::Provenance {
            detail: "it is not an OpenPGP clear-signed message".into(),
        });
    }
    let signed = text
        .split("-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap_or_default();
    let mut in_files = false;
    let mut listed = Vec::new();
    for line in signed.lines() {
        if line == "files:" {
            in_files = true;
            continue;
        }
        if in_files {
            match line.strip_prefix("  ").and_then(|l| l.split_once(": ")) {
                Some((name, sum)) => listed.push((name.trim(), sum.trim())),
                None => in_files = false,
            }
        }
    }
    match listed.iter().find(|(name, _)| *name == file_name) {
        Some((_, sum)) if *sum == package.to_string() => Ok(()),
        Some((_, sum)) => Err(PluginArtifactError::Provenance {
            detail: format!("it records {file_name} as {sum}, the package is {package}"),
        }),
        None => Err(PluginArtifactError::Provenance {
            detail: format!(
                "it lists {}, not {file_name}",
                if listed.is_empty() {
                    "no files".to_owned()
                } else {
                    listed
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::tar::{member_header, padding};

    /// A gzip-compressed tar of `files` (name, text).
    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, text) in files {
            tar.extend(member_header(name, text.len() as u64, 0));
            tar.extend(text.as_bytes());
            tar.extend(std::iter::repeat_n(0u8, padding(text.len() as u64)));
        }
        tar.extend([0u8; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    const HELM4: &str = "apiVersion: v1\nname: mirror\ntype: cli/v1\nruntime: subprocess\n\
                         version: 1.2.0+build.3\nconfig:\n  shortHelp: Copy charts\n";

    fn prov(file: &str, sum: &str) -> Vec<u8> {
        format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: mirror\n...\nfiles:\n  \
             {file}: {sum}\n-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----\n"
        )
        .into_bytes()
    }

    #[test]
    fn the_manifest_is_what_helm_pulls() {
        let package = tgz(&[("mirror/plugin.yaml", HELM4), ("mirror/bin/x", "#!")]);
        let sum = Digest::sha256(&package).to_string();
        let prov = prov("mirror-1.2.0+build.3.tgz", &sum);
        let a = PluginArtifact::build(&package, Some(&prov)).unwrap();
        assert_eq!(
            (a.name.as_str(), a.version.as_str(), a.tag.as_str()),
            ("mirror", "1.2.0+build.3", "1.2.0_build.3")
        );
        let m: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["artifactType"], ARTIFACT_TYPE);
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        assert_eq!(m["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let layers = m["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0]["mediaType"], PACKAGE_MEDIA_TYPE);
        assert_eq!(layers[0]["digest"], sum.as_str());
        assert_eq!(
            layers[0]["annotations"][annotation::TITLE],
            "mirror-1.2.0+build.3.tgz"
        );
        assert_eq!(layers[1]["mediaType"], PROVENANCE_MEDIA_TYPE);
        assert_eq!(
            layers[1]["annotations"][annotation::TITLE],
            "mirror-1.2.0+build.3.tgz.prov"
        );
        assert_eq!(m["annotations"][annotation::DESCRIPTION], "Copy charts");
        assert_eq!(a.manifest_digest, Digest::sha256(&a.manifest));
        // Deterministic.
        assert_eq!(PluginArtifact::build(&package, Some(&prov)).unwrap(), a);
        // Without provenance: one layer.
        let bare = PluginArtifact::build(&package, None).unwrap();
        assert!(bare.provenance.is_none());
        assert_ne!(bare.manifest_digest, a.manifest_digest);
    }

    #[test]
    fn plugin_yaml_at_the_root_is_read_too() {
        let a = PluginArtifact::build(&tgz(&[("plugin.yaml", HELM4)]), None).unwrap();
        assert_eq!(a.file_name, "mirror-1.2.0+build.3.tgz");
    }

    #[test]
    fn what_helm_would_refuse_is_refused_first() {
        let package = tgz(&[("mirror/plugin.yaml", HELM4)]);
        let sum = Digest::sha256(&package).to_string();
        let e =
            |package: &[u8], prov: Option<&[u8]>| PluginArtifact::build(package, prov).unwrap_err();
        assert!(matches!(
            e(b"plain text", None),
            PluginArtifactError::NotGzip { .. }
        ));
        assert_eq!(
            e(&tgz(&[("mirror/README.md", "x")]), None),
            PluginArtifactError::NoMetadata
        );
        assert!(matches!(
            e(
                &tgz(&[("a/plugin.yaml", HELM4), ("b/plugin.yaml", HELM4)]),
                None
            ),
            PluginArtifactError::ManyMetadata { .. }
        ));
        assert_eq!(
            e(
                &tgz(&[("plugin.yaml", "name: images\nversion: 0.1.0\n")]),
                None
            ),
            PluginArtifactError::Legacy {
                name: "images".into()
            }
        );
        let bad = e(
            &tgz(&[("p/plugin.yaml", "apiVersion: v1\nname: a/b\nversion: 1\n")]),
            None,
        );
        assert!(
            bad.to_string().contains("p/plugin.yaml: name \"a/b\""),
            "{bad}"
        );
        let bad = e(
            &tgz(&[("p/plugin.yaml", "apiVersion: v1\nname: p\nversion: 1 2\n")]),
            None,
        );
        assert!(
            bad.to_string().contains("cannot be a registry tag"),
            "{bad}"
        );
        // Provenance for another file, or another checksum.
        let other = e(&package, Some(&prov("images-0.1.0.tgz", &sum)));
        assert!(
            other
                .to_string()
                .contains("it lists images-0.1.0.tgz, not mirror-1.2.0+build.3.tgz"),
            "{other}"
        );
        let wrong = e(
            &package,
            Some(&prov("mirror-1.2.0+build.3.tgz", "sha256:00")),
        );
        assert!(wrong.to_string().contains("records"), "{wrong}");
        assert!(matches!(
            e(&package, Some(b"files:\n")),
            PluginArtifactError::Provenance { .. }
        ));
    }

    #[test]
    fn links_in_a_package_are_refused() {
        // A tar member header with typeflag '2' (symlink).
        let mut header = member_header("p/plugin.yaml", 0, 0);
        header[156] = b'2';
        let sum: u32 = header[..512]
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(*b)
                }
            })
            .sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        header.extend([0u8; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &header).unwrap();
        let e = PluginArtifact::build(&gz.finish().unwrap(), None).unwrap_err();
        assert!(matches!(e, PluginArtifactError::Tar(_)), "{e:?}");
    }
}
