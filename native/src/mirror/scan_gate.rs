//! `--scan` on copy: every platform of every image scanned at the source before anything
//! moves. Images over `--fail-on`, and images that could not be scanned, stay behind as
//! `blocked` rows naming why; the rest go on, each row saying what its scan found.
//!
//! [`let_through`] returns the requests that may go and a [`Gated`]; [`Gated::apply`] writes
//! the verdicts into the copy report, and [`Gated::scanned`] goes into the lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use purser::digest::Digest;
use purser::reference::Reference;
use purser::scan::Counts;
use serde::Serialize;

use super::args::{RegistryArgs, ScanFlags};
use super::copy_report::{CopyReport, ImageRow};
use super::lock::wanted;
use crate::copy::ImageRequest;
use crate::progress::Progress;
use crate::registry::{Client, RegistryError};
use crate::scan::{Scanned, Scanner, Target};

/// One platform's scan, as a copy report row carries it.
#[derive(Serialize, serde::Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PlatformScan {
    pub platform: String,
    pub digest: Digest,
    pub vulnerabilities: Counts,
    /// The findings over `--fail-on`, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocking: Vec<String>,
    pub report: std::path::PathBuf,
    /// The CycloneDX SBOM attached at the target (`--sbom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<Digest>,
}

/// What the gate made of every request.
pub struct Gated {
    /// The scanner, for what comes after the copy (`--sbom`).
    pub scanner: Arc<Scanner>,
    /// Per source (canonical): its platforms' scans.
    scans: BTreeMap<String, Vec<PlatformScan>>,
    /// Requests kept back, and why.
    blocked: Vec<(ImageRequest, String)>,
    /// Every scan, for the lock.
    pub scanned: Vec<Scanned>,
}

/// Resolves each request's platforms at the source (the digest a lock pins, where it pins
/// one), scans them, and keeps back what is over the gate or could not be scanned. An image
/// the source does not have goes on: the copy reports it missing.
pub async fn let_through(
    scanner: &Arc<Scanner>,
    client: &Client,
    requests: Vec<ImageRequest>,
    platforms: &[String],
    concurrency: usize,
    quiet: bool,
) -> (Vec<ImageRequest>, Gated) {
    let places = requests
        .iter()
        .map(|r| {
            let at = r
                .locked
                .as_ref()
                .and_then(|d| r.source.with_digest(d.as_str()).ok())
                .unwrap_or_else(|| r.source.clone());
            (r.source.clone(), at)
        })
        .collect();
    let resolved = platform_targets(client, places, platforms, concurrency).await;
    let mut gated = Gated {
        scanner: scanner.clone(),
        scans: BTreeMap::new(),
        blocked: Vec::new(),
        scanned: Vec::new(),
    };
    let mut going = Vec::new();
    let mut targets = Vec::new();
    for (request, (_, result)) in requests.into_iter().zip(resolved) {
        match result {
            Ok(found) => {
                targets.extend(found);
                going.push(request);
            }
            Err(e) if e.is_not_found() => going.push(request),
            Err(e) => gated.blocked.push((request, format!("not scanned: {e}"))),
        }
    }
    let progress = Arc::new(Progress::new(targets.len(), "scanning", quiet));
    gated.scanned = scanner.scan_all(client, targets, progress.clone()).await;
    progress.finish();
    let (scans, why_not) = judge(&gated.scanned);
    gated.scans = scans;
    let mut kept = Vec::new();
    for request in going {
        match why_not.get(&request.source.canonical()) {
            Some(reasons) => gated.blocked.push((
                request,
                format!("stopped by the scan gate: {}", reasons.join("; ")),
            )),
            None => kept.push(request),
        }
    }
    (kept, gated)
}

/// Each `(image, at)`'s platform manifests, resolved at `at` (`concurrency` at once, in
/// order) as scan targets, only those in `platforms` when it names any; none for an artifact
/// that is no image.
pub(super) async fn platform_targets(
    client: &Client,
    places: Vec<(Reference, Reference)>,
    platforms: &[String],
    concurrency: usize,
) -> Vec<(Reference, Result<Vec<Target>, RegistryError>)> {
    let client = client.clone();
    let platforms = platforms.to_vec();
    super::each::each(places, concurrency, move |(image, at)| {
        let client = client.clone();
        let platforms = platforms.clone();
        async move {
            let result = client.resolve(&at).await.map(|r| {
                r.platforms
                    .into_iter()
                    .map(|p| (p.platform(), p.digest))
                    .filter(|(platform, _)| wanted(&platforms, platform))
                    .map(|(platform, digest)| Target {
                        image: image.clone(),
                        at: at.clone(),
                        platform,
                        digest,
                    })
                    .collect()
            });
            (image, result)
        }
    })
    .await
}

/// Per source (canonical): its platforms' scans, and why it does not pass (over the gate, or
/// a platform not scanned), where it does not.
type Judged = (
    BTreeMap<String, Vec<PlatformScan>>,
    BTreeMap<String, Vec<String>>,
);

fn judge(scanned: &[Scanned]) -> Judged {
    let mut scans: BTreeMap<String, Vec<PlatformScan>> = BTreeMap::new();
    let mut why_not: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in scanned {
        let source = s.target.image.canonical();
        match &s.outcome {
            Ok(v) => {
                if v.blocked() {
                    let mut ids: Vec<String> = v.offending.iter().map(|f| f.id.clone()).collect();
                    ids.dedup();
                    why_not.entry(source.clone()).or_default().push(format!(
                        "{}: {}",
                        s.target.platform,
                        ids.join(", ")
                    ));
                }
                scans.entry(source).or_default().push(PlatformScan {
                    platform: s.target.platform.clone(),
                    digest: s.target.digest.clone(),
                    vulnerabilities: v.counts,
                    blocking: v.offending.iter().map(|f| f.id.clone()).collect(),
                    report: v.report.clone(),
                    sbom: None,
                });
            }
            Err(e) => why_not
                .entry(source)
                .or_default()
                .push(format!("{} not scanned: {e}", s.target.platform)),
        }
    }
    (scans, why_not)
}

/// `import --scan`: every image the import put (or found) at the target, scanned there;
/// each row carries its scans, and one over the gate or not scannable is named and makes
/// the report incomplete. The scans, for the lock.
pub async fn scan_at_target(
    scanner: &Arc<Scanner>,
    target: &Client,
    report: &mut CopyReport,
    quiet: bool,
) -> Vec<Scanned> {
    let work = report
        .at_target()
        .into_iter()
        .map(|t| (t.image, t.at))
        .collect();
    let mut targets = Vec::new();
    let mut unreadable: BTreeMap<String, String> = BTreeMap::new();
    for (image, result) in platform_targets(target, work, &[], 4).await {
        match result {
            Ok(found) => targets.extend(found),
            Err(e) => {
                unreadable.insert(image.canonical(), format!("not scanned: {e}"));
            }
        }
    }
    let progress = Arc::new(Progress::new(targets.len(), "scanning", quiet));
    let scanned = scanner.scan_all(target, targets, progress.clone()).await;
    progress.finish();
    let (mut scans, why_not) = judge(&scanned);
    for row in &mut report.images {
        row.scan = scans.remove(&row.source).unwrap_or_default();
        let reason = why_not
            .get(&row.source)
            .map(|r| {
                format!(
                    "over the scan gate at the target (imported already: gate export or copy \
                     to keep it out): {}",
                    r.join("; ")
                )
            })
            .or_else(|| unreadable.get(&row.source).cloned());
        if let Some(reason) = reason {
            row.message = Some(match row.message.take() {
                Some(m) => format!("{m}; {reason}"),
                None => reason,
            });
            report.complete = false;
        }
    }
    scanned
}

/// With `--scan` (or `--fail-on`): the scanner from `flags` and [`let_through`]; without, the
/// requests unchanged (and an error when a scan flag was given anyway).
pub async fn gate_if_asked(
    scan: bool,
    flags: &ScanFlags,
    registry: &RegistryArgs,
    client: &Client,
    requests: Vec<ImageRequest>,
    platforms: &[String],
    quiet: bool,
) -> Result<(Vec<ImageRequest>, Option<Gated>), String> {
    if !scan && flags.fail_on.is_none() {
        flags.unused()?;
        return Ok((requests, None));
    }
    let scanner = Arc::new(flags.scanner(registry).await?);
    let (requests, gated) = let_through(
        &scanner,
        client,
        requests,
        platforms,
        registry.concurrency,
        quiet,
    )
    .await;
    Ok((requests, Some(gated)))
}

impl Gated {
    /// The scans of `source` (canonical), one a platform.
    pub fn scans_of(&self, source: &str) -> &[PlatformScan] {
        self.scans.get(source).map_or(&[], Vec::as_slice)
    }

    /// The requests kept back, and why.
    pub fn blocked(&self) -> &[(ImageRequest, String)] {
        &self.blocked
    }

    /// Each row's scans; the kept-back requests as `blocked` rows; the report is incomplete
    /// when any was kept back.
    pub fn apply(&self, report: &mut CopyReport) {
        for row in &mut report.images {
            if let Some(scans) = self.scans.get(&row.source) {
                row.scan = scans.clone();
            }
        }
        for (request, reason) in &self.blocked {
            let source = request.source.canonical();
            report.images.push(ImageRow {
                scan: self.scans.get(&source).cloned().unwrap_or_default(),
                message: Some(reason.clone()),
                ..ImageRow::new(source, request.destination.canonical(), "blocked")
            });
        }
        if !self.blocked.is_empty() {
            report.complete = false;
        }
    }
}
