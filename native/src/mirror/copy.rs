//! `helm mirror copy CHART... --to REGISTRY[/PREFIX]`: every image of the charts (one plan
//! for all, so a blob shared by two charts moves once) and the charts themselves into a
//! registry, then the lock of the copy.
//!
//! [`CopyArgs`] is what the user typed; [`run`] turns it into image requests, plans with
//! [`crate::copy::plan`], executes with [`crate::copy::Executor`] and returns a
//! [`CopyReport`]; printing is the caller's.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use purser::chart_artifact::ChartArtifact;
use purser::digest::Digest;
use purser::inventory::{Confidence, Image};
use purser::lock::{ChartId, Lock, PlatformDigest, UnresolvedImage};
use purser::plan::{ImageStep, Plan, Repository};
use purser::reference::Reference;
use purser::report::Stamp;
use serde::Serialize;

use super::signatures::{self, SignFlags, VerifyFlags};
use super::{PlaceArgs, RegistryArgs, SelectArgs, write_atomically};
use crate::copy::{self, BlobOutcome, Executor, ImageRequest, LocalBlobs, PlanOptions, Walked};
use crate::progress::Progress;
use crate::render::{ChartArgs, RenderFlags};
use crate::store::{RegistryStore, Store};
use crate::{chart_source, images};

#[derive(Args)]
pub struct CopyArgs {
    /// Charts to copy: directories, .tgz files, repo/name, oci:// or https:// references.
    #[arg(required = true, value_name = "CHART")]
    pub charts: Vec<String>,
    /// Release name used to render.
    #[arg(long, default_value = "release")]
    pub release: String,
    #[command(flatten)]
    pub render: RenderFlags,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub place: PlaceArgs,
    #[command(flatten)]
    pub chart_to: ChartToArgs,
    #[command(flatten)]
    pub carry: CarryArgs,
    /// Exit 0 even when images are missing upstream (they are reported and left out).
    #[arg(long)]
    pub allow_missing: bool,
    /// Print the plan (repositories, images, unique blobs and bytes) and copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout (with --dry-run, the plan in it too).
    #[arg(long)]
    pub json: bool,
    /// Write the images-lock of the copy here: digests at the target.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Copy exactly the digests this images-lock pins (and skip asking the sources).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    #[command(flatten)]
    pub verify: VerifyFlags,
    #[command(flatten)]
    pub sign: SignFlags,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Which platforms and referrers of each image go along (copy, export).
#[derive(Args)]
pub struct CarryArgs {
    /// Only these platforms (os/arch[/variant], repeatable); the index is narrowed, its
    /// digest changes, and the lock records both.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    /// Leave signatures, SBOMs, attestations and other referrers behind.
    #[arg(long)]
    pub no_referrers: bool,
}

impl CarryArgs {
    /// How the copy engine walks the sources.
    pub(super) fn plan_options(&self, registry: &RegistryArgs) -> PlanOptions {
        PlanOptions {
            platforms: self.platform.clone(),
            no_referrers: self.no_referrers,
            concurrency: registry.concurrency.max(1),
        }
    }
}

/// Where charts land in a registry (copy, import).
#[derive(Args)]
pub struct ChartToArgs {
    /// Where charts go: REGISTRY/PATH (chart NAME:VERSION lands at REGISTRY/PATH/NAME);
    /// default: the --to prefix plus /charts.
    #[arg(long, value_name = "REGISTRY/PATH")]
    pub chart_to: Option<String>,
}

impl ChartToArgs {
    /// `--chart-to`, else `charts` under `to`.
    pub(super) fn target(
        &self,
        to: &purser::destination::Target,
    ) -> Result<purser::destination::Target, String> {
        Ok(match &self.chart_to {
            Some(t) => purser::destination::Target::parse(t, "--chart-to")?,
            None => charts_under(to),
        })
    }
}

/// One image's outcome.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    pub source: String,
    pub destination: String,
    /// At the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// At the source, when it differs (platforms filtered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// `copied`, `present`, `missing`, `failed`, or with --dry-run `planned`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "super::is_zero")]
    pub referrers: usize,
    /// Only heuristics found it, and the source registry has it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// What `--verify`'s policy made of the source's signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// The source signatures the policy accepted (they go into the lock).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<purser::lock::VerifiedSignature>,
    /// What `--sign-key` did at the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
}

/// A likely image the source registry says does not exist: left out of the plan.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedRow {
    pub source: String,
    /// What the registry answered (or, with `--lock`, what the lock says it answered).
    pub reason: String,
    /// Where the reference was found.
    pub found_at: Vec<String>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ChartRow {
    pub name: String,
    pub version: String,
    pub destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What `--verify`'s policy (or `--keyring`, for a chart archive) made of its signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// What `--sign-key` did at the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
}

#[derive(Serialize, Debug, Default)]
pub struct BlobCounts {
    pub unique: usize,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
}

#[derive(Serialize, Debug, Default)]
pub struct ByteCounts {
    pub unique: u64,
    pub uploaded: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct Requests {
    pub source: u64,
    pub target: u64,
}

/// What `helm mirror copy` did.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    pub complete: bool,
    pub images: Vec<ImageRow>,
    /// Likely images left out because their registry says they do not exist (not failures).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<UnresolvedRow>,
    pub charts: Vec<ChartRow>,
    pub blobs: BlobCounts,
    pub bytes: ByteCounts,
    pub requests: Requests,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// The plan itself (`--dry-run --json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
}

/// One chart, read and rendered.
pub(super) struct LoadedChart {
    pub id: ChartId,
    /// The chart as the registry will hold it: pushed from its archive, or (oci://) copied.
    pub carried: Carried,
    pub destination: Reference,
}

pub(super) enum Carried {
    /// Pushed as Helm pushes: the artifact, the archive's bytes, the provenance's bytes.
    Archive(Box<ChartArtifact>, Vec<u8>, Option<Vec<u8>>),
    /// Copied manifest for manifest from this reference.
    Oci(Reference),
}

pub async fn run(args: CopyArgs) -> Result<(CopyReport, bool), String> {
    let rules = args.place.rules()?;
    let source_lock = match &args.lock {
        Some(path) => Some(read_lock(path)?),
        None => None,
    };
    let chart_to = args.chart_to.target(&rules.to)?;
    let mut loaded = load(
        &args.charts,
        &args.release,
        &args.render,
        &args.select,
        &args.registry,
        |id| chart_destination(&chart_to, id),
    )?;
    let (requests, unresolved) = loaded.requests(
        |r| rules.place(r).map_err(|e| e.to_string()),
        source_lock.as_ref(),
    )?;
    let verifier = args.verify.verifier()?;
    let signer = args.sign.signer(images::environment().now_unix)?;
    let source_client = args.registry.client()?;
    let target_client = args.registry.target_client()?;
    let source = Arc::new(RegistryStore::source(source_client.clone()));
    let (requests, mut checked) = signatures::let_through(
        verifier.as_ref(),
        source.as_ref(),
        requests,
        args.registry.concurrency,
    )
    .await;
    if let Some(keyring) = args.verify.keyring()? {
        loaded.charts = signatures::check_provenance(
            &mut checked,
            std::mem::take(&mut loaded.charts),
            &keyring,
        );
    }
    let options = TransferOptions {
        plan: args.carry.plan_options(&args.registry),
        attempts: args.registry.retries.max(1),
        dry_run: args.dry_run,
        quiet: args.json,
        allow_missing: args.allow_missing,
        strict: false,
    };
    let job = Job {
        requests,
        unresolved,
        charts: &loaded.charts,
        images: &loaded.images,
    };
    let (mut report, plan) = transfer(source, &target_client, job, &options).await;
    report.requests.source = source_client.stats().requests();
    checked.apply(&mut report, &chart_names(&loaded.charts));
    if args.dry_run {
        return Ok((report, true));
    }
    if let Some(signer) = &signer {
        let target = RegistryStore::target(target_client.clone());
        signatures::sign_report(signer, &target, &mut report, args.registry.concurrency).await;
    }
    let mut lock = loaded.lock;
    if let Some(path) = &args.output {
        write_lock(path, &mut lock, &report, &plan, &target_client, args.json).await?;
    }
    Ok((report, false))
}

/// An images-lock file, read.
pub(super) fn read_lock(path: &std::path::Path) -> Result<Lock, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(Lock::parse(&text, &path.display().to_string())?)
}

/// Where charts go by default: the `--to` prefix plus `/charts`.
fn charts_under(to: &purser::destination::Target) -> purser::destination::Target {
    let mut t = to.clone();
    t.prefix = if t.prefix.is_empty() {
        "charts".to_owned()
    } else {
        format!("{}/charts", t.prefix)
    };
    t
}

/// `TARGET/NAME:VERSION` (`+` in a version becomes `_`, as Helm tags it).
pub(super) fn chart_destination(
    to: &purser::destination::Target,
    id: &ChartId,
) -> Result<Reference, String> {
    Reference::parse(&format!(
        "{to}/{}:{}",
        id.name,
        id.version.replace('+', "_")
    ))
    .map_err(|e| {
        format!(
            "chart {}: cannot name it under {to}: {}",
            id.name,
            e.reason()
        )
    })
}

/// The lock of a copy (digests at the target), written atomically.
pub(super) async fn write_lock(
    path: &std::path::Path,
    lock: &mut Lock,
    report: &CopyReport,
    plan: &Plan,
    target: &crate::registry::Client,
    quiet: bool,
) -> Result<(), String> {
    fill_lock(lock, report, plan, target).await;
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

/// The charts of a run, read and rendered: their images (each once: certain if any chart is
/// sure), their lock, their archives.
pub(super) struct Loaded {
    pub images: Vec<Image>,
    pub lock: Lock,
    pub charts: Vec<LoadedChart>,
}

/// Renders and reads every chart; `destination` names where each chart goes.
pub(super) fn load(
    specs: &[String],
    release: &str,
    render: &RenderFlags,
    select: &super::SelectArgs,
    registry: &RegistryArgs,
    destination: impl Fn(&ChartId) -> Result<Reference, String>,
) -> Result<Loaded, String> {
    let mut inventory_images: Vec<Image> = Vec::new();
    let mut lock = None::<Lock>;
    let mut charts = Vec::new();
    for spec in specs {
        let mut chart = ChartArgs {
            chart: spec.clone(),
            release: release.to_owned(),
            render: render.clone(),
        };
        chart.render.fetch = registry.helm_fetch_flags(spec);
        let analysis = chart.analyse(select.all).map_err(|e| e.0)?;
        let (inventory, id) = analysis.inventory(select.selection());
        let stamp = Stamp::at(images::environment().now_unix);
        let chart_lock = Lock::from_inventory(&inventory, Some(&id), &stamp);
        for image in &inventory.images {
            let canonical = image.reference.canonical();
            match inventory_images
                .iter_mut()
                .find(|i| i.reference.canonical() == canonical)
            {
                Some(known) => {
                    known.confidence = known.confidence.max(image.confidence);
                    known.findings.extend(image.findings.iter().cloned());
                }
                None => inventory_images.push(image.clone()),
            }
        }
        match &mut lock {
            None => lock = Some(chart_lock),
            Some(l) => {
                for entry in chart_lock.images {
                    if l.find(&entry.image).is_none() {
                        l.images.push(entry);
                    }
                }
            }
        }
        let destination = destination(&id)?;
        let carried = match spec.strip_prefix("oci://") {
            Some(rest) => {
                let base = rest.split('@').next().unwrap_or(rest);
                let base = match base.rsplit_once(':') {
                    Some((name, tag)) if !tag.contains('/') => name,
                    _ => base,
                };
                let r = Reference::parse(&format!("{base}:{}", id.version.replace('+', "_")))
                    .map_err(|e| format!("chart {spec}: {}", e.reason()))?;
                Carried::Oci(r)
            }
            None => {
                let archive = chart_source::archive(spec, &chart.render.pull_flags())?;
                let artifact = ChartArtifact::build(&archive.bytes, archive.provenance.as_deref())
                    .map_err(|e| format!("chart {spec}: {e}"))?;
                Carried::Archive(Box::new(artifact), archive.bytes, archive.provenance)
            }
        };
        charts.push(LoadedChart {
            id,
            carried,
            destination,
        });
    }
    let mut lock = lock.ok_or("no chart given")?;
    // An image likely in one chart and certain in another is certain.
    for entry in &mut lock.images {
        if let Some(image) = inventory_images
            .iter()
            .find(|i| i.reference.canonical() == entry.image)
        {
            entry.confidence =
                (image.confidence == Confidence::Likely).then_some(Confidence::Likely);
        }
    }
    Ok(Loaded {
        images: inventory_images,
        lock,
        charts,
    })
}

impl Loaded {
    /// The images to copy, each to `place(source)`, and the oci:// charts; likely images a
    /// given lock found unresolved are left out (and listed).
    pub(super) fn requests(
        &self,
        place: impl Fn(&Reference) -> Result<Reference, String>,
        source_lock: Option<&Lock>,
    ) -> Result<(Vec<ImageRequest>, Vec<UnresolvedRow>), String> {
        let mut requests = Vec::new();
        let mut unresolved = Vec::new();
        for image in &self.images {
            let reference = &image.reference;
            let likely = image.confidence == Confidence::Likely;
            if likely
                && let Some(u) = source_lock.and_then(|l| l.find_unresolved(&reference.canonical()))
            {
                unresolved.push(UnresolvedRow {
                    source: reference.canonical(),
                    reason: format!("unresolved in the lock: {}", u.reason),
                    found_at: found_at(image),
                });
                continue;
            }
            let destination = place(reference)?;
            let locked = match source_lock {
                Some(l) => l
                    .find(&reference.canonical())
                    // The lock of a `--platform` copy pins the narrowed index; the source has
                    // the one it was narrowed from.
                    .and_then(|e| e.source_digest.as_deref().or(e.digest.as_deref()))
                    .map(Digest::parse)
                    .transpose()
                    .map_err(|e| format!("{}: {e}", reference.canonical()))?,
                None => None,
            };
            requests.push(ImageRequest {
                source: reference.clone(),
                destination,
                locked,
                likely,
            });
        }
        for chart in &self.charts {
            if let Carried::Oci(r) = &chart.carried {
                requests.push(ImageRequest {
                    source: r.clone(),
                    destination: chart.destination.clone(),
                    locked: None,
                    likely: false,
                });
            }
        }
        Ok((requests, unresolved))
    }
}

/// Each chart's name and version by where it goes (canonical).
pub(super) fn chart_names(charts: &[LoadedChart]) -> HashMap<String, (String, String)> {
    charts
        .iter()
        .map(|c| {
            (
                c.destination.canonical(),
                (c.id.name.clone(), c.id.version.clone()),
            )
        })
        .collect()
}

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
            digest: Some(artifact.manifest_digest.to_string()),
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
        plan: None,
    };
    let steps: HashMap<String, &ImageStep> =
        plan.images.iter().map(|i| (i.source.clone(), i)).collect();
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
            report.images.push(row(
                request,
                walked,
                steps.get(&request.source.canonical()).copied(),
                None,
            ));
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
        report.images.push(row(
            request,
            walked,
            steps.get(&request.source.canonical()).copied(),
            Some((&execution, &plan)),
        ));
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
            let digest = c.digest.as_deref().and_then(|d| Digest::parse(d).ok());
            c.message = Some(first_failure(
                &execution,
                &plan,
                &c.destination,
                digest.as_ref(),
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

/// Where an image was found, one line a place.
pub(super) fn found_at(image: &Image) -> Vec<String> {
    image
        .findings
        .iter()
        .map(|f| f.origin.to_string())
        .collect()
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
        source: request.source.canonical(),
        destination: request.destination.canonical(),
        digest: None,
        source_digest: None,
        state: "failed",
        message: None,
        referrers: 0,
        confirmed: request.likely && matches!(walked, Walked::Planned | Walked::Present { .. }),
        verified: None,
        signatures: Vec::new(),
        signed: None,
    };
    match walked {
        Walked::Present {
            digest,
            source_digest,
        } => {
            row.state = "present";
            row.digest = Some(digest.to_string());
            if source_digest != digest {
                row.source_digest = Some(source_digest.to_string());
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
            row.digest = Some(step.digest.to_string());
            if step.source_digest != step.digest {
                row.source_digest = Some(step.source_digest.to_string());
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
        entry.source_digest = row.source_digest.clone();
        match row.state {
            "copied" => {
                entry.digest = row.digest.clone();
                if let Some(step) = plan.images.iter().find(|i| i.source == entry.image) {
                    entry.digests = step
                        .platforms
                        .iter()
                        .map(|p| PlatformDigest {
                            digest: p.digest.to_string(),
                            arch: p.platform.clone(),
                        })
                        .collect();
                }
            }
            "present" => {
                entry.digest = row.digest.clone();
                if let Ok(r) = Reference::parse(&row.destination)
                    && let Ok(resolved) = target.resolve(&r).await
                {
                    entry.digests = resolved
                        .platforms
                        .iter()
                        .map(|p| PlatformDigest {
                            digest: p.digest.to_string(),
                            arch: p.platform(),
                        })
                        .collect();
                }
            }
            _ => entry.missing = row.message.clone().or(Some(row.state.to_owned())),
        }
    }
}

impl ImageRow {
    /// `STATE SOURCE -> DESTINATION (why)`, then what the policy and the signer did.
    fn line(&self) -> String {
        format!(
            "{:8} {} -> {}{}{}",
            self.state,
            self.source,
            self.destination,
            why(&self.message),
            trust_notes(&self.verified, &self.signed)
        )
    }
}

impl UnresolvedRow {
    /// `unresolved likely image SOURCE (left out): REASON`, then `  found at PLACE` lines.
    fn line(&self) -> String {
        crate::confirm::describe(&self.source, &self.reason, &self.found_at)
    }
}

impl ChartRow {
    /// `STATE chart NAME VERSION -> DESTINATION (why)`, then what the policy and the
    /// signer did.
    fn line(&self) -> String {
        format!(
            "{:8} chart {} {} -> {}{}{}",
            self.state,
            self.name,
            self.version,
            self.destination,
            why(&self.message),
            trust_notes(&self.verified, &self.signed)
        )
    }
}

/// `\n         verified: …` and `\n         signed: …` lines under a report line.
fn trust_notes(verified: &Option<String>, signed: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(v) = verified {
        out.push_str(&format!("\n         verified: {v}"));
    }
    if let Some(s) = signed {
        out.push_str(&format!("\n         signed at the target: {s}"));
    }
    out
}

/// `  (message)` after a report line, when there is one.
fn why(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!("  ({m})"))
        .unwrap_or_default()
}

/// Text for a terminal or a pipe: one line an image and a chart, then the totals.
pub fn print(report: &CopyReport) {
    for line in report
        .images
        .iter()
        .map(ImageRow::line)
        .chain(report.charts.iter().map(ChartRow::line))
        .chain(report.unresolved.iter().map(UnresolvedRow::line))
    {
        eprintln!("{line}");
    }
    let count = |s: &str| report.images.iter().filter(|r| r.state == s).count();
    eprintln!(
        "{} images: {} copied, {} present, {} missing, {} failed{}{}; {} unique blobs ({} uploaded, {} mounted, {} present), {} of {} bytes sent; {} requests to the target",
        report.images.len(),
        count("copied"),
        count("present"),
        count("missing"),
        count("failed"),
        match count("refused") {
            0 => String::new(),
            n => format!(", {n} refused by the signature policy"),
        },
        match report.unresolved.len() {
            0 => String::new(),
            n => format!(" ({n} unresolved likely left out)"),
        },
        report.blobs.unique,
        report.blobs.uploaded,
        report.blobs.mounted,
        report.blobs.present,
        report.bytes.uploaded,
        report.bytes.unique,
        report.requests.target,
    );
}

/// The `--dry-run` text: what would be created and moved.
pub fn print_plan(report: &CopyReport) {
    println!(
        "repositories at the target ({}):",
        report.repositories.len()
    );
    for r in &report.repositories {
        println!("  {r}");
    }
    println!("images ({}):", report.images.len());
    for line in report
        .images
        .iter()
        .map(ImageRow::line)
        .chain(report.charts.iter().map(ChartRow::line))
    {
        println!("  {line}");
    }
    if !report.unresolved.is_empty() {
        println!(
            "unresolved likely images, left out ({}):",
            report.unresolved.len()
        );
        for u in &report.unresolved {
            println!("  {}", u.line().replace('\n', "\n  "));
        }
    }
    println!(
        "{} unique blobs, {} bytes to move at most (blobs the target has are skipped)",
        report.blobs.unique, report.bytes.unique
    );
}
