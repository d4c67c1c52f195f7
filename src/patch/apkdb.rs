//! [`Stanza`]: one package of apk's installed database (`lib/apk/db/installed`) or of an
//! `APKINDEX`, which share a format (`X:value` lines, stanzas separated by a blank line); built
//! by [`parse`] and written back by [`write`]. [`parse_pkginfo`] reads the `.PKGINFO` inside a
//! package.

use std::fmt;

/// One package's lines, in order: `(key, value)` for each `key:value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stanza {
    pub lines: Vec<(char, String)>,
}

impl Stanza {
    /// The first value of `key` (`P` the name, `V` the version, `A` the architecture...).
    pub fn get(&self, key: char) -> Option<&str> {
        self.all(key).next()
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: char) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter(move |(k, _)| *k == key)
            .map(|(_, value)| value.as_str())
    }

    /// The stanza as apk writes it: `key:value\n` for each line, no blank line after.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for (key, value) in &self.lines {
            text.push(*key);
            text.push(':');
            text.push_str(value);
            text.push('\n');
        }
        text
    }

    /// The installed database's files: each `R:name` under the `F:dir` before it, as `dir/name`
    /// (`name` alone in the root directory, which apk writes without an `F:`).
    pub fn files(&self) -> Vec<String> {
        let mut dir = "";
        let mut files = Vec::new();
        for (key, value) in &self.lines {
            match key {
                'F' => dir = value,
                'R' if dir.is_empty() => files.push(value.clone()),
                'R' => files.push(format!("{dir}/{value}")),
                _ => {}
            }
        }
        files
    }

    /// The installed database's directories (`F:`), in order.
    pub fn dirs(&self) -> Vec<String> {
        self.all('F').map(str::to_owned).collect()
    }
}

/// A line that is not `X:value`, with its place: `file` as the caller named it, `line` counted
/// from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkDbError {
    pub file: String,
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for ApkDbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.detail)
    }
}

impl std::error::Error for ApkDbError {}

/// The stanzas of an installed database or an `APKINDEX`: `X:value` lines (a letter, a colon,
/// the value verbatim), stanzas separated by one or more blank lines.
pub fn parse(text: &str, file: &str) -> Result<Vec<Stanza>, ApkDbError> {
    let mut stanzas = Vec::new();
    let mut current = Stanza::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.lines.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
            continue;
        }
        let mut chars = line.chars();
        match (chars.next(), chars.next()) {
            (Some(key), Some(':')) if key.is_ascii_alphabetic() => {
                current.lines.push((key, chars.as_str().to_owned()));
            }
            _ => {
                return Err(ApkDbError {
                    file: file.to_owned(),
                    line: index + 1,
                    detail: format!("`{line}` is not `X:value`"),
                });
            }
        }
    }
    if !current.lines.is_empty() {
        stanzas.push(current);
    }
    Ok(stanzas)
}

/// The stanzas as apk writes its installed database: each followed by one blank line.
pub fn write(stanzas: &[Stanza]) -> String {
    stanzas
        .iter()
        .map(|stanza| stanza.to_text() + "\n")
        .collect()
}

/// The `key = value` lines of a `.PKGINFO`, in order (keys such as `depend` and `provides`
/// repeat), trimmed; `#` comments, blank lines and lines without `=` are skipped.
pub fn parse_pkginfo(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "\
C:Q1p8Vt0bc5Pfk0GNzlFGDXqFrJ8Xs=
P:musl
V:1.2.5-r0
A:x86_64
S:411604
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1712259292
c:6f0fd2f9c6d4cb9aa6d5d22d2b7e6e7e6a8d1a13
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1Z/ZhgcvVPaT0ULh7HBYVbQ9GRpQ=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1ZCkqBxF5zGJmkQeNRtDt5hZpmM8=
P:alpine-baselayout
V:3.6.5-r0
A:x86_64
D:alpine-baselayout-data=3.6.5-r0 /bin/sh
F:etc
M:0:0:755
F:etc/apk
R:world
Z:Q1HcyFP9bL+2N+yAOeH3LgP7NfAyI=
F:var/empty
M:0:0:555
R:.keep

";

    #[test]
    fn installed_database_round_trips() {
        let stanzas = parse(INSTALLED, "lib/apk/db/installed").unwrap();
        assert_eq!(stanzas.len(), 2);
        assert_eq!(write(&stanzas), INSTALLED);
        assert_eq!(stanzas[0].get('P'), Some("musl"));
        assert_eq!(stanzas[0].get('Z'), Some("Q1Z/ZhgcvVPaT0ULh7HBYVbQ9GRpQ="));
        assert_eq!(stanzas[0].get('D'), None);
        assert_eq!(
            stanzas[0].all('a').collect::<Vec<_>>(),
            ["0:0:755", "0:0:777"]
        );
    }

    #[test]
    fn files_sit_under_their_directory() {
        let stanzas = parse(INSTALLED, "installed").unwrap();
        assert_eq!(
            stanzas[0].files(),
            ["lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1"]
        );
        assert_eq!(stanzas[1].files(), ["etc/apk/world", "var/empty/.keep"]);
        assert_eq!(stanzas[1].dirs(), ["etc", "etc/apk", "var/empty"]);
        let root = parse("P:x\nR:top\nF:usr\nR:a\n", "installed").unwrap();
        assert_eq!(root[0].files(), ["top", "usr/a"]);
    }

    #[test]
    fn values_keep_colons_and_blank_lines_may_repeat() {
        let stanzas = parse(
            "\n\nP:a\nD:so:libc.musl-x86_64.so.1\n\n\n  \nP:b\n",
            "APKINDEX",
        )
        .unwrap();
        assert_eq!(stanzas.len(), 2);
        assert_eq!(stanzas[0].get('D'), Some("so:libc.musl-x86_64.so.1"));
        assert_eq!(stanzas[1].to_text(), "P:b\n");
    }

    #[test]
    fn a_line_not_key_colon_value_is_an_error_with_its_line() {
        for (text, line) in [
            ("P:a\nno colon\n", 2),
            ("P:a\n\nPP:x\n", 3),
            ("1:x\n", 1),
            (":x\n", 1),
        ] {
            let error = parse(text, "APKINDEX").unwrap_err();
            assert_eq!(error.line, line, "{text:?}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("APKINDEX:{line}: `"))
            );
        }
    }

    #[test]
    fn pkginfo_keys_in_order() {
        let text = "\
# Generated by abuild 3.12.0
# using fakeroot version 1.31
pkgname = libcrypto3
pkgver = 3.1.4-r5
pkgdesc = Crypto library from openssl
depend = so:libc.musl-x86_64.so.1
provides = so:libcrypto.so.3=3
provides = cmd:c_rehash=3.1.4-r5
datahash = 0123abcd
not a pair
";
        let pairs = parse_pkginfo(text);
        assert_eq!(pairs.len(), 7);
        assert_eq!(pairs[0], ("pkgname".into(), "libcrypto3".into()));
        assert_eq!(pairs[2].1, "Crypto library from openssl");
        let provides: Vec<&str> = pairs
            .iter()
            .filter(|(key, _)| key == "provides")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(provides, ["so:libcrypto.so.3=3", "cmd:c_rehash=3.1.4-r5"]);
    }
}
