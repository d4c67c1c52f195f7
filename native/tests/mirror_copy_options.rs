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
//!
//! The shared helpers (seeded content, generated charts, running the copy, checking the target)
//! are in support/copy.rs, with mirror_copy.rs.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::copy::{
    Chart, Content, PREFIX, assert_chart_pulled, assert_copied, chart, check_report_images, code,
    copy_args, helm_copy, mirror_args, report, report_image, stderr, trail, uploads_by_digest,
    yaml,
};
use support::helm::{Helm, text};
use support::seed::{AMD64, OCI_INDEX, blob_digests, blob_sizes, child_digests, sha256};
use support::{DockerConfig, FaultProxy, Flavour, PASSWORD, Registry, USER};

/// The entry of a lock (parsed YAML) for the image whose reference ends with `/REPO:TAG`.
fn lock_entry<'a>(lock: &'a Value, repo_tag: &str) -> &'a Value {
    lock["images"]
        .as_array()
        .unwrap_or_else(|| panic!("no images in the lock: {lock:#}"))
        .iter()
        .find(|e| {
            e["image"]
                .as_str()
                .is_some_and(|i| i.ends_with(&format!("/{repo_tag}")))
        })
        .unwrap_or_else(|| panic!("{repo_tag} is not in the lock: {lock:#}"))
}

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

#[tokio::test(flavor = "multi_thread")]
async fn platform_subset() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let s = src.seeder();
    // amd64, arm/v7, arm64/v8, and attestations of amd64 and of arm64.
    let (index, children, attestations) = s.oci_index_attested("acme/multi", "1.0", &[0, 2]).await;
    let (amd64, arm_v7, arm64) = (&children[0], &children[1], &children[2]);
    let (att_amd64, att_arm64) = (&attestations[0], &attestations[1]);
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let source_ref = format!("{}/acme/multi:1.0", src.host);
    let chart = chart(
        &helm,
        dir.path(),
        "subset",
        &[("multi".to_owned(), source_ref.clone())],
    );
    let to_arg = format!("{}/{PREFIX}", dst.host);
    let plain = [src.host.as_str(), dst.host.as_str()];
    let lock = dir.path().join("mirror.lock");
    let out = helm_copy(
        &helm,
        &chart,
        &to_arg,
        &plain,
        &[
            "--platform",
            "linux/arm64",
            "-o",
            lock.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let first = report(&out);
    assert_eq!(first["complete"], true, "{first:#}");

    // The target's index: the arm64 entry and the attestation naming it, nothing else.
    let d = dst.seeder();
    let at = format!("{PREFIX}/acme/multi");
    let got = d
        .fetch_manifest(&at, "1.0")
        .await
        .unwrap_or_else(|| panic!("{at}:1.0 is not at the target"));
    let target_digest = sha256(&got.bytes);
    assert_eq!(got.digest.as_deref(), Some(target_digest.as_str()));
    assert_eq!(got.media_type.as_deref(), Some(OCI_INDEX));
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
    assert_eq!(
        entry["destination"],
        format!("{to_arg}/acme/multi:1.0").as_str()
    );
    let locked = yaml(&lock);
    let l = lock_entry(&locked, "acme/multi:1.0");
    assert_eq!(
        l["image"],
        source_ref.as_str(),
        "the lock keeps the source name"
    );
    assert_eq!(l["digest"], target_digest.as_str(), "{l:#}");
    assert_eq!(l["sourceDigest"], index.digest.as_str(), "{l:#}");
    assert_eq!(
        l["mirror"],
        format!("{to_arg}/acme/multi:1.0").as_str(),
        "{l:#}"
    );
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
    for kept in [arm64, att_arm64] {
        let fetched = d
            .fetch_manifest(&at, &kept.digest)
            .await
            .unwrap_or_else(|| panic!("{at}@{} is not at the target", kept.digest));
        assert!(
            fetched.bytes == kept.bytes,
            "{at}@{}: other bytes at the target",
            kept.digest
        );
        for blob in blob_digests(&kept.bytes) {
            assert!(
                d.blob_exists(&at, &blob).await,
                "blob {blob} of {}",
                kept.digest
            );
        }
    }
    let kept_blobs: BTreeSet<String> = blob_digests(&arm64.bytes)
        .into_iter()
        .chain(blob_digests(&att_arm64.bytes))
        .collect();
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
    let lock_again = dir.path().join("again.lock");
    let out = helm_copy(
        &helm,
        &chart,
        &to_arg,
        &plain,
        &[
            "--platform",
            "linux/arm64",
            "-o",
            lock_again.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let again = report(&out);
    let entry = report_image(&again, &source_ref);
    assert_eq!(entry["state"], "present", "{again:#}");
    assert_eq!(entry["digest"], target_digest.as_str(), "{again:#}");
    assert_eq!(again["blobs"]["uploaded"], 0, "{again:#}");
    assert_eq!(
        d.head_manifest(&at, "1.0").await.as_deref(),
        Some(target_digest.as_str())
    );
    let locked = yaml(&lock_again);
    let l = lock_entry(&locked, "acme/multi:1.0");
    assert_eq!(l["digest"], target_digest.as_str(), "{l:#}");
    // Both digests still, though nothing was copied this time.
    let mut lost = Vec::new();
    if entry["sourceDigest"] != index.digest.as_str() {
        lost.push(format!(
            "the report gives sourceDigest {}",
            entry["sourceDigest"]
        ));
    }
    if l["sourceDigest"] != index.digest.as_str() {
        lost.push(format!("the lock gives sourceDigest {}", l["sourceDigest"]));
    }

    // A platform the index does not have.
    let other = format!("{}/other", dst.host);
    let out = helm_copy(
        &helm,
        &chart,
        &other,
        &plain,
        &["--platform", "linux/s390x"],
    );
    assert_eq!(code(&out), Some(1), "{}", text(&out));
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
        .oci_index_attested("acme/multi", "1.0", &[2])
        .await;
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let source_ref = format!("{}/acme/multi:1.0", src.host);
    let chart = chart(
        &helm,
        dir.path(),
        "relocked",
        &[("multi".to_owned(), source_ref.clone())],
    );
    let plain = [src.host.as_str(), dst.host.as_str()];
    let lock = dir.path().join("mirror.lock");
    let first_to = format!("{}/first", dst.host);
    let out = helm_copy(
        &helm,
        &chart,
        &first_to,
        &plain,
        &[
            "--platform",
            "linux/arm64",
            "-o",
            lock.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let narrowed = report_image(&report(&out), &source_ref)["digest"]
        .as_str()
        .expect("a digest at the target")
        .to_owned();
    assert_ne!(narrowed, index.digest);

    let second_to = format!("{}/second", dst.host);
    let out = helm_copy(
        &helm,
        &chart,
        &second_to,
        &plain,
        &[
            "--platform",
            "linux/arm64",
            "--lock",
            lock.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(
        code(&out),
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
        d.head_manifest("second/acme/multi", "1.0").await.as_deref(),
        Some(narrowed.as_str())
    );
    assert!(
        d.fetch_manifest("second/acme/multi", &children[2].digest)
            .await
            .is_some_and(|m| m.bytes == children[2].bytes)
    );
}

// --- 2. two charts, one run -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn two_charts_share_blobs() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(dst.addr);
    let s = src.seeder();
    let base = s.layers("acme/base-a", &[40_000, 80_000]).await;
    let base_a = s.image_on_base("acme/base-a", Some("1"), &base, 1000).await;
    let base_b = s.image_on_base("team/base-b", Some("1"), &base, 2000).await;
    // And one image both charts use.
    let single = s.image("acme/single", Some("2"), AMD64, false).await;
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let single_ref = format!("{}/acme/single:2", src.host);
    let alpha = chart(
        &helm,
        dir.path(),
        "alpha",
        &[
            ("base-a".to_owned(), format!("{}/acme/base-a:1", src.host)),
            ("single".to_owned(), single_ref.clone()),
        ],
    );
    let beta = chart(
        &helm,
        dir.path(),
        "beta",
        &[
            ("base-b".to_owned(), format!("{}/team/base-b:1", src.host)),
            ("single".to_owned(), single_ref.clone()),
        ],
    );
    let to_arg = format!("{}/{PREFIX}", proxy.host);
    let (a_dir, b_dir) = (
        alpha.src.display().to_string(),
        beta.src.display().to_string(),
    );
    let out = helm.run(mirror_args(
        &["copy", &a_dir, &b_dir, "--to", &to_arg],
        &[&src.host, &proxy.host],
        &["--json"],
    ));
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let report = report(&out);
    assert_eq!(report["complete"], true, "{report:#}");
    let seen = proxy.seen();

    // Every image once, copied.
    let images = [
        ("acme/base-a", "1", &base_a),
        ("team/base-b", "1", &base_b),
        ("acme/single", "2", &single),
    ];
    assert_eq!(
        report["images"].as_array().map(Vec::len),
        Some(images.len()),
        "each image once in the report: {report:#}"
    );
    let d = dst.seeder();
    for (repo, tag, pushed) in images {
        let entry = report_image(&report, &format!("{}/{repo}:{tag}", src.host));
        assert_eq!(entry["state"], "copied", "{entry:#}");
        assert_eq!(entry["digest"], pushed.digest.as_str(), "{entry:#}");
        let at = format!("{PREFIX}/{repo}");
        assert_eq!(
            d.head_manifest(&at, tag).await.as_deref(),
            Some(pushed.digest.as_str()),
            "{at}:{tag}"
        );
        for blob in blob_digests(&pushed.bytes) {
            assert!(d.blob_exists(&at, &blob).await, "blob {blob} in {at}");
        }
    }

    // Each blob's body went over the wire once, whole.
    let sessions = proxy.uploads();
    for u in &sessions {
        assert!(
            u.committed && u.digest.is_some(),
            "an upload session was left unfinished: {u:?}\n{}",
            trail(&seen)
        );
    }
    let by_digest = uploads_by_digest(&sessions);
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, pushed) in images {
        sizes.extend(blob_sizes(&pushed.bytes));
    }
    for (blob, size) in &sizes {
        let sent = by_digest.get(blob).map_or(&[][..], Vec::as_slice);
        assert_eq!(
            sent.len(),
            1,
            "blob {blob} uploaded {} times:\n{}",
            sent.len(),
            trail(&seen)
        );
        assert_eq!(sent[0].bytes, *size, "blob {blob}: {:?}", sent[0]);
    }
    for (digest, sent) in &by_digest {
        assert_eq!(sent.len(), 1, "blob {digest} uploaded {} times", sent.len());
    }
    // Both charts, at …/charts/NAME:VERSION.
    let charts = report["charts"].as_array().expect("charts in the report");
    assert_eq!(charts.len(), 2, "{report:#}");
    for c in [&alpha, &beta] {
        let row = charts
            .iter()
            .find(|r| r["name"] == c.name.as_str())
            .unwrap_or_else(|| panic!("chart {} not in the report: {report:#}", c.name));
        let destination = format!("{to_arg}/charts/{}:{}", c.name, c.version);
        assert_eq!(row["destination"], destination.as_str(), "{row:#}");
        assert_eq!(row["version"], c.version.as_str(), "{row:#}");
        assert_eq!(row["state"], "copied", "{row:#}");
        let at = format!("{PREFIX}/charts/{}", c.name);
        let digest = d.head_manifest(&at, &c.version).await;
        assert!(digest.is_some(), "{at}:{} is not at the target", c.version);
        assert_eq!(row["digest"].as_str(), digest.as_deref(), "{row:#}");
        let shown = show_chart(
            &helm,
            &format!("oci://{}/{PREFIX}/charts/{}", dst.host, c.name),
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
    let s = src.seeder();
    let base = s.layers("acme/base-a", &[30_000, 50_000]).await;
    let base_a = s.image_on_base("acme/base-a", Some("1"), &base, 1000).await;
    let base_b = s.image_on_base("team/base-b", Some("1"), &base, 2000).await;
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(
        &helm,
        dir.path(),
        "guarded",
        &[
            ("base-a".to_owned(), format!("{}/acme/base-a:1", src.host)),
            ("base-b".to_owned(), format!("{}/team/base-b:1", src.host)),
        ],
    );
    let to_arg = format!("{}/{PREFIX}", proxy.host);
    let token_host = token.host();
    let plain = [src.host.as_str(), proxy.host.as_str(), token_host.as_str()];
    let args = copy_args(&chart, &to_arg, &plain, &["--json"]);

    // Without credentials the target refuses, and nothing lands.
    let out = helm.run(&args);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{} refused access", proxy.host)),
        "the error names the target: {}",
        text(&out)
    );
    for repo in ["acme/base-a", "team/base-b"] {
        let at = format!("{PREFIX}/{repo}");
        assert!(dst.seeder().tags(&at).await.is_empty(), "{at} got tags");
    }

    // With them (a docker config.json named by DOCKER_CONFIG).
    let config = DockerConfig::with_auth(&proxy.host, USER, PASSWORD);
    let before = token.requests().len();
    let mark = proxy.mark();
    let out = helm
        .command(&args)
        .env("DOCKER_CONFIG", config.dir.path())
        .output()
        .expect("run helm");
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let report = report(&out);
    assert_eq!(report["complete"], true, "{report:#}");
    assert_eq!(report["charts"][0]["state"], "copied", "{report:#}");
    let d = dst.seeder();
    for (repo, pushed) in [("acme/base-a", &base_a), ("team/base-b", &base_b)] {
        let entry = report_image(&report, &format!("{}/{repo}:1", src.host));
        assert_eq!(entry["state"], "copied", "{entry:#}");
        assert_eq!(
            d.head_manifest(&format!("{PREFIX}/{repo}"), "1")
                .await
                .as_deref(),
            Some(pushed.digest.as_str())
        );
    }

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
        format!("{PREFIX}/acme/base-a"),
        format!("{PREFIX}/team/base-b"),
        format!("{PREFIX}/charts/{}", chart.name),
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
    for blob in &base {
        let sent = by_digest.get(&blob.digest).map_or(0, Vec::len);
        assert_eq!(
            sent,
            1,
            "shared blob {} uploaded {sent} times:\n{}",
            blob.digest,
            trail(&seen)
        );
        let mounted: Vec<_> = mounts
            .iter()
            .filter(|m| m.digest == blob.digest && m.status == Some(201))
            .collect();
        assert_eq!(
            mounted.len(),
            1,
            "shared blob {}: one cross-repository mount expected:\n{}",
            blob.digest,
            trail(&seen)
        );
        let m = mounted[0];
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
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(
        &helm,
        dir.path(),
        "cached",
        &content.chart_images(&upstream.host),
    );
    let to_arg = format!("{}/{PREFIX}", dst.host);
    let mirror = format!("{}={}", upstream.host, cache_proxy.host);
    let plain = [
        upstream.host.as_str(),
        cache_proxy.host.as_str(),
        dst.host.as_str(),
    ];
    let lock = dir.path().join("copy.lock");
    let out = helm_copy(
        &helm,
        &chart,
        &to_arg,
        &plain,
        &[
            "--source-mirror",
            &mirror,
            "-o",
            lock.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let report = report(&out);
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
    for (_, repo, _, _) in content.tagged() {
        assert!(
            through_cache.contains(repo),
            "no manifest of {repo} was asked of the cache: {through_cache:?}"
        );
    }
    // Upstream names and the source digests, in the report and the lock.
    check_report_images(&report, &content, &upstream.host, &to_arg, "copied");
    assert_copied(&content, &dst.seeder(), false).await;
    let locked = yaml(&lock);
    for (_, repo, tag, pushed) in content.tagged() {
        let l = lock_entry(&locked, &format!("{repo}:{tag}"));
        assert_eq!(
            l["image"],
            format!("{}/{repo}:{tag}", upstream.host).as_str(),
            "{l:#}"
        );
        assert_eq!(l["digest"], pushed.digest.as_str(), "{l:#}");
        assert_eq!(
            l["mirror"],
            format!("{to_arg}/{repo}:{tag}").as_str(),
            "{l:#}"
        );
    }

    // `helm mirror lock` through the cache.
    let tgz = chart.tgz.display().to_string();
    let resolved = dir.path().join("resolved.lock");
    let out = helm.run(mirror_args(
        &["lock", &tgz],
        &plain,
        &["--source-mirror", &mirror, "-o", resolved.to_str().unwrap()],
    ));
    assert_eq!(code(&out), Some(0), "helm mirror lock: {}", text(&out));
    let locked = yaml(&resolved);
    for (_, repo, tag, pushed) in content.tagged() {
        let l = lock_entry(&locked, &format!("{repo}:{tag}"));
        assert_eq!(
            l["image"],
            format!("{}/{repo}:{tag}", upstream.host).as_str(),
            "{l:#}"
        );
        assert_eq!(l["digest"], pushed.digest.as_str(), "{l:#}");
    }
    // `helm mirror verify` against it, through the cache.
    let out = helm.run(mirror_args(
        &["verify", &tgz, "--lock", resolved.to_str().unwrap()],
        &plain,
        &["--source-mirror", &mirror],
    ));
    assert_eq!(code(&out), Some(0), "helm mirror verify: {}", text(&out));
    // `helm mirror status` of the copy, through the cache.
    let out = helm.run(mirror_args(
        &["status", &tgz, "--to", &to_arg],
        &plain,
        &["--source-mirror", &mirror, "--json"],
    ));
    assert_eq!(code(&out), Some(0), "helm mirror status: {}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&out)));
    let rows = rows.as_array().expect("status rows");
    assert_eq!(rows.len(), content.tagged().len(), "{rows:#?}");
    for (_, repo, tag, pushed) in content.tagged() {
        let row = rows
            .iter()
            .find(|r| r["image"] == format!("{}/{repo}:{tag}", upstream.host).as_str())
            .unwrap_or_else(|| panic!("{repo}:{tag} not in the status: {rows:#?}"));
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
    let single = s.image("acme/single", Some("2"), AMD64, false).await;
    let (legacy, _) = s.docker_list("acme/legacy", "3").await;
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(
        &helm,
        dir.path(),
        "ocichart",
        &[
            ("single".to_owned(), format!("{}/acme/single:2", src.host)),
            ("legacy".to_owned(), format!("{}/acme/legacy:3", src.host)),
        ],
    );
    let out = helm.run([
        "push",
        chart.tgz.to_str().unwrap(),
        &format!("oci://{}/charts", src.host),
        "--plain-http",
    ]);
    assert!(out.status.success(), "helm push: {}", text(&out));
    let at_source = format!("charts/{}", chart.name);
    let pushed = s
        .fetch_manifest(&at_source, &chart.version)
        .await
        .expect("the chart pushed to the source");
    let source_digest = sha256(&pushed.bytes);

    let to_arg = format!("{}/{PREFIX}", dst.host);
    let oci = format!("oci://{}/charts/{}", src.host, chart.name);
    let args = mirror_args(
        &["copy", &oci, "--version", &chart.version, "--to", &to_arg],
        &[&src.host, &dst.host],
        &["--json"],
    );
    let out = helm.run(&args);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let first = report(&out);
    assert_eq!(first["complete"], true, "{first:#}");
    let destination = format!("{to_arg}/charts/{}:{}", chart.name, chart.version);
    let charts = first["charts"].as_array().expect("charts in the report");
    assert_eq!(charts.len(), 1, "{first:#}");
    assert_eq!(charts[0]["name"], chart.name.as_str(), "{first:#}");
    assert_eq!(charts[0]["version"], chart.version.as_str(), "{first:#}");
    assert_eq!(charts[0]["destination"], destination.as_str(), "{first:#}");
    assert_eq!(charts[0]["digest"], source_digest.as_str(), "{first:#}");
    assert_eq!(charts[0]["state"], "copied", "{first:#}");

    // The same manifest at the target, the same archive out of it.
    let d = dst.seeder();
    let at = format!("{PREFIX}/charts/{}", chart.name);
    let copied = d
        .fetch_manifest(&at, &chart.version)
        .await
        .unwrap_or_else(|| panic!("{destination} is not at the target"));
    assert_eq!(copied.digest.as_deref(), Some(source_digest.as_str()));
    assert!(
        copied.bytes == pushed.bytes,
        "the chart manifest was rewritten:\n{}\nvs\n{}",
        String::from_utf8_lossy(&copied.bytes),
        String::from_utf8_lossy(&pushed.bytes)
    );
    assert_chart_pulled(
        &helm,
        &chart,
        &format!("oci://{to_arg}/charts/{}", chart.name),
        dir.path(),
    );

    // Its images too (and not the chart as an image).
    assert_eq!(
        first["images"].as_array().map(Vec::len),
        Some(2),
        "{first:#}"
    );
    for (repo, tag, digest) in [
        ("acme/single", "2", &single.digest),
        ("acme/legacy", "3", &legacy.digest),
    ] {
        let entry = report_image(&first, &format!("{}/{repo}:{tag}", src.host));
        assert_eq!(entry["state"], "copied", "{entry:#}");
        assert_eq!(
            d.head_manifest(&format!("{PREFIX}/{repo}"), tag)
                .await
                .as_deref(),
            Some(digest.as_str())
        );
    }

    // Again: the chart is present.
    let out = helm.run(&args);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let again = report(&out);
    assert_eq!(again["charts"][0]["state"], "present", "{again:#}");
    assert_eq!(again["blobs"]["uploaded"], 0, "{again:#}");
}

// --- 6. provenance ------------------------------------------------------------------------------

/// A throw-away GPG home with one key; its gpg-agent is stopped on Drop.
struct GpgKey {
    home: tempfile::TempDir,
    /// The secret keyring in the legacy format Helm reads.
    secring: PathBuf,
    pubring: PathBuf,
}

impl GpgKey {
    fn generate(uid: &str) -> GpgKey {
        let home = tempfile::Builder::new().prefix("gpg-").tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let key = GpgKey {
            secring: home.path().join("secring.gpg"),
            pubring: home.path().join("pubring.gpg"),
            home,
        };
        let out = key.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "default",
            "default",
            "never",
        ]);
        assert!(out.status.success(), "gpg --quick-gen-key: {}", text(&out));
        for (what, path) in [
            ("--export-secret-keys", &key.secring),
            ("--export", &key.pubring),
        ] {
            let out = key.gpg(&[what]);
            assert!(
                out.status.success() && !out.stdout.is_empty(),
                "gpg {what}: {}",
                text(&out)
            );
            std::fs::write(path, &out.stdout).unwrap();
        }
        key
    }

    fn gpg(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes"])
            .args(args)
            .output()
            .expect("run gpg")
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

const PROVENANCE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

#[tokio::test(flavor = "multi_thread")]
async fn chart_provenance_verifies() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let single = src
        .seeder()
        .image("acme/single", Some("2"), AMD64, false)
        .await;
    let key = GpgKey::generate("purser test <t@example>");
    let foreign = GpgKey::generate("someone else <else@example>");
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let unsigned = chart(
        &helm,
        dir.path(),
        "signed",
        &[("single".to_owned(), format!("{}/acme/single:2", src.host))],
    );
    let signed_dir = dir.path().join("signed");
    let out = helm.run([
        "package",
        "--sign",
        "--key",
        "purser test",
        "--keyring",
        key.secring.to_str().unwrap(),
        unsigned.src.to_str().unwrap(),
        "--destination",
        signed_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "helm package --sign: {}", text(&out));
    let tgz = signed_dir.join(format!("{}-{}.tgz", unsigned.name, unsigned.version));
    let prov = std::fs::read(tgz.with_extension("tgz.prov")).expect("the .prov beside the archive");
    let chart = Chart {
        bytes: std::fs::read(&tgz).unwrap(),
        tgz,
        ..unsigned
    };

    let to_arg = format!("{}/{PREFIX}", dst.host);
    let out = helm_copy(&helm, &chart, &to_arg, &[&src.host, &dst.host], &["--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let report = report(&out);
    assert_eq!(report["charts"][0]["state"], "copied", "{report:#}");
    let d = dst.seeder();
    assert_eq!(
        d.head_manifest(&format!("{PREFIX}/acme/single"), "2")
            .await
            .as_deref(),
        Some(single.digest.as_str())
    );

    // The provenance is a layer of the chart, byte for byte.
    let at = format!("{PREFIX}/charts/{}", chart.name);
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
    let reference = format!("oci://{to_arg}/charts/{}", chart.name);
    let pull = |keyring: &Path, into: &str| {
        let dest = dir.path().join(into);
        std::fs::create_dir_all(&dest).unwrap();
        let out = helm.run([
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
    let pulled = std::fs::read(dest.join(format!("{}-{}.tgz", chart.name, chart.version)))
        .expect("the pulled archive");
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
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart(
        &helm,
        dir.path(),
        "planned",
        &content.chart_images(&src.host),
    );
    let to_arg = format!("{}/{PREFIX}", proxy.host);
    let plain = [src.host.as_str(), proxy.host.as_str()];

    let out = helm_copy(&helm, &chart, &to_arg, &plain, &["--dry-run", "--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let plan = report(&out);
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

    let out = helm_copy(&helm, &chart, &to_arg, &plain, &["--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let done = report(&out);
    assert_eq!(done["complete"], true, "{done:#}");
    let counts = |r: &Value| (r["blobs"]["unique"].as_u64(), r["bytes"]["unique"].as_u64());
    assert_eq!(
        counts(&done),
        counts(&plan),
        "(blobs, bytes) planned vs copied: plan {:#} copy {:#}",
        plan["blobs"],
        done["blobs"]
    );
    assert_eq!(
        done["bytes"]["uploaded"], plan["bytes"]["unique"],
        "an empty target gets every planned byte once: {done:#}"
    );
    assert_eq!(
        done["blobs"]["uploaded"], plan["blobs"]["unique"],
        "an empty target gets every planned blob once: {done:#}"
    );
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
