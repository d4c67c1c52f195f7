//! `helm mirror inspect BUNDLE [PART...]`: what a bundle holds — charts, images, platforms,
//! sizes, signatures and referrers — and whether it is complete (every blob its manifests
//! name is in the parts given, or was left out by `--since` because the inside has it), as
//! a table or `--json`. `--extract-chart NAME` writes a chart's archive out of it.
//!
//! [`inspect`] reads an opened [`BundleStore`] into an [`Inspection`]; printing is apart.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use futures_util::StreamExt;
use purser::bundle::layout::is_referrer_tag;
use purser::chart_artifact::CHART_LAYER_MEDIA_TYPE;
use purser::digest::Digest;
use purser::plan::{Manifest, Repository, parse_manifest};
use serde::Serialize;

use crate::store::{BundleStore, Store};

#[derive(Args)]
pub struct InspectArgs {
    /// The bundle: its file, or the parts of a split bundle (any order).
    #[arg(required = true, value_name = "BUNDLE")]
    pub bundles: Vec<PathBuf>,
    /// Print the inspection as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write this chart's archive (NAME or NAME:VERSION) as NAME-VERSION.tgz and exit.
    #[arg(long, value_name = "NAME[:VERSION]")]
    pub extract_chart: Option<String>,
    /// Where --extract-chart writes.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub into: PathBuf,
}

/// One part of the bundle.
#[derive(Serialize, Debug)]
pub struct PartRow {
    pub part: u32,
    pub file: String,
    pub size: u64,
    pub given: bool,
}

#[derive(Serialize, Debug)]
pub struct ChartRow {
    pub name: String,
    pub version: String,
    pub reference: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    pub reference: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Bytes of its manifests and blobs (each once), referrers included.
    pub size: u64,
    /// Cosign `.sig` tags and referrers that are signatures (sigstore bundles, notation).
    pub signatures: usize,
    /// Every referrer: signatures, SBOMs, attestations, and cosign `.att`/`.sbom` tags.
    pub referrers: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrer_types: Vec<String>,
}

/// A blob the bundle's manifests name but the parts given do not hold.
#[derive(Serialize, Debug)]
pub struct MissingBlob {
    pub digest: String,
    pub size: u64,
    pub reason: String,
}

/// What `helm mirror inspect` found.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub bundle: String,
    /// Written by purser (a bundle manifest is inside), or another tool's layout.
    pub purser: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub parts: Vec<PartRow>,
    pub complete: bool,
    pub charts: Vec<ChartRow>,
    pub images: Vec<ImageRow>,
    /// Unique blobs held and their bytes.
    pub blobs: usize,
    pub blob_bytes: u64,
    /// Blobs left out by `--since` (the inside has them).
    pub omitted: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<MissingBlob>,
    /// `index.json` entries not named by a full reference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unnamed: Vec<String>,
}

/// Every manifest and blob under `root` (referrers and cosign tags included).
struct Tree {
    platforms: Vec<String>,
    manifests: BTreeMap<Digest, u64>,
    blobs: BTreeMap<Digest, u64>,
    signatures: usize,
    referrers: usize,
    types: BTreeSet<String>,
}

fn is_signature(artifact_type: Option<&str>) -> bool {
    artifact_type.is_some_and(|t| t.contains("sigstore") || t.contains("signature"))
}

fn walk(bundle: &BundleStore, repo_tags: &BTreeSet<String>, root: &Digest) -> Tree {
    let mut t = Tree {
        platforms: Vec::new(),
        manifests: BTreeMap::new(),
        blobs: BTreeMap::new(),
        signatures: 0,
        referrers: 0,
        types: BTreeSet::new(),
    };
    let mut queue = vec![(root.clone(), true, false)];
    while let Some((digest, top, referrer)) = queue.pop() {
        let Some(m) = bundle.manifest(&digest) else {
            continue;
        };
        if t.manifests
            .insert(digest.clone(), m.bytes.len() as u64)
            .is_some()
        {
            continue;
        }
        match parse_manifest(&m.bytes, &m.media_type) {
            Ok(Manifest::Index { manifests, .. }) => {
                for child in manifests {
                    if top
                        && let Some(p) = &child.platform
                        && p.os != "unknown"
                    {
                        t.platforms.push(p.to_string());
                    }
                    queue.push((child.digest, false, referrer));
                }
            }
            Ok(Manifest::Image { config, layers, .. }) => {
                for d in config.iter().chain(&layers) {
                    if !d.is_foreign() {
                        t.blobs.insert(d.digest.clone(), d.size);
                    }
                }
            }
            Err(_) => {}
        }
        if referrer {
            continue;
        }
        for r in bundle.referrers_of(&digest) {
            t.referrers += 1;
            if is_signature(r.artifact_type.as_deref()) {
                t.signatures += 1;
            }
            if let Some(a) = &r.artifact_type {
                t.types.insert(a.clone());
            }
            queue.push((r.digest.clone(), false, true));
        }
        for suffix in ["sig", "att", "sbom"] {
            let tag = digest.cosign_tag(suffix);
            if repo_tags.contains(&tag) {
                t.referrers += 1;
                if suffix == "sig" {
                    t.signatures += 1;
                }
                t.types.insert(format!("cosign .{suffix}"));
            }
        }
    }
    t
}

/// What `bundle` holds.
pub fn inspect(bundle: &BundleStore) -> Inspection {
    let mut tags_by_repo: BTreeMap<Repository, BTreeSet<String>> = BTreeMap::new();
    for e in &bundle.named {
        if let Some(tag) = e.reference.tag() {
            tags_by_repo
                .entry(Repository::from_reference(&e.reference))
                .or_default()
                .insert(tag.to_owned());
        }
    }
    let mut charts = Vec::new();
    let mut images = Vec::new();
    let mut named: BTreeMap<Digest, u64> = BTreeMap::new();
    let mut trees = Vec::new();
    for e in &bundle.named {
        if e.reference.tag().is_some_and(is_referrer_tag) {
            continue;
        }
        let repo = Repository::from_reference(&e.reference);
        let empty = BTreeSet::new();
        let tree = walk(
            bundle,
            tags_by_repo.get(&repo).unwrap_or(&empty),
            &e.descriptor.digest,
        );
        let size = tree.manifests.values().sum::<u64>() + tree.blobs.values().sum::<u64>();
        match bundle.chart_annotations(&e.descriptor.digest) {
            Some(a) => charts.push(ChartRow {
                name: a
                    .get(purser::plan::annotation::TITLE)
                    .cloned()
                    .unwrap_or_default(),
                version: a
                    .get(purser::plan::annotation::VERSION)
                    .cloned()
                    .unwrap_or_default(),
                reference: e.name.clone(),
                digest: e.descriptor.digest.to_string(),
                size,
            }),
            None => images.push(ImageRow {
                reference: e.name.clone(),
                digest: e.descriptor.digest.to_string(),
                platforms: tree.platforms.clone(),
                size,
                signatures: tree.signatures,
                referrers: tree.referrers,
                referrer_types: tree.types.iter().cloned().collect(),
            }),
        }
        trees.push(tree);
    }
    // Blobs of untagged entries (referrers listed on their own) count too.
    for d in &bundle.entries {
        let tree = walk(bundle, &BTreeSet::new(), &d.digest);
        trees.push(tree);
    }
    for tree in &trees {
        named.extend(tree.blobs.iter().map(|(d, s)| (d.clone(), *s)));
    }

    let omitted: BTreeSet<Digest> = bundle
        .manifest
        .as_ref()
        .and_then(|m| m.since.as_ref())
        .map(|s| s.blobs.iter().map(|b| b.digest.clone()).collect())
        .unwrap_or_default();
    let mut missing = Vec::new();
    for (digest, size) in &named {
        if bundle.has_blob(digest).is_some() || omitted.contains(digest) {
            continue;
        }
        let reason = bundle
            .manifest
            .as_ref()
            .and_then(|m| m.members.iter().find(|e| &e.digest == digest))
            .and_then(|e| {
                bundle
                    .missing_parts
                    .iter()
                    .find(|(p, _)| *p == e.part)
                    .map(|(p, f)| format!("in part {p} ({f}), not given"))
            })
            .unwrap_or_else(|| "not in the bundle".to_owned());
        missing.push(MissingBlob {
            digest: digest.to_string(),
            size: *size,
            reason,
        });
    }
    let held: Vec<(&Digest, u64)> = bundle.blob_members().map(|(d, s, _)| (d, s)).collect();
    let parts = match &bundle.manifest {
        Some(m) => m
            .parts
            .iter()
            .map(|p| PartRow {
                part: p.part,
                file: bundle
                    .part_file(p.part)
                    .map_or_else(|| p.file.clone(), |f| f.display().to_string()),
                size: p.size,
                given: !bundle.missing_parts.iter().any(|(n, _)| *n == p.part),
            })
            .collect(),
        None => vec![PartRow {
            part: 1,
            file: bundle.first.display().to_string(),
            size: std::fs::metadata(&bundle.first)
                .map(|m| m.len())
                .unwrap_or(0),
            given: true,
        }],
    };
    Inspection {
        bundle: bundle.first.display().to_string(),
        purser: bundle.manifest.is_some(),
        created: bundle.manifest.as_ref().map(|m| m.created.clone()),
        complete: missing.is_empty() && bundle.missing_parts.is_empty(),
        parts,
        charts,
        images,
        blobs: held.len(),
        blob_bytes: held.iter().map(|(_, s)| s).sum(),
        omitted: omitted.len(),
        missing,
        unnamed: bundle
            .unnamed
            .iter()
            .map(|(i, n)| {
                format!(
                    "entry {i}{}",
                    n.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
                )
            })
            .collect(),
    }
}

pub async fn run(args: InspectArgs) -> Result<ExitCode, String> {
    let bundle = BundleStore::open(&args.bundles)?;
    if let Some(name) = &args.extract_chart {
        let path = extract_chart(&bundle, name, &args.into).await?;
        eprintln!("wrote {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let inspection = inspect(&bundle);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&inspection).expect("inspection serialises")
        );
    } else {
        print(&inspection);
    }
    Ok(if inspection.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The table.
pub fn print(i: &Inspection) {
    println!(
        "bundle {} ({}{})",
        i.bundle,
        if i.purser {
            "purser"
        } else {
            "OCI image layout"
        },
        i.created
            .as_deref()
            .map(|c| format!(", created {c}"))
            .unwrap_or_default()
    );
    for p in &i.parts {
        println!(
            "  part {} {} {}{}",
            p.part,
            p.file,
            human(p.size),
            if p.given { "" } else { "  MISSING" }
        );
    }
    if !i.charts.is_empty() {
        println!("CHART\tVERSION\tSIZE\tREFERENCE");
        for c in &i.charts {
            println!(
                "{}\t{}\t{}\t{}",
                c.name,
                c.version,
                human(c.size),
                c.reference
            );
        }
    }
    println!("IMAGE\tPLATFORMS\tSIZE\tSIGNATURES\tREFERRERS");
    for im in &i.images {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            im.reference,
            if im.platforms.is_empty() {
                "-".to_owned()
            } else {
                im.platforms.join(",")
            },
            human(im.size),
            im.signatures,
            im.referrers
        );
    }
    println!(
        "{} images, {} charts, {} unique blobs ({}){}",
        i.images.len(),
        i.charts.len(),
        i.blobs,
        human(i.blob_bytes),
        match i.omitted {
            0 => String::new(),
            n => format!(", {n} left out as the inside has them (--since)"),
        }
    );
    for u in &i.unnamed {
        println!("not imported: index.json {u} is not named by a full reference");
    }
    if i.complete {
        println!("complete: every blob is in the bundle");
    } else {
        println!(
            "INCOMPLETE: {} blobs are not in the files given",
            i.missing.len()
        );
        for m in &i.missing {
            println!("  {} ({}): {}", m.digest, human(m.size), m.reason);
        }
    }
}

/// Writes the archive of chart `name` (`NAME` or `NAME:VERSION`) into `dir`, verified
/// against its digest; the path written.
async fn extract_chart(
    bundle: &BundleStore,
    name: &str,
    dir: &std::path::Path,
) -> Result<PathBuf, String> {
    let inspection = inspect(bundle);
    let (want, version) = match name.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (name, None),
    };
    let found: Vec<&ChartRow> = inspection
        .charts
        .iter()
        .filter(|c| c.name == want && version.is_none_or(|v| c.version == v))
        .collect();
    let chart = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "no chart {name} in {}; it holds: {}",
                inspection.bundle,
                if inspection.charts.is_empty() {
                    "no chart".to_owned()
                } else {
                    inspection
                        .charts
                        .iter()
                        .map(|c| format!("{}:{}", c.name, c.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
        many => {
            return Err(format!(
                "{} charts named {name} in {} ({}); say which: --extract-chart {name}:VERSION",
                many.len(),
                inspection.bundle,
                many.iter()
                    .map(|c| c.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let digest = Digest::parse(&chart.digest).map_err(|e| e.to_string())?;
    let manifest = bundle
        .manifest(&digest)
        .ok_or_else(|| format!("chart {name}: manifest {digest} not in the bundle"))?;
    let layer = match parse_manifest(&manifest.bytes, &manifest.media_type) {
        Ok(Manifest::Image { layers, .. }) => layers
            .into_iter()
            .find(|l| l.media_type == CHART_LAYER_MEDIA_TYPE),
        _ => None,
    }
    .ok_or_else(|| format!("chart {name}: its manifest has no chart archive layer"))?;
    let repo = Repository::new("bundle", "chart");
    let mut body = bundle
        .blob_get(&repo, &layer.digest, layer.size)
        .await
        .map_err(|e| e.to_string())?;
    let path = dir.join(format!("{}-{}.tgz", chart.name, chart.version));
    let mut file =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        file.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    file.persist(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
