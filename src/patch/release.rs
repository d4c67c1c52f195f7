//! [`Release`]: what an APT repository's `Release` file (the signed text of `InRelease`) says
//! about a suite, above all the SHA-256 of every index under it; built by [`parse`] from the
//! file's first deb822 paragraph.

use std::fmt;

use super::deb822::{self, Deb822Error};

/// A suite's `Release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// The `SHA256:` entries, in file order.
    pub sha256: Vec<IndexFile>,
}

impl Release {
    /// The entry for `path`, relative to the suite (`main/binary-amd64/Packages.xz`).
    pub fn find(&self, path: &str) -> Option<&IndexFile> {
        self.sha256.iter().find(|file| file.path == path)
    }
}

/// One `SHA256:` entry: `hash size path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Why a text is not a usable `Release`; `file` as the caller named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseError {
    /// Not deb822.
    Syntax(Deb822Error),
    /// No paragraph, or one without a `SHA256:` field.
    NoSha256 { file: String },
    /// A `SHA256:` entry that is not `hash size path`, on `line` (from 1).
    BadEntry {
        file: String,
        line: usize,
        entry: String,
        detail: String,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::Syntax(error) => error.fmt(f),
            ReleaseError::NoSha256 { file } => write!(f, "{file}: no `SHA256:` field"),
            ReleaseError::BadEntry {
                file,
                line,
                entry,
                detail,
            } => write!(f, "{file}:{line}: SHA256 entry `{entry}`: {detail}"),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// The `Release` in `text`: its first paragraph. The entries' line numbers are exact for a
/// `Release` as archives write it (without comment lines, which deb822 allows only elsewhere).
pub fn parse(text: &str, file: &str) -> Result<Release, ReleaseError> {
    let no_sha256 = || ReleaseError::NoSha256 {
        file: file.to_owned(),
    };
    let (start, paragraph) = deb822::parse_numbered(text, file)
        .map_err(ReleaseError::Syntax)?
        .into_iter()
        .next()
        .ok_or_else(no_sha256)?;
    let (Some(entries), Some(offset)) = (paragraph.get("SHA256"), paragraph.line_offset("SHA256"))
    else {
        return Err(no_sha256());
    };
    let mut sha256 = Vec::new();
    // The value's first line is the field's own (normally empty), then one entry a line.
    for (index, entry) in entries.lines().enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        sha256.push(index_file(entry).map_err(|detail| ReleaseError::BadEntry {
            file: file.to_owned(),
            line: start + offset + index,
            entry: entry.to_owned(),
            detail,
        })?);
    }
    let field = |name: &str| paragraph.get(name).map(str::to_owned);
    let words = |name: &str| -> Vec<String> {
        paragraph.get(name).map_or_else(Vec::new, |value| {
            value.split_whitespace().map(str::to_owned).collect()
        })
    };
    Ok(Release {
        suite: field("Suite"),
        codename: field("Codename"),
        architectures: words("Architectures"),
        components: words("Components"),
        sha256,
    })
}

fn index_file(entry: &str) -> Result<IndexFile, String> {
    let words: Vec<&str> = entry.split_whitespace().collect();
    let [hash, size, path] = words[..] else {
        return Err(format!(
            "{} words where `hash size path` has 3",
            words.len()
        ));
    };
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{hash}` is not a SHA-256 in hex"));
    }
    let size = size
        .parse()
        .map_err(|_| format!("size `{size}` is not a number of bytes"))?;
    Ok(IndexFile {
        path: path.to_owned(),
        size,
        sha256: hash.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const HASH_B: &str = "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999";

    fn release_text(sha256: &str) -> String {
        format!(
            "\
Origin: Debian
Label: Debian-Security
Suite: stable-security
Codename: bookworm-security
Date: Tue, 01 Jul 2025 10:00:00 UTC
Architectures: amd64 arm64 i386
Components: updates/main updates/contrib
Description: Debian 12 - Security Updates
MD5Sum:
 d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages
SHA256:
{sha256}"
        )
    }

    #[test]
    fn fields_and_sha256_entries() {
        let text = release_text(&format!(
            " {HASH_A}   1234567 main/binary-amd64/Packages.xz\n {} 88 main/binary-amd64/Release\n",
            HASH_B.to_ascii_uppercase()
        ));
        let release = parse(&text, "InRelease").unwrap();
        assert_eq!(release.suite.as_deref(), Some("stable-security"));
        assert_eq!(release.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(release.architectures, ["amd64", "arm64", "i386"]);
        assert_eq!(release.components, ["updates/main", "updates/contrib"]);
        assert_eq!(release.sha256.len(), 2);
        assert_eq!(
            release.find("main/binary-amd64/Packages.xz"),
            Some(&IndexFile {
                path: "main/binary-amd64/Packages.xz".into(),
                size: 1_234_567,
                sha256: HASH_A.into(),
            })
        );
        assert_eq!(
            release.find("main/binary-amd64/Release").unwrap().sha256,
            HASH_B
        );
        assert_eq!(release.find("main/binary-amd64/Packages"), None);
    }

    #[test]
    fn a_bad_entry_names_its_line() {
        let text = release_text(&format!(" {HASH_A} 1 main/a\n {HASH_A} big main/b\n"));
        let error = parse(&text, "Release").unwrap_err();
        let ReleaseError::BadEntry { line, entry, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(*line, 13);
        assert_eq!(entry, &format!("{HASH_A} big main/b"));
        assert!(error.to_string().starts_with("Release:13: SHA256 entry"));

        for (entries, what) in [
            (" abc 1 main/a\n".to_owned(), "not a SHA-256"),
            (format!(" {HASH_A} 1\n"), "2 words"),
            (format!(" {HASH_A} 1 a b\n"), "4 words"),
        ] {
            let error = parse(&release_text(&entries), "Release").unwrap_err();
            assert!(error.to_string().contains(what), "{error}");
            assert!(matches!(error, ReleaseError::BadEntry { line: 12, .. }));
        }
    }

    #[test]
    fn no_sha256_and_not_deb822() {
        let no_sha256 = ReleaseError::NoSha256 {
            file: "Release".into(),
        };
        assert_eq!(
            parse("Suite: stable\nMD5Sum:\n x 1 y\n", "Release"),
            Err(no_sha256.clone())
        );
        assert_eq!(parse("\n\n", "Release"), Err(no_sha256));
        let error = parse("-----BEGIN PGP SIGNED MESSAGE-----\n", "InRelease").unwrap_err();
        assert!(matches!(
            error,
            ReleaseError::Syntax(Deb822Error { line: 1, .. })
        ));
    }
}
