//! A chart wherever the user keeps it -> bytes for the core: a directory read into memory, a
//! packaged .tgz, or anything else Helm can pull (repo/name, oci://, https://), fetched with
//! `helm pull` into a temporary directory.

use crate::helm;
use purser::chart::{self, Chart, Limits};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A chart read into memory, with the sha256 of its archive when it came as one.
pub struct Loaded {
    pub chart: Chart,
    pub digest: Option<String>,
}

fn from_archive(bytes: &[u8], what: &str, limits: &Limits) -> Result<Loaded, String> {
    let chart = chart::load_archive(bytes, limits).map_err(|e| format!("{what}: {e}"))?;
    let digest = purser::digest::Digest::sha256(bytes).to_string();
    Ok(Loaded {
        chart,
        digest: Some(digest),
    })
}

/// Loads the chart `spec` names. `pull_flags` are the user's `--version`, `--repo`, ... flags.
pub fn load(spec: &str, pull_flags: &[OsString]) -> Result<Loaded, String> {
    let path = Path::new(spec);
    let limits = Limits::default();
    if path.is_dir() {
        let files = read_dir(path)?;
        let chart = chart::load_files(files, &limits)
            .map_err(|e| format!("chart directory {spec}: {e}"))?;
        return Ok(Loaded {
            chart,
            digest: None,
        });
    }
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {spec}: {e}"))?;
        return from_archive(&bytes, &format!("chart archive {spec}"), &limits);
    }
    let archive = archive(spec, pull_flags)?;
    from_archive(&archive.bytes, &format!("chart {spec}"), &limits)
}

/// Every file below `root` as (relative path with '/', bytes). Links are followed only when
/// they stay inside the chart; `.git` is skipped.
fn read_dir(root: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let canonical_root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            let real = path
                .canonicalize()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if !real.starts_with(&canonical_root) {
                return Err(format!(
                    "{} points outside the chart directory; remove the link",
                    path.display()
                ));
            }
            if real.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).map_err(|e| e.to_string())?;
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let bytes =
                    std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                out.push((rel, bytes));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A chart as a packaged archive, the way a registry or a bundle carries it, with its
/// provenance file when there is one.
pub struct Archive {
    pub bytes: Vec<u8>,
    pub provenance: Option<Vec<u8>>,
}

/// The archive of the chart `spec` names: a `.tgz` as it is (with `FILE.prov` beside it), a
/// directory packaged by `helm package`, anything else fetched by `helm pull`.
pub fn archive(spec: &str, pull_flags: &[OsString]) -> Result<Archive, String> {
    let path = Path::new(spec);
    let read_prov = |tgz: &Path| -> Result<Option<Vec<u8>>, String> {
        let prov = PathBuf::from(format!("{}.prov", tgz.display()));
        if prov.is_file() {
            std::fs::read(&prov)
                .map(Some)
                .map_err(|e| format!("reading {}: {e}", prov.display()))
        } else {
            Ok(None)
        }
    };
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {spec}: {e}"))?;
        return Ok(Archive {
            bytes,
            provenance: read_prov(path)?,
        });
    }
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
    let mut args: Vec<OsString> = if path.is_dir() {
        vec!["package".into(), spec.into(), "--destination".into()]
    } else {
        vec!["pull".into(), spec.into(), "--destination".into()]
    };
    args.push(dir.path().into());
    if !path.is_dir() {
        args.extend(pull_flags.iter().cloned());
    }
    helm::run(&args)?;
    let archive = std::fs::read_dir(dir.path())
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| format!("helm {} {spec} left no .tgz", args[0].to_string_lossy()))?;
    let bytes =
        std::fs::read(&archive).map_err(|e| format!("reading {}: {e}", archive.display()))?;
    Ok(Archive {
        bytes,
        provenance: read_prov(&archive)?,
    })
}
