//! Alpine packages (apk v2): [`parse`] reads a `.apk` into an [`ApkPackage`] once its
//! signature (by a key of the image's `/etc/apk/keys`, an [`ApkKey`]) and its data hash
//! verify; [`verified_index`] does the same for a repository's signed `APKINDEX.tar.gz`. Every
//! refusal is an [`ApkError`].
//!
//! A v2 package is gzip streams laid end to end, each a tar segment without end-of-archive
//! blocks (abuild's `abuild-tar --cut`): (1) the signature, one file `.SIGN.RSA.<key>` (an
//! RSA PKCS#1 v1.5 signature over the SHA-1 of stream 2's raw, compressed bytes) or
//! `.SIGN.RSA256.<key>` (over their SHA-256), `<key>` the public key's file name in
//! `/etc/apk/keys`; (2) the control segment, `.PKGINFO` and the install scripts; (3) the data
//! tar, to the end of the file, whose raw bytes' SHA-256 (hex) is `.PKGINFO`'s `datahash`. So
//! the signature covers the data through `datahash`. Each data file also carries its SHA-1 as
//! a PAX record `APK-TOOLS.checksum.SHA1`, checked against its content here as apk checks it.
//! An index is (1) and then the signed rest, a tar holding `APKINDEX` (and `DESCRIPTION`).
//! The stream boundaries are where each gzip member's decoding stops.

use std::fmt;

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha1::Digest as _;

use super::archive::{self, ArchiveError, Entry, EntryKind, MAX_DECOMPRESSED};

/// The control segment's install scripts.
pub const SCRIPTS: [&str; 7] = [
    ".pre-install",
    ".post-install",
    ".pre-upgrade",
    ".post-upgrade",
    ".pre-deinstall",
    ".post-deinstall",
    ".trigger",
];

/// A trusted public key, as `/etc/apk/keys` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApkKey {
    /// Its file name, which signatures name: `alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`.
    pub name: String,
    /// The PEM text (`-----BEGIN PUBLIC KEY-----`, or PKCS#1's `BEGIN RSA PUBLIC KEY`).
    pub pem: Vec<u8>,
}

/// A `.apk` whose signature and data hash verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApkPackage {
    /// The `.PKGINFO` text (`key = value` lines).
    pub pkginfo: String,
    /// The SHA-1 of the raw control segment (stream 2): the package's identity, which the
    /// index and the installed database give as `C:` ([`checksum_field`]).
    pub control_sha1: [u8; 20],
    /// The install scripts the control segment holds (of [`SCRIPTS`]), in archive order.
    pub scripts: Vec<String>,
    /// The data tar's entries, in archive order.
    pub data: Vec<Entry>,
    /// The name of the key that signed it.
    pub signed_by: String,
    /// The package file's size in bytes (the index's `S:`).
    pub size: u64,
}

/// Why a package or an index is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApkError {
    /// Not the v2 layout: streams, segments or `.PKGINFO` missing or broken.
    Malformed { package: String, reason: String },
    /// No signature segment.
    Unsigned { package: String },
    /// Signed only by keys (`key`, comma-separated) not among `known`.
    UnknownKey {
        package: String,
        key: String,
        known: Vec<String>,
    },
    /// A trusted key's PEM cannot be read.
    BadKey { key: String, reason: String },
    /// The signature by `key` does not verify over the control segment (or the index).
    BadSignature { package: String, key: String },
    /// The data segment's SHA-256 is not the signed `datahash`.
    DataHashMismatch {
        package: String,
        expected: String,
        found: String,
    },
    /// A data file's content is not the SHA-1 its PAX record gives.
    FileChecksumMismatch { package: String, path: String },
    /// A segment's gzip or tar.
    Archive(ArchiveError),
}

impl fmt::Display for ApkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { package, reason } => write!(
                f,
                "{package} is not an apk v2 package: {reason}; the file is damaged, download \
                 it again"
            ),
            Self::Unsigned { package } => write!(
                f,
                "{package} is not signed (it has no .SIGN.RSA segment); purser installs only \
                 packages signed by a key of the image's /etc/apk/keys"
            ),
            Self::UnknownKey {
                package,
                key,
                known,
            } => write!(
                f,
                "{package} is signed by key {key}, which is not among the image's \
                 /etc/apk/keys ({}); add the repository's public key there (its keys package, \
                 e.g. alpine-keys, does)",
                if known.is_empty() {
                    "there are none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            Self::BadKey { key, reason } => write!(
                f,
                "/etc/apk/keys/{key} cannot be read: {reason}; it must be a PEM RSA public key"
            ),
            Self::BadSignature { package, key } => write!(
                f,
                "{package}: the signature by key {key} does not verify: the file was changed \
                 or damaged; download it again, and check the mirror"
            ),
            Self::DataHashMismatch {
                package,
                expected,
                found,
            } => write!(
                f,
                "{package}: the data's SHA-256 {found} is not the datahash {expected} its \
                 signed .PKGINFO gives: the package was changed; refusing it"
            ),
            Self::FileChecksumMismatch { package, path } => write!(
                f,
                "{package}: {path} does not match the SHA-1 its package records for it: the \
                 package is damaged; refusing it"
            ),
            Self::Archive(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ApkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Archive(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ArchiveError> for ApkError {
    fn from(e: ArchiveError) -> ApkError {
        ApkError::Archive(e)
    }
}

/// The SHA-1 of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(data).into()
}

/// The index's and installed database's form of a control segment's SHA-1: `Q1` and its
/// base64.
pub fn checksum_field(sha1: &[u8; 20]) -> String {
    format!(
        "Q1{}",
        base64::engine::general_purpose::STANDARD.encode(sha1)
    )
}

/// Reads the package `bytes` (`name`, its URL or file name, for errors): its signature must
/// be by a key of `keys` (the first signature whose key is there decides, as for apk), its
/// data segment must hash to the signed `datahash`, each data file must match its recorded
/// SHA-1.
pub fn parse(bytes: &[u8], name: &str, keys: &[ApkKey]) -> Result<ApkPackage, ApkError> {
    let mut budget = MAX_DECOMPRESSED;
    let (signatures, signature_len) = signature_segment(bytes, name, &mut budget)?;
    let rest = &bytes[signature_len..];
    let control_what = format!("{name}: the control segment");
    let (control_tar, control_len) = segment(rest, &control_what, &mut budget)?;
    let control_raw = &rest[..control_len];
    let signed_by = verify_signature(&signatures, control_raw, name, keys)?;

    let malformed = |reason: String| ApkError::Malformed {
        package: name.to_string(),
        reason,
    };
    let mut pkginfo = None;
    let mut scripts = Vec::new();
    for entry in archive::read_tar(&control_tar, &control_what)? {
        let file = entry.path.trim_start_matches('/');
        if entry.kind != EntryKind::File {
            continue;
        }
        if file == ".PKGINFO" {
            pkginfo = Some(entry.data);
        } else if SCRIPTS.contains(&file) {
            scripts.push(file.to_string());
        }
    }
    let pkginfo = pkginfo.ok_or_else(|| malformed("the control segment has no .PKGINFO".into()))?;
    let pkginfo =
        String::from_utf8(pkginfo).map_err(|_| malformed(".PKGINFO is not UTF-8 text".into()))?;
    let expected = pkginfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "datahash").then(|| value.trim().to_ascii_lowercase())
        })
        .ok_or_else(|| {
            malformed(".PKGINFO has no datahash, so its signature does not cover the data".into())
        })?;

    let data_raw = &rest[control_len..];
    if data_raw.is_empty() {
        return Err(malformed("there is no data segment".into()));
    }
    let found = hex(&sha2::Sha256::digest(data_raw));
    if found != expected {
        return Err(ApkError::DataHashMismatch {
            package: name.to_string(),
            expected,
            found,
        });
    }
    let data_what = format!("{name}: the data segment");
    let data_tar = archive::gunzip_all(data_raw, &data_what, budget)?;
    let mut data = Vec::new();
    for member in archive::read_tar_members(&data_tar, &data_what)? {
        if member.entry.kind == EntryKind::File
            && let Some(recorded) = member.pax_record("APK-TOOLS.checksum.SHA1")
            && !recorded.eq_ignore_ascii_case(hex(&sha1(&member.entry.data)).as_bytes())
        {
            return Err(ApkError::FileChecksumMismatch {
                package: name.to_string(),
                path: member.entry.path,
            });
        }
        data.push(member.entry);
    }
    Ok(ApkPackage {
        pkginfo,
        control_sha1: sha1(control_raw),
        scripts,
        data,
        signed_by,
        size: bytes.len() as u64,
    })
}

/// Reads the repository index `bytes` (`APKINDEX.tar.gz`; `name` for errors), whose
/// signature segment must be by a key of `keys` over the rest of the file; answers the
/// `APKINDEX` text.
pub fn verified_index(bytes: &[u8], name: &str, keys: &[ApkKey]) -> Result<String, ApkError> {
    let mut budget = MAX_DECOMPRESSED;
    let (signatures, signature_len) = signature_segment(bytes, name, &mut budget)?;
    let signed = &bytes[signature_len..];
    let malformed = |reason: &str| ApkError::Malformed {
        package: name.to_string(),
        reason: reason.to_string(),
    };
    if signed.is_empty() {
        return Err(malformed("nothing follows the signature"));
    }
    verify_signature(&signatures, signed, name, keys)?;
    let what = format!("{name}: the index");
    let tar = archive::gunzip_all(signed, &what, budget)?;
    let index = archive::read_tar(&tar, &what)?
        .into_iter()
        .find(|e| e.path == "/APKINDEX" && e.kind == EntryKind::File)
        .ok_or_else(|| malformed("the signed archive has no APKINDEX"))?;
    String::from_utf8(index.data).map_err(|_| malformed("APKINDEX is not UTF-8 text"))
}

/// The gzip member at the start of `bytes`, decoded (within `budget`, which it lessens), and
/// its raw length.
fn segment(bytes: &[u8], what: &str, budget: &mut u64) -> Result<(Vec<u8>, usize), ApkError> {
    let (tar, len) = archive::gunzip_member(bytes, what, *budget)?;
    *budget -= tar.len() as u64;
    Ok((tar, len))
}

/// A signature of the signature segment.
struct Signature {
    /// The key's file name.
    key: String,
    sha256: bool,
    bytes: Vec<u8>,
}

/// The signatures of the first stream of `bytes` and its raw length: refused as
/// [`ApkError::Unsigned`] when it is the control segment instead.
fn signature_segment(
    bytes: &[u8],
    name: &str,
    budget: &mut u64,
) -> Result<(Vec<Signature>, usize), ApkError> {
    let what = format!("{name}: the signature segment");
    let (tar, len) = segment(bytes, &what, budget)?;
    let entries = archive::read_tar(&tar, &what)?;
    let mut signatures = Vec::new();
    let mut others = Vec::new();
    for entry in entries {
        let file = entry.path.trim_start_matches('/');
        let parsed = file
            .strip_prefix(".SIGN.RSA256.")
            .map(|key| (key, true))
            .or_else(|| file.strip_prefix(".SIGN.RSA.").map(|key| (key, false)));
        match parsed {
            Some((key, sha256)) if entry.kind == EntryKind::File && !key.is_empty() => {
                signatures.push(Signature {
                    key: key.to_string(),
                    sha256,
                    bytes: entry.data,
                });
            }
            _ => others.push(file.to_string()),
        }
    }
    if signatures.is_empty() {
        if others.iter().any(|f| f == ".PKGINFO" || f == "APKINDEX") {
            return Err(ApkError::Unsigned {
                package: name.to_string(),
            });
        }
        return Err(ApkError::Malformed {
            package: name.to_string(),
            reason: format!(
                "the first segment holds no RSA signature (it holds: {})",
                if others.is_empty() {
                    "nothing".to_string()
                } else {
                    others.join(", ")
                }
            ),
        });
    }
    Ok((signatures, len))
}

/// Checks the first of `signatures` whose key is in `keys` over `signed`; answers the key's
/// name.
fn verify_signature(
    signatures: &[Signature],
    signed: &[u8],
    package: &str,
    keys: &[ApkKey],
) -> Result<String, ApkError> {
    let found = signatures
        .iter()
        .find_map(|s| keys.iter().find(|k| k.name == s.key).map(|k| (s, k)));
    let Some((signature, key)) = found else {
        return Err(ApkError::UnknownKey {
            package: package.to_string(),
            key: signatures
                .iter()
                .map(|s| s.key.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            known: keys.iter().map(|k| k.name.clone()).collect(),
        });
    };
    let public = public_key(key)?;
    let verified = if signature.sha256 {
        public.verify(
            Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(signed),
            &signature.bytes,
        )
    } else {
        public.verify(
            Pkcs1v15Sign::new::<sha1::Sha1>(),
            &sha1(signed),
            &signature.bytes,
        )
    };
    verified.map_err(|_| ApkError::BadSignature {
        package: package.to_string(),
        key: key.name.clone(),
    })?;
    Ok(key.name.clone())
}

/// The RSA public key of `key`'s PEM (SubjectPublicKeyInfo, else PKCS#1).
fn public_key(key: &ApkKey) -> Result<RsaPublicKey, ApkError> {
    let bad = |reason: String| ApkError::BadKey {
        key: key.name.clone(),
        reason,
    };
    let pem = std::str::from_utf8(&key.pem).map_err(|_| bad("it is not PEM text".into()))?;
    RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|spki| RsaPublicKey::from_pkcs1_pem(pem.trim()).map_err(|_| bad(spki.to_string())))
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Command;

    /// An RSA key made by openssl: its private key file and its public key.
    struct Key {
        dir: tempfile::TempDir,
        private: std::path::PathBuf,
        key: ApkKey,
    }

    fn openssl(args: &[&str]) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn key(name: &str) -> Key {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("key.rsa");
        let p = private.to_str().unwrap();
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            p,
        ]);
        let pem = openssl(&["pkey", "-in", p, "-pubout"]);
        Key {
            private,
            key: ApkKey {
                name: name.to_string(),
                pem,
            },
            dir,
        }
    }

    impl Key {
        /// `openssl dgst -sha1|-sha256 -sign` over `data`.
        fn sign(&self, data: &[u8], digest: &str) -> Vec<u8> {
            let file = self.dir.path().join("signed");
            std::fs::write(&file, data).unwrap();
            openssl(&[
                "dgst",
                digest,
                "-sign",
                self.private.to_str().unwrap(),
                file.to_str().unwrap(),
            ])
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A ustar header with every numeric field set.
    fn header(kind: tar::EntryType, size: usize) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(size as u64);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header
    }

    /// A file for [`tar`]: its path, content and PAX records.
    type TarFile<'a> = (&'a str, &'a [u8], &'a [(&'a str, String)]);

    /// A tar of `files` (path, content, PAX records); `cut` drops the end-of-archive blocks
    /// as abuild-tar --cut does.
    fn tar(files: &[TarFile<'_>], cut: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data, pax) in files {
            if !pax.is_empty() {
                let mut body = Vec::new();
                for (key, value) in *pax {
                    let rest = format!(" {key}={value}\n");
                    let mut len = rest.len() + 1;
                    while format!("{len}{rest}").len() != len {
                        len += 1;
                    }
                    body.extend(format!("{len}{rest}").into_bytes());
                }
                let mut header = header(tar::EntryType::XHeader, body.len());
                builder
                    .append_data(&mut header, "PaxHeader", &body[..])
                    .unwrap();
            }
            let mut header = header(tar::EntryType::Regular, data.len());
            builder.append_data(&mut header, path, *data).unwrap();
        }
        let mut bytes = builder.into_inner().unwrap();
        if cut {
            bytes.truncate(bytes.len() - 1024);
        }
        bytes
    }

    const BINARY: &[u8] = b"#!/bin/sh\necho hello\n";

    /// A package: data tar with one file (and its PAX SHA-1, which `bad_checksum` falsifies),
    /// control with .PKGINFO (datahash) and a post-install script, signed by `by` with
    /// `digest` (`-sha1` → .SIGN.RSA., `-sha256` → .SIGN.RSA256.).
    fn package(by: &Key, digest: &str, bad_checksum: bool) -> (Vec<u8>, Vec<u8>) {
        let checksum = if bad_checksum {
            "0".repeat(40)
        } else {
            hex(&sha1(BINARY))
        };
        let data = gzip(&tar(
            &[(
                "usr/bin/hello",
                BINARY,
                &[("APK-TOOLS.checksum.SHA1", checksum)],
            )],
            false,
        ));
        let pkginfo = format!(
            "pkgname = hello\npkgver = 1.0-r0\nsize = 21\ndatahash = {}\n",
            hex(&sha2::Sha256::digest(&data))
        );
        let control = gzip(&tar(
            &[
                (".PKGINFO", pkginfo.as_bytes(), &[]),
                (".post-install", b"#!/bin/sh\n", &[]),
            ],
            true,
        ));
        let prefix = if digest == "-sha1" { "RSA" } else { "RSA256" };
        let signature = gzip(&tar(
            &[(
                &format!(".SIGN.{prefix}.{}", by.key.name),
                &by.sign(&control, digest),
                &[],
            )],
            true,
        ));
        ([signature, control.clone(), data].concat(), control)
    }

    #[test]
    fn a_signed_package_verifies_with_sha1_and_sha256_signatures() {
        let key = key("test@example.org-5f0b0e1a.rsa.pub");
        for digest in ["-sha1", "-sha256"] {
            let (bytes, control) = package(&key, digest, false);
            let package = parse(&bytes, "hello-1.0-r0.apk", std::slice::from_ref(&key.key))
                .unwrap_or_else(|e| panic!("{digest}: {e}"));
            assert_eq!(package.signed_by, key.key.name);
            assert!(package.pkginfo.starts_with("pkgname = hello\n"));
            assert_eq!(package.scripts, [".post-install"]);
            assert_eq!(package.control_sha1, sha1(&control));
            assert_eq!(package.size, bytes.len() as u64);
            let [file] = &package.data[..] else {
                panic!("{:?}", package.data)
            };
            assert_eq!(
                (file.path.as_str(), file.data.as_slice()),
                ("/usr/bin/hello", BINARY)
            );
        }
    }

    #[test]
    fn checksum_field_is_q1_and_base64() {
        // SHA-1 of the empty string
        assert_eq!(checksum_field(&sha1(b"")), "Q12jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    }

    #[test]
    fn a_changed_data_byte_is_a_data_hash_mismatch() {
        let key = key("k.rsa.pub");
        let (mut bytes, _) = package(&key, "-sha1", false);
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        let err = parse(&bytes, "hello.apk", std::slice::from_ref(&key.key)).unwrap_err();
        assert!(matches!(err, ApkError::DataHashMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("datahash"), "{err}");
    }

    #[test]
    fn a_changed_control_byte_is_a_bad_signature() {
        let key = key("k.rsa.pub");
        let (bytes, control) = package(&key, "-sha256", false);
        let start = find(&bytes, &control);
        let mut changed = bytes.clone();
        // the gzip header's mtime: the stream still decodes, its raw bytes differ
        changed[start + 4] ^= 1;
        let err = parse(&changed, "hello.apk", std::slice::from_ref(&key.key)).unwrap_err();
        assert_eq!(
            err,
            ApkError::BadSignature {
                package: "hello.apk".into(),
                key: "k.rsa.pub".into()
            }
        );
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    }

    #[test]
    fn a_package_signed_by_an_unknown_key_is_refused_naming_both() {
        let signer = key("other@example.org.rsa.pub");
        let trusted = key("trusted.rsa.pub");
        let (bytes, _) = package(&signer, "-sha1", false);
        let err = parse(&bytes, "hello.apk", std::slice::from_ref(&trusted.key)).unwrap_err();
        assert_eq!(
            err,
            ApkError::UnknownKey {
                package: "hello.apk".into(),
                key: "other@example.org.rsa.pub".into(),
                known: vec!["trusted.rsa.pub".into()],
            }
        );
        // the right name with the wrong key material does not verify either
        let impostor = ApkKey {
            name: signer.key.name.clone(),
            pem: trusted.key.pem.clone(),
        };
        let err = parse(&bytes, "hello.apk", &[impostor]).unwrap_err();
        assert!(matches!(err, ApkError::BadSignature { .. }), "{err:?}");
    }

    #[test]
    fn a_file_not_matching_its_recorded_sha1_is_refused() {
        let key = key("k.rsa.pub");
        let (bytes, _) = package(&key, "-sha1", true);
        let err = parse(&bytes, "hello.apk", std::slice::from_ref(&key.key)).unwrap_err();
        assert_eq!(
            err,
            ApkError::FileChecksumMismatch {
                package: "hello.apk".into(),
                path: "/usr/bin/hello".into()
            }
        );
    }

    #[test]
    fn an_unsigned_package_and_garbage_are_refused() {
        let key = key("k.rsa.pub");
        let (bytes, control) = package(&key, "-sha1", false);
        let unsigned = &bytes[find(&bytes, &control)..];
        let err = parse(unsigned, "hello.apk", std::slice::from_ref(&key.key)).unwrap_err();
        assert_eq!(
            err,
            ApkError::Unsigned {
                package: "hello.apk".into()
            }
        );
        let keys = [key.key.clone()];
        assert!(matches!(
            parse(b"not gzip at all", "x.apk", &keys),
            Err(ApkError::Archive(ArchiveError::Corrupt { .. }))
        ));
        for cut in [10, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                parse(&bytes[..cut], "x.apk", &keys).is_err(),
                "cut at {cut}"
            );
        }
        let bad_pem = ApkKey {
            name: "k.rsa.pub".into(),
            pem: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_vec(),
        };
        assert!(matches!(
            parse(&bytes, "x.apk", &[bad_pem]),
            Err(ApkError::BadKey { .. })
        ));
    }

    #[test]
    fn a_signed_index_verifies_and_a_changed_one_does_not() {
        let key = key("k.rsa.pub");
        let text = "C:Q1abc=\nP:hello\nV:1.0-r0\n\n";
        let index = gzip(&tar(
            &[
                ("DESCRIPTION", b"v3.20", &[]),
                ("APKINDEX", text.as_bytes(), &[]),
            ],
            false,
        ));
        let signature = gzip(&tar(
            &[(".SIGN.RSA.k.rsa.pub", &key.sign(&index, "-sha1"), &[])],
            true,
        ));
        let bytes = [signature, index].concat();
        let keys = [key.key.clone()];
        assert_eq!(
            verified_index(&bytes, "APKINDEX.tar.gz", &keys).unwrap(),
            text
        );
        let mut changed = bytes.clone();
        let last = changed.len() - 10;
        changed[last] ^= 1;
        assert!(matches!(
            verified_index(&changed, "APKINDEX.tar.gz", &keys),
            Err(ApkError::BadSignature { .. })
        ));
    }
}
