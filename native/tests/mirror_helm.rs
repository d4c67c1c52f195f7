//! `helm mirror` end to end: real Helm 4.2.4 runs the installed `mirror` plugin (the purser
//! binary) against a real registry on loopback holding images this test pushes first.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::seed::{AMD64, Pushed};
use support::{Flavour, Registry, repo_root, tool};
use tempfile::TempDir;

/// Helm with temporary homes and the repository's `mirror` plugin installed (from the folder
/// scripts/setup.sh stages: plugin.yaml and bin/purser linked into this checkout).
struct Helm {
    bin: PathBuf,
    homes: TempDir,
}

impl Helm {
    fn with_mirror() -> Helm {
        let bin = repo_root().join(".purser/bin/helm");
        assert!(
            bin.is_file(),
            "no {}: run scripts/setup.sh first",
            bin.display()
        );
        let stage = repo_root().join(".purser/plugins/mirror");
        assert!(
            stage.join("bin/purser").is_file(),
            "no {}/bin/purser: run scripts/setup.sh first",
            stage.display()
        );
        let helm = Helm {
            bin,
            homes: tempfile::tempdir().unwrap(),
        };
        let out = helm.run(&["plugin", "install", stage.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "helm plugin install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        helm
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HELM_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HELM_DATA_HOME", self.homes.path().join("data"))
            .env("HELM_CONFIG_HOME", self.homes.path().join("config"))
            .env("HELM_CACHE_HOME", self.homes.path().join("cache"))
            // No credentials of the machine's: the test registry is anonymous.
            .env("DOCKER_CONFIG", self.homes.path().join("docker"))
            .args(args)
            .output()
            .expect("run helm")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

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
        let single = seeder.image("acme/single", Some("2"), AMD64, false).await;
        let multi = seeder.oci_index("acme/multi", "1.0").await;
        let legacy = seeder.docker_list("acme/legacy", "3").await;
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(dir.path());
        World {
            helm: Helm::with_mirror(),
            registry,
            dir,
            chart,
            single,
            multi,
            legacy,
        }
    }

    fn mirror(&self, args: &[&str]) -> Output {
        let set = format!("registry={}", self.registry.host);
        let mut all = vec!["mirror"];
        all.extend_from_slice(args);
        all.extend([
            self.chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &self.registry.host,
        ]);
        self.helm.run(&all)
    }

    fn lock_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn entry<'a>(lock: &'a Value, suffix: &str) -> &'a Value {
    lock["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"].as_str().unwrap().ends_with(suffix))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_has_the_digests_the_registry_serves_and_verify_sees_drift() {
    let w = World::new().await;
    let lock_file = w.lock_path("images.lock");
    let out = w.mirror(&["lock", "-o", lock_file.to_str().unwrap()]);
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
    let again = w
        .registry
        .seeder()
        .image("acme/single", Some("2"), AMD64, false)
        .await;
    assert_ne!(again.digest, w.single.digest);
    let verify = w.mirror(&["verify", "--lock", lock_file.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
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
    let out = w.mirror(&[
        "lock",
        "--platform",
        "linux/arm64",
        "-o",
        arm.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("acme/single:2 has no manifest for linux/arm64 (it has linux/amd64)"),
        "{stderr}"
    );
    assert!(!arm.exists());
    let amd = w.lock_path("amd.lock");
    let out = w.mirror(&[
        "lock",
        "--platform",
        "linux/amd64",
        "-o",
        amd.to_str().unwrap(),
    ]);
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
    let out = w.mirror(&[
        "lock",
        "-o",
        broken.to_str().unwrap(),
        "--set",
        &missing_image,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("acme/nothere:9")
            && stderr.contains(&w.registry.host)
            && stderr.contains("no lock written"),
        "{stderr}"
    );
    assert!(!broken.exists(), "no lock file when an image is missing");
    let out = w.mirror(&[
        "lock",
        "-o",
        broken.to_str().unwrap(),
        "--set",
        &missing_image,
        "--allow-missing",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
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
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
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

/// Copies an image between registries with the real crane (plain HTTP, loopback).
fn crane_copy(from: &str, to: &str) {
    let copy = Command::new(tool("crane"))
        .args(["copy", "--insecure", from, to])
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "crane copy {from} {to}: {}",
        String::from_utf8_lossy(&copy.stderr)
    );
}

#[test]
fn mirror_help_lists_the_commands() {
    let helm = Helm::with_mirror();
    let out = helm.run(&["mirror", "--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["lock", "verify", "status"] {
        assert!(help.contains(command), "{help}");
    }
}

/// A static file server on loopback (Python's http.server), stopped on Drop.
struct FileServer {
    child: std::process::Child,
    url: String,
}

impl FileServer {
    fn start(dir: &Path) -> FileServer {
        let port = support::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileServer {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_from_oci_a_repository_and_a_url() {
    let w = World::new().await;
    let packages = w.dir.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let out = w.helm.run(&[
        "package",
        w.chart.to_str().unwrap(),
        "--destination",
        packages.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let archive = packages.join("mirrored-1.0.0.tgz");
    let archive_digest = support::seed::sha256(&std::fs::read(&archive).unwrap());

    // oci:// with a version constraint; --plain-http for the registry reaches Helm too.
    let oci_base = format!("oci://{}/charts", w.registry.host);
    let out = w
        .helm
        .run(&["push", archive.to_str().unwrap(), &oci_base, "--plain-http"]);
    assert!(out.status.success(), "{}", text(&out));
    let oci = format!("{oci_base}/mirrored");
    let set = format!("registry={}", w.registry.host);
    let lock_file = w.lock_path("oci.lock");
    let out = w.helm.run(&[
        "mirror",
        "lock",
        &oci,
        "--version",
        "~1.0",
        "--set",
        &set,
        "--plain-http",
        &w.registry.host,
        "-o",
        lock_file.to_str().unwrap(),
    ]);
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
    let out = w.helm.run(&["repo", "index", packages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let server = FileServer::start(&packages);
    let out = w.helm.run(&["repo", "add", "local", &server.url]);
    assert!(out.status.success(), "{}", text(&out));
    let url = format!("{}/mirrored-1.0.0.tgz", server.url);
    for chart in ["local/mirrored", url.as_str()] {
        let out = w.helm.run(&[
            "mirror",
            "lock",
            chart,
            "--set",
            &set,
            "--plain-http",
            &w.registry.host,
        ]);
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
    let set = format!("registry={}", proxy.host);
    let lock = |file: &Path| {
        w.helm.run(&[
            "mirror",
            "lock",
            w.chart.to_str().unwrap(),
            "--set",
            &set,
            "--plain-http",
            &proxy.host,
            "--retries",
            "3",
            "-o",
            file.to_str().unwrap(),
        ])
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
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("acme/single:2")
            && stderr.contains(&proxy.host)
            && stderr.contains("no lock written"),
        "{stderr}"
    );
    assert!(!bad.exists(), "no lock file after retries ran out");
}
