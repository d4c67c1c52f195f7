//! A packaged chart as `helm push` stores it in an OCI registry: [`ChartArtifact`], built by
//! [`ChartArtifact::build`] from the chart archive (and its `.prov` file, if any).
//!
//! This mirrors Helm v4's `pkg/registry` (`Client.Push`):
//!
//! - the config blob (`application/vnd.cncf.helm.config.v1+json`) is `json.Marshal` of the
//!   chart's metadata: Go's field order (name, home, sources, version, description, keywords,
//!   maintainers, icon, apiVersion, condition, tags, appVersion, deprecated, annotations,
//!   kubeVersion, dependencies, type), empty fields left out, strings sanitised as Helm's
//!   loader does and `<`, `>`, `&`, U+2028, U+2029 escaped as Go escapes them;
//! - the chart layer (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`) is the archive,
//!   byte for byte, and the provenance layer (`application/vnd.cncf.helm.chart.provenance.v1.prov`)
//!   the `.prov` file; layers are sorted by digest, as Helm sorts them;
//! - the manifest is an OCI image manifest with Helm's `org.opencontainers.image.*`
//!   annotations: `title` (name), `version`, `description`, `url` (home), `source` (first
//!   source), `authors` (maintainers as `name (email), …`) and `created`, each only when not
//!   blank, then the chart's own annotations (which may replace any of these but title and
//!   version).
//!
//! Two things differ from `helm push`. `created` is the modification time of `Chart.yaml`
//! inside the archive (which `helm package` sets to the file's own time), in UTC, where
//! `helm push` takes the archive file's modification time on disk: so one archive always gives
//! one manifest digest, on any machine, at any time. And the manifest carries `mediaType`,
//! which the OCI spec asks for and Helm leaves out.
//!
//! The archive is read and checked with [`crate::chart::load_archive`] (default limits), as
//! `helm push` loads it before pushing; the fields purser's chart model does not keep are then
//! read from the raw `Chart.yaml` (and `requirements.yaml`, whose dependencies win, as Helm's).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::chart::{self, ChartError, Limits};
use crate::digest::Digest;
use crate::plan::{Descriptor, OCI_MANIFEST, annotation};

/// The media type of the chart metadata config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// The media type of the chart archive layer.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The media type of the provenance file layer.
pub const PROVENANCE_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// A chart ready to push: every blob's descriptor and the manifest's bytes. The blobs' bytes
/// are `config`, the archive and the provenance file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartArtifact {
    /// The chart's name and version, from `Chart.yaml`.
    pub name: String,
    pub version: String,
    /// The config blob.
    pub config: Vec<u8>,
    pub config_descriptor: Descriptor,
    /// The chart layer (the archive).
    pub chart: Descriptor,
    /// The provenance layer, when a `.prov` file was given.
    pub provenance: Option<Descriptor>,
    /// The layers in manifest order (sorted by digest, as Helm writes them).
    pub layers: Vec<Descriptor>,
    /// The manifest bytes to push.
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

/// Why a chart archive cannot be made into an OCI artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartArtifactError {
    /// The archive is not a chart Helm would push.
    Chart(ChartError),
    /// `Chart.yaml` (or `requirements.yaml`) holds a field of the wrong shape.
    Metadata { file: String, detail: String },
}

impl fmt::Display for ChartArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChartArtifactError::Chart(e) => write!(f, "cannot push this chart: {e}"),
            ChartArtifactError::Metadata { file, detail } => write!(
                f,
                "cannot push this chart: {file} is not valid: {detail}; fix it and package the \
                 chart again"
            ),
        }
    }
}

impl std::error::Error for ChartArtifactError {}

impl From<ChartError> for ChartArtifactError {
    fn from(e: ChartError) -> ChartArtifactError {
        ChartArtifactError::Chart(e)
    }
}

impl ChartArtifact {
    /// The artifact `helm push` would make of `archive` (a packaged chart, `.tgz`) and its
    /// `provenance` file. Deterministic: the same inputs give the same bytes.
    pub fn build(
        archive: &[u8],
        provenance: Option<&[u8]>,
    ) -> Result<ChartArtifact, ChartArtifactError> {
        let loaded = chart::load_archive(archive, &Limits::default())?;
        let raw = RootFiles::read(archive)?;
        let mut extra: RawChartYaml =
            parse_yaml(&raw.chart_yaml, "Chart.yaml")?.unwrap_or_default();
        let own = extra.dependencies.take();
        let dependencies = match &raw.requirements {
            Some(text) => parse_yaml::<RawRequirements>(text, "requirements.yaml")?
                .and_then(|r| r.dependencies)
                .or(own),
            None => own,
        };
        let metadata = HelmMetadata::new(&loaded.metadata, extra, dependencies)?;

        let config = go_json(&metadata);
        let config_descriptor =
            Descriptor::new(CONFIG_MEDIA_TYPE, Digest::sha256(&config), len(&config));
        let chart = Descriptor::new(
            CHART_LAYER_MEDIA_TYPE,
            Digest::sha256(archive),
            len(archive),
        );
        let provenance = provenance
            .map(|p| Descriptor::new(PROVENANCE_LAYER_MEDIA_TYPE, Digest::sha256(p), len(p)));
        let mut layers: Vec<Descriptor> = std::iter::once(chart.clone())
            .chain(provenance.clone())
            .collect();
        layers.sort_by(|a, b| a.digest.cmp(&b.digest));

        let manifest = go_json(&OciManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: (&config_descriptor).into(),
            layers: layers.iter().map(ManifestDescriptor::from).collect(),
            annotations: annotations(
                &metadata,
                &crate::lock::rfc3339(i64::try_from(raw.chart_yaml_mtime).unwrap_or(i64::MAX)),
            ),
        });
        Ok(ChartArtifact {
            name: metadata.name.to_owned(),
            version: metadata.version.to_owned(),
            manifest_digest: Digest::sha256(&manifest),
            config,
            config_descriptor,
            chart,
            provenance,
            layers,
            manifest,
        })
    }

    /// The tag Helm pushes the chart under: its version, `+` written `_` (tags cannot hold `+`).
    #[must_use]
    pub fn tag(&self) -> String {
        self.version.replace('+', "_")
    }

    /// The manifest's descriptor, with the config media type as its artifact type.
    #[must_use]
    pub fn manifest_descriptor(&self) -> Descriptor {
        Descriptor {
            artifact_type: Some(CONFIG_MEDIA_TYPE.to_owned()),
            ..Descriptor::new(
                OCI_MANIFEST,
                self.manifest_digest.clone(),
                len(&self.manifest),
            )
        }
    }
}

fn len(bytes: &[u8]) -> u64 {
    bytes.len() as u64
}

// ---------------------------------------------------------------------------------------------
// Reading the raw metadata files
// ---------------------------------------------------------------------------------------------

/// The root chart's `Chart.yaml` (text and modification time) and `requirements.yaml`.
struct RootFiles {
    chart_yaml: String,
    chart_yaml_mtime: u64,
    requirements: Option<String>,
}

impl RootFiles {
    /// Reads them from an archive [`chart::load_archive`] has accepted, so it is known to be
    /// within budget, free of links and rooted in one directory.
    fn read(archive: &[u8]) -> Result<RootFiles, ChartArtifactError> {
        if chart::is_gzip(archive) {
            RootFiles::read_tar(flate2::read::MultiGzDecoder::new(archive))
        } else {
            RootFiles::read_tar(archive)
        }
    }

    fn read_tar<R: Read>(reader: R) -> Result<RootFiles, ChartArtifactError> {
        let unreadable = |e: std::io::Error| {
            ChartError::new(format!(
                "chart archive cannot be read: {e}; package it again"
            ))
        };
        let mut chart_yaml = None;
        let mut requirements = None;
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(unreadable)? {
            let mut entry = entry.map_err(unreadable)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).replace('\\', "/");
            let parts: Vec<&str> = name
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            let file = match parts[..] {
                [_, "Chart.yaml"] => "Chart.yaml",
                [_, "requirements.yaml"] => "requirements.yaml",
                _ => continue,
            };
            let mtime = entry.header().mtime().unwrap_or(0);
            let mut data = Vec::new();
            entry
                .by_ref()
                .take(Limits::default().max_file_bytes)
                .read_to_end(&mut data)
                .map_err(unreadable)?;
            let content = utf8_text(data, file)?;
            if file == "Chart.yaml" {
                chart_yaml = Some((content, mtime));
            } else {
                requirements = Some(content);
            }
        }
        let Some((chart_yaml, chart_yaml_mtime)) = chart_yaml else {
            return Err(ChartError::new(
                "the chart archive has no Chart.yaml in its top-level directory; package the \
                 chart with `helm package`",
            )
            .into());
        };
        Ok(RootFiles {
            chart_yaml,
            chart_yaml_mtime,
            requirements,
        })
    }
}

/// UTF-8 text without a byte-order mark (the loader has already refused anything else).
fn utf8_text(mut data: Vec<u8>, file: &str) -> Result<String, ChartArtifactError> {
    if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
        data.drain(..3);
    }
    String::from_utf8(data).map_err(|_| ChartArtifactError::Metadata {
        file: file.to_owned(),
        detail: "it is not UTF-8 text".to_owned(),
    })
}

/// The `Chart.yaml` fields purser's chart model does not keep.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawChartYaml {
    home: Option<String>,
    sources: Option<Vec<Option<String>>>,
    description: Option<String>,
    keywords: Option<Vec<Option<String>>>,
    maintainers: Option<Vec<Option<RawMaintainer>>>,
    icon: Option<String>,
    condition: Option<String>,
    tags: Option<String>,
    deprecated: Option<bool>,
    kube_version: Option<String>,
    dependencies: Option<Vec<Option<RawDependency>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawMaintainer {
    name: Option<String>,
    email: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRequirements {
    dependencies: Option<Vec<Option<RawDependency>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawDependency {
    name: Option<String>,
    version: Option<String>,
    repository: Option<String>,
    condition: Option<String>,
    tags: Option<Vec<Option<String>>>,
    enabled: Option<bool>,
    #[serde(rename = "import-values")]
    import_values: Option<Vec<serde_json::Value>>,
    alias: Option<String>,
}

/// Parses a metadata file as the chart loader does (same budgets, last duplicated key wins).
fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<Option<T>, ChartArtifactError> {
    crate::chart::parse_metadata_yaml(text).map_err(|e| ChartArtifactError::Metadata {
        file: file.to_owned(),
        detail: e.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// The config blob
// ---------------------------------------------------------------------------------------------

/// Helm's `chart.Metadata` as `json.Marshal` writes it: fields in Go order, `omitempty`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HelmMetadata<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    home: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources: Vec<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keywords: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    maintainers: Vec<HelmMaintainer>,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    api_version: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    condition: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tags: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_version: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    deprecated: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    kube_version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<HelmDependency>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    chart_type: Option<&'a str>,
}

#[derive(Serialize)]
struct HelmMaintainer {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
}

/// Helm's `chart.Dependency`: `name` and `repository` are always written.
#[derive(Serialize)]
struct HelmDependency {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    repository: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    condition: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    enabled: bool,
    #[serde(rename = "import-values", skip_serializing_if = "Vec::is_empty")]
    import_values: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    alias: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl<'a> HelmMetadata<'a> {
    fn new(
        checked: &'a chart::Metadata,
        raw: RawChartYaml,
        dependencies: Option<Vec<Option<RawDependency>>>,
    ) -> Result<HelmMetadata<'a>, ChartArtifactError> {
        let strings = |list: Option<Vec<Option<String>>>| -> Vec<String> {
            list.unwrap_or_default()
                .into_iter()
                .map(|s| sanitize(&s.unwrap_or_default()))
                .collect()
        };
        let maintainers = raw
            .maintainers
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let m = m.ok_or_else(|| ChartArtifactError::Metadata {
                    file: "Chart.yaml".to_owned(),
                    detail: "maintainers must not contain empty or null entries".to_owned(),
                })?;
                Ok(HelmMaintainer {
                    name: sanitize_opt(m.name),
                    email: sanitize_opt(m.email),
                    url: sanitize_opt(m.url),
                })
            })
            .collect::<Result<Vec<_>, ChartArtifactError>>()?;
        // The chart loader has refused empty entries and bad aliases already.
        let dependencies = dependencies
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .map(|d| HelmDependency {
                name: sanitize_opt(d.name),
                version: sanitize_opt(d.version),
                repository: sanitize_opt(d.repository),
                condition: sanitize_opt(d.condition),
                tags: strings(d.tags),
                enabled: d.enabled.unwrap_or(false),
                import_values: d.import_values.unwrap_or_default(),
                alias: d.alias.unwrap_or_default(),
            })
            .collect();
        Ok(HelmMetadata {
            name: &checked.name,
            home: sanitize_opt(raw.home),
            sources: strings(raw.sources),
            version: &checked.version,
            description: sanitize_opt(raw.description),
            keywords: strings(raw.keywords),
            maintainers,
            icon: sanitize_opt(raw.icon),
            api_version: &checked.api_version,
            condition: sanitize_opt(raw.condition),
            tags: sanitize_opt(raw.tags),
            app_version: checked.app_version.as_deref(),
            deprecated: raw.deprecated.unwrap_or(false),
            annotations: &checked.annotations,
            kube_version: sanitize_opt(raw.kube_version),
            dependencies,
            chart_type: checked.chart_type.as_deref(),
        })
    }
}

/// Helm's `sanitizeString`: whitespace becomes a space, characters that do not print (control
/// and format characters) are dropped.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || is_format(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

fn sanitize_opt(s: Option<String>) -> String {
    s.map(|s| sanitize(&s)).unwrap_or_default()
}

/// The common Unicode format characters (category Cf), which Go does not count as printable.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

// ---------------------------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: ManifestDescriptor<'a>,
    layers: Vec<ManifestDescriptor<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// A descriptor as Go's `ocispec.Descriptor` writes it here: media type, digest, size.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDescriptor<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
}

impl<'a> From<&'a Descriptor> for ManifestDescriptor<'a> {
    fn from(d: &'a Descriptor) -> ManifestDescriptor<'a> {
        ManifestDescriptor {
            media_type: &d.media_type,
            digest: d.digest.as_str(),
            size: d.size,
        }
    }
}

/// Helm's `generateOCIAnnotations`: its own keys (set only when not blank), then the chart's
/// annotations, which may replace any key but title and version.
fn annotations(meta: &HelmMetadata<'_>, created: &str) -> BTreeMap<String, String> {
    let authors = meta
        .maintainers
        .iter()
        .map(|m| {
            if m.email.is_empty() {
                m.name.clone()
            } else {
                format!("{} ({})", m.name, m.email)
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let own = [
        (annotation::DESCRIPTION, meta.description.as_str()),
        (annotation::TITLE, meta.name),
        (annotation::VERSION, meta.version),
        (annotation::URL, meta.home.as_str()),
        (annotation::CREATED, created),
        (
            annotation::SOURCE,
            meta.sources.first().map_or("", String::as_str),
        ),
        (annotation::AUTHORS, authors.as_str()),
    ];
    let mut out: BTreeMap<String, String> = own
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    for (key, value) in meta.annotations {
        if key != annotation::TITLE && key != annotation::VERSION {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

/// JSON as Go's `json.Marshal` writes it: compact, with `<`, `>`, `&`, U+2028 and U+2029
/// escaped. Those characters only ever occur inside strings, so escaping them in the output
/// is escaping them in the strings.
fn go_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of strings, numbers and string-keyed maps always serialise.
    let json = serde_json::to_string(value).expect("chart metadata always serialises to JSON");
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Manifest, parse_manifest};
    use std::io::Write;

    const MTIME: u64 = 1_700_000_000;

    /// A gzip-compressed tar of `files` (paths include the chart's directory).
    fn archive(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_path(path).unwrap();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(MTIME);
            header.set_cksum();
            builder.append(&header, text.as_bytes()).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    const FULL: &str = "\
type: application
dependencies:
  - name: db
    repository: https://charts.example.com
    version: ~1.2
    import-values:
      - child: a
        parent: b
      - data
    tags: [backend]
    enabled: true
  - name: cache
    repository: \"\"
    alias: redis
kubeVersion: \">=1.25\"
annotations:
  team: web
  org.opencontainers.image.title: ignored
  org.opencontainers.image.url: https://override.example
appVersion: \"2.0\"
deprecated: false
icon: https://example.com/icon.png
maintainers:
  - name: Ann
    email: ann@example.com
  - name: Bob
keywords: [web, demo]
description: \"A <demo> & more\\tchart\"
version: 1.2.3+build.1
sources:
  - https://github.com/example/demo
home: https://example.com
name: demo
apiVersion: v2
notAHelmField: 1
";

    #[test]
    fn config_is_helm_metadata_json_in_go_order() {
        let tgz = archive(&[("demo/Chart.yaml", FULL), ("demo/values.yaml", "a: 1\n")]);
        let artifact = ChartArtifact::build(&tgz, None).unwrap();
        let expected = concat!(
            r#"{"name":"demo","home":"https://example.com","#,
            r#""sources":["https://github.com/example/demo"],"version":"1.2.3+build.1","#,
            r#""description":"A \u003cdemo\u003e \u0026 more chart","keywords":["web","demo"],"#,
            r#""maintainers":[{"name":"Ann","email":"ann@example.com"},{"name":"Bob"}],"#,
            r#""icon":"https://example.com/icon.png","apiVersion":"v2","appVersion":"2.0","#,
            r#""annotations":{"org.opencontainers.image.title":"ignored","#,
            r#""org.opencontainers.image.url":"https://override.example","team":"web"},"#,
            r#""kubeVersion":"\u003e=1.25","dependencies":["#,
            r#"{"name":"db","version":"~1.2","repository":"https://charts.example.com","#,
            r#""tags":["backend"],"enabled":true,"import-values":[{"child":"a","parent":"b"},"data"]},"#,
            r#"{"name":"cache","repository":"","alias":"redis"}],"type":"application"}"#
        );
        assert_eq!(
            String::from_utf8(artifact.config.clone()).unwrap(),
            expected
        );
        assert_eq!(artifact.config_descriptor.media_type, CONFIG_MEDIA_TYPE);
        assert_eq!(
            artifact.config_descriptor.digest,
            Digest::sha256(&artifact.config)
        );
        assert_eq!(
            artifact.config_descriptor.size,
            artifact.config.len() as u64
        );
        assert_eq!(
            (artifact.name.as_str(), artifact.version.as_str()),
            ("demo", "1.2.3+build.1")
        );
        assert_eq!(artifact.tag(), "1.2.3_build.1");
    }

    #[test]
    fn manifest_names_the_archive_byte_for_byte() {
        let tgz = archive(&[("demo/Chart.yaml", FULL)]);
        let artifact = ChartArtifact::build(&tgz, None).unwrap();
        assert_eq!(artifact.chart.media_type, CHART_LAYER_MEDIA_TYPE);
        assert_eq!(artifact.chart.digest, Digest::sha256(&tgz));
        assert_eq!(artifact.chart.size, tgz.len() as u64);
        assert_eq!(artifact.layers, vec![artifact.chart.clone()]);
        assert_eq!(artifact.provenance, None);
        assert_eq!(artifact.manifest_digest, Digest::sha256(&artifact.manifest));

        let manifest = parse_manifest(&artifact.manifest, OCI_MANIFEST).unwrap();
        let Manifest::Image {
            config,
            layers,
            artifact_type,
            annotations,
            subject,
        } = manifest
        else {
            panic!("a chart manifest is an image manifest");
        };
        assert_eq!(config, Some(artifact.config_descriptor.clone()));
        assert_eq!(layers, artifact.layers);
        assert_eq!(artifact_type.as_deref(), Some(CONFIG_MEDIA_TYPE));
        assert_eq!(subject, None);
        let expected: BTreeMap<String, String> = [
            (annotation::AUTHORS, "Ann (ann@example.com), Bob"),
            (annotation::CREATED, "2023-11-14T22:13:20Z"),
            (annotation::DESCRIPTION, "A <demo> & more chart"),
            (annotation::SOURCE, "https://github.com/example/demo"),
            (annotation::TITLE, "demo"),
            (annotation::URL, "https://override.example"),
            (annotation::VERSION, "1.2.3+build.1"),
            ("team", "web"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(annotations, expected);

        let text = String::from_utf8(artifact.manifest.clone()).unwrap();
        assert!(
            text.starts_with(&format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{CONFIG_MEDIA_TYPE}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{CHART_LAYER_MEDIA_TYPE}","#,
                artifact.config_descriptor.digest, artifact.config_descriptor.size
            )),
            "{text}"
        );
        let descriptor = artifact.manifest_descriptor();
        assert_eq!(descriptor.digest, artifact.manifest_digest);
        assert_eq!(descriptor.artifact_type.as_deref(), Some(CONFIG_MEDIA_TYPE));
    }

    #[test]
    fn building_twice_gives_the_same_digest() {
        let tgz = archive(&[("demo/Chart.yaml", FULL)]);
        let prov = b"-----BEGIN PGP SIGNED MESSAGE-----\n...".as_slice();
        let a = ChartArtifact::build(&tgz, Some(prov)).unwrap();
        let b = ChartArtifact::build(&tgz, Some(prov)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.manifest_digest, b.manifest_digest);
    }

    #[test]
    fn provenance_is_a_second_layer_sorted_by_digest() {
        let tgz = archive(&[(
            "demo/Chart.yaml",
            "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
        )]);
        let prov = b"signed".as_slice();
        let artifact = ChartArtifact::build(&tgz, Some(prov)).unwrap();
        let provenance = artifact.provenance.clone().unwrap();
        assert_eq!(provenance.media_type, PROVENANCE_LAYER_MEDIA_TYPE);
        assert_eq!(provenance.digest, Digest::sha256(prov));
        assert_eq!(artifact.layers.len(), 2);
        assert!(artifact.layers[0].digest < artifact.layers[1].digest);
        assert!(artifact.layers.contains(&artifact.chart));
        assert!(artifact.layers.contains(&provenance));
        let Manifest::Image { layers, .. } =
            parse_manifest(&artifact.manifest, OCI_MANIFEST).unwrap()
        else {
            panic!("a chart manifest is an image manifest");
        };
        assert_eq!(layers, artifact.layers);
    }

    #[test]
    fn minimal_chart_writes_only_what_it_has() {
        let tgz = archive(&[("mini/Chart.yaml", "name: mini\nversion: 0.1.0\n")]);
        let artifact = ChartArtifact::build(&tgz, None).unwrap();
        assert_eq!(
            String::from_utf8(artifact.config).unwrap(),
            r#"{"name":"mini","version":"0.1.0","apiVersion":"v1"}"#
        );
        let text = String::from_utf8(artifact.manifest).unwrap();
        assert!(text.ends_with(r#""annotations":{"org.opencontainers.image.created":"2023-11-14T22:13:20Z","org.opencontainers.image.title":"mini","org.opencontainers.image.version":"0.1.0"}}"#), "{text}");
    }

    #[test]
    fn requirements_yaml_supplies_v1_dependencies() {
        let tgz = archive(&[
            (
                "old/Chart.yaml",
                "apiVersion: v1\nname: old\nversion: 1.0.0\n",
            ),
            (
                "old/requirements.yaml",
                "dependencies:\n- name: dep\n  version: 1.0.0\n  repository: https://r.example\n",
            ),
        ]);
        let artifact = ChartArtifact::build(&tgz, None).unwrap();
        assert_eq!(
            String::from_utf8(artifact.config).unwrap(),
            r#"{"name":"old","version":"1.0.0","apiVersion":"v1","dependencies":[{"name":"dep","version":"1.0.0","repository":"https://r.example"}]}"#
        );
    }

    #[test]
    fn refuses_an_archive_without_chart_yaml() {
        let tgz = archive(&[("demo/values.yaml", "a: 1\n")]);
        let err = ChartArtifact::build(&tgz, None).unwrap_err();
        assert!(matches!(err, ChartArtifactError::Chart(_)));
        assert!(err.to_string().contains("Chart.yaml"), "{err}");
        assert!(ChartArtifact::build(b"not an archive", None).is_err());
    }

    #[test]
    fn refuses_null_maintainers() {
        let tgz = archive(&[(
            "demo/Chart.yaml",
            "apiVersion: v2\nname: demo\nversion: 0.1.0\nmaintainers:\n  - ~\n",
        )]);
        let err = ChartArtifact::build(&tgz, None).unwrap_err();
        assert!(matches!(err, ChartArtifactError::Metadata { .. }));
        assert!(err.to_string().contains("maintainers"), "{err}");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(crate::lock::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(crate::lock::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(crate::lock::rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn sanitize_like_helm() {
        assert_eq!(sanitize("a\tb\nc\u{0007}d\u{200B}e"), "a b cde");
    }
}
