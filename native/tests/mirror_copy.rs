//! `helm mirror copy` end to end: real Helm 4 runs the installed `mirror` plugin (the purser
//! binary) and copies a chart's images, and the chart, from one real registry on loopback to
//! another: distribution 2.8 (no referrers API: the `sha256-<hex>` fallback tag) and
//! oci-registry (OCI 1.1, referrers API), both ways. Content is pushed first by the tests
//! (support/seed.rs keeps the exact bytes), faults come from a real TCP proxy in front of a
//! registry (support/proxy.rs), which also counts every request. Nothing is mocked.
//!
//! The chart is generated at run time (its image references hold the source registry's port)
//! and packaged with `helm package`, so the archive the mirror must hold is well defined.
//!
//! The first tests (`support_*`) check the seeding and the proxy themselves.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::copy::{
    BASE_A, BASE_B, BIG, Content, Job, LEGACY, NOTHERE, SBOM_TYPE, SINGLE, SharedBase,
    assert_big_layer_moved, assert_copied, assert_exit, assert_mounted_once,
    assert_no_partial_tags, assert_nothing_uploaded, assert_sent_once, assert_tag_at,
    assert_uploads_finished, check_lock_images, check_report_images, report, report_chart,
    report_image, seed_legacy, seed_single, stderr, trail, uploads_by_digest, yaml,
};
use support::helm::text;
use support::proxy::{Upload, uploads};
use support::seed::{
    self, AMD64, OCI_INDEX, OCI_MANIFEST, Seeder, blob_digests, blob_sizes, child_digests,
    digest_tag, random_u64, sha256,
};
use support::{Fault, FaultProxy, Flavour, Registry, Rule, crane_copy, run_measuring_peak_rss};

// --- 1. everything, byte for byte -------------------------------------------------------------

async fn copy_everything(from: Flavour, to: Flavour) {
    let src = Registry::start(from);
    let dst = Registry::start(to);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("everything", &content.images(), &src.host, &dst.host);
    let lock = job.path("mirror.lock");
    let first = job.copy_report(&["-o", lock.to_str().unwrap()]);
    assert_eq!(first["complete"], true, "{first:#}");
    check_report_images(&first, &content.tagged(), &src.host, &job.to, "copied");
    assert_eq!(
        first["charts"].as_array().map(Vec::len),
        Some(1),
        "{first:#}"
    );
    report_chart(&first, &job.chart, &job.to, "copied");
    assert!(
        first["blobs"]["uploaded"].as_u64().unwrap_or(0) > 0
            && first["bytes"]["uploaded"].as_u64().unwrap_or(0) > 0,
        "{first:#}"
    );

    assert_copied(&content, &dst.seeder(), to == Flavour::Oci).await;
    job.assert_chart_pulled();

    // The lock of the copy: the source names, the digests at the target (here the same).
    check_lock_images(&yaml(&lock), &content.tagged(), &src.host);

    // Helm renders the chart with every image moved to the mirror and pinned to the digest there.
    let rendered = job.assert_relocated(&lock, &content.tagged());
    assert!(
        !rendered.contains(&src.host),
        "an image still points at the source:\n{rendered}"
    );

    // Again: everything is there, nothing is sent.
    let again = job.copy_report(&[]);
    check_report_images(&again, &content.tagged(), &src.host, &job.to, "present");
    report_chart(&again, &job.chart, &job.to, "present");
    assert_nothing_uploaded(&again);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_everything_byte_exact_distribution_to_oci() {
    copy_everything(Flavour::Distribution, Flavour::Oci).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_everything_byte_exact_oci_to_distribution() {
    copy_everything(Flavour::Oci, Flavour::Distribution).await;
}

// --- 2. each blob sent once; shared layers mounted --------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn blobs_sent_once_and_mounted() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(dst.addr);
    let shared = SharedBase::seed(&src.seeder(), &[40_000, 80_000]).await;
    let job = Job::new("shared", &[BASE_A, BASE_B], &src.host, &proxy.host);
    let lock = job.path("copy.lock");
    let first = job.copy_report(&["-o", lock.to_str().unwrap()]);
    let seen = proxy.seen();

    let blobs_a: BTreeSet<String> = blob_digests(&shared.a.bytes).into_iter().collect();
    let blobs_b: BTreeSet<String> = blob_digests(&shared.b.bytes).into_iter().collect();
    let base = shared.base_digests();
    assert_eq!(
        blobs_a
            .intersection(&blobs_b)
            .cloned()
            .collect::<BTreeSet<_>>(),
        base
    );
    let sessions = uploads(&seen);
    assert_uploads_finished(&sessions, &seen);
    let by_digest = uploads_by_digest(&sessions);
    let (repo_a, repo_b) = (BASE_A.target_repo(), BASE_B.target_repo());
    for blob in blobs_a.union(&blobs_b) {
        assert_sent_once(&by_digest, blob, &seen);
    }
    let mounts = support::proxy::mounts(&seen);
    for blob in &base {
        let uploaded_to = &by_digest[blob][0].repository;
        let other = if *uploaded_to == repo_a {
            &repo_b
        } else {
            &repo_a
        };
        let mount = assert_mounted_once(&mounts, blob, &seen);
        assert_eq!(&mount.repository, other, "{mount:?}");
        assert_eq!(
            mount.from.as_deref(),
            Some(uploaded_to.as_str()),
            "{mount:?}"
        );
    }
    assert!(
        seen.iter().all(|s| s.query("origin").is_none()),
        "a request carried an origin parameter:\n{}",
        trail(&seen)
    );
    // The numbers the report gives agree with what went over the wire (the chart's two blobs
    // may or may not be counted with the images').
    let image_sessions: Vec<&Upload> = sessions
        .iter()
        .filter(|u| u.repository != job.chart.target_repo())
        .collect();
    let image_bytes: u64 = image_sessions.iter().map(|u| u.bytes).sum();
    let all_bytes: u64 = sessions.iter().map(|u| u.bytes).sum();
    assert_eq!(first["blobs"]["mounted"], 2, "{first:#}");
    let counted = (
        first["blobs"]["uploaded"].as_u64().unwrap_or(u64::MAX),
        first["bytes"]["uploaded"].as_u64().unwrap_or(u64::MAX),
    );
    assert!(
        counted == (image_sessions.len() as u64, image_bytes)
            || counted == (sessions.len() as u64, all_bytes),
        "report {counted:?} vs the wire: images {} blobs {image_bytes} B, all {} blobs {all_bytes} B",
        image_sessions.len(),
        sessions.len()
    );

    // With the lock of the copy: one HEAD per image and one for the chart, nothing else.
    let mark = proxy.mark();
    let out = job.copy(&["--lock", lock.to_str().unwrap(), "--json"]);
    assert_exit(&out, 0);
    let again = proxy.seen_since(mark);
    assert!(
        again.iter().all(|s| s.method == "HEAD" && s.is_manifest()),
        "only manifest HEADs expected:\n{}",
        trail(&again)
    );
    let repos: BTreeSet<String> = again
        .iter()
        .filter_map(|s| s.repository().map(str::to_owned))
        .collect();
    let expected = BTreeSet::from([repo_a, repo_b, job.chart.target_repo()]);
    assert_eq!(
        again.len(),
        3,
        "one HEAD per image and the chart:\n{}",
        trail(&again)
    );
    assert_eq!(repos, expected, "{}", trail(&again));
}

// --- 3. faults on both sides ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn survives_random_faults() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let content = Content::seed(&src.seeder()).await;
    let (seed_src, seed_dst) = (random_u64(), random_u64());
    let src_proxy = FaultProxy::start(src.addr);
    let dst_proxy = FaultProxy::start(dst.addr);
    src_proxy.add(Rule::random(0.2, seed_src));
    dst_proxy.add(Rule::random(0.2, seed_dst));
    let job = Job::new("flaky", &content.images(), &src_proxy.host, &dst_proxy.host);
    let started = Instant::now();
    let out = job.copy(&["--retries", "10", "--json"]);
    let faults = |p: &FaultProxy| p.seen().iter().filter(|s| s.action != "forwarded").count();
    let seeds = format!(
        "seeds: source {seed_src}, target {seed_dst}; faults: source {} of {}, target {} of {}; {:?}",
        faults(&src_proxy),
        src_proxy.seen().len(),
        faults(&dst_proxy),
        dst_proxy.seen().len(),
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(0), "{seeds}\n{}", text(&out));
    assert!(
        faults(&src_proxy) > 0 && faults(&dst_proxy) > 0,
        "no fault was injected: {seeds}"
    );
    let report = report(&out);
    assert_eq!(report["complete"], true, "{seeds}\n{report:#}");
    check_report_images(
        &report,
        &content.tagged(),
        &src_proxy.host,
        &job.to,
        "copied",
    );
    assert_copied(&content, &dst.seeder(), false).await;
    eprintln!("{seeds}");
}

// --- 4. killed half-way, then resumed ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn resume_after_kill() {
    let src = Registry::start(Flavour::Distribution);
    // oci-registry takes a manifest whose blobs are missing (distribution refuses it), so a
    // copy that tags too early would show here.
    let dst = Registry::start(Flavour::Oci);
    let proxy = FaultProxy::start(dst.addr);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("resumed", &content.images(), &src.host, &proxy.host);
    proxy.add(Rule::all(Fault::Slow(Duration::from_millis(120))));

    let log = job.path("killed.log");
    let mut child = job
        .purser(&["--concurrency", "2"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start purser mirror copy");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.uploads().iter().any(|u| u.committed) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the copy ended ({status}) before a blob was committed:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "no blob committed within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delay = Duration::from_millis(random_u64() % 1500);
    tokio::time::sleep(delay).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the copy finished within {delay:?} of its first commit: nothing left to kill (slow the proxy down)"
    );
    child.kill().expect("kill -9 the copy");
    child.wait().unwrap();
    // Requests in flight at the proxy still reach the registry: let them land.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = proxy.seen();
    // (repository, digest) of every blob the registry committed before the kill.
    let committed: BTreeSet<(String, String)> = uploads(&before)
        .into_iter()
        .filter(|u| u.committed)
        .filter_map(|u| Some((u.repository, u.digest?)))
        .collect();
    let tagged = assert_no_partial_tags(&dst.seeder()).await;
    eprintln!(
        "killed {delay:?} after the first commit: {} blobs committed, tags: {tagged:?}",
        committed.len()
    );

    proxy.clear();
    let mark = proxy.mark();
    let report = job.copy_report(&[]);
    assert_eq!(report["complete"], true, "{report:#}");
    let copied = report["images"].as_array().map_or(0, |images| {
        images.iter().filter(|i| i["state"] == "copied").count()
    });
    assert!(
        copied > 0,
        "the kill came after every image was copied: {report:#}"
    );
    let rerun = proxy.seen_since(mark);
    let resent: Vec<Upload> = uploads(&rerun)
        .into_iter()
        .filter(|u| {
            u.digest
                .as_ref()
                .is_some_and(|d| committed.contains(&(u.repository.clone(), d.clone())))
        })
        .collect();
    let about = |seen: &[support::Seen], digests: &BTreeSet<&String>| {
        let about: Vec<support::Seen> = seen
            .iter()
            .filter(|s| {
                digests
                    .iter()
                    .any(|d| s.path.contains(d.trim_start_matches("sha256:")))
            })
            .cloned()
            .collect();
        trail(&about)
    };
    let digests: BTreeSet<&String> = resent.iter().filter_map(|u| u.digest.as_ref()).collect();
    assert!(
        resent.is_empty(),
        "blobs committed to a repository before the kill were uploaded to it again: {resent:#?}\nbefore the kill:\n{}\nthe second run:\n{}",
        about(&before, &digests),
        about(&rerun, &digests)
    );
    assert_copied(&content, &dst.seeder(), true).await;
    assert_no_partial_tags(&dst.seeder()).await;
}

// --- 5. a 1 GiB layer in little memory --------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn large_layer_low_memory() {
    const SIZE: u64 = 1 << 30;
    let src = Registry::start(Flavour::Oci); // blobs on disk
    let dst = Registry::start(Flavour::Distribution);
    let started = Instant::now();
    let (image, layer) = src.seeder().large_image(BIG.repo, BIG.tag, SIZE).await;
    let seeded = started.elapsed();
    let job = Job::new("big", &[BIG], &src.host, &dst.host);
    let copy_started = Instant::now();
    let (out, peak_kib) = run_measuring_peak_rss(job.purser(&["--json"]), &job.path("copy.log"));
    let copied = copy_started.elapsed();
    assert_exit(&out, 0);
    eprintln!(
        "1 GiB layer: seeded in {seeded:?}, copied in {copied:?}, purser peak RSS {} MiB",
        peak_kib / 1024
    );
    assert_big_layer_moved(&dst.seeder(), &image, &layer, &[("copy", peak_kib)]).await;
}

// --- 6. errors --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_fails_alone() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let s = src.seeder();
    let single = seed_single(&s).await;
    let (legacy, _) = seed_legacy(&s).await;
    let job = Job::new("gappy", &[SINGLE, LEGACY, NOTHERE], &src.host, &dst.host);

    let out = job.copy(&[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("acme/nothere:9") && err.contains(&src.host),
        "the error names the image and its registry: {err}"
    );
    let d = dst.seeder();
    for (image, pushed) in [(SINGLE, &single), (LEGACY, &legacy)] {
        assert_tag_at(&d, &image, &pushed.digest, "the other images are copied").await;
    }
    assert!(d.tags(&NOTHERE.target_repo()).await.is_empty());

    let report = job.copy_report(&["--allow-missing"]);
    for (image, state) in [(NOTHERE, "missing"), (SINGLE, "present")] {
        let source = image.at(&src.host);
        assert_eq!(report_image(&report, &source)["state"], state, "{report:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_refusing_pushes_gets_nothing_tagged() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(dst.addr);
    for method in ["POST", "PUT", "PATCH"] {
        proxy.add(Rule::all(Fault::Status(403)).method(method));
    }
    let s = src.seeder();
    seed_single(&s).await;
    seed_legacy(&s).await;
    let job = Job::new("refused", &[SINGLE, LEGACY], &src.host, &proxy.host);
    let out = job.copy(&[]);
    assert_exit(&out, 1);
    assert!(
        proxy.count("POST") + proxy.count("PUT") > 0,
        "the copy never tried to push"
    );
    assert_eq!(
        dst.seeder().catalog().await,
        Vec::<String>::new(),
        "nothing reached the target"
    );
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    let lower = err.to_lowercase();
    assert!(
        err.contains(&proxy.host) && (lower.contains("push") || lower.contains("access")),
        "the error names the target registry and says pushing is refused: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_that_does_not_match_its_digest_is_refused() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(src.addr);
    let s = src.seeder();
    let single = seed_single(&s).await;
    let (legacy, _) = seed_legacy(&s).await;
    // Its second layer comes back with one byte changed, however often it is asked for.
    let layer = blob_digests(&single.bytes)[2].clone();
    proxy.add(Rule::path(&format!("/blobs/{layer}"), Fault::CorruptBody, usize::MAX).method("GET"));
    let job = Job::new("corrupt", &[SINGLE, LEGACY], &proxy.host, &dst.host);
    let out = job.copy(&["--retries", "2"]);
    assert_exit(&out, 1);
    assert!(
        proxy.seen().iter().any(|s| s.action == "CorruptBody"),
        "the corrupted blob was never fetched"
    );
    let d = dst.seeder();
    let at = SINGLE.target_repo();
    assert_eq!(
        d.head_manifest(&at, SINGLE.tag).await,
        None,
        "the image is not tagged"
    );
    assert!(!d.blob_exists(&at, &layer).await);
    assert_tag_at(&d, &LEGACY, &legacy.digest, "the other image is copied").await;
    let err = stderr(&out);
    assert!(
        err.contains("acme/single:2") && err.to_lowercase().contains("digest"),
        "the error names the image and the digest mismatch: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_pushes_nothing() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(dst.addr);
    let s = src.seeder();
    let single = seed_single(&s).await;
    let shared = SharedBase::seed(&s, &[3000, 5000]).await;
    let job = Job::new("dry", &[SINGLE, BASE_A, BASE_B], &src.host, &proxy.host);

    let out = job.copy(&["--dry-run"]);
    assert_exit(&out, 0);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for image in [SINGLE, BASE_A, BASE_B] {
        let repo = image.target_repo();
        assert!(
            said.contains(&repo),
            "the dry run names the repository {repo}: {said}"
        );
    }

    // The plan as JSON: every unique blob once, with its size and the repositories it goes to.
    let json = job.copy_report(&["--dry-run"]);
    // The report with the plan under "plan", or the plan alone.
    let plan = if json["plan"].is_object() {
        &json["plan"]
    } else {
        &json
    };
    let mut unique: BTreeMap<String, u64> = BTreeMap::new();
    for m in [&single, &shared.a, &shared.b] {
        unique.extend(blob_sizes(&m.bytes));
    }
    let planned: Vec<&Value> = plan["blobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no blobs list in the plan: {plan:#}"))
        .iter()
        .collect();
    let planned_digests: Vec<&str> = planned
        .iter()
        .map(|b| b["digest"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        planned_digests.iter().collect::<BTreeSet<_>>().len(),
        planned.len(),
        "a blob planned twice: {planned_digests:#?}"
    );
    let planned_blob = |digest: &str| {
        *planned
            .iter()
            .find(|b| b["digest"] == digest)
            .unwrap_or_else(|| panic!("blob {digest} not in the plan: {plan:#}"))
    };
    for (digest, size) in &unique {
        let blob = planned_blob(digest);
        assert_eq!(blob["size"], *size, "{blob:#}");
    }
    for shared in &shared.base {
        let mut targets: Vec<&str> = planned_blob(&shared.digest)["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        targets.sort();
        assert_eq!(
            targets,
            [BASE_A, BASE_B].map(|image| format!("{}/{}", job.to, image.repo)),
            "a shared layer goes to both repositories, planned once"
        );
    }
    // Besides the images' blobs, only the chart's (its config and archive).
    let extra: Vec<&&Value> = planned
        .iter()
        .filter(|b| !unique.contains_key(b["digest"].as_str().unwrap_or("")))
        .collect();
    assert!(
        extra.len() <= 2
            && extra.iter().all(|b| {
                b["targets"].as_array().is_some_and(|t| {
                    t.iter()
                        .all(|t| t.as_str().unwrap_or("").contains("/charts/"))
                })
            }),
        "blobs planned that are not the images' or the chart's: {extra:#?}"
    );
    let planned_bytes: u64 = planned
        .iter()
        .map(|b| b["size"].as_u64().unwrap_or(0))
        .sum();
    let image_bytes: u64 = unique.values().sum();
    let chart_bytes = job.chart.bytes.len() as u64;
    assert!(
        planned_bytes >= image_bytes + chart_bytes
            && planned_bytes < image_bytes + chart_bytes + 4096,
        "planned {planned_bytes} bytes: images {image_bytes}, chart archive {chart_bytes}"
    );
    if json["blobs"].is_object() {
        assert_eq!(json["blobs"]["unique"], planned.len(), "{json:#}");
        assert_eq!(json["bytes"]["unique"], planned_bytes, "{json:#}");
        assert_eq!(json["blobs"]["uploaded"], 0, "{json:#}");
    }
    // The text plan says how many unique blobs and bytes.
    assert!(
        said.contains(&planned.len().to_string()) && said.contains(&planned_bytes.to_string()),
        "the dry run gives {} unique blobs and {planned_bytes} bytes: {said}",
        planned.len()
    );

    let writes: Vec<String> = proxy
        .seen()
        .iter()
        .filter(|s| !matches!(s.method.as_str(), "GET" | "HEAD"))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert!(
        writes.is_empty(),
        "a dry run wrote to the target: {writes:#?}"
    );
    assert_eq!(dst.seeder().catalog().await, Vec::<String>::new());
}

// --- support self-checks ----------------------------------------------------------------------

async fn seeding_works_on(flavour: Flavour) {
    let reg = Registry::start(flavour);
    let s = reg.seeder();
    let content = Content::seed(&s).await;
    for (repo, pushed) in content.manifests() {
        let got = s
            .fetch_manifest(repo, &pushed.digest)
            .await
            .unwrap_or_else(|| panic!("{repo}@{}", pushed.digest));
        assert!(got.bytes == pushed.bytes, "{repo}@{}", pushed.digest);
        assert_eq!(got.digest.as_deref(), Some(pushed.digest.as_str()));
        for blob in blob_digests(&pushed.bytes) {
            assert!(s.blob_exists(repo, &blob).await, "{repo}@{blob}");
        }
    }
    let tags = content
        .tagged()
        .into_iter()
        .map(|(image, pushed)| (image.repo, image.tag.to_owned(), pushed));
    let signatures = content
        .signatures
        .iter()
        .map(|(repo, tag, pushed)| (*repo, tag.clone(), pushed));
    for (repo, tag, pushed) in tags.chain(signatures) {
        assert_eq!(
            s.head_manifest(repo, &tag).await.as_deref(),
            Some(pushed.digest.as_str()),
            "{repo}:{tag}"
        );
    }
    for (_, tag, pushed) in &content.signatures {
        let layer: Value = serde_json::from_slice(&pushed.bytes).unwrap();
        let layer = &layer["layers"][0];
        if tag.ends_with(".sig") {
            assert_eq!(layer["mediaType"], seed::COSIGN_SIMPLESIGNING);
            assert!(layer["annotations"][seed::COSIGN_SIGNATURE_ANNOTATION].is_string());
        }
    }
    // Shared base layers: the same digests in both repositories.
    let shared = &content.shared;
    let a = blob_digests(&shared.a.bytes);
    let b = blob_digests(&shared.b.bytes);
    for blob in &shared.base {
        assert!(a.contains(&blob.digest) && b.contains(&blob.digest));
        assert!(s.blob_exists(BASE_B.repo, &blob.digest).await);
    }
    // The referrer: by the API on oci-registry, by the fallback tag on distribution.
    let referrers_api = flavour == Flavour::Oci;
    let referrer = &content.referrer;
    assert_eq!(referrer.fallback.is_none(), referrers_api);
    let from_api = s.referrers("acme/multi", &referrer.subject).await;
    assert_eq!(from_api.is_some(), referrers_api);
    // As the copy checks it, with the registry itself as "target" (PREFIX-less paths).
    let listing = match from_api {
        Some(listing) => listing,
        None => {
            let index = s
                .fetch_manifest("acme/multi", &digest_tag(&referrer.subject))
                .await
                .unwrap();
            assert_eq!(index.media_type.as_deref(), Some(OCI_INDEX));
            serde_json::from_slice(&index.bytes).unwrap()
        }
    };
    let entry = listing["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == referrer.manifest.digest.as_str())
        .unwrap_or_else(|| panic!("{listing:#}"));
    assert_eq!(entry["artifactType"], SBOM_TYPE, "{listing:#}");
    assert_eq!(entry["annotations"], referrer.annotations);
    // A second referrer on the same subject joins the fallback index.
    let second = s
        .referrer(
            "acme/multi",
            &content.multi.1[0],
            "application/x-second",
            json!({"n": "2"}),
        )
        .await;
    if let Some(index) = &second.fallback {
        assert_eq!(child_digests(&index.bytes).len(), 2);
    }
    if flavour == Flavour::Oci {
        // -blobs-dir: the blobs are files.
        let on_disk = reg
            .dir()
            .join("blobs/sha256")
            .join(shared.base[0].digest.trim_start_matches("sha256:"));
        assert!(on_disk.is_file(), "{} is not on disk", on_disk.display());
        // The artifactType filter.
        let filtered = s
            .referrers(
                "acme/multi",
                &format!("{}?artifactType=application/x-second", referrer.subject),
            )
            .await
            .unwrap();
        assert_eq!(
            filtered["manifests"].as_array().unwrap().len(),
            1,
            "{filtered:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn support_seeding_on_distribution() {
    seeding_works_on(Flavour::Distribution).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn support_seeding_on_oci_registry() {
    seeding_works_on(Flavour::Oci).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn support_proxy_streams_bodies_and_counts_uploads() {
    let reg = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(reg.addr);
    let through = Seeder::new(&format!("http://{}", proxy.host), None);
    const SIZE: u64 = 24 << 20;
    // A streamed body with a length, and one chunked.
    let sized = through.stream_blob("big/one", 1, SIZE, true).await;
    let chunked = through.stream_blob("big/two", 2, SIZE, false).await;
    let sessions = proxy.uploads();
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    let puts: Vec<bool> = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "PUT")
        .map(|s| s.chunked)
        .collect();
    assert_eq!(puts, [false, true], "one PUT with a length, one chunked");
    for (session, blob, repo) in [
        (&sessions[0], &sized, "big/one"),
        (&sessions[1], &chunked, "big/two"),
    ] {
        assert_eq!(session.repository, repo);
        assert_eq!(session.digest.as_deref(), Some(blob.digest.as_str()));
        assert_eq!(session.bytes, SIZE);
        assert!(session.committed);
    }
    for (seeder, repo, blob, why) in [
        (
            reg.seeder(),
            "big/two",
            &chunked,
            "a chunked upload is whole",
        ),
        (
            through.clone(),
            "big/one",
            &sized,
            "a large answer streams back through the proxy",
        ),
    ] {
        assert_eq!(
            seeder.blob_sha256(repo, &blob.digest).await,
            Some((blob.digest.clone(), SIZE)),
            "{why}"
        );
    }
    // A mount, as the proxy logs it.
    let http = through.client();
    let mount = http
        .post(format!(
            "http://{}/v2/big/three/blobs/uploads/?mount={}&from=big/one",
            proxy.host, sized.digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status().as_u16(), 201);
    let mounts = proxy.mounts();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].digest, sized.digest);
    assert_eq!(mounts[0].from.as_deref(), Some("big/one"));
    assert_eq!(mounts[0].repository, "big/three");
    assert_eq!(mounts[0].status, Some(201));
    // A large answer corrupted on the way keeps its length and changes its hash.
    proxy.add(Rule::blobs(Fault::CorruptBody, 1).method("GET"));
    let (digest, len) = through.blob_sha256("big/one", &sized.digest).await.unwrap();
    assert_eq!(len, SIZE);
    assert_ne!(digest, sized.digest);
    // A refused upload drains the body and answers.
    proxy.add(Rule::all(Fault::Status(403)).method("PUT"));
    let mut url = http
        .post(format!("http://{}/v2/big/four/blobs/uploads/", proxy.host))
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    if url.starts_with('/') {
        url = format!("http://{}{url}", proxy.host);
    }
    let refused = http
        .put(format!("{url}&digest={}", sha256(&[7; 100_000])))
        .body(vec![7u8; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let last = proxy.seen().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.body_len, last.status),
        ("PUT", 100_000, Some(403))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn support_large_blob_streams_to_disk() {
    let reg = Registry::start(Flavour::Oci);
    let started = Instant::now();
    let (image, layer) = reg.seeder().large_image("acme/big", "1", 96 << 20).await;
    let seeded = started.elapsed();
    let on_disk = reg
        .dir()
        .join("blobs/sha256")
        .join(layer.digest.trim_start_matches("sha256:"));
    assert_eq!(std::fs::metadata(&on_disk).unwrap().len(), 96 << 20);
    let s = reg.seeder();
    assert_eq!(
        s.blob_sha256("acme/big", &layer.digest).await,
        Some((layer.digest.clone(), 96 << 20))
    );
    assert_eq!(blob_digests(&image.bytes)[1], layer.digest);
    eprintln!("96 MiB seeded in {seeded:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn support_proxy_random_faults() {
    let reg = Registry::start(Flavour::Distribution);
    let s = reg.seeder();
    let image = s.image("acme/app", Some("1"), AMD64, false).await;
    let proxy = FaultProxy::start(reg.addr);
    proxy.add(Rule::random(0.2, 42));
    let http = s.client();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    const N: usize = 300;
    for _ in 0..N {
        let response = http
            .get(format!("http://{}/v2/acme/app/manifests/1", proxy.host))
            .header("accept", OCI_MANIFEST)
            .send()
            .await;
        let outcome = match response {
            Err(_) => "error".to_owned(),
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                match r.bytes().await {
                    Ok(body) if status == 200 && body == image.bytes => "ok".to_owned(),
                    Ok(_) if status == 429 => format!("429 retry-after {retry_after:?}"),
                    Ok(_) => status.to_string(),
                    Err(_) => "broken body".to_owned(),
                }
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    let count =
        |action: fn(&str) -> bool| proxy.seen().iter().filter(|s| action(&s.action)).count();
    let faults = count(|a| a != "forwarded");
    let slow = count(|a| a.starts_with("Slow"));
    assert!(
        (N * 10 / 100..=N * 30 / 100).contains(&faults),
        "{faults} faults in {N} requests: {outcomes:?}"
    );
    // Each kind of fault was met at least once.
    for kinds in [
        &["503"][..],
        &["429 retry-after Some(\"0\")"],
        &["broken body", "error"],
    ] {
        assert!(
            kinds.iter().any(|k| outcomes.contains_key(*k)),
            "none of {kinds:?} in {outcomes:?}"
        );
    }
    assert!(slow > 0, "{outcomes:?}");
    assert_eq!(outcomes["ok"], N - faults + slow, "{outcomes:?}");
}

/// The checks above accept a faithful copy: crane copies every tag (and the referrer by
/// digest) from distribution to oci-registry, Helm pushes the chart, `helm mirror lock`
/// writes the lock; then the same assertions as `copy_everything` run.
#[tokio::test(flavor = "multi_thread")]
async fn support_checks_accept_a_faithful_copy() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Oci);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("everything", &content.images(), &src.host, &dst.host);
    let tags = content
        .tagged()
        .into_iter()
        .map(|(image, _)| image.repo_tag());
    let signatures = content
        .signatures
        .iter()
        .map(|(repo, tag, _)| format!("{repo}:{tag}"));
    let referrer = format!("acme/multi@{}", content.referrer.manifest.digest);
    for name in tags.chain(signatures).chain([referrer]) {
        crane_copy(
            &format!("{}/{name}", src.host),
            &format!("{}/{name}", job.to),
        );
    }
    assert_copied(&content, &dst.seeder(), true).await;

    let out = job.helm.run([
        "push",
        job.chart.tgz.to_str().unwrap(),
        &format!("oci://{}/charts", job.to),
        "--plain-http",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    job.assert_chart_pulled();
    let lock = job.path("mirror.lock");
    let tgz = job.chart.tgz.display().to_string();
    let out = job.mirror(&["lock", &tgz], &["-o", lock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    job.assert_relocated(&lock, &content.tagged());
    let tags = assert_no_partial_tags(&dst.seeder()).await;
    assert!(tags.len() >= 8, "{tags:?}");
}
