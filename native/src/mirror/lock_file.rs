//! Images-lock files in the mirror commands: [`read_lock`], [`write_atomically`] (a complete
//! file or none), and [`write_lock`], the lock of a copy or an import — digests at the
//! target, filled in from its [`CopyReport`].

use std::collections::BTreeMap;
use std::path::Path;

use purser::inventory::Confidence;
use purser::lock::{Lock, PlatformDigest, UnresolvedImage};
use purser::plan::Plan;
use purser::reference::Reference;

use super::copy_report::{CopyReport, ImageRow};

/// An images-lock file, read.
pub(super) fn read_lock(path: &Path) -> Result<Lock, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(Lock::parse(&text, &path.display().to_string())?)
}

/// The lock of a copy (digests at the target, the scans of `--scan` on the platform
/// digests they were of, and what `--patch` published), written atomically.
pub(super) async fn write_lock(
    path: &Path,
    lock: &mut Lock,
    report: &CopyReport,
    plan: &Plan,
    target: &crate::registry::Client,
    scanned: &[crate::scan::Scanned],
    quiet: bool,
) -> Result<(), String> {
    fill_lock(lock, report, plan, target).await;
    crate::scan::record(lock, scanned);
    if let Some(database) = &report.patch_database {
        super::patch::record(
            lock,
            report.images.iter().filter_map(|r| r.patch.as_ref()),
            database,
        );
    }
    write_atomically(path, &lock.to_yaml())?;
    if !quiet {
        eprintln!(
            "wrote {} ({} images{})",
            path.display(),
            lock.images.len(),
            match lock.unresolved.len() {
                0 => String::new(),
                n => format!(", {n} likely unresolved, left out"),
            }
        );
    }
    Ok(())
}

/// The lock of a plan's run (`commit -o`, `plan --engine kube -o`): the plan's lock, dated
/// now, filled from the commit's report.
pub(super) async fn write_plan_lock(
    path: &Path,
    file: &super::plan_file::PlanFile,
    report: &CopyReport,
    target: &crate::registry::Client,
    quiet: bool,
) -> Result<(), String> {
    let mut lock = file.lock.clone();
    lock.metadata.generated_at = purser::lock::rfc3339(crate::images::environment().now_unix);
    write_lock(path, &mut lock, report, &file.plan, target, &[], quiet).await
}

/// Digests at the target into the lock: what was copied (from the plan), what was there
/// (resolved at the target), what is missing.
async fn fill_lock(
    lock: &mut Lock,
    report: &CopyReport,
    plan: &Plan,
    target: &crate::registry::Client,
) {
    let by_source: BTreeMap<&str, &ImageRow> = report
        .images
        .iter()
        .map(|r| (r.source.as_str(), r))
        .collect();
    // Likely images left out: out of `images`, into `unresolved`.
    for u in &report.unresolved {
        let Some(at) = lock.images.iter().position(|e| e.image == u.source) else {
            continue;
        };
        let entry = lock.images.remove(at);
        let found_at = u.found_at.clone();
        lock.unresolved.push(UnresolvedImage {
            name: entry.name,
            image: entry.image,
            chart: entry.chart,
            confidence: Confidence::Likely,
            reason: u.reason.clone(),
            found_at,
        });
    }
    for entry in &mut lock.images {
        let Some(row) = by_source.get(entry.image.as_str()) else {
            continue;
        };
        entry.confirmed = row.confirmed;
        entry.signatures = row.signatures.clone();
        entry.mirror = Some(row.destination.clone());
        entry.source_digest = row.source_digest.as_ref().map(ToString::to_string);
        match row.state {
            "copied" => {
                entry.digest = row.digest.as_ref().map(ToString::to_string);
                if let Some(step) = plan.images.iter().find(|i| i.source == entry.image) {
                    entry.digests = step
                        .platforms
                        .iter()
                        .map(|p| PlatformDigest::new(p.digest.to_string(), p.platform.clone()))
                        .collect();
                }
            }
            "present" => {
                entry.digest = row.digest.as_ref().map(ToString::to_string);
                if let Ok(r) = Reference::parse(&row.destination)
                    && let Ok(resolved) = target.resolve(&r).await
                {
                    entry.digests = resolved
                        .platforms
                        .iter()
                        .map(|p| PlatformDigest::new(p.digest.to_string(), p.platform()))
                        .collect();
                }
            }
            _ => entry.missing = row.message.clone().or(Some(row.state.to_owned())),
        }
    }
}

/// Writes `text` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}
