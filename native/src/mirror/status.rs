//! `helm mirror status CHART --to REGISTRY[/PREFIX]`: per image, whether the mirror holds it
//! with the source's digest.
//!
//! [`StatusArgs`] is what the user typed; [`run`] returns a [`StatusReport`] (a [`Placed`]
//! row an image); [`print`] is its table; exit 1 unless every image is present.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::inventory::Confidence;
use purser::lock::Lock;
use purser::reference::Reference;
use serde::Serialize;

use super::args::{Common, PlaceArgs};
use super::each::each;
use super::verify::skipped;
use crate::confirm;
use crate::progress::Progress;
use crate::registry::Client;

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub place: PlaceArgs,
    /// Take source digests from this lock instead of asking the source registries.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placed {
    pub image: String,
    pub destination: String,
    /// `present` (same digest), `missing`, `different`, `error`, or `unresolved` (a likely
    /// image its source registry says does not exist: not expected in the mirror).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Every image's row, and how many likely images `--lock` set aside (not checked).
pub struct StatusReport {
    pub rows: Vec<Placed>,
    pub skipped_unresolved: usize,
}

impl StatusReport {
    /// Every image present (or set aside as unresolved).
    #[must_use]
    pub fn complete(&self) -> bool {
        self.rows
            .iter()
            .all(|r| matches!(r.state, "present" | "unresolved"))
    }
}

/// `helm mirror status`: the rows as JSON or a table; exit 1 unless complete.
pub async fn command(mut args: StatusArgs) -> Result<ExitCode, String> {
    let report = run(&mut args).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.rows).expect("report serialises")
        );
    } else {
        print(&report);
    }
    Ok(if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Places every image (by `--to`, `--flatten`, `--map`) and asks source and mirror for its
/// digest (progress on stderr).
pub async fn run(args: &mut StatusArgs) -> Result<StatusReport, String> {
    let rules = args.place.rules()?;
    let lock = match &args.lock {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            Some(Lock::parse(&text, &path.display().to_string())?)
        }
        None => None,
    };
    let (inventory, _) = args.common.inventory()?;
    let clients = (
        args.common.registry.client()?,
        args.common.registry.target_client()?,
    );
    let mut work = Vec::new();
    let mut skipped_unresolved = 0;
    for image in &inventory.images {
        let likely = image.confidence == Confidence::Likely;
        if likely
            && lock
                .as_ref()
                .is_some_and(|l| l.find_unresolved(&image.reference.canonical()).is_some())
        {
            skipped_unresolved += 1;
            continue;
        }
        let destination = rules.place(&image.reference)?;
        let locked = lock
            .as_ref()
            .and_then(|l| l.find(&image.reference.canonical()))
            .and_then(|l| l.digest.clone());
        work.push((image.reference.clone(), destination, locked, likely));
    }
    let progress = Arc::new(Progress::new(work.len(), "checking", args.json));
    let rows = {
        let progress = progress.clone();
        each(
            work,
            args.common.registry.concurrency,
            move |(source, destination, locked, likely)| {
                let (source_client, target_client) = clients.clone();
                let progress = progress.clone();
                async move {
                    let row = place(
                        &source_client,
                        &target_client,
                        &source,
                        &destination,
                        locked,
                        likely,
                    )
                    .await;
                    progress.done(&format!("{} {}", row.state, row.destination));
                    row
                }
            },
        )
        .await
    };
    progress.finish();
    Ok(StatusReport {
        rows,
        skipped_unresolved,
    })
}

/// The table, then how many likely images were skipped.
pub fn print(report: &StatusReport) {
    print_status(&report.rows);
    if report.skipped_unresolved > 0 {
        println!(
            "{}",
            skipped(report.skipped_unresolved).trim_start_matches("; ")
        );
    }
}

async fn place(
    client: &Client,
    target: &Client,
    source: &Reference,
    destination: &Reference,
    locked: Option<String>,
    likely: bool,
) -> Placed {
    let mut row = Placed {
        image: source.canonical(),
        destination: destination.canonical(),
        state: "error",
        source_digest: locked,
        destination_digest: None,
        message: None,
    };
    if row.source_digest.is_none() {
        match client.head(source).await {
            Ok(d) => row.source_digest = Some(d.digest.to_string()),
            Err(e) => {
                if likely && confirm::absent(&e) {
                    row.state = "unresolved";
                }
                row.message = Some(e.to_string());
                return row;
            }
        }
    }
    match target.head(destination).await {
        Ok(d) => {
            row.state = if row.source_digest.as_deref() == Some(d.digest.as_str()) {
                "present"
            } else {
                "different"
            };
            row.destination_digest = Some(d.digest.to_string());
        }
        Err(e) if e.is_not_found() => row.state = "missing",
        Err(e) => row.message = Some(e.to_string()),
    }
    row
}

fn print_status(rows: &[Placed]) {
    let w0 = rows
        .iter()
        .map(|r| r.image.len())
        .chain([5])
        .max()
        .unwrap_or(5);
    let w1 = rows
        .iter()
        .map(|r| r.destination.len())
        .chain([11])
        .max()
        .unwrap_or(11);
    println!("{:w0$}  {:w1$}  STATE", "IMAGE", "DESTINATION");
    for r in rows {
        let extra = r
            .message
            .as_deref()
            .map(|m| format!("  ({m})"))
            .unwrap_or_default();
        println!("{:w0$}  {:w1$}  {}{extra}", r.image, r.destination, r.state);
    }
    let present = rows.iter().filter(|r| r.state == "present").count();
    let unresolved = rows.iter().filter(|r| r.state == "unresolved").count();
    println!(
        "{present} of {} images present in the mirror{}",
        rows.len() - unresolved,
        match unresolved {
            0 => String::new(),
            n => format!(
                " ({n} unresolved likely image{} not counted)",
                if n == 1 { "" } else { "s" }
            ),
        }
    );
}
