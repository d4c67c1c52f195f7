//! `helm mirror sync FILE`: a set of charts from a classic Helm repository served on loopback
//! (`helm repo index` output) and an OCI registry, images from another registry, into a plain
//! HTTP target — written as a helmper.yaml (the exact form a check outside runs), as purser's
//! MirrorSet, as hauler manifests and as a zarf.yaml.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support;
use support::copy::{
    BASE_A, BASE_B, Image, LEGACY, SINGLE, SharedBase, assert_exit, assert_sent_once, chart_images,
    seed_legacy, seed_single, stderr, uploads_by_digest,
};
use support::helm::{Helm, text};
use support::seed::Seeder;
use support::{FaultProxy, FileServer, Flavour, Registry};

/// A chart `name` at `version` whose Deployment runs `images`, packaged into `packages`.
fn package(helm: &Helm, dir: &Path, name: &str, version: &str, images: &[Image], host: &str) {
    let src = dir.join("src").join(format!("{name}-{version}"));
    std::fs::create_dir_all(src.join("templates")).unwrap();
    std::fs::write(
        src.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1\"\n"),
    )
    .unwrap();
    let mut values = String::from("images:\n");
    for (container, reference) in chart_images(host, images) {
        values.push_str(&format!("  {container}: \"{reference}\"\n"));
    }
    std::fs::write(src.join("values.yaml"), values).unwrap();
    std::fs::write(
        src.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector:\n    matchLabels:\n      app: x\n  template:\n    metadata:\n      labels:\n        app: x\n    spec:\n      containers:\n{{- range $name, $image := .Values.images }}\n        - name: {{ $name }}\n          image: {{ $image }}\n{{- end }}\n",
    )
    .unwrap();
    let out = helm.run([
        "package",
        src.to_str().unwrap(),
        "-d",
        dir.join("packages").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

struct World {
    helm: Helm,
    dir: tempfile::TempDir,
    source: Registry,
    target: Registry,
    proxy: FaultProxy,
    repo: FileServer,
    shared: SharedBase,
    single: support::seed::Pushed,
    legacy: support::seed::Pushed,
}

impl World {
    async fn new() -> World {
        let source = Registry::start(Flavour::Distribution);
        let target = Registry::start(Flavour::Distribution);
        let proxy = FaultProxy::start(target.addr);
        let s: Seeder = source.seeder();
        let shared = SharedBase::seed(&s, &[30_000, 60_000]).await;
        let single = seed_single(&s).await;
        let legacy = seed_legacy(&s).await.0;
        let helm = Helm::with_plugins(&["mirror"]);
        let dir = tempfile::tempdir().unwrap();
        // alpha: three stable versions, one pre-release, one out of range; beta: one.
        for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0-rc.1", "2.0.0"] {
            package(
                &helm,
                dir.path(),
                "alpha",
                v,
                &[BASE_A, SINGLE],
                &source.host,
            );
        }
        package(&helm, dir.path(), "beta", "0.5.0", &[BASE_B], &source.host);
        let packages = dir.path().join("packages");
        let out = helm.run(["repo", "index", packages.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let repo = FileServer::start(&packages);
        World {
            helm,
            dir,
            source,
            target,
            proxy,
            repo,
            shared,
            single,
            legacy,
        }
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn sync(&self, file: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["mirror", "sync", file.to_str().unwrap()];
        args.extend(["--plain-http", self.source.host.as_str()]);
        args.extend(extra);
        self.helm.run(args)
    }

    async fn target_tag(&self, repo: &str, tag: &str) -> Option<String> {
        self.target.seeder().head_manifest(repo, tag).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn helmper_yaml_is_mirrored_as_helmper_would() {
    let w = World::new().await;
    let helmper = w.write(
        "helmper.yaml",
        &format!(
            "\
k8s_version: 1.31.1
charts:
- name: alpha
  version: \">=1.0.0 <2.0.0\"
  repo:
    name: local
    url: {repo}
  images:
    exclude:
    - ref: {src}/{single}
- name: beta
  version: 0.5.0
  repo:
    name: local
    url: {repo}
images:
- ref: {legacy}
registries:
- name: target
  url: oci://{proxy}
  plainHTTP: true
import:
  enabled: true
",
            repo = w.repo.url,
            src = w.source.host,
            single = SINGLE.repo,
            legacy = LEGACY.at(&w.source.host),
            proxy = w.proxy.host,
        ),
    );

    // --dry-run: the versions chosen and where they go, nothing at the target.
    let out = w.sync(&helmper, &["--dry-run"]);
    assert_exit(&out, 0);
    let said = stderr(&out);
    assert!(said.contains("alpha 1.2.0"), "the newest match: {said}");
    assert!(
        !said.contains("1.3.0-rc.1") && !said.contains("alpha 2.0.0"),
        "{said}"
    );
    assert!(
        said.contains(&format!("-> {}/charts/alpha:1.2.0", w.proxy.host)),
        "{said}"
    );
    assert!(w.target_tag("charts/alpha", "1.2.0").await.is_none());

    // The exact form: helm mirror sync helmper.yaml --plain-http SOURCEHOST.
    let out = w.sync(&helmper, &[]);
    assert_exit(&out, 0);
    let tp = |i: Image| (i.repo, i.tag);
    for ((repo, tag), digest) in [
        (tp(BASE_A), &w.shared.a.digest),
        (tp(BASE_B), &w.shared.b.digest),
        (tp(LEGACY), &w.legacy.digest),
    ] {
        assert_eq!(
            w.target_tag(repo, tag).await.as_deref(),
            Some(digest.as_str()),
            "{repo}:{tag} keeps its source path and digest\n{}",
            text(&out)
        );
    }
    assert!(
        w.target_tag(SINGLE.repo, SINGLE.tag).await.is_none(),
        "the excluded image stays behind"
    );
    let _ = &w.single;
    assert!(w.target_tag("charts/alpha", "1.2.0").await.is_some());
    assert!(w.target_tag("charts/beta", "0.5.0").await.is_some());
    let alpha_tags: BTreeSet<String> = w
        .target
        .seeder()
        .tags("charts/alpha")
        .await
        .into_iter()
        .collect();
    assert_eq!(alpha_tags, BTreeSet::from(["1.2.0".to_owned()]));

    // One plan for the set: the base layers BASE_A (alpha) and BASE_B (beta) share went once.
    let sessions = w.proxy.uploads();
    let by_digest = uploads_by_digest(&sessions);
    let seen = w.proxy.seen();
    for blob in w.shared.base_digests() {
        assert_sent_once(&by_digest, &blob, &seen);
    }

    // --explain: the set in purser's format, which reads back and runs the same.
    let out = w
        .helm
        .run(["mirror", "sync", helmper.to_str().unwrap(), "--explain"]);
    assert_exit(&out, 0);
    let explained = String::from_utf8(out.stdout).unwrap();
    assert!(
        explained.starts_with("apiVersion: purser.dev/v1alpha1\nkind: MirrorSet\n"),
        "{explained}"
    );
    let set = w.write("explained.yaml", &explained);
    let out = w.sync(&set, &["--dry-run"]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("alpha 1.2.0"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn mirror_set_ranges_selections_and_bad_files() {
    let w = World::new().await;
    let base = |select: &str, versions: &str| {
        format!(
            "\
apiVersion: purser.dev/v1alpha1
kind: MirrorSet
defaults:
  to: {to}/set
registries:
  - host: {to}
    plainHTTP: true
charts:
  - repo: {repo}
    name: alpha
    versions: \"{versions}\"
    select: {select}
",
            to = w.target.host,
            repo = w.repo.url,
        )
    };
    let chosen = |out: &std::process::Output| -> Vec<String> {
        stderr(out)
            .lines()
            .filter_map(|l| l.strip_prefix("purser: alpha "))
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    };
    for (select, versions, expected) in [
        ("latest", "^1", vec!["1.2.0"]),
        ("all", "^1", vec!["1.2.0", "1.1.0", "1.0.0"]),
        ("{latest: 2}", "*", vec!["2.0.0", "1.2.0"]),
        ("all", ">=1.2.0-0 <2", vec!["1.3.0-rc.1", "1.2.0"]),
    ] {
        let file = w.write("set.yaml", &base(select, versions));
        let out = w.sync(&file, &["--dry-run"]);
        assert_exit(&out, 0);
        assert_eq!(
            chosen(&out),
            expected,
            "{select} {versions}: {}",
            stderr(&out)
        );
    }

    // {latest: 2} for real: both versions at the target, under the set's prefix.
    let file = w.write("set.yaml", &base("{latest: 2}", "^1"));
    let lock = w.dir.path().join("set.lock");
    let out = w.sync(&file, &["-o", lock.to_str().unwrap()]);
    assert_exit(&out, 0);
    let tags: BTreeSet<String> = w
        .target
        .seeder()
        .tags("set/charts/alpha")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        tags,
        BTreeSet::from(["1.1.0".to_owned(), "1.2.0".to_owned()])
    );
    assert_eq!(
        w.target_tag(&format!("set/{}", BASE_A.repo), BASE_A.tag)
            .await
            .as_deref(),
        Some(w.shared.a.digest.as_str())
    );
    let lock_text = std::fs::read_to_string(&lock).unwrap();
    assert!(lock_text.contains(&w.shared.a.digest), "{lock_text}");

    // Bad files: errors that name the file, the line and the entry; nothing copied.
    let bad = |text: String, wants: &[&str]| {
        let file = w.write("bad.yaml", &text);
        let out = w.sync(&file, &[]);
        assert_exit(&out, 1);
        let e = stderr(&out);
        for want in wants {
            assert!(e.contains(want), "wants {want:?}: {e}");
        }
    };
    bad(
        base("latest", "^1").replace("    select: latest", "    selcet: latest"),
        &[
            "bad.yaml: line 12: charts[0].selcet: unknown key",
            "did you mean \"select\"",
        ],
    );
    bad(
        base("latest", "^1").replace("    plainHTTP: true", "    plainHTTP: yes please"),
        &["line 7: registries[0].plainHTTP: must be true or false"],
    );
    bad(
        base("latest", "^9"),
        &[
            "line 9: charts[0] (alpha)",
            "no version matches \"^9\"; the newest are 2.0.0",
        ],
    );
    let down = base("latest", "^1").replace(&w.repo.url, "http://127.0.0.1:9");
    bad(down, &["line 9: charts[0] (alpha)", "cannot be reached"]);
    assert!(w.target.seeder().tags("set/charts/alpha").await.len() == 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn hauler_and_zarf_files_give_the_same_mirror() {
    let w = World::new().await;
    let images = [BASE_A, BASE_B, LEGACY];
    let hauler = format!(
        "\
apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata:
  name: charts
spec:
  charts:
  - name: beta
    repoURL: {repo}
    version: 0.5.0
    add-images: true
---
apiVersion: content.hauler.cattle.io/v1
kind: Images
metadata:
  name: images
spec:
  images:
  - name: {a}
  - name: {legacy}
",
        repo = w.repo.url,
        a = BASE_A.at(&w.source.host),
        legacy = LEGACY.at(&w.source.host),
    );
    let zarf = format!(
        "\
kind: ZarfPackageConfig
metadata:
  name: demo
components:
- name: all
  required: true
  charts:
  - name: beta
    url: {repo}
    version: 0.5.0
  images:
{images}",
        repo = w.repo.url,
        images = images
            .iter()
            .map(|i| format!("  - {}\n", i.at(&w.source.host)))
            .collect::<String>(),
    );
    for (name, content) in [("hauler.yaml", hauler), ("zarf.yaml", zarf)] {
        let file = w.write(name, &content);
        let prefix = name.trim_end_matches(".yaml");
        let to = format!("{}/{prefix}", w.target.host);
        let out = w.sync(&file, &["--to", &to, "--plain-http", &w.target.host]);
        assert_exit(&out, 0);
        for (image, digest) in [
            (BASE_A, &w.shared.a.digest),
            (BASE_B, &w.shared.b.digest),
            (LEGACY, &w.legacy.digest),
        ] {
            assert_eq!(
                w.target_tag(&format!("{prefix}/{}", image.repo), image.tag)
                    .await
                    .as_deref(),
                Some(digest.as_str()),
                "{name}: {}\n{}",
                image.repo,
                text(&out)
            );
        }
        assert!(
            w.target_tag(&format!("{prefix}/charts/beta"), "0.5.0")
                .await
                .is_some()
        );
        if name == "zarf.yaml" {
            assert!(
                stderr(&out).contains("components[0].required"),
                "{}",
                stderr(&out)
            );
        }
    }
}
