//! Real Debian packages for the patch tests: a signed APT repository served on loopback
//! ([`AptRepo`]) and a Debian 12 root with real `.deb`s installed as dpkg leaves them
//! ([`debian_rootfs_with`]).
//!
//! The packages are Debian bookworm's own, downloaded once by `scripts/setup-debs.sh` into
//! `.purser/debs/` ([`deb`] finds them): libssl3 3.0.17-1~deb12u2 ([`LIBSSL3_OLD`], the
//! version `fixtures/trivy-db/debian.yaml` makes vulnerable to CVE-2099-0101) and
//! 3.0.22-1~deb12u2 ([`LIBSSL3_NEW`]), and ed 1.19-1 ([`ED`]: 58 KB, with a real `postinst`
//! that runs `update-alternatives`, and a `prerm`). An older ed is made by re-versioning the
//! real one ([`reversion_deb`]).
//!
//! Everything is built with the real tools: `dpkg-deb` reads and writes packages,
//! `dpkg-scanpackages` indexes the pool, GnuPG signs `InRelease` and `Release.gpg`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::gpg::GpgKey;
use super::helm::text;
use super::repo_root;
use super::rootfs::{Entry, Rootfs};
use super::static_http::StaticServer;

/// libssl3 3.0.17-1~deb12u2, amd64: vulnerable to the fixture DB's CVE-2099-0101.
pub const LIBSSL3_OLD: &str = "libssl3_3.0.17-1~deb12u2_amd64.deb";
/// libssl3 3.0.22-1~deb12u2, amd64: past the fix (3.0.17-1~deb12u3).
pub const LIBSSL3_NEW: &str = "libssl3_3.0.22-1~deb12u2_amd64.deb";
/// ed 1.19-1, amd64: small, `Multi-Arch: foreign`, with a real postinst and prerm.
pub const ED: &str = "ed_1.19-1_amd64.deb";

/// Where images keep the test repository's key (`signed-by=` names it).
pub const KEYRING_PATH: &str = "usr/share/keyrings/purser-test.gpg";
/// The suite and codename of the test repository.
pub const SUITE: &str = "bookworm";
/// The architectures the repository indexes.
pub const ARCHITECTURES: [&str; 2] = ["amd64", "arm64"];
/// libc6 as the test roots have it installed (so `Depends: libc6 (>= 2.34)` holds).
pub const LIBC6_VERSION: &str = "2.36-9+deb12u10";

const SETUP_DEBS: &str = "run scripts/setup-debs.sh";

/// `.purser/debs`, where `scripts/setup-debs.sh` leaves the packages.
pub fn debs_dir() -> PathBuf {
    repo_root().join(".purser/debs")
}

/// `.purser/debs/FILE`; a clear failure when set-up has not downloaded it.
pub fn deb(file: &str) -> PathBuf {
    let path = debs_dir().join(file);
    assert!(
        path.is_file(),
        "no {}: {SETUP_DEBS} (it downloads Debian's packages with apt-get download)",
        path.display()
    );
    path
}

// --- reading a .deb -------------------------------------------------------------------------------

/// A `.deb` read with `dpkg-deb`: its control fields, its control members and its data tar.
#[derive(Clone, Debug)]
pub struct Deb {
    pub path: PathBuf,
    /// The `control` fields in their order; a multi-line value keeps its continuation lines
    /// (`"first\n second line"`).
    pub fields: Vec<(String, String)>,
    /// The other control members (`md5sums`, `postinst`, `triggers`, …): name, mode, bytes.
    pub members: Vec<(String, u32, Vec<u8>)>,
    /// `dpkg-deb --fsys-tarfile`: the data tar, uncompressed.
    pub data: Vec<u8>,
}

impl Deb {
    pub fn read(path: &Path) -> Deb {
        let control_tar = dpkg_deb(&["--ctrl-tarfile"], path);
        let mut fields = Vec::new();
        let mut members = Vec::new();
        let mut archive = tar::Archive::new(control_tar.as_slice());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes())
                .trim_start_matches("./")
                .to_owned();
            let mode = entry.header().mode().unwrap() & 0o7777;
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            if name == "control" {
                fields = parse_control(&String::from_utf8(bytes).unwrap());
            } else {
                members.push((name, mode, bytes));
            }
        }
        assert!(!fields.is_empty(), "{}: no control file", path.display());
        Deb {
            path: path.to_owned(),
            fields,
            members,
            data: dpkg_deb(&["--fsys-tarfile"], path),
        }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn package(&self) -> &str {
        self.field("Package").expect("Package field")
    }

    pub fn version(&self) -> &str {
        self.field("Version").expect("Version field")
    }

    pub fn architecture(&self) -> &str {
        self.field("Architecture").expect("Architecture field")
    }

    /// A control member (`md5sums`, `postinst`, …).
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, b)| b.as_slice())
    }

    /// What dpkg names its files under `var/lib/dpkg/info/`: `PKG:ARCH` for `Multi-Arch:
    /// same`, `PKG` otherwise.
    pub fn info_name(&self) -> String {
        if self.field("Multi-Arch") == Some("same") {
            format!("{}:{}", self.package(), self.architecture())
        } else {
            self.package().to_owned()
        }
    }
}

fn dpkg_deb(args: &[&str], deb: &Path) -> Vec<u8> {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("run dpkg-deb");
    assert!(
        out.status.success(),
        "dpkg-deb {args:?} {}: {}",
        deb.display(),
        text(&out)
    );
    out.stdout
}

/// A deb822 stanza's fields in order (continuation lines kept, comments dropped).
pub fn parse_control(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let (_, value) = fields.last_mut().expect("a continuation line first");
            value.push('\n');
            value.push_str(line);
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// The stanzas of a deb822 file (status, Packages), each as its fields.
pub fn parse_stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    text.split("\n\n")
        .map(parse_control)
        .filter(|s| !s.is_empty())
        .collect()
}

/// One field line (or lines) as dpkg writes it.
fn field_line(name: &str, value: &str) -> String {
    if value.starts_with('\n') {
        format!("{name}:{value}\n")
    } else {
        format!("{name}: {value}\n")
    }
}

/// The order dpkg writes a status stanza's fields in (lib/dpkg/parse.c's fieldinfos); fields
/// not named here follow in the order the package gave them.
const STATUS_ORDER: [&str; 28] = [
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// A status stanza (with its blank line) of these fields, in dpkg's order.
pub fn status_stanza(fields: &[(String, String)]) -> String {
    let mut out = String::new();
    for name in STATUS_ORDER {
        if let Some((n, v)) = fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            out.push_str(&field_line(n, v));
        }
    }
    for (n, v) in fields {
        if !STATUS_ORDER.iter().any(|o| o.eq_ignore_ascii_case(n)) {
            out.push_str(&field_line(n, v));
        }
    }
    out.push('\n');
    out
}

/// Hex MD5 of `bytes` (the real `md5sum`; no MD5 crate in the tree).
pub fn md5_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run md5sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "md5sum failed");
    String::from_utf8(out.stdout).unwrap()[..32].to_owned()
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    super::seed::sha256(bytes)
        .trim_start_matches("sha256:")
        .to_owned()
}

// --- a root with packages installed -------------------------------------------------------------

/// A Debian 12 (bookworm) root with the real package `deb` installed as dpkg leaves it: see
/// [`debian_rootfs_with_all`]. `arch` is the root's (dpkg's native) architecture: `amd64`.
pub fn debian_rootfs_with(deb: &Path, arch: &str) -> Rootfs {
    debian_rootfs_with_all(&[deb], arch)
}

/// A Debian 12 (bookworm) root with these real packages installed as dpkg leaves them:
///
/// - their data files as the `.deb`s hold them (modes, directories, symbolic links; hard
///   links as copies);
/// - `var/lib/dpkg/status`: a stanza per package (its control fields and `Status: install ok
///   installed`, `Conffiles:` when it has some, in dpkg's field order) plus `libc6`
///   [`LIBC6_VERSION`] for `arch`, sorted by name as dpkg writes it;
/// - `var/lib/dpkg/info/NAME.list` (`NAME` is `PKG:ARCH` for `Multi-Arch: same`, else
///   `PKG`): `/.` then every directory and file of the package in its order; and each control
///   member but `control` (`md5sums`, `postinst`, `triggers`, `shlibs`, `symbols`, …) as
///   `NAME.MEMBER`, with its mode; `info/format` (`1`, the multiarch layout dpkg needs to
///   find `PKG:ARCH.*`), empty `available`, `diversions` and `statoverride`;
/// - `etc/debian_version` (12.11) and `etc/os-release` as [`Rootfs::debian`] writes them.
///
/// No `etc/apt/sources.list` and no keyring: add them with [`Rootfs::with_apt_source`] (or
/// `.with(...)`). Maintainer scripts are not run (ed's `update-alternatives` links are
/// absent), as in a root whose configure step is someone else's business.
pub fn debian_rootfs_with_all(debs: &[&Path], arch: &str) -> Rootfs {
    let mut rootfs = Rootfs::default();
    for dir in [
        "etc",
        "etc/apt",
        "etc/apt/sources.list.d",
        "usr",
        "usr/share",
        "usr/share/keyrings",
        "var",
        "var/lib",
        "var/lib/dpkg",
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
        "var/lib/dpkg/alternatives",
        "var/lib/dpkg/parts",
    ] {
        rootfs = rootfs.with_dir(dir, 0o755);
    }
    rootfs = rootfs.merged(Rootfs::debian("12.11", arch, &[]));
    let mut stanzas = vec![(
        "libc6".to_owned(),
        status_stanza(&parse_control(&format!(
            "Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 12986\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nArchitecture: {arch}\nMulti-Arch: same\nSource: glibc\nVersion: {LIBC6_VERSION}\nDescription: GNU C Library: Shared libraries\n Contains the standard libraries that are used by nearly all programs on\n the system.\nHomepage: https://www.gnu.org/software/libc/libc.html\n"
        ))),
    )];
    // info/format 1: the multiarch layout (PKG:ARCH.* for Multi-Arch: same); without it dpkg
    // reads info/ as the old layout and finds no list or md5sums of such packages.
    rootfs = rootfs
        .with("var/lib/dpkg/info/format", "1\n")
        .with(&format!("var/lib/dpkg/info/libc6:{arch}.list"), "/.\n")
        .with(&format!("var/lib/dpkg/info/libc6:{arch}.md5sums"), "");
    for path in debs {
        let deb = Deb::read(path);
        let (files, list) = data_entries(&deb.data);
        for entry in files {
            rootfs = rootfs.with_entry(entry);
        }
        let mut fields = deb.fields.clone();
        fields.insert(1, ("Status".into(), "install ok installed".into()));
        if let Some(conffiles) = deb.member("conffiles") {
            let mut value = String::new();
            for conffile in String::from_utf8_lossy(conffiles).lines() {
                let conffile = conffile.trim();
                if conffile.is_empty() || conffile.starts_with("remove-on-upgrade ") {
                    continue;
                }
                let contents = rootfs.file(conffile).unwrap_or_default();
                value.push_str(&format!("\n {conffile} {}", md5_hex(contents)));
            }
            fields.push(("Conffiles".into(), value));
        }
        stanzas.retain(|(name, _)| name != deb.package());
        stanzas.push((deb.package().to_owned(), status_stanza(&fields)));
        let info = format!("var/lib/dpkg/info/{}", deb.info_name());
        rootfs = rootfs.with(&format!("{info}.list"), list);
        for (member, mode, bytes) in &deb.members {
            rootfs = rootfs.with_mode(&format!("{info}.{member}"), bytes.clone(), *mode);
        }
    }
    stanzas.sort_by(|a, b| a.0.cmp(&b.0));
    let status: String = stanzas.into_iter().map(|(_, s)| s).collect();
    rootfs
        .with("var/lib/dpkg/available", "")
        .with("var/lib/dpkg/diversions", "")
        .with("var/lib/dpkg/statoverride", "")
        .with("var/lib/dpkg/status", status)
}

/// A data tar's entries as rootfs entries (the root `./` left out) and the `.list` dpkg
/// writes for it.
fn data_entries(data: &[u8]) -> (Vec<Entry>, String) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut list = String::from("/.\n");
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = raw
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_owned();
        if path.is_empty() || path == "." {
            continue;
        }
        let mode = entry.header().mode().unwrap() & 0o7777;
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let made = match entry.header().entry_type() {
            tar::EntryType::Directory => Entry::Dir {
                path: path.clone(),
                mode,
            },
            tar::EntryType::Symlink => Entry::Symlink {
                path: path.clone(),
                target: link.unwrap_or_default(),
            },
            tar::EntryType::Link => {
                let target = link.unwrap_or_default();
                let target = target.trim_start_matches("./");
                let contents = entries
                    .iter()
                    .find_map(|e| match e {
                        Entry::File { path, contents, .. } if path == target => {
                            Some(contents.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("hard link {path} to {target}: no such file"));
                Entry::File {
                    path: path.clone(),
                    contents,
                    mode,
                }
            }
            _ => {
                let mut contents = Vec::new();
                entry.read_to_end(&mut contents).unwrap();
                Entry::File {
                    path: path.clone(),
                    contents,
                    mode,
                }
            }
        };
        list.push_str(&format!("/{path}\n"));
        entries.push(made);
    }
    (entries, list)
}

impl Rootfs {
    /// `etc/apt/sources.list` naming `repo` only, and its key at [`KEYRING_PATH`].
    pub fn with_apt_source(self, repo: &AptRepo) -> Rootfs {
        self.with("etc/apt/sources.list", repo.sources_list())
            .with_apt_keyring(&repo.keyring_binary())
    }

    /// `keyring` (binary OpenPGP public keys) at [`KEYRING_PATH`].
    pub fn with_apt_keyring(self, keyring: &[u8]) -> Rootfs {
        self.with(KEYRING_PATH, keyring.to_vec())
    }
}

/// A copy of `deb` with `Version: version` (its files and scripts unchanged: md5sums still
/// hold), built with `dpkg-deb -b` into `out_dir`; returns its path
/// (`PKG_VERSION_ARCH.deb`, the epoch left out of the name).
pub fn reversion_deb(deb: &Path, version: &str, out_dir: &Path) -> PathBuf {
    let work = tempfile::Builder::new()
        .prefix("purser-deb-")
        .tempdir()
        .unwrap();
    let tree = work.path().join("tree");
    let out = Command::new("dpkg-deb")
        .arg("-R")
        .arg(deb)
        .arg(&tree)
        .output()
        .expect("run dpkg-deb -R");
    assert!(out.status.success(), "dpkg-deb -R: {}", text(&out));
    let control_path = tree.join("DEBIAN/control");
    let control = std::fs::read_to_string(&control_path).unwrap();
    let mut found = false;
    let control: String = control
        .lines()
        .map(|l| {
            if l.starts_with("Version:") {
                found = true;
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(found, "{}: no Version field", deb.display());
    std::fs::write(&control_path, &control).unwrap();
    let fields = parse_control(&control);
    let get = |n: &str| {
        fields
            .iter()
            .find(|(f, _)| f == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let bare = version.split_once(':').map_or(version, |(_, v)| v);
    let name = format!("{}_{bare}_{}.deb", get("Package"), get("Architecture"));
    dpkg_deb_build(&tree, out_dir, &name)
}

/// A synthetic amd64 package built with `dpkg-deb -b` into `out_dir`: `files` (path,
/// contents; 0644, directories 0755), `conffiles` (absolute paths, in `DEBIAN/conffiles`), and
/// `DEBIAN/md5sums` for the other files, as `dh_md5sums` leaves it. Returns its path.
pub fn build_deb(
    name: &str,
    version: &str,
    files: &[(&str, &[u8])],
    conffiles: &[&str],
    out_dir: &Path,
) -> PathBuf {
    let work = tempfile::Builder::new()
        .prefix("purser-deb-")
        .tempdir()
        .unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    let mut md5sums = String::new();
    for (path, contents) in files {
        let path = path.trim_start_matches('/');
        let on_disk = tree.join(path);
        std::fs::create_dir_all(on_disk.parent().unwrap()).unwrap();
        std::fs::write(&on_disk, contents).unwrap();
        if !conffiles.contains(&format!("/{path}").as_str()) {
            md5sums.push_str(&format!("{}  {path}\n", md5_hex(contents)));
        }
    }
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: purser tests <tests@purser.invalid>\nInstalled-Size: 1\nSection: misc\nPriority: optional\nDescription: {name} for the purser tests\n a synthetic package with a conffile\n"
        ),
    )
    .unwrap();
    std::fs::write(tree.join("DEBIAN/md5sums"), md5sums).unwrap();
    if !conffiles.is_empty() {
        let list: String = conffiles.iter().map(|c| format!("{c}\n")).collect();
        std::fs::write(tree.join("DEBIAN/conffiles"), list).unwrap();
    }
    dpkg_deb_build(&tree, out_dir, &format!("{name}_{version}_amd64.deb"))
}

/// `dpkg-deb --root-owner-group -Zxz -b TREE OUT_DIR/NAME`: the package's path.
fn dpkg_deb_build(tree: &Path, out_dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(out_dir).unwrap();
    let built = out_dir.join(name);
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "-b"])
        .arg(tree)
        .arg(&built)
        .output()
        .expect("run dpkg-deb -b");
    assert!(out.status.success(), "dpkg-deb -b: {}", text(&out));
    built
}

// --- the repository -----------------------------------------------------------------------------

/// How the repository is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `dists/bookworm/{InRelease,Release,Release.gpg}`,
    /// `dists/bookworm/main/binary-{amd64,arm64}/Packages{,.gz}`, `pool/`:
    /// `deb URL bookworm main`.
    Dists,
    /// `InRelease`, `Release`, `Release.gpg`, `Packages{,.gz}` and `pool/` at the top:
    /// `deb URL ./`.
    Flat,
}

/// A signed APT repository of real `.deb`s on loopback (`http://127.0.0.1:PORT/debian`),
/// signed with a throw-away GnuPG key; stopped on Drop.
pub struct AptRepo {
    server: StaticServer,
    key: GpgKey,
    other_key: OnceLock<GpgKey>,
    layout: Layout,
    /// Holds `debian/`, the repository; removed on Drop, after the server.
    dir: tempfile::TempDir,
}

impl AptRepo {
    /// A [`Layout::Dists`] repository of `debs`.
    pub fn new(debs: &[&Path]) -> AptRepo {
        AptRepo::with_layout(debs, Layout::Dists)
    }

    /// A [`Layout::Flat`] repository of `debs`.
    pub fn flat(debs: &[&Path]) -> AptRepo {
        AptRepo::with_layout(debs, Layout::Flat)
    }

    pub fn with_layout(debs: &[&Path], layout: Layout) -> AptRepo {
        let dir = tempfile::Builder::new()
            .prefix("purser-apt-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("debian");
        std::fs::create_dir_all(root.join("pool")).unwrap();
        for deb in debs {
            let name = deb.file_name().expect("a .deb file name");
            std::fs::copy(deb, root.join("pool").join(name))
                .unwrap_or_else(|e| panic!("copy {}: {e}", deb.display()));
        }
        let server = StaticServer::start(dir.path());
        let repo = AptRepo {
            server,
            key: GpgKey::generate("purser test APT repository <apt@purser.invalid>"),
            other_key: OnceLock::new(),
            layout,
            dir,
        };
        repo.reindex();
        repo
    }

    /// `http://127.0.0.1:PORT/debian`.
    pub fn url(&self) -> String {
        format!("{}/debian", self.server.url)
    }

    /// The repository's folder on disk (`pool/`, `dists/`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("debian")
    }

    /// The server (its request log).
    pub fn server(&self) -> &StaticServer {
        &self.server
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Where `Release`, `InRelease` and `Release.gpg` are.
    pub fn release_dir(&self) -> PathBuf {
        match self.layout {
            Layout::Dists => self.root().join("dists").join(SUITE),
            Layout::Flat => self.root(),
        }
    }

    /// The URL of the folder holding `Release` and `InRelease`.
    pub fn release_url(&self) -> String {
        match self.layout {
            Layout::Dists => format!("{}/dists/{SUITE}", self.url()),
            Layout::Flat => self.url(),
        }
    }

    /// The `Packages` index path for `arch`, relative to [`AptRepo::release_dir`].
    pub fn packages_path(&self, arch: &str) -> String {
        match self.layout {
            Layout::Dists => format!("main/binary-{arch}/Packages"),
            Layout::Flat => "Packages".to_owned(),
        }
    }

    /// The `Packages` index for `arch` (flat: the one index).
    pub fn packages(&self, arch: &str) -> String {
        std::fs::read_to_string(self.release_dir().join(self.packages_path(arch))).unwrap()
    }

    /// The public key, binary (`gpg --export`), as `signed-by=` takes it.
    pub fn keyring_binary(&self) -> Vec<u8> {
        self.key.public_keyring()
    }

    /// `deb [signed-by=/usr/share/keyrings/purser-test.gpg] URL bookworm main` (flat: `URL
    /// ./`), with its newline.
    pub fn sources_list(&self) -> String {
        let suite = match self.layout {
            Layout::Dists => format!("{SUITE} main"),
            Layout::Flat => "./".to_owned(),
        };
        format!("deb [signed-by=/{KEYRING_PATH}] {} {suite}\n", self.url())
    }

    /// Copies `deb` into the pool and re-indexes.
    pub fn add_package(&self, deb: &Path) {
        std::fs::copy(deb, self.root().join("pool").join(deb.file_name().unwrap())).unwrap();
        self.reindex();
    }

    /// Indexes the pool again (`dpkg-scanpackages -m`, every version kept), writes `Release`
    /// and signs it.
    pub fn reindex(&self) {
        let root = self.root();
        let mut indexes: Vec<(String, Vec<u8>)> = Vec::new();
        let targets: Vec<(String, Option<&str>)> = match self.layout {
            Layout::Dists => ARCHITECTURES
                .iter()
                .map(|a| (format!("main/binary-{a}/Packages"), Some(*a)))
                .collect(),
            Layout::Flat => vec![("Packages".to_owned(), None)],
        };
        for (path, arch) in targets {
            let mut scan = Command::new("dpkg-scanpackages");
            scan.arg("-m");
            if let Some(arch) = arch {
                scan.args(["-a", arch]);
            }
            let out = scan
                .args(["pool", "/dev/null"])
                .current_dir(&root)
                .output()
                .expect("run dpkg-scanpackages (dpkg-dev)");
            assert!(out.status.success(), "dpkg-scanpackages: {}", text(&out));
            let gz = super::rootfs::gzip(&out.stdout);
            indexes.push((path.clone(), out.stdout));
            indexes.push((format!("{path}.gz"), gz));
        }
        let release_dir = self.release_dir();
        for (path, bytes) in &indexes {
            let file = release_dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, bytes).unwrap();
        }
        let date = httpdate::fmt_http_date(std::time::SystemTime::now()).replace("GMT", "UTC");
        let mut release = String::from("Origin: purser-test\nLabel: purser-test\n");
        if self.layout == Layout::Dists {
            release.push_str(&format!("Suite: {SUITE}\nCodename: {SUITE}\n"));
        }
        release.push_str(&format!(
            "Date: {date}\nArchitectures: {}\n",
            ARCHITECTURES.join(" ")
        ));
        if self.layout == Layout::Dists {
            release.push_str("Components: main\n");
        }
        release.push_str("Description: purser test repository\n");
        for (title, hash) in [
            ("MD5Sum", md5_hex as fn(&[u8]) -> String),
            ("SHA256", sha256_hex),
        ] {
            release.push_str(&format!("{title}:\n"));
            for (path, bytes) in &indexes {
                release.push_str(&format!(" {} {:>16} {path}\n", hash(bytes), bytes.len()));
            }
        }
        std::fs::write(release_dir.join("Release"), release).unwrap();
        self.sign_with(&self.key);
    }

    fn sign_with(&self, key: &GpgKey) {
        let dir = self.release_dir();
        for name in ["InRelease", "Release.gpg"] {
            let _ = std::fs::remove_file(dir.join(name));
        }
        key.clearsign(&dir.join("Release"), &dir.join("InRelease"));
        key.detach_sign(&dir.join("Release"), &dir.join("Release.gpg"));
    }

    /// The pool files of package `name` (`NAME_*.deb`), or the one file named `name`.
    pub fn pool_files(&self, name: &str) -> Vec<PathBuf> {
        let prefix = format!("{name}_");
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.root().join("pool"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let file = p.file_name().unwrap().to_string_lossy();
                file == name || (file.starts_with(&prefix) && file.ends_with(".deb"))
            })
            .collect();
        files.sort();
        files
    }

    /// Fault: flips one byte in the middle of each pool file of `name` (after indexing, so
    /// its size still matches `Packages` and its SHA256 does not).
    pub fn tamper_package(&self, name: &str) {
        let files = self.pool_files(name);
        assert!(!files.is_empty(), "no pool file for {name}");
        for file in files {
            let mut bytes = std::fs::read(&file).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x5a;
            std::fs::write(&file, bytes).unwrap();
        }
    }

    /// Fault: the pool files of `name` are removed; `Packages` still lists them (a 404).
    pub fn remove_package(&self, name: &str) {
        let files = self.pool_files(name);
        assert!(!files.is_empty(), "no pool file for {name}");
        for file in files {
            std::fs::remove_file(file).unwrap();
        }
    }

    /// Fault: `Release` and the text `InRelease` signs are altered after signing (their
    /// `Date:` line), so both signatures are BAD; the index hashes still hold.
    pub fn break_signature(&self) {
        let dir = self.release_dir();
        for name in ["Release", "InRelease"] {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            let date = text
                .lines()
                .find(|l| l.starts_with("Date: "))
                .expect("a Date line")
                .to_owned();
            let altered = text.replacen(&date, "Date: Thu, 01 Jan 2015 00:00:00 UTC", 1);
            assert_ne!(altered, text);
            std::fs::write(&path, altered).unwrap();
        }
    }

    /// Fault: `InRelease` and `Release.gpg` signed again with another key, one the
    /// keyring does not hold (gpgv: no public key).
    pub fn resign_with_unknown_key(&self) {
        let key = self
            .other_key
            .get_or_init(|| GpgKey::generate("someone else <other@purser.invalid>"));
        self.sign_with(key);
    }
}

// --- reading a root back with dpkg's own tools -------------------------------------------------

/// `dpkg-query --admindir=ROOT/var/lib/dpkg -W -f=FORMAT PACKAGE` (run in `root`): its output.
pub fn dpkg_query(root: &Path, format: &str, package: &str) -> String {
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", &format!("-f={format}"), package])
        .current_dir(root)
        .output()
        .expect("run dpkg-query");
    assert!(out.status.success(), "dpkg-query {package}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `md5sum --check --strict var/lib/dpkg/info/INFO.md5sums` in `root` (`INFO` as dpkg names
/// it, `libssl3:amd64`): every file of the package is its own, byte for byte.
pub fn md5sum_check(root: &Path, info: &str) -> std::process::Output {
    Command::new("md5sum")
        .args(["--check", "--strict"])
        .arg(format!("var/lib/dpkg/info/{info}.md5sums"))
        .current_dir(root)
        .output()
        .expect("run md5sum")
}
