//! `helm mirror scan CHART` (or `--lock FILE`): every platform manifest of every image,
//! scanned by the real Trivy at its registry; one row an image and platform, each report kept
//! in the reports folder, and a gate (`--fail-on`).
//!
//! [`ScanArgs`] is what the user typed; [`run`] returns a [`ScanReport`] (a [`ScanRow`] per
//! image and platform); [`print`] is its table. Exit 1 when an image is over the gate or any
//! platform could not be scanned: nothing passes unscanned.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::lock::Lock;
use purser::reference::Reference;
use purser::scan::Counts;
use serde::Serialize;

use super::args::{RegistryArgs, ScanFlags, SelectArgs, inventory_of};
use super::lock::wanted;
use super::lock_file::{read_lock, write_atomically};
use super::scan_gate::platform_targets;
use crate::progress::Progress;

use crate::render::{ChartArgs, RenderFlags};
use crate::scan::{Scanned, Target};

#[derive(Args)]
pub struct ScanArgs {
    /// A chart directory, a .tgz, repo/name, or an oci:// or https:// reference (or --lock).
    #[arg(required_unless_present = "lock", conflicts_with = "lock")]
    pub chart: Option<String>,
    /// Release name used to render.
    #[arg(long, default_value = "release")]
    pub release: String,
    #[command(flatten)]
    pub render: RenderFlags,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Scan the images of this images-lock at the platform digests it records, and record
    /// each scan (time, database, counts) in it.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Only these platforms (os/arch[/variant], repeatable).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    #[command(flatten)]
    pub scan: ScanFlags,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One image and platform.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRow {
    pub image: String,
    pub platform: String,
    pub digest: String,
    /// `clean`, `findings`, `blocked` (over `--fail-on`), `error` (not scanned).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<Counts>,
    /// The findings over `--fail-on`, by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocking: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    pub database: String,
    pub rows: Vec<ScanRow>,
    /// Images that are not images (artifacts without a platform): nothing to scan.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_images: Vec<String>,
    /// Images whose manifest could not be read at all (so no platform is known).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<ScanRow>,
}

impl ScanReport {
    /// Every platform scanned and none over the gate.
    pub fn passed(&self) -> bool {
        self.unreadable.is_empty()
            && self
                .rows
                .iter()
                .all(|r| matches!(r.state, "clean" | "findings"))
    }
}

/// `helm mirror scan`: the report as JSON or a table; exit 1 unless it passed.
pub async fn command(mut args: ScanArgs) -> Result<ExitCode, String> {
    let report = run(&mut args).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print(&report);
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Resolves every image's platforms (or reads them from `--lock`), scans each platform
/// digest once, and with `--lock` records the scans there.
pub async fn run(args: &mut ScanArgs) -> Result<ScanReport, String> {
    let scanner = Arc::new(args.scan.scanner(&args.registry).await?);
    let client = args.registry.client()?;
    let mut lock = args.lock.as_deref().map(read_lock).transpose()?;
    let mut not_images = Vec::new();
    let mut unreadable = Vec::new();
    let targets = match &lock {
        Some(lock) => lock_targets(lock, &args.platform)?,
        None => {
            let mut chart = ChartArgs {
                chart: args.chart.clone().expect("clap: a chart or --lock"),
                release: args.release.clone(),
                render: args.render.clone(),
            };
            let (inventory, _) = inventory_of(&mut chart, &args.select, &args.registry)?;
            let images: Vec<Reference> = inventory
                .images
                .iter()
                .map(|i| i.reference.clone())
                .collect();
            let places = images.iter().map(|i| (i.clone(), i.clone())).collect();
            let resolved = platform_targets(&client, places, &[], args.registry.concurrency).await;
            let mut targets = Vec::new();
            for (image, result) in resolved {
                match result {
                    Ok(found) if found.is_empty() => not_images.push(image.canonical()),
                    Ok(found) => targets.extend(
                        found
                            .into_iter()
                            .filter(|t| wanted(&args.platform, &t.platform)),
                    ),
                    Err(e) => unreadable.push(ScanRow::error(
                        image.canonical(),
                        String::new(),
                        String::new(),
                        Some(e.to_string()),
                    )),
                }
            }
            targets
        }
    };
    let progress = Arc::new(Progress::new(targets.len(), "scanning", args.json));
    let scanned = scanner.scan_all(&client, targets, progress.clone()).await;
    progress.finish();
    if let (Some(lock), Some(path)) = (lock.as_mut(), args.lock.as_ref()) {
        crate::scan::record(lock, &scanned);
        write_atomically(path, &lock.to_yaml())?;
    }
    Ok(ScanReport {
        database: scanner.database(),
        rows: scanned.iter().map(row).collect(),
        not_images,
        unreadable,
    })
}

/// The lock's images at their recorded platform digests.
fn lock_targets(lock: &Lock, platforms: &[String]) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for image in &lock.images {
        let reference = Reference::parse(&image.image)
            .map_err(|e| format!("the lock's image {:?}: {e}", image.image))?;
        for platform in &image.digests {
            if !wanted(platforms, &platform.arch) {
                continue;
            }
            let digest = purser::digest::Digest::parse(&platform.digest).map_err(|e| {
                format!(
                    "the lock's image {} platform {}: digest {:?}: {e}",
                    image.image, platform.arch, platform.digest
                )
            })?;
            targets.push(Target {
                image: reference.clone(),
                at: reference.clone(),
                platform: platform.arch.clone(),
                digest,
            });
        }
    }
    Ok(targets)
}

impl ScanRow {
    /// A row of what could not be scanned (`message` says why; set later where it is not
    /// known yet).
    fn error(image: String, platform: String, digest: String, message: Option<String>) -> ScanRow {
        ScanRow {
            image,
            platform,
            digest,
            state: "error",
            os: None,
            vulnerabilities: None,
            blocking: Vec::new(),
            report: None,
            reused: false,
            message,
        }
    }
}

fn row(s: &Scanned) -> ScanRow {
    let mut row = ScanRow::error(
        s.target.image.canonical(),
        s.target.platform.clone(),
        s.target.digest.to_string(),
        None,
    );
    match &s.outcome {
        Ok(v) => {
            row.state = if v.blocked() {
                "blocked"
            } else if v.counts.total() == 0 {
                "clean"
            } else {
                "findings"
            };
            row.os = v.summary.os.clone();
            row.vulnerabilities = Some(v.counts);
            row.blocking = v.offending.iter().map(|f| f.id.clone()).collect();
            row.blocking.dedup();
            row.report = Some(v.report.clone());
            row.reused = v.reused;
        }
        Err(e) => row.message = Some(e.clone()),
    }
    row
}

/// The summary table, then what did not pass.
pub fn print(report: &ScanReport) {
    let rows: Vec<&ScanRow> = report.rows.iter().chain(&report.unreadable).collect();
    let w0 = rows
        .iter()
        .map(|r| r.image.len())
        .chain([5])
        .max()
        .unwrap_or(5);
    let w1 = rows
        .iter()
        .map(|r| r.platform.len())
        .chain([8])
        .max()
        .unwrap_or(8);
    println!(
        "{:w0$}  {:w1$}  {:>8}  {:>4}  {:>6}  {:>3}  {:>7}  STATE",
        "IMAGE", "PLATFORM", "CRITICAL", "HIGH", "MEDIUM", "LOW", "FIXABLE"
    );
    for r in &rows {
        let c = r.vulnerabilities.unwrap_or_default();
        let state = match (&r.message, r.blocking.is_empty()) {
            (Some(m), _) => format!("{} ({m})", r.state),
            (None, false) => format!("{} ({})", r.state, r.blocking.join(", ")),
            (None, true) => r.state.to_owned(),
        };
        if r.vulnerabilities.is_some() {
            println!(
                "{:w0$}  {:w1$}  {:>8}  {:>4}  {:>6}  {:>3}  {:>7}  {state}",
                r.image, r.platform, c.critical, c.high, c.medium, c.low, c.fixable
            );
        } else {
            println!(
                "{:w0$}  {:w1$}  {:>8}  {:>4}  {:>6}  {:>3}  {:>7}  {state}",
                r.image, r.platform, "-", "-", "-", "-", "-"
            );
        }
    }
    for image in &report.not_images {
        println!("{image}: not an image (no platform to scan)");
    }
    let blocked: Vec<&str> = rows
        .iter()
        .filter(|r| r.state == "blocked")
        .map(|r| r.image.as_str())
        .collect();
    let failed = rows.iter().filter(|r| r.state == "error").count();
    println!(
        "{} platform manifests scanned against {}{}{}",
        report.rows.len() - report.rows.iter().filter(|r| r.state == "error").count(),
        report.database,
        match blocked.len() {
            0 => String::new(),
            n => format!("; {n} over the gate"),
        },
        match failed {
            0 => String::new(),
            n => format!("; {n} not scanned"),
        }
    );
}
