//! The shared pieces of the `helm mirror copy` end-to-end tests (mirror_copy.rs,
//! mirror_copy_options.rs): the seeded images ([`Image`], [`SharedBase`], [`Content`]), the
//! generated [`chart`], a [`Job`] that runs the copy through Helm and reads its [`report`], and
//! the checks of the report, the lock and the target ([`assert_copied`], [`assert_tag_at`],
//! [`assert_chart_pulled`], [`assert_no_partial_tags`], …).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::helm::{Helm, text};
use super::proxy::{Mount, Seen, Upload};
use super::seed::{
    AMD64, Blob, LargeBlob, OCI_MANIFEST, Pushed, Referrer, Seeder, blob_digests, child_digests,
    digest_tag, sha256,
};

pub const PREFIX: &str = "mirror";
pub const SBOM_TYPE: &str = "application/vnd.purser.test.sbom.v1+json";

// --- content ----------------------------------------------------------------------------------

/// An image the tests seed and charts run: the container name, repository and tag.
#[derive(Clone, Copy, Debug)]
pub struct Image {
    pub name: &'static str,
    pub repo: &'static str,
    pub tag: &'static str,
}

const fn image(name: &'static str, repo: &'static str, tag: &'static str) -> Image {
    Image { name, repo, tag }
}

/// An OCI index (three platforms and an attestation): [`Seeder::oci_index`].
pub const MULTI: Image = image("multi", "acme/multi", "1.0");
/// A Docker manifest list: [`seed_legacy`].
pub const LEGACY: Image = image("legacy", "acme/legacy", "3");
/// A linux/amd64 OCI image: [`seed_single`].
pub const SINGLE: Image = image("single", "acme/single", "2");
/// The two images of a [`SharedBase`].
pub const BASE_A: Image = image("base-a", "acme/base-a", "1");
pub const BASE_B: Image = image("base-b", "team/base-b", "1");
/// A linux/amd64 OCI image with one large layer: [`Seeder::large_image`].
pub const BIG: Image = image("big", "acme/big", "1");
/// An image no test seeds.
pub const NOTHERE: Image = image("nothere", "acme/nothere", "9");

impl Image {
    /// `HOST/REPO:TAG`.
    pub fn at(&self, host: &str) -> String {
        format!("{host}/{}:{}", self.repo, self.tag)
    }

    /// `REPO:TAG`.
    pub fn repo_tag(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }

    /// Its repository at the target: `PREFIX/REPO`.
    pub fn target_repo(&self) -> String {
        format!("{PREFIX}/{}", self.repo)
    }
}

/// The chart's images (container name, `HOST/REPO:TAG`) for these images at `host`.
pub fn chart_images(host: &str, images: &[Image]) -> Vec<(String, String)> {
    images
        .iter()
        .map(|i| (i.name.to_owned(), i.at(host)))
        .collect()
}

/// [`SINGLE`]: a linux/amd64 OCI image.
pub async fn seed_single(s: &Seeder) -> Pushed {
    s.image(SINGLE.repo, Some(SINGLE.tag), AMD64, false).await
}

/// [`LEGACY`]: a Docker manifest list and its two images.
pub async fn seed_legacy(s: &Seeder) -> (Pushed, Vec<Pushed>) {
    s.docker_list(LEGACY.repo, LEGACY.tag).await
}

/// [`BASE_A`] and [`BASE_B`]: two images in two repositories whose first layers are the same
/// `base` blobs, each with one layer of its own.
pub struct SharedBase {
    pub base: Vec<Blob>,
    pub a: Pushed,
    pub b: Pushed,
}

impl SharedBase {
    /// Base layers of these sizes, then the two images on them.
    pub async fn seed(s: &Seeder, sizes: &[usize]) -> SharedBase {
        let base = s.layers(BASE_A.repo, sizes).await;
        let a = s
            .image_on_base(BASE_A.repo, Some(BASE_A.tag), &base, 1000)
            .await;
        let b = s
            .image_on_base(BASE_B.repo, Some(BASE_B.tag), &base, 2000)
            .await;
        SharedBase { base, a, b }
    }

    pub fn images(&self) -> [(Image, &Pushed); 2] {
        [(BASE_A, &self.a), (BASE_B, &self.b)]
    }

    /// The digests of the base layers.
    pub fn base_digests(&self) -> BTreeSet<String> {
        self.base.iter().map(|b| b.digest.clone()).collect()
    }
}

/// Everything a copy must carry: a multi-platform OCI index with an attestation, a Docker
/// manifest list, a single image, two images in two repositories sharing base layers, cosign
/// `.sig` / `.att` tags, and an OCI 1.1 referrer on one platform manifest of the index.
pub struct Content {
    pub multi: (Pushed, Vec<Pushed>, Pushed),
    pub legacy: (Pushed, Vec<Pushed>),
    pub single: Pushed,
    pub shared: SharedBase,
    /// (repository, tag, manifest) of the cosign-style tags.
    pub signatures: Vec<(&'static str, String, Pushed)>,
    /// On `multi`'s linux/amd64 manifest, in acme/multi.
    pub referrer: Referrer,
}

impl Content {
    pub async fn seed(s: &Seeder) -> Content {
        let multi = s.oci_index(MULTI.repo, MULTI.tag).await;
        let legacy = seed_legacy(s).await;
        let single = seed_single(s).await;
        let shared = SharedBase::seed(s, &[4096, 8192]).await;
        let sig_single = s.cosign_signature(SINGLE.repo, &single, false).await;
        let att_single = s.cosign_attestation(SINGLE.repo, &single).await;
        // A Docker v2 signature manifest on the index (cosign signs what the user names).
        let sig_multi = s.cosign_signature(MULTI.repo, &multi.0, true).await;
        let referrer = s
            .referrer(
                MULTI.repo,
                &multi.1[0],
                SBOM_TYPE,
                json!({
                    "org.opencontainers.image.created": "2025-01-02T03:04:05Z",
                    "purser.test/kind": "sbom",
                }),
            )
            .await;
        let signatures = [
            (SINGLE.repo, &single, "sig", sig_single),
            (SINGLE.repo, &single, "att", att_single),
            (MULTI.repo, &multi.0, "sig", sig_multi),
        ]
        .into_iter()
        .map(|(repo, signed, suffix, pushed)| {
            (
                repo,
                format!("{}.{suffix}", digest_tag(&signed.digest)),
                pushed,
            )
        })
        .collect();
        Content {
            multi,
            legacy,
            single,
            shared,
            signatures,
            referrer,
        }
    }

    /// The images the chart uses, with their manifests.
    pub fn tagged(&self) -> Vec<(Image, &Pushed)> {
        let [base_a, base_b] = self.shared.images();
        vec![
            (MULTI, &self.multi.0),
            (LEGACY, &self.legacy.0),
            (SINGLE, &self.single),
            base_a,
            base_b,
        ]
    }

    /// Every manifest pushed, with its repository.
    pub fn manifests(&self) -> Vec<(&'static str, &Pushed)> {
        let mut out: Vec<(&'static str, &Pushed)> = self
            .tagged()
            .into_iter()
            .map(|(image, p)| (image.repo, p))
            .collect();
        out.extend(self.multi.1.iter().map(|p| (MULTI.repo, p)));
        out.push((MULTI.repo, &self.multi.2));
        out.extend(self.legacy.1.iter().map(|p| (LEGACY.repo, p)));
        out.extend(self.signatures.iter().map(|(repo, _, p)| (*repo, p)));
        out.push((MULTI.repo, &self.referrer.manifest));
        out
    }

    /// The images the chart uses.
    pub fn images(&self) -> Vec<Image> {
        self.tagged().into_iter().map(|(i, _)| i).collect()
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

impl Chart {
    /// `oci://TO/charts/NAME`: where a copy to `to` puts it.
    pub fn oci_at(&self, to: &str) -> String {
        format!("oci://{to}/charts/{}", self.name)
    }

    /// `TO/charts/NAME:VERSION`: the destination a copy to `to` reports.
    pub fn destination(&self, to: &str) -> String {
        format!("{to}/charts/{}:{}", self.name, self.version)
    }

    /// Its repository at the target: `PREFIX/charts/NAME`.
    pub fn target_repo(&self) -> String {
        format!("{PREFIX}/charts/{}", self.name)
    }
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

/// One chart to copy: Helm with the `mirror` and `relocate` plugins in its own homes, a temp
/// dir with the chart packaged in it, where the copy goes (`--to`) and the registries it
/// reaches over plain HTTP.
pub struct Job {
    pub helm: Helm,
    pub dir: TempDir,
    pub chart: Chart,
    /// `TARGET/PREFIX`.
    pub to: String,
    pub plain: Vec<String>,
}

impl Job {
    /// Chart `name` running `images` from the registry `source`, copied to `TARGET/PREFIX`;
    /// `--plain-http` for both.
    pub fn new(name: &str, images: &[Image], source: &str, target: &str) -> Job {
        Job::running(name, &chart_images(source, images), source, target)
    }

    /// Chart `name` running `images` (container name, reference), copied to
    /// `TARGET/PREFIX`; `--plain-http` for `source` and `target`.
    pub fn running(name: &str, images: &[(String, String)], source: &str, target: &str) -> Job {
        let helm = Helm::with_plugins(&["mirror", "relocate"]);
        let dir = tempfile::tempdir().unwrap();
        let chart = chart(&helm, dir.path(), name, images);
        Job {
            helm,
            dir,
            chart,
            to: format!("{target}/{PREFIX}"),
            plain: vec![source.to_owned(), target.to_owned()],
        }
    }

    /// `--plain-http` for `host` too.
    pub fn plain_too(mut self, host: &str) -> Job {
        self.plain.push(host.to_owned());
        self
    }

    /// A path in the job's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn plain(&self) -> Vec<&str> {
        self.plain.iter().map(String::as_str).collect()
    }

    /// The arguments of the copy to `to`.
    pub fn args_to(&self, to: &str, extra: &[&str]) -> Vec<String> {
        copy_args(&self.chart, to, &self.plain(), extra)
    }

    /// The arguments of the copy.
    pub fn args(&self, extra: &[&str]) -> Vec<String> {
        self.args_to(&self.to, extra)
    }

    /// `helm mirror copy CHART --to TO …` run.
    pub fn copy_to(&self, to: &str, extra: &[&str]) -> Output {
        self.helm.run(self.args_to(to, extra))
    }

    /// `helm mirror copy CHART --to TARGET/PREFIX …` run.
    pub fn copy(&self, extra: &[&str]) -> Output {
        self.copy_to(&self.to, extra)
    }

    /// The copy with `--json` after `extra`: it exits 0; its report.
    pub fn copy_report(&self, extra: &[&str]) -> Value {
        let extra: Vec<&str> = extra.iter().copied().chain(["--json"]).collect();
        report_of_success(&self.copy(&extra))
    }

    /// Any `helm mirror WORDS… --plain-http … EXTRA…` run.
    pub fn mirror(&self, words: &[&str], extra: &[&str]) -> Output {
        self.helm.run(mirror_args(words, &self.plain(), extra))
    }

    /// The copy as Helm runs it: this build's purser with Helm's environment, not started.
    pub fn purser(&self, extra: &[&str]) -> Command {
        self.helm.purser(&self.args(extra)[..])
    }

    /// `helm pull` of the chart from the copy: the archive copied, byte for byte.
    pub fn assert_chart_pulled(&self) {
        assert_chart_pulled(
            &self.helm,
            &self.chart,
            &self.chart.oci_at(&self.to),
            self.dir.path(),
        );
    }

    /// `helm template` with the relocate post-renderer, the lock `lock` and `--to`: every one
    /// of `images` is rendered at the mirror, pinned to its digest. The rendered text.
    pub fn assert_relocated(&self, lock: &Path, images: &[(Image, &Pushed)]) -> String {
        let out = self.helm.run([
            "template",
            "rel",
            self.chart.tgz.to_str().unwrap(),
            "--post-renderer",
            "relocate",
            "--post-renderer-args",
            &format!("--lock={}", lock.display()),
            "--post-renderer-args",
            &format!("--to={}", self.to),
        ]);
        assert!(out.status.success(), "helm template: {}", text(&out));
        let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
        for (image, pushed) in images {
            let pinned = format!("{}@{}", image.at(&self.to), pushed.digest);
            assert!(rendered.contains(&pinned), "no {pinned} in:\n{rendered}");
        }
        rendered
    }
}

/// `out` exited with `code`; else the failure shows its output.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
}

pub fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON report ({e}): {}", text(out)))
}

/// The report of a run that exited 0.
pub fn report_of_success(out: &Output) -> Value {
    assert_exit(out, 0);
    report(out)
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

/// The report lists exactly `images`, each from `source_host`, with its destination under
/// `to`, its digest and `state`.
pub fn check_report_images(
    report: &Value,
    images: &[(Image, &Pushed)],
    source_host: &str,
    to: &str,
    state: &str,
) {
    assert_eq!(
        report["images"].as_array().map(Vec::len),
        Some(images.len()),
        "one report entry per chart image: {report:#}"
    );
    for (image, pushed) in images {
        let entry = report_image(report, &image.at(source_host));
        assert_eq!(entry["destination"], image.at(to).as_str(), "{entry:#}");
        assert_eq!(entry["digest"], pushed.digest.as_str(), "{entry:#}");
        assert_eq!(entry["state"], state, "{entry:#}");
    }
}

/// The report's row for `chart` (by name): its version, its destination under `to`, `state`.
pub fn report_chart<'a>(report: &'a Value, chart: &Chart, to: &str, state: &str) -> &'a Value {
    let row = report["charts"]
        .as_array()
        .expect("charts in the report")
        .iter()
        .find(|r| r["name"] == chart.name.as_str())
        .unwrap_or_else(|| panic!("chart {} not in the report: {report:#}", chart.name));
    assert_eq!(row["version"], chart.version.as_str(), "{row:#}");
    assert_eq!(
        row["destination"],
        chart.destination(to).as_str(),
        "{row:#}"
    );
    assert_eq!(row["state"], state, "{row:#}");
    row
}

/// The report's counts of blobs and bytes: nothing was uploaded.
pub fn assert_nothing_uploaded(report: &Value) {
    assert_eq!(report["blobs"]["uploaded"], 0, "{report:#}");
    assert_eq!(report["bytes"]["uploaded"], 0, "{report:#}");
}

// --- the lock ---------------------------------------------------------------------------------

pub fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The entry of a lock (parsed YAML) for the image whose reference ends with `/REPO:TAG`.
pub fn lock_entry<'a>(lock: &'a Value, repo_tag: &str) -> &'a Value {
    lock["images"]
        .as_array()
        .unwrap_or_else(|| panic!("no images in the lock: {lock:#}"))
        .iter()
        .find(|e| {
            e["image"]
                .as_str()
                .is_some_and(|i| i.ends_with(&format!("/{repo_tag}")))
        })
        .unwrap_or_else(|| panic!("{repo_tag} is not in the lock: {lock:#}"))
}

/// The lock lists exactly `images`, each under its name at `source_host` with its digest.
/// The entries.
pub fn check_lock_images<'a>(
    lock: &'a Value,
    images: &[(Image, &Pushed)],
    source_host: &str,
) -> Vec<&'a Value> {
    assert_eq!(
        lock["images"].as_array().map(Vec::len),
        Some(images.len()),
        "one lock entry per chart image: {lock:#}"
    );
    images
        .iter()
        .map(|(image, pushed)| {
            let entry = lock_entry(lock, &image.repo_tag());
            assert_eq!(entry["image"], image.at(source_host).as_str(), "{entry:#}");
            assert_eq!(entry["digest"], pushed.digest.as_str(), "{entry:#}");
            entry
        })
        .collect()
}

// --- checking the target ----------------------------------------------------------------------

/// `image`'s tag at `dst` (under PREFIX) resolves to `digest`; `why` says what that shows.
pub async fn assert_tag_at(dst: &Seeder, image: &Image, digest: &str, why: &str) {
    let at = image.target_repo();
    assert_eq!(
        dst.head_manifest(&at, image.tag).await.as_deref(),
        Some(digest),
        "{at}:{} at the target resolves to {digest}: {why}",
        image.tag
    );
}

/// `pushed` is in `at` at `dst`, byte for byte (fetched by digest), and so is every blob it
/// names (fetched and hashed, once per repository and blob in `checked`).
pub async fn assert_manifest_at(
    dst: &Seeder,
    at: &str,
    pushed: &Pushed,
    checked: &mut BTreeSet<(String, String)>,
) {
    let got = dst
        .fetch_manifest(at, &pushed.digest)
        .await
        .unwrap_or_else(|| panic!("{at}@{} is not at the target", pushed.digest));
    assert!(
        got.bytes == pushed.bytes,
        "{at}@{}: the target serves other bytes:\n{}",
        pushed.digest,
        String::from_utf8_lossy(&got.bytes)
    );
    for blob in blob_digests(&pushed.bytes) {
        if !checked.insert((at.to_owned(), blob.clone())) {
            continue;
        }
        let bytes = dst
            .fetch_blob(at, &blob)
            .await
            .unwrap_or_else(|| panic!("blob {blob} of {at}@{} is missing", pushed.digest));
        assert_eq!(sha256(&bytes), blob, "blob {blob} in {at}");
    }
}

/// Everything of `content` is at `dst` under PREFIX, byte for byte: every manifest (fetched by
/// digest) as pushed, every blob, every tag resolving to the source digest, the cosign tags,
/// and the referrer: through the referrers API (`referrers_api`) or the fallback tag.
pub async fn assert_copied(content: &Content, dst: &Seeder, referrers_api: bool) {
    for (image, pushed) in content.tagged() {
        assert_tag_at(dst, &image, &pushed.digest, "the source digest").await;
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
    let mut checked = BTreeSet::new();
    for (repo, pushed) in content.manifests() {
        assert_manifest_at(dst, &format!("{PREFIX}/{repo}"), pushed, &mut checked).await;
    }
    assert_referrer(dst, &content.referrer, MULTI.repo, referrers_api).await;
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

// --- what went over the wire ------------------------------------------------------------------

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

/// Every upload session was closed, committed, with a digest.
pub fn assert_uploads_finished(sessions: &[Upload], seen: &[Seen]) {
    for u in sessions {
        assert!(
            u.committed && u.digest.is_some(),
            "an upload session was left unfinished: {u:?}\n{}",
            trail(seen)
        );
    }
}

/// `blob` was uploaded once (`by_digest`: [`uploads_by_digest`]); that upload.
pub fn assert_sent_once<'a>(
    by_digest: &BTreeMap<String, Vec<&'a Upload>>,
    blob: &str,
    seen: &[Seen],
) -> &'a Upload {
    let sent = by_digest.get(blob).map_or(&[][..], Vec::as_slice);
    assert_eq!(
        sent.len(),
        1,
        "blob {blob} uploaded {} times:\n{}",
        sent.len(),
        trail(seen)
    );
    sent[0]
}

/// The one cross-repository mount of `blob` that succeeded (201).
pub fn assert_mounted_once<'a>(mounts: &'a [Mount], blob: &str, seen: &[Seen]) -> &'a Mount {
    let done: Vec<&Mount> = mounts
        .iter()
        .filter(|m| m.digest == blob && m.status == Some(201))
        .collect();
    assert_eq!(
        done.len(),
        1,
        "shared blob {blob}: one cross-repository mount expected:\n{}",
        trail(seen)
    );
    done[0]
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

/// The checks of a run with a 1 GiB layer: purser's sampled peak RSS (KiB) under 64 MiB, and
/// [`BIG`] at `dst` tagged to its digest with the layer whole.
pub async fn assert_big_layer_moved(
    dst: &Seeder,
    image: &Pushed,
    layer: &LargeBlob,
    peaks: &[(&str, u64)],
) {
    for (what, kib) in peaks {
        assert!(*kib > 0, "no RSS sample of the purser {what}");
        assert!(
            *kib < 64 * 1024,
            "purser {what} peaked at {} MiB with a 1 GiB layer (limit 64 MiB)",
            kib / 1024
        );
    }
    assert_tag_at(dst, &BIG, &image.digest, "moved").await;
    assert_eq!(
        dst.blob_sha256(&BIG.target_repo(), &layer.digest).await,
        Some((layer.digest.clone(), layer.size)),
        "the layer at the target hashes to its digest"
    );
}
