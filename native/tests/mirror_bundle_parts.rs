//! `helm mirror export --split` and `--since`, end to end: real Helm 4 runs the installed
//! `mirror` plugin (the purser binary) against real registries on loopback (distribution 2.8,
//! oci-registry); the bundles are real files read back with GNU tar. Nothing is mocked.
//!
//! 1. A split bundle: every part a whole tar within the split size (a lone larger layer
//!    excepted), the members where `purser/bundle.json` says, imported in reverse order.
//! 2. A split bundle with a part left out: the import fails naming the part's file and pushes
//!    nothing visible; given every part, it completes on what the first run left.
//! 3. An incremental bundle (`--since` an earlier bundle, or the lock of an import): only new
//!    blobs are written; imported where the earlier one was it completes, into an empty
//!    registry it fails naming `--since`.
//! 4. A 1 GiB layer exported and imported in little memory.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::Value;
use support::bundle::{export, import, inspect, s};
use support::copy::{
    BASE_A, BASE_B, BIG, Image, Job, PREFIX, SharedBase, assert_big_layer_moved, assert_exit,
    assert_manifest_at, assert_no_partial_tags, assert_tag_at, chart, chart_images,
    check_lock_images, mirror_args, yaml,
};
use support::helm::text;
use support::seed::{Pushed, Seeder, blob_digests, blob_sizes, sha256};
use support::{Flavour, Registry, run_measuring_peak_rss};

const KIB: usize = 1024;

// --- reading bundles with GNU tar ---------------------------------------------------------------

/// `tar -tf FILE`: it exits 0; the member names, in order.
fn tar_members(file: &Path) -> Vec<String> {
    let out = Command::new("tar")
        .arg("-tf")
        .arg(file)
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "tar -tf {}: not a valid tar: {}",
        file.display(),
        text(&out)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `tar -xOf FILE MEMBER`: the member's bytes.
fn tar_read(file: &Path, member: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(file)
        .arg(member)
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "tar -xOf {} {member}: {}",
        file.display(),
        text(&out)
    );
    out.stdout
}

/// `purser/bundle.json` of a bundle's first part.
fn bundle_json(first: &Path) -> Value {
    serde_json::from_slice(tar_read(first, "purser/bundle.json").trim_ascii_end())
        .expect("purser/bundle.json is JSON")
}

/// The digests of the `blobs/sha256/*` members of a tar.
fn blob_members(file: &Path) -> BTreeSet<String> {
    tar_members(file)
        .iter()
        .filter_map(|m| m.strip_prefix("blobs/sha256/"))
        .map(|hex| format!("sha256:{hex}"))
        .collect()
}

/// The digests of `since.blobs` in a bundle manifest (empty when it has none).
fn omitted(manifest: &Value) -> BTreeSet<String> {
    manifest["since"]["blobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// The files an export report lists, as paths.
fn report_files(report: &Value) -> Vec<PathBuf> {
    report["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files in the export report: {report:#}"))
        .iter()
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect()
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

fn size_of(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .len()
}

/// Stdout and stderr together, for messages that may be in either.
fn all_output(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A manifest's config digest and its layers (digest, size).
fn config_and_layers(pushed: &Pushed) -> (String, Vec<(String, u64)>) {
    let mut blobs = blob_sizes(&pushed.bytes).into_iter();
    let config = blobs.next().expect("an image manifest has a config").0;
    (config, blobs.collect())
}

/// `helm mirror import PARTS… --to TARGET/PREFIX --json` run, whatever its exit.
fn import_output(job: &Job, parts: &[&Path], to: &str) -> Output {
    let mut words = vec!["import"];
    words.extend(parts.iter().map(|p| s(p)));
    words.extend(["--to", to]);
    job.mirror(&words, &["--json"])
}

// --- content ----------------------------------------------------------------------------------

/// [`BASE_A`] and [`BASE_B`] on three 200 KiB base layers; A's own layer is 400 KiB (more
/// than the 300K split: it gets a part of its own), B's 2000 bytes.
async fn seed_split_content(s: &Seeder) -> SharedBase {
    let base = s
        .layers(BASE_A.repo, &[200 * KIB, 200 * KIB, 200 * KIB])
        .await;
    let a = s
        .image_on_base(BASE_A.repo, Some(BASE_A.tag), &base, 400 * KIB)
        .await;
    let b = s
        .image_on_base(BASE_B.repo, Some(BASE_B.tag), &base, 2000)
        .await;
    SharedBase { base, a, b }
}

const SPLIT: &str = "300K";
const SPLIT_BYTES: u64 = 300 * 1024;

/// The images of `shared` are at `dst` under PREFIX with their source digests, every
/// manifest byte for byte and every blob hashing to its digest.
async fn assert_images_at(dst: &Seeder, images: &[(Image, &Pushed)], why: &str) {
    let mut checked = BTreeSet::new();
    for (image, pushed) in images {
        assert_tag_at(dst, image, &pushed.digest, why).await;
        assert_manifest_at(dst, &image.target_repo(), pushed, &mut checked).await;
    }
}

/// Exports `job`'s chart split at [`SPLIT`] into `bundle.tar` and checks every part against
/// the report, `purser/bundle.json` and GNU tar; the part files, in order.
fn export_split(job: &Job, shared: &SharedBase) -> Vec<PathBuf> {
    let bundle = job.path("bundle.tar");
    let report = export(job, &bundle, &["--split", SPLIT], 0);
    assert_eq!(report["complete"], true, "{report:#}");
    let files = report_files(&report);
    assert!(
        files.len() >= 3,
        "1 MiB of layers split at {SPLIT} gives at least 3 parts: {report:#}"
    );
    for (k, f) in files.iter().enumerate() {
        assert!(f.is_file(), "{} is listed but not written", f.display());
        assert_eq!(
            file_name(f),
            format!("bundle.part{}.tar", k + 1),
            "parts are named after -o's stem"
        );
    }
    assert!(!bundle.exists(), "a split export writes no {}", s(&bundle));
    let sizes: Vec<u64> = files.iter().map(|f| size_of(f)).collect();
    assert_eq!(
        report["bundleBytes"],
        sizes.iter().sum::<u64>(),
        "bundleBytes is the parts' bytes together ({sizes:?}): {report:#}"
    );
    eprintln!("split at {SPLIT}: {} parts of {sizes:?} bytes", files.len());

    let manifest = bundle_json(&files[0]);
    let parts = manifest["parts"].as_array().expect("parts in bundle.json");
    assert_eq!(parts.len(), files.len(), "{manifest:#}");
    for (k, p) in parts.iter().enumerate() {
        assert_eq!(p["part"], k + 1, "{p:#}");
        assert_eq!(p["file"], file_name(&files[k]), "{p:#}");
        assert_eq!(
            p["size"], sizes[k],
            "bundle.json gives each part's size: {p:#}"
        );
    }
    // Members by part, as bundle.json lists them.
    let mut listed: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for m in manifest["members"].as_array().expect("members") {
        listed
            .entry(m["part"].as_u64().unwrap())
            .or_default()
            .insert(m["name"].as_str().unwrap().to_owned());
    }
    let (a_config, a_layers) = config_and_layers(&shared.a);
    let (b_config, b_layers) = config_and_layers(&shared.b);
    let layers: BTreeMap<String, u64> = a_layers.into_iter().chain(b_layers).collect();
    let chart_layer = sha256(&job.chart.bytes);
    for (k, f) in files.iter().enumerate() {
        let members = tar_members(f);
        let part = k as u64 + 1;
        let blobs: BTreeSet<String> = members
            .iter()
            .filter(|m| m.starts_with("blobs/"))
            .cloned()
            .collect();
        let named: BTreeSet<String> = members
            .iter()
            .filter(|m| *m != "purser/part.json" && *m != "purser/bundle.json")
            .cloned()
            .collect();
        assert_eq!(
            Some(&named),
            listed.get(&part),
            "part {part} ({}) holds what bundle.json says",
            f.display()
        );
        if k == 0 {
            assert_eq!(
                &members[..3],
                ["oci-layout", "index.json", "purser/bundle.json"],
                "part 1 starts with the layout, the index and the bundle manifest"
            );
            assert!(
                members.contains(&"purser/images.lock".to_owned()),
                "{members:?}"
            );
            for config in [&a_config, &b_config] {
                let name = format!("blobs/{}", config.replacen(':', "/", 1));
                assert!(blobs.contains(&name), "configs are in part 1: {members:?}");
            }
            for image in [&shared.a, &shared.b] {
                let name = format!("blobs/{}", image.digest.replacen(':', "/", 1));
                assert!(
                    blobs.contains(&name),
                    "manifests are in part 1: {members:?}"
                );
            }
        } else {
            assert_eq!(
                members[0], "purser/part.json",
                "a later part starts with purser/part.json"
            );
            assert_eq!(members.len(), blobs.len() + 1, "layers only: {members:?}");
            let part_json: Value =
                serde_json::from_slice(tar_read(f, "purser/part.json").trim_ascii_end()).unwrap();
            assert_eq!(part_json["part"], part, "{part_json}");
            assert_eq!(part_json["of"], files.len(), "{part_json}");
            assert_eq!(part_json["bundle"], manifest["id"], "{part_json}");
            for b in &blobs {
                let digest = b.strip_prefix("blobs/").unwrap().replacen('/', ":", 1);
                assert!(
                    layers.contains_key(&digest) || digest == chart_layer,
                    "part {part} holds {b}, neither an image's layer nor the chart archive"
                );
            }
        }
        if sizes[k] > SPLIT_BYTES {
            // Over the limit only as a single layer larger than the split.
            assert!(k > 0, "part 1 is {} bytes, over --split {SPLIT}", sizes[k]);
            assert_eq!(
                blobs.len(),
                1,
                "part {part} is {} bytes, over --split {SPLIT}, with more than one layer: \
                 {members:?}",
                sizes[k]
            );
            let digest = blobs
                .first()
                .unwrap()
                .strip_prefix("blobs/")
                .unwrap()
                .replacen('/', ":", 1);
            assert!(
                layers
                    .get(&digest)
                    .is_some_and(|&size| size > SPLIT_BYTES - 2048),
                "part {part} is over the split size but its layer {digest} is not that large"
            );
        }
    }
    assert!(
        sizes.iter().any(|&size| size > SPLIT_BYTES),
        "the 400 KiB layer gets a part of its own, over {SPLIT}: {sizes:?}"
    );
    files
}

// --- 1. a split bundle, imported in reverse order -----------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn split_bundle_imports_from_parts_in_any_order() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Oci);
    let shared = seed_split_content(&src.seeder()).await;
    let job = Job::new("parts", &[BASE_A, BASE_B], &src.host, &dst.host);
    let files = export_split(&job, &shared);

    let inspection = inspect(
        &job,
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        0,
    );
    assert_eq!(inspection["complete"], true, "{inspection:#}");
    assert_eq!(
        inspection["parts"].as_array().map(Vec::len),
        Some(files.len()),
        "{inspection:#}"
    );

    let lock = job.path("mirror.lock");
    let reversed: Vec<&Path> = files.iter().rev().map(PathBuf::as_path).collect();
    let imported = import(&job, &reversed, &["-o", s(&lock)], 0);
    assert_eq!(imported["complete"], true, "{imported:#}");
    let images = [(BASE_A, &shared.a), (BASE_B, &shared.b)];
    assert_images_at(&dst.seeder(), &images, "imported from the parts").await;
    job.assert_chart_pulled();
    assert!(lock.is_file(), "-o wrote no lock");
    check_lock_images(&yaml(&lock), &images, &src.host);
    job.assert_relocated(&lock, &images);
}

// --- 2. a part left out -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_part_fails_naming_it_and_pushes_nothing() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let shared = seed_split_content(&src.seeder()).await;
    let job = Job::new("gap", &[BASE_A, BASE_B], &src.host, &dst.host);
    let files = export_split(&job, &shared);
    let gone = &files[1];
    let given: Vec<&Path> = files
        .iter()
        .filter(|f| *f != gone)
        .map(PathBuf::as_path)
        .collect();

    // Inspect says what is missing, and where it is.
    let inspection = inspect(&job, &given, 1);
    assert_eq!(inspection["complete"], false, "{inspection:#}");
    assert_eq!(inspection["parts"][1]["given"], false, "{inspection:#}");
    let missing = inspection["missing"].as_array().expect("missing blobs");
    assert!(!missing.is_empty(), "{inspection:#}");
    for m in missing {
        let reason = m["reason"].as_str().unwrap();
        assert!(
            reason.contains("part 2") && reason.contains(file_name(gone)),
            "a missing blob's reason names its part and file: {m:#}"
        );
    }

    // Import fails naming the part and its file; nothing is visible at the target.
    let out = import_output(&job, &given, &job.to);
    assert_exit(&out, 1);
    let said = all_output(&out);
    assert!(
        said.contains("it is in part 2") && said.contains(file_name(gone)),
        "the failure names part 2 and its file {}: {}",
        file_name(gone),
        text(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["complete"], false, "{report:#}");
    let d = dst.seeder();
    let tags = assert_no_partial_tags(&d).await;
    assert!(
        tags.is_empty(),
        "a failed import of a bundle with a part missing tags nothing: {tags:?}"
    );
    for (image, pushed) in [(BASE_A, &shared.a), (BASE_B, &shared.b)] {
        assert!(
            d.fetch_manifest(&image.target_repo(), &pushed.digest)
                .await
                .is_none(),
            "strict: manifest {} of {} was pushed although part 2 was missing",
            pushed.digest,
            image.repo
        );
    }
    let chart_tags = d.tags(&job.chart.target_repo()).await;
    assert!(
        chart_tags.is_empty(),
        "the chart was tagged: {chart_tags:?}"
    );

    // Later parts alone: part 1 is asked for.
    let later: Vec<&Path> = files[1..].iter().map(PathBuf::as_path).collect();
    let out = import_output(&job, &later, &job.to);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        all_output(&out).contains("part 1"),
        "without part 1 the import asks for it: {}",
        text(&out)
    );

    // Every part: the import completes on what the failed one left.
    let all: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let resumed = import(&job, &all, &[], 0);
    assert_eq!(resumed["complete"], true, "{resumed:#}");
    let present = resumed["blobs"]["present"].as_u64().unwrap_or(0)
        + resumed["blobs"]["mounted"].as_u64().unwrap_or(0);
    assert!(
        present > 0,
        "the blobs of the parts given the first time are there already: {resumed:#}"
    );
    eprintln!(
        "resumed import: {} blobs uploaded, {} present, {} mounted",
        resumed["blobs"]["uploaded"], resumed["blobs"]["present"], resumed["blobs"]["mounted"]
    );
    assert_images_at(
        &d,
        &[(BASE_A, &shared.a), (BASE_B, &shared.b)],
        "imported with every part",
    )
    .await;
    job.assert_chart_pulled();
    assert_no_partial_tags(&d).await;
}

// --- 3. incremental bundles ---------------------------------------------------------------------

/// The next version of [`BASE_A`]: the same base layers, a new layer of its own.
const BASE_A2: Image = Image {
    name: "base-a",
    repo: "acme/base-a",
    tag: "2",
};

#[tokio::test(flavor = "multi_thread")]
async fn since_leaves_out_what_the_inside_has() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let s1 = src.seeder();
    let shared = SharedBase::seed(&s1, &[64 * KIB, 96 * KIB]).await;
    let mut job = Job::new("since-v1", &[BASE_A, BASE_B], &src.host, &dst.host);

    // v1, exported and imported.
    let v1 = job.path("v1.tar");
    let exported = export(&job, &v1, &[], 0);
    assert_eq!(exported["complete"], true, "{exported:#}");
    assert_eq!(exported["omitted"], 0, "{exported:#}");
    let lock = job.path("mirror.lock");
    let imported = import(&job, &[&v1], &["-o", s(&lock)], 0);
    assert_eq!(imported["complete"], true, "{imported:#}");
    let v1_blobs = blob_members(&v1);

    // v2: A's next version on the same base, and B as it was, in a new chart.
    let a2 = s1
        .image_on_base(BASE_A2.repo, Some(BASE_A2.tag), &shared.base, 3000)
        .await;
    job.chart = chart(
        &job.helm,
        job.dir.path(),
        "since-v2",
        &chart_images(&src.host, &[BASE_A2, BASE_B]),
    );
    let (b_config, b_layers) = config_and_layers(&shared.b);
    let (a2_config, a2_layers) = config_and_layers(&a2);
    // What v2 needs and v1 had: the base layers, B's own layer and B's config.
    let mut expected: BTreeMap<String, u64> = b_layers.into_iter().collect();
    expected.insert(b_config.clone(), blob_size(&shared.b, &b_config));
    let expected_bytes: u64 = expected.values().sum();
    assert_eq!(expected.len(), shared.base.len() + 2);

    let v2 = job.path("v2.tar");
    let started = Instant::now();
    let report = export(&job, &v2, &["--since", s(&v1)], 0);
    let took = started.elapsed();
    assert_eq!(report["complete"], true, "{report:#}");
    assert_eq!(
        report["omitted"],
        expected.len(),
        "the base layers and B's layer and config are left out: {report:#}"
    );
    assert_eq!(report["omittedBytes"], expected_bytes, "{report:#}");
    let v2_manifest = bundle_json(&v2);
    assert_eq!(v2_manifest["since"]["from"], s(&v1), "{v2_manifest:#}");
    assert_eq!(
        omitted(&v2_manifest),
        expected.keys().cloned().collect::<BTreeSet<_>>(),
        "bundle.json since.blobs lists exactly what v1 had and v2 needs"
    );
    for b in v2_manifest["since"]["blobs"].as_array().unwrap() {
        assert_eq!(
            b["size"],
            expected[b["digest"].as_str().unwrap()],
            "omitted blob sizes: {b}"
        );
    }
    let v2_blobs = blob_members(&v2);
    assert_eq!(
        report["blobs"],
        v2_blobs.len(),
        "blobs written = the blobs/ members (manifests included): {report:#}"
    );
    let both: BTreeSet<&String> = v1_blobs.intersection(&v2_blobs).collect();
    assert_eq!(
        both,
        BTreeSet::from([&shared.b.digest]),
        "v2 holds nothing of v1 but B's manifest (manifests are always written)"
    );
    for new in a2_layers
        .iter()
        .map(|(d, _)| d)
        .chain([&a2_config, &a2.digest])
    {
        let is_base = shared.base.iter().any(|b| &b.digest == new);
        assert_eq!(
            v2_blobs.contains(new),
            !is_base,
            "{new}: in v2 exactly when it is new"
        );
    }
    eprintln!(
        "v1 {} bytes, {} blob members; v2 --since v1.tar {} bytes ({} blobs written, {} \
         omitted, {} bytes left out) in {took:?}",
        size_of(&v1),
        v1_blobs.len(),
        size_of(&v2),
        report["blobs"],
        report["omitted"],
        report["omittedBytes"]
    );

    let inspection = inspect(&job, &[&v2], 0);
    assert_eq!(inspection["complete"], true, "{inspection:#}");
    assert_eq!(inspection["omitted"], expected.len(), "{inspection:#}");

    // --since the lock of v1's import: the same blobs left out.
    let v2_lock = job.path("v2-lock.tar");
    let by_lock = export(&job, &v2_lock, &["--since", s(&lock)], 0);
    assert_eq!(by_lock["complete"], true, "{by_lock:#}");
    assert_eq!(by_lock["omitted"], report["omitted"], "{by_lock:#}");
    assert_eq!(
        by_lock["omittedBytes"], report["omittedBytes"],
        "{by_lock:#}"
    );
    let by_lock_manifest = bundle_json(&v2_lock);
    assert_eq!(by_lock_manifest["since"]["from"], s(&lock));
    assert_eq!(
        omitted(&by_lock_manifest),
        omitted(&v2_manifest),
        "--since the lock leaves out what --since the bundle does"
    );
    assert_eq!(blob_members(&v2_lock), v2_blobs);

    // Where v1 went: complete, A's next version there by its source digest.
    let d = dst.seeder();
    let again = import(&job, &[&v2], &[], 0);
    assert_eq!(again["complete"], true, "{again:#}");
    assert_images_at(
        &d,
        &[(BASE_A2, &a2), (BASE_B, &shared.b)],
        "the incremental bundle imported",
    )
    .await;
    assert_tag_at(&d, &BASE_A, &shared.a.digest, "v1 stays").await;
    job.assert_chart_pulled();

    // Into an empty registry: it fails, naming --since; nothing tagged.
    let fresh = Registry::start(Flavour::Distribution);
    let job = job.plain_too(&fresh.host);
    let out = import_output(&job, &[&v2], &format!("{}/{PREFIX}", fresh.host));
    assert_exit(&out, 1);
    assert!(
        all_output(&out).contains("--since"),
        "the failure names --since: {}",
        text(&out)
    );
    let tags = assert_no_partial_tags(&fresh.seeder()).await;
    assert!(
        tags.is_empty(),
        "nothing is tagged at the empty registry: {tags:?}"
    );
}

/// The size of blob `digest` as `pushed` names it.
fn blob_size(pushed: &Pushed, digest: &str) -> u64 {
    blob_sizes(&pushed.bytes)
        .into_iter()
        .find(|(d, _)| d == digest)
        .map(|(_, size)| size)
        .unwrap()
}

// --- 4. a 1 GiB layer in little memory ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn large_layer_exported_and_imported_in_little_memory() {
    const SIZE: u64 = 1 << 30;
    let src = Registry::start(Flavour::Oci); // blobs on disk
    let dst = Registry::start(Flavour::Distribution);
    let started = Instant::now();
    let (image, layer) = src.seeder().large_image(BIG.repo, BIG.tag, SIZE).await;
    let seeded = started.elapsed();
    let job = Job::new("big", &[BIG], &src.host, &dst.host);
    let bundle = job.path("big.tar");
    let tgz = job.chart.tgz.display().to_string();

    let export_args = mirror_args(
        &["export", &tgz, "-o", s(&bundle)],
        &job.plain(),
        &["--json"],
    );
    let export_started = Instant::now();
    let (out, export_kib) =
        run_measuring_peak_rss(job.helm.purser(&export_args), &job.path("export.log"));
    let exported = export_started.elapsed();
    assert_exit(&out, 0);
    let bundle_bytes = size_of(&bundle);
    assert!(
        bundle_bytes > SIZE,
        "the bundle holds the layer: {bundle_bytes} bytes"
    );

    let import_args = mirror_args(
        &["import", s(&bundle), "--to", &job.to],
        &job.plain(),
        &["--json"],
    );
    let import_started = Instant::now();
    let (out, import_kib) =
        run_measuring_peak_rss(job.helm.purser(&import_args), &job.path("import.log"));
    let imported = import_started.elapsed();
    assert_exit(&out, 0);
    eprintln!(
        "1 GiB layer: seeded in {seeded:?}; exported in {exported:?} ({bundle_bytes} bytes), \
         purser peak RSS {} MiB; imported in {imported:?}, purser peak RSS {} MiB",
        export_kib / 1024,
        import_kib / 1024
    );
    assert_big_layer_moved(
        &dst.seeder(),
        &image,
        &layer,
        &[("export", export_kib), ("import", import_kib)],
    )
    .await;
    assert_eq!(blob_digests(&image.bytes)[1], layer.digest);
}
