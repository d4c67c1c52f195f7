//! `helm mirror copy CHART... --to REGISTRY[/PREFIX]`: every image of the charts (one plan
//! for all, so a blob shared by two charts moves once) and the charts themselves into a
//! registry, then the lock of the copy.
//!
//! [`CopyArgs`] is what the user typed; [`run`] loads the charts ([`super::charts`]), checks
//! signatures ([`super::signatures`]), plans and executes with [`super::transfer`] and returns
//! a [`CopyReport`]; [`command`] prints it ([`super::copy_print`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::reference::Reference;

use super::args::{CarryArgs, ChartToArgs, PlaceArgs, RegistryArgs, ScanFlags, SelectArgs};
use super::charts::{Loaded, chart_destination, chart_names, load};
use super::copy_print::print_copy;
use super::copy_report::CopyReport;
use super::copy_report::UnresolvedRow;
use super::lock_file::{read_lock, write_lock};
use super::patch::{self, Engine, PatchFlags};
use super::scan_gate::Gated;
use super::signatures::Checked;
use super::signatures::{self, SignFlags, VerifyFlags};
use super::transfer::{Job, TransferOptions, transfer};
use super::{sbom, scan_gate};
use crate::copy::ImageRequest;
use crate::images;
use crate::patch::Patcher;
use crate::registry::Client;
use crate::render::RenderFlags;
use crate::store::RegistryStore;
use crate::trust::sign::Signer;

#[derive(Args)]
pub struct CopyArgs {
    #[command(flatten)]
    pub spec: CopySpec,
    /// Print the plan (repositories, images, unique blobs and bytes) and copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout (with --dry-run, the plan in it too).
    #[arg(long)]
    pub json: bool,
    /// Write the images-lock of the copy here: digests at the target.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What to copy, from where to where, and what to check and add on the way: every flag
/// `copy` and `plan` share.
#[derive(Args)]
pub struct CopySpec {
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
    /// Copy exactly the digests this images-lock pins (and skip asking the sources).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    #[command(flatten)]
    pub verify: VerifyFlags,
    #[command(flatten)]
    pub sign: SignFlags,
    /// Scan every platform of every image with Trivy at the source first (implied by
    /// --fail-on); with --fail-on, images over it stay behind, named, and the rest go on.
    #[arg(long)]
    pub scan: bool,
    #[command(flatten)]
    pub scan_flags: ScanFlags,
    /// Patch the fixable OS-package findings of every image once it is at the target
    /// (implies --scan): the patched image goes beside it as TAG-patched, the lock records
    /// both (see `helm mirror patch`).
    #[arg(long)]
    pub patch: bool,
    #[command(flatten)]
    pub patch_flags: PatchFlags,
    /// Attach a CycloneDX SBOM (Trivy's) to every platform of every image at the target, as
    /// an OCI referrer, so it travels with the image (implies --scan).
    #[arg(long)]
    pub sbom: bool,
    /// Also carry Trivy's vulnerability database and Java DB into the mirror (placed like any
    /// image), so scans inside use the same data (--trivy-db-repository there).
    #[arg(long)]
    pub with_trivy_db: bool,
    /// Where --with-trivy-db takes the database from.
    #[arg(long, value_name = "REF", default_value = TRIVY_DB, requires = "with_trivy_db")]
    pub trivy_db_source: String,
    /// Where --with-trivy-db takes the Java DB from.
    #[arg(long, value_name = "REF", default_value = TRIVY_JAVA_DB, requires = "with_trivy_db")]
    pub trivy_java_db_source: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Trivy's databases, as Trivy itself downloads them.
const TRIVY_DB: &str = "ghcr.io/aquasecurity/trivy-db:2";
const TRIVY_JAVA_DB: &str = "ghcr.io/aquasecurity/trivy-java-db:1";

/// Everything a copy settles before it plans: the charts read and rendered, the image
/// requests the signature policy and the scan gate let through (and their verdicts), the
/// signer and patcher asked for, the clients, and how the transfer runs.
pub(super) struct Gathered {
    pub loaded: Loaded,
    pub requests: Vec<ImageRequest>,
    pub unresolved: Vec<UnresolvedRow>,
    pub checked: Checked,
    pub gated: Option<Gated>,
    pub signer: Option<Signer>,
    pub patcher: Option<Patcher>,
    pub source: Arc<RegistryStore>,
    pub source_client: Client,
    pub target_client: Client,
    pub options: TransferOptions,
}

impl Gathered {
    /// The transfer's job: the requests and the charts.
    pub fn job(&self) -> Job<'_> {
        Job {
            requests: self.requests.clone(),
            unresolved: self.unresolved.clone(),
            charts: &self.loaded.charts,
            images: &self.loaded.images,
        }
    }

    /// The signature verdicts and scans into the report's rows.
    pub fn apply(&self, report: &mut CopyReport) {
        report.requests.source = self.source_client.stats().requests();
        self.checked
            .apply(report, &chart_names(&self.loaded.charts));
        if let Some(gated) = &self.gated {
            gated.apply(report);
        }
    }
}

/// Reads and renders the charts of `spec`, checks signatures and scans at the source where
/// asked; `quiet` when the report goes out as JSON.
pub(super) async fn gather(
    spec: &CopySpec,
    dry_run: bool,
    quiet: bool,
) -> Result<Gathered, String> {
    let rules = spec.place.rules()?;
    let source_lock = match &spec.lock {
        Some(path) => Some(read_lock(path)?),
        None => None,
    };
    let chart_to = spec.chart_to.target(&rules.to)?;
    let loaded = load(
        &spec.charts,
        &spec.release,
        &spec.render,
        &spec.select,
        &spec.registry,
        |id| chart_destination(&chart_to, id),
    )?;
    let (requests, unresolved) = loaded.requests(
        |r| rules.place(r).map_err(|e| e.to_string()),
        source_lock.as_ref(),
    )?;
    settle(spec, &rules, loaded, requests, unresolved, dry_run, quiet).await
}

/// Everything after the charts are read: signatures checked, scans at the source, the
/// signer, patcher and clients, how the transfer runs. `rules` place Trivy's databases.
pub(super) async fn settle(
    spec: &CopySpec,
    rules: &purser::destination::Rules,
    mut loaded: Loaded,
    requests: Vec<ImageRequest>,
    unresolved: Vec<UnresolvedRow>,
    dry_run: bool,
    quiet: bool,
) -> Result<Gathered, String> {
    let verifier = spec.verify.verifier()?;
    let signer = spec.sign.signer(images::environment().now_unix)?;
    let source_client = spec.registry.client()?;
    let target_client = spec.registry.target_client()?;
    let patcher = spec.patch_flags.patcher_if(spec.patch, &source_client)?;
    let source = Arc::new(RegistryStore::source(source_client.clone()));
    let (requests, mut checked) = signatures::let_through(
        verifier.as_ref(),
        source.as_ref(),
        requests,
        spec.registry.concurrency,
    )
    .await;
    let (mut requests, gated) = scan_gate::gate_if_asked(
        spec.scan || spec.sbom || spec.patch,
        &spec.scan_flags,
        &spec.registry,
        &source_client,
        requests,
        &spec.carry.platform,
        quiet,
    )
    .await?;
    // Trivy's databases go after the policy and the gate: they are no image of the charts.
    if spec.with_trivy_db {
        for source in [&spec.trivy_db_source, &spec.trivy_java_db_source] {
            let source = Reference::parse(source)
                .map_err(|e| format!("--with-trivy-db: {source:?}: {}", e.reason()))?;
            requests.push(ImageRequest {
                destination: rules.place(&source).map_err(|e| e.to_string())?,
                source,
                locked: None,
                likely: false,
            });
        }
    }
    if let Some(keyring) = spec.verify.keyring()? {
        loaded.charts = signatures::check_provenance(
            &mut checked,
            std::mem::take(&mut loaded.charts),
            &keyring,
        );
    }
    let options = TransferOptions {
        plan: spec.carry.plan_options(&spec.registry),
        attempts: spec.registry.retries.max(1),
        dry_run,
        quiet,
        allow_missing: spec.allow_missing,
        strict: false,
    };
    Ok(Gathered {
        loaded,
        requests,
        unresolved,
        checked,
        gated,
        signer,
        patcher,
        source,
        source_client,
        target_client,
        options,
    })
}

pub async fn run(args: CopyArgs) -> Result<(CopyReport, bool), String> {
    let gathered = gather(&args.spec, args.dry_run, args.json).await?;
    finish(&args, gathered).await
}

/// The transfer of what `gathered` holds, then SBOMs, signatures, patches and the lock.
pub(super) async fn finish(
    args: &CopyArgs,
    gathered: Gathered,
) -> Result<(CopyReport, bool), String> {
    let spec = &args.spec;
    let (mut report, plan) = transfer(
        gathered.source.clone(),
        &gathered.target_client,
        gathered.job(),
        &gathered.options,
    )
    .await;
    gathered.apply(&mut report);
    if args.dry_run {
        return Ok((report, true));
    }
    let Gathered {
        loaded,
        gated,
        signer,
        patcher,
        target_client,
        ..
    } = gathered;
    if spec.sbom
        && let Some(gated) = &gated
    {
        let created = purser::lock::rfc3339(images::environment().now_unix);
        sbom::attach_sboms(gated.scanner.trivy(), &target_client, &mut report, &created).await;
    }
    if let Some(signer) = &signer {
        let target = RegistryStore::target(target_client.clone());
        signatures::sign_report(signer, &target, &mut report, spec.registry.concurrency).await;
    }
    if let (Some(patcher), Some(gated)) = (&patcher, &gated) {
        let engine = Engine {
            scanner: &gated.scanner,
            patcher,
            signer: signer.as_ref(),
            suffix: &spec.patch_flags.patched_suffix,
            platforms: &spec.carry.platform,
            concurrency: spec.registry.concurrency,
            quiet: args.json,
        };
        patch::patch_copied(&engine, &target_client, &mut report).await;
    }
    let mut lock = loaded.lock;
    if let Some(path) = &args.output {
        let scanned = gated.as_ref().map_or(&[][..], |g| &g.scanned[..]);
        write_lock(
            path,
            &mut lock,
            &report,
            &plan,
            &target_client,
            scanned,
            args.json,
        )
        .await?;
    }
    Ok((report, false))
}

/// `helm mirror copy`: the run, then its report as JSON or text.
pub async fn command(args: CopyArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let result = run(args).await?;
    print_copy(result, json)
}
