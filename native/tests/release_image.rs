//! `purser image push`: purser's own image, built without a daemon, pushed to real loopback
//! registries (distribution 2.8, no referrers API; oci-registry, with one), read back: index,
//! configs, layers, the SBOM referrers, the signature (real cosign v3), and the same digest
//! when built twice.

use std::io::Read;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support;
use support::copy::assert_exit;
use support::cosign::Cosign;
use support::seed::{Seeder, digest_tag, sha256};
use support::{Flavour, Registry};

const CREATED: &str = "1700000000";
const CA: &str = "/etc/ssl/certs/ca-certificates.crt";

fn push(host: &str, reference: &str, extra: &[&str], dir: &Path) -> Output {
    let mut args = vec!["image", "push", reference, "--plain-http", host, "--json"];
    args.extend_from_slice(extra);
    std::process::Command::new(support::helm::purser_bin())
        .args(&args)
        .env("COSIGN_PASSWORD", "test")
        .current_dir(dir)
        .output()
        .expect("run purser image push")
}

/// Every file of a gzip tar layer: path → (mode, uid, content).
fn files(layer: &[u8]) -> Vec<(String, u32, u64, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let (mode, uid) = (e.header().mode().unwrap(), e.header().uid().unwrap());
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, mode, uid, data)
        })
        .collect()
}

async fn json_of(seeder: &Seeder, repo: &str, reference: &str) -> Value {
    let fetched = seeder
        .fetch_manifest(repo, reference)
        .await
        .unwrap_or_else(|| panic!("{repo}:{reference} is not there"));
    serde_json::from_slice(&fetched.bytes).unwrap()
}

async fn blob_json(seeder: &Seeder, repo: &str, digest: &Value) -> Value {
    let bytes = seeder
        .fetch_blob(repo, digest.as_str().unwrap())
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_is_built_reproducibly_pushed_with_sboms_and_signed() {
    let dir = tempfile::tempdir().unwrap();
    let amd64 = std::fs::read(support::helm::purser_bin()).unwrap();
    // No arm64 build runs here: the arm64 "binary" is the test's own purser with the ELF
    // header's machine field set to aarch64 (183). The image carries bytes, it never runs them.
    let mut arm64 = amd64.clone();
    arm64[18..20].copy_from_slice(&183u16.to_le_bytes());
    let arm64_path = dir.path().join("purser-arm64");
    std::fs::write(&arm64_path, &arm64).unwrap();
    let metadata = dir.path().join("metadata.json");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            "x86_64-unknown-linux-musl",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&metadata, &out.stdout).unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (key, public) = Cosign::v3().generate_key_pair(&keys, "release", "test");

    let binary_amd64 = format!("linux/amd64={}", support::helm::purser_bin().display());
    let binary_arm64 = format!("linux/arm64={}", arm64_path.display());
    let meta_amd64 = format!("linux/amd64={}", metadata.display());
    let meta_arm64 = format!("linux/arm64={}", metadata.display());
    let flags = [
        "--binary",
        binary_amd64.as_str(),
        "--binary",
        &binary_arm64,
        "--cargo-metadata",
        &meta_amd64,
        "--cargo-metadata",
        &meta_arm64,
        "--ca-certificates",
        CA,
        "--version",
        "0.1.0",
        "--revision",
        "0123abc",
        "--source",
        "https://example.invalid/purser",
        "--created",
        CREATED,
        "--sign-key",
        key.to_str().unwrap(),
    ];

    let registry = Registry::start(Flavour::Distribution);
    let seeder = registry.seeder();
    let reference = format!("{}/tools/purser:0.1.0", registry.host);
    let out = push(&registry.host, &reference, &flags, dir.path());
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = report["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        report["reference"],
        format!("{reference}@{digest}"),
        "{report:#}"
    );
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("dynamically linked"), "{report:#}");

    // The index at the tag: two platforms, the labels.
    let at_tag = seeder
        .fetch_manifest("tools/purser", "0.1.0")
        .await
        .unwrap();
    assert_eq!(at_tag.digest.as_deref(), Some(digest.as_str()));
    let index: Value = serde_json::from_slice(&at_tag.bytes).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"]).replace('"', "")
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        index["annotations"]["org.opencontainers.image.revision"],
        "0123abc"
    );

    let mut bases = Vec::new();
    for (entry, binary) in index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&amd64, &arm64])
    {
        let manifest_digest = entry["digest"].as_str().unwrap();
        let manifest = json_of(&seeder, "tools/purser", manifest_digest).await;
        let config = blob_json(&seeder, "tools/purser", &manifest["config"]["digest"]).await;
        assert_eq!(config["architecture"], entry["platform"]["architecture"]);
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/purser");
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        for (label, value) in [
            ("org.opencontainers.image.title", "purser"),
            ("org.opencontainers.image.version", "0.1.0"),
            (
                "org.opencontainers.image.source",
                "https://example.invalid/purser",
            ),
            ("org.opencontainers.image.licenses", "Apache-2.0"),
        ] {
            assert_eq!(config["config"]["Labels"][label], value, "{config:#}");
        }
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        let mut diff_ids = Vec::new();
        let mut all = Vec::new();
        for layer in layers {
            let bytes = seeder
                .fetch_blob("tools/purser", layer["digest"].as_str().unwrap())
                .await
                .unwrap();
            diff_ids.push({
                let mut tar = Vec::new();
                flate2::read::GzDecoder::new(bytes.as_slice())
                    .read_to_end(&mut tar)
                    .unwrap();
                sha256(&tar)
            });
            all.extend(files(&bytes));
        }
        assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!(diff_ids));
        bases.push(layers[0]["digest"].clone());
        let file = |path: &str| {
            all.iter()
                .find(|f| f.0 == path)
                .unwrap_or_else(|| panic!("no {path} in the image"))
        };
        let purser = file("usr/local/bin/purser");
        assert_eq!((purser.1, purser.2), (0o555, 0));
        assert!(
            purser.3 == *binary,
            "the binary in the image is not the one given"
        );
        assert_eq!(
            file("etc/ssl/certs/ca-certificates.crt").3,
            std::fs::read(CA).unwrap()
        );
        let passwd = String::from_utf8(file("etc/passwd").3.clone()).unwrap();
        assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
        assert_eq!(file("home/nonroot/").2, 65532);

        // The SBOM: a referrer of the platform manifest (the fallback tag here), naming the
        // binary by its digest and the crates linked in.
        let referrers = json_of(&seeder, "tools/purser", &digest_tag(manifest_digest)).await;
        let sbom_entry = referrers["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["artifactType"] == "application/vnd.cyclonedx+json")
            .unwrap_or_else(|| panic!("no SBOM among {referrers:#}"));
        let sbom_manifest = json_of(
            &seeder,
            "tools/purser",
            sbom_entry["digest"].as_str().unwrap(),
        )
        .await;
        assert_eq!(sbom_manifest["subject"]["digest"], manifest_digest);
        let sbom = blob_json(
            &seeder,
            "tools/purser",
            &sbom_manifest["layers"][0]["digest"],
        )
        .await;
        assert_eq!(sbom["bomFormat"], "CycloneDX");
        let components = sbom["components"].as_array().unwrap();
        assert_eq!(
            format!(
                "sha256:{}",
                components[0]["hashes"][0]["content"].as_str().unwrap()
            ),
            sha256(binary)
        );
        let purls: Vec<&str> = components
            .iter()
            .filter_map(|c| c["purl"].as_str())
            .collect();
        for linked in ["pkg:cargo/tokio@", "pkg:cargo/rustls@", "pkg:cargo/purser@"] {
            assert!(
                purls.iter().any(|p| p.starts_with(linked)),
                "{linked} not in {purls:?}"
            );
        }
        assert!(
            !purls
                .iter()
                .any(|p| p.starts_with("pkg:cargo/clap_derive@")),
            "proc-macros are not linked: {purls:?}"
        );
    }
    assert_eq!(
        bases[0], bases[1],
        "the base layer is shared by both platforms"
    );

    // Signed with the release key: real cosign verifies the tag and each platform.
    Cosign::v3()
        .verify(&format!("{reference}@{digest}"), &public)
        .ok();
    Cosign::v3()
        .verify(
            &format!(
                "{}/tools/purser@{}",
                registry.host,
                index["manifests"][1]["digest"].as_str().unwrap()
            ),
            &public,
        )
        .ok();

    // Built twice (another registry, with a referrers API): the same digest.
    let oci = Registry::start(Flavour::Oci);
    let again = push(
        &oci.host,
        &format!("{}/purser:0.1.0", oci.host),
        &flags,
        dir.path(),
    );
    assert_exit(&again, 0);
    let report_again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report_again["digest"], digest.as_str());
    assert_eq!(
        report_again["platforms"][0]["digest"],
        report["platforms"][0]["digest"]
    );
    assert_eq!(
        report_again["platforms"][0]["sbom"],
        report["platforms"][0]["sbom"]
    );

    // A binary for the wrong platform is refused before anything is pushed.
    let wrong = format!("linux/arm64={}", support::helm::purser_bin().display());
    let refused = push(
        &registry.host,
        &format!("{}/tools/wrong:1", registry.host),
        &["--binary", &wrong, "--ca-certificates", CA],
        dir.path(),
    );
    assert_exit(&refused, 1);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("built for amd64, not arm64"), "{said}");
    assert_eq!(seeder.head_manifest("tools/wrong", "1").await, None);
}
