//! Scanning images with Trivy, once per platform manifest: [`Scanner`], built by
//! [`Scanner::new`] from a [`crate::trivy::Trivy`], the reports folder and the gate, runs
//! [`Scanner::scan_all`] over [`Target`]s (many at once, bounded; each digest once however
//! many images or charts share it; a stored report reused where the database and the ignore
//! file are unchanged) and returns one [`Scanned`] a target; [`record`] writes scans into a
//! lock. The commands (`helm mirror scan`, `copy --scan`) print and decide with them.

pub mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use purser::digest::Digest;
use purser::lock::{Lock, PlatformDigest, ScanRecord};
use purser::reference::Reference;
use purser::scan::{Counts, Finding, Gate, ScanSummary};
use tokio::sync::OnceCell;

use crate::progress::Progress;
use crate::registry::Client;
use crate::trivy::{Database, Format, Trivy};
use store::{Provenance, ReportStore};

/// One platform manifest of one image, to scan at its registry.
#[derive(Clone, Debug)]
pub struct Target {
    /// The image as the chart names it (the report's rows say this).
    pub image: Reference,
    /// Where to reach it: the image itself at the source, its copy at the target.
    pub at: Reference,
    /// `linux/amd64`; empty where the manifest says none.
    pub platform: String,
    pub digest: Digest,
}

/// What the scan of one target found, or why there is no scan.
#[derive(Clone, Debug)]
pub struct Scanned {
    pub target: Target,
    pub outcome: Result<Verdict, String>,
}

/// A scan's result, judged by the gate.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub summary: ScanSummary,
    pub counts: Counts,
    /// The findings over `--fail-on` (empty without a gate, or when the image passes).
    pub offending: Vec<Finding>,
    /// The report file.
    pub report: PathBuf,
    /// The stored report of an earlier run was taken (same digest and database).
    pub reused: bool,
    pub database: String,
    pub scanned_at: String,
}

impl Verdict {
    pub fn blocked(&self) -> bool {
        !self.offending.is_empty()
    }
}

pub struct Scanner {
    trivy: Trivy,
    database: Database,
    store: ReportStore,
    gate: Option<Gate>,
    /// sha256 of the ignore file, which makes reports differ.
    ignorefile: Option<String>,
    concurrency: usize,
}

impl Scanner {
    /// Asks Trivy which database it scans against (an error when it has none) and opens the
    /// reports folder.
    pub async fn new(
        trivy: Trivy,
        reports: &std::path::Path,
        gate: Option<Gate>,
        ignorefile: Option<&std::path::Path>,
        concurrency: usize,
    ) -> Result<Scanner, String> {
        let database = trivy.database().await.map_err(|e| e.to_string())?;
        let store = ReportStore::open(reports)?;
        let ignorefile = match ignorefile {
            Some(path) => Some(
                Digest::sha256(
                    &std::fs::read(path)
                        .map_err(|e| format!("reading the ignore file {}: {e}", path.display()))?,
                )
                .hex()
                .to_owned(),
            ),
            None => None,
        };
        Ok(Scanner {
            trivy,
            database,
            store,
            gate,
            ignorefile,
            concurrency: concurrency.max(1),
        })
    }

    /// The Trivy it runs.
    pub fn trivy(&self) -> &Trivy {
        &self.trivy
    }

    /// The database scans run against, in the words of the lock and the report.
    pub fn database(&self) -> String {
        self.database.describe()
    }

    /// Scans every target with at most `concurrency` Trivy runs at once, each digest once;
    /// results in the order of `targets`.
    pub async fn scan_all(
        self: &Arc<Self>,
        client: &Client,
        targets: Vec<Target>,
        progress: Arc<Progress>,
    ) -> Vec<Scanned> {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut once: HashMap<Digest, Arc<OnceCell<Result<Verdict, String>>>> = HashMap::new();
        let mut handles = Vec::with_capacity(targets.len());
        for target in targets {
            let cell = once.entry(target.digest.clone()).or_default().clone();
            let (scanner, client, semaphore, progress) = (
                self.clone(),
                client.clone(),
                semaphore.clone(),
                progress.clone(),
            );
            handles.push(tokio::spawn(async move {
                let outcome = cell
                    .get_or_init(|| async {
                        let _permit = semaphore.acquire_owned().await.expect("semaphore open");
                        scanner.scan_one(&client, &target).await
                    })
                    .await
                    .clone();
                progress.done(&match &outcome {
                    Ok(v) => format!(
                        "scanned {} {} ({} findings{})",
                        target.image.canonical(),
                        target.platform,
                        v.counts.total(),
                        if v.reused { ", report reused" } else { "" }
                    ),
                    Err(e) => format!(
                        "not scanned {} {}: {e}",
                        target.image.canonical(),
                        target.platform
                    ),
                });
                Scanned { target, outcome }
            }));
        }
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            out.push(handle.await.expect("a scan task panicked"));
        }
        out
    }

    async fn scan_one(&self, client: &Client, target: &Target) -> Result<Verdict, String> {
        let database = self.database.describe();
        let reusable = matches!(self.database, Database::Local { .. })
            .then(|| {
                self.store
                    .reusable(&target.digest, &database, self.ignorefile.as_deref())
            })
            .flatten();
        let (report, scanned_at, reused) = match reusable {
            Some((report, provenance)) => (report, provenance.scanned_at, true),
            None => {
                let handover = client
                    .handover(&target.at, &target.digest)
                    .await
                    .map_err(|e| e.to_string())?;
                let report = self
                    .trivy
                    .scan(&handover, Format::Json)
                    .await
                    .map_err(|e| e.to_string())?;
                let scanned_at = purser::lock::rfc3339(crate::images::environment().now_unix);
                (report, scanned_at, false)
            }
        };
        let summary = ScanSummary::from_trivy_json(&report)
            .map_err(|e| format!("Trivy's report on {}: {e}", target.at.canonical()))?;
        if !reused {
            self.store.keep(
                &target.digest,
                &report,
                &Provenance {
                    digest: target.digest.to_string(),
                    image: target.image.canonical(),
                    platform: target.platform.clone(),
                    database: database.clone(),
                    ignorefile: self.ignorefile.clone(),
                    scanned_at: scanned_at.clone(),
                },
            )?;
        }
        let offending = self
            .gate
            .map(|gate| gate.offending(&summary).into_iter().cloned().collect())
            .unwrap_or_default();
        Ok(Verdict {
            counts: summary.counts(),
            summary,
            offending,
            report: self.store.report_path(&target.digest),
            reused,
            database,
            scanned_at,
        })
    }
}

/// Every scan into the lock, on the platform digest it was of. A single-platform image whose
/// lock entry lists no platforms (a copy's lock) gets its one platform, as `lock` writes it.
pub fn record(lock: &mut Lock, scanned: &[Scanned]) {
    for s in scanned {
        let Ok(verdict) = &s.outcome else { continue };
        let digest = s.target.digest.as_str();
        let record = ScanRecord {
            scanned_at: verdict.scanned_at.clone(),
            database: verdict.database.clone(),
            vulnerabilities: verdict.counts,
        };
        for image in &mut lock.images {
            if image.digests.is_empty() && image.digest.as_deref() == Some(digest) {
                image
                    .digests
                    .push(PlatformDigest::new(digest, s.target.platform.clone()));
            }
            for platform in &mut image.digests {
                if platform.digest == digest {
                    platform.scan = Some(record.clone());
                }
            }
        }
    }
}
