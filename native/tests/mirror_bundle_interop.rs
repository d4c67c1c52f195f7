//! Bundles and other tools, both ways, with the real tools: a bundle `helm mirror export` wrote
//! is read by skopeo (`oci-archive:` and, untarred, `oci:`) and by `regctl image import`; OCI
//! layouts written by crane (`pull --format=oci --annotate-ref`), skopeo (`copy … oci:DIR:REF`)
//! and `regctl image export` are pushed by `helm mirror import`; a layout that names no image by
//! a full reference is refused and pushes nothing. Registries are real (oci-registry as the
//! source, distribution 2.8 as the target: blobs linked per repository, so a blob found in a
//! repository was pushed there). Every image is checked at the target byte for byte: the tag
//! resolves to the source digest, every manifest fetched by digest is the one seeded, every
//! blob it names is there and hashes to its digest. Nothing is mocked.
//!
//! Debian's skopeo 1.9.3 only reads `index.json` entries of OCI media types (a Docker manifest
//! or list entry gives "no descriptor found for reference"), so skopeo is given OCI images.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use support::bundle::{export, import, s};
use support::copy::{
    BASE_A, BASE_B, Content, Image, Job, LEGACY, MULTI, SINGLE, assert_exit, assert_manifest_at,
    check_lock_images, check_report_images, seed_legacy, seed_single, stderr, yaml,
};
use support::helm::text;
use support::seed::{AMD64, Pushed, Seeder};
use support::{Flavour, Registry, tool};
use tempfile::TempDir;

/// An OCI image only the bare-tag test seeds.
const OTHER: Image = Image {
    name: "other",
    repo: "acme/other",
    tag: "5",
};

// --- the tools --------------------------------------------------------------------------------

/// Runs `cmd`, which must succeed (else the failure shows its output).
fn run(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(out.status.success(), "{what}: {}", text(&out));
    out
}

/// `skopeo --insecure-policy ARGS…` (no signature policy: test content is unsigned).
fn skopeo(args: &[&str]) {
    let mut cmd = Command::new(tool("skopeo"));
    cmd.arg("--insecure-policy").args(args);
    run(cmd, &format!("skopeo {}", args.join(" ")));
}

/// `crane ARGS… --insecure` (plain HTTP).
fn crane(args: &[&str]) {
    let mut cmd = Command::new(tool("crane"));
    cmd.args(args).arg("--insecure");
    run(cmd, &format!("crane {}", args.join(" ")));
}

/// regctl with its own configuration ($HOME/.regctl in a temp dir) in which `hosts` are
/// plain HTTP.
struct Regctl {
    home: TempDir,
}

impl Regctl {
    fn new(hosts: &[&str]) -> Regctl {
        let regctl = Regctl {
            home: tempfile::Builder::new()
                .prefix("purser-regctl-")
                .tempdir()
                .unwrap(),
        };
        for host in hosts {
            regctl.run(&["registry", "set", host, "--tls", "disabled"]);
        }
        regctl
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(tool("regctl"));
        cmd.args(args).env("HOME", self.home.path());
        run(cmd, &format!("regctl {}", args.join(" ")))
    }
}

/// `tar -C DIR -cf OUT .`: a layout directory tarred up as a tool's user would.
fn tar_dir(dir: &Path, out: &Path) {
    let mut cmd = Command::new(tool("tar"));
    cmd.args(["-C", s(dir), "-cf", s(out), "."]);
    run(cmd, &format!("tar -cf {}", out.display()));
}

/// `tar -C DIR -xf FILE`.
fn untar(file: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(tool("tar"));
    cmd.args(["-C", s(dir), "-xf", s(file)]);
    run(cmd, &format!("tar -xf {}", file.display()));
}

// --- the checks -------------------------------------------------------------------------------

/// An image seeded at the source: the manifest its tag names first, then the manifests that one
/// lists (an index's platform and attestation manifests).
struct Seeded {
    image: Image,
    manifests: Vec<Pushed>,
}

impl Seeded {
    fn new(image: Image, top: &Pushed, children: &[Pushed]) -> Seeded {
        let mut manifests = vec![top.clone()];
        manifests.extend(children.iter().cloned());
        Seeded { image, manifests }
    }

    fn top(&self) -> &Pushed {
        &self.manifests[0]
    }

    /// `HOST/REPO:TAG`, its full reference at the source.
    fn source(&self, host: &str) -> String {
        self.image.at(host)
    }

    /// At `dst`, `repo:TAG` resolves to the source digest, and every manifest of the image is
    /// there (fetched by digest) byte for byte with every blob it names.
    async fn assert_at(&self, dst: &Seeder, repo: &str, how: &str) {
        let tag = self.image.tag;
        assert_eq!(
            dst.head_manifest(repo, tag).await.as_deref(),
            Some(self.top().digest.as_str()),
            "{how}: {repo}:{tag} at the target must resolve to the source digest"
        );
        let mut checked = Default::default();
        for pushed in &self.manifests {
            assert_manifest_at(dst, repo, pushed, &mut checked).await;
        }
    }
}

/// The OCI images of `content` (skopeo 1.9.3 reads those only), with their manifests.
fn oci_images(content: &Content) -> Vec<Seeded> {
    let (index, platforms, attestation) = &content.multi;
    let mut children = platforms.clone();
    children.push(attestation.clone());
    vec![
        Seeded::new(MULTI, index, &children),
        Seeded::new(SINGLE, &content.single, &[]),
        Seeded::new(BASE_A, &content.shared.a, &[]),
        Seeded::new(BASE_B, &content.shared.b, &[]),
    ]
}

/// Every image of `content`'s chart (the Docker manifest list too), with its manifests.
fn all_images(content: &Content) -> Vec<Seeded> {
    let mut images = oci_images(content);
    let (list, children) = &content.legacy;
    images.insert(1, Seeded::new(LEGACY, list, children));
    images
}

/// `content` seeded at `src`, its chart exported to a bundle by `helm mirror export`.
async fn exported(
    name: &str,
    src: &Registry,
    dst: &Registry,
) -> (Content, Job, std::path::PathBuf) {
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new(name, &content.images(), &src.host, &dst.host);
    let bundle = job.path("bundle.tar");
    let report = export(&job, &bundle, &[], 0);
    assert_eq!(report["complete"], true, "{report:#}");
    (content, job, bundle)
}

/// The index, platform manifests and attestation of an OCI index seeded as [`MULTI`], the
/// [`SINGLE`] image and the [`LEGACY`] Docker manifest list (when `legacy`).
async fn seed_few(src: &Seeder, legacy: bool) -> Vec<Seeded> {
    let (index, mut children, attestation) = src.oci_index(MULTI.repo, MULTI.tag).await;
    children.push(attestation);
    let single = seed_single(src).await;
    let mut images = vec![
        Seeded::new(MULTI, &index, &children),
        Seeded::new(SINGLE, &single, &[]),
    ];
    if legacy {
        let (list, children) = seed_legacy(src).await;
        images.push(Seeded::new(LEGACY, &list, &children));
    }
    images
}

/// `helm mirror import LAYOUT --to DST/mirror -o LOCK`: every one of `images` is reported
/// copied from its source reference to its place under the prefix, is at the target with the
/// source digest, byte for byte, and is in the lock with that digest.
async fn assert_imported(job: &Job, layout: &Path, images: &[Seeded], src: &str, dst: &Seeder) {
    let lock = job.path(&format!(
        "{}.lock",
        layout.file_stem().unwrap().to_str().unwrap()
    ));
    let report = import(job, &[layout], &["-o", s(&lock)], 0);
    assert_eq!(report["complete"], true, "{report:#}");
    let expected: Vec<(Image, &Pushed)> = images.iter().map(|i| (i.image, i.top())).collect();
    check_report_images(&report, &expected, src, &job.to, "copied");
    for image in images {
        image
            .assert_at(dst, &image.image.target_repo(), "helm mirror import")
            .await;
    }
    check_lock_images(&yaml(&lock), &expected, src);
}

// --- purser's bundles read by other tools -----------------------------------------------------

/// skopeo copies each OCI image of a purser bundle by its full source reference, from the tar
/// (`oci-archive:BUNDLE:HOST:PORT/REPO:TAG`) and from the layout untarred (`oci:DIR:…`), with
/// every manifest and blob: the index with all its instances (`--all`), digests kept.
#[tokio::test(flavor = "multi_thread")]
async fn skopeo_reads_a_purser_bundle() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let (content, job, bundle) = exported("skopeo-reads", &src, &dst).await;
    let dir = job.path("layout");
    untar(&bundle, &dir);

    let ways = [
        ("oci-archive", format!("oci-archive:{}", s(&bundle))),
        ("oci", format!("oci:{}", s(&dir))),
    ];
    let images = oci_images(&content);
    for (way, layout) in &ways {
        for image in &images {
            let repo = format!("{way}/{}", image.image.repo);
            let from = format!("{layout}:{}", image.source(&src.host));
            let to = format!("docker://{}/{repo}:{}", dst.host, image.image.tag);
            skopeo(&[
                "copy",
                "--all",
                "--preserve-digests",
                "--dest-tls-verify=false",
                &from,
                &to,
            ]);
            image
                .assert_at(&dst.seeder(), &repo, &format!("skopeo copy {from}"))
                .await;
        }
    }
}

/// `regctl image import DST BUNDLE --name FULL-REFERENCE` pushes each image of a purser
/// bundle, the Docker manifest list included, byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn regctl_imports_a_purser_bundle() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let (content, _job, bundle) = exported("regctl-reads", &src, &dst).await;
    let regctl = Regctl::new(&[&dst.host]);
    for image in all_images(&content) {
        let repo = format!("regctl/{}", image.image.repo);
        let to = format!("{}/{repo}:{}", dst.host, image.image.tag);
        let name = image.source(&src.host);
        regctl.run(&["image", "import", &to, s(&bundle), "--name", &name]);
        image
            .assert_at(
                &dst.seeder(),
                &repo,
                &format!("regctl image import --name {name}"),
            )
            .await;
    }
}

// --- other tools' layouts imported by purser --------------------------------------------------

/// `crane pull --format=oci --annotate-ref` of an OCI index, an OCI image and a Docker
/// manifest list into one layout, tarred up: `helm mirror import` pushes each by the name
/// crane wrote (`org.opencontainers.image.ref.name`).
#[tokio::test(flavor = "multi_thread")]
async fn import_reads_a_crane_layout() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let images = seed_few(&src.seeder(), true).await;
    let chart: Vec<Image> = images.iter().map(|i| i.image).collect();
    let job = Job::new("crane-layout", &chart, &src.host, &dst.host);
    let dir = job.path("crane");
    let mut args = vec![
        "pull".to_owned(),
        "--format=oci".into(),
        "--annotate-ref".into(),
    ];
    args.extend(images.iter().map(|i| i.source(&src.host)));
    args.push(s(&dir).to_owned());
    crane(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let layout = job.path("crane.tar");
    tar_dir(&dir, &layout);

    assert_imported(&job, &layout, &images, &src.host, &dst.seeder()).await;
}

/// `skopeo copy --all --preserve-digests docker://… oci:DIR:FULL-REFERENCE` of two images into
/// one layout, plus a third named by a bare tag (`oci:DIR:5`), tarred up: `helm mirror import`
/// pushes the two named by full references and leaves the bare tag out.
#[tokio::test(flavor = "multi_thread")]
async fn import_reads_a_skopeo_layout() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let seeder = src.seeder();
    let images = seed_few(&seeder, false).await;
    let other = seeder
        .image(OTHER.repo, Some(OTHER.tag), AMD64, false)
        .await;
    let job = Job::new(
        "skopeo-layout",
        &[MULTI, SINGLE, OTHER],
        &src.host,
        &dst.host,
    );
    let dir = job.path("skopeo");
    let copy = |from: String, name: &str| {
        let to = format!("oci:{}:{name}", s(&dir));
        skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{from}"),
            &to,
        ]);
    };
    for image in &images {
        copy(image.source(&src.host), &image.source(&src.host));
    }
    copy(OTHER.at(&src.host), OTHER.tag);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(3),
        "skopeo wrote one index.json entry per image: {index:#}"
    );
    let layout = job.path("skopeo.tar");
    tar_dir(&dir, &layout);

    assert_imported(&job, &layout, &images, &src.host, &dst.seeder()).await;
    // Nothing else was pushed: not the bare tag's image, under any name.
    let catalog = dst.seeder().catalog().await;
    let mut expected: Vec<String> = images.iter().map(|i| i.image.target_repo()).collect();
    expected.sort();
    assert_eq!(
        catalog, expected,
        "the bare-tag entry ({}, {}) is left out",
        OTHER.tag, other.digest
    );
}

/// `regctl image export REF OUT.tar` (index.json naming the image in
/// `io.containerd.image.name`, the bare tag in `org.opencontainers.image.ref.name`) of an OCI
/// index, and of a Docker manifest list: `helm mirror import` pushes each.
#[tokio::test(flavor = "multi_thread")]
async fn import_reads_a_regctl_export() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let images = seed_few(&src.seeder(), true).await;
    let chart: Vec<Image> = images.iter().map(|i| i.image).collect();
    let job = Job::new("regctl-export", &chart, &src.host, &dst.host);
    let regctl = Regctl::new(&[&src.host]);
    for image in images.into_iter().filter(|i| i.image.name != SINGLE.name) {
        let layout = job.path(&format!("regctl-{}.tar", image.image.name));
        regctl.run(&["image", "export", &image.source(&src.host), s(&layout)]);
        assert_imported(&job, &layout, &[image], &src.host, &dst.seeder()).await;
    }
}

/// A crane layout without `--annotate-ref` (index.json names nothing): `helm mirror import`
/// exits 1, says the layout names no image by a full reference and how to name them, and
/// pushes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn import_refuses_a_layout_naming_nothing() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let images = seed_few(&src.seeder(), false).await;
    let job = Job::new("unnamed", &[MULTI, SINGLE], &src.host, &dst.host);
    let dir = job.path("crane");
    crane(&[
        "pull",
        "--format=oci",
        &images[0].source(&src.host),
        &images[1].source(&src.host),
        s(&dir),
    ]);
    let layout = job.path("unnamed.tar");
    tar_dir(&dir, &layout);

    let out = job.mirror(&["import", s(&layout), "--to", &job.to], &["--json"]);
    assert_exit(&out, 1);
    let said = stderr(&out);
    assert!(
        said.contains("full reference") && said.contains("--annotate-ref"),
        "the refusal says why and how to name images: {}",
        text(&out)
    );
    let catalog = dst.seeder().catalog().await;
    assert!(catalog.is_empty(), "nothing is pushed: {catalog:?}");
}
