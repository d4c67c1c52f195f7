//! The shared pieces of the `helm mirror copy` end-to-end tests (mirror_copy.rs,
//! mirror_copy_options.rs): the seeded [`Content`], the generated [`chart`], running the copy
//! through Helm ([`copy_args`], [`helm_copy`], [`report`]) and checking the target
//! ([`assert_copied`], [`assert_chart_pulled`], [`assert_no_partial_tags`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use super::helm::{Helm, text};
use super::proxy::{Seen, Upload};
use super::seed::{
    self, AMD64, Blob, OCI_MANIFEST, Pushed, Referrer, Seeder, blob_digests, child_digests,
    digest_tag, sha256,
};

pub const PREFIX: &str = "mirror";
pub const SBOM_TYPE: &str = "application/vnd.purser.test.sbom.v1+json";

// --- content ----------------------------------------------------------------------------------

/// Everything a copy must carry: a multi-platform OCI index with an attestation, a Docker
/// manifest list, a single image, two images in two repositories sharing base layers, cosign
/// `.sig` / `.att` tags, and an OCI 1.1 referrer on one platform manifest of the index.
pub struct Content {
    pub multi: (Pushed, Vec<Pushed>, Pushed),
    pub legacy: (Pushed, Vec<Pushed>),
    pub single: Pushed,
    pub base: Vec<Blob>,
    pub base_a: Pushed,
    pub base_b: Pushed,
    /// (repository, tag, manifest) of the cosign-style tags.
    pub signatures: Vec<(&'static str, String, Pushed)>,
    /// On `multi`'s linux/amd64 manifest, in acme/multi.
    pub referrer: Referrer,
}

impl Content {
    pub async fn seed(s: &Seeder) -> Content {
        let multi = s.oci_index("acme/multi", "1.0").await;
        let legacy = s.docker_list("acme/legacy", "3").await;
        let single = s.image("acme/single", Some("2"), AMD64, false).await;
        let base = s.layers("acme/base-a", &[4096, 8192]).await;
        let base_a = s.image_on_base("acme/base-a", Some("1"), &base, 1000).await;
        let base_b = s.image_on_base("team/base-b", Some("1"), &base, 2000).await;
        let sig_single = s.cosign_signature("acme/single", &single, false).await;
        let att_single = s.cosign_attestation("acme/single", &single).await;
        // A Docker v2 signature manifest on the index (cosign signs what the user names).
        let sig_multi = s.cosign_signature("acme/multi", &multi.0, true).await;
        let referrer = s
            .referrer(
                "acme/multi",
                &multi.1[0],
                SBOM_TYPE,
                json!({
                    "org.opencontainers.image.created": "2025-01-02T03:04:05Z",
                    "purser.test/kind": "sbom",
                }),
            )
            .await;
        let signatures = vec![
            (
                "acme/single",
                format!("{}.sig", digest_tag(&single.digest)),
                sig_single,
            ),
            (
                "acme/single",
                format!("{}.att", digest_tag(&single.digest)),
                att_single,
            ),
            (
                "acme/multi",
                format!("{}.sig", digest_tag(&multi.0.digest)),
                sig_multi,
            ),
        ];
        Content {
            multi,
            legacy,
            single,
            base,
            base_a,
            base_b,
            signatures,
            referrer,
        }
    }

    /// The images the chart uses: (container name, repository, tag, manifest).
    pub fn tagged(&self) -> Vec<(&'static str, &'static str, &'static str, &Pushed)> {
        vec![
            ("multi", "acme/multi", "1.0", &self.multi.0),
            ("legacy", "acme/legacy", "3", &self.legacy.0),
            ("single", "acme/single", "2", &self.single),
            ("base-a", "acme/base-a", "1", &self.base_a),
            ("base-b", "team/base-b", "1", &self.base_b),
        ]
    }

    /// Every manifest pushed, with its repository.
    pub fn manifests(&self) -> Vec<(&'static str, &Pushed)> {
        let mut out: Vec<(&'static str, &Pushed)> = self
            .tagged()
            .into_iter()
            .map(|(_, repo, _, p)| (repo, p))
            .collect();
        out.extend(self.multi.1.iter().map(|p| ("acme/multi", p)));
        out.push(("acme/multi", &self.multi.2));
        out.extend(self.legacy.1.iter().map(|p| ("acme/legacy", p)));
        out.extend(self.signatures.iter().map(|(repo, _, p)| (*repo, p)));
        out.push(("acme/multi", &self.referrer.manifest));
        out
    }

    pub fn chart_images(&self, host: &str) -> Vec<(String, String)> {
        self.tagged()
            .into_iter()
            .map(|(name, repo, tag, _)| (name.to_owned(), format!("{host}/{repo}:{tag}")))
            .collect()
    }
}

// --- the chart --------------------------------------------------------------------------------

pub struct Chart {
    /// The chart's directory (Chart.yaml, values.yaml, templates/).
    pub src: PathBuf,
    /// The archive `helm package` made of it.
    pub tgz: PathBuf,
    pub name: String,
    pub version: String,
    pub bytes: Vec<u8>,
}

/// A chart whose one Deployment runs `images` (container name, reference), packaged.
pub fn chart(helm: &Helm, dir: &Path, name: &str, images: &[(String, String)]) -> Chart {
    let src = dir.join("chart-src").join(name);
    std::fs::create_dir_all(src.join("templates")).unwrap();
    let version = "0.3.1";
    std::fs::write(
        src.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1\"\n"),
    )
    .unwrap();
    let mut values = String::from("images:\n");
    for (container, reference) in images {
        values.push_str(&format!("  {container}: \"{reference}\"\n"));
    }
    std::fs::write(src.join("values.yaml"), values).unwrap();
    std::fs::write(
        src.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}\n  template:\n    metadata:\n      labels:\n        app: {{ .Release.Name }}\n    spec:\n      containers:\n{{- range $name, $image := .Values.images }}\n        - name: {{ $name }}\n          image: {{ $image }}\n{{- end }}\n",
    )
    .unwrap();
    let tgz = helm.package(&src, &dir.join("packages"));
    let bytes = std::fs::read(&tgz).unwrap();
    Chart {
        src,
        tgz,
        name: name.to_owned(),
        version: version.to_owned(),
        bytes,
    }
}

// --- running the copy -------------------------------------------------------------------------

/// `helm mirror copy CHART --to TO --plain-http H… EXTRA…`.
pub fn copy_args(chart: &Chart, to: &str, plain: &[&str], extra: &[&str]) -> Vec<String> {
    let tgz = chart.tgz.display().to_string();
    mirror_args(&["copy", &tgz, "--to", to], plain, extra)
}

/// `helm mirror WORDS… --plain-http H… EXTRA…` (any mirror command, any charts).
pub fn mirror_args(words: &[&str], plain: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args = vec!["mirror".to_owned()];
    args.extend(words.iter().map(|s| (*s).to_owned()));
    for host in plain {
        args.push("--plain-http".to_owned());
        args.push((*host).to_owned());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

pub fn helm_copy(helm: &Helm, chart: &Chart, to: &str, plain: &[&str], extra: &[&str]) -> Output {
    helm.run(copy_args(chart, to, plain, extra))
}

pub fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON report ({e}): {}", text(out)))
}

pub fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn report_image<'a>(report: &'a Value, source: &str) -> &'a Value {
    report["images"]
        .as_array()
        .unwrap_or_else(|| panic!("no images array in {report:#}"))
        .iter()
        .find(|i| i["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in the report: {report:#}"))
}

/// The report lists exactly the chart's images, each with its destination, its digest and
/// `state`.
pub fn check_report_images(
    report: &Value,
    content: &Content,
    source_host: &str,
    to: &str,
    state: &str,
) {
    assert_eq!(
        report["images"].as_array().map(Vec::len),
        Some(content.tagged().len()),
        "one report entry per chart image: {report:#}"
    );
    for (_, repo, tag, pushed) in content.tagged() {
        let entry = report_image(report, &format!("{source_host}/{repo}:{tag}"));
        assert_eq!(
            entry["destination"],
            format!("{to}/{repo}:{tag}").as_str(),
            "{entry:#}"
        );
        assert_eq!(entry["digest"], pushed.digest.as_str(), "{entry:#}");
        assert_eq!(entry["state"], state, "{entry:#}");
    }
}

// --- checking the target ----------------------------------------------------------------------

/// Everything of `content` is at `dst` under PREFIX, byte for byte: every manifest (fetched by
/// digest) as pushed, every blob, every tag resolving to the source digest, the cosign tags,
/// and the referrer: through the referrers API (`referrers_api`) or the fallback tag.
pub async fn assert_copied(content: &Content, dst: &Seeder, referrers_api: bool) {
    for (_, repo, tag, pushed) in content.tagged() {
        let at = format!("{PREFIX}/{repo}");
        assert_eq!(
            dst.head_manifest(&at, tag).await.as_deref(),
            Some(pushed.digest.as_str()),
            "{at}:{tag} at the target resolves to the source digest"
        );
    }
    for (repo, tag, pushed) in &content.signatures {
        let at = format!("{PREFIX}/{repo}");
        let got = dst
            .fetch_manifest(&at, tag)
            .await
            .unwrap_or_else(|| panic!("cosign tag {at}:{tag} is not at the target"));
        assert!(
            got.bytes == pushed.bytes,
            "cosign tag {at}:{tag}: other bytes at the target"
        );
    }
    let mut checked_blobs = BTreeSet::new();
    for (repo, pushed) in content.manifests() {
        let at = format!("{PREFIX}/{repo}");
        let got = dst
            .fetch_manifest(&at, &pushed.digest)
            .await
            .unwrap_or_else(|| panic!("{at}@{} is not at the target", pushed.digest));
        assert!(
            got.bytes == pushed.bytes,
            "{at}@{}: the target serves other bytes:\n{}",
            pushed.digest,
            String::from_utf8_lossy(&got.bytes)
        );
        for blob in blob_digests(&pushed.bytes) {
            if !checked_blobs.insert((at.clone(), blob.clone())) {
                continue;
            }
            let bytes = dst
                .fetch_blob(&at, &blob)
                .await
                .unwrap_or_else(|| panic!("blob {blob} of {at}@{} is missing", pushed.digest));
            assert_eq!(sha256(&bytes), blob, "blob {blob} in {at}");
        }
    }
    assert_referrer(dst, &content.referrer, "acme/multi", referrers_api).await;
}

/// The referrer is listed for its subject at the target, with its artifactType and
/// annotations: by the referrers API, or in the `sha256-<hex>` fallback index.
pub async fn assert_referrer(dst: &Seeder, referrer: &Referrer, repo: &str, referrers_api: bool) {
    let at = format!("{PREFIX}/{repo}");
    let got = dst
        .fetch_manifest(&at, &referrer.manifest.digest)
        .await
        .unwrap_or_else(|| panic!("referrer {} is not in {at}", referrer.manifest.digest));
    assert!(
        got.bytes == referrer.manifest.bytes,
        "referrer bytes differ"
    );
    let listing = if referrers_api {
        dst.referrers(&at, &referrer.subject)
            .await
            .unwrap_or_else(|| panic!("no referrers API answer for {at}@{}", referrer.subject))
    } else {
        let tag = digest_tag(&referrer.subject);
        let index = dst
            .fetch_manifest(&at, &tag)
            .await
            .unwrap_or_else(|| panic!("no referrers fallback tag {at}:{tag} at the target"));
        serde_json::from_slice(&index.bytes).expect("fallback index JSON")
    };
    let entry = listing["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["digest"] == referrer.manifest.digest.as_str())
        .unwrap_or_else(|| {
            panic!(
                "referrer {} not listed for {at}@{}: {listing:#}",
                referrer.manifest.digest, referrer.subject
            )
        });
    assert_eq!(
        entry["artifactType"],
        referrer.artifact_type.as_str(),
        "{entry:#}"
    );
    assert_eq!(entry["annotations"], referrer.annotations, "{entry:#}");
    assert_eq!(entry["mediaType"], OCI_MANIFEST, "{entry:#}");
    assert_eq!(entry["size"], referrer.manifest.bytes.len(), "{entry:#}");
}

/// `helm pull oci://TO/charts/NAME --version V` gives the source archive, byte for byte.
pub fn assert_chart_pulled(helm: &Helm, chart: &Chart, chart_ref: &str, dir: &Path) {
    let dest = dir.join("pulled");
    std::fs::create_dir_all(&dest).unwrap();
    let out = helm.run([
        "pull",
        chart_ref,
        "--version",
        &chart.version,
        "--plain-http",
        "--destination",
        dest.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "helm pull {chart_ref}: {}",
        text(&out)
    );
    let pulled = dest.join(format!("{}-{}.tgz", chart.name, chart.version));
    let bytes = std::fs::read(&pulled)
        .unwrap_or_else(|e| panic!("{}: {e} ({})", pulled.display(), text(&out)));
    assert!(
        bytes == chart.bytes,
        "the chart pulled from {chart_ref} differs from the archive copied ({} vs {} bytes)",
        bytes.len(),
        chart.bytes.len()
    );
}

/// Every tag in `dst` points at a complete image: each manifest it names (recursively) and
/// each blob exists. Returns the tags seen.
pub async fn assert_no_partial_tags(dst: &Seeder) -> Vec<String> {
    let mut seen = Vec::new();
    for repo in dst.catalog().await {
        for tag in dst.tags(&repo).await {
            let top = dst
                .fetch_manifest(&repo, &tag)
                .await
                .unwrap_or_else(|| panic!("{repo}:{tag} is listed but does not resolve"));
            let mut pending = vec![(format!("{repo}:{tag}"), top.bytes)];
            while let Some((name, bytes)) = pending.pop() {
                for child in child_digests(&bytes) {
                    let got = dst.fetch_manifest(&repo, &child).await.unwrap_or_else(|| {
                        panic!("{name} is tagged but its manifest {child} is missing")
                    });
                    pending.push((format!("{repo}@{child}"), got.bytes));
                }
                for blob in blob_digests(&bytes) {
                    assert!(
                        dst.blob_exists(&repo, &blob).await,
                        "{repo}:{tag} is tagged but blob {blob} of {name} is missing"
                    );
                }
            }
            seen.push(format!("{repo}:{tag}"));
        }
    }
    seen
}

pub fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn random_u64() -> u64 {
    u64::from_le_bytes(seed::random_bytes(8).try_into().unwrap())
}

/// Committed upload sessions per digest.
pub fn uploads_by_digest(sessions: &[Upload]) -> BTreeMap<String, Vec<&Upload>> {
    let mut out: BTreeMap<String, Vec<&Upload>> = BTreeMap::new();
    for u in sessions {
        if let Some(d) = &u.digest {
            out.entry(d.clone()).or_default().push(u);
        }
    }
    out
}

/// The requests in `seen`, one a line (method, target, status, body bytes), for messages.
pub fn trail(seen: &[Seen]) -> String {
    seen.iter()
        .map(|s| {
            format!(
                "  {} {} -> {:?} {}B",
                s.method, s.path, s.status, s.body_len
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
