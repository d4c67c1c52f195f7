//! Reading chart bytes safely: [`Limits`] and the running budget ([`Meter`]) every byte read
//! is charged to, the tar (and gzip) reader that refuses links, device files and entries outside
//! the archive's one top-level directory, and the path checks (no `..`, no absolute paths, no
//! Windows drives) that also apply to a chart directory handed over in memory.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::io::{self, Read};

use super::ChartError;
use super::layout::is_needed;

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

/// True when `bytes` start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// True when `bytes` look like a (POSIX or GNU) tar archive: `ustar` at offset 257.
pub fn looks_like_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar".as_slice())
}

// ---------------------------------------------------------------------------------------------
// Budgets
// ---------------------------------------------------------------------------------------------

/// The running budget shared by everything one load call reads.
pub(super) struct Meter {
    pub(super) limits: Limits,
    /// Bytes decompressed (or accepted) so far.
    used: Cell<u64>,
    entries: Cell<usize>,
    /// Set when a [`Metered`] reader stopped a stream at the total budget, so the I/O error
    /// that surfaces through the tar crate can be reported as what it is.
    tripped: Cell<bool>,
}

impl Meter {
    pub(super) fn new(limits: Limits) -> Self {
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
pub(super) type Files = Vec<(String, Vec<u8>)>;

/// Read every entry of an archive, checking names, types and budgets. Returns the top-level
/// directory's name and the files below it (paths relative to it); files no chart needs are
/// returned with empty contents so that they cost no memory but still mark their directory.
pub(super) fn read_archive(
    bytes: &[u8],
    label: &str,
    meter: &Meter,
) -> Result<(String, Files), ChartError> {
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

/// Check the files of a chart directory already in memory as [`read_tar`] checks archive
/// entries: clean relative paths, no duplicates, within budget. Returns them with '/'
/// separators; files no chart needs come back empty.
pub(super) fn read_files(files: Files, meter: &Meter) -> Result<Files, ChartError> {
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
    Ok(kept)
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// Split an entry name into components, dropping empty and `.` components and refusing
/// anything that could point outside the chart.
pub(super) fn clean_components(name: &str) -> Result<Vec<String>, &'static str> {
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
pub(super) fn check_drive(first: &str) -> Result<(), &'static str> {
    let b = first.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(
            "it starts with a Windows drive (like 'C:'), which makes it an absolute path; every \
             path in a chart must be relative to the chart",
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Error helpers
// ---------------------------------------------------------------------------------------------

pub(super) fn refused(what: &str, name: &str, why: &str) -> ChartError {
    ChartError::new(format!("{what} '{name}' is refused: {why}"))
}

pub(super) fn duplicate(label: &str, name: &str) -> ChartError {
    ChartError::new(format!(
        "{label} holds '{name}' more than once, so which copy counts is ambiguous; package the \
         chart again with `helm package`"
    ))
}

pub(super) fn corrupt(label: &str, detail: &str) -> ChartError {
    ChartError::new(format!(
        "{label}: the archive is truncated or corrupt: {detail}; download or package the chart \
         again"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{load_archive, load_files};
    use super::*;
    use crate::chart::test_archives::{E, chart_yaml, gzip, header, load_err, tar_bytes, tgz};
    use tar::EntryType;

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
}
