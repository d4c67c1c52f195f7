//! Chart archives built entry by entry for the chart tests: [`E`] is one tar entry, written
//! verbatim so tests can build archives `tar::Builder` itself would refuse to make.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::EntryType;

use super::{Limits, load_archive};

/// One tar entry to build; names are written into the header verbatim (no checks), so
/// tests can build archives `tar::Builder` itself would refuse to make.
pub(super) enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(EntryType, &'a str, &'a str),
    Special(EntryType, &'a str),
}

pub(super) fn header(name: &str, kind: EntryType, size: u64, link: &str) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    assert!(name.len() <= 100 && link.len() <= 100);
    h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(0);
    h.set_cksum();
    h
}

pub(super) fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(name, data) => {
                let h = header(name, EntryType::Regular, data.len() as u64, "");
                b.append(&h, *data).unwrap();
            }
            E::Dir(name) => b
                .append(&header(name, EntryType::Directory, 0, ""), io::empty())
                .unwrap(),
            E::Link(kind, name, target) => b
                .append(&header(name, *kind, 0, target), io::empty())
                .unwrap(),
            E::Special(kind, name) => b.append(&header(name, *kind, 0, ""), io::empty()).unwrap(),
        }
    }
    b.into_inner().unwrap()
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub(super) fn tgz(entries: &[E]) -> Vec<u8> {
    gzip(&tar_bytes(entries))
}

pub(super) fn chart_yaml(name: &str, version: &str) -> String {
    format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n")
}

pub(super) fn load_err(bytes: &[u8], limits: &Limits) -> String {
    match load_archive(bytes, limits) {
        Ok(c) => panic!("expected an error, loaded {}", c.path),
        Err(e) => e.to_string(),
    }
}
