//! `helm mirror scan` end to end: real Helm runs the installed `mirror` plugin, which drives
//! the real Trivy 0.76 (`.purser/bin/trivy`, set up by scripts/setup-trivy.sh) against images
//! in a real registry on loopback, offline, with a tiny vulnerability database built from
//! `fixtures/trivy-db` by `.purser/bin/trivy-db` (bolt-fixtures). Nothing is mocked.
//!
//! The images carry real package databases ([`support::rootfs`]): `acme/vuln:1` is an index
//! whose linux/amd64 Alpine has libcrypto3/libssl3 3.1.4-r1 (CVE-2099-0001 HIGH, fixed in
//! -r5; CVE-2099-0002 MEDIUM, fixed in -r6) and busybox (CVE-2099-0003 CRITICAL, no fix), and
//! whose linux/arm64 has them at 3.1.4-r5 (only -0002 and -0003 left); `acme/clean:1` has
//! 3.1.4-r6 and no busybox.

use crate::support;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::copy::{assert_exit, stderr, yaml};
use support::helm::{Helm, text};
use support::rootfs::{Package, Rootfs};
use support::seed::{AMD64, Platform, Pushed};
use support::{Flavour, Registry};
use tempfile::TempDir;

const ARM64: Platform = Platform {
    os: "linux",
    architecture: "arm64",
    variant: None,
};

fn openssl(version: &str) -> [Package<'_>; 2] {
    [
        Package {
            name: "libcrypto3",
            version,
            source: "openssl",
        },
        Package {
            name: "libssl3",
            version,
            source: "openssl",
        },
    ]
}

const BUSYBOX: Package = Package {
    name: "busybox",
    version: "1.36.1-r15",
    source: "busybox",
};

use support::trivy::{binary as trivy, database};

fn chart(dir: &Path, name: &str, images: &[&str]) -> PathBuf {
    let chart = dir.join(name);
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n"),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "registry: 127.0.0.1:1\n").unwrap();
    let mut containers = String::new();
    for (i, image) in images.iter().enumerate() {
        containers.push_str(&format!(
            "        - name: c{i}\n          image: {{{{ .Values.registry }}}}/{image}\n"
        ));
    }
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ .Release.Name }}}}\nspec:\n  template:\n    spec:\n      containers:\n{containers}"
        ),
    )
    .unwrap();
    chart
}

struct World {
    registry: Registry,
    helm: Helm,
    dir: TempDir,
    cache: PathBuf,
    vuln: (Pushed, Pushed, Pushed),
    clean: Pushed,
}

impl World {
    async fn new() -> World {
        let registry = Registry::start(Flavour::Distribution);
        let seeder = registry.seeder();
        let amd = Rootfs::alpine(
            "3.19.1",
            "x86_64",
            &[openssl("3.1.4-r1")[0], openssl("3.1.4-r1")[1], BUSYBOX],
        )
        .layer();
        let arm = Rootfs::alpine(
            "3.19.1",
            "aarch64",
            &[openssl("3.1.4-r5")[0], openssl("3.1.4-r5")[1], BUSYBOX],
        )
        .layer();
        let amd = seeder.rootfs_image("acme/vuln", None, AMD64, &amd).await;
        let arm = seeder.rootfs_image("acme/vuln", None, ARM64, &arm).await;
        let index = seeder
            .index_of("acme/vuln", "1", &[(&amd, AMD64), (&arm, ARM64)])
            .await;
        let clean = Rootfs::alpine("3.19.1", "x86_64", &openssl("3.1.4-r6")).layer();
        let clean = seeder
            .rootfs_image("acme/clean", Some("1"), AMD64, &clean)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let cache = database(dir.path());
        let helm = Helm::with_plugins(&["mirror"]);
        World {
            registry,
            helm,
            cache,
            dir,
            vuln: (index, amd, arm),
            clean,
        }
    }

    fn chart(&self, name: &str, images: &[&str]) -> PathBuf {
        chart(self.dir.path(), name, images)
    }

    /// `helm ARGS…` with `PURSER_TRIVY` naming set-up's Trivy.
    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Output {
        self.helm
            .command(args)
            .env("PURSER_TRIVY", trivy())
            .output()
            .expect("run helm")
    }

    /// `helm mirror scan CHART --set registry=HOST --plain-http HOST --trivy-cache-dir DIR
    /// --reports DIR ARGS…`.
    fn scan(&self, chart: &Path, args: &[&str]) -> Output {
        let set = format!("registry={}", self.registry.host);
        let reports = self.dir.path().join("reports");
        let mut all = vec![
            "mirror",
            "scan",
            chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &self.registry.host,
            "--trivy-cache-dir",
            self.cache.to_str().unwrap(),
            "--reports",
            reports.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.run(all)
    }
}

fn rows_of(out: &Output) -> Vec<Value> {
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("scan --json: {e}\n{}", text(out)));
    report["rows"].as_array().expect("rows").clone()
}

fn row<'a>(rows: &'a [Value], image: &str, platform: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["image"].as_str().unwrap().ends_with(image) && r["platform"] == platform)
        .unwrap_or_else(|| panic!("no row for {image} {platform} in {rows:#?}"))
}

fn counts(row: &Value) -> (u64, u64, u64, u64, u64) {
    let v = &row["vulnerabilities"];
    let n = |k: &str| v[k].as_u64().unwrap();
    (
        n("critical"),
        n("high"),
        n("medium"),
        n("low"),
        n("fixable"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_platform_is_scanned_and_the_gate_names_what_it_stops() {
    let w = World::new().await;
    let chart = w.chart("scanned", &["acme/vuln:1", "acme/clean:1"]);
    let out = w.scan(&chart, &["--fail-on", "HIGH", "--json"]);
    assert_exit(&out, 1);
    let rows = rows_of(&out);
    assert_eq!(
        rows.len(),
        3,
        "two platforms and one single image: {rows:#?}"
    );
    let amd = row(&rows, "acme/vuln:1", "linux/amd64");
    // Two packages of the openssl source each carry -0001 and -0002, as Trivy's own table
    // counts them; busybox's -0003 has no fix.
    assert_eq!(counts(amd), (1, 2, 2, 0, 4), "{amd:#}");
    assert_eq!(amd["digest"], w.vuln.1.digest.as_str());
    assert_eq!(amd["state"], "blocked");
    assert_eq!(amd["os"], "alpine 3.19.1");
    assert_eq!(
        amd["blocking"],
        serde_json::json!(["CVE-2099-0003", "CVE-2099-0001"])
    );
    let arm = row(&rows, "acme/vuln:1", "linux/arm64");
    assert_eq!(counts(arm), (1, 0, 2, 0, 2), "{arm:#}");
    assert_eq!(arm["digest"], w.vuln.2.digest.as_str());
    assert_eq!(arm["state"], "blocked");
    let clean = row(&rows, "acme/clean:1", "linux/amd64");
    assert_eq!(counts(clean), (0, 0, 0, 0, 0));
    assert_eq!(clean["state"], "clean");
    assert_eq!(clean["digest"], w.clean.digest.as_str());
    // Each report kept as Trivy wrote it, named by the platform digest.
    let report_file = PathBuf::from(amd["report"].as_str().unwrap());
    assert!(report_file.ends_with(format!("{}.json", w.vuln.1.digest.replace(':', "-"))));
    let report: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(report["SchemaVersion"], 2);
    assert_eq!(report["Metadata"]["OS"]["Family"], "alpine");

    // --ignore-unfixed: busybox's unfixed CRITICAL no longer stops arm64; amd64's fixable HIGH
    // still stops it.
    let out = w.scan(&chart, &["--fail-on", "HIGH", "--ignore-unfixed", "--json"]);
    assert_exit(&out, 1);
    let rows = rows_of(&out);
    assert_eq!(
        row(&rows, "acme/vuln:1", "linux/arm64")["state"],
        "findings"
    );
    let amd = row(&rows, "acme/vuln:1", "linux/amd64");
    assert_eq!(amd["state"], "blocked");
    assert_eq!(amd["blocking"], serde_json::json!(["CVE-2099-0001"]));
    assert_eq!(amd["reused"], true, "same digest, same database: {amd:#}");

    // The table names the image over the gate; a chart of clean images passes.
    let out = w.scan(&chart, &["--fail-on", "HIGH"]);
    assert_exit(&out, 1);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        table.contains("IMAGE") && table.contains("CRITICAL") && table.contains("FIXABLE"),
        "{table}"
    );
    let blocked_line = table
        .lines()
        .find(|l| l.contains("acme/vuln:1") && l.contains("linux/amd64"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        blocked_line.contains("blocked (CVE-2099-0003, CVE-2099-0001)"),
        "{table}"
    );
    let only_clean = w.chart("clean-only", &["acme/clean:1"]);
    let out = w.scan(&only_clean, &["--fail-on", "HIGH"]);
    assert!(out.status.success(), "{}", text(&out));
    // Without a gate, findings are reported and nothing fails.
    let out = w.scan(&chart, &[]);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exact_form_a_check_runs() {
    // `helm mirror scan CHART --plain-http HOST --trivy-cache-dir DIR --fail-on HIGH`: chart
    // on disk, images at a plain-HTTP loopback registry, the database already in DIR/db.
    let w = World::new().await;
    let vulnerable = w.chart("vulnerable", &["acme/vuln:1"]);
    let set = format!("registry={}", w.registry.host);
    let run = |chart: &Path| {
        w.run([
            "mirror",
            "scan",
            chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &w.registry.host,
            "--trivy-cache-dir",
            w.cache.to_str().unwrap(),
            "--fail-on",
            "HIGH",
        ])
    };
    let out = run(&vulnerable);
    assert_exit(&out, 1);
    assert!(text(&out).contains("acme/vuln:1"), "{}", text(&out));
    let out = run(&w.chart("clean", &["acme/clean:1"]));
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_is_scanned_at_its_digests_and_records_each_scan() {
    let w = World::new().await;
    let chart = w.chart("locked", &["acme/vuln:1", "acme/clean:1"]);
    let lock = w.dir.path().join("images.lock");
    let set = format!("registry={}", w.registry.host);
    let out = w.run([
        "mirror",
        "lock",
        chart.to_str().unwrap(),
        "--set",
        &set,
        "--plain-http",
        &w.registry.host,
        "-o",
        lock.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.run([
        "mirror",
        "scan",
        "--lock",
        lock.to_str().unwrap(),
        "--plain-http",
        &w.registry.host,
        "--trivy-cache-dir",
        w.cache.to_str().unwrap(),
        "--reports",
        w.dir.path().join("lock-reports").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows_of(&out).len(), 3);
    let lock = yaml(&lock);
    let vuln = support::copy::lock_entry(&lock, "acme/vuln:1");
    let amd = vuln["digests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["arch"] == "linux/amd64")
        .unwrap();
    let scan = &amd["scan"];
    assert_eq!(scan["vulnerabilities"]["critical"], 1, "{amd:#?}");
    assert_eq!(scan["vulnerabilities"]["high"], 2);
    assert_eq!(scan["vulnerabilities"]["fixable"], 4);
    assert!(
        scan["database"]
            .as_str()
            .unwrap()
            .starts_with("trivy-db 20"),
        "{scan:#?}"
    );
    assert!(scan["scannedAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_database_scans_again() {
    let w = World::new().await;
    let chart = w.chart("rescanned", &["acme/clean:1"]);
    let out = w.scan(&chart, &["--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        rows_of(&out)[0]["reused"],
        Value::Null,
        "first scan: not reused"
    );
    let out = w.scan(&chart, &["--json"]);
    assert_eq!(rows_of(&out)[0]["reused"], true);
    // Another database (UpdatedAt changes): the stored report is not taken.
    let metadata = w.cache.join("db/metadata.json");
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    meta["UpdatedAt"] = "2030-01-01T00:00:00Z".into();
    std::fs::write(&metadata, serde_json::to_vec(&meta).unwrap()).unwrap();
    let out = w.scan(&chart, &["--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows_of(&out)[0]["reused"], Value::Null, "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["database"], "trivy-db 2030-01-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn trivy_missing_a_broken_database_and_an_unreachable_registry_are_clear_errors() {
    let w = World::new().await;
    let chart = w.chart("errors", &["acme/vuln:1"]);
    // Trivy missing: PURSER_TRIVY names nothing, or no trivy on PATH.
    let set = format!("registry={}", w.registry.host);
    let cache = w.cache.to_str().unwrap();
    let args = |chart: &Path| -> Vec<String> {
        [
            "mirror",
            "scan",
            chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &w.registry.host,
            "--trivy-cache-dir",
            cache,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let out = w
        .helm
        .command(args(&chart))
        .env("PURSER_TRIVY", w.dir.path().join("no-trivy"))
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("PURSER_TRIVY=") && stderr(&out).contains("is not a program"),
        "{}",
        text(&out)
    );
    let out = w
        .helm
        .command(args(&chart))
        .env_remove("PURSER_TRIVY")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("Trivy was not found"),
        "{}",
        text(&out)
    );

    // A cache with no database: refused before any image, saying how to get one.
    let empty = w.dir.path().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    let out = w.run([
        "mirror",
        "scan",
        chart.to_str().unwrap(),
        "--set",
        &set,
        "--plain-http",
        &w.registry.host,
        "--trivy-cache-dir",
        empty.to_str().unwrap(),
    ]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("no usable Trivy database"),
        "{}",
        text(&out)
    );
    // A damaged database: every platform reported not scanned, exit 1, no row passes.
    let damaged = w.dir.path().join("damaged-cache");
    std::fs::create_dir_all(damaged.join("db")).unwrap();
    std::fs::copy(
        w.cache.join("db/metadata.json"),
        damaged.join("db/metadata.json"),
    )
    .unwrap();
    std::fs::write(damaged.join("db/trivy.db"), b"not a bolt database").unwrap();
    let out = w.run([
        "mirror",
        "scan",
        chart.to_str().unwrap(),
        "--set",
        &set,
        "--plain-http",
        &w.registry.host,
        "--trivy-cache-dir",
        damaged.to_str().unwrap(),
        "--reports",
        w.dir.path().join("damaged-reports").to_str().unwrap(),
        "--json",
    ]);
    assert_exit(&out, 1);
    let rows = rows_of(&out);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["state"], "error", "{r:#}");
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .contains("trivy could not scan"),
            "{r:#}"
        );
    }
    // A registry nothing listens on: the image is named, nothing passes.
    let closed = format!("127.0.0.1:{}", support::free_port());
    let out = w.run([
        "mirror",
        "scan",
        chart.to_str().unwrap(),
        "--set",
        &format!("registry={closed}"),
        "--plain-http",
        &closed,
        "--trivy-cache-dir",
        cache,
        "--retries",
        "1",
    ]);
    assert_exit(&out, 1);
    assert!(
        text(&out).contains(&format!("{closed}/acme/vuln:1")),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trivy_server_gives_the_same_counts() {
    let w = World::new().await;
    let chart = w.chart("served", &["acme/vuln:1"]);
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = support::Process::spawn(
        "trivy server",
        &trivy(),
        &[
            "server",
            "--listen",
            &listen,
            "--cache-dir",
            w.cache.to_str().unwrap(),
            "--skip-db-update",
            "--token",
            "s3rver-t0ken",
        ],
        w.dir.path().join("trivy-server.log"),
    );
    server.wait_listening(listen.parse().unwrap());
    let url = format!("http://{listen}");
    let set = format!("registry={}", w.registry.host);
    let served = |token: &str| {
        w.run([
            "mirror",
            "scan",
            chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &w.registry.host,
            "--trivy-server",
            &url,
            "--trivy-token",
            token,
            "--reports",
            w.dir.path().join("served-reports").to_str().unwrap(),
            "--json",
        ])
    };
    let out = served("s3rver-t0ken");
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    let rows = rows_of(&out);
    assert_eq!(
        counts(row(&rows, "acme/vuln:1", "linux/amd64")),
        (1, 2, 2, 0, 4)
    );
    assert_eq!(
        counts(row(&rows, "acme/vuln:1", "linux/arm64")),
        (1, 0, 2, 0, 2)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["database"], format!("trivy server {url}"));
    // A wrong token: not scanned, said so.
    let out = served("wrong");
    assert_exit(&out, 1);
    assert!(text(&out).contains("invalid token"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_with_a_gate_stops_the_vulnerable_image_and_copies_the_clean_one() {
    let w = World::new().await;
    let chart = w.chart("gated", &["acme/vuln:1", "acme/clean:1"]);
    let set = format!("registry={}", w.registry.host);
    let to = format!("{}/mirror", w.registry.host);
    let lock = w.dir.path().join("copied.lock");
    let copy = |extra: &[&str]| {
        let mut args = vec![
            "mirror",
            "copy",
            chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &w.registry.host,
            "--to",
            &to,
        ];
        args.extend_from_slice(extra);
        w.run(args)
    };
    // A scan flag without --scan is a mistake, said before anything moves.
    let out = copy(&["--trivy-cache-dir", w.cache.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("--trivy-cache-dir is for scanning: add --scan"),
        "{}",
        text(&out)
    );
    let out = copy(&[
        "--trivy-cache-dir",
        w.cache.to_str().unwrap(),
        "--reports",
        w.dir.path().join("copy-reports").to_str().unwrap(),
        "--fail-on",
        "HIGH",
        "--json",
        "-o",
        lock.to_str().unwrap(),
    ]);
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("copy --json: {e}\n{}", text(&out)));
    let images = report["images"].as_array().unwrap();
    let image = |name: &str| {
        images
            .iter()
            .find(|r| r["source"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no {name} in {images:#?}"))
    };
    let vuln = image("acme/vuln:1");
    assert_eq!(vuln["state"], "blocked", "{vuln:#}");
    let why = vuln["message"].as_str().unwrap();
    assert!(
        why.contains("stopped by the scan gate")
            && why.contains("linux/amd64: CVE-2099-0003, CVE-2099-0001")
            && why.contains("linux/arm64: CVE-2099-0003"),
        "{why}"
    );
    assert_eq!(vuln["scan"].as_array().unwrap().len(), 2);
    let clean = image("acme/clean:1");
    assert_eq!(clean["state"], "copied", "{clean:#}");
    assert_eq!(clean["scan"][0]["vulnerabilities"]["critical"], 0);
    assert_eq!(clean["scan"][0]["platform"], "linux/amd64");
    // At the target: the clean image, and nothing of the blocked one.
    let seeder = w.registry.seeder();
    assert_eq!(
        seeder
            .head_manifest("mirror/acme/clean", "1")
            .await
            .as_deref(),
        Some(w.clean.digest.as_str())
    );
    assert_eq!(seeder.head_manifest("mirror/acme/vuln", "1").await, None);
    assert_eq!(
        seeder
            .head_manifest("mirror/acme/vuln", &w.vuln.1.digest)
            .await,
        None,
        "no platform manifest of the blocked image either"
    );
    // The lock records the clean image's scan on its platform digest.
    let lock = yaml(&lock);
    let clean = support::copy::lock_entry(&lock, "acme/clean:1");
    assert_eq!(
        clean["digests"][0]["scan"]["vulnerabilities"]["high"], 0,
        "{clean:#?}"
    );
    // The text report says what the gate did.
    let out = copy(&[
        "--trivy-cache-dir",
        w.cache.to_str().unwrap(),
        "--reports",
        w.dir.path().join("copy-reports").to_str().unwrap(),
        "--fail-on",
        "HIGH",
    ]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("1 blocked by the scan gate")
            && err.contains("scanned linux/amd64: 1 critical, 2 high, 2 medium, 0 low (4 fixable)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_with_a_gate_writes_no_bundle_and_names_the_image() {
    let w = World::new().await;
    let set = format!("registry={}", w.registry.host);
    let export = |chart: &Path, bundle: &Path| {
        w.run([
            "mirror",
            "export",
            chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &w.registry.host,
            "-o",
            bundle.to_str().unwrap(),
            "--trivy-cache-dir",
            w.cache.to_str().unwrap(),
            "--reports",
            w.dir.path().join("export-reports").to_str().unwrap(),
            "--fail-on",
            "HIGH",
            "--json",
        ])
    };
    let bundle = w.dir.path().join("gated.tar");
    let out = export(
        &w.chart("export-gated", &["acme/vuln:1", "acme/clean:1"]),
        &bundle,
    );
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("export --json: {e}\n{}", text(&out)));
    assert_eq!(report["complete"], false);
    let vuln = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"].as_str().unwrap().ends_with("acme/vuln:1"))
        .unwrap();
    assert_eq!(vuln["state"], "blocked", "{vuln:#}");
    assert!(vuln["message"].as_str().unwrap().contains("CVE-2099-0001"));
    assert!(!bundle.exists(), "no bundle when an image is stopped");
    // A chart of clean images exports, and the bundle's lock carries the scan.
    let clean_bundle = w.dir.path().join("clean.tar");
    let out = export(&w.chart("export-clean", &["acme/clean:1"]), &clean_bundle);
    assert!(out.status.success(), "{}", text(&out));
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&clean_bundle)
        .arg("purser/images.lock")
        .output()
        .unwrap();
    let lock_text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        lock_text.contains("scan:") && lock_text.contains("database: trivy-db"),
        "{}",
        text(&out)
    );
}

/// Pushes the database in `cache` as Trivy's OCI artifact (`trivy-db:2`'s media types: one
/// gzipped tar layer with trivy.db and metadata.json) to `repo:tag`.
async fn push_trivy_db(
    seeder: &support::Seeder,
    cache: &Path,
    repo: &str,
    tag: &str,
    layer_type: &str,
) {
    let tarball = cache.join(format!("{}.tar.gz", repo.replace('/', "-")));
    let out = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(cache.join("db"))
        .args(["trivy.db", "metadata.json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {}", text(&out));
    let layer = std::fs::read(&tarball).unwrap();
    let config = b"{}".to_vec();
    let layer_digest = seeder.blob(repo, &layer).await;
    let config_digest = seeder.blob(repo, &config).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": support::seed::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.aquasec.trivy.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": layer.len(),
                    "annotations": {"org.opencontainers.image.title": "db.tar.gz"}}],
    });
    seeder
        .manifest(
            repo,
            Some(tag),
            support::seed::OCI_MANIFEST,
            serde_json::to_vec(&manifest).unwrap(),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_carries_the_trivy_database_and_the_inside_scans_against_it() {
    let w = World::new().await;
    let seeder = w.registry.seeder();
    push_trivy_db(
        &seeder,
        &w.cache,
        "aquasecurity/trivy-db",
        "2",
        "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
    )
    .await;
    push_trivy_db(
        &seeder,
        &w.cache,
        "aquasecurity/trivy-java-db",
        "1",
        "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip",
    )
    .await;
    let host = &w.registry.host;
    let chart = w.chart("carried", &["acme/vuln:1"]);
    let set = format!("registry={host}");
    let to = format!("{host}/inside");
    let db = format!("{host}/aquasecurity/trivy-db:2");
    let java_db = format!("{host}/aquasecurity/trivy-java-db:1");
    let out = w.run([
        "mirror",
        "copy",
        chart.to_str().unwrap(),
        "--set",
        &set,
        "--plain-http",
        host,
        "--to",
        &to,
        "--with-trivy-db",
        "--trivy-db-source",
        &db,
        "--trivy-java-db-source",
        &java_db,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let carried: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "copied")
        .map(|r| r["destination"].as_str().unwrap())
        .collect();
    let inside_db = format!("{host}/inside/aquasecurity/trivy-db:2");
    assert!(
        carried.contains(&inside_db.as_str())
            && carried.contains(&format!("{host}/inside/aquasecurity/trivy-java-db:1").as_str()),
        "{carried:?}"
    );
    // Inside: an empty cache, the database downloaded once from the mirror, the same findings.
    let empty = w.dir.path().join("inside-cache");
    let out = w.run([
        "mirror",
        "scan",
        chart.to_str().unwrap(),
        "--set",
        &set,
        "--plain-http",
        host,
        "--trivy-cache-dir",
        empty.to_str().unwrap(),
        "--trivy-db-repository",
        &inside_db,
        "--reports",
        w.dir.path().join("inside-reports").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let rows = rows_of(&out);
    assert_eq!(
        counts(row(&rows, "acme/vuln:1", "linux/amd64")),
        (1, 2, 2, 0, 4)
    );
    assert!(
        empty.join("db/trivy.db").is_file(),
        "downloaded into the cache given"
    );
    // A repository that does not hold it: a clear error before any image.
    let out = w.run([
        "mirror",
        "scan",
        chart.to_str().unwrap(),
        "--set",
        &set,
        "--plain-http",
        host,
        "--trivy-cache-dir",
        w.dir.path().join("other-cache").to_str().unwrap(),
        "--trivy-db-repository",
        &format!("{host}/nothing/here:2"),
    ]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("Trivy could not download its database from")
            && stderr(&out).contains("nothing/here:2"),
        "{}",
        text(&out)
    );
}

/// The CycloneDX SBOM referrers of `digest` in `repo`.
async fn sboms(seeder: &support::Seeder, repo: &str, digest: &str) -> Vec<String> {
    seeder
        .referrers_of_type(repo, digest, "application/vnd.cyclonedx+json")
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sboms_are_attached_at_the_target_and_survive_export_and_import() {
    let w = World::new().await;
    let seeder = w.registry.seeder();
    let host = &w.registry.host;
    let chart = w.chart("sbom", &["acme/vuln:1"]);
    let copy = || {
        w.run([
            "mirror",
            "copy",
            chart.to_str().unwrap(),
            "--set",
            &format!("registry={host}"),
            "--plain-http",
            host,
            "--to",
            &format!("{host}/sbom"),
            "--sbom",
            "--trivy-cache-dir",
            w.cache.to_str().unwrap(),
            "--reports",
            w.dir.path().join("sbom-reports").to_str().unwrap(),
            "--json",
        ])
    };
    let out = copy();
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &report["images"][0];
    assert_eq!(row["scan"].as_array().unwrap().len(), 2, "{row:#}");
    for (child, scan) in [&w.vuln.1, &w.vuln.2]
        .iter()
        .zip(row["scan"].as_array().unwrap())
    {
        let attached = sboms(&seeder, "sbom/acme/vuln", &child.digest).await;
        assert_eq!(attached.len(), 1, "one SBOM for {}", child.digest);
        assert_eq!(scan["sbom"], attached[0].as_str());
        // The SBOM is Trivy's CycloneDX of that platform.
        let manifest = seeder
            .fetch_manifest("sbom/acme/vuln", &attached[0])
            .await
            .unwrap();
        let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(manifest["subject"]["digest"], child.digest.as_str());
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        let sbom: Value =
            serde_json::from_slice(&seeder.fetch_blob("sbom/acme/vuln", layer).await.unwrap())
                .unwrap();
        assert_eq!(sbom["bomFormat"], "CycloneDX");
        assert!(sbom.to_string().contains("libssl3"), "{sbom:#}");
    }
    // Again: the SBOMs there are kept, none added.
    let out = copy();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        sboms(&seeder, "sbom/acme/vuln", &w.vuln.1.digest)
            .await
            .len(),
        1
    );

    // Through a bundle: exported from the mirror, imported elsewhere, the SBOMs come along.
    let bundle = w.dir.path().join("sbom.tar");
    let out = w.run([
        "mirror",
        "export",
        chart.to_str().unwrap(),
        "--set",
        &format!("registry={host}/sbom"),
        "--plain-http",
        host,
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.run([
        "mirror",
        "import",
        bundle.to_str().unwrap(),
        "--plain-http",
        host,
        "--to",
        &format!("{host}/inside"),
        "--flatten",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for child in [&w.vuln.1, &w.vuln.2] {
        assert_eq!(
            sboms(&seeder, "inside/vuln", &child.digest).await.len(),
            1,
            "the SBOM of {} after export and import",
            child.digest
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn import_scans_at_the_target_and_names_what_is_over_the_gate() {
    let w = World::new().await;
    let host = &w.registry.host;
    let chart = w.chart("imported", &["acme/vuln:1", "acme/clean:1"]);
    let bundle = w.dir.path().join("import.tar");
    let out = w.run([
        "mirror",
        "export",
        chart.to_str().unwrap(),
        "--set",
        &format!("registry={host}"),
        "--plain-http",
        host,
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let lock = w.dir.path().join("imported.lock");
    let inside = format!("{host}/inside");
    let import = |extra: &[&str]| {
        let mut args = vec![
            "mirror",
            "import",
            bundle.to_str().unwrap(),
            "--plain-http",
            host,
            "--to",
            &inside,
            "-o",
            lock.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        w.run(args)
    };
    // Trivy missing: refused before anything is imported.
    let out = w
        .helm
        .command([
            "mirror",
            "import",
            bundle.to_str().unwrap(),
            "--plain-http",
            host,
            "--to",
            &format!("{host}/nowhere"),
            "--scan",
        ])
        .env("PURSER_TRIVY", w.dir.path().join("no-trivy"))
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("is not a program"), "{}", text(&out));
    let seeder = w.registry.seeder();
    assert_eq!(seeder.head_manifest("nowhere/acme/clean", "1").await, None);

    let out = import(&[
        "--trivy-cache-dir",
        w.cache.to_str().unwrap(),
        "--reports",
        w.dir.path().join("import-reports").to_str().unwrap(),
        "--fail-on",
        "HIGH",
    ]);
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("import --json: {e}\n{}", text(&out)));
    let images = report["images"].as_array().unwrap();
    let find = |name: &str| {
        images
            .iter()
            .find(|r| r["source"].as_str().unwrap().ends_with(name))
            .unwrap()
    };
    let vuln = find("acme/vuln:1");
    assert_eq!(vuln["scan"].as_array().unwrap().len(), 2, "{vuln:#}");
    assert!(
        vuln["message"]
            .as_str()
            .unwrap()
            .contains("over the scan gate at the target"),
        "{vuln:#}"
    );
    let clean = find("acme/clean:1");
    assert_eq!(clean["scan"][0]["vulnerabilities"]["high"], 0);
    assert_eq!(clean["message"], Value::Null, "{clean:#}");
    // The lock of the import records the scans at the target's digests.
    let lock = yaml(&lock);
    let vuln = support::copy::lock_entry(&lock, "acme/vuln:1");
    assert!(
        vuln["digests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["scan"]["vulnerabilities"]["critical"] == 1),
        "{vuln:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ignore_file_leaves_findings_out_and_is_part_of_reuse() {
    let w = World::new().await;
    let chart = w.chart("ignored", &["acme/vuln:1"]);
    let ignore = w.dir.path().join(".trivyignore");
    std::fs::write(&ignore, "# accepted until the patch lands\nCVE-2099-0003\n").unwrap();
    let out = w.scan(&chart, &["--fail-on", "CRITICAL", "--json"]);
    assert_exit(&out, 1);
    assert_eq!(
        row(&rows_of(&out), "acme/vuln:1", "linux/amd64")["state"],
        "blocked"
    );
    // With the ignore file Trivy leaves busybox's CRITICAL out: nothing is over CRITICAL, and
    // the stored report without it is not reused.
    let out = w.scan(
        &chart,
        &[
            "--fail-on",
            "CRITICAL",
            "--ignorefile",
            ignore.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rows = rows_of(&out);
    let amd = row(&rows, "acme/vuln:1", "linux/amd64");
    assert_eq!(counts(amd), (0, 2, 2, 0, 4), "{amd:#}");
    assert_eq!(
        amd["reused"],
        Value::Null,
        "another ignore file: scanned again"
    );
    assert_eq!(amd["state"], "findings");
}
