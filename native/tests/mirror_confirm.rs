//! Likely images (found by heuristics: container env, ConfigMap data) confirmed against their
//! registry by `helm mirror lock` and `helm mirror copy`: real Helm 4.2.4 runs the installed
//! `mirror` plugin against real registries on loopback. A likely image the registry holds is
//! locked and copied, marked confirmed; one it does not hold is set aside as unresolved (exit
//! 0); a certain one it does not hold, or a likely one whose registry keeps failing, fails.

use crate::support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::copy::{assert_exit, lock_entry as entry, seed_single, stderr, yaml};
use support::helm::{Helm, text};
use support::seed::{AMD64, Pushed};
use support::{DockerConfig, Fault, FaultProxy, Flavour, PASSWORD, Registry, Rule, USER};
use tempfile::TempDir;

const SIDECAR: &str = "team/sidecar:1.0";
const GHOST: &str = "team/ghost:1.0";

/// A chart with one certain image (a container's `image`), one likely image in the
/// container's env (`SIDECAR_IMAGE`) and one likely image in a ConfigMap (`ghost-image`).
/// `registry` serves the certain image, `likely` the two likely ones; `extra` adds a certain
/// container image.
fn chart(dir: &Path) -> PathBuf {
    let chart = dir.join("confirming");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: confirming\nversion: 0.3.0\nappVersion: \"1\"\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        "registry: 127.0.0.1:1\nlikely: 127.0.0.1:1\nextra: \"\"\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {{ .Values.registry }}/acme/single:2\n          env:\n            - name: SIDECAR_IMAGE\n              value: {{ .Values.likely }}/team/sidecar:1.0\n{{- if .Values.extra }}\n        - name: extra\n          image: {{ .Values.extra }}\n{{- end }}\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  ghost-image: {{ .Values.likely }}/team/ghost:1.0\n",
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
    sidecar: Pushed,
}

impl World {
    async fn new() -> World {
        let registry = Registry::start(Flavour::Distribution);
        let seeder = registry.seeder();
        let single = seed_single(&seeder).await;
        let sidecar = seeder
            .image("team/sidecar", Some("1.0"), AMD64, false)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(dir.path());
        World {
            helm: Helm::with_plugins(&["mirror"]),
            registry,
            dir,
            chart,
            single,
            sidecar,
        }
    }

    /// `helm mirror ARGS… CHART`, certain images from the registry, likely ones from
    /// `likely`, both hosts (and `more`) plain HTTP.
    fn mirror_via(&self, likely: &str, args: &[&str], more: &[&str]) -> Output {
        self.command_via(likely, args, more)
            .output()
            .expect("run helm")
    }

    fn command_via(&self, likely: &str, args: &[&str], more: &[&str]) -> Command {
        let set = format!("registry={},likely={likely}", self.registry.host);
        let mut all = vec!["mirror"];
        all.extend_from_slice(args);
        all.extend([self.chart.to_str().unwrap(), "--set", &set]);
        for host in [self.registry.host.as_str(), likely].iter().chain(more) {
            all.extend(["--plain-http", host]);
        }
        self.helm.command(all)
    }

    fn mirror(&self, args: &[&str]) -> Output {
        self.mirror_via(&self.registry.host, args, &[])
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn at(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.registry.host)
    }
}

fn unresolved<'a>(lock: &'a Value, repo_tag: &str) -> &'a Value {
    lock["unresolved"]
        .as_array()
        .unwrap_or_else(|| panic!("no unresolved list: {lock:#}"))
        .iter()
        .find(|u| u["image"].as_str().unwrap().ends_with(repo_tag))
        .unwrap_or_else(|| panic!("{repo_tag} not unresolved: {lock:#}"))
}

fn has_image(lock: &Value, repo_tag: &str) -> bool {
    lock["images"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["image"].as_str().unwrap().ends_with(repo_tag))
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_confirms_present_likely_images_and_sets_absent_ones_aside() {
    let w = World::new().await;
    let file = w.path("images.lock");
    let out = w.mirror(&["lock", "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    let lock = yaml(&file);

    // The certain image: as before, no confidence written.
    let single = entry(&lock, "acme/single:2");
    assert_eq!(single["digest"], w.single.digest.as_str());
    assert!(single.get("confidence").is_none() && single.get("confirmed").is_none());

    // The likely image the registry has: locked with its digest, marked confirmed.
    let sidecar = entry(&lock, SIDECAR);
    assert_eq!(sidecar["digest"], w.sidecar.digest.as_str());
    assert_eq!(sidecar["digests"][0]["digest"], w.sidecar.digest.as_str());
    assert_eq!(sidecar["confidence"], "likely");
    assert_eq!(sidecar["confirmed"], true);

    // The likely image it does not have: not locked, listed apart with where it was found.
    assert!(!has_image(&lock, GHOST), "{lock:#}");
    assert_eq!(lock["images"].as_array().unwrap().len(), 2);
    let ghost = unresolved(&lock, GHOST);
    assert_eq!(ghost["image"], w.at(GHOST).as_str());
    assert_eq!(ghost["confidence"], "likely");
    assert_eq!(ghost["chart"], "confirming");
    assert!(
        ghost["reason"].as_str().unwrap().contains("not found")
            && ghost["reason"].as_str().unwrap().contains(&w.registry.host),
        "{ghost:#}"
    );
    let found: Vec<&str> = ghost["foundAt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        ["confirming/templates/configmap.yaml: ConfigMap release-settings data.ghost-image"],
        "{ghost:#}"
    );
    assert_eq!(lock["unresolved"].as_array().unwrap().len(), 1);
    assert!(
        err.contains(&format!(
            "unresolved likely image {} (left out): {}",
            w.at(GHOST),
            w.at(GHOST)
        )) && err.contains("\n  found at confirming/templates/configmap.yaml: ConfigMap"),
        "{err}"
    );
    assert!(
        err.contains("(2 images, 1 likely confirmed, 1 likely unresolved, left out)"),
        "{err}"
    );

    // To stdout: the same lock.
    let out = w.mirror(&["lock"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["unresolved"], lock["unresolved"]);
    assert_eq!(printed["images"], lock["images"]);

    // verify: the unresolved one is neither checked nor "unlocked"; one HEAD per locked image.
    let out = w.mirror(&["verify", "--lock", file.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(report["images"], 2);
    assert_eq!(report["unresolved"], 1);
    assert_eq!(report["requests"], 2, "no request for the unresolved image");
    let out = w.mirror(&["verify", "--lock", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("; 1 unresolved likely image skipped (see the lock's `unresolved`)"),
        "{}",
        text(&out)
    );
    // status: with the lock the unresolved image is skipped; without, it is `unresolved`,
    // and neither counts as incomplete.
    let to = format!("{}/mirror", w.registry.host);
    for (from, to_path) in [
        (w.at("acme/single:2"), format!("{to}/acme/single:2")),
        (w.at(SIDECAR), format!("{to}/{SIDECAR}")),
    ] {
        support::crane_copy(&from, &to_path);
    }
    let out = w.mirror(&["status", "--to", &to, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<(&str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["image"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert!(
        states.contains(&(w.at(GHOST).as_str(), "unresolved"))
            && states.iter().filter(|(_, s)| *s == "present").count() == 2,
        "{rows:#}"
    );
    let out = w.mirror(&["status", "--to", &to, "--lock", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(GHOST)
            && stdout.contains("2 of 2 images present in the mirror")
            && stdout.contains("1 unresolved likely image skipped"),
        "{stdout}"
    );

    // Drift in a confirmed likely image is drift like any other.
    let moved = w
        .registry
        .seeder()
        .image("team/sidecar", Some("1.0"), AMD64, false)
        .await;
    let out = w.mirror(&["verify", "--lock", file.to_str().unwrap(), "--json"]);
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["drift"][0]["state"], "changed", "{report:#}");
    assert_eq!(report["drift"][0]["registry"], moved.digest.as_str());

    // --certain-only: likely images are not asked about at all.
    let out = w.mirror(&["lock", "--certain-only"]);
    assert!(out.status.success(), "{}", text(&out));
    let certain: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(certain["images"].as_array().unwrap().len(), 1);
    assert!(certain.get("unresolved").is_none(), "{certain:#}");
    assert!(!stderr(&out).contains("unresolved"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn absent_certain_images_and_failing_registries_still_fail() {
    let w = World::new().await;

    // A certain image the registry does not have: exit 1, no lock, as before.
    let extra = format!("extra={}", w.at("acme/nothere:9"));
    let file = w.path("certain.lock");
    let out = w.mirror(&["lock", "-o", file.to_str().unwrap(), "--set", &extra]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("1 of 3 images could not be resolved; no lock written")
            && err.contains(&format!(
                "{}: not found on {}",
                w.at("acme/nothere:9"),
                w.registry.host
            )),
        "{err}"
    );
    assert!(!file.exists());
    // --allow-missing: written, the certain one marked missing, the likely one still apart.
    let out = w.mirror(&[
        "lock",
        "-o",
        file.to_str().unwrap(),
        "--set",
        &extra,
        "--allow-missing",
    ]);
    assert_exit(&out, 1);
    let lock = yaml(&file);
    assert!(entry(&lock, "acme/nothere:9")["missing"].is_string());
    unresolved(&lock, GHOST);

    // Likely images behind a registry that answers 503 to every manifest request: a failure
    // naming the image and the registry, never "unresolved".
    let proxy = FaultProxy::start(w.registry.addr);
    proxy.add(Rule::manifests(Fault::Status(503), usize::MAX));
    let file = w.path("unavailable.lock");
    let out = w.mirror_via(
        &proxy.host,
        &[
            "lock",
            "-o",
            file.to_str().unwrap(),
            "--retries",
            "2",
            "--retry-max-time",
            "10",
        ],
        &[],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(!file.exists(), "{err}");
    assert!(
        err.contains("2 of 3 images could not be resolved; no lock written")
            && err.contains(&format!(
                "{}/{GHOST}: gave up on {} after 2 attempts",
                proxy.host, proxy.host
            ))
            && err.contains(&format!(
                "{}/{SIDECAR}: gave up on {}",
                proxy.host, proxy.host
            ))
            && err.contains("HTTP 503")
            && !err.contains("unresolved likely"),
        "{err}"
    );
    let asked = proxy.seen().iter().filter(|s| s.is_manifest()).count();
    assert_eq!(asked, 4, "two attempts for each likely image");

    // A likely image whose registry refuses connections: a failure too.
    let closed = format!("127.0.0.1:{}", support::free_port());
    let out = w.mirror_via(&closed, &["lock", "--retries", "1"], &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{closed}/{GHOST}: cannot talk to {closed}"))
            && !err.contains("unresolved likely"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_absence_only_when_it_is_about_the_repository() {
    let w = World::new().await;
    let printed = |out: &Output| -> Value {
        assert!(out.status.success(), "{}", text(out));
        serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap()
    };

    // Docker Hub's way: an anonymous token without access, then 401 for any repository,
    // there or not. Both likely images are set aside, the reason says no credentials.
    let guarded = Registry::start(Flavour::DistributionToken);
    let sidecar = guarded
        .seeder()
        .image("team/sidecar", Some("1.0"), AMD64, false)
        .await;
    let token_host = guarded.token.as_ref().unwrap().host();
    let lock = printed(&w.mirror_via(&guarded.host, &["lock"], &[&token_host]));
    assert_eq!(lock["images"].as_array().unwrap().len(), 1, "{lock:#}");
    for repo_tag in [GHOST, SIDECAR] {
        let reason = unresolved(&lock, repo_tag)["reason"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            reason.contains(&format!("{} refused access", guarded.host))
                && reason.contains("no credentials were found"),
            "{reason}"
        );
    }

    // With credentials the token covers the repository: the image there is confirmed, the
    // other one is plainly not found.
    let config = DockerConfig::with_auth(&guarded.host, USER, PASSWORD);
    let out = w
        .command_via(&guarded.host, &["lock"], &[&token_host])
        .env("DOCKER_CONFIG", config.dir.path())
        .output()
        .unwrap();
    let lock = printed(&out);
    assert_eq!(entry(&lock, SIDECAR)["digest"], sidecar.digest.as_str());
    assert_eq!(entry(&lock, SIDECAR)["confirmed"], true);
    assert!(
        unresolved(&lock, GHOST)["reason"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{lock:#}"
    );

    // The token service refusing the credentials is a set-up problem: a failure.
    let wrong = DockerConfig::with_auth(&guarded.host, USER, "wrong-Pa55word");
    let out = w
        .command_via(&guarded.host, &["lock"], &[&token_host])
        .env("DOCKER_CONFIG", wrong.dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("2 of 3 images could not be resolved; no lock written")
            && err.contains("its token service")
            && !err.contains("unresolved likely"),
        "{err}"
    );

    // So is a registry that wants credentials for everything (basic auth) and got none.
    let basic = Registry::start(Flavour::DistributionBasic);
    let out = w.mirror_via(&basic.host, &["lock"], &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}/{GHOST}: {} refused access",
            basic.host, basic.host
        )) && !err.contains("unresolved likely"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmation_costs_no_extra_request() {
    let w = World::new().await;
    let proxy = FaultProxy::start(w.registry.addr);
    let out = w.mirror_via(&proxy.host, &["lock"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let seen = proxy.seen();
    let ghost: Vec<_> = seen
        .iter()
        .filter(|s| s.path.contains("team/ghost"))
        .collect();
    assert_eq!(
        ghost.len(),
        1,
        "one answer (404) settles an absent image: {ghost:?}"
    );
    assert_eq!(ghost[0].status, Some(404));
    let sidecar = seen
        .iter()
        .filter(|s| s.path.contains("team/sidecar"))
        .count();
    // The same single-platform image as a certain one costs the same: resolving is
    // confirming.
    let certain_proxy = FaultProxy::start(w.registry.addr);
    let set = format!("registry={},likely={}", certain_proxy.host, w.registry.host);
    let out = w.helm.run([
        "mirror",
        "lock",
        w.chart.to_str().unwrap(),
        "--set",
        &set,
        "--plain-http",
        &certain_proxy.host,
        "--plain-http",
        &w.registry.host,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let single = certain_proxy
        .seen()
        .iter()
        .filter(|s| s.path.contains("acme/single"))
        .count();
    assert_eq!(
        sidecar, single,
        "a likely image costs what a certain one does"
    );
    eprintln!("requests: present likely {sidecar}, absent likely 1, certain {single}");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_moves_confirmed_likely_images_and_reports_absent_ones() {
    let w = World::new().await;
    let target = Registry::start(Flavour::Distribution);
    let to = format!("{}/mirror", target.host);
    let copy = |extra: &[&str]| {
        let mut args = vec!["copy", "--to", to.as_str()];
        args.extend_from_slice(extra);
        w.mirror_via(&w.registry.host, &args, &[target.host.as_str()])
    };

    // --dry-run: the plan has two images; the absent one is listed apart.
    let out = copy(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("images (2):")
            && plan.contains("unresolved likely images, left out (1):")
            && plan.contains(&format!(
                "  unresolved likely image {} (left out)",
                w.at(GHOST)
            )),
        "{plan}"
    );

    let mirror_lock = w.path("mirror.lock");
    let out = copy(&["--json", "-o", mirror_lock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["complete"], true, "{report:#}");
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{report:#}");
    let row = |repo_tag: &str| {
        images
            .iter()
            .find(|r| r["source"].as_str().unwrap().ends_with(repo_tag))
            .unwrap_or_else(|| panic!("{repo_tag}: {report:#}"))
    };
    assert_eq!(row("acme/single:2")["state"], "copied");
    assert!(row("acme/single:2").get("confirmed").is_none());
    assert_eq!(row(SIDECAR)["state"], "copied");
    assert_eq!(row(SIDECAR)["confirmed"], true);
    assert_eq!(row(SIDECAR)["digest"], w.sidecar.digest.as_str());
    let unresolved_rows = report["unresolved"].as_array().unwrap();
    assert_eq!(unresolved_rows.len(), 1);
    assert_eq!(unresolved_rows[0]["source"], w.at(GHOST).as_str());
    assert!(
        unresolved_rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
    assert_eq!(
        unresolved_rows[0]["foundAt"][0],
        "confirming/templates/configmap.yaml: ConfigMap release-settings data.ghost-image"
    );

    // The target has the two, byte for byte, and nothing of the ghost.
    let dst = target.seeder();
    assert_eq!(
        dst.head_manifest("mirror/acme/single", "2")
            .await
            .as_deref(),
        Some(w.single.digest.as_str())
    );
    assert_eq!(
        dst.head_manifest("mirror/team/sidecar", "1.0")
            .await
            .as_deref(),
        Some(w.sidecar.digest.as_str())
    );
    assert_eq!(dst.head_manifest("mirror/team/ghost", "1.0").await, None);
    let catalog = dst.catalog().await;
    assert!(
        !catalog.iter().any(|r| r.contains("ghost")),
        "nothing of the ghost at the target: {catalog:?}"
    );

    // The lock of the copy: confirmed likely image at the target, the ghost apart.
    let lock = yaml(&mirror_lock);
    let sidecar = entry(&lock, SIDECAR);
    assert_eq!(sidecar["confirmed"], true);
    assert_eq!(sidecar["mirror"], format!("{to}/{SIDECAR}").as_str());
    assert!(!has_image(&lock, GHOST));
    assert_eq!(unresolved(&lock, GHOST)["chart"], "confirming");

    // Text: the ghost is named with where it was found, the summary counts it apart.
    let out = copy(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "unresolved likely image {} (left out)",
            w.at(GHOST)
        )) && err.contains("  found at confirming/templates/configmap.yaml")
            && err.contains(
                "2 images: 0 copied, 2 present, 0 missing, 0 failed (1 unresolved likely left out)"
            ),
        "{err}"
    );

    // From a lock with an unresolved list: the ghost is taken as the lock says, not asked
    // about again.
    let source_lock = w.path("images.lock");
    let out = w.mirror(&["lock", "-o", source_lock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let again = format!("{}/again", target.host);
    let out = w.mirror_via(
        &w.registry.host,
        &[
            "copy",
            "--to",
            &again,
            "--json",
            "--lock",
            source_lock.to_str().unwrap(),
        ],
        &[target.host.as_str()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"].as_array().unwrap().len(), 2, "{report:#}");
    assert!(
        report["unresolved"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "unresolved in the lock: {}: not found",
                w.at(GHOST)
            )),
        "{report:#}"
    );

    // Likely images behind a registry that keeps answering 503: failed, not unresolved, and
    // no tag for them at the target.
    let failing = FaultProxy::start(w.registry.addr);
    failing.add(Rule::manifests(Fault::Status(503), usize::MAX));
    let out = w.mirror_via(
        &failing.host,
        &[
            "copy",
            "--to",
            &format!("{}/failing", target.host),
            "--json",
            "--retries",
            "2",
            "--retry-max-time",
            "10",
        ],
        &[target.host.as_str()],
    );
    assert_exit(&out, 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["complete"], false);
    assert!(report.get("unresolved").is_none(), "{report:#}");
    let failed: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "failed")
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    let expected = [
        format!("{}/{GHOST}", failing.host),
        format!("{}/{SIDECAR}", failing.host),
    ];
    assert_eq!(failed, expected, "{report:#}");
    let message = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == expected[1].as_str())
        .unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains(&format!("gave up on {}", failing.host)) && message.contains("503"),
        "{message}"
    );
    assert_eq!(dst.head_manifest("failing/team/sidecar", "1.0").await, None);
    assert_eq!(
        dst.head_manifest("failing/acme/single", "2")
            .await
            .as_deref(),
        Some(w.single.digest.as_str()),
        "the certain image still copied"
    );
}
