//! What a bundle holds and in which part: [`Contents`], built by [`Contents::plan`] from a
//! [`Layout`] and purser's own files, and the bundle manifest ([`BundleManifest`],
//! `purser/bundle.json`) that lists every member with its size, digest and part.
//!
//! Member order is what lets a reader go through a bundle in one pass: `oci-layout`,
//! `index.json`, `purser/bundle.json`, purser's files (the images-lock, the chart archives),
//! manifests, configs, then layers. With a split size, parts are cut at member boundaries:
//! the first part holds everything up to the first layer that does not fit, each later part
//! starts with `purser/part.json` (which bundle, which part) and holds layers only. Every
//! part is a whole tar archive of at most the split size (a single layer larger than that
//! gets a part of its own).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::layout::{INDEX_FILE, Layout, OCI_LAYOUT, OCI_LAYOUT_FILE, blob_path, index_json};
use super::tar::{END_OF_ARCHIVE, member_len};
use crate::digest::Digest;
use crate::plan::BlobStep;

/// The bundle manifest's member name, and a later part's.
pub const BUNDLE_FILE: &str = "purser/bundle.json";
pub const PART_FILE: &str = "purser/part.json";
/// The images-lock of what the bundle holds.
pub const LOCK_FILE: &str = "purser/images.lock";
/// `apiVersion` of [`BundleManifest`].
pub const API_VERSION: &str = "purser.dev/v1";
/// The size every `purser/part.json` is padded to.
const PART_FILE_SIZE: u64 = 256;

/// `purser/bundle.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleManifest {
    pub api_version: String,
    pub kind: String,
    /// The digest of `index.json`: what later parts name to say which bundle they belong to.
    pub id: Digest,
    pub created: String,
    pub generated_by: String,
    pub parts: Vec<PartFile>,
    /// Every member but this file itself (and each part's `purser/part.json`).
    pub members: Vec<MemberEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ChartEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageEntry>,
    /// Blobs left out because the inside has them already (`--since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

/// One part file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartFile {
    pub part: u32,
    /// Its file name as written (`bundle.part2.tar`).
    pub file: String,
    pub size: u64,
}

/// One member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub name: String,
    pub size: u64,
    pub digest: Digest,
    pub part: u32,
}

/// A chart the bundle carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartEntry {
    pub name: String,
    pub version: String,
    /// The name of its `index.json` entry.
    pub reference: String,
    /// Its OCI manifest's digest.
    pub digest: Digest,
    /// The member holding the archive (`purser/charts/NAME-VERSION.tgz`).
    pub archive: String,
}

/// An image the bundle carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    pub source: String,
    pub digest: Digest,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub referrers: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What `--since` left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Since {
    /// The lock or bundle named.
    pub from: String,
    pub blobs: Vec<OmittedBlob>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmittedBlob {
    pub digest: Digest,
    pub size: u64,
}

/// `purser/part.json`: a later part says which bundle it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartManifest {
    pub bundle: Digest,
    pub part: u32,
    pub of: u32,
}

impl PartManifest {
    /// The padded bytes written.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.resize(PART_FILE_SIZE as usize, b' ');
        out
    }
}

/// A member's bytes: written from memory, or streamed from a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Inline(Vec<u8>),
    Blob(BlobStep),
}

/// A member to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedMember {
    pub name: String,
    pub size: u64,
    pub digest: Digest,
    pub body: Body,
}

/// Everything to write, part by part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contents {
    /// `parts[0]` is the first part; each in write order, `purser/part.json` included.
    pub parts: Vec<Vec<PlannedMember>>,
    pub manifest: BundleManifest,
}

/// Who made the bundle, when, and for which charts and images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    pub created: String,
    pub generated_by: String,
    pub charts: Vec<ChartEntry>,
    pub images: Vec<ImageEntry>,
}

/// Why contents cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitError(pub String);

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SplitError {}

/// `bundle.tar` as part `k` of `n`: `bundle.partK.tar` (the name itself when `n` is 1).
#[must_use]
pub fn part_name(base: &str, k: u32, n: u32) -> String {
    if n <= 1 {
        return base.to_owned();
    }
    match base.strip_suffix(".tar") {
        Some(stem) => format!("{stem}.part{k}.tar"),
        None => format!("{base}.part{k}"),
    }
}

impl Contents {
    /// Lays out `layout` plus `files` (purser's own: lock, chart archives) into parts of at
    /// most `split` bytes, leaving out the blobs in `omit` (the inside has them). `base` is the
    /// file name parts are named after.
    pub fn plan(
        layout: &Layout,
        files: Vec<(String, Vec<u8>)>,
        omit: Option<(String, &BTreeSet<Digest>)>,
        split: Option<u64>,
        base: &str,
        described: Described,
    ) -> Result<Contents, SplitError> {
        let index = index_json(&layout.index);
        let id = Digest::sha256(&index);
        let inline = |name: &str, bytes: Vec<u8>| PlannedMember {
            name: name.to_owned(),
            size: bytes.len() as u64,
            digest: Digest::sha256(&bytes),
            body: Body::Inline(bytes),
        };
        let mut head = vec![
            inline(OCI_LAYOUT_FILE, OCI_LAYOUT.to_vec()),
            inline(INDEX_FILE, index),
        ];
        for (name, bytes) in files {
            head.push(inline(&name, bytes));
        }
        for m in &layout.manifests {
            head.push(PlannedMember {
                name: blob_path(&m.digest),
                size: m.bytes.len() as u64,
                digest: m.digest.clone(),
                body: Body::Inline(m.bytes.clone()),
            });
        }
        let mut omitted = Vec::new();
        let mut blob = |b: &BlobStep, into: &mut Vec<PlannedMember>| {
            if omit
                .as_ref()
                .is_some_and(|(_, set)| set.contains(&b.digest))
            {
                omitted.push(OmittedBlob {
                    digest: b.digest.clone(),
                    size: b.size,
                });
                return;
            }
            into.push(PlannedMember {
                name: blob_path(&b.digest),
                size: b.size,
                digest: b.digest.clone(),
                body: Body::Blob(b.clone()),
            });
        };
        for b in &layout.configs {
            blob(b, &mut head);
        }
        let mut layers = Vec::new();
        for b in &layout.layers {
            blob(b, &mut layers);
        }
        let since = omit.map(|(from, _)| Since {
            from,
            blobs: omitted,
        });

        // The bundle manifest's size must be known to cut parts; it is padded to a size
        // computed with the largest part number any member could get.
        let mut manifest = BundleManifest {
            api_version: API_VERSION.to_owned(),
            kind: "Bundle".to_owned(),
            id: id.clone(),
            created: described.created,
            generated_by: described.generated_by,
            parts: Vec::new(),
            members: head
                .iter()
                .chain(&layers)
                .map(|m| MemberEntry {
                    name: m.name.clone(),
                    size: m.size,
                    digest: m.digest.clone(),
                    part: u32::MAX,
                })
                .collect(),
            charts: described.charts,
            images: described.images,
            since,
        };
        let most_parts = u32::try_from(layers.len() + 1).unwrap_or(u32::MAX);
        manifest.parts = (1..=most_parts.min(1 << 16))
            .map(|k| PartFile {
                part: k,
                file: part_name(base, k, most_parts),
                size: u64::MAX,
            })
            .collect();
        let reserved = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| SplitError(e.to_string()))?
            .len() as u64
            + 1;

        let end = END_OF_ARCHIVE.len() as u64;
        let mut first: u64 = head
            .iter()
            .map(|m| member_len(&m.name, m.size))
            .sum::<u64>()
            + member_len(BUNDLE_FILE, reserved)
            + end;
        if let Some(limit) = split
            && first > limit
        {
            return Err(SplitError(format!(
                "the first part needs {first} bytes for the index, manifests, configs, lock and \
                 charts alone, more than --split {limit}; choose a larger split size"
            )));
        }
        let mut parts: Vec<Vec<PlannedMember>> = vec![head];
        let mut sizes = vec![0u64];
        let part_head = member_len(PART_FILE, PART_FILE_SIZE) + end;
        for m in layers {
            let len = member_len(&m.name, m.size);
            let current = sizes.len() - 1;
            let used = if current == 0 { first } else { sizes[current] };
            let fits = split.is_none_or(|limit| used + len <= limit);
            let empty = current > 0 && parts[current].is_empty();
            if fits || empty {
                if current == 0 {
                    first += len;
                } else {
                    sizes[current] += len;
                }
                parts[current].push(m);
            } else {
                sizes.push(part_head + len);
                parts.push(vec![m]);
            }
        }
        sizes[0] = first;
        let n = u32::try_from(parts.len()).unwrap_or(u32::MAX);

        // The real manifest, padded to the reserved size.
        let part_of: std::collections::HashMap<&str, u32> = parts
            .iter()
            .enumerate()
            .flat_map(|(k, members)| members.iter().map(move |m| (m.name.as_str(), k as u32 + 1)))
            .collect();
        for e in &mut manifest.members {
            e.part = part_of.get(e.name.as_str()).copied().unwrap_or(1);
        }
        manifest.parts = sizes
            .iter()
            .enumerate()
            .map(|(k, size)| PartFile {
                part: k as u32 + 1,
                file: part_name(base, k as u32 + 1, n),
                size: *size,
            })
            .collect();
        let mut bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| SplitError(e.to_string()))?;
        bytes.push(b'\n');
        bytes.resize(reserved as usize, b' ');
        let bundle_member = PlannedMember {
            name: BUNDLE_FILE.to_owned(),
            size: reserved,
            digest: Digest::sha256(&bytes),
            body: Body::Inline(bytes),
        };
        parts[0].insert(2, bundle_member);
        for (k, members) in parts.iter_mut().enumerate().skip(1) {
            let bytes = PartManifest {
                bundle: id.clone(),
                part: k as u32 + 1,
                of: n,
            }
            .to_bytes();
            members.insert(
                0,
                PlannedMember {
                    name: PART_FILE.to_owned(),
                    size: bytes.len() as u64,
                    digest: Digest::sha256(&bytes),
                    body: Body::Inline(bytes),
                },
            );
        }
        Ok(Contents { parts, manifest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::layout::LayoutManifest;
    use crate::plan::Repository;

    fn blob(n: u8, size: u64) -> BlobStep {
        BlobStep {
            digest: Digest::sha256(&[n]),
            size,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            sources: vec![Repository::new("r.example", "a")],
            targets: vec![Repository::new("r.example", "a")],
        }
    }

    fn layout() -> Layout {
        Layout {
            index: vec![],
            manifests: vec![LayoutManifest {
                digest: Digest::sha256(b"m"),
                bytes: b"m".to_vec(),
            }],
            configs: vec![blob(0, 100)],
            layers: vec![
                blob(1, 10_000),
                blob(2, 10_000),
                blob(3, 30_000),
                blob(4, 10),
            ],
        }
    }

    fn described() -> Described {
        Described {
            created: "2026-11-29T00:00:00Z".into(),
            generated_by: "purser test".into(),
            charts: vec![],
            images: vec![],
        }
    }

    fn part_len(members: &[PlannedMember]) -> u64 {
        members
            .iter()
            .map(|m| member_len(&m.name, m.size))
            .sum::<u64>()
            + 1024
    }

    #[test]
    fn one_part_in_one_pass_order() {
        let c = Contents::plan(
            &layout(),
            vec![(LOCK_FILE.into(), b"lock".to_vec())],
            None,
            None,
            "b.tar",
            described(),
        )
        .unwrap();
        assert_eq!(c.parts.len(), 1);
        let names: Vec<&str> = c.parts[0].iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            &names[..4],
            ["oci-layout", "index.json", BUNDLE_FILE, LOCK_FILE]
        );
        assert_eq!(names.len(), 4 + 1 + 1 + 4);
        assert_eq!(c.manifest.parts[0].size, part_len(&c.parts[0]));
        assert_eq!(c.manifest.parts[0].file, "b.tar");
        // The written manifest says what the members are.
        let Body::Inline(bytes) = &c.parts[0][2].body else {
            panic!()
        };
        let back: BundleManifest = serde_json::from_slice(bytes).unwrap();
        assert_eq!(back, c.manifest);
        assert!(back.members.iter().all(|m| m.part == 1));
    }

    #[test]
    fn parts_are_cut_at_blob_boundaries_within_the_limit() {
        let limit = 25_000;
        let c = Contents::plan(&layout(), vec![], None, Some(limit), "b.tar", described()).unwrap();
        let sizes: Vec<u64> = c.parts.iter().map(|p| part_len(p)).collect();
        // The head and a 10k layer; the next 10k alone; 30k alone (over the limit: a single
        // layer); the 10 bytes do not fit after it.
        assert_eq!(c.parts.len(), 4, "{sizes:?}");
        for k in [0, 1, 3] {
            assert!(sizes[k] <= limit, "{sizes:?}");
        }
        assert_eq!(c.parts[1][0].name, PART_FILE);
        assert_eq!(c.parts[1].len(), 2);
        assert_eq!(c.parts[2].len(), 2);
        for (k, p) in c.manifest.parts.iter().enumerate() {
            assert_eq!(p.size, sizes[k]);
            assert_eq!(p.file, format!("b.part{}.tar", k + 1));
        }
        let big = c
            .manifest
            .members
            .iter()
            .find(|m| m.digest == Digest::sha256(&[3]))
            .unwrap();
        assert_eq!(big.part, 3);
        let err =
            Contents::plan(&layout(), vec![], None, Some(1000), "b.tar", described()).unwrap_err();
        assert!(err.0.contains("larger split size"), "{err}");
    }

    #[test]
    fn omitted_blobs_are_listed_not_written() {
        let omit: BTreeSet<Digest> = [Digest::sha256(&[1]), Digest::sha256(&[0])].into();
        let c = Contents::plan(
            &layout(),
            vec![],
            Some(("old.lock".into(), &omit)),
            None,
            "b.tar",
            described(),
        )
        .unwrap();
        let since = c.manifest.since.as_ref().unwrap();
        assert_eq!(since.blobs.len(), 2);
        assert!(
            c.parts[0].iter().all(|m| !omit.contains(&m.digest)),
            "an omitted blob was written"
        );
    }
}
