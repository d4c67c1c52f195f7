//! The real Trivy 0.76 from set-up (`.purser/bin/trivy`, scripts/setup-trivy.sh) and its tiny
//! offline database, built from `native/tests/fixtures/trivy-db` by `.purser/bin/trivy-db`
//! (bolt-fixtures): [`binary`], [`database`], and [`scan`], a remote `trivy image` of one
//! reference against that database.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::helm::text;
use super::repo_root;

/// Trivy from set-up.
pub fn binary() -> PathBuf {
    let bin = repo_root().join(".purser/bin/trivy");
    assert!(
        bin.is_file(),
        "no {}: run scripts/setup.sh (scripts/setup-trivy.sh)",
        bin.display()
    );
    bin
}

/// A Trivy cache under `dir` holding the fixtures' database (`CACHE/db/trivy.db`,
/// `metadata.json`).
pub fn database(dir: &Path) -> PathBuf {
    let cache = dir.join("trivy-cache");
    let out = Command::new(repo_root().join(".purser/bin/trivy-db"))
        .arg(repo_root().join("native/tests/fixtures/trivy-db"))
        .arg(&cache)
        .output()
        .expect("run .purser/bin/trivy-db (scripts/setup-trivy.sh builds it)");
    assert!(out.status.success(), "trivy-db: {}", text(&out));
    cache
}

/// `trivy image` (remote, plain HTTP allowed, offline, the database in `cache`) of `image`:
/// its report and every vulnerability it lists.
pub fn scan(cache: &Path, image: &str) -> (Value, Vec<Value>) {
    let out = Command::new(binary())
        .args([
            "image",
            "--image-src",
            "remote",
            "--scanners",
            "vuln",
            "--insecure",
        ])
        .args([
            "--skip-db-update",
            "--skip-java-db-update",
            "--offline-scan",
        ])
        .args(["--quiet", "--disable-telemetry", "--skip-version-check"])
        .args(["--format", "json", "--cache-dir"])
        .arg(cache)
        .arg(image)
        .output()
        .expect("run trivy");
    assert!(out.status.success(), "trivy image {image}: {}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = report["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["Vulnerabilities"].as_array().into_iter().flatten())
        .cloned()
        .collect();
    (report, found)
}
