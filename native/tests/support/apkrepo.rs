//! Synthetic Alpine packages, a signed apk repository on loopback and an Alpine root with
//! packages installed as apk leaves them, for the patch tests.
//!
//! [`build_apk`] writes what abuild writes: three gzip streams concatenated,
//!
//! 1. the signature: a tar segment holding `.SIGN.RSA.<key name>`, the RSA signature
//!    (`openssl dgst -sha1 -sign`, PKCS#1 v1.5 over SHA-1) of the raw bytes of stream 2;
//! 2. the control: a tar segment holding `.PKGINFO` (its `datahash` is the hex SHA-256 of the
//!    raw bytes of stream 3) and the maintainer scripts (`.post-install`, …);
//! 3. the data: a tar of the files, each regular file preceded by a pax header with
//!    `APK-TOOLS.checksum.SHA1` (and the legacy `APK2` checksum in its link name field), as
//!    `abuild-tar --hash` leaves them.
//!
//! Segments 1 and 2 are "cut" tars (`abuild-tar --cut`: no end-of-archive blocks), so that the
//! three streams gunzipped together are one tar; the data tar ends normally. A package's
//! identity (`C:Q1…` in `APKINDEX` and `lib/apk/db/installed`) is the SHA-1 of stream 2.
//!
//! [`ApkRepo`] serves `http://127.0.0.1:PORT/alpine/v3.19/main/<arch>/APKINDEX.tar.gz`
//! (signed the same way: a signature segment, then a tar of `DESCRIPTION` and `APKINDEX`) and
//! the packages beside it, through [`super::static_http::StaticServer`].

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use sha1::Digest as _;

use super::helm::text;
use super::rootfs::{Entry, MTIME, Rootfs, gzip};
use super::static_http::StaticServer;

/// The Alpine branch the repository is laid out for.
pub const BRANCH: &str = "v3.19";
/// The repository's name under the branch.
pub const REPOSITORY: &str = "main";

// --- signing --------------------------------------------------------------------------------------

/// A throw-away RSA 2048 key (`openssl genrsa`), named as Alpine names its keys:
/// `purser-test-XXXXXXXX.rsa.pub` ([`ApkSigner::key_name`]). Cheap to clone.
#[derive(Clone)]
pub struct ApkSigner {
    dir: Arc<tempfile::TempDir>,
    /// `purser-test-XXXXXXXX.rsa.pub`: the signature member is `.SIGN.RSA.<key_name>`, and an
    /// image keeps the public key at `etc/apk/keys/<key_name>`.
    pub key_name: String,
    /// The private key, PEM.
    pub private_key: PathBuf,
    /// The public key, PEM (`openssl rsa -pubout`).
    pub public_key: PathBuf,
}

impl ApkSigner {
    pub fn generate() -> ApkSigner {
        let dir = tempfile::Builder::new()
            .prefix("purser-apk-key-")
            .tempdir()
            .unwrap();
        let id = super::seed::random_u64() as u32;
        let stem = format!("purser-test-{id:08x}");
        let private_key = dir.path().join(format!("{stem}.rsa"));
        let public_key = dir.path().join(format!("{stem}.rsa.pub"));
        openssl(&["genrsa", "-out", private_key.to_str().unwrap(), "2048"]);
        openssl(&[
            "rsa",
            "-in",
            private_key.to_str().unwrap(),
            "-pubout",
            "-out",
            public_key.to_str().unwrap(),
        ]);
        ApkSigner {
            dir: Arc::new(dir),
            key_name: format!("{stem}.rsa.pub"),
            private_key,
            public_key,
        }
    }

    /// The public key, PEM.
    pub fn public_pem(&self) -> Vec<u8> {
        std::fs::read(&self.public_key).unwrap()
    }

    /// `openssl dgst -sha1 -sign KEY` over `bytes`.
    pub fn sign(&self, bytes: &[u8]) -> Vec<u8> {
        let id = super::seed::random_u64();
        let input = self.dir.path().join(format!("in-{id:016x}"));
        let output = self.dir.path().join(format!("sig-{id:016x}"));
        std::fs::write(&input, bytes).unwrap();
        openssl(&[
            "dgst",
            "-sha1",
            "-sign",
            self.private_key.to_str().unwrap(),
            "-out",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        let signature = std::fs::read(&output).unwrap();
        let _ = std::fs::remove_file(input);
        let _ = std::fs::remove_file(output);
        signature
    }

    /// The signature member's name: `.SIGN.RSA.<key_name>`.
    pub fn signature_name(&self) -> String {
        format!(".SIGN.RSA.{}", self.key_name)
    }

    /// The signature stream over `signed` (the raw bytes of the gzip stream that follows):
    /// a gzipped cut tar of `.SIGN.RSA.<key_name>`.
    pub fn signature_segment(&self, signed: &[u8]) -> Vec<u8> {
        let signature = self.sign(signed);
        let mut tar = TarWriter::default();
        tar.file(&self.signature_name(), 0o644, &signature, false);
        gzip(&tar.cut())
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

// --- tar segments ---------------------------------------------------------------------------------

/// Ustar members, written as abuild's tar writes them (root-owned, mtime [`MTIME`]).
#[derive(Default)]
struct TarWriter {
    out: Vec<u8>,
}

fn ustar(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .unwrap_or_else(|e| panic!("tar path {path}: {e}"));
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("root").unwrap();
    h.set_groupname("root").unwrap();
    h.set_cksum();
    h
}

/// One pax record, `LEN key=value\n` (LEN counting itself).
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

impl TarWriter {
    fn put(&mut self, header: &tar::Header, data: &[u8]) {
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    fn dir(&mut self, path: &str, mode: u32) {
        self.put(
            &ustar(&format!("{path}/"), tar::EntryType::Directory, mode, 0),
            &[],
        );
    }

    /// A regular file; with `hash`, abuild-tar's pax `APK-TOOLS.checksum.SHA1` header before
    /// it and the legacy `APK2` checksum in its link name field.
    fn file(&mut self, path: &str, mode: u32, data: &[u8], hash: bool) {
        let mut header = ustar(path, tar::EntryType::Regular, mode, data.len() as u64);
        if hash {
            let digest: [u8; 20] = sha1::Sha1::digest(data).into();
            self.pax(path, &hex(&digest));
            // abuild-tar's add_legacy_checksum: "APK2", the digest's OpenSSL nid and size
            // (host-endian u16s), the digest, at linkname[3..].
            let mut legacy = b"APK2".to_vec();
            legacy.extend_from_slice(&64u16.to_le_bytes()); // NID_sha1
            legacy.extend_from_slice(&20u16.to_le_bytes());
            legacy.extend_from_slice(&digest);
            header.as_old_mut().linkname[3..3 + legacy.len()].copy_from_slice(&legacy);
            header.set_cksum();
        }
        self.put(&header, data);
    }

    /// A symbolic link; with `hash`, the pax checksum of its target, as abuild-tar adds it.
    fn symlink(&mut self, path: &str, target: &str, hash: bool) {
        if hash {
            let digest: [u8; 20] = sha1::Sha1::digest(target.as_bytes()).into();
            self.pax(path, &hex(&digest));
        }
        let mut header = ustar(path, tar::EntryType::Symlink, 0o777, 0);
        header.set_link_name(target).unwrap();
        header.set_cksum();
        self.put(&header, &[]);
    }

    /// A pax extended header for `path` (named `DIR/PaxHeaders/FILE`, as GNU tar's posix
    /// format names them) holding the SHA-1 checksum record.
    fn pax(&mut self, path: &str, sha1_hex: &str) {
        let record = pax_record("APK-TOOLS.checksum.SHA1", sha1_hex);
        let (dir, file) = path.rsplit_once('/').unwrap_or((".", path));
        let name = format!("{dir}/PaxHeaders/{file}");
        let name = if name.len() > 99 {
            "PaxHeaders/x".to_owned()
        } else {
            name
        };
        self.put(
            &ustar(&name, tar::EntryType::XHeader, 0o644, record.len() as u64),
            &record,
        );
    }

    /// The archive with its end-of-archive blocks.
    fn finish(mut self) -> Vec<u8> {
        self.out.extend([0u8; 1024]);
        self.out
    }

    /// The archive without them (`abuild-tar --cut`).
    fn cut(self) -> Vec<u8> {
        self.out
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// apk's checksum notation: `Q1` + base64 of a SHA-1.
pub fn q1(sha1: &[u8]) -> String {
    format!(
        "Q1{}",
        base64::engine::general_purpose::STANDARD.encode(sha1)
    )
}

/// `Q1…` of the SHA-1 of `bytes`.
pub fn q1_of(bytes: &[u8]) -> String {
    q1(&sha1::Sha1::digest(bytes))
}

// --- packages -------------------------------------------------------------------------------------

/// The mode a file of a built package gets: 0755 under `bin/`, `sbin/` and for shared
/// libraries (`*.so`, `*.so.*`), 0644 otherwise.
pub fn file_mode(path: &str) -> u32 {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_bin = path.split('/').any(|c| c == "bin" || c == "sbin");
    if in_bin || name.ends_with(".so") || name.contains(".so.") {
        0o755
    } else {
        0o644
    }
}

/// A package as abuild builds it (see the module docs): `files` (path, contents; modes from
/// [`file_mode`], parent directories added), `depends` (`depend =` lines), `origin`, and
/// `scripts` (`(".post-install", "#!/bin/sh\n…")`, mode 0755 in the control segment).
#[allow(clippy::too_many_arguments)]
pub fn build_apk(
    signer: &ApkSigner,
    name: &str,
    version: &str,
    arch: &str,
    files: &[(&str, &[u8])],
    depends: &[&str],
    origin: &str,
    scripts: &[(&str, &str)],
) -> Vec<u8> {
    // 3. data
    let mut data = TarWriter::default();
    let mut dirs = BTreeSet::new();
    let mut size = 0u64;
    for (path, contents) in files {
        let path = path.trim_start_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if dirs.insert(dir.clone()) {
                data.dir(&dir, 0o755);
            }
        }
        data.file(path, file_mode(path), contents, true);
        size += contents.len() as u64;
    }
    let data = gzip(&data.finish());
    // 2. control
    let mut pkginfo = format!(
        "# Generated by abuild 3.12.0-r0\n# using fakeroot version 1.32.1\n# Tue Nov 14 22:13:20 UTC 2023\npkgname = {name}\npkgver = {version}\npkgdesc = {name} for the purser tests\nurl = https://purser.invalid/{name}\nbuilddate = {MTIME}\npackager = purser tests <tests@purser.invalid>\nsize = {size}\narch = {arch}\norigin = {origin}\ncommit = 0000000000000000000000000000000000000000\nmaintainer = purser tests <tests@purser.invalid>\nlicense = MIT\n"
    );
    for depend in depends {
        pkginfo.push_str(&format!("depend = {depend}\n"));
    }
    pkginfo.push_str(&format!(
        "datahash = {}\n",
        super::debrepo::sha256_hex(&data)
    ));
    let mut control = TarWriter::default();
    control.file(".PKGINFO", 0o644, pkginfo.as_bytes(), false);
    for (script, body) in scripts {
        assert!(
            script.starts_with('.'),
            "scripts are named .post-install, …"
        );
        control.file(script, 0o755, body.as_bytes(), false);
    }
    let control = gzip(&control.cut());
    // 1. signature
    let mut apk = signer.signature_segment(&control);
    apk.extend_from_slice(&control);
    apk.extend_from_slice(&data);
    apk
}

/// The raw gzip streams of a package (or of an `APKINDEX.tar.gz`: `data` empty).
#[derive(Clone, Debug)]
pub struct ApkSegments {
    pub signature: Vec<u8>,
    pub control: Vec<u8>,
    pub data: Vec<u8>,
}

/// The first gzip stream of `bytes`: its raw bytes, what it holds, and the bytes after it.
fn gzip_stream(bytes: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>, &[u8])> {
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut plain = Vec::new();
    decoder.read_to_end(&mut plain)?;
    let after = decoder.into_inner();
    let used = bytes.len() - after.len();
    Ok((bytes[..used].to_vec(), plain, after))
}

/// Each gzip stream of `bytes`: its raw bytes and what it holds.
pub fn gzip_streams(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rest = bytes;
    let mut streams = Vec::new();
    while !rest.is_empty() {
        let (raw, plain, after) =
            gzip_stream(rest).unwrap_or_else(|e| panic!("gzip stream {}: {e}", streams.len()));
        streams.push((raw, plain));
        rest = after;
    }
    streams
}

/// The three streams of a package (two of an index: `data` empty). The signature and
/// control streams must decode; the data stream is whatever follows them, decodable or not
/// (a tampered package still splits).
pub fn split_apk(apk: &[u8]) -> ApkSegments {
    let (signature, _, rest) = gzip_stream(apk).expect("a signature gzip stream");
    let (control, _, rest) = gzip_stream(rest).expect("a control gzip stream");
    ApkSegments {
        signature,
        control,
        data: rest.to_vec(),
    }
}

/// The regular files of a gzipped tar segment: name, mode and contents.
pub fn segment_files(segment: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(segment)
        .read_to_end(&mut plain)
        .unwrap();
    let mut archive = tar::Archive::new(plain.as_slice());
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mode = entry.header().mode().unwrap() & 0o7777;
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        files.push((name, mode, contents));
    }
    files
}

/// `.PKGINFO`'s `key = value` lines, in order (repeated keys kept: `depend`).
pub fn pkginfo(apk: &[u8]) -> Vec<(String, String)> {
    let control = split_apk(apk).control;
    let (_, _, info) = segment_files(&control)
        .into_iter()
        .find(|(n, _, _)| n == ".PKGINFO")
        .expect(".PKGINFO in the control segment");
    String::from_utf8(info)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn info_field<'a>(info: &'a [(String, String)], key: &str) -> &'a str {
    info.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The package fields of an `APKINDEX` / `lib/apk/db/installed` stanza (no files), `C:`
/// first; `S:` is the `.apk`'s size.
fn stanza_fields(apk: &[u8]) -> String {
    let info = pkginfo(apk);
    let f = |k: &str| info_field(&info, k).to_owned();
    let control = split_apk(apk).control;
    let mut stanza = format!(
        "C:{}\nP:{}\nV:{}\nA:{}\nS:{}\nI:{}\nT:{}\nU:{}\nL:{}\no:{}\nm:{}\nt:{}\nc:{}\n",
        q1_of(&control),
        f("pkgname"),
        f("pkgver"),
        f("arch"),
        apk.len(),
        f("size"),
        f("pkgdesc"),
        f("url"),
        f("license"),
        f("origin"),
        f("maintainer"),
        f("builddate"),
        f("commit"),
    );
    let depends: Vec<&str> = info
        .iter()
        .filter(|(k, _)| k == "depend")
        .map(|(_, v)| v.as_str())
        .collect();
    if !depends.is_empty() {
        stanza.push_str(&format!("D:{}\n", depends.join(" ")));
    }
    stanza
}

/// `NAME-VERSION.apk`, as a repository names a package.
pub fn apk_file_name(apk: &[u8]) -> String {
    let info = pkginfo(apk);
    format!(
        "{}-{}.apk",
        info_field(&info, "pkgname"),
        info_field(&info, "pkgver")
    )
}

// --- the repository -----------------------------------------------------------------------------

/// A signed apk repository on loopback: `URL/<arch>/APKINDEX.tar.gz` and the packages beside
/// it, `URL` being `http://127.0.0.1:PORT/alpine/v3.19/main`; stopped on Drop.
pub struct ApkRepo {
    server: StaticServer,
    signer: ApkSigner,
    arch: String,
    dir: tempfile::TempDir,
}

impl ApkRepo {
    /// A repository of `apks` (each built by [`build_apk`]) for `arch`, its index signed by
    /// `signer`.
    pub fn new(signer: &ApkSigner, arch: &str, apks: &[Vec<u8>]) -> ApkRepo {
        let dir = tempfile::Builder::new()
            .prefix("purser-apk-repo-")
            .tempdir()
            .unwrap();
        let server = StaticServer::start(dir.path());
        let repo = ApkRepo {
            server,
            signer: signer.clone(),
            arch: arch.to_owned(),
            dir,
        };
        std::fs::create_dir_all(repo.arch_dir()).unwrap();
        for apk in apks {
            std::fs::write(repo.arch_dir().join(apk_file_name(apk)), apk).unwrap();
        }
        repo.reindex();
        repo
    }

    /// `http://127.0.0.1:PORT/alpine/v3.19/main`: what `etc/apk/repositories` names.
    pub fn url(&self) -> String {
        format!("{}/alpine/{BRANCH}/{REPOSITORY}", self.server.url)
    }

    /// `URL/<arch>/APKINDEX.tar.gz`.
    pub fn index_url(&self) -> String {
        format!("{}/{}/APKINDEX.tar.gz", self.url(), self.arch)
    }

    /// `etc/apk/repositories` naming this repository only.
    pub fn repositories(&self) -> String {
        format!("{}\n", self.url())
    }

    /// The folder holding the index and the packages.
    pub fn arch_dir(&self) -> PathBuf {
        self.dir
            .path()
            .join("alpine")
            .join(BRANCH)
            .join(REPOSITORY)
            .join(&self.arch)
    }

    pub fn server(&self) -> &StaticServer {
        &self.server
    }

    pub fn signer(&self) -> &ApkSigner {
        &self.signer
    }

    /// Adds a package and re-indexes.
    pub fn add_package(&self, apk: &[u8]) {
        std::fs::write(self.arch_dir().join(apk_file_name(apk)), apk).unwrap();
        self.reindex();
    }

    /// The `APKINDEX` text as it was last written.
    pub fn index_text(&self) -> String {
        std::fs::read_to_string(self.arch_dir().join("APKINDEX")).unwrap()
    }

    /// Writes `APKINDEX.tar.gz` for the packages there now: a stanza per package (sorted by
    /// file name), a tar of `DESCRIPTION` and `APKINDEX` ending normally, gzipped, signed.
    pub fn reindex(&self) {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.arch_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "apk"))
            .collect();
        names.sort();
        let mut index = String::new();
        for path in names {
            let apk = std::fs::read(&path).unwrap();
            index.push_str(&stanza_fields(&apk));
            index.push('\n');
        }
        let mut tar = TarWriter::default();
        tar.file("DESCRIPTION", 0o644, b"purser test repository", false);
        tar.file("APKINDEX", 0o644, index.as_bytes(), false);
        let body = gzip(&tar.finish());
        let mut signed = self.signer.signature_segment(&body);
        signed.extend_from_slice(&body);
        std::fs::write(self.arch_dir().join("APKINDEX.tar.gz"), signed).unwrap();
        // The plain text beside it, for tests (apk never asks for it).
        std::fs::write(self.arch_dir().join("APKINDEX"), index).unwrap();
    }

    /// The `.apk` files of package `name` (`NAME-*.apk` whose `.PKGINFO` says `name`), or the
    /// one file named `name`.
    pub fn package_files(&self, name: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.arch_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let file = p.file_name().unwrap().to_string_lossy().into_owned();
                if file == name {
                    return true;
                }
                file.ends_with(".apk")
                    && file.starts_with(&format!("{name}-"))
                    && info_field(&pkginfo(&std::fs::read(p).unwrap()), "pkgname") == name
            })
            .collect();
        files.sort();
        files
    }

    /// Fault: one byte flipped in the middle of the data stream of each file of `name` (after
    /// indexing: its size and `C:` still match the index, its `datahash` does not).
    pub fn tamper_package(&self, name: &str) {
        let files = self.package_files(name);
        assert!(!files.is_empty(), "no package file for {name}");
        for file in files {
            let mut bytes = std::fs::read(&file).unwrap();
            let segments = split_apk(&bytes);
            let start = segments.signature.len() + segments.control.len();
            bytes[start + segments.data.len() / 2] ^= 0x5a;
            std::fs::write(&file, bytes).unwrap();
        }
    }

    /// Fault: the files of `name` removed; the index still lists them (a 404).
    pub fn remove_package(&self, name: &str) {
        let files = self.package_files(name);
        assert!(!files.is_empty(), "no package file for {name}");
        for file in files {
            std::fs::remove_file(file).unwrap();
        }
    }
}

// --- a root with packages installed -------------------------------------------------------------

/// An Alpine `release` (`3.19.1`) root for `arch` (`x86_64`) with `apks` installed as apk
/// leaves them: their files (modes, directories, links); `lib/apk/db/installed` with a stanza
/// per package (the index fields, then `F:` per directory, `R:` per file with `a:` when its
/// mode is not 0644 and `Z:Q1…`, the SHA-1 of its contents); `lib/apk/db/scripts.tar` with
/// their scripts (`NAME-VERSION.Q1….post-install`); `etc/apk/keys/<key name>` (the signer's
/// public key), `etc/apk/repositories` (`repositories`, e.g. [`ApkRepo::repositories`]),
/// `etc/apk/world`, `etc/apk/arch`, `etc/alpine-release` and `etc/os-release`.
pub fn alpine_rootfs_with(
    release: &str,
    arch: &str,
    apks: &[&[u8]],
    signer: &ApkSigner,
    repositories: &str,
) -> Rootfs {
    let mut rootfs = Rootfs::default();
    for dir in [
        "etc",
        "etc/apk",
        "etc/apk/keys",
        "lib",
        "lib/apk",
        "lib/apk/db",
    ] {
        rootfs = rootfs.with_dir(dir, 0o755);
    }
    rootfs = rootfs.merged(Rootfs::alpine(release, arch, &[]));
    let mut installed = String::new();
    let mut scripts = TarWriter::default();
    let mut world = Vec::new();
    for apk in apks {
        let segments = split_apk(apk);
        let info = pkginfo(apk);
        let (name, version) = (
            info_field(&info, "pkgname").to_owned(),
            info_field(&info, "pkgver").to_owned(),
        );
        world.push(name.clone());
        installed.push_str(&stanza_fields(apk));
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(segments.data.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        let mut archive = tar::Archive::new(plain.as_slice());
        let mut current_dir: Option<String> = None;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8_lossy(&entry.path_bytes())
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            let mode = entry.header().mode().unwrap() & 0o7777;
            let kind = entry.header().entry_type();
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (d.to_owned(), b.to_owned()),
                None => (String::new(), path.clone()),
            };
            if kind == tar::EntryType::Directory {
                installed.push_str(&format!("F:{path}\n"));
                if mode != 0o755 {
                    installed.push_str(&format!("M:0:0:{mode:o}\n"));
                }
                current_dir = Some(path.clone());
                rootfs = rootfs.with_dir(&path, mode);
                continue;
            }
            if current_dir.as_deref() != Some(dir.as_str()) && !dir.is_empty() {
                installed.push_str(&format!("F:{dir}\n"));
                current_dir = Some(dir.clone());
            }
            match kind {
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default();
                    installed.push_str(&format!(
                        "R:{base}\na:0:0:777\nZ:{}\n",
                        q1_of(target.as_bytes())
                    ));
                    rootfs = rootfs.with_symlink(&path, &target);
                }
                _ => {
                    let mut contents = Vec::new();
                    entry.read_to_end(&mut contents).unwrap();
                    installed.push_str(&format!("R:{base}\n"));
                    if mode != 0o644 {
                        installed.push_str(&format!("a:0:0:{mode:o}\n"));
                    }
                    installed.push_str(&format!("Z:{}\n", q1_of(&contents)));
                    rootfs = rootfs.with_mode(&path, contents, mode);
                }
            }
        }
        installed.push('\n');
        let identity = q1_of(&segments.control);
        for (script, mode, body) in segment_files(&segments.control) {
            if let Some(kind) = script.strip_prefix('.')
                && script != ".PKGINFO"
                && !script.starts_with(".SIGN.")
            {
                scripts.file(
                    &format!("{name}-{version}.{identity}.{kind}"),
                    mode,
                    &body,
                    false,
                );
            }
        }
    }
    world.sort();
    let world: String = world.iter().map(|w| format!("{w}\n")).collect();
    rootfs
        .with(
            &format!("etc/apk/keys/{}", signer.key_name),
            signer.public_pem(),
        )
        .with("etc/apk/repositories", repositories)
        .with("etc/apk/world", world)
        .with("etc/apk/arch", format!("{arch}\n"))
        .with("lib/apk/db/triggers", "")
        .with("lib/apk/db/scripts.tar", scripts.finish())
        .with("lib/apk/db/installed", installed)
}
