//! [`transfer`]: one run of the copy engine for copy and import — plan a [`Job`] from a
//! source store to the target registry, add the charts pushed from archives, execute with
//! progress (per [`TransferOptions`]) and turn what happened into a [`CopyReport`], a row an
//! image and a chart.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use purser::chart_artifact::ChartArtifact;
use purser::digest::Digest;
use purser::inventory::Image;
use purser::plan::{ImageStep, Plan, Repository};
use purser::reference::Reference;

use super::charts::{Carried, LoadedChart, found_at};
use super::copy_report::{
    BlobCounts, ByteCounts, ChartRow, CopyReport, ImageRow, Requests, UnresolvedRow,
};
use crate::copy::{self, BlobOutcome, Executor, ImageRequest, LocalBlobs, PlanOptions, Walked};
use crate::progress::Progress;
use crate::store::{RegistryStore, Store};

/// What one transfer moves.
pub(super) struct Job<'a> {
    pub requests: Vec<ImageRequest>,
    /// Likely images already known to be absent.
    pub unresolved: Vec<UnresolvedRow>,
    pub charts: &'a [LoadedChart],
    /// Where each image was found (for unresolved rows).
    pub images: &'a [Image],
}

/// How one transfer runs.
pub(super) struct TransferOptions {
    pub plan: PlanOptions,
    pub attempts: u32,
    pub dry_run: bool,
    /// No progress (the report goes out as JSON).
    pub quiet: bool,
    pub allow_missing: bool,
    /// Push no manifest when any blob failed (an import: a damaged bundle makes nothing
    /// visible).
    pub strict: bool,
}

impl TransferOptions {
    /// How `execute` and `commit` run a plan file's steps: `registry`'s concurrency and
    /// retries, the plan's `--allow-missing`; `quiet` when the report goes out as JSON.
    pub(super) fn of_plan(
        file: &super::plan_file::PlanFile,
        registry: &super::args::RegistryArgs,
        quiet: bool,
    ) -> TransferOptions {
        TransferOptions {
            plan: PlanOptions {
                concurrency: registry.concurrency,
                ..PlanOptions::default()
            },
            attempts: registry.retries.max(1),
            dry_run: false,
            quiet,
            allow_missing: file.allow_missing,
            strict: false,
        }
    }
}

/// A transfer planned, nothing moved yet: the report as it reads before the run (rows
/// `planned`, or `present`, `missing`, `failed` already), the plan, and the blobs that come
/// from memory (the charts pushed from archives). [`transfer`] runs it at once; `helm mirror
/// plan` writes it down for `execute` and `commit` to run elsewhere.
pub(super) struct Prepared {
    pub report: CopyReport,
    pub plan: Plan,
    pub local: LocalBlobs,
}

/// Plans `job` from `source` to the target registry and (unless a dry run) runs it; the
/// report (source requests left for the caller to count) and the plan.
pub(super) async fn transfer<S: Store>(
    source: Arc<S>,
    target_client: &crate::registry::Client,
    job: Job<'_>,
    options: &TransferOptions,
) -> (CopyReport, Plan) {
    let Prepared {
        mut report,
        plan,
        local,
    } = prepare(source.clone(), target_client, job, &options.plan).await;
    if options.dry_run {
        report.plan = Some(plan.clone());
        return (report, plan);
    }
    let bar = Arc::new(Progress::bytes(
        report.bytes.unique,
        &format!("copying {} images", plan.images.len()),
        options.quiet,
    ));
    let executor = executor(source, target_client, local, options, &bar);
    let execution = executor.run(&plan).await;
    bar.finish();
    settle(&mut report, &plan, &execution, options.allow_missing);
    report.requests.target = target_client.stats().requests();
    (report, plan)
}

/// Plans `job`: walks the source for every request, adds the charts pushed from archives,
/// and writes the report as it reads before anything moves.
pub(super) async fn prepare<S: Store>(
    source: Arc<S>,
    target_client: &crate::registry::Client,
    job: Job<'_>,
    options: &PlanOptions,
) -> Prepared {
    let Job {
        requests,
        unresolved,
        charts,
        images: inventory_images,
    } = job;
    let target = Arc::new(RegistryStore::target(target_client.clone()));
    let planned = copy::plan(source, target.clone(), requests.clone(), options.clone()).await;
    let mut builder = planned.builder;
    // Charts from archives: their manifest and blobs, from memory.
    let mut local = LocalBlobs::new();
    let mut chart_rows = Vec::new();
    for chart in charts {
        let Carried::Archive(artifact, bytes, provenance) = &chart.carried else {
            continue;
        };
        let repo = Repository::from_reference(&chart.destination);
        let tag = chart.destination.tag().unwrap_or("latest");
        let mut row = ChartRow {
            name: chart.id.name.clone(),
            version: chart.id.version.clone(),
            destination: chart.destination.canonical(),
            digest: Some(artifact.manifest_digest.clone()),
            state: "planned",
            message: None,
            verified: None,
            signed: None,
        };
        match target.manifest_head(&repo, tag).await {
            Ok(Some(d)) if d == artifact.manifest_digest => row.state = "present",
            Ok(_) => {
                if let Err(e) = add_archive_chart(
                    &mut builder,
                    &mut local,
                    &repo,
                    tag,
                    artifact,
                    bytes,
                    provenance.as_deref(),
                ) {
                    row.state = "failed";
                    row.message = Some(e.to_string());
                }
            }
            Err(e) => {
                row.state = "failed";
                row.message = Some(e.to_string());
            }
        }
        chart_rows.push(row);
    }
    let plan = builder.build();
    let totals = plan.totals();

    let mut report = CopyReport {
        complete: false,
        images: Vec::new(),
        unresolved,
        charts: chart_rows,
        blobs: BlobCounts {
            unique: totals.blobs,
            ..BlobCounts::default()
        },
        bytes: ByteCounts {
            unique: totals.bytes,
            uploaded: 0,
        },
        requests: Requests::default(),
        repositories: totals
            .target_repositories
            .iter()
            .map(ToString::to_string)
            .collect(),
        patch_database: None,
        plan: None,
    };
    let steps: HashMap<String, &ImageStep> =
        plan.images.iter().map(|i| (i.source.clone(), i)).collect();
    for ((request, walked), unlisted) in requests.iter().zip(&planned.walked).zip(planned.unlisted)
    {
        match walked {
            // Likely images the sources say do not exist: reported apart, never planned.
            Walked::Unresolved { message } => report.unresolved.push(UnresolvedRow {
                source: request.source.canonical(),
                reason: message.clone(),
                found_at: inventory_images
                    .iter()
                    .find(|i| i.reference.canonical() == request.source.canonical())
                    .map(found_at)
                    .unwrap_or_default(),
            }),
            walked => report.images.push(ImageRow {
                tags_unlisted: unlisted,
                ..row(
                    request,
                    walked,
                    steps.get(&request.source.canonical()).copied(),
                )
            }),
        }
    }
    // oci:// charts are copied as images: report them as charts.
    for chart in charts {
        if !matches!(chart.carried, Carried::Oci(_)) {
            continue;
        }
        let destination = chart.destination.canonical();
        let Some(at) = report
            .images
            .iter()
            .position(|r| r.destination == destination)
        else {
            continue;
        };
        let row = report.images.remove(at);
        report.charts.push(ChartRow {
            name: chart.id.name.clone(),
            version: chart.id.version.clone(),
            destination: row.destination,
            digest: row.digest,
            state: row.state,
            message: row.message,
            verified: row.verified,
            signed: None,
        });
    }
    report.complete = report
        .images
        .iter()
        .all(|r| matches!(r.state, "planned" | "present"));
    report.requests.target = target_client.stats().requests();
    Prepared {
        report,
        plan,
        local,
    }
}

/// The executor of a transfer to the target registry, telling `bar` of every blob done.
pub(super) fn executor<S: Store>(
    source: Arc<S>,
    target_client: &crate::registry::Client,
    local: LocalBlobs,
    options: &TransferOptions,
    bar: &Arc<Progress>,
) -> Executor<S, RegistryStore> {
    let on_blob = {
        let bar = bar.clone();
        Arc::new(move |step: &purser::plan::BlobStep, outcome: BlobOutcome| {
            let first = step.targets.len() <= 1 || outcome == BlobOutcome::Uploaded;
            if first {
                bar.advance(
                    step.size,
                    &format!(
                        "{} {} ({} bytes)",
                        match outcome {
                            BlobOutcome::Uploaded => "sent",
                            BlobOutcome::Present => "present",
                            BlobOutcome::Mounted => "mounted",
                        },
                        step.digest,
                        step.size
                    ),
                );
            }
        })
    };
    Executor {
        source,
        target: Arc::new(RegistryStore::target(target_client.clone())),
        local: Arc::new(local),
        concurrency: options.plan.concurrency.max(1),
        attempts: options.attempts,
        on_blob,
        strict: options.strict,
    }
}

/// Turns the `planned` rows of `report` into what `execution` made of them (`copied`, or
/// `failed` with the first cause), and counts what moved.
pub(super) fn settle(
    report: &mut CopyReport,
    plan: &Plan,
    execution: &copy::Execution,
    allow_missing: bool,
) {
    report.blobs.uploaded = execution.uploaded;
    report.blobs.mounted = execution.mounted;
    report.blobs.present = execution.present;
    report.bytes.uploaded = execution.uploaded_bytes;
    let rows = report
        .images
        .iter_mut()
        .map(|r| {
            (
                &mut r.state,
                &mut r.message,
                &r.destination,
                r.digest.as_ref(),
            )
        })
        .chain(report.charts.iter_mut().map(|c| {
            (
                &mut c.state,
                &mut c.message,
                &c.destination,
                c.digest.as_ref(),
            )
        }));
    for (state, message, destination, digest) in rows {
        if *state != "planned" {
            continue;
        }
        if arrived(execution, destination, digest) {
            *state = "copied";
        } else {
            *state = "failed";
            *message = Some(first_failure(execution, plan, destination, digest));
        }
    }
    report.complete = report.images.iter().all(|r| {
        matches!(r.state, "copied" | "present") || (r.state == "missing" && allow_missing)
    }) && report
        .charts
        .iter()
        .all(|c| matches!(c.state, "copied" | "present"));
}

/// Whether the image (or chart) at `destination` arrived whole: its tag is set, or, placed
/// by digest, its root manifest went in.
fn arrived(execution: &copy::Execution, destination: &str, digest: Option<&Digest>) -> bool {
    let Ok(r) = Reference::parse(destination) else {
        return false;
    };
    let repo = Repository::from_reference(&r);
    match (r.tag(), digest) {
        (Some(tag), _) => execution.tagged.contains(&(repo, tag.to_owned())),
        (None, Some(d)) => !execution.failed_manifests.contains(&(repo, d.clone())),
        (None, None) => false,
    }
}

/// A chart pushed from its archive, into the plan: its manifest (tagged) and its blobs
/// (config, archive, provenance) from memory.
pub(super) fn add_archive_chart(
    builder: &mut purser::plan::PlanBuilder,
    local: &mut LocalBlobs,
    repo: &Repository,
    tag: &str,
    artifact: &ChartArtifact,
    archive: &[u8],
    provenance: Option<&[u8]>,
) -> Result<(), purser::plan::PlanError> {
    local.insert(
        artifact.config_descriptor.digest.clone(),
        Bytes::from(artifact.config.clone()),
    );
    local.insert(
        artifact.chart.digest.clone(),
        Bytes::copy_from_slice(archive),
    );
    if let (Some(d), Some(p)) = (&artifact.provenance, provenance) {
        local.insert(d.digest.clone(), Bytes::copy_from_slice(p));
    }
    builder.add_manifest(
        repo,
        repo,
        artifact.manifest.clone(),
        purser::plan::OCI_MANIFEST,
        Some(&artifact.manifest_digest),
    )?;
    builder.tag(repo, tag, &artifact.manifest_digest)
}

/// Why the image at `destination` (root `digest`) was not tagged.
fn first_failure(
    execution: &copy::Execution,
    plan: &Plan,
    destination: &str,
    digest: Option<&Digest>,
) -> String {
    let r = Reference::parse(destination).ok();
    let repo = r.as_ref().map(Repository::from_reference);
    let cause = repo
        .as_ref()
        .zip(digest)
        .and_then(|(repo, d)| execution.cause(plan, repo, d));
    let tag_failure = r.as_ref().zip(repo.as_ref()).and_then(|(r, repo)| {
        execution
            .failures
            .get(&format!("{repo}:{}", r.tag().unwrap_or("latest")))
    });
    match (cause, tag_failure) {
        (Some(cause), _) => format!("{destination}: not tagged: {cause}"),
        (None, Some(why)) => why.clone(),
        (None, None) => format!("{destination}: not tagged: part of it did not arrive"),
    }
}

fn row(request: &ImageRequest, walked: &Walked, step: Option<&ImageStep>) -> ImageRow {
    let mut row = ImageRow {
        confirmed: request.likely && matches!(walked, Walked::Planned | Walked::Present { .. }),
        ..ImageRow::new(
            request.source.canonical(),
            request.destination.canonical(),
            "failed",
        )
    };
    match walked {
        Walked::Present {
            digest,
            source_digest,
        } => {
            row.state = "present";
            row.digest = Some(digest.clone());
            if source_digest != digest {
                row.source_digest = Some(source_digest.clone());
            }
        }
        Walked::Missing { message } => {
            row.state = "missing";
            row.message = Some(message.clone());
        }
        Walked::Unresolved { message } => {
            row.state = "unresolved";
            row.message = Some(message.clone());
        }
        Walked::Failed { message } => row.message = Some(message.clone()),
        Walked::Planned => {
            let Some(step) = step else {
                row.message = Some("left out of the plan".to_owned());
                return row;
            };
            row.digest = Some(step.digest.clone());
            if step.source_digest != step.digest {
                row.source_digest = Some(step.source_digest.clone());
            }
            row.referrers = step.referrers;
            row.state = "planned";
        }
    }
    row
}
