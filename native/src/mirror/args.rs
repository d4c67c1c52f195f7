//! The flags the `helm mirror` commands share: [`RegistryArgs`] (how registries are reached,
//! and the clients built from it), [`Common`] with [`SelectArgs`] (which chart, which of its
//! images), [`PlaceArgs`] (where a mirror puts each image), [`CarryArgs`] (which platforms
//! and referrers go along), [`ChartToArgs`] (where charts land) and [`ScanFlags`] (how images
//! are scanned: Trivy, its database, the reports, the gate).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use purser::destination::Rules;
use purser::inventory::{Inventory, Selection};
use purser::scan::{Gate, Severity};

use crate::copy::PlanOptions;
use crate::registry::{self, Client};
use crate::render::ChartArgs;
use crate::scan::Scanner;
use crate::trivy::{Trivy, TrivyConfig};

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
        let named = |hosts: &[String]| host_named(hosts, host);
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

    /// Whether the registry of `repository` (`HOST[:PORT]/PATH`) is named by --plain-http or
    /// --insecure-skip-tls-verify.
    pub(crate) fn reaches_insecurely(&self, repository: &str) -> bool {
        let host = repository.split('/').next().unwrap_or(repository);
        host_named(&self.plain_http, host) || host_named(&self.insecure_skip_tls_verify, host)
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

/// Whether `host` (`HOST[:PORT]`) is in `hosts`, exactly or by its name alone.
fn host_named(hosts: &[String], host: &str) -> bool {
    hosts
        .iter()
        .any(|h| h == host || host.split(':').next() == Some(h.as_str()))
}

impl Common {
    pub(super) fn inventory(&mut self) -> Result<(Inventory, purser::lock::ChartId), String> {
        inventory_of(&mut self.chart, &self.select, &self.registry)
    }
}

/// The images of `chart` (rendered with the fetch flags its registry needs), as `select` picks.
pub(super) fn inventory_of(
    chart: &mut ChartArgs,
    select: &SelectArgs,
    registry: &RegistryArgs,
) -> Result<(Inventory, purser::lock::ChartId), String> {
    chart.render.fetch = registry.helm_fetch_flags(&chart.chart);
    let analysis = chart.analyse(select.all).map_err(|e| e.0)?;
    Ok(analysis.inventory(select.selection()))
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

/// Where charts go by default: the `--to` prefix plus `/charts`.
pub(super) fn charts_under(to: &purser::destination::Target) -> purser::destination::Target {
    let mut t = to.clone();
    t.prefix = if t.prefix.is_empty() {
        "charts".to_owned()
    } else {
        format!("{}/charts", t.prefix)
    };
    t
}

/// How images are scanned (scan; copy, export and import with --scan): Trivy's database or
/// server, the reports folder and the gate.
#[derive(Args, Clone)]
pub struct ScanFlags {
    /// Trivy's cache folder. Alone: it holds the vulnerability database already
    /// (DIR/db/trivy.db) and nothing is downloaded (air-gapped sites); with
    /// --trivy-db-repository the database is downloaded into it first.
    #[arg(long, value_name = "DIR")]
    pub trivy_cache_dir: Option<PathBuf>,
    /// Where Trivy downloads its database from, once before the scans (a mirror of
    /// ghcr.io/aquasecurity/trivy-db:2, e.g. what copy --with-trivy-db put in your registry).
    #[arg(long, value_name = "REGISTRY/REPO[:TAG]")]
    pub trivy_db_repository: Option<String>,
    /// The same for Trivy's Java DB (a mirror of ghcr.io/aquasecurity/trivy-java-db:1).
    #[arg(long, value_name = "REGISTRY/REPO[:TAG]")]
    pub trivy_java_db_repository: Option<String>,
    /// A Trivy server that holds the database (trivy image --server).
    #[arg(long, value_name = "URL")]
    pub trivy_server: Option<String>,
    /// The Trivy server's token (default: $PURSER_TRIVY_TOKEN, which keeps it out of the
    /// process list).
    #[arg(long, value_name = "TOKEN")]
    pub trivy_token: Option<String>,
    /// Findings to leave out, in Trivy's .trivyignore format.
    #[arg(long, value_name = "FILE")]
    pub ignorefile: Option<PathBuf>,
    /// Keep each platform's Trivy report here (sha256-HEX.json); a re-run with the same
    /// database reuses them. Default: purser's cache folder.
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    /// Trivy runs at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub scan_concurrency: usize,
    /// Stop images with a finding of this severity or worse (CRITICAL, HIGH, MEDIUM, LOW,
    /// UNKNOWN); the report names them, exit 1.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// With --fail-on: findings without a fixed version do not count (they stay in the report).
    #[arg(long, requires = "fail_on")]
    pub ignore_unfixed: bool,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text)
        .ok_or_else(|| format!("{text:?} is none of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN"))
}

impl ScanFlags {
    /// An error naming the first scan flag given to a command run without --scan.
    pub(super) fn unused(&self) -> Result<(), String> {
        let given = [
            ("--trivy-cache-dir", self.trivy_cache_dir.is_some()),
            ("--trivy-db-repository", self.trivy_db_repository.is_some()),
            (
                "--trivy-java-db-repository",
                self.trivy_java_db_repository.is_some(),
            ),
            ("--trivy-server", self.trivy_server.is_some()),
            ("--trivy-token", self.trivy_token.is_some()),
            ("--ignorefile", self.ignorefile.is_some()),
            ("--reports", self.reports.is_some()),
            ("--ignore-unfixed", self.ignore_unfixed),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(format!(
                "{flag} is for scanning: add --scan (or --fail-on SEVERITY)"
            )),
            None => Ok(()),
        }
    }

    /// Finds Trivy, asks it for its database, opens the reports folder.
    pub(super) async fn scanner(&self, registry: &RegistryArgs) -> Result<Scanner, String> {
        let trivy = Trivy::locate(TrivyConfig {
            cache_dir: self.trivy_cache_dir.clone(),
            db_repository: self.trivy_db_repository.clone(),
            java_db_repository: self.trivy_java_db_repository.clone(),
            db_insecure: [&self.trivy_db_repository, &self.trivy_java_db_repository]
                .into_iter()
                .flatten()
                .any(|repository| registry.reaches_insecurely(repository)),
            server: self.trivy_server.clone(),
            token: self.trivy_token.clone().or_else(|| {
                std::env::var("PURSER_TRIVY_TOKEN")
                    .ok()
                    .filter(|t| !t.is_empty())
            }),
            ignorefile: self.ignorefile.clone(),
            ca_files: registry.ca_file.clone(),
        })
        .map_err(|e| e.to_string())?;
        let reports = match &self.reports {
            Some(dir) => dir.clone(),
            None => default_reports_dir()?,
        };
        Scanner::new(
            trivy,
            &reports,
            self.fail_on.map(|fail_on| Gate {
                fail_on,
                ignore_unfixed: self.ignore_unfixed,
            }),
            self.ignorefile.as_deref(),
            self.scan_concurrency,
        )
        .await
    }
}

/// `$XDG_CACHE_HOME/purser/trivy-reports`, else `~/.cache/purser/trivy-reports`.
fn default_reports_dir() -> Result<PathBuf, String> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("no XDG_CACHE_HOME or HOME for the reports folder: give --reports DIR")?;
    Ok(cache.join("purser").join("trivy-reports"))
}
