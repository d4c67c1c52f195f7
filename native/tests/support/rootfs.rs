//! Image layers that carry a real OS package database, for the scan and patch tests: [`Rootfs`]
//! holds the entries of a small root filesystem (regular files with their modes, directories,
//! symbolic links: an Alpine `lib/apk/db/installed` or a Debian `var/lib/dpkg/status`, with
//! the release files Trivy reads to know the OS) and [`Rootfs::layer`] writes them as an
//! uncompressed tar layer (OCI `…layer.v1.tar`: its digest is its diff id).
//!
//! [`extract_layers`] goes the other way: it applies OCI layers in order onto a directory as a
//! container runtime does (whiteouts `.wh.NAME`, opaque directories `.wh..wh..opq`), so that
//! a test can run the real `dpkg-query --admindir` or `md5sum -c` on what an image holds.
//!
//! A Debian root with a real `.deb` installed as dpkg leaves it is [`super::debrepo`]'s
//! `debian_rootfs_with`; an Alpine one with a package installed as apk leaves it is
//! [`super::apkrepo`]'s `alpine_rootfs_with`.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::seed::Blob;

/// One installed package: its name, version and source (apk origin, dpkg Source).
#[derive(Clone, Copy, Debug)]
pub struct Package<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub source: &'a str,
}

/// One entry of a root filesystem; paths are relative (`usr/lib/x`, no `./`, no leading `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    File {
        path: String,
        contents: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
}

impl Entry {
    pub fn path(&self) -> &str {
        match self {
            Entry::File { path, .. } | Entry::Dir { path, .. } | Entry::Symlink { path, .. } => {
                path
            }
        }
    }
}

/// The modification time of every entry written.
pub const MTIME: u64 = 1_700_000_000;

/// The entries of a small root filesystem, in the order they are written.
#[derive(Clone, Debug, Default)]
pub struct Rootfs {
    entries: Vec<Entry>,
}

impl Rootfs {
    /// Alpine `release` (`3.19.1`) with these packages installed (`arch` as apk names it:
    /// `x86_64`, `aarch64`).
    pub fn alpine(release: &str, arch: &str, packages: &[Package]) -> Rootfs {
        let mut installed = String::new();
        for p in packages {
            installed.push_str(&format!(
                "C:Q1{}=\nP:{}\nV:{}\nA:{arch}\nS:1024\nI:4096\nT:{} for the purser tests\nU:https://purser.invalid/\nL:MIT\no:{}\n\n",
                short_hash(p.name),
                p.name,
                p.version,
                p.name,
                p.source
            ));
        }
        let minor: String = release.split('.').take(2).collect::<Vec<_>>().join(".");
        Rootfs::default()
            .with("etc/alpine-release", format!("{release}\n"))
            .with(
                "etc/os-release",
                format!(
                    "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID={release}\nPRETTY_NAME=\"Alpine Linux v{minor}\"\n"
                ),
            )
            .with("lib/apk/db/installed", installed)
    }

    /// Debian `version` (`12.7`, bookworm) with these packages installed (`arch` as dpkg
    /// names it: `amd64`, `arm64`).
    pub fn debian(version: &str, arch: &str, packages: &[Package]) -> Rootfs {
        let mut status = String::new();
        for p in packages {
            status.push_str(&format!(
                "Package: {}\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 1024\nMaintainer: purser tests <tests@purser.invalid>\nArchitecture: {arch}\nMulti-Arch: same\nSource: {}\nVersion: {}\nDescription: {} for the purser tests\n\n",
                p.name, p.source, p.version, p.name
            ));
        }
        let major = version.split('.').next().unwrap_or(version);
        Rootfs::default()
            .with("etc/debian_version", format!("{version}\n"))
            .with(
                "etc/os-release",
                format!(
                    "PRETTY_NAME=\"Debian GNU/Linux {major} (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"{major}\"\nVERSION_CODENAME=bookworm\nID=debian\n"
                ),
            )
            .with("var/lib/dpkg/status", status)
    }

    /// A regular file (mode 0644); replaces an entry at that path.
    pub fn with(self, path: &str, contents: impl Into<Vec<u8>>) -> Rootfs {
        self.with_mode(path, contents, 0o644)
    }

    /// A regular file with `mode` (permission bits, e.g. 0o755); replaces an entry at that path.
    pub fn with_mode(self, path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Rootfs {
        self.with_entry(Entry::File {
            path: clean(path),
            contents: contents.into(),
            mode,
        })
    }

    /// A directory; replaces an entry at that path.
    pub fn with_dir(self, path: &str, mode: u32) -> Rootfs {
        self.with_entry(Entry::Dir {
            path: clean(path),
            mode,
        })
    }

    /// A symbolic link `path -> target` (written as given); replaces an entry at that path.
    pub fn with_symlink(self, path: &str, target: &str) -> Rootfs {
        self.with_entry(Entry::Symlink {
            path: clean(path),
            target: target.to_owned(),
        })
    }

    /// `entry`, in place of one at its path, else at the end.
    pub fn with_entry(mut self, entry: Entry) -> Rootfs {
        match self.entries.iter_mut().find(|e| e.path() == entry.path()) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
        self
    }

    /// Every entry of `other` added (replacing those at the same paths).
    pub fn merged(self, other: Rootfs) -> Rootfs {
        other.entries.into_iter().fold(self, Rootfs::with_entry)
    }

    /// Without the entry at `path` (nothing when there is none).
    pub fn without(mut self, path: &str) -> Rootfs {
        let path = clean(path);
        self.entries.retain(|e| e.path() != path);
        self
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The contents of the regular file at `path`.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        let path = clean(path);
        self.entries.iter().find_map(|e| match e {
            Entry::File {
                path: p, contents, ..
            } if *p == path => Some(contents.as_slice()),
            _ => None,
        })
    }

    /// The entries as one uncompressed tar (GNU headers, long names as GNU tar writes them,
    /// root-owned, mtime [`MTIME`]), with its end-of-archive blocks.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(MTIME);
            header.set_uid(0);
            header.set_gid(0);
            header.set_username("root").unwrap();
            header.set_groupname("root").unwrap();
            match entry {
                Entry::File {
                    path,
                    contents,
                    mode,
                } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(contents.len() as u64);
                    builder
                        .append_data(&mut header, path, contents.as_slice())
                        .unwrap();
                }
                Entry::Dir { path, .. } if path.is_empty() => {}
                Entry::Dir { path, mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, format!("{path}/"), std::io::empty())
                        .unwrap();
                }
                Entry::Symlink { path, target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    /// The entries as one uncompressed tar layer.
    pub fn layer(&self) -> Blob {
        let tar = self.tar();
        Blob {
            digest: super::seed::sha256(&tar),
            bytes: tar,
        }
    }

    /// The entries as one gzip-compressed tar layer (`…layer.v1.tar+gzip`) and its diff id
    /// (the digest of the uncompressed tar).
    pub fn gzip_layer(&self) -> (Blob, String) {
        let tar = self.tar();
        let diff_id = super::seed::sha256(&tar);
        let bytes = gzip(&tar);
        (
            Blob {
                digest: super::seed::sha256(&bytes),
                bytes,
            },
            diff_id,
        )
    }
}

/// `bytes` gzip-compressed (one member, best compression, mtime 0).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `path` relative: no leading `/` or `./`, no trailing `/`.
fn clean(path: &str) -> String {
    let mut p = path.trim_start_matches('/');
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.trim_start_matches('/');
    }
    p.trim_end_matches('/').to_owned()
}

/// A stand-in for apk's checksum field (Trivy does not check it).
fn short_hash(name: &str) -> String {
    let hex = super::seed::sha256(name.as_bytes());
    hex.trim_start_matches("sha256:")[..27].to_owned()
}

// --- applying layers ------------------------------------------------------------------------------

/// One member of a layer, read whole.
struct Member {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    link: Option<String>,
    data: Vec<u8>,
}

/// Applies OCI layer tars (gzip-compressed or not, told apart by their magic) in order onto
/// `into`, as a container runtime unpacks an image: a `.wh.NAME` member removes NAME from the
/// layers below, a `.wh..wh..opq` member empties its directory of what the layers below put
/// there; regular files (with their modes), directories, symbolic and hard links are written.
/// Symbolic links inside `into` are followed as if `into` were `/` (an absolute target stays
/// inside), so a layer can never write outside it. Panics on a member that climbs out (`..`)
/// or that cannot be written.
pub fn extract_layers(layers: &[Vec<u8>], into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let root = into.canonicalize().unwrap();
    for (n, layer) in layers.iter().enumerate() {
        let members = read_layer(layer).unwrap_or_else(|e| panic!("layer {n}: {e}"));
        apply_layer(&root, &members, n);
    }
}

/// The members of a layer tar (gunzipped first when it is gzip).
fn read_layer(layer: &[u8]) -> std::io::Result<Vec<Member>> {
    let reader: Box<dyn Read + '_> = if layer.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(layer))
    } else {
        Box::new(layer)
    };
    let mut archive = tar::Archive::new(reader);
    let mut members = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        members.push(Member {
            path,
            kind,
            mode,
            link,
            data,
        });
    }
    Ok(members)
}

/// The relative components of a member's path; panics on `..`.
fn components(path: &str, layer: usize) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => panic!("layer {layer}: member {path:?} climbs out with .."),
            _ => None,
        })
        .collect()
}

/// Where `parts` lands under `root`: every component but the last resolved, symbolic links
/// followed inside `root` (absolute targets from `root`); the last is not followed.
fn resolve(root: &Path, parts: &[String]) -> PathBuf {
    let mut at = root.to_path_buf();
    let mut pending: Vec<String> = parts[..parts.len().saturating_sub(1)]
        .iter()
        .rev()
        .cloned()
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                if at != root {
                    at.pop();
                }
                continue;
            }
            _ => {}
        }
        let next = at.join(&part);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                assert!(hops < 64, "too many symbolic links resolving {parts:?}");
                let target = std::fs::read_link(&next).unwrap();
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    at = root.to_path_buf();
                }
                for t in target.split('/').rev() {
                    pending.push(t.to_owned());
                }
            }
            _ => at = next,
        }
    }
    match parts.last() {
        Some(last) => at.join(last),
        None => at,
    }
}

/// Removes whatever is at `path` (a directory with what it holds; a link, not its target).
fn remove(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path).unwrap(),
        Ok(_) => std::fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

fn apply_layer(root: &Path, members: &[Member], n: usize) {
    use std::os::unix::fs::PermissionsExt;
    // Whiteouts first: they take away what the layers below hold, never this layer's own.
    for member in members {
        let parts = components(&member.path, n);
        let Some(name) = parts.last() else { continue };
        if name == ".wh..wh..opq" {
            let dir = resolve(root, &parts[..parts.len() - 1]);
            if let Ok(read) = std::fs::read_dir(&dir) {
                for child in read {
                    remove(&child.unwrap().path());
                }
            }
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            let mut target = parts.clone();
            *target.last_mut().unwrap() = hidden.to_owned();
            remove(&resolve(root, &target));
        }
    }
    let mut dir_modes = Vec::new();
    for member in members {
        let parts = components(&member.path, n);
        let Some(name) = parts.last() else { continue };
        if name.starts_with(".wh.") {
            continue;
        }
        let path = resolve(root, &parts);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        match member.kind {
            tar::EntryType::Directory => {
                if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                    remove(&path);
                    std::fs::create_dir_all(&path).unwrap();
                }
                dir_modes.push((path, member.mode));
            }
            tar::EntryType::Symlink => {
                remove(&path);
                let target = member.link.as_deref().unwrap_or("");
                std::os::unix::fs::symlink(target, &path)
                    .unwrap_or_else(|e| panic!("layer {n}: symlink {}: {e}", member.path));
            }
            tar::EntryType::Link => {
                let target = member.link.as_deref().unwrap_or("");
                let source = resolve(root, &components(target, n));
                remove(&path);
                std::fs::hard_link(&source, &path).unwrap_or_else(|e| {
                    panic!("layer {n}: hard link {} -> {target}: {e}", member.path)
                });
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove(&path);
                std::fs::write(&path, &member.data)
                    .unwrap_or_else(|e| panic!("layer {n}: write {}: {e}", member.path));
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(member.mode))
                    .unwrap();
            }
            // Devices, FIFOs and the like: nothing a test image needs.
            _ => {}
        }
    }
    // Directory modes last, deepest first: a read-only directory still takes its children.
    dir_modes.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (path, mode) in dir_modes {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
