//! `helm mirror import BUNDLE [PART...] --to REGISTRY[/PREFIX]`: pushes what a bundle holds
//! (purser's, or any OCI image layout tarred up) into a registry with the copy engine — the
//! same naming rules, mounts, resume and report as `helm mirror copy` — then writes the lock
//! of the imported copy.
//!
//! The bundle is a [`BundleStore`]: opening it checks the tar and every manifest, and blobs
//! are verified as they stream. The run is strict: when any blob fails (damaged, cut short,
//! in a part not given) no manifest and no tag is pushed, so nothing a damaged bundle
//! describes becomes visible.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::bundle::layout::is_referrer_tag;
use purser::lock::{ChartId, Lock, LockedImage};
use purser::report::Stamp;

use super::args::{ChartToArgs, PlaceArgs, RegistryArgs, ScanFlags};
use super::charts::{Carried, LoadedChart, chart_destination, chart_names};
use super::copy_print::print_copy;
use super::copy_report::CopyReport;
use super::lock_file::write_lock;
use super::patch::{self, Engine, PatchFlags};
use super::scan_gate;
use super::signatures::{self, SignFlags, VerifyFlags};
use super::transfer::{Job, TransferOptions, transfer};
use crate::copy::{ImageRequest, PlanOptions};
use crate::images;
use crate::store::{BundleStore, RegistryStore};

#[derive(Args)]
pub struct ImportArgs {
    /// The bundle: its file, or every part of a split bundle (any order).
    #[arg(required = true, value_name = "BUNDLE")]
    pub bundles: Vec<PathBuf>,
    #[command(flatten)]
    pub place: PlaceArgs,
    #[command(flatten)]
    pub chart_to: ChartToArgs,
    /// Leave signatures, SBOMs, attestations and other referrers in the bundle.
    #[arg(long)]
    pub no_referrers: bool,
    /// Print the plan (repositories, images, unique blobs and bytes) and push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the images-lock of the imported copy here: digests at the target.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub verify: VerifyFlags,
    #[command(flatten)]
    pub sign: SignFlags,
    /// Scan every platform of every imported image with Trivy at the target (implied by
    /// --fail-on): each row says what was found; one over --fail-on is named (exit 1).
    #[arg(long)]
    pub scan: bool,
    #[command(flatten)]
    pub scan_flags: ScanFlags,
    /// Patch the fixable OS-package findings of every imported image at the target (implies
    /// --scan): the patched image goes beside it as TAG-patched, the lock records both (see
    /// `helm mirror patch`).
    #[arg(long)]
    pub patch: bool,
    #[command(flatten)]
    pub patch_flags: PatchFlags,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub async fn run(args: ImportArgs) -> Result<(CopyReport, bool), String> {
    let rules = args.place.rules()?;
    let chart_to = args.chart_to.target(&rules.to)?;
    let verifier = args.verify.verifier()?;
    let signer = args.sign.signer(images::environment().now_unix)?;
    // Trivy and its database first: nothing is imported when the scan asked for cannot run.
    let scanner = if args.scan || args.patch || args.scan_flags.fail_on.is_some() {
        Some(Arc::new(args.scan_flags.scanner(&args.registry).await?))
    } else {
        args.scan_flags.unused()?;
        None
    };
    let target_client = args.registry.target_client()?;
    let patcher = args.patch_flags.patcher_if(args.patch, &target_client)?;
    let bundle = BundleStore::open(&args.bundles)?;
    if bundle.named.is_empty() {
        let names: Vec<String> = bundle
            .unnamed
            .iter()
            .filter_map(|(_, n)| n.clone())
            .collect();
        return Err(format!(
            "{}: index.json names no image by a full reference (registry/repository:tag){}; \
             name them when you write the layout (skopeo copy ... oci:DIR:registry/repo:tag, \
             crane pull --format=oci --annotate-ref, regctl image export)",
            bundle.first.display(),
            if names.is_empty() {
                String::new()
            } else {
                format!(", only {}", names.join(", "))
            }
        ));
    }
    for (i, name) in &bundle.unnamed {
        if !args.json {
            eprintln!(
                "index.json entry {i}{}: not a full reference, left out",
                name.as_deref()
                    .map(|n| format!(" ({n:?})"))
                    .unwrap_or_default()
            );
        }
    }

    // Images and charts, by the names index.json gives.
    let mut requests = Vec::new();
    let mut charts = Vec::new();
    for entry in &bundle.named {
        if entry.reference.tag().is_some_and(is_referrer_tag) {
            continue;
        }
        match bundle.chart_annotations(&entry.descriptor.digest) {
            Some(annotations) => {
                let last = entry
                    .reference
                    .repository()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let id = ChartId {
                    name: annotations
                        .get(purser::plan::annotation::TITLE)
                        .cloned()
                        .unwrap_or(last),
                    version: annotations
                        .get(purser::plan::annotation::VERSION)
                        .cloned()
                        .or_else(|| entry.reference.tag().map(str::to_owned))
                        .unwrap_or_default(),
                    location: Some(entry.name.clone()),
                    ..ChartId::default()
                };
                let destination = chart_destination(&chart_to, &id)?;
                requests.push(ImageRequest {
                    source: entry.reference.clone(),
                    destination: destination.clone(),
                    locked: None,
                    likely: false,
                });
                charts.push(LoadedChart {
                    id,
                    carried: Carried::Oci(entry.reference.clone()),
                    destination,
                });
            }
            None => requests.push(ImageRequest {
                source: entry.reference.clone(),
                destination: rules.place(&entry.reference).map_err(|e| e.to_string())?,
                locked: Some(entry.descriptor.digest.clone()),
                likely: false,
            }),
        }
    }

    let options = TransferOptions {
        plan: PlanOptions {
            platforms: Vec::new(),
            no_referrers: args.no_referrers,
            concurrency: args.registry.concurrency.max(1),
        },
        attempts: 1,
        dry_run: args.dry_run,
        quiet: args.json,
        allow_missing: false,
        strict: true,
    };
    let lock_text = bundle.lock.clone();
    let bundle = Arc::new(bundle);
    let (requests, checked) = signatures::let_through(
        verifier.as_ref(),
        bundle.as_ref(),
        requests,
        args.registry.concurrency,
    )
    .await;
    let job = Job {
        requests: requests.clone(),
        unresolved: Vec::new(),
        charts: &charts,
        images: &[],
    };
    let (mut report, plan) = transfer(bundle, &target_client, job, &options).await;
    checked.apply(&mut report, &chart_names(&charts));
    if args.dry_run {
        return Ok((report, true));
    }
    if let Some(signer) = &signer {
        let target = RegistryStore::target(target_client.clone());
        signatures::sign_report(signer, &target, &mut report, args.registry.concurrency).await;
    }
    let scanned = match &scanner {
        Some(scanner) => {
            scan_gate::scan_at_target(scanner, &target_client, &mut report, args.json).await
        }
        None => Vec::new(),
    };
    if let (Some(patcher), Some(scanner)) = (&patcher, &scanner) {
        let engine = Engine {
            scanner,
            patcher,
            signer: signer.as_ref(),
            suffix: &args.patch_flags.patched_suffix,
            platforms: &[],
            concurrency: args.registry.concurrency,
            quiet: args.json,
        };
        patch::patch_copied(&engine, &target_client, &mut report).await;
    }
    if let Some(path) = &args.output {
        let mut lock = match &lock_text {
            Some(text) => Lock::parse(text, "the bundle's purser/images.lock")?,
            None => lock_of(&requests, &charts),
        };
        write_lock(
            path,
            &mut lock,
            &report,
            &plan,
            &target_client,
            &scanned,
            args.json,
        )
        .await?;
    }
    Ok((report, false))
}

/// A lock for a bundle that carries none (another tool's layout): one entry per image.
fn lock_of(requests: &[ImageRequest], charts: &[LoadedChart]) -> Lock {
    let mut lock = Lock::from_inventory(
        &purser::inventory::Inventory::default(),
        charts.first().map(|c| &c.id),
        &Stamp::at(images::environment().now_unix),
    );
    for r in requests {
        if charts.iter().any(|c| c.destination == r.destination) {
            continue;
        }
        lock.images.push(LockedImage {
            name: r
                .source
                .repository()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
            image: r.source.canonical(),
            chart: charts
                .first()
                .map(|c| c.id.name.clone())
                .unwrap_or_default(),
            digest: None,
            digests: Vec::new(),
            source_digest: None,
            mirror: None,
            missing: None,
            confidence: None,
            confirmed: false,
            signatures: Vec::new(),
            patched: None,
        });
    }
    lock
}

/// `helm mirror import`: the run, then its report as JSON or text (as `copy`'s).
pub async fn command(args: ImportArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let result = run(args).await?;
    print_copy(result, json)
}
