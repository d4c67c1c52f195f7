//! What the package formats share: [`decompress`] undoes a member's [`Compression`] (gzip, xz
//! or zstd, told by its magic bytes, its name's suffix a hint), [`read_tar`] reads a tar
//! archive into [`Entry`]s (absolute, normalised paths), [`read_tar_members`] into
//! [`TarMember`]s (each entry with its PAX records); every refusal is an [`ArchiveError`].
//!
//! Both read hostile input: every size is checked against the bytes actually there, the
//! decompressed output is capped at [`MAX_DECOMPRESSED`] (a decompression bomb is refused, not
//! allocated: gzip and zstd stream through the cap, an xz stream's LZMA2 chunk headers are
//! summed before it is decoded), paths with a `..` component and device nodes are refused, naming the entry.

use std::fmt;
use std::io::{self, Read, Write};

use tar::EntryType;

/// The most bytes one member (or, for apk, one package) may decompress to: 2 GiB.
pub const MAX_DECOMPRESSED: u64 = 2 << 30;

/// How a member is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// bzip2's `BZh` and block size digit are followed by the first block's magic (π) or, for an
/// empty stream, the end-of-stream magic (√π).
const BZIP2_BLOCK: &[u8] = &[0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const BZIP2_END: &[u8] = &[0x17, 0x72, 0x45, 0x38, 0x50, 0x90];

impl Compression {
    /// The compression of `bytes`, by their magic bytes; `name` (the member's name, or any
    /// text ending in it) is a hint: a name ending in `.gz`, `.xz` or `.zst` whose bytes lack
    /// that magic is corrupt, and `.bz2` or `.lzma` is refused as unsupported.
    pub fn detect(bytes: &[u8], name: &str) -> Result<Compression, ArchiveError> {
        if bytes.starts_with(GZIP_MAGIC) {
            return Ok(Compression::Gzip);
        }
        if bytes.starts_with(XZ_MAGIC) {
            return Ok(Compression::Xz);
        }
        if bytes.starts_with(ZSTD_MAGIC) {
            return Ok(Compression::Zstd);
        }
        let bzip2 = bytes.len() >= 10
            && bytes.starts_with(b"BZh")
            && (b'1'..=b'9').contains(&bytes[3])
            && (bytes[4..10] == *BZIP2_BLOCK || bytes[4..10] == *BZIP2_END);
        if bzip2 || name.ends_with(".bz2") {
            return Err(ArchiveError::Unsupported {
                what: name.to_string(),
                format: "bzip2",
            });
        }
        if name.ends_with(".lzma") {
            return Err(ArchiveError::Unsupported {
                what: name.to_string(),
                format: "lzma (the legacy LZMA-alone format)",
            });
        }
        let named = if name.ends_with(".gz") || name.ends_with(".tgz") {
            Some(Compression::Gzip)
        } else if name.ends_with(".xz") {
            Some(Compression::Xz)
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            Some(Compression::Zstd)
        } else {
            None
        };
        match named {
            Some(compression) => Err(ArchiveError::Corrupt {
                what: name.to_string(),
                compression: compression.name(),
                reason: format!(
                    "it is named as {} but does not start with its magic bytes",
                    compression.name()
                ),
            }),
            None => Ok(Compression::None),
        }
    }

    /// The format's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// Why a member cannot be decompressed or its tar archive read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// The member is compressed in a format purser does not read.
    Unsupported { what: String, format: &'static str },
    /// The compressed data is damaged or truncated.
    Corrupt {
        what: String,
        compression: &'static str,
        reason: String,
    },
    /// The member decompresses to more than the cap (a decompression bomb, or a package too
    /// big to patch in memory).
    TooLarge { what: String, limit: u64 },
    /// The tar archive is malformed (at `entry`, when one was read).
    Tar {
        what: String,
        entry: Option<String>,
        reason: String,
    },
    /// An entry's path (or hard link target) has a `..` component.
    UnsafePath { what: String, entry: String },
    /// An entry is a device node or FIFO, which no package needs.
    SpecialFile {
        what: String,
        entry: String,
        kind: &'static str,
    },
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported { what, format } => write!(
                f,
                "{what} is compressed with {format}, which purser does not read; use a \
                 package compressed with xz, gzip or zstd (or none)"
            ),
            Self::Corrupt {
                what,
                compression,
                reason,
            } => write!(
                f,
                "{what} cannot be decompressed as {compression}: {reason}; the file is damaged \
                 or truncated, download it again"
            ),
            Self::TooLarge { what, limit } => write!(
                f,
                "{what} decompresses to more than {} MiB, the most purser reads; it is a \
                 decompression bomb or too big to patch",
                limit >> 20
            ),
            Self::Tar {
                what,
                entry: Some(entry),
                reason,
            } => write!(
                f,
                "{what} is not a valid tar archive at entry {entry}: {reason}; the file is \
                 damaged, download it again"
            ),
            Self::Tar {
                what,
                entry: None,
                reason,
            } => write!(
                f,
                "{what} is not a valid tar archive: {reason}; the file is damaged, download \
                 it again"
            ),
            Self::UnsafePath { what, entry } => write!(
                f,
                "{what} holds entry {entry}, whose path leaves the root with `..`; purser \
                 refuses such a package"
            ),
            Self::SpecialFile { what, entry, kind } => write!(
                f,
                "{what} holds entry {entry}, a {kind}; purser refuses packages with special \
                 files"
            ),
        }
    }
}

impl std::error::Error for ArchiveError {}

/// Decompresses `bytes` (by [`Compression::detect`], `what` naming the member and hinting by
/// its suffix) into at most [`MAX_DECOMPRESSED`] bytes. Concatenated gzip members, xz streams
/// and zstd frames are all read, as their command-line tools read them.
pub fn decompress(bytes: &[u8], what: &str) -> Result<Vec<u8>, ArchiveError> {
    match Compression::detect(bytes, what)? {
        Compression::None => {
            if bytes.len() as u64 > MAX_DECOMPRESSED {
                return Err(too_large(what));
            }
            Ok(bytes.to_vec())
        }
        Compression::Gzip => gunzip_all(bytes, what, MAX_DECOMPRESSED),
        Compression::Xz => unxz(bytes, what),
        Compression::Zstd => unzstd(bytes, what),
    }
}

/// Decodes the one gzip member at the start of `bytes` into at most `limit` bytes; answers
/// the data and how many bytes of `bytes` the member took (so the next one starts there).
pub fn gunzip_member(
    bytes: &[u8],
    what: &str,
    limit: u64,
) -> Result<(Vec<u8>, usize), ArchiveError> {
    if !bytes.starts_with(GZIP_MAGIC) {
        return Err(corrupt(
            what,
            Compression::Gzip,
            "it does not start with the gzip magic bytes".into(),
        ));
    }
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut out = Vec::new();
    (&mut decoder)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| corrupt(what, Compression::Gzip, e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(too_large(what));
    }
    let consumed = bytes.len() - decoder.get_ref().len();
    Ok((out, consumed))
}

/// Every gzip member of `bytes`, one after another, into at most `limit` bytes in all
/// (trailing zero padding after the last is ignored, as gzip ignores it).
pub fn gunzip_all(bytes: &[u8], what: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    loop {
        let (data, consumed) = gunzip_member(rest, what, limit - out.len() as u64)?;
        out.extend_from_slice(&data);
        rest = &rest[consumed..];
        if rest.iter().all(|b| *b == 0) {
            return Ok(out);
        }
    }
}

fn unxz(bytes: &[u8], what: &str) -> Result<Vec<u8>, ArchiveError> {
    // lzma-rs holds an LZMA2 block's whole output in memory before it writes any of it, so
    // the cap is checked first against the most the streams can decode to (it bounds each
    // LZMA2 chunk's output by the size the chunk's header declares). It also reads one stream
    // only, to the end of its input: each stream is handed to it on its own.
    let streams = xz_streams(bytes).map_err(|e| corrupt(what, Compression::Xz, e))?;
    let most = streams
        .iter()
        .fold(0u64, |sum, (_, most)| sum.saturating_add(*most));
    if most > MAX_DECOMPRESSED {
        return Err(too_large(what));
    }
    let mut out = Capped {
        data: Vec::new(),
        limit: MAX_DECOMPRESSED,
        exceeded: false,
    };
    for (stream, _) in streams {
        if let Err(e) = lzma_rs::xz_decompress(&mut &bytes[stream], &mut out) {
            if out.exceeded {
                return Err(too_large(what));
            }
            return Err(corrupt(what, Compression::Xz, e.to_string()));
        }
    }
    Ok(out.data)
}

/// The size of an xz check, by the check type of the stream flags.
const XZ_CHECK_SIZES: [u64; 16] = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

/// The xz streams of `bytes`, in order, each with the most it can decode to (the sum of its
/// LZMA2 chunks' declared sizes). Read from the end: stream padding, the footer (its backward
/// size locates the index), the index records (each block's unpadded size), which place the
/// blocks and the stream's start; each block's chunk headers are then walked, its end marker
/// and check where the index says.
fn xz_streams(bytes: &[u8]) -> Result<Vec<(std::ops::Range<usize>, u64)>, String> {
    let broken = |what: &str| format!("{what} (the xz stream's index and blocks do not agree)");
    let mut streams = Vec::new();
    let mut end = bytes.len();
    while end > 0 {
        while end >= 4 && bytes[end - 4..end] == [0; 4] {
            end -= 4;
        }
        if end < 24 {
            return Err(broken("the data is too short for an xz stream"));
        }
        let footer = &bytes[end - 12..end];
        if &footer[10..12] != b"YZ" {
            return Err(broken("the stream footer is missing"));
        }
        let backward = (u64::from(u32::from_le_bytes([
            footer[4], footer[5], footer[6], footer[7],
        ])) + 1)
            * 4;
        let index_start = (end as u64 - 12)
            .checked_sub(backward)
            .ok_or_else(|| broken("the index runs past the start"))?
            as usize;
        let index = &bytes[index_start..end - 12];
        if index.first() != Some(&0) {
            return Err(broken("the index indicator is missing"));
        }
        let mut pos = 1;
        let records = xz_varint(index, &mut pos).ok_or_else(|| broken("a bad record count"))?;
        let mut unpadded_sizes = Vec::new();
        let mut blocks = 0u64;
        for _ in 0..records {
            let (Some(unpadded), Some(_uncompressed)) =
                (xz_varint(index, &mut pos), xz_varint(index, &mut pos))
            else {
                return Err(broken("a bad index record"));
            };
            unpadded_sizes.push(unpadded);
            blocks = blocks.saturating_add(unpadded.saturating_add(3) & !3);
        }
        let length = blocks.saturating_add(backward).saturating_add(24);
        let start = (end as u64)
            .checked_sub(length)
            .ok_or_else(|| broken("the blocks run past the start"))? as usize;
        if !bytes[start..].starts_with(XZ_MAGIC) {
            return Err(broken("the stream header is not where the index puts it"));
        }
        let check = XZ_CHECK_SIZES[usize::from(bytes[start + 7] & 0x0f)];
        let mut block_start = start + 12;
        let mut most = 0u64;
        for unpadded in unpadded_sizes {
            // Within the bounds checked above: the blocks tile the stream up to its index.
            let block_end = block_start + (unpadded.saturating_add(3) & !3) as usize;
            let chunks = lzma2_chunks(&bytes[block_start..block_end], unpadded, check)
                .ok_or_else(|| broken("a block is not the LZMA2 chunks its index entry sizes"))?;
            most = most.saturating_add(chunks);
            block_start = block_end;
        }
        streams.push((start..end, most));
        end = start;
    }
    streams.reverse();
    Ok(streams)
}

/// The sum of the uncompressed sizes the LZMA2 chunk headers of the xz `block` declare; None
/// unless the chunks end (with their end marker) `check` bytes (and padding) before the
/// block's `unpadded` size.
fn lzma2_chunks(block: &[u8], unpadded: u64, check: u64) -> Option<u64> {
    let u16_at = |at: usize| -> Option<u64> {
        Some(u64::from(u16::from_be_bytes([
            *block.get(at)?,
            *block.get(at + 1)?,
        ])))
    };
    let header = *block.first()?;
    if header == 0 {
        return None;
    }
    let mut pos = (usize::from(header) + 1) * 4;
    let mut total = 0u64;
    loop {
        let control = *block.get(pos)?;
        let (size, length) = match control {
            0 => break,
            // uncompressed chunk: its size, then the bytes
            1 | 2 => {
                let size = u16_at(pos + 1)? + 1;
                (size, 3 + size)
            }
            // LZMA chunk: unpacked size (21 bits), packed size, new properties if reset
            0x80..=0xff => {
                let unpacked = ((u64::from(control & 0x1f) << 16) | u16_at(pos + 1)?) + 1;
                let packed = u16_at(pos + 3)? + 1;
                let props = u64::from((control >> 5) & 3 >= 2);
                (unpacked, 5 + props + packed)
            }
            _ => return None,
        };
        total = total.saturating_add(size);
        pos = pos.checked_add(usize::try_from(length).ok()?)?;
    }
    ((pos as u64 + 1).checked_add(check)? == unpadded).then_some(total)
}

/// An xz variable-length integer (7 bits a byte, least significant first, at most 9 bytes).
fn xz_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn unzstd(bytes: &[u8], what: &str) -> Result<Vec<u8>, ArchiveError> {
    use ruzstd::decoding::StreamingDecoder;
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut decoder = match StreamingDecoder::new(&mut rest) {
            Ok(decoder) => decoder,
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                // A skippable frame: its 8-byte header was read, its content is skipped.
                let Some(after) = rest.get(length as usize..) else {
                    return Err(corrupt(
                        what,
                        Compression::Zstd,
                        "a skippable frame runs past the end".into(),
                    ));
                };
                rest = after;
                continue;
            }
            Err(e) => return Err(corrupt(what, Compression::Zstd, e.to_string())),
        };
        let limit = MAX_DECOMPRESSED - out.len() as u64;
        (&mut decoder)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| corrupt(what, Compression::Zstd, e.to_string()))?;
        if out.len() as u64 > MAX_DECOMPRESSED {
            return Err(too_large(what));
        }
        if !decoder.decoder.is_finished() {
            return Err(corrupt(
                what,
                Compression::Zstd,
                "the frame ends early".into(),
            ));
        }
    }
    Ok(out)
}

/// A `Vec` writer that refuses to grow past `limit` (for decoders that write, not read).
struct Capped {
    data: Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.data.len() + buf.len()) as u64 > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("the decompressed size limit was reached"));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn corrupt(what: &str, compression: Compression, reason: String) -> ArchiveError {
    ArchiveError::Corrupt {
        what: what.to_string(),
        compression: compression.name(),
        reason,
    }
}

fn too_large(what: &str) -> ArchiveError {
    ArchiveError::TooLarge {
        what: what.to_string(),
        limit: MAX_DECOMPRESSED,
    }
}

/// One entry of a tar archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Absolute and normalised: `/usr/lib/x` (no `.` components, no trailing `/`); the
    /// archive's root is `/`.
    pub path: String,
    pub kind: EntryKind,
    /// The permission bits (and set-user-ID, set-group-ID, sticky): `mode & 0o7777`.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the Unix epoch (a PAX `mtime` record's whole seconds when there is one).
    pub mtime: u64,
    /// A regular file's content; empty for the other kinds.
    pub data: Vec<u8>,
}

/// An [`Entry`] with the records of its PAX extended header (what [`read_tar_members`] gives).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarMember {
    pub entry: Entry,
    /// The records in order (`path`, `linkpath`, `size`, `uid`, `gid` and `mtime` already
    /// applied to the entry), e.g. apk's `APK-TOOLS.checksum.SHA1`.
    pub pax: Vec<(String, Vec<u8>)>,
}

impl TarMember {
    /// The value of the PAX record `key`, if the entry has one.
    pub fn pax_record(&self, key: &str) -> Option<&[u8]> {
        self.pax
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// What an [`Entry`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    /// A symbolic link to this target, as stored (relative or absolute).
    Symlink(String),
    /// A hard link to this earlier entry, as a normalised absolute path.
    Hardlink(String),
}

/// The entries of the tar archive `bytes` (`what` names it in errors), in archive order. GNU
/// long names and links and PAX paths are followed; the archive may end without its two zero
/// blocks (apk's segments do). Global PAX headers are skipped.
pub fn read_tar(bytes: &[u8], what: &str) -> Result<Vec<Entry>, ArchiveError> {
    Ok(read_tar_members(bytes, what)?
        .into_iter()
        .map(|member| member.entry)
        .collect())
}

/// [`read_tar`], each entry with its PAX records.
pub fn read_tar_members(bytes: &[u8], what: &str) -> Result<Vec<TarMember>, ArchiveError> {
    let tar_error = |entry: Option<&str>, e: &dyn fmt::Display| ArchiveError::Tar {
        what: what.to_string(),
        entry: entry.map(str::to_string),
        reason: e.to_string(),
    };
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| tar_error(None, &e))? {
        let mut entry = entry.map_err(|e| tar_error(None, &e))?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let bad = |e: &dyn fmt::Display| tar_error(Some(&raw_path), e);
        let entry_type = entry.header().entry_type();
        let kind = match entry_type {
            EntryType::XGlobalHeader => continue,
            EntryType::Regular | EntryType::Continuous => EntryKind::File,
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(&"a link without a target"))?;
                let target = std::str::from_utf8(&target)
                    .map_err(|_| bad(&"its link target is not UTF-8"))?
                    .to_string();
                if target.is_empty() {
                    return Err(bad(&"a link with an empty target"));
                }
                if entry_type == EntryType::Symlink {
                    EntryKind::Symlink(target)
                } else {
                    EntryKind::Hardlink(normalise(&target).ok_or_else(|| {
                        ArchiveError::UnsafePath {
                            what: what.to_string(),
                            entry: format!("{raw_path} (a hard link to {target})"),
                        }
                    })?)
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(ArchiveError::SpecialFile {
                    what: what.to_string(),
                    entry: raw_path,
                    kind: match entry_type {
                        EntryType::Char => "character device",
                        EntryType::Block => "block device",
                        _ => "FIFO",
                    },
                });
            }
            EntryType::GNUSparse => {
                return Err(bad(&"a GNU sparse file, which purser does not read"));
            }
            other => return Err(bad(&format!("an entry of unknown type {other:?}"))),
        };
        let path = std::str::from_utf8(&entry.path_bytes())
            .map_err(|_| bad(&"its path is not UTF-8"))
            .map(normalise)?
            .ok_or_else(|| ArchiveError::UnsafePath {
                what: what.to_string(),
                entry: raw_path.clone(),
            })?;
        let header = entry.header();
        let mode = header.mode().map_err(|e| bad(&e))? & 0o7777;
        let uid = header.uid().map_err(|e| bad(&e))?;
        let gid = header.gid().map_err(|e| bad(&e))?;
        let mut mtime = header.mtime().map_err(|e| bad(&e))?;
        let mut pax = Vec::new();
        if let Some(records) = entry.pax_extensions().map_err(|e| bad(&e))? {
            for record in records {
                let record = record.map_err(|e| bad(&e))?;
                let key = record
                    .key()
                    .map_err(|_| bad(&"a PAX record key that is not UTF-8"))?;
                pax.push((key.to_string(), record.value_bytes().to_vec()));
            }
        }
        if let Some((_, value)) = pax.iter().find(|(k, _)| k == "mtime") {
            let seconds = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.split('.').next())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(&"a PAX mtime that is not a time"))?;
            mtime = seconds;
        }
        let mut data = Vec::new();
        if kind == EntryKind::File {
            let size = entry.size();
            // The size is the header's claim; never reserve more than the archive holds.
            data.reserve(size.min(bytes.len() as u64) as usize);
            entry.read_to_end(&mut data).map_err(|e| bad(&e))?;
            if data.len() as u64 != size {
                return Err(bad(&format!(
                    "the archive ends inside it ({} of its {size} bytes are there)",
                    data.len()
                )));
            }
        }
        out.push(TarMember {
            entry: Entry {
                path,
                kind,
                mode,
                uid,
                gid,
                mtime,
                data,
            },
            pax,
        });
    }
    Ok(out)
}

/// `path` as an absolute path without `.` components, repeated or trailing slashes; `None`
/// when it has a `..` component.
pub fn normalise(path: &str) -> Option<String> {
    let mut out = String::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry's header with its name bytes set raw (the tar crate refuses `..` paths),
    /// of type `kind`, `size` bytes.
    fn raw_header(name: &[u8], kind: EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        header
    }

    /// A GNU header with every numeric field set (the tar crate leaves them blank).
    fn gnu_header(kind: EntryType, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        header
    }

    fn tar_of(entries: &[(tar::Header, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (header, data) in entries {
            builder.append(header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn pax_header(records: &[(&str, &str)]) -> (tar::Header, Vec<u8>) {
        let mut body = Vec::new();
        for (key, value) in records {
            // "LEN key=value\n", LEN counting itself
            let rest = format!(" {key}={value}\n");
            let mut len = rest.len() + 1;
            while format!("{len}{rest}").len() != len {
                len += 1;
            }
            body.extend(format!("{len}{rest}").into_bytes());
        }
        let header = raw_header(b"PaxHeaders/x", EntryType::XHeader, body.len() as u64);
        (header, body)
    }

    #[test]
    fn compression_is_told_by_magic_and_the_name_only_hints() {
        let detect = |bytes: &[u8], name| Compression::detect(bytes, name);
        assert_eq!(detect(&[0x1f, 0x8b, 8], "x"), Ok(Compression::Gzip));
        assert_eq!(detect(XZ_MAGIC, "data.tar"), Ok(Compression::Xz));
        assert_eq!(detect(ZSTD_MAGIC, "x.gz"), Ok(Compression::Zstd));
        assert_eq!(detect(b"usr/", "data.tar"), Ok(Compression::None));
        assert!(matches!(
            detect(b"usr/", "data.tar.xz"),
            Err(ArchiveError::Corrupt {
                compression: "xz",
                ..
            })
        ));
        let mut bzip2 = b"BZh9".to_vec();
        bzip2.extend(BZIP2_BLOCK);
        for (bytes, name) in [(&bzip2[..], "data.tar"), (b"whatever", "data.tar.bz2")] {
            let err = detect(bytes, name).unwrap_err();
            assert!(
                matches!(
                    err,
                    ArchiveError::Unsupported {
                        format: "bzip2",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("bzip2"), "{err}");
        }
    }

    #[test]
    fn gzip_members_are_split_where_each_ends() {
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let (first, second) = (gz(b"first member"), gz(b"second"));
        let both = [first.clone(), second.clone()].concat();
        let (data, consumed) = gunzip_member(&both, "two", 100).unwrap();
        assert_eq!(
            (data.as_slice(), consumed),
            (&b"first member"[..], first.len())
        );
        assert_eq!(
            decompress(&both, "two.gz").unwrap(),
            b"first membersecond".to_vec()
        );
        assert!(matches!(
            gunzip_member(&both, "two", 5),
            Err(ArchiveError::TooLarge { .. })
        ));
        assert!(matches!(
            gunzip_all(&both, "two", 15),
            Err(ArchiveError::TooLarge { .. })
        ));
    }

    #[test]
    fn damaged_compressed_data_is_an_error_not_a_panic() {
        let data: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &data[..], &mut xz).unwrap();
        for compressed in [gz.finish().unwrap(), xz] {
            assert_eq!(decompress(&compressed, "m").unwrap(), data);
            for cut in [compressed.len() / 2, compressed.len() - 1] {
                let err = decompress(&compressed[..cut], "m").unwrap_err();
                assert!(matches!(err, ArchiveError::Corrupt { .. }), "{err:?}");
            }
            // Flip bytes throughout: each one fails or (a lucky flip) decodes, never panics.
            for at in (6..compressed.len()).step_by(7) {
                let mut flipped = compressed.clone();
                flipped[at] ^= 0x55;
                let _ = decompress(&flipped, "m");
            }
        }
        let err = decompress(&[0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff], "m").unwrap_err();
        assert!(
            matches!(
                err,
                ArchiveError::Corrupt {
                    compression: "zstd",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn xz_streams_are_bounded_before_anything_is_decoded() {
        let xz = |data: &[u8]| {
            let mut out = Vec::new();
            lzma_rs::xz_compress(&mut &data[..], &mut out).unwrap();
            out
        };
        // two streams with stream padding between them
        let both = [xz(b"hello "), vec![0; 4], xz(&[7; 5000])].concat();
        let streams = xz_streams(&both).unwrap();
        let sizes: Vec<u64> = streams.iter().map(|(_, most)| *most).collect();
        assert_eq!(sizes, [6, 5000]);
        assert_eq!(decompress(&both, "x.xz").unwrap().len(), 5006);
        let mut no_footer = both.clone();
        let last = no_footer.len() - 1;
        no_footer[last] = b'X';
        let err = decompress(&no_footer, "x.xz").unwrap_err();
        assert!(
            matches!(&err, ArchiveError::Corrupt { reason, .. } if reason.contains("footer")),
            "{err:?}"
        );
    }

    #[test]
    fn tar_entries_come_normalised_with_their_metadata() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = gnu_header(EntryType::Directory, 0o755);
        builder
            .append_data(&mut dir, "./usr/lib/", &[][..])
            .unwrap();
        let long = format!("usr/lib/{}/file.so", "d".repeat(120));
        let mut file = gnu_header(EntryType::Regular, 0o4755);
        file.set_uid(1000);
        file.set_gid(50);
        file.set_mtime(1_600_000_000);
        file.set_size(5);
        builder
            .append_data(&mut file, &long, &b"hello"[..])
            .unwrap();
        let mut link = gnu_header(EntryType::Symlink, 0o777);
        builder
            .append_link(&mut link, "usr/lib/libx.so", "libx.so.1")
            .unwrap();
        let mut hard = gnu_header(EntryType::Link, 0o755);
        builder
            .append_link(&mut hard, "usr/bin/b", "./usr//bin/a")
            .unwrap();
        let (pax, records) = pax_header(&[
            ("path", "opt/pax/named"),
            ("mtime", "1700000123.5"),
            ("APK-TOOLS.checksum.SHA1", "ab"),
        ]);
        builder.append(&pax, &records[..]).unwrap();
        builder
            .append(&raw_header(b"short", EntryType::Regular, 2), &b"hi"[..])
            .unwrap();
        let bytes = builder.into_inner().unwrap();

        let members = read_tar_members(&bytes, "t.tar").unwrap();
        let entries: Vec<&Entry> = members.iter().map(|m| &m.entry).collect();
        let summary: Vec<(&str, &EntryKind)> =
            entries.iter().map(|e| (e.path.as_str(), &e.kind)).collect();
        let long_path = format!("/{long}");
        assert_eq!(
            summary,
            vec![
                ("/usr/lib", &EntryKind::Dir),
                (long_path.as_str(), &EntryKind::File),
                ("/usr/lib/libx.so", &EntryKind::Symlink("libx.so.1".into())),
                ("/usr/bin/b", &EntryKind::Hardlink("/usr/bin/a".into())),
                ("/opt/pax/named", &EntryKind::File),
            ]
        );
        let file = &entries[1];
        assert_eq!(
            (
                file.mode,
                file.uid,
                file.gid,
                file.mtime,
                file.data.as_slice()
            ),
            (0o4755, 1000, 50, 1_600_000_000, &b"hello"[..])
        );
        assert_eq!(entries[4].mtime, 1_700_000_123);
        assert_eq!(entries[4].data, b"hi");
        assert_eq!(
            members[4].pax_record("APK-TOOLS.checksum.SHA1"),
            Some(&b"ab"[..])
        );
        assert_eq!(normalise("./"), Some("/".into()));
    }

    #[test]
    fn a_tar_without_its_end_blocks_still_reads() {
        let bytes = tar_of(&[(raw_header(b"./a", EntryType::Regular, 1), &b"x"[..])]);
        let cut = &bytes[..bytes.len() - 1024];
        assert_eq!(read_tar(cut, "seg").unwrap().len(), 1);
    }

    #[test]
    fn dot_dot_paths_and_device_nodes_are_refused_by_name() {
        let bytes = tar_of(&[(
            raw_header(b"usr/../../etc/passwd", EntryType::Regular, 0),
            &[][..],
        )]);
        let err = read_tar(&bytes, "evil.tar").unwrap_err();
        assert_eq!(
            err,
            ArchiveError::UnsafePath {
                what: "evil.tar".into(),
                entry: "usr/../../etc/passwd".into()
            }
        );
        let mut hard = raw_header(b"usr/bin/x", EntryType::Link, 0);
        hard.as_old_mut().linkname[..12].copy_from_slice(b"../etc/shado");
        hard.set_cksum();
        let err = read_tar(&tar_of(&[(hard, &[][..])]), "evil.tar").unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err:?}");
        let err = read_tar(
            &tar_of(&[(raw_header(b"dev/sda", EntryType::Block, 0), &[][..])]),
            "evil.tar",
        )
        .unwrap_err();
        assert_eq!(
            err,
            ArchiveError::SpecialFile {
                what: "evil.tar".into(),
                entry: "dev/sda".into(),
                kind: "block device"
            }
        );
        assert!(err.to_string().contains("dev/sda"), "{err}");
    }

    #[test]
    fn a_truncated_or_garbage_tar_is_an_error() {
        let bytes = tar_of(&[(
            raw_header(b"big", EntryType::Regular, 4096),
            &[7u8; 4096][..],
        )]);
        let err = read_tar(&bytes[..1024], "cut.tar").unwrap_err();
        assert!(
            matches!(&err, ArchiveError::Tar { entry: Some(e), .. } if e == "big"),
            "{err:?}"
        );
        let err = read_tar(&[0x41; 700], "junk.tar").unwrap_err();
        assert!(matches!(err, ArchiveError::Tar { .. }), "{err:?}");
    }
}
