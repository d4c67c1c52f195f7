//! `purser images CHART --all`: the chart rendered again with its switches on (real Helm 4),
//! images named as the templates compose them, never as a values walk would guess them.

use crate::support;

use serde_json::Value;
use support::{Helm, repo_path};

const COMPOSED: &str = "tests/fixtures/charts/composed";
const CLASHING: &str = "tests/fixtures/charts/clashing";

struct Out {
    stdout: String,
    stderr: String,
}

fn purser(helm: &Helm, args: &[&str]) -> Out {
    let out = helm.purser().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "purser {args:?} failed:\n{stderr}");
    Out {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr,
    }
}

fn chart(path: &str) -> String {
    repo_path(path).to_str().unwrap().to_owned()
}

/// (image, enabled, what the first source needs or is off by) for every image of `-o json`.
fn images(json: &str) -> Vec<(String, bool, Option<String>)> {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}:\n{json}"));
    doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let source = &i["sources"][0];
            let off = source["needs"]
                .as_str()
                .or_else(|| source["disabledBy"].as_str())
                .map(str::to_owned);
            (
                i["image"].as_str().unwrap().to_owned(),
                i["enabled"].as_bool().unwrap(),
                off,
            )
        })
        .collect()
}

fn row(image: &str, enabled: bool, off: Option<&str>) -> (String, bool, Option<String>) {
    (image.to_owned(), enabled, off.map(str::to_owned))
}

#[test]
fn composed_names_come_from_the_templates_with_the_switches_they_need() {
    let helm = Helm::bare();
    let out = purser(&helm, &["images", &chart(COMPOSED), "--all", "-o", "json"]);
    assert_eq!(
        images(&out.stdout),
        [
            row("quay.io/cache/redis:7.4", false, Some("tags.cache=true")),
            row("quay.io/composed/proxy:1.0.0", true, None),
            row(
                "registry.example.com/composed/collector:0.9",
                false,
                Some("tracing.enabled=true")
            ),
            row(
                "registry.example.com/composed/exporter:1.22.0",
                false,
                Some("metrics.enabled=true")
            ),
            row("registry.example.com/composed/operator:1.22.0", true, None),
        ],
        "stderr:\n{}",
        out.stderr
    );
    // What the values walk alone would invent is gone: the renders are authoritative.
    for invented in ["library/operator", "library/exporter", "library/collector"] {
        assert!(
            !out.stdout.contains(invented),
            "{invented}:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("docker.io/composed/proxy"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("docker.io/cache/redis"),
        "{}",
        out.stdout
    );
    // One line on stderr: all at once, then a render per group to name the switches.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines,
        ["purser: --all: 4 switches off by default, 5 extra renders; every switch rendered"]
    );

    // The table and --why say which switches an image needs.
    let table = purser(&helm, &["images", &chart(COMPOSED), "--all", "-o", "table"]);
    let exporter = table
        .stdout
        .lines()
        .find(|l| l.starts_with("registry.example.com/composed/exporter:1.22.0"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(exporter.contains("certain, off"), "{exporter}");
    assert!(
        exporter.ends_with("(off: rendered with metrics.enabled=true)"),
        "{exporter}"
    );
    let why = purser(
        &helm,
        &["images", &chart(COMPOSED), "--all", "--why", "collector"],
    );
    assert!(
        why.stdout
            .starts_with("registry.example.com/composed/collector:0.9 (certain, off)\n"),
        "{}",
        why.stdout
    );
    assert!(
        why.stdout
            .contains("composed/charts/tracing/templates/daemonset.yaml: DaemonSet"),
        "{}",
        why.stdout
    );
    // The annotation names the switch as the entry's condition.
    let annotation = purser(
        &helm,
        &["images", &chart(COMPOSED), "--all", "-o", "annotation"],
    );
    assert!(
        annotation.stdout.contains(
            "image: registry.example.com/composed/exporter:1.22.0\n      condition: metrics.enabled\n"
        ),
        "{}",
        annotation.stdout
    );
}

#[test]
fn without_all_nothing_else_renders() {
    let helm = Helm::bare();
    let out = purser(&helm, &["images", &chart(COMPOSED), "-o", "list"]);
    assert_eq!(out.stderr, "");
    // The default render and the values walk, as before.
    assert!(
        out.stdout
            .contains("registry.example.com/composed/operator:1.22.0\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("exporter"), "{}", out.stdout);
}

#[test]
fn switches_that_fail_together_render_one_at_a_time() {
    let helm = Helm::bare();
    let out = purser(&helm, &["images", &chart(CLASHING), "--all", "-o", "json"]);
    assert_eq!(
        images(&out.stdout),
        [
            row("ghcr.io/clash/a:1", false, Some("features.a.enabled=true")),
            row("ghcr.io/clash/b:2", false, Some("features.b.enabled=true")),
            row(
                "ghcr.io/clash/vault:3",
                false,
                Some(
                    "values only: no render with vault.enabled=true (execution error at \
                     (clashing/templates/workloads.yaml:32:17): vault.password is required with vault.enabled)"
                )
            ),
            row("ghcr.io/clash/web:1.0", true, None),
        ],
        "stderr:\n{}",
        out.stderr
    );
    // All at once fails; groups `features` (a and b clash) and `vault` fail; a and b alone
    // render.
    assert_eq!(
        out.stderr,
        "purser: --all: 3 switches off by default, 5 extra renders; could not render: vault.enabled \
         (execution error at (clashing/templates/workloads.yaml:32:17): vault.password is required with \
         vault.enabled)\n"
    );
}

#[test]
fn the_user_flags_still_apply() {
    // With the password given, vault renders too, from the user's --set.
    let helm = Helm::bare();
    let out = purser(
        &helm,
        &[
            "images",
            &chart(CLASHING),
            "--all",
            "-o",
            "json",
            "--set",
            "vault.password=s3cret",
        ],
    );
    let got = images(&out.stdout);
    assert!(
        got.contains(&row(
            "ghcr.io/clash/vault:3",
            false,
            Some("vault.enabled=true")
        )),
        "{got:?}\n{}",
        out.stderr
    );
    assert!(
        out.stderr.ends_with("every switch rendered\n"),
        "{}",
        out.stderr
    );
}
