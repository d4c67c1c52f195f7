//! The release packages, installed the ways a Helm 4 user installs them, with the real Helm
//! 4.2.4: `purser plugin push` puts `dist/` into a registry (oci-registry and distribution 2.8),
//! and `helm plugin install oci://…` and `helm plugin install http://…/NAME-VERSION.tgz` take
//! them from there, verifying the `.prov` against `--keyring`: a foreign key and a tampered
//! package are refused, and nothing is installed. Then `helm images`, `helm mirror` and the
//! `relocate` post-renderer run from the installed packages (the binaries inside them, not this
//! checkout's).
//!
//! The packages are made by the real `scripts/package.sh pack` from this build's binary
//! ([`support::packages::Dist`]), signed with a throw-away GnuPG key.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::copy::{SINGLE, seed_single};
use support::gpg::GpgKey;
use support::helm::{Helm, feed, purser_bin, text};
use support::packages::{Dist, SIGNER};
use support::seed::sha256;
use support::{FileServer, Flavour, Registry, tool};

const PLUGINS: [&str; 3] = ["images", "mirror", "relocate"];

/// `purser plugin push ARGS… --plain-http HOST --json`.
fn push(args: &[&str], host: &str) -> Output {
    Command::new(purser_bin())
        .args(["plugin", "push"])
        .args(args)
        .args(["--plain-http", host, "--json"])
        .env("DOCKER_CONFIG", "/nonexistent")
        .output()
        .expect("run purser plugin push")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}", text(out)))
}

/// `helm plugin install SOURCE --keyring RING [extra…]`.
fn install(helm: &Helm, source: &str, keyring: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "plugin",
        "install",
        source,
        "--keyring",
        keyring.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    helm.run(args)
}

/// The plugins `helm plugin list` shows, as (name, provenance column).
fn listed(helm: &Helm) -> Vec<(String, String)> {
    let out = helm.run(["plugin", "list"]);
    assert!(out.status.success(), "helm plugin list: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (
                cols[0].to_owned(),
                cols.get(4).copied().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn plugin_dir(helm: &Helm, name: &str) -> std::path::PathBuf {
    helm.homes.path().join("data/plugins").join(name)
}

/// A chart whose one image, `HOST/acme/single:2`, is in the registry given by `--set registry=`.
fn chart(dir: &Path) -> std::path::PathBuf {
    let chart = dir.join("shipped");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: shipped\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "registry: 127.0.0.1:1\n").unwrap();
    std::fs::write(
        chart.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  containers:\n    - name: app\n      image: {{ .Values.registry }}/acme/single:2\n",
    )
    .unwrap();
    chart
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_to_a_registry_installed_verified_and_working() {
    let dist = Dist::pack();
    let foreign = GpgKey::generate("someone else <else@purser.invalid>");
    let registry = Registry::start(Flavour::Oci);
    let host = registry.host.clone();
    let base = format!("oci://{host}/purser/plugins");

    // Push dist/: the three Helm 4 plugins, with provenance; the Helm 3 packages are skipped.
    let out = push(&[dist.dir.to_str().unwrap(), &base], &host);
    assert!(out.status.success(), "purser plugin push: {}", text(&out));
    let report = json(&out);
    assert_eq!(report["complete"], true);
    let pushed: Vec<&str> = report["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["state"], "pushed", "{p}");
            assert!(p["provenance"].is_string(), "{p}");
            p["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(pushed, PLUGINS);
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("images-legacy-"), "{skipped}");

    // What Helm pulls: the artifact type, the empty config, titled tar(+gzip) layers.
    for name in PLUGINS {
        let reference = format!("{host}/purser/plugins/{name}:{}", dist.version);
        let out = Command::new(tool("crane"))
            .args(["manifest", "--insecure", &reference])
            .output()
            .unwrap();
        assert!(out.status.success(), "crane manifest: {}", text(&out));
        let m: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(m["artifactType"], "application/vnd.helm.plugin.v1+json");
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        let file = format!("{name}-{}.tgz", dist.version);
        let package = std::fs::read(dist.tarball(name)).unwrap();
        let prov = std::fs::read(dist.dir.join(format!("{file}.prov"))).unwrap();
        let layers = m["layers"].as_array().unwrap();
        let title = |l: &Value| l["annotations"]["org.opencontainers.image.title"].clone();
        assert_eq!(layers.len(), 2, "{m}");
        assert_eq!(
            layers[0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(title(&layers[0]), file.as_str());
        assert_eq!(layers[0]["digest"], sha256(&package));
        assert_eq!(
            layers[1]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar"
        );
        assert_eq!(title(&layers[1]), format!("{file}.prov").as_str());
        assert_eq!(layers[1]["digest"], sha256(&prov));
    }

    // A keyring without the signer's key: refused, nothing installed.
    let helm = Helm::with_plugins(&[]);
    let images = format!("{base}/images:{}", dist.version);
    let out = install(&helm, &images, &foreign.pubring, &["--plain-http"]);
    assert!(
        !out.status.success(),
        "installed with a foreign key: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("plugin verification failed"),
        "{}",
        text(&out)
    );
    assert!(!plugin_dir(&helm, "images").exists());
    assert!(listed(&helm).is_empty(), "{:?}", listed(&helm));

    // The release key: each verified and installed, `helm plugin list` shows them signed.
    for name in PLUGINS {
        let source = format!("{base}/{name}:{}", dist.version);
        let out = install(&helm, &source, dist.keyring(), &["--plain-http"]);
        assert!(
            out.status.success(),
            "helm plugin install {source}: {}",
            text(&out)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        let hash = sha256(&std::fs::read(dist.tarball(name)).unwrap());
        assert!(said.contains(&format!("Signed by: {SIGNER}")), "{said}");
        assert!(
            said.contains(&format!("Plugin Hash Verified: {hash}")),
            "{said}"
        );
    }
    let list = listed(&helm);
    assert_eq!(
        list,
        PLUGINS
            .iter()
            .map(|n| (n.to_string(), "signed".to_string()))
            .collect::<Vec<_>>()
    );
    // The binaries Helm runs are the packaged ones, inside the Helm data home.
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    for name in ["mirror", "relocate"] {
        let bin = plugin_dir(&helm, name).join(format!("bin/purser-linux-{arch}"));
        assert!(bin.is_file(), "no {}", bin.display());
    }
    assert!(plugin_dir(&helm, "images").join("plugin.wasm").is_file());

    // They work: helm images, helm mirror lock and copy, relocate from the mirror.
    let seeded = seed_single(&registry.seeder()).await;
    let work = tempfile::tempdir().unwrap();
    let chart = chart(work.path());
    let chart = chart.to_str().unwrap();
    let set = format!("registry={host}");
    let rendered = helm.run(["template", "rel", chart, "--set", &set]);
    assert!(
        rendered.status.success(),
        "helm template: {}",
        text(&rendered)
    );
    let out = feed(helm.command(["images", "-o", "list"]), &rendered.stdout);
    assert!(out.status.success(), "helm images: {}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{host}/{}:{}", SINGLE.repo, SINGLE.tag)
    );

    let lock = work.path().join("images.lock");
    let out = helm.run([
        "mirror",
        "lock",
        chart,
        "--set",
        &set,
        "--plain-http",
        &host,
        "-o",
        lock.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "helm mirror lock: {}", text(&out));
    let lock_text = std::fs::read_to_string(&lock).unwrap();
    assert!(lock_text.contains(&seeded.digest), "{lock_text}");

    let mirror_lock = work.path().join("mirror.lock");
    let to = format!("{host}/mirror");
    let out = helm.run([
        "mirror",
        "copy",
        chart,
        "--set",
        &set,
        "--plain-http",
        &host,
        "--to",
        &to,
        "-o",
        mirror_lock.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "helm mirror copy: {}", text(&out));
    let out = helm.run([
        "template",
        "rel",
        chart,
        "--set",
        &set,
        "--post-renderer",
        "relocate",
        "--post-renderer-args",
        &format!("--to={to}"),
        "--post-renderer-args",
        &format!("--lock={}", mirror_lock.display()),
        "--post-renderer-args",
        "--enforce",
    ]);
    assert!(out.status.success(), "relocate: {}", text(&out));
    let relocated = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "image: {to}/{}:{}@{}",
        SINGLE.repo, SINGLE.tag, seeded.digest
    );
    assert!(
        relocated.contains(&expected),
        "no {expected} in:\n{relocated}"
    );

    // distribution 2.8 takes the same artifacts, and Helm installs from it.
    let distribution = Registry::start(Flavour::Distribution);
    let out = push(
        &[
            dist.tarball("relocate").to_str().unwrap(),
            &format!("oci://{}/plugins", distribution.host),
        ],
        &distribution.host,
    );
    assert!(out.status.success(), "push to distribution: {}", text(&out));
    let other = Helm::with_plugins(&[]);
    let source = format!(
        "oci://{}/plugins/relocate:{}",
        distribution.host, dist.version
    );
    let out = install(&other, &source, dist.keyring(), &["--plain-http"]);
    assert!(
        out.status.success(),
        "install from distribution: {}",
        text(&out)
    );
    assert_eq!(
        listed(&other),
        vec![("relocate".to_string(), "signed".to_string())]
    );
}

#[test]
fn installed_from_a_url_and_refused_when_tampered_or_foreign() {
    let dist = Dist::pack();
    let foreign = GpgKey::generate("someone else <else@purser.invalid>");
    // A tampered package: the same files compressed again (other bytes), the original .prov.
    let served = tempfile::tempdir().unwrap();
    let tampered = served.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let file = format!("images-{}.tgz", dist.version);
    for f in [file.clone(), format!("{file}.prov")] {
        std::fs::copy(dist.dir.join(&f), served.path().join(&f)).unwrap();
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -dc '{0}' | gzip -1 -n > '{1}/{2}' && cp '{0}.prov' '{1}/{2}.prov'",
            dist.tarball("images").display(),
            tampered.display(),
            file
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "re-compress: {}", text(&out));
    let server = FileServer::start(served.path());
    let helm = Helm::with_plugins(&[]);

    let good = format!("{}/{file}", server.url);
    let out = install(
        &helm,
        &format!("{}/tampered/{file}", server.url),
        dist.keyring(),
        &[],
    );
    assert!(
        !out.status.success(),
        "installed a tampered package: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("plugin verification failed"),
        "{}",
        text(&out)
    );
    let out = install(&helm, &good, &foreign.pubring, &[]);
    assert!(
        !out.status.success(),
        "installed with a foreign key: {}",
        text(&out)
    );
    assert!(listed(&helm).is_empty(), "{:?}", listed(&helm));
    assert!(!plugin_dir(&helm, "images").exists());

    let out = install(&helm, &good, dist.keyring(), &[]);
    assert!(
        out.status.success(),
        "helm plugin install {good}: {}",
        text(&out)
    );
    assert_eq!(
        listed(&helm),
        vec![("images".to_string(), "signed".to_string())]
    );
    let out = helm.run(["images", "--help"]);
    assert!(out.status.success(), "helm images --help: {}", text(&out));

    // purser plugin push refuses, before any network, what Helm would refuse after.
    let out = push(
        &[
            tampered.join(&file).to_str().unwrap(),
            "oci://127.0.0.1:1/plugins",
        ],
        "127.0.0.1:1",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&file) && said.contains("the provenance file is not for this package"),
        "{said}"
    );
    let unsigned = served.path().join("unsigned");
    std::fs::create_dir_all(&unsigned).unwrap();
    std::fs::copy(
        dist.tarball("mirror"),
        unsigned.join(format!("mirror-{}.tgz", dist.version)),
    )
    .unwrap();
    let out = push(
        &[unsigned.to_str().unwrap(), "oci://127.0.0.1:1/plugins"],
        "127.0.0.1:1",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--allow-unsigned"),
        "{}",
        text(&out)
    );
}
