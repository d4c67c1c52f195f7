//! A Helm chart ([`Chart`]) held in memory, read safely from bytes.
//!
//! [`load_archive`] reads a packaged chart (`.tgz`, or a plain `.tar`) and [`load_files`] reads a
//! chart directory the caller has already read into memory. Both follow Helm's chart loader
//! (`helm.sh/helm/v4/pkg/chart/v2/loader`): `Chart.yaml` is required, `values.yaml` and the
//! files under `templates/` are kept as text, `charts/*.tgz` are nested chart archives loaded
//! recursively, `charts/<name>/` directories are vendored subcharts, names under `charts/`
//! starting with `_` or `.` are skipped, a UTF-8 byte-order mark is dropped, an empty
//! `apiVersion` means `v1`, and `requirements.yaml` supplies the dependencies of old charts.
//!
//! Nothing here trusts the input. Links, device files, `..` components, absolute paths and
//! entries outside the archive's single top-level directory are refused; every byte that comes
//! out of a decompressor is counted against [`Limits`], so a decompression bomb stops at the
//! budget instead of exhausting memory; `Chart.yaml` is parsed with tight YAML budgets so an
//! alias bomb fails fast. Every failure is a [`ChartError`] that names the entry and says what
//! to do; nothing panics on bad input.
//!
//! The work is split by job: [`archive`] reads archive bytes safely (budgets, entry types,
//! path checks), `layout` says what each path in a chart is and whether any chart reads it,
//! [`assemble`] builds a [`Chart`] and its subcharts from the files read, and [`metadata`]
//! parses `Chart.yaml` and `requirements.yaml`.

mod archive;
mod assemble;
mod layout;
mod metadata;
#[cfg(test)]
mod test_archives;

use std::fmt;

pub use archive::{Limits, is_gzip, looks_like_tar};
pub(crate) use metadata::parse_metadata_yaml;
pub use metadata::{Dependency, Metadata};

use archive::Meter;

/// A chart and, recursively, its subcharts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// Where this chart sits, for provenance: the archive's top-level directory (for
    /// [`load_archive`]) or the chart's name (for [`load_files`]) at the root, then
    /// `<parent>/charts/<directory>` for a vendored subchart and `<parent>/charts/<file>.tgz`
    /// for a nested archive, e.g. `wordpress/charts/mariadb`.
    pub path: String,
    /// The parsed `Chart.yaml`.
    pub metadata: Metadata,
    /// The text of `values.yaml`, if the chart has one.
    pub values_yaml: Option<String>,
    /// `(path relative to this chart, text)` of every file under `templates/`, sorted by path.
    pub templates: Vec<(String, String)>,
    /// Subcharts from `charts/*.tgz` and `charts/<dir>/`, sorted by path.
    pub subcharts: Vec<Chart>,
}

impl Chart {
    /// The `Chart.yaml` dependency entry of this (parent) chart that declares `sub`, matched by
    /// chart name as Helm does. When several entries name the same chart (under different
    /// aliases) this is the first; see [`Chart::dependencies_for`].
    pub fn dependency_for(&self, sub: &Chart) -> Option<&Dependency> {
        self.metadata
            .dependencies
            .iter()
            .find(|d| d.name == sub.metadata.name)
    }

    /// Every `Chart.yaml` dependency entry of this chart that names `sub` (one per alias).
    pub fn dependencies_for<'a>(&'a self, sub: &'a Chart) -> impl Iterator<Item = &'a Dependency> {
        self.metadata
            .dependencies
            .iter()
            .filter(move |d| d.name == sub.metadata.name)
    }
}

/// Why a chart could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartError {
    message: String,
}

impl ChartError {
    pub fn new(message: impl Into<String>) -> Self {
        ChartError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ChartError {}

/// Read a packaged chart (`.tgz`, or an uncompressed `.tar`): one top-level directory holding
/// `Chart.yaml`, whose name is stripped from every path.
pub fn load_archive(bytes: &[u8], limits: &Limits) -> Result<Chart, ChartError> {
    let meter = Meter::new(*limits);
    assemble::load_archive_at(bytes, None, "chart archive", &meter, 0)
}

/// Read a chart directory already in memory: `(path relative to the chart root with '/'
/// separators, bytes)`. The same path checks and budgets apply as for archives.
pub fn load_files(files: Vec<(String, Vec<u8>)>, limits: &Limits) -> Result<Chart, ChartError> {
    let meter = Meter::new(*limits);
    let kept = archive::read_files(files, &meter)?;
    assemble::build_chart(None, kept, &meter, 0)
}

#[cfg(test)]
mod tests {
    use super::test_archives::chart_yaml;
    use super::*;

    #[test]
    fn load_files_normalizes_paths() {
        let cy = chart_yaml("c", "1.0.0");
        let c = load_files(
            vec![
                ("./Chart.yaml".into(), cy.clone().into_bytes()),
                ("templates\\a.yaml".into(), b"kind: A\n".to_vec()),
                (
                    "charts/sub/Chart.yaml".into(),
                    chart_yaml("sub", "0.0.1").into_bytes(),
                ),
                ("charts//sub/templates/b.yaml".into(), b"kind: B\n".to_vec()),
            ],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(c.templates[0].0, "templates/a.yaml");
        assert_eq!(c.subcharts[0].path, "c/charts/sub");
        assert_eq!(c.subcharts[0].templates[0].0, "templates/b.yaml");
        let err = load_files(
            vec![
                ("Chart.yaml".into(), cy.clone().into_bytes()),
                ("./Chart.yaml".into(), cy.into_bytes()),
            ],
            &Limits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("more than once"), "{err}");
    }

    /// Read a chart directory into memory (tests only: the library itself does no I/O).
    fn read_dir(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap();
                    let rel: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    out.push((rel.join("/"), std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out
    }

    fn top_level_field(chart_yaml: &str, key: &str) -> String {
        chart_yaml
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .unwrap_or_default()
    }

    #[test]
    fn loads_the_shared_chart_corpus() {
        let root = std::path::Path::new("/work/shared/charts");
        if !root.is_dir() {
            eprintln!("skipping: {} is absent", root.display());
            return;
        }
        let mut loaded = 0;
        let mut dirs: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        for dir in dirs {
            let Ok(cy) = std::fs::read_to_string(dir.join("Chart.yaml")) else {
                continue;
            };
            let chart = load_files(read_dir(&dir), &Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            assert_eq!(
                chart.metadata.name,
                top_level_field(&cy, "name"),
                "{}",
                dir.display()
            );
            assert_eq!(
                chart.metadata.version,
                top_level_field(&cy, "version"),
                "{}",
                dir.display()
            );
            assert_eq!(chart.path, chart.metadata.name);
            assert!(
                !chart.templates.is_empty() || !chart.subcharts.is_empty(),
                "{}",
                dir.display()
            );
            if chart.metadata.name == "wordpress" {
                let subs: Vec<&str> = chart
                    .subcharts
                    .iter()
                    .map(|s| s.metadata.name.as_str())
                    .collect();
                assert_eq!(subs, ["common", "mariadb", "memcached"]);
                for s in &chart.subcharts {
                    assert_eq!(s.path, format!("wordpress/charts/{}", s.metadata.name));
                    assert!(chart.dependency_for(s).is_some(), "{}", s.path);
                }
                let mariadb = &chart.subcharts[1];
                assert!(
                    mariadb
                        .subcharts
                        .iter()
                        .any(|s| s.metadata.name == "common")
                );
                assert!(
                    chart
                        .values_yaml
                        .as_deref()
                        .unwrap_or("")
                        .contains("image:")
                );
            }
            loaded += 1;
        }
        assert!(loaded > 0);
    }
}
