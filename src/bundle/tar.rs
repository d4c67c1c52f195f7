//! The tar format of bundles: POSIX ustar headers, with a pax extended header when a name is
//! longer than 100 bytes or a size does not fit 11 octal digits. Writing is
//! [`member_header`] + the body + [`padding`], then [`END_OF_ARCHIVE`]; reading is
//! [`members`], which lists the regular files of an archive (name, data offset, size) through
//! a callback that reads bytes, refusing what a bundle must never hold: names that climb out
//! (`..`, absolute), links, devices, duplicates, a damaged header, a truncated archive.
//!
//! Pax (`x`, `g`) and GNU long-name (`L`, `K`) headers written by other tools are read, so
//! that an OCI layout tarred up by `tar`, skopeo or crane can be imported.

use std::fmt;

/// Tar's block size: headers are one block, bodies are padded to whole blocks.
pub const BLOCK: u64 = 512;

/// Two zero blocks close an archive.
pub const END_OF_ARCHIVE: [u8; 1024] = [0; 1024];

/// The largest size 11 octal digits hold.
const MAX_OCTAL_SIZE: u64 = 0o77_777_777_777;

/// A regular file in an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its path, `./` removed: `blobs/sha256/…`, `index.json`.
    pub name: String,
    /// Where its bytes start in the archive.
    pub offset: u64,
    pub size: u64,
}

/// Why an archive cannot be read as a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TarError {
    /// The callback could not read.
    Read { offset: u64, detail: String },
    /// A header block whose checksum or fields are wrong: not a tar, or damaged.
    BadHeader { offset: u64, detail: String },
    /// The archive ends inside a member, or without its end-of-archive blocks.
    Truncated { detail: String },
    /// A name that would land outside the directory it is extracted to, or is empty.
    UnsafeName { name: String, why: &'static str },
    /// A hard or symbolic link.
    Link { name: String, target: String },
    /// A device, FIFO or other non-file member.
    Special { name: String, kind: char },
    /// Two members with one name.
    Duplicate { name: String },
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::Read { offset, detail } => write!(f, "reading at byte {offset}: {detail}"),
            TarError::BadHeader { offset, detail } => write!(
                f,
                "not a tar archive, or a damaged one: the header at byte {offset} {detail}"
            ),
            TarError::Truncated { detail } => {
                write!(f, "the archive is truncated: {detail}; copy it again")
            }
            TarError::UnsafeName { name, why } => {
                write!(
                    f,
                    "member {name:?} {why}; a bundle holds relative paths only"
                )
            }
            TarError::Link { name, target } => write!(
                f,
                "member {name:?} is a link (to {target:?}); a bundle holds regular files only"
            ),
            TarError::Special { name, kind } => write!(
                f,
                "member {name:?} is not a regular file (tar type {kind:?}); a bundle holds \
                 regular files only"
            ),
            TarError::Duplicate { name } => {
                write!(
                    f,
                    "member {name:?} appears twice; which one is meant cannot be told"
                )
            }
        }
    }
}

impl std::error::Error for TarError {}

/// The header block(s) for a regular file `name` of `size` bytes: a pax header first when
/// the name or the size does not fit ustar.
#[must_use]
pub fn member_header(name: &str, size: u64, mtime: u64) -> Vec<u8> {
    let mut pax = String::new();
    if name.len() > 100 {
        pax.push_str(&pax_record("path", name));
    }
    if size > MAX_OCTAL_SIZE {
        pax.push_str(&pax_record("size", &size.to_string()));
    }
    let mut out = Vec::with_capacity(1024);
    if !pax.is_empty() {
        let pax_name = format!("PaxHeaders/{}", short_name(name, 89));
        out.extend_from_slice(&ustar(&pax_name, pax.len() as u64, mtime, b'x'));
        out.extend_from_slice(pax.as_bytes());
        out.resize(out.len() + padding(pax.len() as u64), 0);
    }
    out.extend_from_slice(&ustar(
        &short_name(name, 100),
        size.min(MAX_OCTAL_SIZE),
        mtime,
        b'0',
    ));
    out
}

/// How many bytes [`member_header`], the body and its padding take.
#[must_use]
pub fn member_len(name: &str, size: u64) -> u64 {
    member_header(name, size, 0).len() as u64 + size + padding(size) as u64
}

/// Zero bytes that pad a body of `size` bytes to a whole block.
#[must_use]
pub fn padding(size: u64) -> usize {
    let rest = size % BLOCK;
    if rest == 0 {
        0
    } else {
        (BLOCK - rest) as usize
    }
}

/// The last `max` bytes of `name`, cut at a character boundary (the pax record holds the whole).
fn short_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let mut start = name.len() - max;
    while !name.is_char_boundary(start) {
        start += 1;
    }
    name[start..].to_owned()
}

/// `LEN key=value\n`, LEN counting itself.
fn pax_record(key: &str, value: &str) -> String {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    format!("{len} {key}={value}\n")
}

fn ustar(name: &str, size: u64, mtime: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.min(MAX_OCTAL_SIZE));
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
    h
}

/// Zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// The regular files of an archive `len` bytes long, read through `read(offset, n)` (which
/// returns exactly `n` bytes, or fewer at the end). Directory members are skipped.
pub fn members(
    len: u64,
    mut read: impl FnMut(u64, usize) -> Result<Vec<u8>, String>,
) -> Result<Vec<Member>, TarError> {
    let mut out: Vec<Member> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut offset = 0u64;
    // What pax or GNU headers say about the next member.
    let mut next_name: Option<String> = None;
    let mut next_size: Option<u64> = None;
    let mut next_link: Option<String> = None;
    loop {
        if offset == 0 && len < BLOCK {
            return Err(TarError::BadHeader {
                offset: 0,
                detail: format!("is missing: the file is only {len} bytes"),
            });
        }
        if offset + BLOCK > len {
            return Err(TarError::Truncated {
                detail: format!(
                    "it ends at byte {len} without the end-of-archive blocks{}",
                    match out.last() {
                        Some(m) => format!(" (last member read: {})", m.name),
                        None => String::new(),
                    }
                ),
            });
        }
        let block =
            read(offset, BLOCK as usize).map_err(|detail| TarError::Read { offset, detail })?;
        if block.len() < BLOCK as usize {
            return Err(TarError::Truncated {
                detail: format!("the header at byte {offset} is cut short"),
            });
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        let header = Header::parse(&block, offset)?;
        let size = match next_size.take() {
            Some(s) if header.kind != b'x' && header.kind != b'g' => s,
            _ => header.size,
        };
        let data = offset + BLOCK;
        let end = data
            .checked_add(size)
            .filter(|e| *e <= len)
            .ok_or_else(|| TarError::Truncated {
                detail: format!(
                    "member {:?} needs {size} bytes from byte {data}, but the archive ends at byte {len}",
                    next_name.as_deref().unwrap_or(&header.name)
                ),
            })?;
        let body = |read: &mut dyn FnMut(u64, usize) -> Result<Vec<u8>, String>| {
            let bytes = read(data, size as usize).map_err(|detail| TarError::Read {
                offset: data,
                detail,
            })?;
            if (bytes.len() as u64) < size {
                return Err(TarError::Truncated {
                    detail: format!("the extended header at byte {offset} is cut short"),
                });
            }
            Ok(bytes)
        };
        match header.kind {
            b'x' => {
                for (key, value) in pax_records(&body(&mut read)?, offset)? {
                    match key.as_str() {
                        "path" => next_name = Some(value),
                        "linkpath" => next_link = Some(value),
                        "size" => {
                            next_size = Some(value.parse().map_err(|_| TarError::BadHeader {
                                offset,
                                detail: format!("has a pax size {value:?} that is not a number"),
                            })?);
                        }
                        _ => {}
                    }
                }
            }
            // Global pax headers set defaults nobody relies on for file names; skip them.
            b'g' => {}
            b'L' => next_name = Some(c_string(&body(&mut read)?)),
            b'K' => next_link = Some(c_string(&body(&mut read)?)),
            kind => {
                let name = next_name.take().unwrap_or(header.name);
                let link = next_link.take().unwrap_or(header.link);
                let name = check_name(&name)?;
                match kind {
                    b'0' | 0 | b'7' => {
                        if !seen.insert(name.clone()) {
                            return Err(TarError::Duplicate { name });
                        }
                        out.push(Member {
                            name,
                            offset: data,
                            size,
                        });
                    }
                    b'5' => {}
                    b'1' | b'2' => return Err(TarError::Link { name, target: link }),
                    other => {
                        return Err(TarError::Special {
                            name,
                            kind: char::from(other),
                        });
                    }
                }
            }
        }
        offset = end + padding(size) as u64;
    }
}

struct Header {
    name: String,
    link: String,
    size: u64,
    kind: u8,
}

impl Header {
    fn parse(block: &[u8], offset: u64) -> Result<Header, TarError> {
        let bad = |detail: String| TarError::BadHeader { offset, detail };
        let stored = parse_octal(&block[148..156])
            .ok_or_else(|| bad("has no readable checksum".to_owned()))?;
        let unsigned: u64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        let signed: i64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    i64::from(b as i8)
                }
            })
            .sum();
        if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
            return Err(bad(format!(
                "has checksum {stored:o} but its bytes sum to {unsigned:o}"
            )));
        }
        let size = if block[124] & 0x80 != 0 {
            // GNU base-256 for sizes past 8 GiB.
            block[125..136]
                .iter()
                .try_fold(u64::from(block[124] & 0x7f), |acc, &b| {
                    acc.checked_mul(256).map(|a| a + u64::from(b))
                })
                .ok_or_else(|| bad("has a size past 2^64".to_owned()))?
        } else {
            parse_octal(&block[124..136])
                .ok_or_else(|| bad("has a size field that is not octal".to_owned()))?
        };
        let mut name = c_string(&block[..100]);
        if &block[257..262] == b"ustar" {
            let prefix = c_string(&block[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        Ok(Header {
            name,
            link: c_string(&block[157..257]),
            size,
            kind: block[156],
        })
    }
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn pax_records(bytes: &[u8], offset: u64) -> Result<Vec<(String, String)>, TarError> {
    let bad = || TarError::BadHeader {
        offset,
        detail: "has a malformed pax extended header".to_owned(),
    };
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() && rest[0] != 0 {
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l > space + 1 && l <= rest.len())
            .ok_or_else(bad)?;
        let record = &rest[space + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        out.push((
            String::from_utf8_lossy(&record[..eq]).into_owned(),
            String::from_utf8_lossy(&record[eq + 1..]).into_owned(),
        ));
        rest = &rest[len..];
    }
    Ok(out)
}

/// `name` without `./` and trailing `/`, refused when empty, absolute or climbing out.
fn check_name(name: &str) -> Result<String, TarError> {
    let unsafe_name = |why| TarError::UnsafeName {
        name: name.to_owned(),
        why,
    };
    if name.starts_with('/') {
        return Err(unsafe_name("is an absolute path"));
    }
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(unsafe_name("climbs out with `..`"));
    }
    if parts.is_empty() {
        return Ok(String::new());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, body) in members {
            out.extend(member_header(name, body.len() as u64, 0));
            out.extend_from_slice(body);
            out.resize(out.len() + padding(body.len() as u64), 0);
        }
        out.extend_from_slice(&END_OF_ARCHIVE);
        out
    }

    fn list(bytes: &[u8]) -> Result<Vec<Member>, TarError> {
        members(bytes.len() as u64, |offset, n| {
            let start = offset as usize;
            Ok(bytes[start..(start + n).min(bytes.len())].to_vec())
        })
    }

    #[test]
    fn written_members_read_back_with_their_offsets() {
        let long = format!("purser/charts/{}.tgz", "x".repeat(120));
        let bytes = archive(&[
            ("oci-layout", b"{}"),
            (&long, b"chart"),
            ("index.json", b""),
        ]);
        let got = list(&bytes).unwrap();
        assert_eq!(
            got.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["oci-layout", long.as_str(), "index.json"]
        );
        let chart = &got[1];
        assert_eq!(
            &bytes[chart.offset as usize..][..chart.size as usize],
            b"chart"
        );
        assert_eq!(member_len(&long, 5), 512 * 4);
        assert_eq!(member_len("oci-layout", 512), 1024);
    }

    #[test]
    fn the_system_tar_reads_what_is_written_and_we_read_what_it_writes() {
        // The `tar` crate (what chart archives are read with) agrees with the headers.
        let long = format!("a/{}", "b".repeat(150));
        let bytes = archive(&[("blobs/sha256/ab", b"hello"), (&long, b"x")]);
        let mut a = ::tar::Archive::new(&bytes[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["blobs/sha256/ab", long.as_str()]);

        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = ::tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_entry_type(::tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h.clone(), "./blobs/", &[][..]).unwrap();
        let mut f = ::tar::Header::new_gnu();
        f.set_size(3);
        f.set_mode(0o644);
        b.append_data(&mut f, format!("./blobs/{}", "c".repeat(120)), &b"abc"[..])
            .unwrap();
        let bytes = b.into_inner().unwrap();
        let got = list(&bytes).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, format!("blobs/{}", "c".repeat(120)));
        assert_eq!(&bytes[got[0].offset as usize..][..3], b"abc");
    }

    #[test]
    fn truncation_is_found_inside_a_member_and_at_a_boundary() {
        let bytes = archive(&[("a", &[1; 1000]), ("b", b"x")]);
        let err = list(&bytes[..700]).unwrap_err();
        assert!(matches!(err, TarError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("\"a\""), "{err}");
        // Cut after the last member: no end-of-archive blocks.
        let cut = bytes.len() - 1024;
        let err = list(&bytes[..cut]).unwrap_err();
        assert!(
            err.to_string().contains("without the end-of-archive"),
            "{err}"
        );
    }

    #[test]
    fn unsafe_members_are_refused() {
        let bytes = archive(&[("../etc/passwd", b"x")]);
        assert!(matches!(list(&bytes), Err(TarError::UnsafeName { .. })));
        let bytes = archive(&[("/etc/passwd", b"x")]);
        assert!(matches!(list(&bytes), Err(TarError::UnsafeName { .. })));
        let bytes = archive(&[("a", b"x"), ("./a", b"y")]);
        assert!(matches!(list(&bytes), Err(TarError::Duplicate { .. })));

        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = ::tar::Header::new_ustar();
        h.set_entry_type(::tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "index.json", "/etc/passwd").unwrap();
        let err = list(&b.into_inner().unwrap()).unwrap_err();
        assert!(matches!(err, TarError::Link { .. }), "{err}");
        assert!(err.to_string().contains("/etc/passwd"), "{err}");
    }

    #[test]
    fn garbage_is_not_a_tar() {
        let mut bytes = archive(&[("a", b"x")]);
        bytes[10] ^= 0xff;
        let err = list(&bytes).unwrap_err();
        assert!(
            matches!(err, TarError::BadHeader { offset: 0, .. }),
            "{err}"
        );
        let err = list(&[b'{'; 2048]).unwrap_err();
        assert!(matches!(err, TarError::BadHeader { .. }), "{err}");
    }

    #[test]
    fn pax_sizes_past_eight_gib_are_written() {
        let h = member_header("big", 9 << 30, 0);
        assert_eq!(h.len(), 1536);
        assert!(String::from_utf8_lossy(&h[512..1024]).contains("size=9663676416\n"));
        assert_eq!(pax_record("path", "x"), "9 path=x\n");
        let long = "y".repeat(95);
        let record = pax_record("path", &long);
        assert_eq!(record.len().to_string(), record.split(' ').next().unwrap());
    }
}
