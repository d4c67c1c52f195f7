//! The patch tests' support checked against the real tools: the APT repository
//! ([`support::debrepo::AptRepo`]) verifies with `gpgv`, a Debian root with the real libssl3
//! installed ([`support::debrepo::debian_rootfs_with`]) reads back with `dpkg-query
//! --admindir` and `md5sum -c` once its layer is extracted ([`support::rootfs::extract_layers`]),
//! and the real Trivy finds the fixture DB's CVE-2099-0101 in an image of it; the Alpine
//! packages ([`support::apkrepo::build_apk`]) and index verify with `openssl dgst -verify`
//! and list with GNU tar.

use std::path::Path;
use std::process::{Command, Output};

use crate::support;
use support::apkrepo::{self, ApkRepo, ApkSigner};
use support::debrepo::{
    self, AptRepo, ED, LIBSSL3_NEW, LIBSSL3_OLD, deb, debian_rootfs_with, dpkg_query,
};
use support::helm::text;
use support::rootfs::{Rootfs, extract_layers};
use support::seed::AMD64;
use support::static_http::{get, get_ok, head};
use support::{Flavour, Registry};

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// `gpgv --keyring KEYRING ARGS…`.
fn gpgv(keyring: &[u8], args: &[&Path]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let keyring_path = dir.path().join("keyring.gpg");
    std::fs::write(&keyring_path, keyring).unwrap();
    Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring_path)
        .args(args)
        .output()
        .expect("run gpgv")
}

/// `(path, size, sha256)` of each `SHA256:` line of a Release file.
fn release_sha256(release: &str) -> Vec<(String, u64, String)> {
    release
        .split("SHA256:\n")
        .nth(1)
        .expect("a SHA256 section")
        .lines()
        .take_while(|l| l.starts_with(' '))
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (
                parts[2].to_owned(),
                parts[1].parse().unwrap(),
                parts[0].to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_apt_repository_is_signed_indexed_and_served() {
    let (old, new, ed) = (deb(LIBSSL3_OLD), deb(LIBSSL3_NEW), deb(ED));
    let repo = AptRepo::new(&[&old, &new, &ed]);
    let keyring = repo.keyring_binary();
    assert_eq!(
        repo.sources_list(),
        format!(
            "deb [signed-by=/usr/share/keyrings/purser-test.gpg] {} bookworm main\n",
            repo.url()
        )
    );
    assert!(repo.url().starts_with("http://127.0.0.1:") && repo.url().ends_with("/debian"));

    // InRelease and Release + Release.gpg, fetched over HTTP, verify with the real gpgv.
    let dir = tempfile::tempdir().unwrap();
    let fetch = |name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, get_ok(&format!("{}/{name}", repo.release_url()))).unwrap();
        path
    };
    let (in_release, release, release_gpg) =
        (fetch("InRelease"), fetch("Release"), fetch("Release.gpg"));
    let out = gpgv(&keyring, &[&in_release]);
    assert!(out.status.success(), "gpgv InRelease: {}", text(&out));
    let out = gpgv(&keyring, &[&release_gpg, &release]);
    assert!(
        out.status.success(),
        "gpgv Release.gpg Release: {}",
        text(&out)
    );

    // The Release file names every index with its size and SHA256, and they match.
    let release_text = std::fs::read_to_string(&release).unwrap();
    for field in [
        "Suite: bookworm\n",
        "Codename: bookworm\n",
        "Architectures: amd64 arm64\n",
        "Components: main\n",
        "\nDate: ",
        "\nMD5Sum:\n",
    ] {
        assert!(
            release_text.contains(field),
            "{field:?} in:\n{release_text}"
        );
    }
    let listed = release_sha256(&release_text);
    assert_eq!(listed.len(), 4, "{listed:?}");
    for (path, size, sha) in &listed {
        let body = get_ok(&format!("{}/{path}", repo.release_url()));
        assert_eq!(body.len() as u64, *size, "{path}");
        assert_eq!(&debrepo::sha256_hex(&body), sha, "{path}");
    }

    // Packages: both libssl3 versions and ed (amd64), nothing for arm64; pool/ file names
    // whose bytes match their SHA256.
    let packages = repo.packages("amd64");
    let stanzas = debrepo::parse_stanzas(&packages);
    let versions: Vec<(String, String)> = stanzas
        .iter()
        .map(|s| {
            let f = |n: &str| s.iter().find(|(k, _)| k == n).unwrap().1.clone();
            (f("Package"), f("Version"))
        })
        .collect();
    for want in [
        ("libssl3", "3.0.17-1~deb12u2"),
        ("libssl3", "3.0.22-1~deb12u2"),
        ("ed", "1.19-1"),
    ] {
        assert!(
            versions.iter().any(|(p, v)| p == want.0 && v == want.1),
            "{want:?} in {versions:?}"
        );
    }
    assert!(repo.packages("arm64").trim().is_empty());
    let old_stanza = stanzas
        .iter()
        .find(|s| {
            s.iter()
                .any(|(k, v)| k == "Version" && v == "3.0.17-1~deb12u2")
        })
        .unwrap();
    let field = |n: &str| {
        old_stanza
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(field("Filename"), format!("pool/{LIBSSL3_OLD}"));
    let pool_url = format!("{}/{}", repo.url(), field("Filename"));
    let bytes = get_ok(&pool_url);
    assert_eq!(bytes, std::fs::read(&old).unwrap());
    assert_eq!(debrepo::sha256_hex(&bytes), field("SHA256"));
    assert_eq!(bytes.len().to_string(), field("Size"));

    // The server: HEAD answers the length without a body; 404; traversal refused.
    let answer = head(&pool_url);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert!(answer.body.is_empty());
    assert_eq!(get(&format!("{}/pool/nothing.deb", repo.url())).status, 404);
    assert_eq!(get(&format!("{}/../../etc/passwd", repo.url())).status, 403);
    assert_eq!(
        get(&format!("{}/%2e%2e/%2e%2e/etc/passwd", repo.url())).status,
        403
    );

    // Faults, each alone: a tampered package keeps its size, not its hash …
    repo.tamper_package("ed");
    let tampered = get_ok(&format!("{}/pool/{ED}", repo.url()));
    assert_eq!(tampered.len(), std::fs::read(&ed).unwrap().len());
    assert_ne!(tampered, std::fs::read(&ed).unwrap());
    // … a removed one is a 404 while Packages still lists it …
    repo.remove_package(LIBSSL3_NEW);
    assert_eq!(
        get(&format!("{}/pool/{LIBSSL3_NEW}", repo.url())).status,
        404
    );
    assert!(repo.packages("amd64").contains(LIBSSL3_NEW));
    // … and a broken signature fails gpgv, while the index hashes still hold.
    repo.break_signature();
    let (in_release, release, release_gpg) =
        (fetch("InRelease"), fetch("Release"), fetch("Release.gpg"));
    let out = gpgv(&keyring, &[&in_release]);
    assert!(!out.status.success(), "gpgv accepted a broken InRelease");
    assert!(text(&out).contains("BAD signature"), "{}", text(&out));
    assert!(!gpgv(&keyring, &[&release_gpg, &release]).status.success());
    for (path, _, sha) in release_sha256(&std::fs::read_to_string(&release).unwrap()) {
        let body = get_ok(&format!("{}/{path}", repo.release_url()));
        assert_eq!(debrepo::sha256_hex(&body), sha, "{path}");
    }
    // Signed again by a key the keyring lacks: no public key.
    repo.resign_with_unknown_key();
    let out = gpgv(&keyring, &[&fetch("InRelease")]);
    assert!(!out.status.success(), "gpgv accepted an unknown key");

    // A flat repository: `deb URL ./`, signed the same way.
    let flat = AptRepo::flat(&[&old]);
    assert!(flat.sources_list().ends_with(" ./\n"));
    let path = dir.path().join("flat-InRelease");
    std::fs::write(&path, get_ok(&format!("{}/InRelease", flat.url()))).unwrap();
    let out = gpgv(&flat.keyring_binary(), &[&path]);
    assert!(out.status.success(), "gpgv flat InRelease: {}", text(&out));
    assert!(get_ok(&format!("{}/Packages", flat.url())).starts_with(b"Package: libssl3\n"));
}

#[test]
fn a_debian_root_holds_libssl3_as_dpkg_installed_it() {
    let repo_keyring = b"not a real keyring, a placeholder".to_vec();
    let rootfs = debian_rootfs_with(&deb(LIBSSL3_OLD), "amd64")
        .with(
            "etc/apt/sources.list",
            "deb [signed-by=/usr/share/keyrings/purser-test.gpg] http://127.0.0.1:1/debian bookworm main\n",
        )
        .with_apt_keyring(&repo_keyring);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    extract_layers(&[rootfs.layer().bytes], &root);

    assert_eq!(
        dpkg_query(&root, "${Version}", "libssl3"),
        "3.0.17-1~deb12u2"
    );
    assert_eq!(
        dpkg_query(
            &root,
            "${Status} ${Architecture} ${source:Package}",
            "libssl3"
        ),
        "install ok installed amd64 openssl"
    );
    assert_eq!(
        dpkg_query(&root, "${Version}", "libc6"),
        debrepo::LIBC6_VERSION
    );
    // dpkg's own checker agrees that every dependency is met.
    let admindir = format!("--admindir={}", root.join("var/lib/dpkg").display());
    let out = run("dpkg", &[&admindir, "--audit"], &root);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "dpkg --audit: {}",
        text(&out)
    );

    // The status stanza in dpkg's field order.
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    let stanza = status
        .split("\n\n")
        .find(|s| s.starts_with("Package: libssl3\n"))
        .unwrap();
    let names: Vec<&str> = stanza
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Package",
            "Status",
            "Priority",
            "Section",
            "Installed-Size",
            "Maintainer",
            "Architecture",
            "Multi-Arch",
            "Source",
            "Version",
            "Depends",
            "Description",
            "Homepage"
        ]
    );
    assert!(status.starts_with("Package: libc6\n"), "sorted by name");

    // The info files, Multi-Arch: same, so named libssl3:amd64.*.
    let info = root.join("var/lib/dpkg/info");
    for member in ["list", "md5sums", "triggers", "shlibs", "symbols"] {
        assert!(
            info.join(format!("libssl3:amd64.{member}")).is_file(),
            "{member}"
        );
    }
    let list = std::fs::read_to_string(info.join("libssl3:amd64.list")).unwrap();
    assert!(list.starts_with("/.\n/usr\n/usr/lib\n"), "{list}");
    assert!(
        list.contains("\n/usr/lib/x86_64-linux-gnu/libssl.so.3\n"),
        "{list}"
    );
    // Every file listed is there (directories as directories).
    for line in list.lines().skip(1) {
        let path = root.join(line.trim_start_matches('/'));
        assert!(
            path.symlink_metadata().is_ok(),
            "{line} listed, not extracted"
        );
    }
    // md5sum -c from the root: the files are the package's, byte for byte.
    let out = run(
        "md5sum",
        &[
            "--check",
            "--strict",
            "var/lib/dpkg/info/libssl3:amd64.md5sums",
        ],
        &root,
    );
    assert!(out.status.success(), "md5sum -c: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("libssl.so.3: OK"));
    // The OS files and the caller's additions.
    let os_release = std::fs::read_to_string(root.join("etc/os-release")).unwrap();
    assert!(os_release.contains("VERSION_CODENAME=bookworm") && os_release.contains("ID=debian"));
    assert!(root.join("etc/debian_version").is_file());
    assert_eq!(
        std::fs::read(root.join("usr/share/keyrings/purser-test.gpg")).unwrap(),
        repo_keyring
    );
    assert!(
        std::fs::read_to_string(root.join("etc/apt/sources.list"))
            .unwrap()
            .starts_with("deb [signed-by=")
    );
}

#[test]
fn ed_keeps_its_scripts_modes_and_links_and_an_old_version_can_be_made() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // The "old" ed: the real one re-versioned (same files, so its md5sums still hold).
    let old = debrepo::reversion_deb(&deb(ED), "1.18-1", dir.path());
    assert_eq!(old.file_name().unwrap(), "ed_1.18-1_amd64.deb");
    let root = dir.path().join("root");
    let rootfs = debian_rootfs_with(&old, "amd64");
    extract_layers(&[rootfs.layer().bytes], &root);
    assert_eq!(dpkg_query(&root, "${Version}", "ed"), "1.18-1");
    // Multi-Arch: foreign: plain ed.*; the scripts keep their mode.
    let info = root.join("var/lib/dpkg/info");
    let mode = |p: &Path| p.metadata().unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&info.join("ed.postinst")), 0o755);
    assert_eq!(mode(&info.join("ed.prerm")), 0o755);
    assert!(
        std::fs::read_to_string(info.join("ed.postinst"))
            .unwrap()
            .contains("update-alternatives")
    );
    assert!(info.join("ed.list").is_file() && !info.join("ed:amd64.list").exists());
    assert_eq!(mode(&root.join("bin/ed")), 0o755);
    assert_eq!(
        std::fs::read_link(root.join("usr/share/man/man1/red.1.gz")).unwrap(),
        Path::new("ed.1.gz")
    );
    let out = run("md5sum", &["-c", "var/lib/dpkg/info/ed.md5sums"], &root);
    assert!(out.status.success(), "md5sum -c: {}", text(&out));

    // Both packages in one root.
    let both = debrepo::debian_rootfs_with_all(&[&deb(LIBSSL3_OLD), &deb(ED)], "amd64");
    let root = dir.path().join("both");
    extract_layers(&[both.layer().bytes], &root);
    assert_eq!(dpkg_query(&root, "${Package} ", "*"), "ed libc6 libssl3 ");
}

#[test]
fn layers_apply_in_order_with_whiteouts_and_opaque_directories() {
    let base = debian_rootfs_with(&deb(LIBSSL3_OLD), "amd64")
        .with("opt/keep/a", "a")
        .with("opt/gone/b", "b");
    // Layer 2, gzip: a whiteout, an opaque directory with a new file, a replaced file, a
    // symlink and a file written through a symlinked directory.
    let (upper, _) = Rootfs::default()
        .with("usr/share/doc/libssl3/.wh.copyright", "")
        .with("opt/gone/.wh..wh..opq", "")
        .with("opt/gone/new", "new")
        .with("opt/keep/a", "A")
        .with_symlink("opt/link", "/opt/keep")
        .with_symlink("opt/escape", "/../../..")
        .with_mode("opt/run.sh", "#!/bin/sh\n", 0o750)
        .gzip_layer();
    let third = Rootfs::default()
        .with("opt/link/through", "t")
        .with("opt/escape/tmp/purser-escaped", "x")
        .layer();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    extract_layers(&[base.layer().bytes, upper.bytes, third.bytes], &root);
    assert!(!root.join("usr/share/doc/libssl3/copyright").exists());
    assert!(root.join("usr/share/doc/libssl3/changelog.gz").exists());
    assert!(!root.join("opt/gone/b").exists());
    assert_eq!(std::fs::read(root.join("opt/gone/new")).unwrap(), b"new");
    assert_eq!(std::fs::read(root.join("opt/keep/a")).unwrap(), b"A");
    assert_eq!(std::fs::read(root.join("opt/keep/through")).unwrap(), b"t");
    // An absolute or climbing link target stays inside the root.
    assert!(root.join("tmp/purser-escaped").is_file());
    assert!(!Path::new("/tmp/purser-escaped").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = root
        .join("opt/run.sh")
        .metadata()
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o750);
    // The whiteout made md5sum -c fail for exactly that file.
    let out = run(
        "md5sum",
        &["-c", "var/lib/dpkg/info/libssl3:amd64.md5sums"],
        &root,
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("copyright: FAILED open or read"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trivy_finds_the_old_packages_in_images_of_the_roots() {
    let registry = Registry::start(Flavour::Oci);
    let seeder = registry.seeder();
    let dir = tempfile::tempdir().unwrap();
    let cache = support::trivy::database(dir.path());

    // Debian: the real libssl3 3.0.17-1~deb12u2 as dpkg installed it.
    let layer = debian_rootfs_with(&deb(LIBSSL3_OLD), "amd64").layer();
    seeder
        .rootfs_image("acme/deb", Some("1"), AMD64, &layer)
        .await;
    let (report, found) = support::trivy::scan(&cache, &format!("{}/acme/deb:1", registry.host));
    assert_eq!(report["Metadata"]["OS"]["Family"], "debian");
    let hit = found
        .iter()
        .find(|v| v["VulnerabilityID"] == "CVE-2099-0101")
        .unwrap_or_else(|| panic!("no CVE-2099-0101 in {report:#}"));
    assert_eq!(hit["PkgName"], "libssl3");
    assert_eq!(hit["InstalledVersion"], "3.0.17-1~deb12u2");
    assert_eq!(hit["FixedVersion"], "3.0.17-1~deb12u3");

    // Alpine: a built libssl3 3.1.4-r1 (origin openssl) as apk installed it.
    let signer = ApkSigner::generate();
    let apk = apkrepo::build_apk(
        &signer,
        "libssl3",
        "3.1.4-r1",
        "x86_64",
        &[("usr/lib/libssl.so.3", b"\x7fELF libssl")],
        &["so:libc.musl-x86_64.so.1"],
        "openssl",
        &[],
    );
    let rootfs = apkrepo::alpine_rootfs_with(
        "3.19.1",
        "x86_64",
        &[&apk],
        &signer,
        "http://127.0.0.1:1/alpine/v3.19/main\n",
    );
    seeder
        .rootfs_image("acme/apk", Some("1"), AMD64, &rootfs.layer())
        .await;
    let (report, found) = support::trivy::scan(&cache, &format!("{}/acme/apk:1", registry.host));
    assert_eq!(report["Metadata"]["OS"]["Family"], "alpine");
    let mut ids: Vec<&str> = found
        .iter()
        .filter(|v| v["PkgName"] == "libssl3" && v["InstalledVersion"] == "3.1.4-r1")
        .map(|v| v["VulnerabilityID"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["CVE-2099-0001", "CVE-2099-0002"], "{report:#}");
}

#[test]
fn apk_packages_and_their_index_are_signed_as_abuild_signs_them() {
    let signer = ApkSigner::generate();
    assert!(
        signer.key_name.starts_with("purser-test-") && signer.key_name.ends_with(".rsa.pub"),
        "{}",
        signer.key_name
    );
    let library = vec![0x7fu8, b'E', b'L', b'F', 1, 2, 3];
    let apk = apkrepo::build_apk(
        &signer,
        "libpurser",
        "1.2.3-r0",
        "x86_64",
        &[
            ("usr/lib/libpurser.so.1", &library),
            ("etc/purser.conf", b"setting = 1\n"),
        ],
        &["so:libc.musl-x86_64.so.1", "busybox"],
        "purser",
        &[(".post-install", "#!/bin/sh\necho configured\n")],
    );
    let segments = apkrepo::split_apk(&apk);
    assert_eq!(
        segments.signature.len() + segments.control.len() + segments.data.len(),
        apk.len()
    );
    let dir = tempfile::tempdir().unwrap();
    // The signature (the only member of stream 1) verifies over stream 2's raw bytes.
    let sig_files = apkrepo::segment_files(&segments.signature);
    assert_eq!(sig_files.len(), 1);
    assert_eq!(sig_files[0].0, format!(".SIGN.RSA.{}", signer.key_name));
    let verify = |signed: &[u8], signature: &[u8]| {
        std::fs::write(dir.path().join("signed"), signed).unwrap();
        std::fs::write(dir.path().join("sig"), signature).unwrap();
        let public = signer.public_key.to_str().unwrap().to_owned();
        run(
            "openssl",
            &[
                "dgst",
                "-sha1",
                "-verify",
                &public,
                "-signature",
                "sig",
                "signed",
            ],
            dir.path(),
        )
    };
    let out = verify(&segments.control, &sig_files[0].2);
    assert!(out.status.success(), "openssl dgst -verify: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
    assert!(!verify(&segments.data, &sig_files[0].2).status.success());

    // .PKGINFO: the fields abuild writes, datahash the SHA-256 of stream 3.
    let info = apkrepo::pkginfo(&apk);
    let pkg = |k: &str| info.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(pkg("pkgname"), Some("libpurser"));
    assert_eq!(pkg("pkgver"), Some("1.2.3-r0"));
    assert_eq!(pkg("arch"), Some("x86_64"));
    assert_eq!(pkg("origin"), Some("purser"));
    assert_eq!(pkg("size"), Some("19"));
    assert_eq!(
        pkg("datahash").unwrap(),
        debrepo::sha256_hex(&segments.data)
    );
    let depends: Vec<&str> = info
        .iter()
        .filter(|(k, _)| k == "depend")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(depends, ["so:libc.musl-x86_64.so.1", "busybox"]);
    let control = apkrepo::segment_files(&segments.control);
    assert_eq!(control[1].0, ".post-install");
    assert_eq!(control[1].1, 0o755);

    // Cut segments: GNU tar reads the three streams as one archive, every member in order.
    std::fs::write(dir.path().join("p.apk"), &apk).unwrap();
    let out = run("tar", &["-tzf", "p.apk"], dir.path());
    assert!(out.status.success(), "tar -tzf: {}", text(&out));
    let listing: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        listing,
        [
            format!(".SIGN.RSA.{}", signer.key_name),
            ".PKGINFO".into(),
            ".post-install".into(),
            "usr/".into(),
            "usr/lib/".into(),
            "usr/lib/libpurser.so.1".into(),
            "etc/".into(),
            "etc/purser.conf".into(),
        ]
    );
    // The data tar: a pax checksum per regular file, as abuild-tar --hash writes it.
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(segments.data.as_slice()),
        &mut plain,
    )
    .unwrap();
    let mut archive = tar::Archive::new(plain.as_slice());
    let mut checksums = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let sum = entry
            .pax_extensions()
            .unwrap()
            .expect("a pax header")
            .map(|e| e.unwrap())
            .find(|e| e.key() == Ok("APK-TOOLS.checksum.SHA1"))
            .map(|e| e.value().unwrap().to_owned())
            .expect("APK-TOOLS.checksum.SHA1");
        let mut contents = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut contents).unwrap();
        use sha1::Digest as _;
        assert_eq!(sum, apkrepo::hex(&sha1::Sha1::digest(&contents)));
        checksums.push(sum);
    }
    assert_eq!(checksums.len(), 2);
    assert!(plain.ends_with(&[0u8; 1024]), "the data tar ends normally");

    // The repository: a signed index naming the package by its control hash and size.
    let other = apkrepo::build_apk(
        &signer,
        "busybox",
        "1.36.1-r15",
        "x86_64",
        &[("bin/busybox", b"\x7fELF busybox")],
        &[],
        "busybox",
        &[],
    );
    let repo = ApkRepo::new(&signer, "x86_64", &[apk.clone(), other.clone()]);
    assert!(
        repo.index_url()
            .ends_with("/alpine/v3.19/main/x86_64/APKINDEX.tar.gz")
    );
    let index = get_ok(&repo.index_url());
    let index_segments = apkrepo::split_apk(&index);
    let sig = apkrepo::segment_files(&index_segments.signature);
    assert_eq!(sig[0].0, format!(".SIGN.RSA.{}", signer.key_name));
    let out = verify(&index_segments.control, &sig[0].2);
    assert!(out.status.success(), "index signature: {}", text(&out));
    let members = apkrepo::segment_files(&index_segments.control);
    assert_eq!(members[0].0, "DESCRIPTION");
    assert_eq!(members[1].0, "APKINDEX");
    let text_index = String::from_utf8(members[1].2.clone()).unwrap();
    let stanza = text_index
        .split("\n\n")
        .find(|s| s.contains("P:libpurser\n"))
        .unwrap();
    assert!(stanza.starts_with(&format!("C:{}\n", apkrepo::q1_of(&segments.control))));
    assert!(stanza.contains(&format!("\nS:{}\n", apk.len())));
    assert!(stanza.contains("\nV:1.2.3-r0\nA:x86_64\n"));
    assert!(stanza.contains("\no:purser\n"));
    assert!(
        stanza.ends_with("\nD:so:libc.musl-x86_64.so.1 busybox"),
        "{stanza}"
    );
    let url = format!("{}/x86_64/libpurser-1.2.3-r0.apk", repo.url());
    assert_eq!(get_ok(&url), apk);

    // Tampered after indexing: same size and control hash, another data hash.
    repo.tamper_package("libpurser");
    let tampered = get_ok(&url);
    assert_eq!(tampered.len(), apk.len());
    let t = apkrepo::split_apk(&tampered[..]);
    assert_eq!(t.control, segments.control);
    assert_ne!(debrepo::sha256_hex(&t.data), pkg("datahash").unwrap());
    repo.remove_package("busybox");
    assert_eq!(
        get(&format!("{}/x86_64/busybox-1.36.1-r15.apk", repo.url())).status,
        404
    );

    // A root with both installed as apk leaves them.
    let rootfs = apkrepo::alpine_rootfs_with(
        "3.19.1",
        "x86_64",
        &[&apk, &other],
        &signer,
        &repo.repositories(),
    );
    let root = dir.path().join("root");
    extract_layers(&[rootfs.layer().bytes], &root);
    let installed = std::fs::read_to_string(root.join("lib/apk/db/installed")).unwrap();
    let stanza = installed
        .split("\n\n")
        .find(|s| s.contains("P:libpurser\n"))
        .unwrap();
    assert!(stanza.starts_with(&format!("C:{}\n", apkrepo::q1_of(&segments.control))));
    assert!(
        stanza.contains(&format!(
            "\nF:usr/lib\nR:libpurser.so.1\na:0:0:755\nZ:{}\n",
            apkrepo::q1_of(&library)
        )),
        "{stanza}"
    );
    assert!(stanza.contains(&format!(
        "\nF:etc\nR:purser.conf\nZ:{}",
        apkrepo::q1_of(b"setting = 1\n")
    )));
    assert_eq!(
        std::fs::read(root.join("usr/lib/libpurser.so.1")).unwrap(),
        library
    );
    assert_eq!(
        std::fs::read(root.join(format!("etc/apk/keys/{}", signer.key_name))).unwrap(),
        signer.public_pem()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/apk/repositories")).unwrap(),
        repo.repositories()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/alpine-release")).unwrap(),
        "3.19.1\n"
    );
    let out = run("tar", &["-tf", "lib/apk/db/scripts.tar"], &root);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "libpurser-1.2.3-r0.{}.post-install",
            apkrepo::q1_of(&segments.control)
        )),
        "{}",
        text(&out)
    );
}
