//! `helm mirror patch CHART|--lock FILE --to REGISTRY[/PREFIX]` and `--patch` on copy and
//! import: every platform of every image scanned with Trivy, the fixable OS-package findings
//! fixed by one added layer ([`crate::patch::Patcher`]), the result published beside the
//! original under `TAG-patched` (never over the upstream tag), re-scanned, and with
//! `--sign-key` signed; an OpenVEX document of what was fixed attached to it as a referrer.
//!
//! [`PatchArgs`] is what the user typed, [`PatchFlags`] what copy and import share; [`run`]
//! returns a [`PatchReport`] (a [`PatchRow`] per image: patched, nothing fixable, not
//! patchable, failed) and [`print`] is its table. Exit 1 when an image failed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::digest::Digest;
use purser::lock::{Lock, PackageChange, PatchedImage, ScanRecord};
use purser::plan::{Descriptor, Repository};
use purser::reference::Reference;
use purser::scan::Counts;
use serde::Serialize;
use serde_json::json;

use super::args::{PlaceArgs, RegistryArgs, ScanFlags, SelectArgs, inventory_of};
use super::copy_report::CopyReport;
use super::lock_file::{read_lock, write_atomically};
use super::scan_gate::platform_targets;
use super::signatures::SignFlags;
use crate::patch::fetch::{Fetcher, MirrorRule};
use crate::patch::publish::publish;
use crate::patch::release_signature::Keyring;
use crate::patch::{Change, PatchedPlatform, Patcher, PlatformResult, RefusalKind};
use crate::progress::Progress;
use crate::registry::Client;
use crate::render::{ChartArgs, RenderFlags};
use crate::scan::{Scanned, Scanner, Target};
use crate::store::{RegistryStore, Store, attach_document};
use crate::trust::sign::Signer;

/// How patching fetches and names (`patch`, and `copy`/`import` with `--patch`).
#[derive(Args, Clone)]
pub struct PatchFlags {
    /// The patched image's tag: the original tag with this suffix.
    #[arg(long, value_name = "SUFFIX", default_value = "-patched")]
    pub patched_suffix: String,
    /// Fetch packages from this mirror instead of the repositories the image names: URL
    /// (the upstream paths kept under it) or ORIGINAL=URL (repeatable).
    #[arg(long, value_name = "[ORIGINAL=]URL")]
    pub package_mirror: Vec<String>,
    /// Also trust this OpenPGP keyring for APT repositories (binary or armored; repeatable),
    /// for a mirror signed with the site's own key.
    #[arg(long, value_name = "FILE")]
    pub package_keyring: Vec<PathBuf>,
}

impl PatchFlags {
    /// A patching flag given without `--patch` (copy, import): an error naming it.
    pub(super) fn unused(&self) -> Result<(), String> {
        let given = [
            ("--patched-suffix", self.patched_suffix != "-patched"),
            ("--package-mirror", !self.package_mirror.is_empty()),
            ("--package-keyring", !self.package_keyring.is_empty()),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(format!("{flag} is for patching: add --patch")),
            None => Ok(()),
        }
    }

    /// The patcher, with `--patch`; else checks no patching flag was given.
    pub(super) fn patcher_if(
        &self,
        patch: bool,
        client: &Client,
    ) -> Result<Option<Patcher>, String> {
        if patch {
            self.patcher(client).map(Some)
        } else {
            self.unused().map(|()| None)
        }
    }

    fn patcher(&self, client: &Client) -> Result<Patcher, String> {
        let mirrors = self
            .package_mirror
            .iter()
            .map(|m| MirrorRule::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        let keyrings = self
            .package_keyring
            .iter()
            .map(|path| {
                Ok(Keyring {
                    name: path.display().to_string(),
                    bytes: std::fs::read(path)
                        .map_err(|e| format!("--package-keyring {}: {e}", path.display()))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Patcher::new(Fetcher::new(client.web(), mirrors), keyrings))
    }
}

#[derive(Args)]
pub struct PatchArgs {
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
    pub place: PlaceArgs,
    /// Patch the images of this images-lock at the digests it pins, and record in it each
    /// patched image, its platforms' patched digests and the packages changed.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Only these platforms (os/arch[/variant], repeatable); the others go into the patched
    /// index as they are.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    #[command(flatten)]
    pub patch: PatchFlags,
    #[command(flatten)]
    pub scan: ScanFlags,
    #[command(flatten)]
    pub sign: SignFlags,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// One platform of one image.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PlatformRow {
    pub platform: String,
    pub digest: Digest,
    /// `patched`, `nothing-fixable`, `not-patchable`, `failed`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patched: Option<Digest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The vulnerabilities before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Counts>,
    /// The findings fixed (gone in the re-scan).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patched_report: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One image.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PatchRow {
    pub image: String,
    /// `patched`, `nothing-fixable`, `not-patchable`, `failed`.
    pub state: &'static str,
    /// The patched image, `…:TAG-patched@sha256:…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patched: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vex: Option<Digest>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub signed: bool,
    pub platforms: Vec<PlatformRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PatchRow {
    /// A row of `image` in `state`, nothing else known yet.
    fn new(image: String, state: &'static str) -> PatchRow {
        PatchRow {
            image,
            state,
            patched: None,
            vex: None,
            signed: false,
            platforms: Vec::new(),
            reason: None,
        }
    }
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PatchReport {
    pub database: String,
    pub images: Vec<PatchRow>,
}

impl PatchReport {
    /// No image failed (not patchable is an answer, not a failure).
    pub fn passed(&self) -> bool {
        self.images.iter().all(|i| i.state != "failed")
    }
}

/// `helm mirror patch`: the report as JSON or a table; exit 1 when an image failed.
pub async fn command(args: PatchArgs) -> Result<ExitCode, String> {
    let report = run(&args).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print(&report);
    }
    if report.passed() {
        return Ok(ExitCode::SUCCESS);
    }
    let failed: Vec<&str> = report
        .images
        .iter()
        .filter(|i| i.state == "failed")
        .map(|i| i.image.as_str())
        .collect();
    eprintln!(
        "error: {} of {} images failed to patch ({}); nothing was published for them (the \
         reasons are in the report)",
        failed.len(),
        report.images.len(),
        failed.join(", ")
    );
    Ok(ExitCode::from(1))
}

/// One image to patch: as the chart names it, where it is read, where the patched image goes.
pub struct Job {
    pub image: Reference,
    pub at: Reference,
    pub destination: Reference,
}

pub async fn run(args: &PatchArgs) -> Result<PatchReport, String> {
    let rules = args.place.rules()?;
    let client = args.registry.client()?;
    let target = args.registry.target_client()?;
    let mut lock = args.lock.as_deref().map(read_lock).transpose()?;
    let mut jobs = Vec::new();
    let references: Vec<(Reference, Option<String>)> = match &lock {
        Some(lock) => lock
            .images
            .iter()
            .map(|i| {
                Reference::parse(&i.image)
                    .map(|r| (r, i.digest.clone()))
                    .map_err(|e| format!("the lock's image {:?}: {}", i.image, e.reason()))
            })
            .collect::<Result<_, _>>()?,
        None => {
            let mut chart = ChartArgs {
                chart: args.chart.clone().expect("clap: a chart or --lock"),
                release: args.release.clone(),
                render: args.render.clone(),
            };
            let (inventory, _) = inventory_of(&mut chart, &args.select, &args.registry)?;
            inventory
                .images
                .iter()
                .map(|i| (i.reference.clone(), None))
                .collect()
        }
    };
    for (image, digest) in references {
        let at = match &digest {
            Some(d) => image.with_digest(d).map_err(|e| e.reason().to_owned())?,
            None => image.clone(),
        };
        let destination = rules.place(&image).map_err(|e| e.to_string())?;
        jobs.push(Job {
            image,
            at,
            destination,
        });
    }
    let scanner = Arc::new(args.scan.scanner(&args.registry).await?);
    let patcher = args.patch.patcher(&client)?;
    let signer = args.sign.signer(crate::images::environment().now_unix)?;
    let engine = Engine {
        scanner: &scanner,
        patcher: &patcher,
        signer: signer.as_ref(),
        suffix: &args.patch.patched_suffix,
        platforms: &args.platform,
        concurrency: args.registry.concurrency,
        quiet: args.json,
    };
    let rows = engine.patch_all(&client, &target, jobs).await;
    if let (Some(lock), Some(path)) = (lock.as_mut(), args.lock.as_ref()) {
        record(lock, &rows, &scanner.database());
        write_atomically(path, &lock.to_yaml())?;
    }
    Ok(PatchReport {
        database: scanner.database(),
        images: rows,
    })
}

/// What patching needs, whoever asks (the command, copy, import).
pub struct Engine<'a> {
    pub scanner: &'a Arc<Scanner>,
    pub patcher: &'a Patcher,
    pub signer: Option<&'a Signer>,
    pub suffix: &'a str,
    pub platforms: &'a [String],
    pub concurrency: usize,
    pub quiet: bool,
}

/// The tag of the patched image.
fn patched_tag(image: &Reference, destination: &Reference, suffix: &str) -> String {
    let base = destination
        .tag()
        .or(image.tag())
        .map(str::to_owned)
        .unwrap_or_else(
            || match image.digest().and_then(|d| Digest::parse(d).ok()) {
                Some(d) => format!("sha256-{}", &d.hex()[..12]),
                None => "latest".to_owned(),
            },
        );
    // A tag is at most 128 characters.
    let keep = 128usize.saturating_sub(suffix.len());
    format!("{}{suffix}", &base[..base.len().min(keep)])
}

impl Engine<'_> {
    /// Scans, patches, publishes and re-scans every job (images one after another, each
    /// image's platforms scanned together).
    pub async fn patch_all(
        &self,
        source: &Client,
        target: &Client,
        jobs: Vec<Job>,
    ) -> Vec<PatchRow> {
        let places = jobs
            .iter()
            .map(|j| (j.image.clone(), j.at.clone()))
            .collect();
        let resolved = platform_targets(source, places, &[], self.concurrency).await;
        let mut all_targets = Vec::new();
        let mut rows: Vec<Option<PatchRow>> = Vec::new();
        for (job, (_, result)) in jobs.iter().zip(&resolved) {
            match result {
                Ok(found) => {
                    all_targets.extend(found.iter().filter(|t| wanted(self.platforms, t)).cloned());
                    rows.push(None);
                }
                Err(e) => rows.push(Some(PatchRow {
                    reason: Some(e.to_string()),
                    ..PatchRow::new(job.image.canonical(), "failed")
                })),
            }
        }
        let progress = Arc::new(Progress::new(all_targets.len(), "scanning", self.quiet));
        let scanned = self
            .scanner
            .scan_all(source, all_targets, progress.clone())
            .await;
        progress.finish();
        let source_store = RegistryStore::source(source.clone());
        let target_store = RegistryStore::target(target.clone());
        let mut out = Vec::new();
        for (job, row) in jobs.iter().zip(rows) {
            if let Some(row) = row {
                out.push(row);
                continue;
            }
            let mine: Vec<&Scanned> = scanned
                .iter()
                .filter(|s| s.target.image == job.image && s.target.at == job.at)
                .collect();
            out.push(
                self.patch_one(job, &mine, &source_store, &target_store, target)
                    .await,
            );
        }
        out
    }

    async fn patch_one(
        &self,
        job: &Job,
        scanned: &[&Scanned],
        source: &RegistryStore,
        target: &RegistryStore,
        target_client: &Client,
    ) -> PatchRow {
        let image = job.image.canonical();
        let from = Repository::from_reference(&job.at);
        let to = Repository::from_reference(&job.destination);
        let mut row = PatchRow::new(image, "nothing-fixable");
        let mut patched: Vec<Box<PatchedPlatform>> = Vec::new();
        for s in scanned {
            let mut platform = PlatformRow {
                platform: s.target.platform.clone(),
                digest: s.target.digest.clone(),
                state: "nothing-fixable",
                patched: None,
                changes: Vec::new(),
                before: None,
                after: None,
                fixed: Vec::new(),
                report: None,
                patched_report: None,
                reason: None,
            };
            match &s.outcome {
                Err(e) => {
                    platform.state = "failed";
                    platform.reason = Some(format!("not scanned: {e}"));
                }
                Ok(verdict) => {
                    platform.before = Some(verdict.counts);
                    platform.report = Some(verdict.report.clone());
                    match self
                        .patcher
                        .patch_platform(
                            source,
                            &from,
                            &s.target.digest,
                            &s.target.platform,
                            &verdict.summary.findings,
                        )
                        .await
                    {
                        PlatformResult::NothingFixable => {}
                        PlatformResult::Refused(refusal) => {
                            platform.state = match refusal.kind {
                                RefusalKind::NotPatchable => "not-patchable",
                                RefusalKind::Failed => "failed",
                            };
                            platform.reason = Some(refusal.reason);
                        }
                        PlatformResult::Patched(p) => {
                            platform.state = "patched";
                            platform.patched = Some(p.digest.clone());
                            platform.changes = p.changes.clone();
                            patched.push(p);
                        }
                    }
                }
            }
            row.platforms.push(platform);
        }
        // The image's state: the worst of its platforms'.
        for state in ["failed", "not-patchable", "patched"] {
            if let Some(p) = row.platforms.iter().find(|p| p.state == state) {
                row.state = state;
                if state != "patched" {
                    row.reason = Some(format!(
                        "{}: {}",
                        p.platform,
                        p.reason.clone().unwrap_or_default()
                    ));
                }
                break;
            }
        }
        if row.state != "patched" {
            return row;
        }
        match self
            .publish_patched(
                job,
                &from,
                &to,
                &patched,
                source,
                target,
                target_client,
                &mut row,
            )
            .await
        {
            Ok(()) => {}
            Err(e) => {
                row.state = "failed";
                row.reason = Some(e);
                row.patched = None;
            }
        }
        row
    }

    #[allow(clippy::too_many_arguments)]
    async fn publish_patched(
        &self,
        job: &Job,
        from: &Repository,
        to: &Repository,
        patched: &[Box<PatchedPlatform>],
        source: &RegistryStore,
        target: &RegistryStore,
        target_client: &Client,
        row: &mut PatchRow,
    ) -> Result<(), String> {
        let top_reference = job
            .at
            .digest()
            .map(str::to_owned)
            .or_else(|| job.at.tag().map(str::to_owned))
            .unwrap_or_else(|| "latest".to_owned());
        let top = source
            .manifest_get(from, &top_reference)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{}: the manifest is gone", job.at.canonical()))?;
        let by_original: BTreeMap<Digest, &PatchedPlatform> = row
            .platforms
            .iter()
            .filter_map(|p| {
                let new = p.patched.as_ref()?;
                let found = patched.iter().find(|x| &x.digest == new)?;
                Some((p.digest.clone(), found.as_ref()))
            })
            .collect();
        let tag = patched_tag(&job.image, &job.destination, self.suffix);
        let published = publish(source, from, target, to, &top, &by_original, &tag)
            .await
            .map_err(|e| format!("publishing {to}:{tag}: {e}"))?;
        let at = format!("{to}:{tag}@{}", published.digest);
        row.patched = Some(at.clone());

        // The re-scan, at the target.
        let at_ref = Reference::parse(&at).map_err(|e| e.reason().to_owned())?;
        let rescan: Vec<Target> = row
            .platforms
            .iter()
            .filter_map(|p| {
                Some(Target {
                    image: job.image.clone(),
                    at: at_ref.clone(),
                    platform: p.platform.clone(),
                    digest: p.patched.clone()?,
                })
            })
            .collect();
        let progress = Arc::new(Progress::new(rescan.len(), "re-scanning", self.quiet));
        let after = self
            .scanner
            .scan_all(target_client, rescan, progress.clone())
            .await;
        progress.finish();
        let mut statements = Vec::new();
        for p in row.platforms.iter_mut() {
            let Some(s) = after
                .iter()
                .find(|s| Some(&s.target.digest) == p.patched.as_ref())
            else {
                continue;
            };
            let fixes = patched
                .iter()
                .find(|x| Some(&x.digest) == p.patched.as_ref())
                .map(|x| x.fixes.clone())
                .unwrap_or_default();
            match &s.outcome {
                Ok(v) => {
                    p.after = Some(v.counts);
                    p.patched_report = Some(v.report.clone());
                    p.fixed = fixes
                        .into_iter()
                        .filter(|id| !v.summary.findings.iter().any(|f| &f.id == id))
                        .collect();
                    for id in &p.fixed {
                        statements.push((id.clone(), s.target.digest.clone()));
                    }
                }
                Err(e) => {
                    p.reason = Some(format!("the patched manifest was not re-scanned: {e}"));
                }
            }
        }
        let subject = Descriptor::new(
            &published.media_type,
            published.digest.clone(),
            published.size,
        );
        if !statements.is_empty() {
            let vex = openvex(&job.destination, to, &published.digest, &statements);
            let mut annotations = serde_json::Map::new();
            annotations.insert(
                purser::plan::annotation::CREATED.into(),
                json!(purser::lock::rfc3339(crate::images::environment().now_unix)),
            );
            row.vex = Some(
                attach_document(target, to, &subject, OPENVEX, vex, annotations)
                    .await
                    .map_err(|e| format!("attaching the VEX document to {at}: {e}"))?,
            );
        }
        if let Some(signer) = self.signer {
            signer
                .sign(target, to, &published.digest)
                .await
                .map_err(|e| format!("signing {at}: {e}"))?;
            row.signed = true;
        }
        Ok(())
    }
}

fn wanted(platforms: &[String], target: &Target) -> bool {
    super::lock::wanted(platforms, &target.platform)
}

/// The media type of an OpenVEX document, as artifact and layer type.
pub const OPENVEX: &str = "application/openvex+json";

/// An OpenVEX (v0.2.0) document: each `(vulnerability, platform digest)` fixed in the image
/// `digest` at `repo`.
fn openvex(
    destination: &Reference,
    repo: &Repository,
    digest: &Digest,
    statements: &[(String, Digest)],
) -> Vec<u8> {
    let name = destination
        .repository()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let purl = |d: &Digest| {
        format!(
            "pkg:oci/{name}@{}?repository_url={}/{}",
            d.as_str().replace(':', "%3A"),
            repo.registry,
            repo.path
        )
    };
    let mut by_vulnerability: BTreeMap<&str, Vec<&Digest>> = BTreeMap::new();
    for (id, platform) in statements {
        by_vulnerability.entry(id).or_default().push(platform);
    }
    let timestamp = purser::lock::rfc3339(crate::images::environment().now_unix);
    let statements: Vec<serde_json::Value> = by_vulnerability
        .into_iter()
        .map(|(id, platforms)| {
            let mut products = vec![json!({"@id": purl(digest)})];
            products.extend(
                platforms
                    .into_iter()
                    .filter(|p| *p != digest)
                    .map(|p| json!({"@id": purl(p)})),
            );
            json!({
                "vulnerability": {"name": id},
                "products": products,
                "status": "fixed",
            })
        })
        .collect();
    serde_json::to_vec_pretty(&json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": format!("https://purser.dev/vex/{}", digest.hex()),
        "author": "purser",
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    }))
    .expect("VEX serialises")
}

/// Every patched image into the lock: the image's patched reference and digest, each
/// platform's patched digest, packages and re-scan.
pub fn record<'a>(lock: &mut Lock, rows: impl IntoIterator<Item = &'a PatchRow>, database: &str) {
    for row in rows {
        let Some(patched) = &row.patched else {
            continue;
        };
        let Some(entry) = lock.images.iter_mut().find(|i| i.image == row.image) else {
            continue;
        };
        let (reference, digest) = patched.rsplit_once('@').unwrap_or((patched, ""));
        entry.patched = Some(PatchedImage {
            reference: reference.to_owned(),
            digest: digest.to_owned(),
        });
        for p in &row.platforms {
            let Some(new) = &p.patched else { continue };
            let record = purser::lock::PatchedPlatform {
                digest: new.to_string(),
                packages: p
                    .changes
                    .iter()
                    .map(|c| PackageChange {
                        name: c.package.clone(),
                        from: c.from.clone(),
                        to: c.to.clone(),
                    })
                    .collect(),
                scan: p.after.map(|counts| ScanRecord {
                    scanned_at: purser::lock::rfc3339(crate::images::environment().now_unix),
                    database: database.to_owned(),
                    vulnerabilities: counts,
                }),
            };
            match entry
                .digests
                .iter_mut()
                .find(|d| d.digest == p.digest.as_str())
            {
                Some(slot) => slot.patched = Some(record),
                None => {
                    let mut slot =
                        purser::lock::PlatformDigest::new(p.digest.as_str(), p.platform.clone());
                    slot.patched = Some(record);
                    entry.digests.push(slot);
                }
            }
        }
    }
}

/// The report as a table: a line per image, then per platform what changed and the counts
/// before and after.
pub fn print(report: &PatchReport) {
    println!("database: {}", report.database);
    for row in &report.images {
        println!("{}: {}", row.image, row.verdict());
        for line in row.details() {
            println!("{line}");
        }
    }
}

impl PatchRow {
    /// `patched -> REF@DIGEST`, or the state and why.
    pub fn verdict(&self) -> String {
        match &self.patched {
            Some(at) => format!("{} -> {at}", self.state),
            None => format!(
                "{}{}",
                self.state,
                self.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        }
    }

    /// Per platform its state, counts before and after, what changed and what it fixed;
    /// then the VEX document and the signature (indented, a line each).
    pub fn details(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for p in &self.platforms {
            let counts =
                |c: &Option<Counts>| c.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
            lines.push(format!(
                "  {} {}: {} (before {}, after {})",
                p.platform,
                p.digest,
                p.state,
                counts(&p.before),
                counts(&p.after)
            ));
            for c in &p.changes {
                lines.push(match &c.from {
                    Some(from) => format!("    {} {from} -> {}", c.package, c.to),
                    None => format!("    {} {} (added: a dependency of a fix)", c.package, c.to),
                });
            }
            if !p.fixed.is_empty() {
                lines.push(format!("    fixed: {}", p.fixed.join(", ")));
            }
            if let Some(reason) = &p.reason
                && p.state != "nothing-fixable"
            {
                lines.push(format!("    {reason}"));
            }
        }
        if let Some(vex) = &self.vex {
            lines.push(format!("  VEX: {vex}"));
        }
        if self.signed {
            lines.push("  signed".to_owned());
        }
        lines
    }
}

/// `--patch` on copy and import: every image the run copied or found present (no chart, no
/// artifact without platforms) patched where it now is, at the target, the patched image
/// published beside it; each row gets what was done. An image that failed to patch makes
/// the run incomplete (exit 1): its original is mirrored all the same.
pub(super) async fn patch_copied(engine: &Engine<'_>, target: &Client, report: &mut CopyReport) {
    let charts: std::collections::BTreeSet<&str> = report
        .charts
        .iter()
        .map(|c| c.destination.as_str())
        .collect();
    let (rows, jobs): (Vec<usize>, Vec<Job>) = report
        .at_target()
        .into_iter()
        .filter(|t| !charts.contains(report.images[t.row].destination.as_str()))
        .map(|t| {
            let job = Job {
                image: t.image,
                at: t.at,
                destination: t.destination,
            };
            (t.row, job)
        })
        .unzip();
    let patched = engine.patch_all(target, target, jobs).await;
    for (i, row) in rows.into_iter().zip(patched) {
        if row.platforms.is_empty() && row.state == "nothing-fixable" {
            continue; // an artifact, not an image
        }
        if row.state == "failed" {
            report.complete = false;
        }
        report.images[i].patch = Some(row);
    }
    report.patch_database = Some(engine.scanner.database());
}
