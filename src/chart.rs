//! A Helm chart held in memory, read safely from bytes.
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

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

/// Resource budgets for reading a chart. Every chart read by one call shares one budget,
/// nested subchart archives included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes decompressed or accepted in total, across the archive and every nested
    /// archive (for archives this counts the whole uncompressed tar stream, headers included).
    /// Default 256 MiB.
    pub max_total_bytes: u64,
    /// Largest single file. Default 64 MiB.
    pub max_file_bytes: u64,
    /// Most archive entries (or in-memory files) in total, nested archives included.
    /// Default 20 000.
    pub max_entries: usize,
    /// Deepest subchart nesting (a chart's own subcharts are depth 1). Default 16.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 256 * 1024 * 1024,
            max_file_bytes: 64 * 1024 * 1024,
            max_entries: 20_000,
            max_depth: 16,
        }
    }
}

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

/// The parts of `Chart.yaml` purser uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// `apiVersion`; `v1` when the file leaves it out, as Helm assumes.
    pub api_version: String,
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// From `Chart.yaml`, or from `requirements.yaml` for old (v1) charts.
    pub dependencies: Vec<Dependency>,
    /// `type`: `application` or `library`; `None` when not given.
    pub chart_type: Option<String>,
}

/// One entry of `dependencies` in `Chart.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub name: String,
    pub version: Option<String>,
    pub repository: Option<String>,
    pub condition: Option<String>,
    pub tags: Vec<String>,
    pub alias: Option<String>,
    pub enabled: Option<bool>,
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

/// True when `bytes` start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// True when `bytes` look like a (POSIX or GNU) tar archive: `ustar` at offset 257.
pub fn looks_like_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar".as_slice())
}

/// Read a packaged chart (`.tgz`, or an uncompressed `.tar`): one top-level directory holding
/// `Chart.yaml`, whose name is stripped from every path.
pub fn load_archive(bytes: &[u8], limits: &Limits) -> Result<Chart, ChartError> {
    let meter = Meter::new(*limits);
    load_archive_at(bytes, None, "chart archive", &meter, 0)
}

/// Read a chart directory already in memory: `(path relative to the chart root with '/'
/// separators, bytes)`. The same path checks and budgets apply as for archives.
pub fn load_files(files: Vec<(String, Vec<u8>)>, limits: &Limits) -> Result<Chart, ChartError> {
    let meter = Meter::new(*limits);
    let mut kept = Vec::with_capacity(files.len());
    let mut seen = BTreeSet::new();
    for (name, data) in files {
        meter.count_entry("chart directory")?;
        let comps = clean_components(&name).map_err(|why| refused("chart file", &name, why))?;
        if comps.is_empty() {
            return Err(refused("chart file", &name, "it names no file"));
        }
        check_drive(&comps[0]).map_err(|why| refused("chart file", &name, why))?;
        let rel = comps.join("/");
        let size = data.len() as u64;
        meter.check_file_size("chart file", &name, size)?;
        meter.charge("chart directory", size)?;
        if !seen.insert(rel.clone()) {
            return Err(duplicate("chart directory", &rel));
        }
        let data = if is_needed(&rel) { data } else { Vec::new() };
        kept.push((rel, data));
    }
    build_chart(None, kept, &meter, 0)
}

// ---------------------------------------------------------------------------------------------
// Budgets
// ---------------------------------------------------------------------------------------------

/// The running budget shared by everything one load call reads.
struct Meter {
    limits: Limits,
    /// Bytes decompressed (or accepted) so far.
    used: Cell<u64>,
    entries: Cell<usize>,
    /// Set when a [`Metered`] reader stopped a stream at the total budget, so the I/O error
    /// that surfaces through the tar crate can be reported as what it is.
    tripped: Cell<bool>,
}

impl Meter {
    fn new(limits: Limits) -> Self {
        Meter {
            limits,
            used: Cell::new(0),
            entries: Cell::new(0),
            tripped: Cell::new(false),
        }
    }

    fn count_entry(&self, label: &str) -> Result<(), ChartError> {
        let n = self.entries.get() + 1;
        if n > self.limits.max_entries {
            return Err(ChartError::new(format!(
                "{label} has more than {} entries (Limits::max_entries), counting nested chart \
                 archives; a chart this large is unusual, so check where it came from and raise \
                 the limit only if you trust it",
                self.limits.max_entries
            )));
        }
        self.entries.set(n);
        Ok(())
    }

    fn check_file_size(&self, kind: &str, name: &str, size: u64) -> Result<(), ChartError> {
        if size > self.limits.max_file_bytes {
            return Err(ChartError::new(format!(
                "{kind} '{name}' is {size} bytes, over the per-file limit of {} bytes \
                 (Limits::max_file_bytes); it may be a decompression bomb, so raise the limit \
                 only if you trust this chart",
                self.limits.max_file_bytes
            )));
        }
        Ok(())
    }

    /// Would `size` more bytes still fit the total budget?
    fn check_room(&self, label: &str, size: u64) -> Result<(), ChartError> {
        if self.used.get().saturating_add(size) > self.limits.max_total_bytes {
            return Err(self.total_exceeded(label));
        }
        Ok(())
    }

    fn charge(&self, label: &str, size: u64) -> Result<(), ChartError> {
        self.check_room(label, size)?;
        self.used.set(self.used.get() + size);
        Ok(())
    }

    fn total_exceeded(&self, label: &str) -> ChartError {
        ChartError::new(format!(
            "{label} expands to more than {} bytes uncompressed (Limits::max_total_bytes), \
             counting nested chart archives; it may be a decompression bomb, so raise the limit \
             only if you trust this chart",
            self.limits.max_total_bytes
        ))
    }

    /// Turn an I/O error from reading an archive into a [`ChartError`].
    fn io_error(&self, label: &str, err: &io::Error) -> ChartError {
        if self.tripped.get() {
            self.total_exceeded(label)
        } else {
            corrupt(label, &err.to_string())
        }
    }
}

/// A reader that charges every byte it yields to the shared [`Meter`] and fails once the
/// total budget is exceeded, so no decompressor (and no tar-internal buffer such as a GNU
/// long name) can produce more than the budget.
struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let used = self.meter.used.get();
        let max = self.meter.limits.max_total_bytes;
        if used > max {
            self.meter.tripped.set(true);
            return Err(io::Error::other("the size budget is exhausted"));
        }
        // Allow one byte past the budget so that reaching it exactly is not an error.
        let allowance = (max - used).saturating_add(1);
        let want = buf
            .len()
            .min(usize::try_from(allowance).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        let used = used + n as u64;
        self.meter.used.set(used);
        if used > max {
            self.meter.tripped.set(true);
            return Err(io::Error::other("the size budget is exhausted"));
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Archives
// ---------------------------------------------------------------------------------------------

/// `(path relative to a chart root, contents)` of the files read so far.
type Files = Vec<(String, Vec<u8>)>;

fn load_archive_at(
    bytes: &[u8],
    path: Option<String>,
    label: &str,
    meter: &Meter,
    depth: usize,
) -> Result<Chart, ChartError> {
    let (top, files) = read_archive(bytes, label, meter)?;
    build_chart(Some(path.unwrap_or(top)), files, meter, depth)
}

/// Read every entry of an archive, checking names, types and budgets. Returns the top-level
/// directory's name and the files below it (paths relative to it); files no chart needs are
/// returned with empty contents so that they cost no memory but still mark their directory.
fn read_archive(bytes: &[u8], label: &str, meter: &Meter) -> Result<(String, Files), ChartError> {
    if is_gzip(bytes) {
        read_tar(flate2::read::MultiGzDecoder::new(bytes), label, meter)
    } else if looks_like_tar(bytes) {
        read_tar(bytes, label, meter)
    } else {
        Err(ChartError::new(format!(
            "{label}: not a gzip-compressed tar (.tgz, as made by `helm package`) nor a plain \
             tar; pass a packaged chart"
        )))
    }
}

fn read_tar<R: Read>(reader: R, label: &str, meter: &Meter) -> Result<(String, Files), ChartError> {
    let mut archive = tar::Archive::new(Metered {
        inner: reader,
        meter,
    });
    let entries = archive.entries().map_err(|e| meter.io_error(label, &e))?;
    let mut top: Option<String> = None;
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    let what = format!("{label} entry");
    for entry in entries {
        let mut entry = entry.map_err(|e| meter.io_error(label, &e))?;
        meter.count_entry(label)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw_name).map_err(|e| {
            let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
            refused(&what, &shown, "its name is not valid UTF-8")
        })?;

        if kind.is_symlink() || kind.is_hard_link() {
            return Err(refused(
                &what,
                &name,
                "chart archives must not contain links (symbolic or hard); replace the link \
                 with a copy of the file it points to and package the chart again",
            ));
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err(refused(
                &what,
                &name,
                "it is a device file or FIFO, which has no place in a chart; remove it and \
                 package the chart again",
            ));
        }
        let is_dir = kind.is_dir() || (kind.is_file() && name.ends_with('/'));
        if !is_dir && !kind.is_file() && !kind.is_contiguous() {
            return Err(refused(
                &what,
                &name,
                &format!(
                    "its tar entry type ({:?}) is not a regular file or directory; package \
                     the chart with `helm package`",
                    kind
                ),
            ));
        }

        let comps = clean_components(&name).map_err(|why| refused(&what, &name, why))?;
        let Some((first, rest)) = comps.split_first() else {
            if is_dir {
                continue; // "./" or "/" style root entries carry nothing
            }
            return Err(refused(&what, &name, "it names no file"));
        };
        check_drive(first).map_err(|why| refused(&what, &name, why))?;
        match &top {
            None => top = Some(first.clone()),
            Some(t) if t != first => {
                return Err(ChartError::new(format!(
                    "{label} holds more than one top-level directory ('{t}' and '{first}'); a \
                     packaged chart holds exactly one, named after the chart, as `helm \
                     package` makes it"
                )));
            }
            Some(_) => {}
        }
        if is_dir {
            continue;
        }
        if rest.is_empty() {
            return Err(refused(
                &what,
                &name,
                "it sits outside the archive's top-level directory; a packaged chart keeps \
                 every file (Chart.yaml included) inside one directory named after the chart",
            ));
        }
        check_drive(&rest[0]).map_err(|why| refused(&what, &name, why))?;
        let rel = rest.join("/");
        if !seen.insert(rel.clone()) {
            return Err(duplicate(label, &name));
        }

        let size = entry.size();
        meter.check_file_size(&what, &name, size)?;
        meter.check_room(label, size)?;
        let needed = is_needed(&rel);
        let mut data = Vec::new();
        let got = if needed {
            // `size` is below the per-file budget, so this allocation is bounded.
            data.reserve_exact(usize::try_from(size).unwrap_or(0));
            entry
                .by_ref()
                .take(size)
                .read_to_end(&mut data)
                .map_err(|e| meter.io_error(label, &e))? as u64
        } else {
            io::copy(&mut entry.by_ref().take(size), &mut io::sink())
                .map_err(|e| meter.io_error(label, &e))?
        };
        if got != size {
            return Err(corrupt(
                label,
                &format!("entry '{name}' ends after {got} of its {size} bytes"),
            ));
        }
        files.push((rel, data));
    }
    match top {
        Some(top) if !files.is_empty() => Ok((top, files)),
        _ => Err(ChartError::new(format!(
            "{label} holds no files; a chart archive holds one directory with Chart.yaml in it"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// Split an entry name into components, dropping empty and `.` components and refusing
/// anything that could point outside the chart.
fn clean_components(name: &str) -> Result<Vec<String>, &'static str> {
    if name.contains('\0') {
        return Err("its name contains a NUL byte");
    }
    // Archives made on Windows may use backslashes; Helm accepts them as separators.
    let normalized = name.replace('\\', "/");
    if normalized.starts_with('/') {
        return Err("it is an absolute path; every path in a chart must be relative to the chart");
    }
    let mut comps = Vec::new();
    for comp in normalized.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                return Err(
                    "it has a '..' component, which would point outside the chart; package \
                     the chart with `helm package`",
                );
            }
            _ => comps.push(comp.to_string()),
        }
    }
    Ok(comps)
}

/// Refuse a leading Windows drive (`C:`), which would make the path absolute on Windows.
fn check_drive(first: &str) -> Result<(), &'static str> {
    let b = first.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(
            "it starts with a Windows drive (like 'C:'), which makes it an absolute path; every \
             path in a chart must be relative to the chart",
        );
    }
    Ok(())
}

/// Names under `charts/` that Helm skips.
fn skipped_subchart_name(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// Does a chart (or one of its vendored subcharts) read this file? Mirrors [`build_chart`].
fn is_needed(rel: &str) -> bool {
    let mut rest = rel;
    loop {
        if matches!(rest, "Chart.yaml" | "values.yaml" | "requirements.yaml")
            || rest.starts_with("templates/")
        {
            return true;
        }
        let Some(after) = rest.strip_prefix("charts/") else {
            return false;
        };
        match after.split_once('/') {
            None => return after.ends_with(".tgz") && !skipped_subchart_name(after),
            Some((dir, inner)) => {
                if skipped_subchart_name(dir) {
                    return false;
                }
                rest = inner;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

/// Assemble a chart from its files (paths relative to the chart root). `path` is `None` only
/// for the root of [`load_files`], which is then named after the chart.
fn build_chart(
    path: Option<String>,
    files: Vec<(String, Vec<u8>)>,
    meter: &Meter,
    depth: usize,
) -> Result<Chart, ChartError> {
    let mut chart_yaml = None;
    let mut values = None;
    let mut requirements = None;
    let mut templates = Vec::new();
    let mut archives: Vec<(String, Vec<u8>)> = Vec::new();
    let mut vendored: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (rel, data) in files {
        match rel.as_str() {
            "Chart.yaml" => chart_yaml = Some(data),
            "values.yaml" => values = Some(data),
            "requirements.yaml" => requirements = Some(data),
            _ if rel.starts_with("templates/") => templates.push((rel, data)),
            _ => {
                let Some(after) = rel.strip_prefix("charts/") else {
                    continue;
                };
                match after.split_once('/') {
                    None => {
                        if after.ends_with(".tgz") && !skipped_subchart_name(after) {
                            archives.push((after.to_string(), data));
                        }
                        // Other loose files in charts/ (provenance files, stray notes) are
                        // not charts; Helm keeps .prov files aside and so do we.
                    }
                    Some((dir, inner)) => {
                        if !skipped_subchart_name(dir) {
                            vendored
                                .entry(dir.to_string())
                                .or_default()
                                .push((inner.to_string(), data));
                        }
                    }
                }
            }
        }
    }

    let place = |file: &str| match &path {
        Some(p) => format!("{p}/{file}"),
        None => file.to_string(),
    };
    let Some(chart_yaml) = chart_yaml else {
        return Err(ChartError::new(match &path {
            Some(p) => format!(
                "'{p}' has no Chart.yaml; every chart (and every directory under charts/) needs \
                 Chart.yaml at its root"
            ),
            None => "Chart.yaml is missing; pass the chart's own directory, the one with \
                     Chart.yaml at its root"
                .to_string(),
        }));
    };
    let chart_yaml_name = place("Chart.yaml");
    let text = into_text(chart_yaml, &chart_yaml_name)?;
    let raw: RawMetadata = parse_yaml(&text, &chart_yaml_name)?.unwrap_or_default();
    let mut raw_deps = raw.dependencies.clone();
    if let Some(req) = requirements {
        let req_name = place("requirements.yaml");
        let req_text = into_text(req, &req_name)?;
        let req: Option<RawRequirements> = parse_yaml(&req_text, &req_name)?;
        // Helm reads requirements.yaml into the same metadata, so its list wins when present.
        if let Some(deps) = req.and_then(|r| r.dependencies) {
            raw_deps = Some(deps);
        }
    }
    let metadata = raw.into_metadata(raw_deps, &chart_yaml_name)?;
    let path = path.unwrap_or_else(|| metadata.name.clone());

    let values_yaml = match values {
        Some(data) => Some(into_text(data, &format!("{path}/values.yaml"))?),
        None => None,
    };
    let mut texts = Vec::with_capacity(templates.len());
    for (rel, data) in templates {
        let text = into_text(data, &format!("{path}/{rel}"))?;
        texts.push((rel, text));
    }
    texts.sort_by(|a, b| a.0.cmp(&b.0));

    let mut subcharts = Vec::new();
    if !archives.is_empty() || !vendored.is_empty() {
        if depth >= meter.limits.max_depth {
            return Err(ChartError::new(format!(
                "'{path}' nests subcharts more than {} levels deep (Limits::max_depth); real \
                 charts rarely nest more than a few levels, so check where this chart came from",
                meter.limits.max_depth
            )));
        }
        archives.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, data) in archives {
            let sub_path = format!("{path}/charts/{name}");
            let label = format!("subchart archive '{sub_path}'");
            subcharts.push(load_archive_at(
                &data,
                Some(sub_path),
                &label,
                meter,
                depth + 1,
            )?);
        }
        for (dir, files) in vendored {
            let sub_path = format!("{path}/charts/{dir}");
            subcharts.push(build_chart(Some(sub_path), files, meter, depth + 1)?);
        }
        subcharts.sort_by(|a, b| a.path.cmp(&b.path));
    }

    Ok(Chart {
        path,
        metadata,
        values_yaml,
        templates: texts,
        subcharts,
    })
}

/// Check that a chart file is UTF-8 and drop a leading byte-order mark, as Helm does.
fn into_text(mut data: Vec<u8>, name: &str) -> Result<String, ChartError> {
    if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
        data.drain(..3);
    }
    String::from_utf8(data).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + memchr::memchr_iter(b'\n', &e.as_bytes()[..at]).count();
        ChartError::new(format!(
            "{name} is not valid UTF-8 (first bad byte at offset {at}, line {line}); chart \
             files Helm reads must be UTF-8 text, so re-save it as UTF-8"
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Chart.yaml
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct RawMetadata {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    name: Option<String>,
    version: Option<String>,
    #[serde(rename = "appVersion")]
    app_version: Option<String>,
    annotations: Option<BTreeMap<String, Option<String>>>,
    dependencies: Option<Vec<Option<RawDependency>>>,
    #[serde(rename = "type")]
    chart_type: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct RawRequirements {
    dependencies: Option<Vec<Option<RawDependency>>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct RawDependency {
    name: Option<String>,
    version: Option<String>,
    repository: Option<String>,
    condition: Option<String>,
    tags: Option<Vec<Option<String>>>,
    alias: Option<String>,
    enabled: Option<bool>,
}

/// Parse a small YAML metadata file with budgets far below serde-saphyr's defaults: a real
/// `Chart.yaml` is a few hundred nodes, so an alias bomb trips these within milliseconds.
fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
) -> Result<Option<T>, ChartError> {
    parse_metadata_yaml(text).map_err(|e| ChartError::new(format!("{name} is not valid: {e}")))
}

/// A chart metadata file (`Chart.yaml`, `requirements.yaml`) read as Helm reads it (the last
/// of duplicated keys wins), under tight budgets; the loader and the OCI artifact builder
/// share it.
pub(crate) fn parse_metadata_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<Option<T>, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 200_000,
            max_nodes: 50_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 64,
            max_documents: 16,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 200,
        },
        // Helm's YAML reader keeps the last of duplicated keys.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options)
}

/// Helm's `sanitizeString`: whitespace becomes a space, other non-printable characters go.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| sanitize(&s)).filter(|s| !s.is_empty())
}

impl RawMetadata {
    /// Validate as Helm's `Metadata.Validate` does.
    fn into_metadata(
        self,
        deps: Option<Vec<Option<RawDependency>>>,
        file: &str,
    ) -> Result<Metadata, ChartError> {
        let invalid = |what: String| ChartError::new(format!("{file} is not valid: {what}"));
        let api_version = non_empty(self.api_version).unwrap_or_else(|| "v1".to_string());
        let name = non_empty(self.name).ok_or_else(|| invalid("`name` is required".to_string()))?;
        if name.contains('/') || name.contains('\\') {
            return Err(invalid(format!(
                "`name` {name:?} must not contain a path separator"
            )));
        }
        let version =
            non_empty(self.version).ok_or_else(|| invalid("`version` is required".to_string()))?;
        if !is_valid_semver(&version) {
            return Err(invalid(format!(
                "`version` {version:?} is not a semantic version (like 1.2.3)"
            )));
        }
        let chart_type = non_empty(self.chart_type);
        if let Some(t) = &chart_type {
            if t != "application" && t != "library" {
                return Err(invalid(format!(
                    "`type` {t:?} must be application or library"
                )));
            }
        }
        let annotations = self
            .annotations
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();

        let mut dependencies = Vec::new();
        let mut keys = BTreeSet::new();
        for (i, dep) in deps.unwrap_or_default().into_iter().enumerate() {
            let Some(dep) = dep else {
                return Err(invalid(format!(
                    "dependency #{} is empty; dependencies must not contain empty or null entries",
                    i + 1
                )));
            };
            let dep_name = dep.name.map(|s| sanitize(&s)).unwrap_or_default();
            let alias = non_empty(dep.alias);
            if let Some(a) = &alias {
                if !a
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(invalid(format!(
                        "dependency {dep_name:?} has disallowed characters in its alias {a:?} \
                         (allowed: letters, digits, '-' and '_')"
                    )));
                }
            }
            let key = alias.clone().unwrap_or_else(|| dep_name.clone());
            if !keys.insert(key.clone()) {
                return Err(invalid(format!(
                    "more than one dependency with name or alias {key:?}; give dependencies \
                     on the same chart distinct aliases"
                )));
            }
            dependencies.push(Dependency {
                name: dep_name,
                version: non_empty(dep.version),
                repository: non_empty(dep.repository),
                condition: non_empty(dep.condition),
                tags: dep
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| sanitize(&t.unwrap_or_default()))
                    .collect(),
                alias,
                enabled: dep.enabled,
            });
        }

        Ok(Metadata {
            api_version,
            name,
            version,
            app_version: non_empty(self.app_version),
            annotations,
            dependencies,
            chart_type,
        })
    }
}

/// The version syntax Helm accepts (Masterminds `semver.NewVersion`): an optional `v`, one to
/// three numeric parts, then optional `-prerelease` and `+build` dot-separated identifiers.
fn is_valid_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (rest, build) = match v.split_once('+') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3
        || parts.iter().any(|p| {
            p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u64>().is_err()
        })
    {
        return false;
    }
    let idents_ok = |s: &str, numeric_no_leading_zero: bool| {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !(numeric_no_leading_zero
                    && id.len() > 1
                    && id.starts_with('0')
                    && id.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    pre.is_none_or(|p| idents_ok(p, true)) && build.is_none_or(|b| idents_ok(b, false))
}

// ---------------------------------------------------------------------------------------------
// Error helpers
// ---------------------------------------------------------------------------------------------

fn refused(what: &str, name: &str, why: &str) -> ChartError {
    ChartError::new(format!("{what} '{name}' is refused: {why}"))
}

fn duplicate(label: &str, name: &str) -> ChartError {
    ChartError::new(format!(
        "{label} holds '{name}' more than once, so which copy counts is ambiguous; package the \
         chart again with `helm package`"
    ))
}

fn corrupt(label: &str, detail: &str) -> ChartError {
    ChartError::new(format!(
        "{label}: the archive is truncated or corrupt: {detail}; download or package the chart \
         again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use tar::EntryType;

    /// One tar entry to build; names are written into the header verbatim (no checks), so
    /// tests can build archives `tar::Builder` itself would refuse to make.
    enum E<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Link(EntryType, &'a str, &'a str),
        Special(EntryType, &'a str),
    }

    fn header(name: &str, kind: EntryType, size: u64, link: &str) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        assert!(name.len() <= 100 && link.len() <= 100);
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    fn tar_bytes(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            match e {
                E::File(name, data) => {
                    let h = header(name, EntryType::Regular, data.len() as u64, "");
                    b.append(&h, *data).unwrap();
                }
                E::Dir(name) => b
                    .append(&header(name, EntryType::Directory, 0, ""), io::empty())
                    .unwrap(),
                E::Link(kind, name, target) => b
                    .append(&header(name, *kind, 0, target), io::empty())
                    .unwrap(),
                E::Special(kind, name) => {
                    b.append(&header(name, *kind, 0, ""), io::empty()).unwrap()
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn tgz(entries: &[E]) -> Vec<u8> {
        gzip(&tar_bytes(entries))
    }

    fn chart_yaml(name: &str, version: &str) -> String {
        format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n")
    }

    fn load_err(bytes: &[u8], limits: &Limits) -> String {
        match load_archive(bytes, limits) {
            Ok(c) => panic!("expected an error, loaded {}", c.path),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn magic_checks() {
        let tar = tar_bytes(&[E::File("a/Chart.yaml", b"x")]);
        assert!(looks_like_tar(&tar));
        assert!(!is_gzip(&tar));
        let gz = gzip(&tar);
        assert!(is_gzip(&gz));
        assert!(!looks_like_tar(&gz));
        assert!(!is_gzip(b"") && !looks_like_tar(b""));
        let err = load_err(b"apiVersion: v2\nname: x\n", &Limits::default());
        assert!(err.contains("not a gzip-compressed tar"), "{err}");
    }

    #[test]
    fn simple_chart() {
        let cy = chart_yaml("mychart", "0.1.0");
        let entries = [
            E::Dir("mychart/"),
            E::File("mychart/Chart.yaml", cy.as_bytes()),
            E::File("mychart/values.yaml", b"\xEF\xBB\xBFimage: nginx:1.25\n"),
            E::Dir("mychart/templates/"),
            E::File("mychart/templates/deployment.yaml", b"kind: Deployment\n"),
            E::File(
                "mychart/templates/_helpers.tpl",
                b"{{- define \"x\" -}}{{- end -}}\n",
            ),
            E::File("mychart/README.md", b"# readme\n"),
            E::File("mychart/files/blob.bin", b"\xff\xfe\x00binary"),
        ];
        for bytes in [tgz(&entries), tar_bytes(&entries)] {
            let c = load_archive(&bytes, &Limits::default()).unwrap();
            assert_eq!(c.path, "mychart");
            assert_eq!(c.metadata.name, "mychart");
            assert_eq!(c.metadata.version, "0.1.0");
            assert_eq!(c.metadata.api_version, "v2");
            assert_eq!(c.metadata.app_version.as_deref(), Some("1.0"));
            assert_eq!(c.values_yaml.as_deref(), Some("image: nginx:1.25\n"));
            let names: Vec<&str> = c.templates.iter().map(|t| t.0.as_str()).collect();
            assert_eq!(
                names,
                ["templates/_helpers.tpl", "templates/deployment.yaml"]
            );
            assert_eq!(c.templates[1].1, "kind: Deployment\n");
            assert!(c.subcharts.is_empty());
        }
    }

    #[test]
    fn nested_archive_with_vendored_subchart() {
        let vend_cy = chart_yaml("vend", "3.0.0");
        let sub_cy = "apiVersion: v2\nname: sub\nversion: 1.0.0\ndependencies:\n  - name: vend\n    version: 3.x\n";
        let sub = tgz(&[
            E::File("sub/Chart.yaml", sub_cy.as_bytes()),
            E::File("sub/templates/svc.yaml", b"kind: Service\n"),
            E::File("sub/charts/vend/Chart.yaml", vend_cy.as_bytes()),
            E::File("sub/charts/vend/values.yaml", b"x: 1\n"),
            E::File("sub/charts/vend/templates/cm.yaml", b"kind: ConfigMap\n"),
        ]);
        let parent_cy = "apiVersion: v2\nname: parent\nversion: 2.0.0\ndependencies:\n  - name: sub\n    version: ~1.0.0\n    repository: https://example.com/charts\n    condition: sub.enabled\n";
        let parent = tgz(&[
            E::File("parent/Chart.yaml", parent_cy.as_bytes()),
            E::File("parent/charts/sub-1.0.0.tgz", &sub),
            E::File("parent/charts/sub-1.0.0.tgz.prov", b"signature"),
            E::File("parent/charts/_skipped/Chart.yaml", b"not: [valid"),
            E::File("parent/charts/.hidden.tgz", b"not an archive"),
            E::File("parent/charts/README.md", b"stray file"),
        ]);
        let c = load_archive(&parent, &Limits::default()).unwrap();
        assert_eq!(c.path, "parent");
        assert_eq!(c.subcharts.len(), 1);
        let s = &c.subcharts[0];
        assert_eq!(s.path, "parent/charts/sub-1.0.0.tgz");
        assert_eq!(s.metadata.name, "sub");
        assert_eq!(s.templates[0].0, "templates/svc.yaml");
        let dep = c.dependency_for(s).unwrap();
        assert_eq!(dep.condition.as_deref(), Some("sub.enabled"));
        assert_eq!(c.dependencies_for(s).count(), 1);
        assert_eq!(s.subcharts.len(), 1);
        let v = &s.subcharts[0];
        assert_eq!(v.path, "parent/charts/sub-1.0.0.tgz/charts/vend");
        assert_eq!(v.metadata.version, "3.0.0");
        assert_eq!(v.values_yaml.as_deref(), Some("x: 1\n"));
        assert_eq!(
            v.templates,
            [(
                "templates/cm.yaml".to_string(),
                "kind: ConfigMap\n".to_string()
            )]
        );
        assert_eq!(s.dependency_for(v).unwrap().version.as_deref(), Some("3.x"));
        assert!(v.dependency_for(s).is_none());
    }

    #[test]
    fn dependencies_and_metadata_fields() {
        let cy = r#"
apiVersion: v2
name: app
version: v1.2.3-rc.1+build.5
appVersion: 1.10
type: application
description: ignored
maintainers: [{name: someone}]
annotations:
  category: Infrastructure
  images: |
    - name: nginx
      image: nginx:1.25
  empty:
dependencies:
  - name: redis
    version: 17.x.x
    repository: oci://registry-1.docker.io/bitnamicharts
    condition: redis.enabled
    tags: [cache, backend]
    import-values:
      - child: a
        parent: b
  - name: redis
    alias: second-redis
    enabled: false
  - name: common
    tags:
      - bitnami-common
"#;
        let c = load_files(
            vec![("Chart.yaml".into(), cy.as_bytes().to_vec())],
            &Limits::default(),
        )
        .unwrap();
        let m = &c.metadata;
        assert_eq!(c.path, "app");
        assert_eq!(m.version, "v1.2.3-rc.1+build.5");
        assert_eq!(m.app_version.as_deref(), Some("1.10"));
        assert_eq!(m.chart_type.as_deref(), Some("application"));
        assert_eq!(m.annotations["category"], "Infrastructure");
        assert!(m.annotations["images"].contains("nginx:1.25"));
        assert_eq!(m.annotations["empty"], "");
        assert_eq!(m.dependencies.len(), 3);
        let r = &m.dependencies[0];
        assert_eq!(r.name, "redis");
        assert_eq!(r.version.as_deref(), Some("17.x.x"));
        assert_eq!(r.condition.as_deref(), Some("redis.enabled"));
        assert_eq!(r.tags, ["cache", "backend"]);
        assert_eq!(r.alias, None);
        assert_eq!(r.enabled, None);
        let r2 = &m.dependencies[1];
        assert_eq!(r2.alias.as_deref(), Some("second-redis"));
        assert_eq!(r2.enabled, Some(false));
        assert_eq!(m.dependencies[2].tags, ["bitnami-common"]);

        // A redis subchart matches both entries that name it.
        let redis = Chart {
            path: "app/charts/redis".into(),
            metadata: Metadata {
                name: "redis".into(),
                ..Metadata::default()
            },
            values_yaml: None,
            templates: vec![],
            subcharts: vec![],
        };
        assert_eq!(c.dependencies_for(&redis).count(), 2);
        assert_eq!(c.dependency_for(&redis).unwrap().alias, None);
    }

    #[test]
    fn chart_yaml_validation() {
        let one = |cy: &str| {
            load_files(
                vec![("Chart.yaml".into(), cy.as_bytes().to_vec())],
                &Limits::default(),
            )
        };
        let c = one("name: old\nversion: 1.0.0\n").unwrap();
        assert_eq!(c.metadata.api_version, "v1");
        for (cy, needle) in [
            ("apiVersion: v2\nversion: 1.0.0\n", "`name` is required"),
            ("apiVersion: v2\nname: x\n", "`version` is required"),
            (
                "apiVersion: v2\nname: x\nversion: latest\n",
                "not a semantic version",
            ),
            (
                "apiVersion: v2\nname: a/b\nversion: 1.0.0\n",
                "path separator",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ntype: plugin\n",
                "application or library",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: a\n    alias: bad.alias\n",
                "disallowed characters",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: a\n  - name: a\n",
                "more than one dependency",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  -\n",
                "empty",
            ),
            ("- a\n- b\n", "Chart.yaml is not valid"),
        ] {
            let err = one(cy).unwrap_err().to_string();
            assert!(err.contains(needle), "{cy:?}: {err}");
            assert!(err.contains("Chart.yaml"), "{err}");
        }
        // Syntax errors carry the chart path and the line.
        let bytes = tgz(&[E::File(
            "bad/Chart.yaml",
            b"apiVersion: v2\nname: x\nversion: [1\n",
        )]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("bad/Chart.yaml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn semver_syntax() {
        for ok in [
            "1",
            "1.2",
            "1.2.3",
            "v1.2.3",
            "1.2.3-alpha.1",
            "1.2.3+b.5",
            "0.0.0-0.3.7",
            "1.0.0-x-y",
        ] {
            assert!(is_valid_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "v",
            "1.2.3.4",
            "a.b.c",
            "1..2",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2 .3",
        ] {
            assert!(!is_valid_semver(bad), "{bad}");
        }
    }

    #[test]
    fn requirements_yaml_supplies_old_dependencies() {
        let c = load_files(
            vec![
                ("Chart.yaml".into(), b"apiVersion: v1\nname: old\nversion: 1.0.0\n".to_vec()),
                (
                    "requirements.yaml".into(),
                    b"dependencies:\n  - name: mysql\n    version: 1.x\n    condition: mysql.enabled\n".to_vec(),
                ),
            ],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(c.metadata.dependencies.len(), 1);
        assert_eq!(c.metadata.dependencies[0].name, "mysql");
    }

    #[test]
    fn missing_chart_yaml() {
        let bytes = tgz(&[E::File("mychart/values.yaml", b"a: 1\n")]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("no Chart.yaml"), "{err}");
        let err = load_files(
            vec![("values.yaml".into(), b"a: 1\n".to_vec())],
            &Limits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Chart.yaml is missing"), "{err}");
        // A vendored directory without Chart.yaml is an error, as in Helm.
        let cy = chart_yaml("p", "1.0.0");
        let bytes = tgz(&[
            E::File("p/Chart.yaml", cy.as_bytes()),
            E::File("p/charts/sub/values.yaml", b"a: 1\n"),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("'p/charts/sub' has no Chart.yaml"), "{err}");
        let err = load_err(&tgz(&[]), &Limits::default());
        assert!(err.contains("holds no files"), "{err}");
    }

    #[test]
    fn refuses_parent_components() {
        let cy = chart_yaml("c", "1.0.0");
        for name in [
            "c/../evil",
            "../evil",
            "c/templates/../../../evil",
            "c\\..\\evil",
        ] {
            let bytes = tgz(&[E::File("c/Chart.yaml", cy.as_bytes()), E::File(name, b"x")]);
            let err = load_err(&bytes, &Limits::default());
            assert!(err.contains("'..'") && err.contains(name), "{name}: {err}");
        }
        let err = load_files(
            vec![("../Chart.yaml".into(), cy.clone().into_bytes())],
            &Limits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("'..'"), "{err}");
    }

    #[test]
    fn refuses_absolute_paths() {
        let cy = chart_yaml("c", "1.0.0");
        for name in ["/etc/passwd", "C:/Windows/evil", "c/C:/evil", "c:evil"] {
            let bytes = tgz(&[E::File("c/Chart.yaml", cy.as_bytes()), E::File(name, b"x")]);
            let err = load_err(&bytes, &Limits::default());
            assert!(err.contains("absolute"), "{name}: {err}");
        }
        let err = load_files(
            vec![("/Chart.yaml".into(), cy.clone().into_bytes())],
            &Limits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("absolute"), "{err}");
    }

    #[test]
    fn refuses_links() {
        let cy = chart_yaml("c", "1.0.0");
        for kind in [EntryType::Symlink, EntryType::Link] {
            let bytes = tgz(&[
                E::File("c/Chart.yaml", cy.as_bytes()),
                E::Link(kind, "c/templates/x.yaml", "/etc/passwd"),
            ]);
            let err = load_err(&bytes, &Limits::default());
            assert!(
                err.contains("chart archives must not contain links"),
                "{err}"
            );
            assert!(err.contains("c/templates/x.yaml"), "{err}");
        }
    }

    #[test]
    fn refuses_devices_and_fifos() {
        let cy = chart_yaml("c", "1.0.0");
        for kind in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
            let bytes = tgz(&[
                E::File("c/Chart.yaml", cy.as_bytes()),
                E::Special(kind, "c/dev"),
            ]);
            let err = load_err(&bytes, &Limits::default());
            assert!(
                err.contains("device file or FIFO") && err.contains("c/dev"),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_entries_outside_one_top_level_directory() {
        let cy = chart_yaml("c", "1.0.0");
        let bytes = tgz(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("d/Chart.yaml", cy.as_bytes()),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("more than one top-level directory"), "{err}");
        let bytes = tgz(&[E::File("Chart.yaml", cy.as_bytes())]);
        let err = load_err(&bytes, &Limits::default());
        assert!(
            err.contains("outside the archive's top-level directory"),
            "{err}"
        );
        // "./c/..." is the same top-level directory as "c/...".
        let bytes = tgz(&[E::Dir("./"), E::File("./c/Chart.yaml", cy.as_bytes())]);
        assert_eq!(
            load_archive(&bytes, &Limits::default())
                .unwrap()
                .metadata
                .name,
            "c"
        );
    }

    #[test]
    fn refuses_duplicate_entries() {
        let cy = chart_yaml("c", "1.0.0");
        let bytes = tgz(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("c/Chart.yaml", cy.as_bytes()),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("more than once"), "{err}");
    }

    #[test]
    fn truncated_or_corrupt_archives_error_without_panicking() {
        let cy = chart_yaml("c", "1.0.0");
        let big: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let bytes = tgz(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("c/files/data.bin", &big),
            E::File("c/templates/a.yaml", b"kind: A\n"),
        ]);
        let err = load_err(&bytes[..bytes.len() / 2], &Limits::default());
        assert!(err.contains("the archive is truncated or corrupt"), "{err}");
        // Every cut point and some flipped bytes: an error or a chart, never a panic.
        for cut in (0..bytes.len()).step_by(37) {
            assert!(load_archive(&bytes[..cut], &Limits::default()).is_err());
        }
        for i in (0..bytes.len()).step_by(53) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x5a;
            let _ = load_archive(&bad, &Limits::default());
        }
        let plain = tar_bytes(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("c/files/data.bin", &big),
        ]);
        let err = load_err(&plain[..plain.len() / 2], &Limits::default());
        assert!(err.contains("truncated or corrupt"), "{err}");
    }

    /// A gzip stream of a tar header followed by `zero_mib` MiB of zeros, built from repeated
    /// gzip members so the test never compresses hundreds of megabytes.
    fn zero_bomb(first: &tar::Header, zero_mib: usize) -> Vec<u8> {
        let mut out = gzip(first.as_bytes());
        let member = gzip(&vec![0u8; 1024 * 1024]);
        for _ in 0..zero_mib {
            out.extend_from_slice(&member);
        }
        out
    }

    #[test]
    fn gzip_bomb_in_a_file_stops_at_the_budget() {
        let size = 300 * 1024 * 1024;
        let bomb = zero_bomb(&header("c/files/zeros", EntryType::Regular, size, ""), 300);
        assert!(bomb.len() < 2 * 1024 * 1024);
        let limits = Limits {
            max_total_bytes: 8 * 1024 * 1024,
            max_file_bytes: 4 * 1024 * 1024,
            ..Limits::default()
        };
        let start = std::time::Instant::now();
        let err = load_err(&bomb, &limits);
        assert!(
            err.contains("max_file_bytes") && err.contains("c/files/zeros"),
            "{err}"
        );
        // With a per-file limit above the total, the total budget stops it.
        let limits = Limits {
            max_total_bytes: 8 * 1024 * 1024,
            max_file_bytes: u64::MAX,
            ..Limits::default()
        };
        let err = load_err(&bomb, &limits);
        assert!(err.contains("max_total_bytes"), "{err}");
        assert!(start.elapsed().as_secs() < 10);
    }

    #[test]
    fn gzip_bomb_in_a_gnu_long_name_stops_at_the_budget() {
        // The tar crate buffers GNU long names itself; the metered reader still stops it.
        let bomb = zero_bomb(
            &header(
                "././@LongLink",
                EntryType::GNULongName,
                300 * 1024 * 1024,
                "",
            ),
            300,
        );
        let limits = Limits {
            max_total_bytes: 8 * 1024 * 1024,
            max_file_bytes: 4 * 1024 * 1024,
            ..Limits::default()
        };
        let start = std::time::Instant::now();
        let err = load_err(&bomb, &limits);
        assert!(err.contains("max_total_bytes"), "{err}");
        assert!(start.elapsed().as_secs() < 10);
    }

    #[test]
    fn total_budget_counts_every_file() {
        let cy = chart_yaml("c", "1.0.0");
        let mib = vec![7u8; 1024 * 1024];
        let names: Vec<String> = (0..10).map(|i| format!("c/files/f{i}")).collect();
        let mut entries = vec![E::File("c/Chart.yaml", cy.as_bytes())];
        entries.extend(names.iter().map(|n| E::File(n, &mib)));
        let bytes = tgz(&entries);
        let limits = Limits {
            max_total_bytes: 4 * 1024 * 1024,
            max_file_bytes: 2 * 1024 * 1024,
            ..Limits::default()
        };
        let err = load_err(&bytes, &limits);
        assert!(err.contains("max_total_bytes"), "{err}");
        assert!(load_archive(&bytes, &Limits::default()).is_ok());
        // The same budgets hold for files handed over in memory.
        let files: Vec<(String, Vec<u8>)> =
            std::iter::once(("Chart.yaml".to_string(), cy.clone().into_bytes()))
                .chain((0..10).map(|i| (format!("files/f{i}"), mib.clone())))
                .collect();
        let err = load_files(files, &limits).unwrap_err().to_string();
        assert!(err.contains("max_total_bytes"), "{err}");
    }

    #[test]
    fn too_many_entries() {
        let cy = chart_yaml("c", "1.0.0");
        let names: Vec<String> = (0..50).map(|i| format!("c/templates/t{i}.yaml")).collect();
        let mut entries = vec![E::File("c/Chart.yaml", cy.as_bytes())];
        entries.extend(names.iter().map(|n| E::File(n, b"kind: X\n")));
        let bytes = tgz(&entries);
        let limits = Limits {
            max_entries: 10,
            ..Limits::default()
        };
        let err = load_err(&bytes, &limits);
        assert!(err.contains("max_entries"), "{err}");
        assert_eq!(
            load_archive(&bytes, &Limits::default())
                .unwrap()
                .templates
                .len(),
            50
        );
    }

    #[test]
    fn nesting_deeper_than_max_depth() {
        let cy = chart_yaml("n", "1.0.0");
        let mut files = vec![];
        let mut prefix = String::new();
        for _ in 0..5 {
            files.push((format!("{prefix}Chart.yaml"), cy.clone().into_bytes()));
            prefix.push_str("charts/n/");
        }
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let err = load_files(files.clone(), &limits).unwrap_err().to_string();
        assert!(err.contains("max_depth"), "{err}");
        let c = load_files(files, &Limits::default()).unwrap();
        assert_eq!(c.subcharts[0].subcharts[0].path, "n/charts/n/charts/n");
        // Nested archives count too.
        let mut archive = tgz(&[E::File("n/Chart.yaml", cy.as_bytes())]);
        for _ in 0..4 {
            archive = tgz(&[
                E::File("n/Chart.yaml", cy.as_bytes()),
                E::File("n/charts/n.tgz", &archive),
            ]);
        }
        let err = load_err(&archive, &limits);
        assert!(err.contains("max_depth"), "{err}");
        assert!(load_archive(&archive, &Limits::default()).is_ok());
    }

    #[test]
    fn alias_bomb_in_chart_yaml_fails_fast() {
        let mut cy = String::from("apiVersion: v2\nname: bomb\nversion: 1.0.0\n");
        cy.push_str("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 10].join(",");
            cy.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], refs));
        }
        let start = std::time::Instant::now();
        for extra in ["", "annotations:\n  x: *i\n", "dependencies: *i\n"] {
            let text = format!("{cy}{extra}");
            let err = load_files(
                vec![("Chart.yaml".into(), text.into_bytes())],
                &Limits::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("Chart.yaml is not valid"), "{err}");
        }
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    }

    #[test]
    fn non_utf8_text_is_an_error_naming_the_file() {
        let cy = chart_yaml("c", "1.0.0");
        let bytes = tgz(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("c/values.yaml", b"a: 1\nb: \xff\xfe\n"),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(
            err.contains("c/values.yaml is not valid UTF-8") && err.contains("line 2"),
            "{err}"
        );
        let bytes = tgz(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("c/templates/x.yaml", b"\xc3\x28"),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(
            err.contains("c/templates/x.yaml is not valid UTF-8"),
            "{err}"
        );
        let bytes = tgz(&[E::File(
            "c/Chart.yaml",
            b"name: c\nversion: 1.0.0\ndescription: \xe9t\xe9\n",
        )]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("c/Chart.yaml is not valid UTF-8"), "{err}");
    }

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
