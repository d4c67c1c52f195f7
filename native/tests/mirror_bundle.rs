//! `helm mirror export`, `import` and `inspect` end to end: real Helm 4 runs the installed
//! `mirror` plugin (the purser binary), exports a chart, its images, signatures and referrers
//! from one real registry on loopback into a bundle file, and imports that into another:
//! distribution 2.8 (no referrers API) and oci-registry (OCI 1.1), both ways. Nothing is mocked.

mod support;

use std::path::Path;

use serde_json::Value;
use support::copy::{
    Content, Job, assert_copied, assert_exit, assert_nothing_uploaded, check_lock_images, report,
    yaml,
};
use support::{Flavour, Registry};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `helm mirror export CHART -o BUNDLE --json EXTRA…`: its report, after exit `code`.
fn export(job: &Job, bundle: &Path, extra: &[&str], code: i32) -> Value {
    let tgz = job.chart.tgz.display().to_string();
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = job.mirror(&["export", &tgz, "-o", s(bundle)], &args);
    assert_exit(&out, code);
    report(&out)
}

/// `helm mirror import BUNDLES… --to TARGET/PREFIX --json EXTRA…`: its report, after exit `code`.
fn import(job: &Job, bundles: &[&Path], extra: &[&str], code: i32) -> Value {
    let mut words = vec!["import"];
    words.extend(bundles.iter().map(|p| s(p)));
    words.extend(["--to", &job.to]);
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = job.mirror(&words, &args);
    assert_exit(&out, code);
    report(&out)
}

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
