//! `helm mirror export`, `import` and `inspect` end to end: real Helm 4 runs the installed
//! `mirror` plugin (the purser binary), exports a chart, its images, signatures and referrers
//! from one real registry on loopback into a bundle file, and imports that into another:
//! distribution 2.8 (no referrers API) and oci-registry (OCI 1.1), both ways. Nothing is mocked.

use crate::support;

use support::bundle::{export, import, inspect, s};
use support::copy::{
    BASE_A, BASE_B, Content, Job, SharedBase, assert_copied, assert_exit, assert_nothing_uploaded,
    assert_tag_at, chart, chart_images, check_lock_images, report, yaml,
};
use support::{Flavour, Registry};

async fn round_trip(from: Flavour, to: Flavour) {
    let src = Registry::start(from);
    let dst = Registry::start(to);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("bundled", &content.images(), &src.host, &dst.host);
    let bundle = job.path("bundle.tar");
    let exported = export(&job, &bundle, &[], 0);
    assert_eq!(exported["complete"], true, "{exported:#}");

    let lock = job.path("mirror.lock");
    let imported = import(&job, &[&bundle], &["-o", s(&lock)], 0);
    assert_eq!(imported["complete"], true, "{imported:#}");
    assert_copied(&content, &dst.seeder(), to == Flavour::Oci).await;
    job.assert_chart_pulled();
    check_lock_images(&yaml(&lock), &content.tagged(), &src.host);
    job.assert_relocated(&lock, &content.tagged());

    let again = import(&job, &[&bundle], &[], 0);
    assert_nothing_uploaded(&again);
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_distribution_to_oci() {
    round_trip(Flavour::Distribution, Flavour::Oci).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_oci_to_distribution() {
    round_trip(Flavour::Oci, Flavour::Distribution).await;
}

/// Two charts whose images share base layers, in one bundle: each blob is stored once, both
/// charts are listed and imported.
#[tokio::test(flavor = "multi_thread")]
async fn two_charts_share_one_bundle_each_blob_once() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let shared = SharedBase::seed(&src.seeder(), &[40_000, 30_000]).await;
    let job = Job::new("first", &[BASE_A], &src.host, &dst.host);
    let second = chart(
        &job.helm,
        job.dir.path(),
        "second",
        &chart_images(&src.host, &[BASE_B]),
    );
    let bundle = job.path("two.tar");
    let out = job.mirror(
        &[
            "export",
            s(&job.chart.tgz),
            s(&second.tgz),
            "-o",
            s(&bundle),
        ],
        &["--json"],
    );
    assert_exit(&out, 0);
    let exported = report(&out);
    assert_eq!(
        exported["charts"].as_array().map(Vec::len),
        Some(2),
        "{exported:#}"
    );

    // Every blobs/ member once; the shared base layers among them.
    let listing = std::process::Command::new("tar")
        .args(["-tf", s(&bundle)])
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    let blobs: Vec<&str> = names.lines().filter(|n| n.starts_with("blobs/")).collect();
    let unique: std::collections::BTreeSet<&str> = blobs.iter().copied().collect();
    assert_eq!(
        blobs.len(),
        unique.len(),
        "a blob is stored twice:\n{names}"
    );
    for base in shared.base_digests() {
        let member = format!("blobs/sha256/{}", base.trim_start_matches("sha256:"));
        assert!(unique.contains(member.as_str()), "no {member} in:\n{names}");
    }
    assert_eq!(
        exported["blobs"].as_u64(),
        Some(blobs.len() as u64),
        "{exported:#}"
    );

    let inspection = inspect(&job, &[&bundle], 0);
    let charts: Vec<&str> = inspection["charts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(charts.len(), 2, "{inspection:#}");
    assert!(
        charts.contains(&"first") && charts.contains(&"second"),
        "{inspection:#}"
    );

    let imported = import(&job, &[&bundle], &[], 0);
    assert_eq!(imported["complete"], true, "{imported:#}");
    let d = dst.seeder();
    for (image, pushed) in shared.images() {
        assert_tag_at(&d, &image, &pushed.digest, "the source digest").await;
    }
    assert_eq!(
        imported["charts"].as_array().map(Vec::len),
        Some(2),
        "{imported:#}"
    );
}
