//! An image's root filesystem as far as patching needs it: [`ImageFiles`], built by
//! [`ImageFiles::apply`] one layer at a time in manifest order (OCI whiteouts `.wh.NAME` and
//! opaque directories `.wh..wh..opq` honoured), knows every path and its kind, and keeps the
//! contents of the files patching reads: package databases, package sources, signing keys and
//! the conffiles under `/etc`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;

use super::archive::normalise;

/// What a path is in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File,
    Symlink(String),
    Hardlink(String),
    /// A device, FIFO or socket.
    Other,
}

#[derive(Clone, Debug)]
struct Node {
    kind: NodeKind,
    data: Option<Vec<u8>>,
}

/// The merged view of an image's layers.
#[derive(Default)]
pub struct ImageFiles {
    nodes: BTreeMap<String, Node>,
}

/// A layer that cannot be read.
#[derive(Debug)]
pub struct LayerError {
    pub layer: String,
    pub detail: String,
}

impl fmt::Display for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {}: {}", self.layer, self.detail)
    }
}

impl std::error::Error for LayerError {}

/// The files whose contents patching reads.
fn kept(path: &str) -> bool {
    [
        "/etc/",
        "/var/lib/dpkg/",
        "/lib/apk/",
        "/usr/lib/apk/",
        "/usr/share/keyrings/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// The reader that decompresses a layer: gzip, zstd, or a plain tar.
fn decoder<'a>(bytes: &'a [u8], layer: &str) -> Result<Box<dyn Read + 'a>, LayerError> {
    Ok(match bytes {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(
            ruzstd::decoding::StreamingDecoder::new(bytes).map_err(|e| LayerError {
                layer: layer.to_owned(),
                detail: format!("not a zstd stream: {e}"),
            })?,
        ),
        _ => Box::new(bytes),
    })
}

impl ImageFiles {
    /// Applies one layer (a tar, gzip- or zstd-compressed or not) over what is there.
    pub fn apply(&mut self, bytes: &[u8], layer: &str) -> Result<(), LayerError> {
        let fail = |detail: String| LayerError {
            layer: layer.to_owned(),
            detail,
        };
        let mut archive = tar::Archive::new(decoder(bytes, layer)?);
        let mut added: BTreeSet<String> = BTreeSet::new();
        for entry in archive.entries().map_err(|e| fail(e.to_string()))? {
            let mut entry = entry.map_err(|e| fail(e.to_string()))?;
            let raw = entry.path().map_err(|e| fail(e.to_string()))?;
            let raw = raw.to_string_lossy().into_owned();
            let Some(path) = normalise(&raw) else {
                return Err(fail(format!("member {raw:?} climbs out of the root")));
            };
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                let dir = if parent.is_empty() { "/" } else { parent };
                let prefix = format!("{}/", dir.trim_end_matches('/'));
                self.nodes
                    .retain(|p, _| !p.starts_with(&prefix) || added.contains(p));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                self.remove(&format!("{parent}/{hidden}"));
                continue;
            }
            let header = entry.header();
            let kind = match header.entry_type() {
                tar::EntryType::Directory => NodeKind::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous => NodeKind::File,
                tar::EntryType::Symlink => NodeKind::Symlink(
                    entry
                        .link_name()
                        .map_err(|e| fail(e.to_string()))?
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                tar::EntryType::Link => NodeKind::Hardlink(
                    entry
                        .link_name()
                        .map_err(|e| fail(e.to_string()))?
                        .and_then(|l| normalise(&l.to_string_lossy()))
                        .unwrap_or_default(),
                ),
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
                _ => NodeKind::Other,
            };
            if kind != NodeKind::Dir {
                // A file replacing a directory hides what was below it.
                self.remove(&path);
            }
            let data = if kind == NodeKind::File && kept(&path) {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| fail(format!("{path}: {e}")))?;
                Some(data)
            } else if let NodeKind::Hardlink(target) = &kind {
                self.nodes.get(target).and_then(|n| n.data.clone())
            } else {
                None
            };
            added.insert(path.clone());
            self.nodes.insert(path, Node { kind, data });
        }
        Ok(())
    }

    fn remove(&mut self, path: &str) {
        self.nodes.remove(path);
        let prefix = format!("{path}/");
        let below: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            self.nodes.remove(&p);
        }
    }

    /// The contents of a kept file (following symlinks within the image).
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let mut path = path.to_owned();
        for _ in 0..8 {
            let node = self.nodes.get(&path)?;
            match &node.kind {
                NodeKind::Symlink(target) => {
                    let joined = if target.starts_with('/') {
                        target.clone()
                    } else {
                        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                        format!("{parent}/{target}")
                    };
                    path = normalise(&joined)?;
                }
                _ => return node.data.as_deref(),
            }
        }
        None
    }

    /// What `path` is, when the image has it.
    pub fn kind(&self, path: &str) -> Option<&NodeKind> {
        self.nodes.get(path).map(|n| &n.kind)
    }

    /// The paths directly inside `dir`, sorted.
    pub fn children(&self, dir: &str) -> Vec<&str> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.as_str())
            .filter(|p| !p[prefix.len()..].contains('/'))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            match data {
                Some(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, *data).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_layers() {
        let mut files = ImageFiles::default();
        files
            .apply(
                &layer(&[
                    ("etc/", None),
                    ("etc/a", Some(b"one")),
                    ("etc/b", Some(b"two")),
                    ("etc/apt/", None),
                    ("etc/apt/x", Some(b"x")),
                    ("usr/bin/tool", Some(b"bin")),
                ]),
                "1",
            )
            .unwrap();
        files
            .apply(
                &layer(&[
                    ("etc/.wh.a", Some(b"")),
                    ("etc/apt/.wh..wh..opq", Some(b"")),
                    ("etc/apt/y", Some(b"y")),
                    ("etc/b", Some(b"three")),
                ]),
                "2",
            )
            .unwrap();
        assert_eq!(files.read("/etc/a"), None);
        assert_eq!(files.read("/etc/b"), Some(&b"three"[..]));
        assert_eq!(files.kind("/etc/apt/x"), None);
        assert_eq!(files.read("/etc/apt/y"), Some(&b"y"[..]));
        // Outside the kept paths only the kind is known.
        assert_eq!(files.kind("/usr/bin/tool"), Some(&NodeKind::File));
        assert_eq!(files.read("/usr/bin/tool"), None);
        assert_eq!(files.children("/etc"), vec!["/etc/apt", "/etc/b"]);
    }

    #[test]
    fn a_member_that_climbs_out_is_refused() {
        let mut tar = layer(&[("etc/a", Some(b"x"))]);
        // Rewrite the name in place: "etc/a" → "../a" keeps the header checksum wrong, so
        // build it through the raw header instead.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..4].copy_from_slice(b"../a");
        h.set_size(0);
        h.set_cksum();
        tar.splice(0..0, h.as_bytes().iter().copied());
        let err = ImageFiles::default().apply(&tar, "evil").unwrap_err();
        assert!(err.to_string().contains("climbs out"), "{err}");
    }
}
