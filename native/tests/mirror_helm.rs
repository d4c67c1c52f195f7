//! `helm mirror` end to end: real Helm 4.2.4 runs the installed `mirror` plugin (the purser
//! binary) against a real registry on loopback holding images this test pushes first.

use crate::support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::copy::{assert_exit, lock_entry as entry, seed_legacy, seed_single, stderr, yaml};
use support::helm::{Helm, text};
use support::seed::Pushed;
use support::{FileServer, Flavour, Registry, crane_copy};
use tempfile::TempDir;

/// A chart whose three images live in the test registry.
fn chart(dir: &Path) -> PathBuf {
    let chart = dir.join("mirrored");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: mirrored\nversion: 1.0.0\nappVersion: \"1\"\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        "registry: 127.0.0.1:1\nextra: \"\"\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: {{ .Values.registry }}/acme/single:2\n      containers:\n        - name: multi\n          image: {{ .Values.registry }}/acme/multi:1.0\n        - name: legacy\n          image: {{ .Values.registry }}/acme/legacy:3\n{{- if .Values.extra }}\n        - name: extra\n          image: {{ .Values.extra }}\n{{- end }}\n",
    )
    .unwrap();
    chart
}

struct World {
    registry: Registry,
    helm: Helm,
    dir: TempDir,
    chart: PathBuf,
    single: Pushed,
    multi: (Pushed, Vec<Pushed>, Pushed),
    legacy: (Pushed, Vec<Pushed>),
}

impl World {
    async fn new() -> World {
        let registry = Registry::start(Flavour::Distribution);
        let seeder = registry.seeder();
        let single = seed_single(&seeder).await;
        let multi = seeder.oci_index("acme/multi", "1.0").await;
        let legacy = seed_legacy(&seeder).await;
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(dir.path());
        World {
            helm: Helm::with_plugins(&["mirror"]),
            registry,
            dir,
            chart,
            single,
            multi,
            legacy,
        }
    }

    /// `helm mirror ARGS… CHART --set registry=HOST --plain-http HOST`: the chart's images
    /// from the registry at `host`.
    fn mirror_at(&self, host: &str, chart: &str, args: &[&str]) -> Output {
        let set = format!("registry={host}");
        let mut all = vec!["mirror"];
        all.extend_from_slice(args);
        all.extend([chart, "--set", &set, "--plain-http", host]);
        self.helm.run(all)
    }

    /// `helm mirror ARGS…` of the test chart, its images from the test registry.
    fn mirror(&self, args: &[&str]) -> Output {
        self.mirror_at(&self.registry.host, self.chart.to_str().unwrap(), args)
    }

    /// `helm mirror lock CHART … -o FILE EXTRA…`.
    fn lock(&self, file: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["lock", "-o", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.mirror(&args)
    }

    fn lock_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_has_the_digests_the_registry_serves_and_verify_sees_drift() {
    let w = World::new().await;
    let lock_file = w.lock_path("images.lock");
    let out = w.lock(&lock_file, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let lock = yaml(&lock_file);
    assert_eq!(lock["kind"], "ImagesLock");
    assert_eq!(lock["chart"]["name"], "mirrored");
    assert_eq!(lock["chart"]["version"], "1.0.0");
    assert_eq!(lock["images"].as_array().unwrap().len(), 3);

    let single = entry(&lock, "acme/single:2");
    assert_eq!(single["digest"], w.single.digest.as_str());
    assert_eq!(
        single["digests"][0]["arch"], "linux/amd64",
        "a single image's platform, from its config"
    );
    assert_eq!(single["digests"][0]["digest"], w.single.digest.as_str());

    let multi = entry(&lock, "acme/multi:1.0");
    assert_eq!(
        multi["digest"],
        w.multi.0.digest.as_str(),
        "the index digest"
    );
    let platforms: Vec<(&str, &str)> = multi["digests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["arch"].as_str().unwrap(), d["digest"].as_str().unwrap()))
        .collect();
    let expected: Vec<(&str, &str)> = ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"]
        .into_iter()
        .zip(w.multi.1.iter().map(|p| p.digest.as_str()))
        .collect();
    assert_eq!(
        platforms, expected,
        "every platform, the attestation left out"
    );

    let legacy = entry(&lock, "acme/legacy:3");
    assert_eq!(legacy["digest"], w.legacy.0.digest.as_str());
    assert_eq!(legacy["digests"].as_array().unwrap().len(), 2);

    let verify = w.mirror(&["verify", "--lock", lock_file.to_str().unwrap(), "--json"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["clean"], true);
    assert_eq!(
        report["requests"], 3,
        "one HEAD per tag when nothing changed"
    );

    // Re-push a tag with other content: verify reports the change and exits 1.
    let again = seed_single(&w.registry.seeder()).await;
    assert_ne!(again.digest, w.single.digest);
    let verify = w.mirror(&["verify", "--lock", lock_file.to_str().unwrap()]);
    assert_exit(&verify, 1);
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(
        stdout.contains("changed")
            && stdout.contains(&again.digest)
            && stdout.contains(&w.single.digest),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn platform_filter_missing_images_and_status() {
    let w = World::new().await;
    // linux/arm64 only: the amd64-only image cannot be locked for it, and the error says so.
    let arm = w.lock_path("arm.lock");
    let out = w.lock(&arm, &["--platform", "linux/arm64"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("acme/single:2 has no manifest for linux/arm64 (it has linux/amd64)"),
        "{err}"
    );
    assert!(!arm.exists());
    let amd = w.lock_path("amd.lock");
    let out = w.lock(&amd, &["--platform", "linux/amd64"]);
    assert!(out.status.success(), "{}", text(&out));
    let lock = yaml(&amd);
    for image in ["acme/multi:1.0", "acme/legacy:3", "acme/single:2"] {
        let arches: Vec<&str> = entry(&lock, image)["digests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["arch"].as_str().unwrap())
            .collect();
        assert_eq!(arches, ["linux/amd64"], "{image}");
    }

    // An image that does not exist: no lock written, the error names image and registry.
    let missing_image = format!("extra={}/acme/nothere:9", w.registry.host);
    let broken = w.lock_path("broken.lock");
    let out = w.lock(&broken, &["--set", &missing_image]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("acme/nothere:9")
            && err.contains(&w.registry.host)
            && err.contains("no lock written"),
        "{err}"
    );
    assert!(!broken.exists(), "no lock file when an image is missing");
    let out = w.lock(&broken, &["--set", &missing_image, "--allow-missing"]);
    assert_exit(&out, 1);
    let lock = yaml(&broken);
    assert!(
        entry(&lock, "acme/nothere:9")["missing"]
            .as_str()
            .unwrap()
            .contains("not found")
    );

    // Status against a mirror prefix: all missing, then one copied there with crane is present.
    let to = format!("{}/mirror", w.registry.host);
    let out = w.mirror(&["status", "--to", &to, "--json"]);
    assert_exit(&out, 1);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "missing"),
        "{rows:#}"
    );
    crane_copy(
        &format!("{}/acme/multi:1.0", w.registry.host),
        &format!("{to}/acme/multi:1.0"),
    );
    crane_copy(
        &format!("{}/acme/legacy:3", w.registry.host),
        &format!("{to}/acme/single:2"),
    );
    let out = w.mirror(&["status", "--to", &to, "--json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let state = |suffix: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["image"].as_str().unwrap().ends_with(suffix))
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("acme/multi:1.0"), "present");
    assert_eq!(state("acme/single:2"), "different");
    assert_eq!(state("acme/legacy:3"), "missing");
    let mapped = w.mirror(&["status", "--to", &to, "--flatten", "--json"]);
    let rows: Value = serde_json::from_slice(&mapped.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["destination"] == format!("{to}/multi:1.0").as_str()),
        "{rows:#}"
    );
}

#[test]
fn mirror_help_lists_the_commands() {
    let helm = Helm::with_plugins(&["mirror"]);
    let out = helm.run(["mirror", "--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["lock", "verify", "status"] {
        assert!(help.contains(command), "{help}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_from_oci_a_repository_and_a_url() {
    let w = World::new().await;
    let packages = w.dir.path().join("packages");
    let archive = w.helm.package(&w.chart, &packages);
    assert_eq!(archive, packages.join("mirrored-1.0.0.tgz"));
    let archive_digest = support::seed::sha256(&std::fs::read(&archive).unwrap());

    // oci:// with a version constraint; --plain-http for the registry reaches Helm too.
    let oci_base = format!("oci://{}/charts", w.registry.host);
    let out = w
        .helm
        .run(["push", archive.to_str().unwrap(), &oci_base, "--plain-http"]);
    assert!(out.status.success(), "{}", text(&out));
    let oci = format!("{oci_base}/mirrored");
    let lock_file = w.lock_path("oci.lock");
    let out = w.mirror_at(
        &w.registry.host,
        &oci,
        &[
            "lock",
            "--version",
            "~1.0",
            "-o",
            lock_file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let lock = yaml(&lock_file);
    assert_eq!(lock["chart"]["location"], oci.as_str());
    assert_eq!(
        lock["chart"]["digest"],
        archive_digest.as_str(),
        "the pulled archive's digest"
    );
    assert_eq!(lock["images"].as_array().unwrap().len(), 3);

    // A chart repository (repo/name) and a plain URL to the archive.
    let out = w.helm.run(["repo", "index", packages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let server = FileServer::start(&packages);
    let out = w.helm.run(["repo", "add", "local", &server.url]);
    assert!(out.status.success(), "{}", text(&out));
    let url = format!("{}/mirrored-1.0.0.tgz", server.url);
    for chart in ["local/mirrored", url.as_str()] {
        let out = w.mirror_at(&w.registry.host, chart, &["lock"]);
        assert!(out.status.success(), "{chart}: {}", text(&out));
        let lock: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(lock["chart"]["location"], chart);
        assert_eq!(lock["chart"]["digest"], archive_digest.as_str(), "{chart}");
        assert_eq!(
            entry(&lock, "acme/single:2")["digest"],
            w.single.digest.as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_through_a_failing_registry() {
    let w = World::new().await;
    let proxy = support::FaultProxy::start(w.registry.addr);
    let lock = |file: &Path| {
        let chart = w.chart.to_str().unwrap();
        let to_file = ["lock", "--retries", "3", "-o", file.to_str().unwrap()];
        w.mirror_at(&proxy.host, chart, &to_file)
    };

    // Two 503s and a 429 with Retry-After on the way: retries suffice, the lock is right.
    proxy.add(support::Rule::manifests(support::Fault::Status(503), 2).method("GET"));
    proxy.add(
        support::Rule::manifests(
            support::Fault::TooManyRequests {
                retry_after: "1".into(),
            },
            1,
        )
        .method("GET"),
    );
    let good = w.lock_path("through-proxy.lock");
    let out = lock(&good);
    assert!(out.status.success(), "{}", text(&out));
    let locked = yaml(&good);
    assert_eq!(
        entry(&locked, "acme/multi:1.0")["digest"],
        w.multi.0.digest.as_str()
    );
    assert_eq!(
        entry(&locked, "acme/single:2")["digest"],
        w.single.digest.as_str()
    );

    // A registry that only ever fails: a clear error naming image and registry, no lock file.
    proxy.clear();
    proxy.add(support::Rule::manifests(
        support::Fault::Status(503),
        10_000,
    ));
    let bad = w.lock_path("never.lock");
    let out = lock(&bad);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("acme/single:2")
            && err.contains(&proxy.host)
            && err.contains("no lock written"),
        "{err}"
    );
    assert!(!bad.exists(), "no lock file after retries ran out");
}
