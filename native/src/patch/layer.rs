//! The one layer a patch adds: [`LayerBuilder`] collects package files, whiteouts for files
//! the old packages had and the new ones lack, and the rewritten package database, then
//! [`LayerBuilder::finish`] writes them as a gzip-compressed tar ([`Layer`]: its digest, and
//! its diff id, the digest of the tar itself). Members are written in path order with the
//! times given, so the same patch of the same image gives the same bytes.

use std::collections::BTreeMap;
use std::io::Write;

use purser::digest::Digest;

use super::archive::{Entry, EntryKind};

/// The layer, compressed, with the digests an image config and manifest name it by.
pub struct Layer {
    pub gzip: Vec<u8>,
    pub digest: Digest,
    pub diff_id: Digest,
    /// Bytes of the tar before compression.
    pub tar_size: u64,
}

enum Member {
    Entry(Entry),
    Whiteout,
}

/// The members of the patch layer, by absolute path.
#[derive(Default)]
pub struct LayerBuilder {
    members: BTreeMap<String, Member>,
}

impl LayerBuilder {
    /// A package's file, directory or link, as the package has it.
    pub fn entry(&mut self, entry: Entry) {
        self.members
            .insert(entry.path.clone(), Member::Entry(entry));
    }

    /// A regular file purser writes (a package database file), root-owned.
    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32, mtime: u64) {
        self.entry(Entry {
            path: path.to_owned(),
            kind: EntryKind::File,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            data,
        });
    }

    /// Hides `path` (and what is below it) of the layers underneath.
    pub fn whiteout(&mut self, path: &str) {
        self.members
            .entry(path.to_owned())
            .or_insert(Member::Whiteout);
    }

    /// Whether the layer writes `path` (a file or a whiteout).
    pub fn has(&self, path: &str) -> bool {
        self.members.contains_key(path)
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The layer as a gzip-compressed tar.
    pub fn finish(self, mtime: u64) -> std::io::Result<Layer> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, member) in &self.members {
            let relative = path.trim_start_matches('/');
            let mut header = tar::Header::new_gnu();
            match member {
                Member::Whiteout => {
                    let (dir, name) = relative.rsplit_once('/').unwrap_or(("", relative));
                    let name = if dir.is_empty() {
                        format!(".wh.{name}")
                    } else {
                        format!("{dir}/.wh.{name}")
                    };
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(0);
                    header.set_mode(0o644);
                    header.set_mtime(mtime);
                    tar.append_data(&mut header, name, &[][..])?;
                }
                Member::Entry(entry) => {
                    header.set_mode(entry.mode);
                    header.set_uid(entry.uid);
                    header.set_gid(entry.gid);
                    header.set_mtime(entry.mtime);
                    match &entry.kind {
                        EntryKind::Dir => {
                            header.set_entry_type(tar::EntryType::Directory);
                            header.set_size(0);
                            tar.append_data(&mut header, format!("{relative}/"), &[][..])?;
                        }
                        EntryKind::File => {
                            header.set_entry_type(tar::EntryType::Regular);
                            header.set_size(entry.data.len() as u64);
                            tar.append_data(&mut header, relative, entry.data.as_slice())?;
                        }
                        EntryKind::Symlink(target) => {
                            header.set_entry_type(tar::EntryType::Symlink);
                            header.set_size(0);
                            tar.append_link(&mut header, relative, target)?;
                        }
                        EntryKind::Hardlink(target) => {
                            header.set_entry_type(tar::EntryType::Link);
                            header.set_size(0);
                            tar.append_link(&mut header, relative, target.trim_start_matches('/'))?;
                        }
                    }
                }
            }
        }
        let tar = tar.into_inner()?;
        let diff_id = Digest::sha256(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar)?;
        let gzip = gz.finish()?;
        Ok(Layer {
            digest: Digest::sha256(&gzip),
            diff_id,
            tar_size: tar.len() as u64,
            gzip,
        })
    }
}
