//! Debian binary packages: [`parse`] reads a `.deb` into a [`DebPackage`] (its control file,
//! the other control members, the data archive's entries); every refusal is a [`DebError`].
//!
//! A `.deb` (deb(5)) is an `ar` archive: `!<arch>\n`, then members each behind a 60-byte
//! header (name, mtime, uid, gid, mode, decimal size, `` `\n ``), padded to an even offset.
//! The members are `debian-binary` (`2.0\n`), `control.tar[.gz|.xz|.zst]`, then
//! `data.tar[.gz|.xz|.zst]`; members whose names start with `_` may follow `debian-binary`
//! and are skipped, as dpkg skips them. Names come in the System V/GNU form (`name/`,
//! space-padded) or BSD's `#1/LEN` (the name ahead of the data). The package's integrity is
//! its SHA-256 in the signed `Packages` index, checked before this reads it.

use std::collections::BTreeMap;
use std::fmt;

use super::archive::{self, ArchiveError, Entry, EntryKind};

/// The maintainer scripts a package may have, as control members.
pub const SCRIPTS: [&str; 5] = ["preinst", "postinst", "prerm", "postrm", "config"];

/// A `.deb`, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebPackage {
    /// The `control` file's text.
    pub control: String,
    /// Every other regular file of `control.tar` by name (`md5sums`, `conffiles`,
    /// `triggers`, `shlibs`, `symbols`, the [`SCRIPTS`], `templates`, …).
    pub control_files: BTreeMap<String, Vec<u8>>,
    /// The entries of `data.tar`, in archive order.
    pub data: Vec<Entry>,
}

impl DebPackage {
    /// The maintainer scripts the package has, in [`SCRIPTS`] order.
    pub fn maintainer_scripts(&self) -> Vec<&str> {
        SCRIPTS
            .into_iter()
            .filter(|s| self.control_files.contains_key(*s))
            .collect()
    }
}

/// Why a `.deb` cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebError {
    /// It does not start with the `ar` magic.
    NotADeb { package: String },
    /// The `ar` structure is broken: a header, a size, a name.
    Malformed { package: String, reason: String },
    /// `debian-binary` is not format 2.x.
    FormatVersion { package: String, found: String },
    /// A required member is missing.
    MissingMember {
        package: String,
        member: &'static str,
    },
    /// A member dpkg does not know (or one twice, or out of order).
    UnexpectedMember { package: String, member: String },
    /// `control.tar` has no `control` file, or it is not UTF-8 text.
    NoControl { package: String, reason: String },
    /// A member of `control.tar` that is neither a regular file nor a directory.
    ControlMember { package: String, member: String },
    /// A member's compression or tar archive.
    Archive(ArchiveError),
}

impl fmt::Display for DebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REFETCH: &str = "the file is damaged or not a Debian package; download it again";
        match self {
            Self::NotADeb { package } => write!(
                f,
                "{package} is not a Debian package (no ar archive magic `!<arch>`); {REFETCH}"
            ),
            Self::Malformed { package, reason } => {
                write!(
                    f,
                    "{package}: the ar archive is broken: {reason}; {REFETCH}"
                )
            }
            Self::FormatVersion { package, found } => write!(
                f,
                "{package}: debian-binary says format {found:?}, not 2.x; purser reads only \
                 format 2 packages"
            ),
            Self::MissingMember { package, member } => {
                write!(f, "{package} has no {member} member; {REFETCH}")
            }
            Self::UnexpectedMember { package, member } => write!(
                f,
                "{package} has an unexpected member {member:?} (dpkg would refuse it too); \
                 {REFETCH}"
            ),
            Self::NoControl { package, reason } => {
                write!(f, "{package}: control.tar {reason}; {REFETCH}")
            }
            Self::ControlMember { package, member } => write!(
                f,
                "{package}: control.tar member {member} is not a regular file; purser refuses \
                 such a package"
            ),
            Self::Archive(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DebError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Archive(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ArchiveError> for DebError {
    fn from(e: ArchiveError) -> DebError {
        DebError::Archive(e)
    }
}

/// Reads the `.deb` `bytes`; `name` (its URL or file name) names it in errors.
pub fn parse(bytes: &[u8], name: &str) -> Result<DebPackage, DebError> {
    let members = ar_members(bytes, name)?;
    let mut members = members.into_iter();
    let Some(first) = members.next() else {
        return Err(DebError::MissingMember {
            package: name.to_string(),
            member: "debian-binary",
        });
    };
    if first.name != "debian-binary" {
        return Err(DebError::UnexpectedMember {
            package: name.to_string(),
            member: format!("{} (the first member must be debian-binary)", first.name),
        });
    }
    let version = String::from_utf8_lossy(first.data);
    let version = version.trim_end_matches('\n');
    let minor = version.strip_prefix("2.");
    if !minor.is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit())) {
        return Err(DebError::FormatVersion {
            package: name.to_string(),
            found: version.to_string(),
        });
    }

    let mut control = None;
    let mut data = None;
    for member in members {
        let unexpected = || DebError::UnexpectedMember {
            package: name.to_string(),
            member: member.name.clone(),
        };
        if member.name.starts_with('_') {
            continue;
        }
        let what = format!("{name}: {}", member.name);
        if let Some(suffix) = member.name.strip_prefix("control.tar") {
            if control.is_some() || data.is_some() || !matches!(suffix, "" | ".gz" | ".xz" | ".zst")
            {
                return Err(unexpected());
            }
            control = Some((what, member.data));
        } else if let Some(suffix) = member.name.strip_prefix("data.tar") {
            let known = matches!(suffix, "" | ".gz" | ".xz" | ".zst" | ".bz2" | ".lzma");
            if control.is_none() || data.is_some() || !known {
                return Err(unexpected());
            }
            data = Some((what, member.data));
        } else {
            return Err(unexpected());
        }
    }
    let missing = |member| DebError::MissingMember {
        package: name.to_string(),
        member,
    };
    let (control_what, control_bytes) = control.ok_or_else(|| missing("control.tar"))?;
    let (data_what, data_bytes) = data.ok_or_else(|| missing("data.tar"))?;

    let control_tar = archive::decompress(control_bytes, &control_what)?;
    let mut control = None;
    let mut control_files = BTreeMap::new();
    for entry in archive::read_tar(&control_tar, &control_what)? {
        match entry.kind {
            EntryKind::Dir => {}
            EntryKind::File => {
                let file = entry.path.trim_start_matches('/').to_string();
                if file == "control" {
                    control = Some(entry.data);
                } else {
                    control_files.insert(file, entry.data);
                }
            }
            EntryKind::Symlink(_) | EntryKind::Hardlink(_) => {
                return Err(DebError::ControlMember {
                    package: name.to_string(),
                    member: entry.path,
                });
            }
        }
    }
    let no_control = |reason: &str| DebError::NoControl {
        package: name.to_string(),
        reason: reason.to_string(),
    };
    let control = control.ok_or_else(|| no_control("has no control file"))?;
    let control = String::from_utf8(control)
        .map_err(|_| no_control("has a control file that is not UTF-8"))?;

    let data_tar = archive::decompress(data_bytes, &data_what)?;
    let data = archive::read_tar(&data_tar, &data_what)?;
    Ok(DebPackage {
        control,
        control_files,
        data,
    })
}

/// One member of an `ar` archive.
struct ArMember<'a> {
    name: String,
    data: &'a [u8],
}

const AR_MAGIC: &[u8] = b"!<arch>\n";
const AR_HEADER: usize = 60;

/// The members of the `ar` archive `bytes`, in order.
fn ar_members<'a>(bytes: &'a [u8], package: &str) -> Result<Vec<ArMember<'a>>, DebError> {
    let Some(mut rest) = bytes.strip_prefix(AR_MAGIC) else {
        return Err(DebError::NotADeb {
            package: package.to_string(),
        });
    };
    let malformed = |reason: String| DebError::Malformed {
        package: package.to_string(),
        reason,
    };
    let mut members = Vec::new();
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        if rest.len() < AR_HEADER {
            return Err(malformed(format!(
                "the archive ends inside the member header at offset {offset}"
            )));
        }
        let (header, after) = rest.split_at(AR_HEADER);
        if &header[58..60] != b"`\n" {
            return Err(malformed(format!(
                "the member header at offset {offset} lacks its terminator"
            )));
        }
        let raw_name = String::from_utf8_lossy(&header[..16]).into_owned();
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .map(str::trim_end)
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| {
                malformed(format!(
                    "member {:?} has no decimal size",
                    raw_name.trim_end()
                ))
            })?;
        let Some(mut data) = after.get(..size) else {
            return Err(malformed(format!(
                "member {:?} claims {size} bytes, {} are there",
                raw_name.trim_end(),
                after.len()
            )));
        };
        // The data is padded to an even length (the pad may be missing at the very end).
        rest = after.get(size + size % 2..).unwrap_or_default();
        let name = if let Some(len) = raw_name.strip_prefix("#1/") {
            // BSD: the name is the first LEN bytes of the data.
            let len = len
                .trim_end()
                .parse::<usize>()
                .ok()
                .filter(|len| *len <= data.len())
                .ok_or_else(|| malformed(format!("member {raw_name:?} has a bad name length")))?;
            let (name, content) = data.split_at(len);
            data = content;
            String::from_utf8_lossy(name)
                .trim_end_matches('\0')
                .to_string()
        } else {
            let name = raw_name.trim_end_matches(' ');
            // GNU ends a name with `/`; `/` and `//` alone are its symbol and name tables.
            match name.strip_suffix('/') {
                Some(stripped) if !stripped.is_empty() && !stripped.starts_with('/') => {
                    stripped.to_string()
                }
                Some(_) => {
                    return Err(DebError::UnexpectedMember {
                        package: package.to_string(),
                        member: name.to_string(),
                    });
                }
                None => name.to_string(),
            }
        };
        members.push(ArMember { name, data });
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// A package tree for dpkg-deb: a control file, a postinst, md5sums, a library, a
    /// symlink to it, a directory.
    fn package_tree(root: &Path) {
        let debian = root.join("DEBIAN");
        std::fs::create_dir_all(&debian).unwrap();
        std::fs::write(
            debian.join("control"),
            "Package: purser-test\nVersion: 1.2-3\nArchitecture: all\nMaintainer: t <t@x>\n\
             Description: a test package\n",
        )
        .unwrap();
        std::fs::write(debian.join("md5sums"), "x  usr/lib/libpt.so.1\n").unwrap();
        let postinst = debian.join("postinst");
        std::fs::write(&postinst, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&postinst, std::fs::Permissions::from_mode(0o755)).unwrap();
        let lib = root.join("usr/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libpt.so.1"), b"\x7fELF not really").unwrap();
        std::os::unix::fs::symlink("libpt.so.1", lib.join("libpt.so")).unwrap();
        std::fs::create_dir_all(root.join("usr/share/doc/purser-test")).unwrap();
    }

    /// The .deb dpkg-deb builds from `package_tree` with `-Z<compression>`.
    fn dpkg_deb(compression: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        package_tree(&root);
        let out = dir.path().join("p.deb");
        let run = Command::new("/usr/bin/dpkg-deb")
            .arg(format!("-Z{compression}"))
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(&out)
            .output()
            .expect("run dpkg-deb");
        assert!(
            run.status.success(),
            "dpkg-deb -Z{compression}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read(out).unwrap()
    }

    /// The names of an ar archive's members.
    fn member_names(deb: &[u8]) -> Vec<String> {
        ar_members(deb, "p")
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    #[test]
    fn packages_dpkg_deb_builds_read_back_in_every_compression() {
        for compression in ["xz", "gzip", "zstd", "none"] {
            let bytes = dpkg_deb(compression);
            let suffix = match compression {
                "xz" => ".xz",
                "gzip" => ".gz",
                "zstd" => ".zst",
                _ => "",
            };
            assert_eq!(
                member_names(&bytes)[2],
                format!("data.tar{suffix}"),
                "{compression}"
            );
            let deb = parse(&bytes, "p.deb").unwrap_or_else(|e| panic!("{compression}: {e}"));
            assert!(
                deb.control
                    .starts_with("Package: purser-test\nVersion: 1.2-3\n")
            );
            assert_eq!(
                deb.control_files.keys().collect::<Vec<_>>(),
                ["md5sums", "postinst"]
            );
            assert_eq!(deb.maintainer_scripts(), ["postinst"]);
            assert_eq!(deb.control_files["postinst"], b"#!/bin/sh\nexit 0\n");
            let find = |path: &str| {
                deb.data
                    .iter()
                    .find(|e| e.path == path)
                    .unwrap_or_else(|| panic!("{compression}: no {path}"))
            };
            assert_eq!(find("/").kind, EntryKind::Dir);
            let lib = find("/usr/lib/libpt.so.1");
            assert_eq!(
                (&lib.kind, lib.data.as_slice(), lib.uid, lib.gid),
                (&EntryKind::File, &b"\x7fELF not really"[..], 0, 0)
            );
            assert_eq!(
                find("/usr/lib/libpt.so").kind,
                EntryKind::Symlink("libpt.so.1".into())
            );
            assert_eq!(find("/usr/share/doc/purser-test").kind, EntryKind::Dir);
        }
    }

    /// An ar archive of `members`, names written GNU style (`name/`) or BSD style.
    fn ar(members: &[(&str, &[u8])], bsd: bool) -> Vec<u8> {
        let mut out = AR_MAGIC.to_vec();
        for (name, data) in members {
            let (field, body) = if bsd {
                let body = [name.as_bytes(), data].concat();
                (format!("#1/{}", name.len()), body)
            } else {
                (format!("{name}/"), data.to_vec())
            };
            out.extend(
                format!(
                    "{field:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                    0,
                    0,
                    0,
                    "100644",
                    body.len()
                )
                .into_bytes(),
            );
            out.extend(&body);
            if body.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    /// A tar of one file.
    fn tar1(path: &str, data: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder.append_data(&mut header, path, data).unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn gnu_and_bsd_member_names_both_read_and_underscore_members_are_skipped() {
        let control = tar1("./control", b"Package: p\n");
        let data = tar1("./etc/p.conf", b"odd");
        for bsd in [false, true] {
            let bytes = ar(
                &[
                    ("debian-binary", b"2.0\n"),
                    ("_gpgorigin", b"sig"),
                    ("control.tar", &control),
                    ("data.tar", &data),
                ],
                bsd,
            );
            let deb = parse(&bytes, "p.deb").unwrap();
            assert_eq!(deb.control, "Package: p\n");
            assert!(deb.maintainer_scripts().is_empty());
            assert_eq!(deb.data[0].path, "/etc/p.conf");
        }
    }

    #[test]
    fn bzip2_data_is_refused_as_unsupported() {
        let control = tar1("./control", b"Package: p\n");
        let bytes = ar(
            &[
                ("debian-binary", b"2.0\n"),
                ("control.tar", &control),
                ("data.tar.bz2", b"BZh91AY&SYxxxx"),
            ],
            false,
        );
        let err = parse(&bytes, "p.deb").unwrap_err();
        assert!(
            matches!(
                &err,
                DebError::Archive(ArchiveError::Unsupported {
                    format: "bzip2",
                    ..
                })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("p.deb: data.tar.bz2"), "{err}");
    }

    #[test]
    fn wrong_versions_orders_and_members_are_refused() {
        let control = tar1("./control", b"Package: p\n");
        let data = tar1("./x", b"");
        type Members<'a> = &'a [(&'a str, &'a [u8])];
        let cases: [(Members<'_>, &str); 5] = [
            (&[("debian-binary", b"3.0\n")], "FormatVersion"),
            (&[("control.tar", &control)], "UnexpectedMember"),
            (
                &[
                    ("debian-binary", b"2.0\n"),
                    ("data.tar", &data),
                    ("control.tar", &control),
                ],
                "UnexpectedMember",
            ),
            (
                &[("debian-binary", b"2.0\n"), ("control.tar", &control)],
                "MissingMember",
            ),
            (
                &[
                    ("debian-binary", b"2.0\n"),
                    ("control.tar", &data),
                    ("data.tar", &data),
                ],
                "NoControl",
            ),
        ];
        for (members, expected) in cases {
            let err = parse(&ar(members, false), "p.deb").unwrap_err();
            assert!(
                format!("{err:?}").starts_with(expected),
                "{expected}: {err:?}"
            );
        }
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let bytes = dpkg_deb("xz");
        assert_eq!(
            parse(b"PK\x03\x04 a zip", "p.deb"),
            Err(DebError::NotADeb {
                package: "p.deb".into()
            })
        );
        for cut in [8, 30, 68, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(parse(&bytes[..cut], "p.deb").is_err(), "cut at {cut}");
        }
        let mut bad_size = bytes.clone();
        bad_size[8 + 48..8 + 58].copy_from_slice(b"9999999999");
        assert!(matches!(
            parse(&bad_size, "p.deb"),
            Err(DebError::Malformed { .. })
        ));
        for at in (8..bytes.len()).step_by(13) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0xa5;
            let _ = parse(&flipped, "p.deb");
        }
    }
}
