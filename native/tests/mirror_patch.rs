//! `helm mirror patch` end to end, in the form a check outside the project runs it:
//! `PURSER_TRIVY=… helm mirror patch CHART --to HOST/PREFIX --plain-http HOST
//! --trivy-cache-dir DIR`. Real Helm runs the installed `mirror` plugin, the real Trivy scans
//! against the fixture database (`support::trivy`), the images sit at a real registry on
//! loopback, and their packages come from signed repositories served on loopback: the real
//! Debian `libssl3` debs (`.purser/debs`) in an APT repository signed with a test key that
//! the image's own keyring holds, and synthetic apks signed with a test RSA key the image's
//! `/etc/apk/keys` holds. The results are read back as a user would: Trivy again, the layers
//! applied to a directory, `dpkg-query --admindir`, `md5sum -c`, the apk database's
//! checksums. Nothing is mocked.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

use crate::support;
use support::apkrepo::{self, ApkRepo, ApkSigner};
use support::copy::assert_exit;
use support::cosign::Cosign;
use support::debrepo::{
    self, AptRepo, LIBSSL3_NEW, LIBSSL3_OLD, deb, debian_rootfs_with, dpkg_query, md5sum_check,
};
use support::helm::{Helm, text};
use support::rootfs::extract_layers;
use support::seed::{AMD64, ARM64_V8, Platform, Pushed};
use support::{Flavour, Registry, Seeder};

struct World {
    registry: Registry,
    helm: Helm,
    dir: TempDir,
    cache: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let cache = support::trivy::database(dir.path());
        World {
            registry: Registry::start(Flavour::Distribution),
            helm: Helm::with_plugins(&["mirror", "relocate"]),
            dir,
            cache,
        }
    }

    fn seeder(&self) -> Seeder {
        self.registry.seeder()
    }

    /// A chart on disk whose containers run `HOST/IMAGE` for each image (the registry in
    /// its values, so nothing needs `--set`).
    fn chart(&self, name: &str, images: &[&str]) -> PathBuf {
        let chart = self.dir.path().join(name);
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n"),
        )
        .unwrap();
        std::fs::write(
            chart.join("values.yaml"),
            format!("registry: {}\n", self.registry.host),
        )
        .unwrap();
        let containers: String = images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                format!(
                    "        - name: c{i}\n          image: {{{{ .Values.registry }}}}/{image}\n"
                )
            })
            .collect();
        std::fs::write(
            chart.join("templates/deployment.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ .Release.Name }}}}\nspec:\n  template:\n    spec:\n      containers:\n{containers}"
            ),
        )
        .unwrap();
        chart
    }

    /// `--to HOST/mirror`.
    fn to(&self) -> String {
        format!("{}/mirror", self.registry.host)
    }

    /// `PURSER_TRIVY=… helm mirror patch CHART --to HOST/mirror --plain-http HOST
    /// --trivy-cache-dir DIR EXTRA…`.
    fn patch(&self, chart: &Path, extra: &[&str]) -> Output {
        let to = self.to();
        let mut args = vec![
            "mirror",
            "patch",
            chart.to_str().unwrap(),
            "--to",
            &to,
            "--plain-http",
            &self.registry.host,
            "--trivy-cache-dir",
            self.cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.helm
            .command(args)
            .env("PURSER_TRIVY", support::trivy::binary())
            .output()
            .expect("run helm")
    }

    /// `PURSER_TRIVY=… helm mirror WORDS… --plain-http HOST --trivy-cache-dir DIR`.
    fn mirror(&self, words: &[&str]) -> Output {
        let mut args = vec!["mirror"];
        args.extend_from_slice(words);
        args.extend(["--plain-http", &self.registry.host]);
        args.extend(["--trivy-cache-dir", self.cache.to_str().unwrap()]);
        self.helm
            .command(args)
            .env("PURSER_TRIVY", support::trivy::binary())
            .env("COSIGN_PASSWORD", "test")
            .output()
            .expect("run helm")
    }

    /// The same with `--json`: the report.
    fn patch_json(&self, chart: &Path, code: i32) -> Value {
        let out = self.patch(chart, &["--json"]);
        assert_exit(&out, code);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("patch --json: {e}\n{}", text(&out)))
    }

    /// A scratch folder under the world's.
    fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

/// The platform manifests of an index: `(digest, os/arch[/variant])`.
fn children(index: &[u8]) -> Vec<(String, String)> {
    let index: Value = serde_json::from_slice(index).unwrap();
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut platform = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                platform.push('/');
                platform.push_str(v);
            }
            (m["digest"].as_str().unwrap().to_owned(), platform)
        })
        .collect()
}

/// A platform manifest read back: the manifest, its config and every layer's bytes.
async fn image_of(seeder: &Seeder, repo: &str, digest: &str) -> (Value, Value, Vec<Vec<u8>>) {
    let manifest = seeder
        .fetch_manifest(repo, digest)
        .await
        .unwrap_or_else(|| panic!("{repo}@{digest} missing"));
    let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let config = seeder
        .fetch_blob(repo, manifest["config"]["digest"].as_str().unwrap())
        .await
        .expect("the config blob");
    let mut layers = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let digest = layer["digest"].as_str().unwrap();
        layers.push(
            seeder
                .fetch_blob(repo, digest)
                .await
                .unwrap_or_else(|| panic!("layer {digest} of {repo} missing")),
        );
    }
    (manifest, serde_json::from_slice(&config).unwrap(), layers)
}

/// The uncompressed SHA-256 of a layer (its diff id), gzip or plain.
fn diff_id(layer: &[u8]) -> String {
    if layer.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(layer), &mut plain).unwrap();
        support::seed::sha256(&plain)
    } else {
        support::seed::sha256(layer)
    }
}

/// The rows of a report for images ending in `image`.
fn row<'a>(report: &'a Value, image: &str) -> &'a Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["image"].as_str().unwrap().ends_with(image))
        .unwrap_or_else(|| panic!("no row for {image} in {report:#}"))
}

/// The fixable findings' IDs in a Trivy scan.
fn ids(found: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = found
        .iter()
        .map(|v| v["VulnerabilityID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

const ARM64: Platform = ARM64_V8;

#[tokio::test(flavor = "multi_thread")]
async fn a_two_platform_debian_image_is_patched_beside_the_original() {
    let w = World::new();
    let seeder = w.seeder();
    let (old, new) = (deb(LIBSSL3_OLD), deb(LIBSSL3_NEW));
    let repo = AptRepo::new(&[&old, &new]);
    // Both platforms carry the amd64 libssl3 (an arm64 root with the amd64 library added,
    // as `dpkg --add-architecture amd64` leaves it): both are patched from binary-amd64.
    let amd = debian_rootfs_with(&old, "amd64").with_apt_source(&repo);
    let arm = debian_rootfs_with(&old, "arm64").with_apt_source(&repo);
    let amd = seeder
        .rootfs_image("acme/deb", None, AMD64, &amd.layer())
        .await;
    let arm = seeder
        .rootfs_image("acme/deb", None, ARM64, &arm.layer())
        .await;
    let index: Pushed = seeder
        .index_of("acme/deb", "1", &[(&amd, AMD64), (&arm, ARM64)])
        .await;
    let chart = w.chart("deb", &["acme/deb:1"]);

    // The exact form, its table.
    let started = std::time::Instant::now();
    let out = w.patch(&chart, &[]);
    let took = started.elapsed();
    assert_exit(&out, 0);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let host = &w.registry.host;
    let patched_repo = "mirror/acme/deb";
    assert!(
        table.contains(&format!(
            "{host}/acme/deb:1: patched -> {host}/{patched_repo}:1-patched@sha256:"
        )),
        "{}",
        text(&out)
    );
    assert!(
        table.contains("libssl3 3.0.17-1~deb12u2 -> 3.0.22-1~deb12u2"),
        "{table}"
    );
    assert!(table.contains("fixed: CVE-2099-0101"), "{table}");

    // The original is untouched and nothing was written over its tag.
    let original = seeder.fetch_manifest("acme/deb", "1").await.unwrap();
    assert_eq!(original.bytes, index.bytes);
    // (Beside TAG-patched only the referrers fallback tag of the VEX document.)
    let tags: Vec<String> = seeder
        .tags(patched_repo)
        .await
        .into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect();
    assert_eq!(tags, ["1-patched"]);

    // The patched index: the same platforms, each a new manifest.
    let top = seeder
        .fetch_manifest(patched_repo, "1-patched")
        .await
        .expect("TAG-patched under the prefix");
    let patched = children(&top.bytes);
    let originals = children(&index.bytes);
    assert_eq!(
        patched.iter().map(|c| &c.1).collect::<Vec<_>>(),
        originals.iter().map(|c| &c.1).collect::<Vec<_>>()
    );
    let top_json: Value = serde_json::from_slice(&top.bytes).unwrap();
    assert_eq!(
        top_json["annotations"]["dev.purser.patched-from"], index.digest,
        "{top_json:#}"
    );

    for ((digest, platform), (original_digest, _)) in patched.iter().zip(&originals) {
        assert_ne!(digest, original_digest, "{platform} patched");
        let (manifest, config, layers) = image_of(&seeder, patched_repo, digest).await;
        let (_, original_config, original_layers) =
            image_of(&seeder, "acme/deb", original_digest).await;
        // One layer added, the original's kept as they were.
        assert_eq!(layers.len(), original_layers.len() + 1, "{platform}");
        assert_eq!(&layers[..original_layers.len()], &original_layers[..]);
        // What scripts/bench-patch.sh collects.
        let size = |l: &[Vec<u8>]| l.iter().map(Vec::len).sum::<usize>();
        eprintln!(
            "patch-bench: debian {platform}: {} ms for the run; image {} bytes, patch layer {} bytes",
            took.as_millis(),
            size(&original_layers),
            layers.last().unwrap().len()
        );
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(diff_ids.len(), layers.len());
        assert_eq!(diff_ids.last().unwrap(), &diff_id(layers.last().unwrap()));
        assert_eq!(
            config["architecture"], original_config["architecture"],
            "{platform}"
        );
        let history = config["history"].as_array().expect("a history");
        let last = history.last().unwrap()["created_by"].as_str().unwrap();
        assert!(
            last.contains("purser")
                && last.contains("libssl3 3.0.17-1~deb12u2 -> 3.0.22-1~deb12u2"),
            "{last}"
        );
        assert!(
            manifest["annotations"]["dev.purser.patched-from"]
                .as_str()
                .is_some_and(|from| from.ends_with(original_digest.as_str())),
            "{manifest:#}"
        );

        // Applied to a directory: dpkg sees the new version and its files are the package's.
        let root = w.scratch(&format!("root-{}", platform.replace('/', "-")));
        extract_layers(&layers, &root);
        assert_eq!(
            dpkg_query(&root, "${Version} ${Status}", "libssl3"),
            "3.0.22-1~deb12u2 install ok installed"
        );
        assert_eq!(
            dpkg_query(&root, "${Version}", "libc6"),
            debrepo::LIBC6_VERSION
        );
        let out = md5sum_check(&root, "libssl3:amd64");
        assert!(
            out.status.success(),
            "md5sum -c ({platform}): {}",
            text(&out)
        );
        let new_deb = debrepo::Deb::read(&new);
        assert_eq!(
            std::fs::read(root.join("var/lib/dpkg/info/libssl3:amd64.md5sums")).unwrap(),
            new_deb.member("md5sums").unwrap()
        );
        // The old package's files the new one lacks are gone (whiteouts), the list is the
        // new package's.
        let list =
            std::fs::read_to_string(root.join("var/lib/dpkg/info/libssl3:amd64.list")).unwrap();
        for line in list.lines() {
            assert!(
                root.join(line.trim_start_matches('/'))
                    .symlink_metadata()
                    .is_ok(),
                "{line} listed, not there"
            );
        }
        let admindir = format!("--admindir={}", root.join("var/lib/dpkg").display());
        let audit = std::process::Command::new("dpkg")
            .args([&admindir, "--audit"])
            .output()
            .unwrap();
        // (The host's dpkg is amd64: the arm64 root's libc6 is foreign to it.)
        assert!(
            audit.status.success() && (audit.stdout.is_empty() || platform != "linux/amd64"),
            "dpkg --audit: {}",
            text(&audit)
        );

        // Trivy on the patched platform: nothing fixable left.
        let (report, found) =
            support::trivy::scan(&w.cache, &format!("{host}/{patched_repo}@{digest}"));
        assert_eq!(report["Metadata"]["OS"]["Family"], "debian");
        assert!(ids(&found).is_empty(), "{platform}: {found:#?}");
    }
    // The original still has its finding (the test's database does see it).
    let (_, found) = support::trivy::scan(&w.cache, &format!("{host}/acme/deb:1"));
    assert_eq!(ids(&found), ["CVE-2099-0101"]);

    // The VEX document: CVE-2099-0101 fixed in the patched index and its platforms.
    let vex = seeder
        .referrers_of_type(
            patched_repo,
            top.digest.as_deref().unwrap(),
            "application/openvex+json",
        )
        .await;
    assert_eq!(vex.len(), 1, "one VEX referrer");
    let (vex_manifest, _, vex_layers) = image_of(&seeder, patched_repo, &vex[0]).await;
    assert_eq!(
        vex_manifest["subject"]["digest"],
        top.digest.clone().unwrap()
    );
    let document: Value = serde_json::from_slice(&vex_layers[0]).unwrap();
    assert_eq!(document["@context"], "https://openvex.dev/ns/v0.2.0");
    let statements = document["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{document:#}");
    assert_eq!(statements[0]["vulnerability"]["name"], "CVE-2099-0101");
    assert_eq!(statements[0]["status"], "fixed");
    let products: Vec<&str> = statements[0]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["@id"].as_str().unwrap())
        .collect();
    assert_eq!(products.len(), 3, "{products:?}");
    assert!(products[0].contains(&top.digest.clone().unwrap().replace(':', "%3A")));

    // Again: the same bytes (deterministic layer), the same tag.
    let again = w.patch_json(&chart, 0);
    let r = row(&again, "acme/deb:1");
    assert_eq!(r["state"], "patched");
    assert_eq!(
        r["patched"].as_str().unwrap().rsplit('@').next().unwrap(),
        top.digest.clone().unwrap()
    );
}

/// An installed-database stanza: `(P, V, fields in order)`.
type ApkStanza = (String, String, Vec<(char, String)>);

/// The `lib/apk/db/installed` stanzas of a root.
fn apk_installed(root: &Path) -> Vec<ApkStanza> {
    let text = std::fs::read_to_string(root.join("lib/apk/db/installed")).unwrap();
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|stanza| {
            let fields: Vec<(char, String)> = stanza
                .lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    Some((k.chars().next()?, v.to_owned()))
                })
                .collect();
            let get = |k: char| {
                fields
                    .iter()
                    .find(|(f, _)| *f == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (get('P'), get('V'), fields)
        })
        .collect()
}

/// Every `R:` of every stanza checked against the root: the file is there and its `Z:` is the
/// SHA-1 of its contents (of its target for a link), as `apk audit` checks it.
fn assert_apk_checksums(root: &Path) {
    for (name, version, fields) in apk_installed(root) {
        let mut dir = String::new();
        let mut file: Option<String> = None;
        for (key, value) in &fields {
            match key {
                'F' => dir = value.clone(),
                'R' => file = Some(format!("{dir}/{value}")),
                'Z' => {
                    let path = file.take().expect("Z: after R:");
                    let on_disk = root.join(path.trim_start_matches('/'));
                    let meta = on_disk
                        .symlink_metadata()
                        .unwrap_or_else(|_| panic!("{name} {version}: {path} missing"));
                    let contents = if meta.file_type().is_symlink() {
                        std::fs::read_link(&on_disk)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned()
                            .into_bytes()
                    } else {
                        std::fs::read(&on_disk).unwrap()
                    };
                    assert_eq!(
                        &apkrepo::q1_of(&contents),
                        value,
                        "{name} {version}: {path}'s checksum"
                    );
                }
                _ => {}
            }
        }
    }
}

/// The OpenSSL and BusyBox packages of one architecture: the installed `r1` pair plus
/// busybox, and a repository holding `r1`, `r5` and `r6`, whose `r6` libcrypto3 drops an
/// engine the old one had and needs a package the image lacks (`openssl-config`).
struct AlpineSet {
    installed: Vec<Vec<u8>>,
    repo: ApkRepo,
}

fn alpine_set(signer: &ApkSigner, arch: &str) -> AlpineSet {
    let apk = |name: &str, version: &str, files: &[(&str, &[u8])], depends: &[&str]| {
        let origin = if name == "busybox" {
            "busybox"
        } else {
            "openssl"
        };
        apkrepo::build_apk(signer, name, version, arch, files, depends, origin, &[])
    };
    let crypto = |version: &str, engine: bool, depends: &[&str]| {
        let lib = format!("libcrypto {version} {arch}");
        let mut files: Vec<(&str, &[u8])> = vec![("usr/lib/libcrypto.so.3", lib.as_bytes())];
        if engine {
            files.push(("usr/lib/engines-3/afalg.so", b"afalg engine"));
        }
        apk("libcrypto3", version, &files, depends)
    };
    let ssl = |version: &str| {
        let lib = format!("libssl {version} {arch}");
        apk(
            "libssl3",
            version,
            &[("usr/lib/libssl.so.3", lib.as_bytes())],
            &[&format!("libcrypto3={version}")],
        )
    };
    let busybox = apk(
        "busybox",
        "1.36.1-r15",
        &[("bin/busybox", b"busybox binary")],
        &[],
    );
    let installed = vec![crypto("3.1.4-r1", true, &[]), ssl("3.1.4-r1"), busybox];
    let config = apk(
        "openssl-config",
        "3.1.4-r6",
        &[("etc/ssl/openssl.cnf", b"# openssl config r6\n")],
        &[],
    );
    let mut repo = installed.clone();
    repo.extend([
        crypto("3.1.4-r5", true, &[]),
        ssl("3.1.4-r5"),
        crypto("3.1.4-r6", false, &["openssl-config"]),
        ssl("3.1.4-r6"),
        config,
    ]);
    AlpineSet {
        installed,
        repo: ApkRepo::new(signer, arch, &repo),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_platform_alpine_image_is_patched_with_its_dependencies() {
    let w = World::new();
    let seeder = w.seeder();
    let signer = ApkSigner::generate();
    let mut platforms = Vec::new();
    let mut sets = Vec::new();
    for (arch, platform) in [("x86_64", AMD64), ("aarch64", ARM64)] {
        let set = alpine_set(&signer, arch);
        let installed: Vec<&[u8]> = set.installed.iter().map(Vec::as_slice).collect();
        let rootfs = apkrepo::alpine_rootfs_with(
            "3.19.1",
            arch,
            &installed,
            &signer,
            &set.repo.repositories(),
        );
        let image = seeder
            .rootfs_image("acme/apk", None, platform, &rootfs.layer())
            .await;
        platforms.push((image, platform));
        sets.push(set);
    }
    let refs: Vec<(&Pushed, Platform)> = platforms.iter().map(|(i, p)| (i, *p)).collect();
    let index = seeder.index_of("acme/apk", "3.19", &refs).await;
    let chart = w.chart("apk", &["acme/apk:3.19"]);

    let started = std::time::Instant::now();
    let out = w.patch(&chart, &[]);
    let took = started.elapsed();
    assert_exit(&out, 0);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let host = &w.registry.host;
    let patched_repo = "mirror/acme/apk";
    assert!(
        table.contains(&format!(
            "{host}/acme/apk:3.19: patched -> {host}/{patched_repo}:3.19-patched@sha256:"
        )),
        "{}",
        text(&out)
    );
    for line in [
        "libcrypto3 3.1.4-r1 -> 3.1.4-r6",
        "libssl3 3.1.4-r1 -> 3.1.4-r6",
        "openssl-config 3.1.4-r6 (added: a dependency of a fix)",
        "fixed: CVE-2099-0001, CVE-2099-0002",
    ] {
        assert!(table.contains(line), "{line:?} in\n{table}");
    }
    let original = seeder.fetch_manifest("acme/apk", "3.19").await.unwrap();
    assert_eq!(original.bytes, index.bytes);

    let top = seeder
        .fetch_manifest(patched_repo, "3.19-patched")
        .await
        .expect("TAG-patched under the prefix");
    let patched = children(&top.bytes);
    assert_eq!(patched.len(), 2);
    for ((digest, platform), (original, _)) in patched.iter().zip(&platforms) {
        let arch = if platform == "linux/amd64" {
            "x86_64"
        } else {
            "aarch64"
        };
        let (_, config, layers) = image_of(&seeder, patched_repo, digest).await;
        assert_eq!(layers.len(), 2, "{platform}: the original layer + one");
        let (_, _, original_layers) = image_of(&seeder, "acme/apk", &original.digest).await;
        assert_eq!(layers[0], original_layers[0]);
        eprintln!(
            "patch-bench: alpine {platform}: {} ms for the run; image {} bytes, patch layer {} bytes",
            took.as_millis(),
            original_layers[0].len(),
            layers[1].len()
        );
        let last = config["history"].as_array().unwrap().last().unwrap()["created_by"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(last.contains("libssl3 3.1.4-r1 -> 3.1.4-r6"), "{last}");

        let root = w.scratch(&format!("apk-root-{arch}"));
        extract_layers(&layers, &root);
        let installed = apk_installed(&root);
        let versions: Vec<(String, String)> = installed
            .iter()
            .map(|(p, v, _)| (p.clone(), v.clone()))
            .collect();
        for (name, version) in [
            ("busybox", "1.36.1-r15"),
            ("libcrypto3", "3.1.4-r6"),
            ("libssl3", "3.1.4-r6"),
            ("openssl-config", "3.1.4-r6"),
        ] {
            assert!(
                versions.contains(&(name.to_owned(), version.to_owned())),
                "{platform}: {name} {version} in {versions:?}"
            );
        }
        assert_eq!(versions.len(), 4, "{platform}: {versions:?}");
        for (_, _, fields) in &installed {
            assert!(fields.iter().any(|(k, v)| *k == 'A' && v == arch));
        }
        assert_apk_checksums(&root);
        // The new files are the new packages', the dropped engine is gone (a whiteout).
        assert_eq!(
            std::fs::read_to_string(root.join("usr/lib/libssl.so.3")).unwrap(),
            format!("libssl 3.1.4-r6 {arch}")
        );
        assert_eq!(
            std::fs::read(root.join("etc/ssl/openssl.cnf")).unwrap(),
            b"# openssl config r6\n"
        );
        assert!(
            root.join("usr/lib/engines-3/afalg.so")
                .symlink_metadata()
                .is_err(),
            "{platform}: the engine r6 dropped is still there"
        );
        let world = std::fs::read_to_string(root.join("etc/apk/world")).unwrap();
        assert!(
            !world.contains("openssl-config"),
            "a dependency, not in world: {world}"
        );

        // Trivy: only the unfixable busybox finding is left.
        let (report, found) =
            support::trivy::scan(&w.cache, &format!("{host}/{patched_repo}@{digest}"));
        assert_eq!(report["Metadata"]["OS"]["Family"], "alpine");
        assert_eq!(ids(&found), ["CVE-2099-0003"], "{platform}");
    }
    let (_, found) = support::trivy::scan(&w.cache, &format!("{host}/acme/apk:3.19"));
    assert_eq!(
        ids(&found),
        ["CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_be_patched_safely_is_reported_and_nothing_of_it_is_pushed() {
    let w = World::new();
    let seeder = w.seeder();
    let (old, new) = (deb(LIBSSL3_OLD), deb(LIBSSL3_NEW));
    let debian = async |repo_name: &str, debs: &[&Path], apt: &AptRepo| {
        let rootfs = debrepo::debian_rootfs_with_all(debs, "amd64").with_apt_source(apt);
        seeder
            .rootfs_image(repo_name, Some("1"), AMD64, &rootfs.layer())
            .await
    };
    // A good one beside the faults: patched and published all the same.
    let good = AptRepo::new(&[&old, &new]);
    debian("acme/good", &[&old], &good).await;
    // ed 1.19-1 has a real postinst (update-alternatives): not patched natively.
    let ed_old = debrepo::reversion_deb(&deb(debrepo::ED), "1.18-1", &w.scratch("ed"));
    let ed = AptRepo::new(&[&ed_old, &deb(debrepo::ED)]);
    debian("acme/ed", &[&ed_old], &ed).await;
    // The fixed libssl3 altered after indexing: its SHA-256 is not the one Packages gives.
    let tampered = AptRepo::new(&[&old, &new]);
    tampered.tamper_package("libssl3");
    debian("acme/tampered", &[&old], &tampered).await;
    // Release altered after signing: a BAD signature.
    let bad_signature = AptRepo::new(&[&old, &new]);
    bad_signature.break_signature();
    debian("acme/badsig", &[&old], &bad_signature).await;
    // Signed by a key the image's keyring lacks.
    let stranger = AptRepo::new(&[&old, &new]);
    stranger.resign_with_unknown_key();
    debian("acme/stranger", &[&old], &stranger).await;
    // A repository without the fixed version.
    let stale = AptRepo::new(&[&old]);
    debian("acme/stale", &[&old], &stale).await;
    // Alpine: the fixed apks altered after indexing (their data hash fails).
    let signer = ApkSigner::generate();
    let set = alpine_set(&signer, "x86_64");
    set.repo.tamper_package("libssl3");
    let installed: Vec<&[u8]> = set.installed.iter().map(Vec::as_slice).collect();
    let rootfs = apkrepo::alpine_rootfs_with(
        "3.19.1",
        "x86_64",
        &installed,
        &signer,
        &set.repo.repositories(),
    );
    seeder
        .rootfs_image("acme/apk-tampered", Some("1"), AMD64, &rootfs.layer())
        .await;
    let chart = w.chart(
        "faults",
        &[
            "acme/good:1",
            "acme/ed:1",
            "acme/tampered:1",
            "acme/badsig:1",
            "acme/stranger:1",
            "acme/stale:1",
            "acme/apk-tampered:1",
        ],
    );

    let out = w.patch(&chart, &[]);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {}", text(&out)));
    assert!(
        summary.contains("5 of 7 images failed to patch")
            && summary.contains("acme/stale:1")
            && !summary.contains("acme/ed:1"),
        "{summary}"
    );
    let report = w.patch_json(&chart, 1);
    assert_eq!(row(&report, "acme/good:1")["state"], "patched");
    let reason = |image: &str, state: &str| {
        let r = row(&report, image);
        assert_eq!(r["state"], state, "{image}: {r:#}");
        r["reason"]
            .as_str()
            .or_else(|| r["platforms"][0]["reason"].as_str())
            .unwrap_or_else(|| panic!("{image}: no reason in {r:#}"))
            .to_owned()
    };
    let ed_reason = reason("acme/ed:1", "not-patchable");
    assert!(
        ed_reason.contains("ed") && ed_reason.contains("postinst"),
        "{ed_reason}"
    );
    let tampered_reason = reason("acme/tampered:1", "failed");
    assert!(
        tampered_reason.contains("libssl3") && tampered_reason.contains("SHA-256"),
        "{tampered_reason}"
    );
    let bad_reason = reason("acme/badsig:1", "failed");
    assert!(
        bad_reason.contains("does not verify")
            && bad_reason.contains(&bad_signature.url())
            && !bad_reason.contains("assertion"),
        "{bad_reason}"
    );
    let stranger_reason = reason("acme/stranger:1", "failed");
    assert!(
        stranger_reason.contains("not in the keyring")
            && stranger_reason.contains(debrepo::KEYRING_PATH)
            && stranger_reason.contains("--package-keyring"),
        "{stranger_reason}"
    );
    let stale_reason = reason("acme/stale:1", "failed");
    assert!(
        stale_reason.contains("libssl3") && stale_reason.contains("3.0.17-1~deb12u3"),
        "{stale_reason}"
    );
    let apk_reason = reason("acme/apk-tampered:1", "failed");
    assert!(
        apk_reason.contains("libssl3-3.1.4-r6.apk") && apk_reason.contains("datahash"),
        "{apk_reason}"
    );

    // Nothing of the refused images at the target: only the good one's tag.
    for image in [
        "ed",
        "tampered",
        "badsig",
        "stranger",
        "stale",
        "apk-tampered",
    ] {
        assert!(
            seeder
                .tags(&format!("mirror/acme/{image}"))
                .await
                .is_empty(),
            "{image}: something was pushed"
        );
    }
    let good_tags: Vec<String> = seeder
        .tags("mirror/acme/good")
        .await
        .into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect();
    assert_eq!(good_tags, ["1-patched"]);
}

/// `helm template` of `chart` through the relocate post-renderer with these arguments.
fn relocated(w: &World, chart: &Path, args: &[String]) -> String {
    let mut words = vec![
        "template".to_owned(),
        "rel".to_owned(),
        chart.to_str().unwrap().to_owned(),
        "--post-renderer".to_owned(),
        "relocate".to_owned(),
    ];
    for arg in args {
        words.push("--post-renderer-args".to_owned());
        words.push(arg.clone());
    }
    let out = w.helm.run(words.iter().map(String::as_str));
    assert!(out.status.success(), "helm template: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_and_import_patch_at_the_target_and_relocate_installs_the_patched_image() {
    let w = World::new();
    let seeder = w.seeder();
    let (old, new) = (deb(LIBSSL3_OLD), deb(LIBSSL3_NEW));
    let repo = AptRepo::new(&[&old, &new]);
    let rootfs = debian_rootfs_with(&old, "amd64").with_apt_source(&repo);
    let original = seeder
        .rootfs_image("acme/deb", Some("1"), AMD64, &rootfs.layer())
        .await;
    let chart = w.chart("deb", &["acme/deb:1"]);
    let host = &w.registry.host;
    let lock = w.dir.path().join("copy.lock.yaml");

    // copy --patch --sign-key: the copy as upstream made it, and the patched image beside
    // it, both signed.
    let keys = w.scratch("keys");
    let (key, public) = Cosign::v3().generate_key_pair(&keys, "signer", "test");
    let to = w.to();
    let out = w.mirror(&[
        "copy",
        chart.to_str().unwrap(),
        "--to",
        &to,
        "--patch",
        "--sign-key",
        key.to_str().unwrap(),
        "-o",
        lock.to_str().unwrap(),
        "--json",
    ]);
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let image = &report["images"][0];
    assert_eq!(image["state"], "copied", "{report:#}");
    assert_eq!(image["digest"], original.digest);
    let patch = &image["patch"];
    assert_eq!(patch["state"], "patched", "{report:#}");
    let patched = patch["patched"].as_str().unwrap();
    let (patched_ref, patched_digest) = patched.rsplit_once('@').unwrap();
    assert_eq!(patched_ref, format!("{host}/mirror/acme/deb:1-patched"));
    assert_eq!(
        patch["platforms"][0]["changes"][0]["to"], "3.0.22-1~deb12u2",
        "{patch:#}"
    );
    assert_eq!(
        seeder
            .fetch_manifest("mirror/acme/deb", "1")
            .await
            .unwrap()
            .bytes,
        original.bytes,
        "the copy is upstream's bytes"
    );
    let at_tag = seeder
        .fetch_manifest("mirror/acme/deb", "1-patched")
        .await
        .expect("TAG-patched beside the copy");
    assert_eq!(at_tag.digest.as_deref(), Some(patched_digest));
    assert_eq!(patch["signed"], true, "{patch:#}");
    Cosign::v3()
        .verify(&format!("{host}/mirror/acme/deb@{patched_digest}"), &public)
        .ok();
    let (_, found) = support::trivy::scan(
        &w.cache,
        &format!("{host}/mirror/acme/deb@{patched_digest}"),
    );
    assert!(ids(&found).is_empty(), "{found:#?}");

    // The lock: both digests, the packages changed.
    let text_of_lock = std::fs::read_to_string(&lock).unwrap();
    let locked = support::copy::yaml(&lock);
    let entry = &locked["images"][0];
    assert_eq!(entry["digest"], original.digest, "{text_of_lock}");
    assert_eq!(entry["patched"]["reference"], patched_ref, "{text_of_lock}");
    assert_eq!(entry["patched"]["digest"], patched_digest, "{text_of_lock}");
    let platform = &entry["digests"][0];
    assert_eq!(platform["digest"], original.digest);
    assert_eq!(platform["patched"]["digest"], patched_digest);
    assert_eq!(platform["patched"]["packages"][0]["name"], "libssl3");

    // relocate: the original by default, the patched image with --prefer patched (where it
    // was published, whatever --to says).
    let lock_arg = format!("--lock={}", lock.display());
    let rendered = relocated(&w, &chart, &[lock_arg.clone(), format!("--to={to}")]);
    assert!(
        rendered.contains(&format!("{to}/acme/deb:1@{}", original.digest)),
        "{rendered}"
    );
    let rendered = relocated(
        &w,
        &chart,
        &[
            lock_arg.clone(),
            format!("--to={to}"),
            "--prefer=patched".into(),
        ],
    );
    assert!(
        rendered.contains(&format!("image: {patched}")),
        "{rendered}"
    );
    let rendered = relocated(&w, &chart, &[lock_arg, "--prefer=patched".into()]);
    assert!(
        rendered.contains(&format!("image: {patched}")),
        "{rendered}"
    );

    // export, then import --patch elsewhere: patched there too.
    let bundle = w.dir.path().join("deb.tar");
    let out = w.helm.run([
        "mirror",
        "export",
        chart.to_str().unwrap(),
        "-o",
        bundle.to_str().unwrap(),
        "--plain-http",
        host,
    ]);
    assert_exit(&out, 0);
    let site = format!("{host}/site");
    let out = w.mirror(&[
        "import",
        bundle.to_str().unwrap(),
        "--to",
        &site,
        "--patch",
        "--json",
    ]);
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"].as_str().unwrap().ends_with("acme/deb:1"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(row["patch"]["state"], "patched", "{report:#}");
    // The same layer from the same packages: the same patched digest at the site.
    assert_eq!(
        row["patch"]["patched"],
        format!("{host}/site/acme/deb:1-patched@{patched_digest}")
    );

    // A patching flag without --patch is refused before anything moves.
    let out = w.mirror(&[
        "copy",
        chart.to_str().unwrap(),
        "--to",
        &format!("{host}/other"),
        "--package-mirror",
        "http://127.0.0.1:1/debian",
    ]);
    assert_exit(&out, 1);
    assert!(
        text(&out).contains("--package-mirror is for patching: add --patch"),
        "{}",
        text(&out)
    );
    assert!(seeder.tags("other/acme/deb").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_distroless_image_is_patched_from_the_sites_package_mirror() {
    let w = World::new();
    let seeder = w.seeder();
    let (old, new) = (deb(LIBSSL3_OLD), deb(LIBSSL3_NEW));
    let repo = AptRepo::new(&[&old, &new]);
    // Distroless keeps one file per package in status.d/ (and its md5sums beside it), no
    // status, no info/; its sources name upstream, unreachable here: the site's mirror
    // (--package-mirror ORIGINAL=URL) serves it.
    let upstream = "http://127.0.0.1:9/debian";
    let full = debian_rootfs_with(&old, "amd64");
    let status = String::from_utf8(full.file("var/lib/dpkg/status").unwrap().to_vec()).unwrap();
    let md5sums = full
        .file("var/lib/dpkg/info/libssl3:amd64.md5sums")
        .unwrap()
        .to_vec();
    let dpkg_files: Vec<String> = full
        .entries()
        .iter()
        .map(|e| e.path().to_owned())
        .filter(|p| p == "var/lib/dpkg/status" || p.starts_with("var/lib/dpkg/info/"))
        .collect();
    let mut rootfs = full;
    for path in dpkg_files {
        rootfs = rootfs.without(&path);
    }
    rootfs = rootfs.with_dir("var/lib/dpkg/status.d", 0o755);
    for stanza in status.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let name = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Package: "))
            .unwrap()
            .to_owned();
        rootfs = rootfs.with(
            &format!("var/lib/dpkg/status.d/{name}"),
            format!("{}\n", stanza.trim_end()),
        );
    }
    let rootfs = rootfs
        .with("var/lib/dpkg/status.d/libssl3.md5sums", md5sums)
        .with(
            "etc/apt/sources.list",
            format!(
                "deb [signed-by=/{}] {upstream} bookworm main\n",
                debrepo::KEYRING_PATH
            ),
        )
        .with_apt_keyring(&repo.keyring_binary());
    seeder
        .rootfs_image("acme/distroless", Some("12"), AMD64, &rootfs.layer())
        .await;
    let (_, found) =
        support::trivy::scan(&w.cache, &format!("{}/acme/distroless:12", w.registry.host));
    assert_eq!(ids(&found), ["CVE-2099-0101"], "Trivy reads status.d");
    let chart = w.chart("distroless", &["acme/distroless:12"]);

    let rule = format!("{upstream}={}", repo.url());
    let out = w.patch(&chart, &["--package-mirror", &rule, "--json"]);
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = row(&report, "acme/distroless:12");
    assert_eq!(r["state"], "patched", "{r:#}");
    let change = &r["platforms"][0]["changes"][0];
    assert_eq!(change["package"], "libssl3");
    assert!(
        change["source"].as_str().unwrap().starts_with(&repo.url()),
        "fetched from the mirror: {change:#}"
    );
    let digest = r["platforms"][0]["patched"].as_str().unwrap();
    let (_, _, layers) = image_of(&seeder, "mirror/acme/distroless", digest).await;
    let root = w.scratch("distroless-root");
    extract_layers(&layers, &root);
    let stanza = std::fs::read_to_string(root.join("var/lib/dpkg/status.d/libssl3")).unwrap();
    assert!(stanza.contains("Version: 3.0.22-1~deb12u2\n"), "{stanza}");
    assert!(!root.join("var/lib/dpkg/status").exists(), "no status made");
    let new_deb = debrepo::Deb::read(&new);
    let written = std::fs::read(root.join("var/lib/dpkg/status.d/libssl3.md5sums")).unwrap();
    assert_eq!(written, new_deb.member("md5sums").unwrap());
    let check = std::process::Command::new("md5sum")
        .args([
            "--check",
            "--strict",
            "--quiet",
            "var/lib/dpkg/status.d/libssl3.md5sums",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(check.status.success(), "md5sum -c: {}", text(&check));
    let (_, found) = support::trivy::scan(
        &w.cache,
        &format!("{}/mirror/acme/distroless@{digest}", w.registry.host),
    );
    assert!(ids(&found).is_empty(), "{found:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conffile_changed_in_the_image_is_kept_and_an_unchanged_one_updated() {
    let w = World::new();
    let seeder = w.seeder();
    let debs = w.scratch("conf-debs");
    let conf = "/etc/purser/app.conf";
    let package = |version: &str, level: &str, data: &str| {
        debrepo::build_deb(
            "purser-conf",
            version,
            &[
                (
                    "etc/purser/app.conf",
                    format!("level = {level}\n").as_bytes(),
                ),
                ("usr/share/purser-conf/data", data.as_bytes()),
            ],
            &[conf],
            &debs,
        )
    };
    let (old, new) = (package("1.0-1", "1", "v1"), package("1.1-1", "2", "v2"));
    let repo = AptRepo::new(&[&old, &new]);
    let changed = debian_rootfs_with(&old, "amd64")
        .with("etc/purser/app.conf", "level = 9 # set here\n")
        .with_apt_source(&repo);
    let kept = debian_rootfs_with(&old, "amd64").with_apt_source(&repo);
    seeder
        .rootfs_image("acme/changed", Some("1"), AMD64, &changed.layer())
        .await;
    seeder
        .rootfs_image("acme/kept", Some("1"), AMD64, &kept.layer())
        .await;
    let chart = w.chart("conf", &["acme/changed:1", "acme/kept:1"]);

    let report = w.patch_json(&chart, 0);
    for (image, expected) in [
        ("changed", "level = 9 # set here\n"),
        ("kept", "level = 2\n"),
    ] {
        let r = row(&report, &format!("acme/{image}:1"));
        assert_eq!(r["state"], "patched", "{r:#}");
        let digest = r["platforms"][0]["patched"].as_str().unwrap();
        let (_, _, layers) = image_of(&seeder, &format!("mirror/acme/{image}"), digest).await;
        let root = w.scratch(&format!("conf-root-{image}"));
        extract_layers(&layers, &root);
        assert_eq!(
            std::fs::read_to_string(root.join("etc/purser/app.conf")).unwrap(),
            expected,
            "{image}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("usr/share/purser-conf/data")).unwrap(),
            "v2"
        );
        assert_eq!(dpkg_query(&root, "${Version}", "purser-conf"), "1.1-1");
        // dpkg records the new package's conffile checksum (as after --force-confold).
        let recorded = dpkg_query(&root, "${Conffiles}", "purser-conf");
        assert_eq!(
            recorded.trim(),
            format!("{conf} {}", debrepo::md5_hex(b"level = 2\n")),
            "{image}"
        );
        let out = md5sum_check(&root, "purser-conf");
        assert!(out.status.success(), "md5sum -c ({image}): {}", text(&out));
        let (_, found) = support::trivy::scan(
            &w.cache,
            &format!("{}/mirror/acme/{image}@{digest}", w.registry.host),
        );
        assert!(ids(&found).is_empty(), "{image}: {found:#?}");
    }
}
