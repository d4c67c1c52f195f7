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
use crate::copy::{
    self, BlobOutcome, Executor, ImageRequest, LocalBlobs, PlanOptions, TagsUnlisted, Walked,
};
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

/// Plans `job` from `source` to the target registry and (unless a dry run) runs it; the
/// report (source requests left for the caller to count) and the plan.
pub(super) async fn transfer<S: Store>(
    source: Arc<S>,
    target_client: &crate::registry::Client,
    job: Job<'_>,
    options: &TransferOptions,
) -> (CopyReport, Plan) {
    let Job {
        requests,
        unresolved,
        charts,
        images: inventory_images,
    } = job;
    let target = Arc::new(RegistryStore::target(target_client.clone()));
    let concurrency = options.plan.concurrency.max(1);
    let planned = copy::plan(
        source.clone(),
        target.clone(),
        requests.clone(),
        options.plan.clone(),
    )
    .await;
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
            state: "copied",
            message: None,
            verified: None,
            signed: None,
        };
        match target.manifest_head(&repo, tag).await {
            Ok(Some(d)) if d == artifact.manifest_digest => {
                row.state = "present";
                chart_rows.push(row);
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                row.state = "failed";
                row.message = Some(e.to_string());
                chart_rows.push(row);
                continue;
            }
        }
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
    // Planned images whose source registry would not list tags.
    let unlisted: HashMap<String, &TagsUnlisted> = requests
        .iter()
        .zip(&planned.unlisted)
        .filter_map(|(r, u)| Some((r.source.canonical(), u.as_ref()?)))
        .collect();
    let noted = |mut row: ImageRow| {
        row.tags_unlisted = unlisted.get(&row.source).map(|u| (*u).clone());
        row
    };
    // Likely images the sources say do not exist: reported apart, never planned.
    let mut walked_images = Vec::new();
    for (request, walked) in requests.iter().zip(&planned.walked) {
        match walked {
            Walked::Unresolved { message } => report.unresolved.push(UnresolvedRow {
                source: request.source.canonical(),
                reason: message.clone(),
                found_at: inventory_images
                    .iter()
                    .find(|i| i.reference.canonical() == request.source.canonical())
                    .map(found_at)
                    .unwrap_or_default(),
            }),
            walked => walked_images.push((request, walked)),
        }
    }

    if options.dry_run {
        for (request, walked) in walked_images {
            report.images.push(noted(row(
                request,
                walked,
                steps.get(&request.source.canonical()).copied(),
                None,
            )));
        }
        for c in &mut report.charts {
            if c.state == "copied" {
                c.state = "planned";
            }
        }
        report.complete = report
            .images
            .iter()
            .all(|r| matches!(r.state, "planned" | "present"));
        report.requests.target = target_client.stats().requests();
        report.plan = Some(plan.clone());
        return (report, plan);
    }

    // Execute, with progress over the bytes.
    let bar = Arc::new(Progress::bytes(
        totals.bytes,
        &format!("copying {} images", totals.images),
        options.quiet,
    ));
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
    let executor = Executor {
        source: source.clone(),
        target: target.clone(),
        local: Arc::new(local),
        concurrency,
        attempts: options.attempts,
        on_blob,
        strict: options.strict,
    };
    let execution = executor.run(&plan).await;
    bar.finish();

    report.blobs.uploaded = execution.uploaded;
    report.blobs.mounted = execution.mounted;
    report.blobs.present = execution.present;
    report.bytes.uploaded = execution.uploaded_bytes;
    for (request, walked) in walked_images {
        report.images.push(noted(row(
            request,
            walked,
            steps.get(&request.source.canonical()).copied(),
            Some((&execution, &plan)),
        )));
    }
    for c in &mut report.charts {
        if c.state != "copied" {
            continue;
        }
        let r = Reference::parse(&c.destination).ok();
        let key = r.as_ref().map(|r| {
            (
                Repository::from_reference(r),
                r.tag().unwrap_or("latest").to_owned(),
            )
        });
        if !key.is_some_and(|k| execution.tagged.contains(&k)) {
            c.state = "failed";
            c.message = Some(first_failure(
                &execution,
                &plan,
                &c.destination,
                c.digest.as_ref(),
            ));
        }
    }
    // oci:// charts were copied as images: report them as charts.
    let chart_destinations: Vec<String> = charts
        .iter()
        .filter(|c| matches!(c.carried, Carried::Oci(_)))
        .map(|c| c.destination.canonical())
        .collect();
    let mut images = Vec::new();
    for row in std::mem::take(&mut report.images) {
        if chart_destinations.contains(&row.destination) {
            let chart = charts
                .iter()
                .find(|c| c.destination.canonical() == row.destination);
            report.charts.push(ChartRow {
                name: chart.map(|c| c.id.name.clone()).unwrap_or_default(),
                version: chart.map(|c| c.id.version.clone()).unwrap_or_default(),
                destination: row.destination,
                digest: row.digest,
                state: row.state,
                message: row.message,
                verified: row.verified,
                signed: None,
            });
        } else {
            images.push(row);
        }
    }
    report.images = images;
    report.requests.target = target_client.stats().requests();
    report.complete = report.images.iter().all(|r| {
        matches!(r.state, "copied" | "present") || (r.state == "missing" && options.allow_missing)
    }) && report
        .charts
        .iter()
        .all(|c| matches!(c.state, "copied" | "present"));
    (report, plan)
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

fn row(
    request: &ImageRequest,
    walked: &Walked,
    step: Option<&ImageStep>,
    execution: Option<(&copy::Execution, &Plan)>,
) -> ImageRow {
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
            row.state = match execution {
                None => "planned",
                Some((run, plan)) => {
                    let repo = Repository::from_reference(&request.destination);
                    let done = match request.destination.tag() {
                        Some(tag) => run.tagged.contains(&(repo.clone(), tag.to_owned())),
                        None => !run
                            .failed_manifests
                            .contains(&(repo.clone(), step.digest.clone())),
                    };
                    if done {
                        "copied"
                    } else {
                        row.message = Some(first_failure(
                            run,
                            plan,
                            &row.destination,
                            Some(&step.digest),
                        ));
                        "failed"
                    }
                }
            };
        }
    }
    row
}
