//! `helm mirror export`, `import` and `inspect` end to end: real Helm 4 runs the installed
//! `mirror` plugin (the purser binary), exports a chart, its images, signatures and referrers
//! from one real registry on loopback into a bundle file, and imports that into another:
//! distribution 2.8 (no referrers API) and oci-registry (OCI 1.1), both ways. Nothing is mocked.

mod support;

use support::bundle::{export, import, s};
use support::copy::{
    Content, Job, assert_copied, assert_nothing_uploaded, check_lock_images, yaml,
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
