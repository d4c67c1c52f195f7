//! `helm mirror verify CHART --lock FILE`: one HEAD per image, and the drift from the lock.
//!
//! [`VerifyArgs`] is what the user typed; [`run`] returns a [`VerifyReport`] (each
//! [`Drift`] from the lock); [`print`] is its text; exit 1 on drift.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::inventory::Confidence;
use purser::lock::Lock;
use purser::reference::Reference;
use serde::Serialize;

use super::args::Common;
use super::copy_report::is_zero;
use super::each::each;
use crate::progress::Progress;

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// The images-lock to check against.
    #[arg(long, value_name = "FILE")]
    pub lock: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub image: String,
    /// `changed`, `missing`, `unlocked` (used but not in the lock), `unused` (locked, no longer used), `error`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub clean: bool,
    pub images: usize,
    pub drift: Vec<Drift>,
    /// Likely images the lock lists as unresolved (their registry said they do not exist):
    /// not checked.
    #[serde(skip_serializing_if = "is_zero")]
    pub unresolved: usize,
    pub requests: u64,
}

/// `helm mirror verify`: the report as JSON or text; exit 1 on drift.
pub async fn command(mut args: VerifyArgs) -> Result<ExitCode, String> {
    let report = run(&mut args).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print(&report, &args.lock);
    }
    Ok(if report.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Re-resolves the chart's images (one HEAD each, progress on stderr) against the lock.
pub async fn run(args: &mut VerifyArgs) -> Result<VerifyReport, String> {
    let text = std::fs::read_to_string(&args.lock)
        .map_err(|e| format!("reading {}: {e}", args.lock.display()))?;
    let lock = Lock::parse(&text, &args.lock.display().to_string())?;
    let (mut inventory, _) = args.common.inventory()?;
    // Likely images the lock set aside as unresolved are not checked, nor called unlocked.
    let before = inventory.images.len();
    inventory.images.retain(|i| {
        i.confidence != Confidence::Likely
            || lock.find_unresolved(&i.reference.canonical()).is_none()
    });
    let unresolved = before - inventory.images.len();
    let client = args.common.registry.client()?;
    let locked: Vec<(Reference, Option<String>)> = inventory
        .images
        .iter()
        .filter_map(|i| {
            lock.find(&i.reference.canonical())
                .map(|l| (i.reference.clone(), l.digest.clone()))
        })
        .collect();
    let progress = Arc::new(Progress::new(locked.len(), "verifying", args.json));
    let heads = {
        let client = client.clone();
        let progress = progress.clone();
        each(
            locked,
            args.common.registry.concurrency,
            move |(r, digest)| {
                let client = client.clone();
                let progress = progress.clone();
                async move {
                    let head = client.head(&r).await;
                    progress.done(&format!("checked {}", r.canonical()));
                    (r, digest, head)
                }
            },
        )
        .await
    };
    progress.finish();

    let mut drift = Vec::new();
    for image in &inventory.images {
        let canonical = image.reference.canonical();
        if lock.find(&canonical).is_none() {
            drift.push(Drift {
                image: canonical,
                state: "unlocked",
                locked: None,
                registry: None,
                message: Some("used by the chart, not in the lock".into()),
            });
        }
    }
    for (r, locked_digest, head) in heads {
        let image = r.canonical();
        match head {
            Ok(d) if locked_digest.as_deref() == Some(d.digest.as_str()) => {}
            Ok(d) => drift.push(Drift {
                image,
                state: "changed",
                locked: locked_digest,
                registry: Some(d.digest.to_string()),
                message: None,
            }),
            Err(e) if e.is_not_found() => drift.push(Drift {
                image,
                state: "missing",
                locked: locked_digest,
                registry: None,
                message: Some(e.to_string()),
            }),
            Err(e) => drift.push(Drift {
                image,
                state: "error",
                locked: locked_digest,
                registry: None,
                message: Some(e.to_string()),
            }),
        }
    }
    let used: std::collections::BTreeSet<String> = inventory
        .images
        .iter()
        .map(|i| i.reference.canonical())
        .collect();
    for entry in &lock.images {
        if !used.contains(&entry.image) {
            drift.push(Drift {
                image: entry.image.clone(),
                state: "unused",
                locked: entry.digest.clone(),
                registry: None,
                message: Some("in the lock, no longer used by the chart".into()),
            });
        }
    }
    let stats = client.stats();
    let report = VerifyReport {
        clean: drift.is_empty(),
        images: inventory.images.len(),
        drift,
        unresolved,
        requests: stats.requests(),
    };
    Ok(report)
}

/// `clean: …` or one line per drift and the counts.
pub fn print(report: &VerifyReport, lock: &Path) {
    if report.clean {
        println!(
            "clean: {} images match {} ({} requests){}",
            report.images,
            lock.display(),
            report.requests,
            skipped(report.unresolved)
        );
    } else {
        for d in &report.drift {
            let detail = match (d.state, &d.locked, &d.registry, &d.message) {
                ("changed", Some(l), Some(r), _) => format!("lock {l}, registry {r}"),
                (_, _, _, Some(m)) => m.clone(),
                _ => String::new(),
            };
            println!("{:9} {}  {detail}", d.state, d.image);
        }
        let count = |state: &str| report.drift.iter().filter(|d| d.state == state).count();
        let parts: Vec<String> = ["changed", "missing", "unlocked", "unused", "error"]
            .iter()
            .filter(|s| count(s) > 0)
            .map(|s| format!("{} {s}", count(s)))
            .collect();
        println!(
            "drift from {}: {}{}",
            lock.display(),
            parts.join(", "),
            skipped(report.unresolved)
        );
    }
}

/// `; N unresolved likely images skipped` when the lock set some aside.
pub(super) fn skipped(unresolved: usize) -> String {
    match unresolved {
        0 => String::new(),
        1 => "; 1 unresolved likely image skipped (see the lock's `unresolved`)".to_owned(),
        n => format!("; {n} unresolved likely images skipped (see the lock's `unresolved`)"),
    }
}
