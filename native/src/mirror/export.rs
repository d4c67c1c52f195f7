//! `helm mirror export CHART... -o bundle.tar`: the charts, every image they pull (every
//! platform, or `--platform`), their signatures and referrers, and the images-lock, in one
//! offline bundle — an OCI image layout in a tar, written in one pass straight from the
//! source registries, optionally split into parts (`--split 4G`) and incremental (`--since`).
//!
//! [`ExportArgs`] is what the user typed; [`run`] walks the sources with the copy engine's
//! planner ([`crate::copy::plan`], against an [`Empty`] target), lays the plan out
//! ([`Layout`], [`Contents`]) and writes it with [`BundleWriter`]; it returns an
//! [`ExportReport`]; [`print`] is its text, [`command`] picks JSON or text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::bundle::contents::{
    ChartEntry, Contents, Described, ImageEntry, LOCK_FILE, PlannedMember,
};
use purser::bundle::layout::Layout;
use purser::digest::Digest;
use purser::lock::{ChartId, Lock, PlatformDigest};
use purser::plan::{PlanBuilder, Repository};
use purser::reference::Reference;
use purser::report::Stamp;
use serde::Serialize;

use super::args::{CarryArgs, RegistryArgs, ScanFlags, SelectArgs};
use super::charts::{Carried, found_at, load};
use super::copy_print::{scan_notes, tags_note};
use super::copy_report::{UnresolvedRow, is_zero};
use super::lock_file::read_lock;
use super::scan_gate::{self, PlatformScan};
use super::signatures::{self, Checked, VerifyFlags};
use super::transfer::add_archive_chart;
use crate::bundle_writer::BundleWriter;
use crate::copy::{self, ImageRequest, LocalBlobs, PlanOptions, TagsUnlisted, Walked};
use crate::images;
use crate::progress::Progress;
use crate::render::RenderFlags;
use crate::store::{BundleStore, Empty, RegistryStore};
use crate::trust::verify::Verdict;

#[derive(Args)]
pub struct ExportArgs {
    /// Charts to export: directories, .tgz files, repo/name, oci:// or https:// references.
    #[arg(required = true, value_name = "CHART")]
    pub charts: Vec<String>,
    /// The bundle to write (with --split: NAME.part1.tar, NAME.part2.tar, ... beside it).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Release name used to render.
    #[arg(long, default_value = "release")]
    pub release: String,
    #[command(flatten)]
    pub render: RenderFlags,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub carry: CarryArgs,
    /// Cut the bundle into parts of at most SIZE bytes (K, M, G, T suffixes: powers of 1024),
    /// at blob boundaries; each part is a tar of its own, the first holds the index.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub split: Option<u64>,
    /// Leave out blobs the inside already has: an images-lock of what it holds (a copy's or
    /// an earlier export's lock) or an earlier bundle (its first part).
    #[arg(long, value_name = "LOCK|BUNDLE")]
    pub since: Option<PathBuf>,
    /// Export exactly the digests this images-lock pins.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Exit 0 even when images are missing upstream (they are reported and left out).
    #[arg(long)]
    pub allow_missing: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub verify: VerifyFlags,
    /// Scan every platform of every image with Trivy at the source first (implied by
    /// --fail-on); an image over --fail-on, or not scannable, is named and no bundle is
    /// written (as for images the signature policy refuses).
    #[arg(long)]
    pub scan: bool,
    #[command(flatten)]
    pub scan_flags: ScanFlags,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `4G`, `700M`, `1.5G`, `1000000`: bytes (suffixes are powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], t[i..].to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let shift = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "{text:?}: not a size; write e.g. 4G, 700M or 1048576"
            ));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: not a size; write e.g. 4G, 700M or 1048576"))?;
    if value.is_nan() || value <= 0.0 {
        return Err(format!("{text:?}: a split size must be more than 0"));
    }
    Ok((value * (1u64 << shift) as f64) as u64)
}

/// One image's outcome.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ExportedImage {
    pub source: String,
    /// `exported`, `missing`, `failed`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub referrers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What `--verify`'s policy made of its signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// Its source registry would not list tags: cosign's `sha256-<hex>.sig` / `.att` /
    /// `.sbom` tags were not looked for (nor, without a referrers API, the referrers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags_unlisted: Option<TagsUnlisted>,
    /// What `--scan` found, per platform at the source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scan: Vec<PlatformScan>,
}

/// What `helm mirror export` wrote.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    pub complete: bool,
    /// The files written, in part order (none when the export failed).
    pub files: Vec<String>,
    pub images: Vec<ExportedImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<UnresolvedRow>,
    pub charts: Vec<ChartEntry>,
    /// Members under `blobs/` written (manifests, configs, layers: each once), and their bytes.
    pub blobs: usize,
    pub blob_bytes: u64,
    /// Blobs left out by --since, and their bytes.
    pub omitted: usize,
    pub omitted_bytes: u64,
    /// Bytes of every part together.
    pub bundle_bytes: u64,
    pub requests: u64,
}

/// Where a chart archive goes inside the bundle.
fn chart_member(id: &ChartId) -> String {
    format!("purser/charts/{}-{}.tgz", id.name, id.version)
}

/// The name a chart from an archive gets in `index.json` (it has no registry of its own).
fn local_chart_reference(id: &ChartId) -> Result<Reference, String> {
    Reference::parse(&format!(
        "localhost/charts/{}:{}",
        id.name,
        id.version.replace('+', "_")
    ))
    .map_err(|e| format!("chart {}: {}", id.name, e.reason()))
}

pub async fn run(args: ExportArgs) -> Result<ExportReport, String> {
    let dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = args
        .output
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: not a file name", args.output.display()))?
        .to_owned();
    if !dir.is_dir() {
        return Err(format!(
            "{}: no such directory to write the bundle into",
            dir.display()
        ));
    }
    let source_lock = args.lock.as_deref().map(read_lock).transpose()?;
    let mut loaded = load(
        &args.charts,
        &args.release,
        &args.render,
        &args.select,
        &args.registry,
        local_chart_reference,
    )?;
    for chart in &mut loaded.charts {
        if let Carried::Oci(r) = &chart.carried {
            chart.destination = r.clone();
        }
    }
    let (requests, mut unresolved) = loaded.requests(|r| Ok(r.clone()), source_lock.as_ref())?;
    let verifier = args.verify.verifier()?;
    let client = args.registry.client()?;
    let source = Arc::new(RegistryStore::source(client.clone()));
    let (requests, checked) = signatures::let_through(
        verifier.as_ref(),
        source.as_ref(),
        requests,
        args.registry.concurrency,
    )
    .await;
    let (requests, gated) = scan_gate::gate_if_asked(
        args.scan,
        &args.scan_flags,
        &args.registry,
        &client,
        requests,
        &args.carry.platform,
        args.json,
    )
    .await?;
    if let Some(keyring) = args.verify.keyring()? {
        let mut checked = Checked::default();
        loaded.charts = signatures::check_provenance(
            &mut checked,
            std::mem::take(&mut loaded.charts),
            &keyring,
        );
        if let Some(Err(why)) = checked.provenance.into_values().find(Result::is_err) {
            return Err(format!("{why}; no bundle written"));
        }
    }
    let options = args.carry.plan_options(&args.registry);
    let omit = match &args.since {
        Some(path) => Some(since(path, source.clone(), &options).await?),
        None => None,
    };
    let planned = copy::plan(source.clone(), Arc::new(Empty), requests.clone(), options).await;
    let mut builder: PlanBuilder = planned.builder;

    // Charts from archives, from memory; their archives as purser files too.
    let mut local = LocalBlobs::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut charts = Vec::new();
    for chart in &loaded.charts {
        let reference = chart.destination.canonical();
        let digest = match &chart.carried {
            Carried::Archive(artifact, bytes, provenance) => {
                let repo = Repository::from_reference(&chart.destination);
                let tag = chart.destination.tag().unwrap_or("latest");
                add_archive_chart(
                    &mut builder,
                    &mut local,
                    &repo,
                    tag,
                    artifact.as_ref(),
                    bytes,
                    provenance.as_deref(),
                )
                .map_err(|e| format!("chart {}: {e}", chart.id.name))?;
                files.push((chart_member(&chart.id), bytes.clone()));
                if let Some(p) = provenance {
                    files.push((format!("{}.prov", chart_member(&chart.id)), p.clone()));
                }
                artifact.manifest_digest.clone()
            }
            Carried::Oci(_) => Digest::sha256(b""),
        };
        charts.push(ChartEntry {
            name: chart.id.name.clone(),
            version: chart.id.version.clone(),
            reference,
            digest,
            archive: match &chart.carried {
                Carried::Archive(..) => chart_member(&chart.id),
                Carried::Oci(_) => String::new(),
            },
        });
    }
    let plan = builder.build();

    // Each image's outcome; the export stops unless every image is in the plan.
    let mut images = Vec::new();
    let chart_sources: Vec<String> = loaded
        .charts
        .iter()
        .map(|c| c.destination.canonical())
        .collect();
    for ((request, walked), unlisted) in requests.iter().zip(&planned.walked).zip(&planned.unlisted)
    {
        let source = request.source.canonical();
        let step = plan.images.iter().find(|i| i.source == source);
        if chart_sources.contains(&source) {
            match (walked, step) {
                (Walked::Planned, Some(step)) => {
                    if let Some(c) = charts.iter_mut().find(|c| c.reference == source) {
                        c.digest = step.digest.clone();
                    }
                }
                (other, _) => {
                    return Err(format!(
                        "chart {source}: {}",
                        walked_message(other).unwrap_or("not read")
                    ));
                }
            }
            continue;
        }
        let mut row = ExportedImage {
            source: source.clone(),
            state: "failed",
            digest: None,
            platforms: Vec::new(),
            referrers: 0,
            message: walked_message(walked).map(str::to_owned),
            verified: checked.verdicts.get(&source).map(Verdict::summary),
            tags_unlisted: unlisted.clone(),
            scan: gated
                .as_ref()
                .map(|g| g.scans_of(&source).to_vec())
                .unwrap_or_default(),
        };
        match walked {
            Walked::Planned => {
                if let Some(step) = step {
                    row.state = "exported";
                    row.digest = Some(step.digest.clone());
                    row.platforms = step.platforms.iter().map(|p| p.platform.clone()).collect();
                    row.referrers = step.referrers;
                }
            }
            Walked::Unresolved { message } => {
                unresolved.push(UnresolvedRow {
                    source: source.clone(),
                    reason: message.clone(),
                    found_at: loaded
                        .images
                        .iter()
                        .find(|i| i.reference.canonical() == source)
                        .map(found_at)
                        .unwrap_or_default(),
                });
                continue;
            }
            Walked::Missing { .. } => row.state = "missing",
            Walked::Failed { .. } | Walked::Present { .. } => {}
        }
        images.push(row);
    }
    // What the policy refused: reported, and nothing is written.
    for (request, digest, reason) in &checked.refused {
        images.push(ExportedImage {
            source: request.source.canonical(),
            state: "refused",
            digest: digest.clone(),
            platforms: Vec::new(),
            referrers: 0,
            message: Some(reason.clone()),
            verified: None,
            tags_unlisted: None,
            scan: Vec::new(),
        });
    }
    // What the scan gate kept back: reported, and nothing is written.
    for (request, reason) in gated.iter().flat_map(|g| g.blocked()) {
        let source = request.source.canonical();
        images.push(ExportedImage {
            scan: gated
                .as_ref()
                .map(|g| g.scans_of(&source).to_vec())
                .unwrap_or_default(),
            source,
            state: "blocked",
            digest: None,
            platforms: Vec::new(),
            referrers: 0,
            message: Some(reason.clone()),
            verified: None,
            tags_unlisted: None,
        });
    }
    let mut report = ExportReport {
        complete: images
            .iter()
            .all(|i| i.state == "exported" || (i.state == "missing" && args.allow_missing)),
        files: Vec::new(),
        images,
        unresolved,
        charts,
        blobs: 0,
        blob_bytes: 0,
        omitted: 0,
        omitted_bytes: 0,
        bundle_bytes: 0,
        requests: 0,
    };
    if !report.complete {
        report.requests = client.stats().requests();
        return Ok(report);
    }

    // The lock of what the bundle holds (digests as exported).
    let mut lock = loaded.lock;
    lock_digests(&mut lock, &plan, &report);
    if let Some(gated) = &gated {
        crate::scan::record(&mut lock, &gated.scanned);
    }
    for entry in &mut lock.images {
        entry.signatures = checked.signatures_of(&entry.image).to_vec();
    }
    files.insert(0, (LOCK_FILE.to_owned(), lock.to_yaml().into_bytes()));

    let layout = Layout::from_plan(&plan).map_err(|e| e.to_string())?;
    let stamp = Stamp::at(images::environment().now_unix);
    let described = Described {
        created: stamp.generated_at.clone(),
        generated_by: stamp.generated_by.clone(),
        charts: report.charts.clone(),
        images: report
            .images
            .iter()
            .filter_map(|i| {
                Some(ImageEntry {
                    source: i.source.clone(),
                    digest: i.digest.clone()?,
                    platforms: i.platforms.clone(),
                    referrers: i.referrers,
                })
            })
            .collect(),
    };
    let since_name = args.since.as_ref().map(|p| p.display().to_string());
    let contents = Contents::plan(
        &layout,
        files,
        since_name.zip(omit.as_ref()),
        args.split,
        &base,
        described,
    )
    .map_err(|e| e.to_string())?;
    let total: u64 = contents.manifest.parts.iter().map(|p| p.size).sum();
    let blob_members: Vec<&PlannedMember> = contents
        .parts
        .iter()
        .flatten()
        .filter(|m| m.name.starts_with("blobs/"))
        .collect();
    report.blobs = blob_members.len();
    report.blob_bytes = blob_members.iter().map(|m| m.size).sum();
    if let Some(since) = &contents.manifest.since {
        report.omitted = since.blobs.len();
        report.omitted_bytes = since.blobs.iter().map(|b| b.size).sum();
    }
    report.bundle_bytes = total;

    let bar = Progress::bytes(
        total,
        &format!(
            "exporting {} images into {}",
            report.images.len(),
            args.output.display()
        ),
        args.json,
    );
    let on_member = |m: &PlannedMember| {
        bar.advance(
            purser::bundle::tar::member_len(&m.name, m.size),
            &format!("wrote {} ({} bytes)", m.name, m.size),
        );
    };
    let writer = BundleWriter {
        source: source.clone(),
        local: &local,
        attempts: args.registry.retries.max(1),
        mtime: u64::try_from(images::environment().now_unix).unwrap_or(0),
    };
    let written = writer.write(&contents, &dir, &on_member).await;
    bar.finish();
    report.files = written?.iter().map(|p| p.display().to_string()).collect();
    report.requests = client.stats().requests();
    Ok(report)
}

fn walked_message(w: &Walked) -> Option<&str> {
    match w {
        Walked::Missing { message }
        | Walked::Unresolved { message }
        | Walked::Failed { message } => Some(message),
        Walked::Planned | Walked::Present { .. } => None,
    }
}

/// Digests as exported into the lock: the root (and the source's, when --platform changed
/// it) and each platform's.
fn lock_digests(lock: &mut Lock, plan: &purser::plan::Plan, report: &ExportReport) {
    for u in &report.unresolved {
        if let Some(at) = lock.images.iter().position(|e| e.image == u.source) {
            let entry = lock.images.remove(at);
            lock.unresolved.push(purser::lock::UnresolvedImage {
                name: entry.name,
                image: entry.image,
                chart: entry.chart,
                confidence: purser::inventory::Confidence::Likely,
                reason: u.reason.clone(),
                found_at: u.found_at.clone(),
            });
        }
    }
    for entry in &mut lock.images {
        let Some(step) = plan.images.iter().find(|i| i.source == entry.image) else {
            entry.missing = report
                .images
                .iter()
                .find(|i| i.source == entry.image)
                .and_then(|i| i.message.clone())
                .or(Some("not exported".to_owned()));
            continue;
        };
        entry.digest = Some(step.digest.to_string());
        if step.source_digest != step.digest {
            entry.source_digest = Some(step.source_digest.to_string());
        }
        entry.digests = step
            .platforms
            .iter()
            .map(|p| PlatformDigest::new(p.digest.to_string(), p.platform.clone()))
            .collect();
    }
}

/// The blobs the inside has already: those of an earlier bundle (and what it left out
/// itself), or those of the images an images-lock pins, walked at the source.
async fn since(
    path: &Path,
    source: Arc<RegistryStore>,
    options: &PlanOptions,
) -> Result<BTreeSet<Digest>, String> {
    let opened = BundleStore::open(&[path.to_path_buf()]);
    if let Ok(bundle) = opened {
        let mut have: BTreeSet<Digest> = bundle.blob_members().map(|(d, _, _)| d.clone()).collect();
        if let Some(m) = &bundle.manifest {
            have.extend(
                m.members
                    .iter()
                    .filter(|e| e.name.starts_with("blobs/"))
                    .map(|e| e.digest.clone()),
            );
            if let Some(s) = &m.since {
                have.extend(s.blobs.iter().map(|b| b.digest.clone()));
            }
        }
        return Ok(have);
    }
    let lock = read_lock(path).map_err(|e| {
        format!(
            "--since {}: neither a bundle's first part ({}) nor an images-lock ({e})",
            path.display(),
            opened.err().unwrap_or_default()
        )
    })?;
    let mut requests = Vec::new();
    for entry in &lock.images {
        let Some(digest) = entry.source_digest.as_deref().or(entry.digest.as_deref()) else {
            continue;
        };
        let reference = Reference::parse(&entry.image).map_err(|e| {
            format!(
                "--since {}: {}: {}",
                path.display(),
                entry.image,
                e.reason()
            )
        })?;
        requests.push(ImageRequest {
            source: reference.clone(),
            destination: reference,
            locked: Some(
                Digest::parse(digest)
                    .map_err(|e| format!("--since {}: {}: {e}", path.display(), entry.image))?,
            ),
            likely: false,
        });
    }
    let planned = copy::plan(source, Arc::new(Empty), requests, options.clone()).await;
    for (entry, walked) in lock.images.iter().zip(&planned.walked) {
        if let Some(m) = walked_message(walked) {
            return Err(format!(
                "--since {}: {} (as the lock pins it) cannot be read at the source to know its \
                 blobs: {m}",
                path.display(),
                entry.image
            ));
        }
    }
    let plan = planned.builder.build();
    Ok(plan
        .blobs
        .iter()
        .map(|b| b.digest.clone())
        .chain(plan.manifests.iter().map(|m| m.digest.clone()))
        .collect())
}

/// Text for a terminal or a pipe.
pub fn print(report: &ExportReport) {
    for i in &report.images {
        eprintln!(
            "{:8} {}{}{}",
            i.state,
            i.source,
            i.digest
                .as_ref()
                .map(|d| format!("@{d}"))
                .unwrap_or_default(),
            i.message
                .as_deref()
                .map(|m| format!("  ({m})"))
                .unwrap_or_default()
        );
        if let Some(v) = &i.verified {
            eprintln!("         verified: {v}");
        }
        let scans = scan_notes(&i.scan);
        if !scans.is_empty() {
            eprintln!("{}", scans.trim_start_matches('\n'));
        }
    }
    for i in &report.images {
        if let Some(u) = &i.tags_unlisted {
            eprintln!("{}", tags_note(&i.source, u));
        }
    }
    for c in &report.charts {
        eprintln!("exported chart {} {}", c.name, c.version);
    }
    for u in &report.unresolved {
        eprintln!(
            "{}",
            crate::confirm::describe(&u.source, &u.reason, &u.found_at)
        );
    }
    if !report.complete {
        let count = |s: &str| report.images.iter().filter(|i| i.state == s).count();
        let refused = count("refused");
        let blocked = count("blocked");
        eprintln!(
            "no bundle written: of {} images, {} could not be read{}{} (--allow-missing leaves \
             missing ones out)",
            report.images.len(),
            report.images.len() - count("exported") - refused - blocked,
            match refused {
                0 => String::new(),
                n => format!(" and {n} were refused by the signature policy"),
            },
            match blocked {
                0 => String::new(),
                n => format!(" and {n} were stopped by the scan gate"),
            }
        );
        return;
    }
    eprintln!(
        "{} images, {} charts: {} unique blobs ({} bytes){} in {} bytes: {}",
        report
            .images
            .iter()
            .filter(|i| i.state == "exported")
            .count(),
        report.charts.len(),
        report.blobs,
        report.blob_bytes,
        match report.omitted {
            0 => String::new(),
            n => format!(
                ", {n} blobs ({} bytes) left out as the inside has them",
                report.omitted_bytes
            ),
        },
        report.bundle_bytes,
        report.files.join(", ")
    );
}

/// `helm mirror export`: the run, then its report as JSON or text; exit 1 unless complete.
pub async fn command(args: ExportArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let report = run(args).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print(&report);
    }
    Ok(if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_users_write_them() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("700M"), Ok(700 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        for bad in ["", "4X", "-1G", "0", "G"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was taken");
        }
    }
}
