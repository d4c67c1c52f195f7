//! `helm mirror copy` options and setups end to end, with real registries on loopback and real
//! Helm 4 running the installed `mirror` plugin (this build's purser); nothing is mocked:
//!
//! - `--platform`: an index narrowed to one platform (new index digest, both digests recorded);
//!   a platform the index lacks is an error naming the image and what it has.
//!   The lock of such a copy pins the same copy again (`--lock`).
//! - several charts in one run: blobs shared between the charts' images move once.
//! - a target with token auth: push scopes, and the extra pull scope a cross-repository mount
//!   needs.
//! - `--source-mirror` through a distribution pull-through cache: the upstream is never asked
//!   by purser, names stay upstream ones; `helm mirror lock|verify|status` too.
//! - an `oci://` chart copied manifest for manifest (same digest at the target).
//! - a signed chart: its provenance travels with it and `helm pull --verify` checks it there.
//! - `--dry-run --json` counts what the real copy then moves.
//! - a source that refuses to list tags: copy and export say, per image, that cosign's
//!   `.sig` tags were not looked for (`tagsUnlisted`, a `note:` line).
//!
//! The shared helpers (seeded content, generated charts, running the copy, checking the target)
//! are in support/copy.rs, with mirror_copy.rs.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::copy::{
    BASE_A, BASE_B, Chart, Content, Image, Job, LEGACY, MULTI, PREFIX, SINGLE, SharedBase,
    assert_copied, assert_exit, assert_manifest_at, assert_mounted_once, assert_nothing_uploaded,
    assert_sent_once, assert_tag_at, assert_uploads_finished, chart, chart_images,
    check_lock_images, check_report_images, code, lock_entry, report, report_chart, report_image,
    report_of_success, seed_legacy, seed_single, stderr, trail, uploads_by_digest, yaml,
};
use support::gpg::GpgKey;
use support::helm::{Helm, text};
use support::seed::{Pushed, blob_digests, blob_sizes, child_digests, sha256};
use support::{DockerConfig, Fault, FaultProxy, Flavour, PASSWORD, Registry, Rule, USER};

/// `Chart.yaml` of a chart in a registry, as `helm show chart` gives it.
fn show_chart(helm: &Helm, reference: &str, version: &str) -> Value {
    let out = helm.run([
        "show",
        "chart",
        reference,
        "--version",
        version,
        "--plain-http",
    ]);
    assert!(
        out.status.success(),
        "helm show chart {reference}: {}",
        text(&out)
    );
    serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("Chart.yaml of {reference}: {e}"))
}

// --- 1. --platform ------------------------------------------------------------------------------

/// The copy of `job`'s chart to `to` with `--platform linux/arm64`, a lock (`-o PATH`, or
/// `--lock PATH`) and `--json`.
fn copy_arm64(job: &Job, to: &str, lock_flag: &str, lock: &Path) -> Output {
    job.copy_to(
        to,
        &[
            "--platform",
            "linux/arm64",
            lock_flag,
            lock.to_str().unwrap(),
            "--json",
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn platform_subset() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let s = src.seeder();
    // amd64, arm/v7, arm64/v8, and attestations of amd64 and of arm64.
    let (index, children, attestations) =
        s.oci_index_attested(MULTI.repo, MULTI.tag, &[0, 2]).await;
    let (amd64, arm_v7, arm64) = (&children[0], &children[1], &children[2]);
    let (att_amd64, att_arm64) = (&attestations[0], &attestations[1]);
    let source_ref = MULTI.at(&src.host);
    let job = Job::new("subset", &[MULTI], &src.host, &dst.host);
    let lock = job.path("mirror.lock");
    let first = report_of_success(&copy_arm64(&job, &job.to, "-o", &lock));
    assert_eq!(first["complete"], true, "{first:#}");

    // The target's index: the arm64 entry and the attestation naming it, nothing else.
    let d = dst.seeder();
    let at = MULTI.target_repo();
    let got = d
        .fetch_manifest(&at, MULTI.tag)
        .await
        .unwrap_or_else(|| panic!("{at}:1.0 is not at the target"));
    let target_digest = sha256(&got.bytes);
    assert_eq!(got.digest.as_deref(), Some(target_digest.as_str()));
    assert_eq!(got.media_type.as_deref(), Some(support::seed::OCI_INDEX));
    assert_ne!(
        target_digest, index.digest,
        "the narrowed index has the source index's digest"
    );
    let narrowed: Value = serde_json::from_slice(&got.bytes).unwrap();
    assert_eq!(
        child_digests(&got.bytes),
        [arm64.digest.clone(), att_arm64.digest.clone()],
        "the target index lists the arm64 manifest and its attestation only: {narrowed:#}"
    );
    let entries = narrowed["manifests"].as_array().unwrap();
    assert_eq!(
        entries[0]["platform"]["architecture"], "arm64",
        "{narrowed:#}"
    );
    assert_eq!(
        entries[1]["annotations"]["vnd.docker.reference.digest"],
        arm64.digest.as_str(),
        "{narrowed:#}"
    );
    let source: Value = serde_json::from_slice(&index.bytes).unwrap();
    assert_eq!(narrowed["schemaVersion"], source["schemaVersion"]);
    assert_eq!(narrowed["mediaType"], source["mediaType"]);

    // The report and the lock: the digest at the target and the source's.
    let entry = report_image(&first, &source_ref);
    assert_eq!(entry["state"], "copied", "{entry:#}");
    assert_eq!(entry["digest"], target_digest.as_str(), "{entry:#}");
    assert_eq!(entry["sourceDigest"], index.digest.as_str(), "{entry:#}");
    let mirrored = MULTI.at(&job.to);
    assert_eq!(entry["destination"], mirrored.as_str());
    let locked = yaml(&lock);
    let l = lock_entry(&locked, &MULTI.repo_tag());
    assert_eq!(
        l["image"],
        source_ref.as_str(),
        "the lock keeps the source name"
    );
    assert_eq!(l["digest"], target_digest.as_str(), "{l:#}");
    assert_eq!(l["sourceDigest"], index.digest.as_str(), "{l:#}");
    assert_eq!(l["mirror"], mirrored.as_str(), "{l:#}");
    let platforms: Vec<(&str, &str)> = l["digests"]
        .as_array()
        .unwrap_or_else(|| panic!("no platform digests in {l:#}"))
        .iter()
        .map(|p| {
            (
                p["arch"].as_str().unwrap_or(""),
                p["digest"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [("linux/arm64/v8", arm64.digest.as_str())],
        "the lock's platforms are the ones copied: {l:#}"
    );

    // arm64 and its attestation byte for byte; the other platforms are not there.
    let mut checked = BTreeSet::new();
    for kept in [arm64, att_arm64] {
        assert_manifest_at(&d, &at, kept, &mut checked).await;
    }
    let kept_blobs: BTreeSet<String> = checked.into_iter().map(|(_, blob)| blob).collect();
    for (what, dropped) in [
        ("linux/amd64", amd64),
        ("linux/arm/v7", arm_v7),
        ("the amd64 attestation", att_amd64),
    ] {
        assert!(
            d.fetch_manifest(&at, &dropped.digest).await.is_none(),
            "{what} ({}) was copied",
            dropped.digest
        );
        for blob in blob_digests(&dropped.bytes) {
            if !kept_blobs.contains(&blob) {
                assert!(
                    !d.blob_exists(&at, &blob).await,
                    "blob {blob} of {what} was copied"
                );
            }
        }
    }

    // Again: present, nothing sent, and the lock still has both digests.
    let lock_again = job.path("again.lock");
    let again = report_of_success(&copy_arm64(&job, &job.to, "-o", &lock_again));
    let entry = report_image(&again, &source_ref);
    assert_eq!(entry["state"], "present", "{again:#}");
    assert_eq!(entry["digest"], target_digest.as_str(), "{again:#}");
    assert_nothing_uploaded(&again);
    assert_tag_at(&d, &MULTI, &target_digest, "the narrowed index, still").await;
    let locked = yaml(&lock_again);
    let l = lock_entry(&locked, &MULTI.repo_tag());
    assert_eq!(l["digest"], target_digest.as_str(), "{l:#}");
    // Both digests still, though nothing was copied this time.
    let mut lost = Vec::new();
    for (what, row) in [("report", entry), ("lock", l)] {
        if row["sourceDigest"] != index.digest.as_str() {
            lost.push(format!(
                "the {what} gives sourceDigest {}",
                row["sourceDigest"]
            ));
        }
    }

    // A platform the index does not have.
    let other = format!("{}/other", dst.host);
    let out = job.copy_to(&other, &["--platform", "linux/s390x"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for needle in [
        "acme/multi:1.0",
        "linux/s390x",
        "linux/amd64",
        "linux/arm/v7",
        "linux/arm64",
    ] {
        assert!(
            err.contains(needle),
            "the error names the image, the platform asked and the ones there ({needle}): {err}"
        );
    }
    assert!(
        d.tags("other/acme/multi").await.is_empty(),
        "something was tagged for a platform that is not there"
    );

    // (Checked last, so that the checks above run whatever this says.)
    assert!(
        lost.is_empty(),
        "a second --platform run that found the narrowed index present lost the source index digest {}: {}\nreport entry: {entry:#}\nlock entry: {l:#}",
        index.digest,
        lost.join("; ")
    );
}

/// The lock a `--platform` copy wrote pins the copy again: `--lock` takes its `sourceDigest`
/// (the source index) and the same platforms give the same narrowed index, into another prefix.
#[tokio::test(flavor = "multi_thread")]
async fn platform_subset_again_from_its_lock() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let (index, children, _) = src
        .seeder()
        .oci_index_attested(MULTI.repo, MULTI.tag, &[2])
        .await;
    let source_ref = MULTI.at(&src.host);
    let job = Job::new("relocked", &[MULTI], &src.host, &dst.host);
    let lock = job.path("mirror.lock");
    let first_to = format!("{}/first", dst.host);
    let first = report_of_success(&copy_arm64(&job, &first_to, "-o", &lock));
    let narrowed = report_image(&first, &source_ref)["digest"]
        .as_str()
        .expect("a digest at the target")
        .to_owned();
    assert_ne!(narrowed, index.digest);

    let second_to = format!("{}/second", dst.host);
    let out = copy_arm64(&job, &second_to, "--lock", &lock);
    assert_eq!(
        out.status.code(),
        Some(0),
        "copying again with the lock of a --platform copy (digest {narrowed}, sourceDigest {}):\n{}",
        index.digest,
        text(&out)
    );
    let again = report(&out);
    let entry = report_image(&again, &source_ref);
    assert_eq!(entry["state"], "copied", "{entry:#}");
    assert_eq!(entry["digest"], narrowed.as_str(), "{entry:#}");
    let d = dst.seeder();
    assert_eq!(
        d.head_manifest("second/acme/multi", MULTI.tag)
            .await
            .as_deref(),
        Some(narrowed.as_str())
    );
    assert!(
        d.fetch_manifest("second/acme/multi", &children[2].digest)
            .await
            .is_some_and(|m| m.bytes == children[2].bytes)
    );
}

// --- 2. two charts, one run -----------------------------------------------------------------------

/// Each of `images` is at the target under PREFIX: its tag resolves to its digest, its blobs
/// are there.
async fn assert_images_at(dst: &support::Seeder, images: &[(Image, &Pushed)]) {
    for (image, pushed) in images {
        assert_tag_at(dst, image, &pushed.digest, "copied").await;
        let at = image.target_repo();
        for blob in blob_digests(&pushed.bytes) {
            assert!(dst.blob_exists(&at, &blob).await, "blob {blob} in {at}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_charts_share_blobs() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(dst.addr);
    let s = src.seeder();
    let shared = SharedBase::seed(&s, &[40_000, 80_000]).await;
    // And one image both charts use.
    let single = seed_single(&s).await;
    let job = Job::new("alpha", &[BASE_A, SINGLE], &src.host, &proxy.host);
    let beta = chart(
        &job.helm,
        job.dir.path(),
        "beta",
        &chart_images(&src.host, &[BASE_B, SINGLE]),
    );
    let (a_dir, b_dir) = (
        job.chart.src.display().to_string(),
        beta.src.display().to_string(),
    );
    let report =
        report_of_success(&job.mirror(&["copy", &a_dir, &b_dir, "--to", &job.to], &["--json"]));
    assert_eq!(report["complete"], true, "{report:#}");
    let seen = proxy.seen();

    // Every image once, copied.
    let [base_a, base_b] = shared.images();
    let images = [base_a, base_b, (SINGLE, &single)];
    check_report_images(&report, &images, &src.host, &job.to, "copied");
    let d = dst.seeder();
    assert_images_at(&d, &images).await;

    // Each blob's body went over the wire once, whole.
    let sessions = proxy.uploads();
    assert_uploads_finished(&sessions, &seen);
    let by_digest = uploads_by_digest(&sessions);
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (_, pushed) in images {
        sizes.extend(blob_sizes(&pushed.bytes));
    }
    for (blob, size) in &sizes {
        let sent = assert_sent_once(&by_digest, blob, &seen);
        assert_eq!(sent.bytes, *size, "blob {blob}: {sent:?}");
    }
    for (digest, sent) in &by_digest {
        assert_eq!(sent.len(), 1, "blob {digest} uploaded {} times", sent.len());
    }
    // Both charts, at …/charts/NAME:VERSION.
    assert_eq!(
        report["charts"].as_array().map(Vec::len),
        Some(2),
        "{report:#}"
    );
    for c in [&job.chart, &beta] {
        let row = report_chart(&report, c, &job.to, "copied");
        let at = c.target_repo();
        let digest = d.head_manifest(&at, &c.version).await;
        assert!(digest.is_some(), "{at}:{} is not at the target", c.version);
        assert_eq!(row["digest"].as_str(), digest.as_deref(), "{row:#}");
        let shown = show_chart(
            &job.helm,
            &c.oci_at(&format!("{}/{PREFIX}", dst.host)),
            &c.version,
        );
        assert_eq!(shown["name"], c.name.as_str(), "{shown:#}");
        assert_eq!(shown["version"], c.version.as_str(), "{shown:#}");
    }
}

// --- 3. a target with token auth -----------------------------------------------------------------

/// The actions a scope list grants on `repository`.
fn actions_on(scopes: &[String], repository: &str) -> BTreeSet<String> {
    scopes
        .iter()
        .filter_map(|s| s.strip_prefix(&format!("repository:{repository}:")))
        .flat_map(|a| a.split(','))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_auth_target() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::DistributionToken);
    let proxy = FaultProxy::start(dst.addr);
    let token = dst.token.as_ref().unwrap();
    let shared = SharedBase::seed(&src.seeder(), &[30_000, 50_000]).await;
    let token_host = token.host();
    let job = Job::new("guarded", &[BASE_A, BASE_B], &src.host, &proxy.host).plain_too(&token_host);
    let args = job.args(&["--json"]);

    // Without credentials the target refuses, and nothing lands.
    let out = job.helm.run(&args);
    assert_exit(&out, 1);
    assert!(
        text(&out).contains(&format!("{} refused access", proxy.host)),
        "the error names the target: {}",
        text(&out)
    );
    for image in [BASE_A, BASE_B] {
        let at = image.target_repo();
        assert!(dst.seeder().tags(&at).await.is_empty(), "{at} got tags");
    }

    // With them (a docker config.json named by DOCKER_CONFIG).
    let config = DockerConfig::with_auth(&proxy.host, USER, PASSWORD);
    let before = token.requests().len();
    let mark = proxy.mark();
    let out = job
        .helm
        .command(&args)
        .env("DOCKER_CONFIG", config.dir.path())
        .output()
        .expect("run helm");
    let report = report_of_success(&out);
    assert_eq!(report["complete"], true, "{report:#}");
    report_chart(&report, &job.chart, &job.to, "copied");
    check_report_images(&report, &shared.images(), &src.host, &job.to, "copied");
    assert_images_at(&dst.seeder(), &shared.images()).await;

    let asked = token.requests()[before..].to_vec();
    let seen = proxy.seen_since(mark);
    let listed = || {
        asked
            .iter()
            .map(|t| {
                format!(
                    "  {} credentials={} {:?}",
                    t.method, t.with_credentials, t.scopes
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    eprintln!("token requests of the copy:\n{}", listed());
    // Push scopes for every target repository, asked with the credentials.
    for repo in [
        BASE_A.target_repo(),
        BASE_B.target_repo(),
        job.chart.target_repo(),
    ] {
        assert!(
            asked.iter().any(|t| {
                let actions = actions_on(&t.scopes, &repo);
                t.with_credentials && actions.contains("pull") && actions.contains("push")
            }),
            "no token asked for repository:{repo}:pull,push with credentials:\n{}",
            listed()
        );
    }
    // The shared layers: sent once, mounted into the other repository with a token that
    // also covers pulling from where they are.
    let sessions = support::proxy::uploads(&seen);
    let by_digest = uploads_by_digest(&sessions);
    let mounts = support::proxy::mounts(&seen);
    for blob in shared.base_digests() {
        assert_sent_once(&by_digest, &blob, &seen);
        let m = assert_mounted_once(&mounts, &blob, &seen);
        let from = m.from.as_deref().expect("a mount names where from");
        assert!(
            asked.iter().any(|t| {
                actions_on(&t.scopes, &m.repository).contains("push")
                    && actions_on(&t.scopes, from).contains("pull")
            }),
            "no token asked for repository:{}:push and repository:{from}:pull together:\n{}",
            m.repository,
            listed()
        );
    }
}

// --- 4. through a pull-through cache -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn source_mirror_pull_through() {
    let src = Registry::start(Flavour::Distribution);
    // The upstream name charts use: this proxy, which only purser could ask.
    let upstream = FaultProxy::start(src.addr);
    // The cache fetches from the source directly.
    let cache = Registry::pull_through_cache(&src.base_url());
    let cache_proxy = FaultProxy::start(cache.addr);
    let dst = Registry::start(Flavour::Distribution);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("cached", &content.images(), &upstream.host, &dst.host)
        .plain_too(&cache_proxy.host);
    let mirror = format!("{}={}", upstream.host, cache_proxy.host);
    let lock = job.path("copy.lock");
    let report = job.copy_report(&["--source-mirror", &mirror, "-o", lock.to_str().unwrap()]);
    assert_eq!(report["complete"], true, "{report:#}");
    assert!(
        upstream.seen().is_empty(),
        "purser asked the upstream itself:\n{}",
        trail(&upstream.seen())
    );
    let through_cache: BTreeSet<String> = cache_proxy
        .seen()
        .iter()
        .filter(|s| s.is_manifest())
        .filter_map(|s| s.repository().map(str::to_owned))
        .collect();
    for (image, _) in content.tagged() {
        assert!(
            through_cache.contains(image.repo),
            "no manifest of {} was asked of the cache: {through_cache:?}",
            image.repo
        );
    }
    // Upstream names and the source digests, in the report and the lock.
    check_report_images(
        &report,
        &content.tagged(),
        &upstream.host,
        &job.to,
        "copied",
    );
    assert_copied(&content, &dst.seeder(), false).await;
    let locked = yaml(&lock);
    let entries = check_lock_images(&locked, &content.tagged(), &upstream.host);
    for ((image, _), l) in content.tagged().into_iter().zip(entries) {
        assert_eq!(l["mirror"], image.at(&job.to).as_str(), "{l:#}");
    }

    // `helm mirror lock` through the cache.
    let tgz = job.chart.tgz.display().to_string();
    let resolved = job.path("resolved.lock");
    let out = job.mirror(
        &["lock", &tgz],
        &["--source-mirror", &mirror, "-o", resolved.to_str().unwrap()],
    );
    assert_eq!(code(&out), Some(0), "helm mirror lock: {}", text(&out));
    check_lock_images(&yaml(&resolved), &content.tagged(), &upstream.host);
    // `helm mirror verify` against it, through the cache.
    let out = job.mirror(
        &["verify", &tgz, "--lock", resolved.to_str().unwrap()],
        &["--source-mirror", &mirror],
    );
    assert_eq!(code(&out), Some(0), "helm mirror verify: {}", text(&out));
    // `helm mirror status` of the copy, through the cache.
    let out = job.mirror(
        &["status", &tgz, "--to", &job.to],
        &["--source-mirror", &mirror, "--json"],
    );
    assert_eq!(code(&out), Some(0), "helm mirror status: {}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&out)));
    let rows = rows.as_array().expect("status rows");
    assert_eq!(rows.len(), content.tagged().len(), "{rows:#?}");
    for (image, pushed) in content.tagged() {
        let row = rows
            .iter()
            .find(|r| r["image"] == image.at(&upstream.host).as_str())
            .unwrap_or_else(|| panic!("{} not in the status: {rows:#?}", image.repo_tag()));
        assert_eq!(row["state"], "present", "{row:#}");
        assert_eq!(row["sourceDigest"], pushed.digest.as_str(), "{row:#}");
    }
    assert!(
        upstream.seen().is_empty(),
        "lock, verify or status asked the upstream itself:\n{}",
        trail(&upstream.seen())
    );
}

// --- 5. an oci:// chart -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn oci_chart_copied_as_is() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let s = src.seeder();
    let single = seed_single(&s).await;
    let (legacy, _) = seed_legacy(&s).await;
    let job = Job::new("ocichart", &[SINGLE, LEGACY], &src.host, &dst.host);
    let chart = &job.chart;
    let out = job.helm.run([
        "push",
        chart.tgz.to_str().unwrap(),
        &format!("oci://{}/charts", src.host),
        "--plain-http",
    ]);
    assert!(out.status.success(), "helm push: {}", text(&out));
    let pushed = s
        .fetch_manifest(&format!("charts/{}", chart.name), &chart.version)
        .await
        .expect("the chart pushed to the source");
    let source_digest = sha256(&pushed.bytes);

    let oci = chart.oci_at(&src.host);
    let copy = || {
        job.mirror(
            &["copy", &oci, "--version", &chart.version, "--to", &job.to],
            &["--json"],
        )
    };
    let first = report_of_success(&copy());
    assert_eq!(first["complete"], true, "{first:#}");
    assert_eq!(
        first["charts"].as_array().map(Vec::len),
        Some(1),
        "{first:#}"
    );
    let row = report_chart(&first, chart, &job.to, "copied");
    assert_eq!(row["digest"], source_digest.as_str(), "{first:#}");

    // The same manifest at the target, the same archive out of it.
    let d = dst.seeder();
    let copied = d
        .fetch_manifest(&chart.target_repo(), &chart.version)
        .await
        .unwrap_or_else(|| panic!("{} is not at the target", chart.destination(&job.to)));
    assert_eq!(copied.digest.as_deref(), Some(source_digest.as_str()));
    assert!(
        copied.bytes == pushed.bytes,
        "the chart manifest was rewritten:\n{}\nvs\n{}",
        String::from_utf8_lossy(&copied.bytes),
        String::from_utf8_lossy(&pushed.bytes)
    );
    job.assert_chart_pulled();

    // Its images too (and not the chart as an image).
    let images = [(SINGLE, &single), (LEGACY, &legacy)];
    check_report_images(&first, &images, &src.host, &job.to, "copied");
    for (image, pushed) in images {
        assert_tag_at(&d, &image, &pushed.digest, "copied with the chart").await;
    }

    // Again: the chart is present.
    let again = report_of_success(&copy());
    report_chart(&again, chart, &job.to, "present");
    assert_nothing_uploaded(&again);
}

// --- 6. provenance ------------------------------------------------------------------------------

const PROVENANCE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

#[tokio::test(flavor = "multi_thread")]
async fn chart_provenance_verifies() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let single = seed_single(&src.seeder()).await;
    let key = GpgKey::generate("purser test <t@example>");
    let foreign = GpgKey::generate("someone else <else@example>");
    let mut job = Job::new("signed", &[SINGLE], &src.host, &dst.host);
    let signed_dir = job.path("signed");
    let out = job.helm.run([
        "package",
        "--sign",
        "--key",
        "purser test",
        "--keyring",
        key.secring.to_str().unwrap(),
        job.chart.src.to_str().unwrap(),
        "--destination",
        signed_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "helm package --sign: {}", text(&out));
    let archive = |chart: &Chart| format!("{}-{}.tgz", chart.name, chart.version);
    let tgz = signed_dir.join(archive(&job.chart));
    let prov = std::fs::read(tgz.with_extension("tgz.prov")).expect("the .prov beside the archive");
    job.chart.bytes = std::fs::read(&tgz).unwrap();
    job.chart.tgz = tgz;
    let chart = &job.chart;

    let report = job.copy_report(&[]);
    report_chart(&report, chart, &job.to, "copied");
    let d = dst.seeder();
    assert_tag_at(&d, &SINGLE, &single.digest, "copied with the signed chart").await;

    // The provenance is a layer of the chart, byte for byte.
    let at = chart.target_repo();
    let manifest = d
        .fetch_manifest(&at, &chart.version)
        .await
        .expect("the chart at the target");
    let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let layer = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["mediaType"] == PROVENANCE)
        .unwrap_or_else(|| panic!("no provenance layer in {manifest:#}"));
    let digest = layer["digest"].as_str().unwrap();
    assert_eq!(digest, sha256(&prov), "{manifest:#}");
    assert_eq!(d.fetch_blob(&at, digest).await.as_deref(), Some(&prov[..]));

    // Helm verifies the chart pulled from the mirror with the signer's key, and not another.
    let reference = chart.oci_at(&job.to);
    let pull = |keyring: &Path, into: &str| {
        let dest = job.path(into);
        std::fs::create_dir_all(&dest).unwrap();
        let out = job.helm.run([
            "pull",
            &reference,
            "--version",
            &chart.version,
            "--plain-http",
            "--verify",
            "--keyring",
            keyring.to_str().unwrap(),
            "--destination",
            dest.to_str().unwrap(),
        ]);
        (out, dest)
    };
    let (out, dest) = pull(&key.pubring, "verified");
    assert!(out.status.success(), "helm pull --verify: {}", text(&out));
    let pulled = std::fs::read(dest.join(archive(chart))).expect("the pulled archive");
    assert!(
        pulled == chart.bytes,
        "the pulled archive differs from the signed one"
    );
    let (out, _) = pull(&foreign.pubring, "foreign");
    assert!(
        !out.status.success(),
        "helm pull --verify accepted a keyring without the signer: {}",
        text(&out)
    );
}

// --- 7. the dry run's numbers -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_then_copy_matches_plan() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(dst.addr);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("planned", &content.images(), &src.host, &proxy.host);

    let plan = job.copy_report(&["--dry-run"]);
    let planned = plan["plan"]["blobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no plan.blobs in the dry run: {plan:#}"));
    let planned_bytes: u64 = planned.iter().map(|b| b["size"].as_u64().unwrap()).sum();
    assert_eq!(plan["blobs"]["unique"], planned.len(), "{plan:#}");
    assert_eq!(plan["bytes"]["unique"], planned_bytes, "{plan:#}");
    assert_eq!(
        dst.seeder().catalog().await,
        Vec::<String>::new(),
        "the dry run wrote to the target"
    );

    let done = job.copy_report(&[]);
    assert_eq!(done["complete"], true, "{done:#}");
    let counts = |r: &Value| (r["blobs"]["unique"].as_u64(), r["bytes"]["unique"].as_u64());
    assert_eq!(
        counts(&done),
        counts(&plan),
        "(blobs, bytes) planned vs copied: plan {:#} copy {:#}",
        plan["blobs"],
        done["blobs"]
    );
    for what in ["bytes", "blobs"] {
        assert_eq!(
            done[what]["uploaded"], plan[what]["unique"],
            "an empty target gets every planned one of the {what} once: {done:#}"
        );
    }
    // And that is what went over the wire.
    let sessions = proxy.uploads();
    let wire: u64 = sessions.iter().map(|u| u.bytes).sum();
    assert_eq!(
        done["bytes"]["uploaded"].as_u64(),
        Some(wire),
        "the report's uploaded bytes vs the upload bodies:\n{}",
        trail(&proxy.seen())
    );
    let sent: BTreeSet<&str> = sessions
        .iter()
        .filter_map(|u| u.digest.as_deref())
        .collect();
    let planned_digests: BTreeSet<&str> = planned
        .iter()
        .filter_map(|b| b["digest"].as_str())
        .collect();
    assert_eq!(
        sent, planned_digests,
        "the blobs sent are the blobs planned"
    );
}

// --- 8. a source that will not list tags --------------------------------------------------------

/// A source registry that refuses `GET /v2/<name>/tags/list` hides cosign's `sha256-<hex>.sig`
/// tags from the copy engine (it finds them in the tag list). Copy and export still go on,
/// and now say so per image: `tagsUnlisted` in the JSON report, a `note:` line in the text.
///
/// The source is a real oci-registry (it has the referrers API) behind the fault proxy: the
/// registries here all list tags, so the refusal (as ECR or a pull-only token answers) is
/// injected by the proxy as a 403 on `/tags/list`; everything else reaches the registry.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_refusing_tag_lists_is_reported() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(src.addr);
    let seeder = src.seeder();
    let single = seed_single(&seeder).await;
    seeder.cosign_signature(SINGLE.repo, &single, false).await;
    let job = Job::new("unlisted", &[SINGLE], &proxy.host, &dst.host);
    let image = SINGLE.at(&proxy.host);

    // Tags listed: the .sig tag comes along, nothing to say.
    let listed = report_of_success(&job.copy_to(&format!("{}/listed", dst.host), &["--json"]));
    let row = report_image(&listed, &image);
    assert_eq!(row["referrers"], 1, "the .sig tag is copied: {row:#}");
    assert!(row.get("tagsUnlisted").is_none(), "{row:#}");

    proxy.add(Rule::path("/tags/list", Fault::Status(403), usize::MAX));
    let unlisted = report_of_success(&job.copy_to(&format!("{}/unlisted", dst.host), &["--json"]));
    let row = report_image(&unlisted, &image);
    assert_eq!(row["state"], "copied", "{row:#}");
    assert!(row.get("referrers").is_none(), "no .sig tag seen: {row:#}");
    let note = &row["tagsUnlisted"];
    assert_eq!(note["registry"], proxy.host.as_str(), "{row:#}");
    assert_eq!(
        note["referrers"], true,
        "oci-registry's referrers API answered: {row:#}"
    );
    assert!(
        note["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{row:#}"
    );

    // The text says it, once for the image.
    let out = job.copy_to(&format!("{}/text", dst.host), &[]);
    assert_exit(&out, 0);
    let expected = format!("note: {image}: {} cannot list tags (", proxy.host);
    let err = stderr(&out);
    let notes: Vec<&str> = err.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].starts_with(&expected), "{}", notes[0]);
    assert!(
        notes[0]
            .ends_with("(sha256-<digest>.sig, .att, .sbom) were not looked for; referrers were"),
        "{}",
        notes[0]
    );

    // Export says the same in its report.
    let bundle = job.path("bundle.tar");
    let exported = support::bundle::export(&job, &bundle, &[], 0);
    let row = report_image(&exported, &image);
    assert_eq!(row["state"], "exported", "{row:#}");
    assert_eq!(
        row["tagsUnlisted"]["registry"],
        proxy.host.as_str(),
        "{row:#}"
    );
}
