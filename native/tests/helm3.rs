//! Helm 3 users: the real Helm v3.22.0 (`.purser/bin/helm3`, built by scripts/setup.sh) installs
//! the legacy `images` and `mirror` packages that `scripts/package.sh` makes, lists images with
//! them, locks a chart against a registry on loopback, and post-renders `helm template` with
//! the packaged purser binary, as the README's "Helm 3" section shows.
//!
//! Helm 3 (pkg/plugin/installer) installs a plugin from a directory (a symlink to it) or from an
//! http(s) URL whose HEAD answers with a gzip media type (`application/gzip`, `x-gzip`, `x-tgz`,
//! `x-gtar`); a local `.tgz` is not a source it takes, and it reads no `.prov`. So the test
//! takes both ways a user can: `images-legacy` from a URL served as `application/gzip`, and
//! `mirror-legacy` from the tarball extracted into a directory. A URL served as
//! `application/octet-stream` (as GitHub release downloads are) is refused by Helm 3: checked
//! too, since the README tells users so.

use crate::support;

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use support::copy::{LEGACY, MULTI, NOTHERE, SINGLE, chart, chart_images, lock_entry, yaml};
use support::helm::{Helm, feed, text};
use support::packages::Dist;
use support::{Flavour, Registry, repo_root};

/// The real Helm 3 with temporary HELM_DATA_HOME, HELM_CONFIG_HOME and HELM_CACHE_HOME (and
/// HELM_BIN pointing at it), through the same wrapper the Helm 4 tests use.
fn helm3() -> Helm {
    let bin = repo_root().join(".purser/bin/helm3");
    assert!(
        bin.is_file(),
        "no {}: run scripts/setup.sh first (it builds Helm v3.22.0 there)",
        bin.display()
    );
    let helm = Helm {
        bin,
        homes: tempfile::Builder::new()
            .prefix("purser-helm3-")
            .tempdir()
            .unwrap(),
    };
    let out = helm.run(["version", "--short"]);
    assert!(out.status.success(), "helm3 version: {}", text(&out));
    let version = String::from_utf8_lossy(&out.stdout);
    // A `go install` build has no ldflags, so it says `v3.22`, not `v3.22.0`.
    assert!(version.starts_with("v3.22"), "not Helm 3.22: {version}");
    helm
}

fn success(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A file server on loopback for one folder that answers HEAD and GET with `content_type`, as
/// a web server publishing the packages would; it records each request line.
struct PackageServer {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl PackageServer {
    fn start(dir: &Path, content_type: &'static str) -> PackageServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (dir, seen) = (dir.to_owned(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let Some(request) = support::http::read_request(&mut reader) else {
                    continue;
                };
                seen.lock()
                    .unwrap()
                    .push(format!("{} {}", request.method, request.target));
                let name = request.target.trim_start_matches('/');
                let file = (!name.contains('/'))
                    .then(|| std::fs::read(dir.join(name)).ok())
                    .flatten();
                let Some(body) = file else {
                    let _ = support::http::write_response(&mut stream, 404, &[], b"");
                    continue;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                if request.method == "GET" {
                    let _ = stream.write_all(&body);
                }
                let _ = stream.flush();
            }
        });
        PackageServer { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// `$(helm env HELM_PLUGINS)`.
fn plugins_dir(helm: &Helm) -> PathBuf {
    let out = helm.run(["env", "HELM_PLUGINS"]);
    PathBuf::from(success(&out, "helm env HELM_PLUGINS").trim())
}

/// The references a `helm images -o list` printed, sorted.
fn listed(stdout: &str) -> Vec<String> {
    let mut refs: Vec<String> = stdout.lines().map(|l| l.trim().to_owned()).collect();
    refs.retain(|l| !l.is_empty());
    refs.sort();
    refs
}

#[tokio::test(flavor = "multi_thread")]
async fn helm3_installs_the_legacy_packages_lists_locks_and_post_renders() {
    let helm = helm3();
    let dist = Dist::pack();
    let work = tempfile::tempdir().unwrap();

    // The legacy packages are in SHA256SUMS and signed like the others: Helm 4 (the `helm
    // plugin verify` a release manager would run; Helm 3 has none) accepts their `.prov`.
    let sums = std::fs::read_to_string(dist.dir.join("SHA256SUMS")).unwrap();
    let helm4 = Helm::with_plugins(&[]);
    for name in ["images-legacy", "mirror-legacy"] {
        let tarball = dist.tarball(name);
        let file = tarball.file_name().unwrap().to_str().unwrap();
        let digest = support::seed::sha256(&std::fs::read(&tarball).unwrap());
        let line = format!("{}  {file}", digest.trim_start_matches("sha256:"));
        assert!(sums.lines().any(|l| l == line), "no {line:?} in:\n{sums}");
        let out = helm4.run([
            "plugin",
            "verify",
            tarball.to_str().unwrap(),
            "--keyring",
            dist.keyring().to_str().unwrap(),
        ]);
        success(&out, &format!("helm plugin verify {file}"));
    }

    // --- install ------------------------------------------------------------------------------
    // images-legacy from a URL: Helm 3 asks HEAD for the media type, GETs, extracts and copies
    // it to $HELM_PLUGINS/images-legacy (the file name without -VERSION.tgz).
    let images_tgz = dist.tarball("images-legacy");
    let file = images_tgz.file_name().unwrap().to_str().unwrap();

    let octet = PackageServer::start(&dist.dir, "application/octet-stream");
    let refused = helm.run(["plugin", "install", &format!("{}/{file}", octet.url)]);
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("Cannot detect VCS"),
        "Helm 3 took an application/octet-stream URL for a package: {}",
        text(&refused)
    );
    assert!(
        !plugins_dir(&helm).join("images-legacy").exists(),
        "a refused install left a plugin"
    );

    let server = PackageServer::start(&dist.dir, "application/gzip");
    let out = helm.run(["plugin", "install", &format!("{}/{file}", server.url)]);
    success(&out, "helm plugin install URL of images-legacy");
    assert_eq!(
        server.requests(),
        [format!("HEAD /{file}"), format!("GET /{file}")],
        "Helm 3 fetched the package from the server"
    );

    // mirror-legacy from a directory: extract the tarball, install the directory (a symlink).
    let mirror_dir = work.path().join("mirror-legacy");
    std::fs::create_dir_all(&mirror_dir).unwrap();
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(dist.tarball("mirror-legacy"))
        .arg("-C")
        .arg(&mirror_dir)
        .output()
        .unwrap();
    success(&out, "tar -xzf mirror-legacy");
    let out = helm.run(["plugin", "install", mirror_dir.to_str().unwrap()]);
    success(&out, "helm plugin install DIR of mirror-legacy");

    let plugins = plugins_dir(&helm);
    for dir in ["images-legacy", "mirror-legacy"] {
        for file in ["plugin.yaml", "bin/purser", "bin/purser-linux-amd64"] {
            if file.ends_with("amd64") && std::env::consts::ARCH != "x86_64" {
                continue;
            }
            assert!(plugins.join(dir).join(file).is_file(), "no {dir}/{file}");
        }
    }
    let out = helm.run(["plugin", "list"]);
    let list = success(&out, "helm plugin list");
    for name in ["images", "mirror"] {
        let row = list
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no plugin {name} in helm plugin list:\n{list}"));
        assert!(row.contains(&dist.version), "{row}");
    }

    // --- a chart whose images are in a registry on loopback ----------------------------------
    let registry = Registry::start(Flavour::Distribution);
    let seeder = registry.seeder();
    let single = support::copy::seed_single(&seeder).await;
    let multi = seeder.oci_index(MULTI.repo, MULTI.tag).await;
    let legacy = support::copy::seed_legacy(&seeder).await;
    let host = registry.host.clone();
    let chart = chart(
        &helm,
        work.path(),
        "helm3app",
        &chart_images(&host, &[SINGLE, MULTI, LEGACY]),
    );
    let tgz = chart.tgz.to_str().unwrap();
    let mut expected: Vec<String> = [SINGLE, MULTI, LEGACY]
        .iter()
        .map(|i| i.at(&host))
        .collect();
    expected.sort();

    // --- helm images -------------------------------------------------------------------------
    let rendered = success(
        &helm.run(["template", "rel", tgz]),
        "helm template (Helm 3)",
    );
    let out = feed(helm.command(["images", "-o", "list"]), rendered.as_bytes());
    let stdout = success(&out, "helm template | helm images -o list");
    assert_eq!(listed(&stdout), expected, "from the rendered stream");

    let out = helm.run(["images", tgz, "-o", "list"]);
    let stdout = success(&out, "helm images CHART -o list");
    assert_eq!(
        listed(&stdout),
        expected,
        "from the chart, rendered by Helm 3"
    );

    // A value given to Helm 3 reaches the render purser asks it for.
    let extra = format!("images.extra={}", NOTHERE.at(&host));
    let out = helm.run(["images", tgz, "--set", &extra, "-o", "list"]);
    let stdout = success(&out, "helm images CHART --set … -o list");
    assert!(listed(&stdout).contains(&NOTHERE.at(&host)), "{stdout}");

    // --- helm mirror lock --------------------------------------------------------------------
    let lock_file = work.path().join("images.lock");
    let out = helm.run([
        "mirror",
        "lock",
        tgz,
        "-o",
        lock_file.to_str().unwrap(),
        "--plain-http",
        &host,
    ]);
    success(&out, "helm mirror lock (Helm 3)");
    let lock = yaml(&lock_file);
    assert_eq!(lock["kind"], "ImagesLock");
    assert_eq!(lock["chart"]["name"], "helm3app");
    assert_eq!(lock["images"].as_array().map(Vec::len), Some(3), "{lock:#}");
    assert_eq!(
        lock_entry(&lock, &SINGLE.repo_tag())["digest"],
        single.digest.as_str()
    );
    assert_eq!(
        lock_entry(&lock, &MULTI.repo_tag())["digest"],
        multi.0.digest.as_str(),
        "the index digest"
    );
    let platforms: Vec<&str> = lock_entry(&lock, &MULTI.repo_tag())["digests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    let pushed: Vec<&str> = multi.1.iter().map(|p| p.digest.as_str()).collect();
    assert_eq!(platforms, pushed, "every platform's digest");
    assert_eq!(
        lock_entry(&lock, &LEGACY.repo_tag())["digest"],
        legacy.0.digest.as_str(),
        "the manifest list's digest"
    );

    // --- helm template --post-renderer PATH (the packaged purser) -----------------------------
    let post_renderer = plugins.join("mirror-legacy/bin/purser");
    let to = "registry.internal/mirror";
    let post_render = |extra: &[&str]| {
        let mut args = vec![
            "template".to_owned(),
            "rel".to_owned(),
            tgz.to_owned(),
            "--post-renderer".to_owned(),
            post_renderer.display().to_string(),
        ];
        for arg in [
            "post-render".to_owned(),
            format!("--to={to}"),
            format!("--lock={}", lock_file.display()),
            "--enforce".to_owned(),
        ] {
            args.push("--post-renderer-args".to_owned());
            args.push(arg);
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        helm.run(args)
    };
    let out = post_render(&[]);
    let relocated = success(&out, "helm template --post-renderer (Helm 3)");
    for (image, digest) in [
        (SINGLE, &single.digest),
        (MULTI, &multi.0.digest),
        (LEGACY, &legacy.0.digest),
    ] {
        let pinned = format!("image: {}@{digest}", image.at(to));
        assert!(relocated.contains(&pinned), "no {pinned} in:\n{relocated}");
    }
    assert!(
        !relocated.contains(&host),
        "an image left at the source registry:\n{relocated}"
    );
    assert!(
        relocated.contains("# Source: helm3app/templates/deployment.yaml"),
        "Helm 3's own output around the post-rendered manifests:\n{relocated}"
    );

    // --enforce: an image the lock does not pin fails the render, and Helm 3 shows why.
    let out = post_render(&["--set", &extra]);
    assert!(
        !out.status.success(),
        "an unpinned image went through --enforce: {}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&NOTHERE.at(&host)) && stderr.contains("not in the lock"),
        "{stderr}"
    );
}
