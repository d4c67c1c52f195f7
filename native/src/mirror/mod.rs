//! `helm mirror` (`purser mirror`): resolve a chart's images against their registries.
//!
//! - `lock CHART` writes an images-lock: per image the digest its reference names (an index
//!   where there is one) and each platform's manifest digest. Written only when every image
//!   resolved (or with `--allow-missing`, the failures marked), and atomically. Likely images
//!   the registry says do not exist are set aside in the lock's `unresolved` list
//!   ([`crate::confirm`]).
//! - `verify CHART --lock FILE` sends one HEAD per image and reports drift; exit 1 on drift.
//! - `status CHART --to REGISTRY[/PREFIX]` says, per image, whether the mirror has it.
//! - `copy CHART... --to REGISTRY[/PREFIX]` copies charts and images ([`copy`]).
//! - `export CHART... -o bundle.tar`, `import BUNDLE --to ...` and `inspect BUNDLE` carry
//!   them across an air gap in an offline bundle ([`export`], [`import`], [`inspect`]).

mod copy;
mod export;
mod import;
mod inspect;
mod signatures;
mod verify_signatures;

use crate::confirm;
use crate::progress::Progress;
use crate::registry::{self, Client, RegistryError, Resolved};
use crate::render::ChartArgs;
use clap::{Args, Subcommand};
use purser::destination::Rules;
use purser::inventory::{Confidence, Inventory, Selection};
use purser::lock::{Lock, PlatformDigest, UnresolvedImage};
use purser::reference::Reference;
use purser::report::Stamp;
use serde::Serialize;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand)]
pub enum MirrorCommand {
    /// Resolve every image of a chart to digests and write an images-lock.
    Lock(LockArgs),
    /// Re-resolve a chart's images and report drift from a lock (exit 1 on drift).
    Verify(VerifyArgs),
    /// Show, per image, whether a mirror registry holds it with the same digest.
    Status(StatusArgs),
    /// Copy charts and every image they pull into a registry, byte-exact, each blob once.
    Copy(copy::CopyArgs),
    /// Write charts, their images, signatures and lock into an offline bundle (an OCI image
    /// layout in a tar), straight from the registries.
    Export(export::ExportArgs),
    /// Push an offline bundle (purser's, or any OCI image layout in a tar) into a registry,
    /// every blob verified, nothing visible unless whole.
    Import(import::ImportArgs),
    /// List a bundle's charts, images, platforms, sizes, signatures and referrers, and
    /// whether it is complete; extract a chart from it.
    Inspect(inspect::InspectArgs),
    /// Check every image's and chart's cosign signatures (and chart archives' Helm
    /// provenance) against a signature policy, copying nothing (exit 1 if any is refused).
    VerifySignatures(verify_signatures::VerifySignaturesArgs),
}

/// Which images of the chart, and how to reach registries.
#[derive(Args)]
pub struct Common {
    #[command(flatten)]
    pub chart: ChartArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Which of a chart's images count.
#[derive(Args)]
pub struct SelectArgs {
    /// Also images of features and subcharts switched off by default: the chart is rendered
    /// again with them on (at most 64 more times); values and annotations add what no render reached.
    #[arg(long)]
    pub all: bool,
    /// Only images from typed fields and annotations; none found by heuristics.
    #[arg(long)]
    pub certain_only: bool,
}

impl SelectArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            all: self.all,
            certain_only: self.certain_only,
        }
    }
}

/// Where a mirror puts each image: `--to`, `--flatten`, `--map`, as `relocate` reads them.
#[derive(Args)]
pub struct PlaceArgs {
    /// The mirror: REGISTRY[/PREFIX].
    #[arg(long, value_name = "REGISTRY[/PREFIX]")]
    pub to: String,
    /// Put every image directly under the prefix (last path component only).
    #[arg(long)]
    pub flatten: bool,
    /// Images from SOURCE (a registry, or registry/path) go to DEST instead (repeatable).
    #[arg(long, value_name = "SOURCE=DEST")]
    pub map: Vec<String>,
}

impl PlaceArgs {
    pub fn rules(&self) -> Result<Rules, String> {
        Rules::from_flags(&self.to, self.flatten, &self.map).map_err(|e| e.to_string())
    }
}

#[derive(Args)]
pub struct RegistryArgs {
    /// Talk plain HTTP to this registry host[:port] (repeatable; only hosts named here).
    #[arg(long, value_name = "HOST")]
    pub plain_http: Vec<String>,
    /// Do not verify TLS certificates of this registry host[:port] (repeatable).
    #[arg(long, value_name = "HOST")]
    pub insecure_skip_tls_verify: Vec<String>,
    /// Trust this CA certificate (PEM) besides the system roots (repeatable).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; with --key-file.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS; with --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Attempts per request on 5xx, 429 and broken connections.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Give up retrying a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub retry_max_time: u64,
    /// Requests (and blob transfers) in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Fetch images of REGISTRY[/PATH] through CACHE[/PREFIX], a pull-through cache (Harbor
    /// proxy cache, Artifactory, a registry mirror); names, locks and destinations keep the
    /// upstream reference (repeatable).
    #[arg(long, value_name = "REGISTRY=CACHE[/PREFIX]")]
    pub source_mirror: Vec<String>,
}

impl RegistryArgs {
    /// The flags `helm template` and `helm pull` need for an oci:// chart on a registry named
    /// by --plain-http, --insecure-skip-tls-verify or reached with --ca-file.
    pub(crate) fn helm_fetch_flags(&self, chart: &str) -> Vec<std::ffi::OsString> {
        let Some(rest) = chart.strip_prefix("oci://") else {
            return Vec::new();
        };
        let host = rest.split('/').next().unwrap_or(rest);
        let named = |hosts: &[String]| {
            hosts
                .iter()
                .any(|h| h == host || host.split(':').next() == Some(h.as_str()))
        };
        let mut out = Vec::new();
        if named(&self.plain_http) {
            out.push("--plain-http".into());
        }
        if named(&self.insecure_skip_tls_verify) {
            out.push("--insecure-skip-tls-verify".into());
        }
        if let Some(ca) = self.ca_file.first() {
            out.extend(["--ca-file".into(), ca.clone().into_os_string()]);
        }
        out
    }

    /// The client that reads images: through the `--source-mirror` caches.
    pub(crate) fn client(&self) -> Result<Client, String> {
        self.build_client(purser::destination::SourceMirrors::from_flags(
            &self.source_mirror,
        )?)
    }

    /// The client that writes to a mirror: no caches in between.
    pub(crate) fn target_client(&self) -> Result<Client, String> {
        self.build_client(purser::destination::SourceMirrors::default())
    }

    fn build_client(
        &self,
        source_mirrors: purser::destination::SourceMirrors,
    ) -> Result<Client, String> {
        let defaults = registry::Options::default();
        let options = registry::Options {
            plain_http: self.plain_http.clone(),
            insecure: self.insecure_skip_tls_verify.clone(),
            ca_files: self.ca_file.clone(),
            client_cert: self.cert_file.clone().zip(self.key_file.clone()),
            retry: registry::RetryPolicy {
                max_attempts: self.retries.max(1),
                max_elapsed: Duration::from_secs(self.retry_max_time),
                ..defaults.retry.clone()
            },
            source_mirrors,
            ..defaults
        };
        Client::new(options).map_err(|e| e.to_string())
    }
}

#[derive(Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub common: Common,
    /// Keep only these platforms' digests (os/arch[/variant], repeatable), e.g. linux/amd64.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    /// Write the lock here instead of stdout (atomically: a complete file or none).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the lock even when images cannot be resolved, marking them `missing`.
    #[arg(long)]
    pub allow_missing: bool,
}

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

pub fn run(command: MirrorCommand) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        match command {
            MirrorCommand::Lock(args) => lock(args).await,
            MirrorCommand::Verify(args) => verify(args).await,
            MirrorCommand::Status(args) => status(args).await,
            MirrorCommand::Copy(args) => copy_command(args).await,
            MirrorCommand::Export(args) => export_command(args).await,
            MirrorCommand::Import(args) => import_command(args).await,
            MirrorCommand::Inspect(args) => inspect::run(args).await,
            MirrorCommand::VerifySignatures(args) => verify_signatures_command(args).await,
        }
    })
}

impl Common {
    fn inventory(&mut self) -> Result<(Inventory, purser::lock::ChartId), String> {
        self.chart.render.fetch = self.registry.helm_fetch_flags(&self.chart.chart);
        let analysis = self.chart.analyse(self.select.all).map_err(|e| e.0)?;
        Ok(analysis.inventory(self.select.selection()))
    }
}

/// Runs `work` for every item with at most `limit` in flight, keeping the input order.
async fn each<T, R, F, Fut>(items: Vec<T>, limit: usize, work: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let work = Arc::new(work);
    let handles: Vec<_> = items
        .into_iter()
        .map(|item| {
            let semaphore = semaphore.clone();
            let work = work.clone();
            tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await.expect("semaphore open");
                work(item).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("a mirror task panicked"));
    }
    out
}

fn wanted(filter: &[String], platform: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            // `linux/arm` matches every arm variant; `linux/arm/v7` only v7.
            platform == f
                || platform
                    .strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// Writes `text` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

async fn lock(mut args: LockArgs) -> Result<ExitCode, String> {
    let (inventory, chart) = args.common.inventory()?;
    let client = args.common.registry.client()?;
    let refs: Vec<(Reference, Confidence)> = inventory
        .images
        .iter()
        .map(|i| (i.reference.clone(), i.confidence))
        .collect();
    let progress = Arc::new(Progress::new(refs.len(), "resolving", false));
    let results = {
        let client = client.clone();
        let progress = progress.clone();
        each(
            refs,
            args.common.registry.concurrency,
            move |(r, confidence)| {
                let client = client.clone();
                let progress = progress.clone();
                async move {
                    let result = client.resolve(&r).await;
                    let likely = confidence == Confidence::Likely;
                    match &result {
                        Ok(resolved) => progress.done(&format!(
                            "resolved {}{} {} ({} platform{})",
                            if likely { "likely " } else { "" },
                            r.canonical(),
                            resolved.digest,
                            resolved.platforms.len(),
                            if resolved.platforms.len() == 1 {
                                ""
                            } else {
                                "s"
                            }
                        )),
                        Err(e) if likely && confirm::absent(e) => {
                            progress.done(&format!("unresolved likely {}", r.canonical()))
                        }
                        Err(e) => progress.say(&format!("error: {e}")),
                    }
                    result
                }
            },
        )
        .await
    };
    progress.finish();

    let stamp = Stamp::at(crate::images::environment().now_unix);
    let mut lock = Lock::from_inventory(&inventory, Some(&chart), &stamp);
    let mut failures = Vec::new();
    let mut set_aside = Vec::new();
    for (index, (image, result)) in inventory.images.iter().zip(results).enumerate() {
        let entry = &mut lock.images[index];
        let result =
            result.and_then(|resolved| platforms(&image.reference, resolved, &args.platform));
        match (confirm::judge(image, &result), result) {
            (_, Ok((digest, digests))) => {
                entry.digest = Some(digest);
                entry.digests = digests;
                entry.confirmed = image.confidence == Confidence::Likely;
            }
            (confirm::Verdict::Unresolved(reason), Err(_)) => {
                set_aside.push(index);
                lock.unresolved
                    .push(UnresolvedImage::new(entry, image, reason));
            }
            (_, Err(e)) => {
                entry.missing = Some(e.to_string());
                failures.push(e.to_string());
            }
        }
    }
    for index in set_aside.into_iter().rev() {
        lock.images.remove(index);
    }
    for u in &lock.unresolved {
        eprintln!("{}", confirm::describe(&u.image, &u.reason, &u.found_at));
    }
    if !failures.is_empty() && !args.allow_missing {
        return Err(format!(
            "{} of {} images could not be resolved; no lock written (add --allow-missing to write it with those marked missing):\n  {}",
            failures.len(),
            lock.images.len(),
            failures.join("\n  ")
        ));
    }
    let text = lock.to_yaml();
    let confirmed = lock.images.iter().filter(|i| i.confirmed).count();
    let mut counts = Vec::new();
    if !failures.is_empty() {
        counts.push(format!("{} missing", failures.len()));
    }
    if confirmed > 0 {
        counts.push(format!("{confirmed} likely confirmed"));
    }
    if !lock.unresolved.is_empty() {
        counts.push(format!(
            "{} likely unresolved, left out",
            lock.unresolved.len()
        ));
    }
    let counts: String = counts.iter().map(|c| format!(", {c}")).collect();
    match &args.output {
        Some(path) => {
            write_atomically(path, &text)?;
            eprintln!(
                "wrote {} ({} images{counts})",
                path.display(),
                lock.images.len(),
            );
        }
        None => {
            print!("{text}");
            if !counts.is_empty() {
                eprintln!("locked {} images{counts}", lock.images.len());
            }
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The lock digests of a resolved image, platforms filtered.
fn platforms(
    reference: &Reference,
    resolved: Resolved,
    filter: &[String],
) -> Result<(String, Vec<PlatformDigest>), RegistryError> {
    let digests: Vec<PlatformDigest> = resolved
        .platforms
        .iter()
        .map(|p| PlatformDigest {
            digest: p.digest.to_string(),
            arch: p.platform(),
        })
        .filter(|p| wanted(filter, &p.arch))
        .collect();
    if digests.is_empty() && !filter.is_empty() && !resolved.platforms.is_empty() {
        let have: Vec<String> = resolved
            .platforms
            .iter()
            .map(registry::PlatformManifest::platform)
            .collect();
        return Err(RegistryError::message(format!(
            "{} has no manifest for {} (it has {})",
            reference.canonical(),
            filter.join(", "),
            if have.is_empty() {
                "none".into()
            } else {
                have.join(", ")
            }
        )));
    }
    Ok((resolved.digest.to_string(), digests))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Drift {
    image: String,
    /// `changed`, `missing`, `unlocked` (used but not in the lock), `unused` (locked, no longer used), `error`.
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyReport {
    clean: bool,
    images: usize,
    drift: Vec<Drift>,
    /// Likely images the lock lists as unresolved (their registry said they do not exist):
    /// not checked.
    #[serde(skip_serializing_if = "is_zero")]
    unresolved: usize,
    requests: u64,
}

/// For `skip_serializing_if` on counts.
pub(crate) fn is_zero(n: &usize) -> bool {
    *n == 0
}

async fn verify(mut args: VerifyArgs) -> Result<ExitCode, String> {
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
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else if report.clean {
        println!(
            "clean: {} images match {} ({} requests){}",
            report.images,
            args.lock.display(),
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
            args.lock.display(),
            parts.join(", "),
            skipped(report.unresolved)
        );
    }
    Ok(if report.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `; N unresolved likely images skipped` when the lock set some aside.
fn skipped(unresolved: usize) -> String {
    match unresolved {
        0 => String::new(),
        1 => "; 1 unresolved likely image skipped (see the lock's `unresolved`)".to_owned(),
        n => format!("; {n} unresolved likely images skipped (see the lock's `unresolved`)"),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Placed {
    image: String,
    destination: String,
    /// `present` (same digest), `missing`, `different`, `error`, or `unresolved` (a likely
    /// image its source registry says does not exist: not expected in the mirror).
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

async fn status(mut args: StatusArgs) -> Result<ExitCode, String> {
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
    let complete = rows
        .iter()
        .all(|r| matches!(r.state, "present" | "unresolved"));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("report serialises")
        );
    } else {
        print_status(&rows);
        if skipped_unresolved > 0 {
            println!("{}", skipped(skipped_unresolved).trim_start_matches("; "));
        }
    }
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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

async fn copy_command(args: copy::CopyArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let result = copy::run(args).await?;
    print_copy(result, json)
}

async fn import_command(args: import::ImportArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let result = import::run(args).await?;
    print_copy(result, json)
}

async fn export_command(args: export::ExportArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let report = export::run(args).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        export::print(&report);
    }
    Ok(if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn verify_signatures_command(
    args: verify_signatures::VerifySignaturesArgs,
) -> Result<ExitCode, String> {
    let json = args.json;
    let report = verify_signatures::run(args).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        verify_signatures::print(&report);
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A copy's or an import's report, as JSON or text; exit 1 unless complete.
fn print_copy((report, dry_run): (copy::CopyReport, bool), json: bool) -> Result<ExitCode, String> {
    match (json, dry_run) {
        (true, _) => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        ),
        (false, true) => copy::print_plan(&report),
        (false, false) => copy::print(&report),
    }
    Ok(if report.complete || dry_run {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
