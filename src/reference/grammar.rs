//! The reference grammar: Docker's `distribution/reference` package, written as a hand-rolled
//! single-pass scanner that yields the byte ranges ([`Spans`]) of a valid reference, or a
//! [`Fail`] with the byte position of the first offending character and, where there is one,
//! a suggested fix.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]            host := label ("." label)* | "[" ipv6 "]"
//! label      := [a-zA-Z0-9] ( [a-zA-Z0-9-]* [a-zA-Z0-9] )?
//! port       := [0-9]+
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [\w] [\w.-]{0,127}
//! digest     := algorithm ":" encoded
//! algorithm  := [a-z0-9]+ ( [.+_-] [a-z0-9]+ )*
//! encoded    := [a-zA-Z0-9=_-]+              (sha256: 64, sha384: 96, sha512: 128 lowercase hex)
//! ```
//!
//! The first path component is a domain only when a `/` follows it and it contains `.` or `:`,
//! is `localhost`, or holds an uppercase letter. Without a domain the registry is `docker.io`;
//! `index.docker.io` is written `docker.io`; a single-component Docker Hub path gets `library/`.
//! The normalised name (`registry/repository`) may be at most 255 characters long.
//!
//! Parsing allocates only the strings of the result (and, on failure, the error).

use std::borrow::Cow;

use super::{Reference, ReferenceError};

pub(super) const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_REGISTRY: &str = "index.docker.io";
pub(super) const OFFICIAL_PREFIX: &str = "library/";
pub(super) const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A failure inside the scanner; turned into a [`ReferenceError`] at the API boundary.
#[derive(Debug)]
pub(super) struct Fail {
    pos: usize,
    reason: Cow<'static, str>,
    hint: Option<String>,
}

impl Fail {
    pub(super) fn new(pos: usize, reason: impl Into<Cow<'static, str>>) -> Fail {
        Fail {
            pos,
            reason: reason.into(),
            hint: None,
        }
    }

    pub(super) fn with_hint(mut self, hint: String) -> Fail {
        self.hint = Some(hint);
        self
    }

    pub(super) fn shifted(mut self, by: usize) -> Fail {
        self.pos += by;
        self
    }

    pub(super) fn into_error(self, input: String) -> ReferenceError {
        ReferenceError {
            input,
            position: self.pos,
            reason: self.reason,
            hint: self.hint,
        }
    }
}

/// Byte ranges of a successfully scanned reference.
pub(super) struct Spans {
    domain: Option<(usize, usize)>,
    path: (usize, usize),
    path_has_slash: bool,
    tag: Option<(usize, usize)>,
    digest: Option<(usize, usize)>,
}

impl Spans {
    pub(super) fn build(&self, input: &str) -> Reference {
        let path = &input[self.path.0..self.path.1];
        let (registry, official, explicit_registry) = match self.domain {
            None => (Cow::Borrowed(DEFAULT_REGISTRY), !self.path_has_slash, false),
            Some((s, e)) => {
                let (registry, official) = normalise_registry(&input[s..e], self.path_has_slash);
                (registry, official, true)
            }
        };
        Reference {
            registry,
            repository: repository_string(path, official),
            tag: self.tag.map(|(s, e)| input[s..e].to_owned()),
            digest: self.digest.map(|(s, e)| input[s..e].to_owned()),
            explicit_registry,
        }
    }
}

/// The registry as stored, and whether the path needs the `library/` prefix.
pub(super) fn normalise_registry(domain: &str, path_has_slash: bool) -> (Cow<'static, str>, bool) {
    if domain == DEFAULT_REGISTRY || domain == LEGACY_REGISTRY {
        (Cow::Borrowed(DEFAULT_REGISTRY), !path_has_slash)
    } else {
        (Cow::Owned(domain.to_owned()), false)
    }
}

pub(super) fn repository_string(path: &str, official: bool) -> String {
    if official {
        let mut repo = String::with_capacity(OFFICIAL_PREFIX.len() + path.len());
        repo.push_str(OFFICIAL_PREFIX);
        repo.push_str(path);
        repo
    } else {
        path.to_owned()
    }
}

pub(super) fn too_long_reason(total: usize, official: bool) -> String {
    if official {
        format!(
            "name is {total} characters long once written as \"docker.io/library/…\"; at most {NAME_MAX} are allowed"
        )
    } else {
        format!("name is {total} characters long; at most {NAME_MAX} are allowed")
    }
}

#[inline]
fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[inline]
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[inline]
fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

#[inline]
fn is_space(c: u8) -> bool {
    c.is_ascii_whitespace() || c == 0x0b
}

/// Docker's rule for the text before the first `/`: a domain when it contains `.` or `:`, is
/// `localhost`, or has an uppercase letter.
pub(super) fn looks_like_domain(first: &[u8]) -> bool {
    first == b"localhost"
        || first
            .iter()
            .any(|&c| c == b'.' || c == b':' || c.is_ascii_uppercase())
}

/// An error for the character at `pos`, which is not allowed in `context`.
pub(super) fn bad_char(s: &str, pos: usize, context: &str) -> Fail {
    let b = s.as_bytes();
    let Some(&c) = b.get(pos) else {
        return Fail::new(pos, format!("unexpected end of input in the {context}"));
    };
    if is_space(c) {
        if pos == 0 {
            Fail::new(pos, "starts with whitespace").with_hint("trim the input first".to_owned())
        } else if b[pos..].iter().all(|&c| is_space(c)) {
            Fail::new(pos, "ends with whitespace").with_hint("trim the input first".to_owned())
        } else {
            Fail::new(pos, format!("whitespace is not allowed in the {context}"))
        }
    } else if c < 0x20 || c == 0x7f {
        Fail::new(pos, format!("control character U+{c:04X} in the {context}"))
    } else if c >= 0x80 {
        match s.get(pos..).and_then(|rest| rest.chars().next()) {
            Some(ch) => Fail::new(
                pos,
                format!(
                    "non-ASCII character '{}' (U+{:04X}) in the {context}",
                    ch.escape_debug(),
                    ch as u32
                ),
            ),
            None => Fail::new(pos, format!("non-ASCII byte 0x{c:02X} in the {context}")),
        }
    } else {
        Fail::new(
            pos,
            format!("invalid character '{}' in the {context}", c as char),
        )
    }
}

/// Scans a whole reference. `suggest` allows one nested parse to propose a fix for a URL.
pub(super) fn parse_spans(input: &str, suggest: bool) -> Result<Spans, Fail> {
    let b = input.as_bytes();
    if b.is_empty() {
        return Err(Fail::new(0, "empty reference"));
    }
    if b.len() == 64 && b.iter().all(|&c| is_lower_hex(c)) {
        return Err(Fail::new(
            0,
            "a bare 64-digit hex string is an image ID, not a reference",
        ));
    }

    let mut domain = None;
    let mut path_start = 0;
    match b.iter().position(|&c| c == b'/') {
        Some(slash) => {
            check_scheme(input, slash, suggest)?;
            if looks_like_domain(&b[..slash]) {
                scan_domain(input, 0, slash)?;
                domain = Some((0, slash));
                path_start = slash + 1;
            }
        }
        None if b[0] == b'[' => {
            // An IPv6 registry with no repository after it.
            return Err(if b.contains(&b']') {
                Fail::new(
                    0,
                    "an IPv6 registry must be followed by '/' and a repository path",
                )
            } else {
                Fail::new(0, "unclosed '[' in an IPv6 registry address")
            });
        }
        None => {}
    }

    let path = scan_path(input, path_start)?;
    let mut pos = path.end;
    let mut tag = None;
    if b.get(pos) == Some(&b':') {
        let end = scan_tag(input, pos + 1, true)?;
        tag = Some((pos + 1, end));
        pos = end;
    }
    let mut digest = None;
    if b.get(pos) == Some(&b'@') {
        scan_digest(input, pos + 1)?;
        digest = Some((pos + 1, b.len()));
        pos = b.len();
    }
    if pos != b.len() {
        // Unreachable by construction; kept so that no input can slip through.
        return Err(bad_char(input, pos, "reference"));
    }

    let registry_len = match domain {
        None => DEFAULT_REGISTRY.len(),
        Some((s, e)) if &b[s..e] == LEGACY_REGISTRY.as_bytes() => DEFAULT_REGISTRY.len(),
        Some((s, e)) => e - s,
    };
    let official = !path.has_slash
        && match domain {
            None => true,
            Some((s, e)) => {
                &b[s..e] == DEFAULT_REGISTRY.as_bytes() || &b[s..e] == LEGACY_REGISTRY.as_bytes()
            }
        };
    let total = registry_len
        + 1
        + (path.end - path_start)
        + if official { OFFICIAL_PREFIX.len() } else { 0 };
    if total > NAME_MAX {
        let pos = path.end.saturating_sub(total - NAME_MAX);
        return Err(Fail::new(pos, too_long_reason(total, official)));
    }

    Ok(Spans {
        domain,
        path: (path_start, path.end),
        path_has_slash: path.has_slash,
        tag,
        digest,
    })
}

/// `https://…`, `oci://…`: a URL scheme before the first `/` (at `slash`).
fn check_scheme(input: &str, slash: usize, suggest: bool) -> Result<(), Fail> {
    let b = input.as_bytes();
    if slash < 2 || b[slash - 1] != b':' || b.get(slash + 1) != Some(&b'/') {
        return Ok(());
    }
    let scheme = &b[..slash - 1];
    let is_scheme = scheme[0].is_ascii_alphabetic()
        && scheme
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.');
    if !is_scheme {
        return Ok(());
    }
    let scheme = &input[..slash - 1];
    let rest = &input[slash + 2..];
    let fail = Fail::new(
        0,
        format!("\"{scheme}://\" is a URL scheme, not part of an image reference"),
    );
    Err(if suggest && parse_spans(rest, false).is_ok() {
        fail.with_hint(format!("drop the scheme and write it as \"{rest}\""))
    } else {
        fail.with_hint("drop the scheme".to_owned())
    })
}

/// Validates `s[start..end]` as `host[:port]`; every byte in the range must be consumed.
pub(super) fn scan_domain(s: &str, start: usize, end: usize) -> Result<(), Fail> {
    let b = &s.as_bytes()[..end];
    let mut i = start;
    if b.get(i) == Some(&b'[') {
        let Some(close) = b[i + 1..]
            .iter()
            .position(|&c| c == b']')
            .map(|p| i + 1 + p)
        else {
            return Err(Fail::new(i, "unclosed '[' in an IPv6 registry address")
                .with_hint("add the closing ']'".to_owned()));
        };
        if close == i + 1 {
            return Err(Fail::new(i, "empty IPv6 address in '[]'"));
        }
        if let Some(j) = (i + 1..close).find(|&j| !(b[j].is_ascii_hexdigit() || b[j] == b':')) {
            return Err(bad_char(s, j, "IPv6 address (hex digits and ':' only)"));
        }
        i = close + 1;
    } else {
        loop {
            let label = i;
            while i < end && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
                i += 1;
            }
            if i == label {
                return Err(match b.get(i) {
                    Some(&c) if c != b'.' && c != b':' => bad_char(s, i, "registry host"),
                    Some(b'.') if i == start => Fail::new(i, "registry host cannot start with '.'"),
                    Some(b'.') => Fail::new(i, "empty label ('..') in the registry host"),
                    _ if i == start => Fail::new(i, "registry host is empty"),
                    _ => Fail::new(i - 1, "registry host cannot end with '.'"),
                });
            }
            if b[label] == b'-' {
                return Err(Fail::new(
                    label,
                    "a registry host label cannot start with '-'",
                ));
            }
            if b[i - 1] == b'-' {
                return Err(Fail::new(
                    i - 1,
                    "a registry host label cannot end with '-'",
                ));
            }
            if b.get(i) == Some(&b'.') {
                i += 1;
            } else {
                break;
            }
        }
    }
    match b.get(i) {
        None => Ok(()),
        Some(b':') => {
            if i + 1 == end {
                return Err(Fail::new(i, "empty port after ':'"));
            }
            match (i + 1..end).find(|&j| !b[j].is_ascii_digit()) {
                Some(j) => Err(bad_char(s, j, "registry port (digits only)")),
                None => Ok(()),
            }
        }
        Some(_) => Err(bad_char(s, i, "registry host")),
    }
}

pub(super) struct PathScan {
    pub(super) end: usize,
    pub(super) has_slash: bool,
}

/// Scans path components from `start` up to `:`, `@` or the end of input.
pub(super) fn scan_path(s: &str, start: usize) -> Result<PathScan, Fail> {
    let b = s.as_bytes();
    let mut i = start;
    let mut has_slash = false;
    loop {
        // Start of a component.
        match b.get(i) {
            Some(&c) if is_lower_alnum(c) => i += 1,
            None | Some(b':' | b'@' | b'/') => return Err(empty_component(b, start, i)),
            Some(&c @ (b'.' | b'_' | b'-')) => {
                return Err(Fail::new(
                    i,
                    format!(
                        "a path component must start with a lowercase letter or digit, not '{}'",
                        c as char
                    ),
                ));
            }
            Some(c) if c.is_ascii_uppercase() => {
                return Err(Fail::new(i, "repository path must be lowercase"));
            }
            Some(_) => return Err(bad_char(s, i, "repository path")),
        }
        // Inside a component.
        loop {
            match b.get(i) {
                Some(&c) if is_lower_alnum(c) => i += 1,
                Some(&c @ (b'.' | b'_' | b'-')) => {
                    let sep = i;
                    i += 1;
                    if c == b'_' && b.get(i) == Some(&b'_') {
                        i += 1;
                    } else if c == b'-' {
                        while b.get(i) == Some(&b'-') {
                            i += 1;
                        }
                    }
                    match b.get(i) {
                        Some(&n) if is_lower_alnum(n) => i += 1,
                        Some(&n @ (b'.' | b'_' | b'-')) => {
                            return Err(Fail::new(
                                i,
                                format!(
                                    "'{}' cannot follow '{}' in a path component; separators are '.', '_', '__' or dashes",
                                    n as char,
                                    &s[sep..i]
                                ),
                            ));
                        }
                        None | Some(b':' | b'@' | b'/') => {
                            return Err(Fail::new(
                                sep,
                                format!("a path component cannot end with '{}'", &s[sep..i]),
                            ));
                        }
                        Some(n) if n.is_ascii_uppercase() => {
                            return Err(Fail::new(i, "repository path must be lowercase"));
                        }
                        Some(_) => return Err(bad_char(s, i, "repository path")),
                    }
                }
                Some(b'/') => {
                    i += 1;
                    has_slash = true;
                    break;
                }
                None | Some(b':' | b'@') => return Ok(PathScan { end: i, has_slash }),
                Some(c) if c.is_ascii_uppercase() => {
                    return Err(Fail::new(i, "repository path must be lowercase"));
                }
                Some(_) => return Err(bad_char(s, i, "repository path")),
            }
        }
    }
}

/// A path component is empty at `i` (which is `start`, or just after a `/`).
fn empty_component(b: &[u8], start: usize, i: usize) -> Fail {
    let next = b.get(i).copied();
    if i == start {
        if start == 0 {
            return match next {
                Some(b'/') => Fail::new(0, "the repository path cannot start with '/'"),
                Some(c) => Fail::new(0, format!("missing repository name before '{}'", c as char)),
                None => Fail::new(0, "empty reference"),
            };
        }
        // Right after the registry's '/'.
        return match next {
            Some(b'/') => Fail::new(i, "empty path component ('//')"),
            _ => Fail::new(start - 1, "missing repository path after the registry"),
        };
    }
    match next {
        Some(b'/') => Fail::new(i, "empty path component ('//')"),
        _ => Fail::new(i - 1, "the repository path cannot end with '/'"),
    }
}

/// Scans a tag starting at `start` (just after `:`); stops at `@` when `stop_at_at`.
pub(super) fn scan_tag(s: &str, start: usize, stop_at_at: bool) -> Result<usize, Fail> {
    let b = s.as_bytes();
    if let Some(&c @ (b'.' | b'-')) = b.get(start) {
        return Err(Fail::new(
            start,
            format!(
                "a tag must start with a letter, digit or '_', not '{}'",
                c as char
            ),
        ));
    }
    let mut i = start;
    while let Some(&c) = b.get(i) {
        if c == b'@' && stop_at_at {
            break;
        }
        if !(is_word(c) || c == b'.' || c == b'-') {
            return Err(bad_char(s, i, "tag"));
        }
        i += 1;
    }
    let len = i - start;
    if len == 0 {
        return Err(Fail::new(start.saturating_sub(1), "empty tag after ':'"));
    }
    if len > TAG_MAX {
        return Err(Fail::new(
            start + TAG_MAX,
            format!("tag is {len} characters long; at most {TAG_MAX} are allowed"),
        ));
    }
    Ok(i)
}

const SHAPE: &str = "a digest looks like <algorithm>:<hex>, e.g. sha256:<64 hex digits>";

/// Scans `algorithm:encoded` from `start` (just after `@`) to the end of input.
pub(super) fn scan_digest(s: &str, start: usize) -> Result<(), Fail> {
    let b = s.as_bytes();
    let n = b.len();
    if start >= n {
        return Err(Fail::new(start.saturating_sub(1), "empty digest after '@'"));
    }
    // Algorithm: lowercase alphanumeric runs joined by single [.+_-].
    let mut i = start;
    loop {
        let run = i;
        while i < n && is_lower_alnum(b[i]) {
            i += 1;
        }
        if i == run {
            return Err(match b.get(i) {
                Some(b':') if i == start => {
                    Fail::new(i, "missing digest algorithm before ':'").with_hint(SHAPE.to_owned())
                }
                None | Some(b':') => Fail::new(
                    i - 1,
                    format!(
                        "the digest algorithm cannot end with '{}'",
                        b[i - 1] as char
                    ),
                ),
                Some(&c @ (b'.' | b'+' | b'_' | b'-')) if i == start => Fail::new(
                    i,
                    format!(
                        "the digest algorithm must start with a lowercase letter or digit, not '{}'",
                        c as char
                    ),
                ),
                Some(&c @ (b'.' | b'+' | b'_' | b'-')) => Fail::new(
                    i,
                    format!(
                        "'{}' cannot follow '{}' in the digest algorithm",
                        c as char,
                        b[i - 1] as char
                    ),
                ),
                Some(c) if c.is_ascii_uppercase() => {
                    Fail::new(i, "the digest algorithm must be lowercase")
                }
                Some(_) => bad_char(s, i, "digest algorithm"),
            });
        }
        match b.get(i) {
            Some(b'.' | b'+' | b'_' | b'-') => i += 1,
            Some(b':') => break,
            None => {
                return Err(
                    Fail::new(start, "the digest has no ':' after its algorithm")
                        .with_hint(SHAPE.to_owned()),
                );
            }
            Some(c) if c.is_ascii_uppercase() => {
                return Err(Fail::new(i, "the digest algorithm must be lowercase"));
            }
            Some(_) => return Err(bad_char(s, i, "digest algorithm")),
        }
    }
    let algorithm = &s[start..i];
    let colon = i;
    let encoded = colon + 1;
    if encoded == n {
        return Err(Fail::new(colon, "empty digest value after ':'"));
    }
    let expected = match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    };
    for (j, &c) in b.iter().enumerate().skip(encoded) {
        let valid = c.is_ascii_alphanumeric() || c == b'=' || c == b'_' || c == b'-';
        if !valid {
            return Err(bad_char(s, j, "digest"));
        }
        if expected.is_some() && !is_lower_hex(c) {
            return Err(if c.is_ascii_hexdigit() {
                Fail::new(
                    j,
                    format!(
                        "a {algorithm} digest must be lowercase hex, not '{}'",
                        c as char
                    ),
                )
            } else {
                Fail::new(
                    j,
                    format!("a {algorithm} digest must be hex, not '{}'", c as char),
                )
            });
        }
    }
    if let Some(want) = expected {
        let len = n - encoded;
        if len != want {
            let pos = if len < want { encoded } else { encoded + want };
            return Err(Fail::new(
                pos,
                format!("a {algorithm} digest has {want} hex digits, this one has {len}"),
            ));
        }
    }
    Ok(())
}

/// Docker's rule: when a reference fails and its lowercased name would parse, the problem is
/// case. Report it at the first uppercase letter of the path, with the lowercase form;
/// otherwise report the lowercased name's own error (same positions, as lowercasing is
/// byte-for-byte).
pub(super) fn refine_case(input: &str, fail: Fail) -> Fail {
    let b = input.as_bytes();
    let at = b.iter().position(|&c| c == b'@').unwrap_or(b.len());
    let after_slash = b[..at]
        .iter()
        .rposition(|&c| c == b'/')
        .map_or(0, |p| p + 1);
    let name_end = b[after_slash..at]
        .iter()
        .position(|&c| c == b':')
        .map_or(at, |p| after_slash + p);
    let Some(first_upper) = b[..name_end].iter().position(u8::is_ascii_uppercase) else {
        return fail;
    };
    let mut lower = String::with_capacity(input.len());
    lower.push_str(&input[..name_end].to_ascii_lowercase());
    lower.push_str(&input[name_end..]);
    match parse_spans(&lower, true) {
        Ok(spans) => {
            let (ps, pe) = spans.path;
            let pos = b[ps..pe]
                .iter()
                .position(u8::is_ascii_uppercase)
                .map_or(first_upper, |k| ps + k);
            Fail::new(pos, "repository path must be lowercase")
                .with_hint(format!("write it as \"{lower}\""))
        }
        Err(other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors::{H64, err, ok, valid_vectors};
    use super::*;

    /// input, byte position, a piece of the reason
    fn invalid_vectors() -> Vec<(String, usize, &'static str)> {
        let s = |x: &str| x.to_owned();
        let h63 = &H64[..63];
        vec![
            (s(""), 0, "empty reference"),
            (s(" nginx"), 0, "starts with whitespace"),
            (s("nginx "), 5, "ends with whitespace"),
            (s("nginx\n"), 5, "ends with whitespace"),
            (s("\tnginx"), 0, "starts with whitespace"),
            (s("Nginx"), 0, "must be lowercase"),
            (s("nginx/Web"), 6, "must be lowercase"),
            (s("ghcr.io/Org/App:V1"), 8, "must be lowercase"),
            (s("My_Org/app"), 0, "must be lowercase"),
            (s("LOCALHOST/Foo"), 10, "must be lowercase"),
            (s("nginx:"), 5, "empty tag"),
            (s("nginx:@sha256:x"), 5, "empty tag"),
            (s("nginx@sha256:abc"), 13, "64 hex digits, this one has 3"),
            (format!("nginx@sha256:{h63}"), 13, "this one has 63"),
            (format!("nginx@sha256:{H64}0"), 13 + 64, "this one has 65"),
            (
                format!("nginx@sha256:{}", H64.to_uppercase()),
                13 + 10,
                "lowercase hex",
            ),
            (format!("nginx@sha256:{h63}g"), 13 + 63, "must be hex"),
            (format!("nginx@sha512:{H64}"), 13, "128 hex digits"),
            (s("nginx@sha256"), 6, "no ':'"),
            (s("nginx@"), 5, "empty digest"),
            (s("nginx@sha256:"), 12, "empty digest value"),
            (s("nginx@:abc"), 6, "missing digest algorithm"),
            (s("nginx@SHA256:abc"), 6, "algorithm must be lowercase"),
            (s("nginx@sha..x:abc"), 10, "cannot follow"),
            (s("nginx@sha-:abc"), 9, "cannot end with '-'"),
            (s("nginx@-sha:abc"), 6, "must start with"),
            (
                format!("nginx@sha256:{H64}@sha256:{H64}"),
                13 + 64,
                "invalid character '@' in the digest",
            ),
            (
                format!("nginx@sha256:{H64}:1"),
                13 + 64,
                "invalid character ':' in the digest",
            ),
            (
                format!("nginx@sha256:{H64} "),
                13 + 64,
                "ends with whitespace",
            ),
            (
                s("nginx@foo:a/b"),
                5,
                "invalid character '@' in the registry host",
            ),
            (
                s("nginx:tag with space"),
                9,
                "whitespace is not allowed in the tag",
            ),
            (s("nginx:1:2"), 7, "invalid character ':' in the tag"),
            (s("nginx:.1"), 6, "must start with a letter"),
            (s("nginx:-1"), 6, "must start with a letter"),
            (s("nginx:a+b"), 7, "invalid character '+' in the tag"),
            (
                format!("nginx:{}", "t".repeat(129)),
                6 + 128,
                "tag is 129 characters",
            ),
            (s("https://nginx"), 0, "URL scheme"),
            (s("oci://ghcr.io/x/y"), 0, "URL scheme"),
            (s("http://localhost:5000/foo"), 0, "URL scheme"),
            (s("a//b"), 2, "empty path component"),
            (s("ghcr.io//b"), 8, "empty path component"),
            (s("foo/"), 3, "cannot end with '/'"),
            (s("foo/:tag"), 3, "cannot end with '/'"),
            (s("/foo"), 0, "cannot start with '/'"),
            (s("docker.io/"), 9, "missing repository path"),
            (s("docker.io/:1"), 9, "missing repository path"),
            (s(":tag"), 0, "missing repository name before ':'"),
            (
                format!("@sha256:{H64}"),
                0,
                "missing repository name before '@'",
            ),
            (s("[::1"), 0, "unclosed '['"),
            (s("[::1/foo"), 0, "unclosed '['"),
            (s("[::1]:5000"), 0, "followed by '/'"),
            (s("[]:5000/x"), 0, "empty IPv6"),
            (s("[::g]:1/x"), 3, "IPv6 address"),
            (
                s("[::1]x:1/y"),
                5,
                "invalid character 'x' in the registry host",
            ),
            (s("[::1]:/y"), 5, "empty port"),
            (
                s("host:port/x"),
                5,
                "invalid character 'p' in the registry port",
            ),
            (s("localhost:/x"), 9, "empty port"),
            (s("localhost:50a0/x"), 12, "registry port"),
            (s("a:1:2/x"), 3, "registry port"),
            (s("foo..com/bar"), 4, "empty label"),
            (s("-foo.com/bar"), 0, "cannot start with '-'"),
            (s("foo-.com/bar"), 3, "cannot end with '-'"),
            (s("foo.com./bar"), 7, "cannot end with '.'"),
            (s("foo.com.:5/bar"), 7, "cannot end with '.'"),
            (s(".foo/bar"), 0, "cannot start with '.'"),
            (s(":5000/bar"), 0, "registry host is empty"),
            // A '.' in the first of several components makes it a registry, as in Docker.
            (
                s("a_b.c/d"),
                1,
                "invalid character '_' in the registry host",
            ),
            (
                s("foo_bar.com/x"),
                3,
                "invalid character '_' in the registry host",
            ),
            (s("a..b"), 2, "'.' cannot follow '.'"),
            (s("a___b"), 3, "'_' cannot follow '__'"),
            (s("a.-b"), 2, "'-' cannot follow '.'"),
            (s("a-_b"), 2, "'_' cannot follow '-'"),
            (s("-a"), 0, "must start with a lowercase letter or digit"),
            (s("x/_a"), 2, "must start with a lowercase letter or digit"),
            (s("a-"), 1, "cannot end with '-'"),
            (s("a--/b"), 1, "cannot end with '--'"),
            (s("a./b"), 1, "cannot end with '.'"),
            (s("a_:1"), 1, "cannot end with '_'"),
            (s("a!b"), 1, "invalid character '!' in the repository path"),
            (s("ñginx"), 0, "non-ASCII character 'ñ'"),
            (
                s("nginx:é"),
                6,
                "non-ASCII character 'é' (U+00E9) in the tag",
            ),
            (s("ghcr.io/é"), 8, "non-ASCII"),
            (s("ngi\u{0}nx"), 3, "control character U+0000"),
            (s("nginx\u{a0}"), 5, "non-ASCII"),
            (s(H64), 0, "image ID"),
        ]
    }

    #[test]
    fn invalid_vectors_fail_precisely() {
        for (input, position, reason) in invalid_vectors() {
            let e = err(&input);
            assert_eq!(e.input(), input);
            assert!(
                e.reason().contains(reason),
                "{input:?}: reason {:?} should contain {reason:?}",
                e.reason()
            );
            assert_eq!(e.position(), position, "{input:?}: {e}");
            assert!(e.position() <= input.len());
            assert!(e.to_string().contains(e.reason()));
        }
    }

    #[test]
    fn name_length_limit() {
        // Explicit registry: 12 + 243 = 255 is fine, 256 is not.
        let at_limit = format!("example.com/{}", "a".repeat(243));
        assert_eq!(ok(&at_limit).name().len(), 255);
        let over = format!("example.com/{}", "a".repeat(244));
        let e = err(&over);
        assert!(e.reason().contains("256 characters"), "{e}");
        assert_eq!(e.position(), over.len() - 1);
        // Docker Hub: the normalised "docker.io/library/" (18) counts.
        assert_eq!(ok(&"a".repeat(237)).name().len(), 255);
        let e = err(&"a".repeat(238));
        assert!(
            e.reason()
                .contains("256 characters long once written as \"docker.io/library/"),
            "{e}"
        );
        assert_eq!(e.position(), 237);
        let e = err(&"a".repeat(256));
        assert!(e.reason().contains("274 characters"), "{e}");
        // A tag does not count towards the name.
        ok(&format!(
            "example.com/{}:{}",
            "a".repeat(243),
            "t".repeat(128)
        ));
        // index.docker.io counts as docker.io.
        ok(&format!("index.docker.io/a/{}", "b".repeat(243)));
        err(&format!("docker.io/a/{}", "b".repeat(244)));
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(
            err("Nginx/Web:1.2").to_string(),
            "\"Nginx/Web:1.2\" is not an image reference: repository path must be lowercase (character 1); \
             write it as \"nginx/web:1.2\""
        );
        assert_eq!(
            err("ghcr.io/Org/App:V1").to_string(),
            "\"ghcr.io/Org/App:V1\" is not an image reference: repository path must be lowercase (character 9); \
             write it as \"ghcr.io/org/app:V1\""
        );
        assert_eq!(
            err("https://ghcr.io/x/y:1").to_string(),
            "\"https://ghcr.io/x/y:1\" is not an image reference: \"https://\" is a URL scheme, not part of an image \
             reference (character 1); drop the scheme and write it as \"ghcr.io/x/y:1\""
        );
        assert_eq!(err("https://a b").hint(), Some("drop the scheme"));
        assert_eq!(
            err(" nginx").to_string(),
            "\" nginx\" is not an image reference: starts with whitespace (character 1); trim the input first"
        );
        assert_eq!(
            err("nginx:tag with space").to_string(),
            "\"nginx:tag with space\" is not an image reference: whitespace is not allowed in the tag (character 10)"
        );
        assert_eq!(
            err("nginx@sha256:abc").to_string(),
            "\"nginx@sha256:abc\" is not an image reference: a sha256 digest has 64 hex digits, this one has 3 \
             (character 14)"
        );
        assert_eq!(
            err("host:port/x").to_string(),
            "\"host:port/x\" is not an image reference: invalid character 'p' in the registry port (digits only) \
             (character 6)"
        );
        // Character positions count characters, not bytes.
        assert!(err("ñé:x y").to_string().contains("(character 1)"));
        let e = err("ab:é");
        assert_eq!(e.position(), 3);
        assert!(e.to_string().contains("(character 4)"), "{e}");
        let e = err("a:éé");
        assert_eq!(e.position(), 2);
        // Control characters are escaped in the message.
        assert!(err("a\u{1}b").to_string().starts_with("\"a\\u{1}b\""));
        // Uppercase that is not the only problem: the other problem is reported.
        let e = err("Nginx:a b");
        assert!(e.reason().contains("whitespace"), "{e}");
        assert_eq!(e.input(), "Nginx:a b");
        let e = err("Nginx");
        assert_eq!(e.hint(), Some("write it as \"nginx\""));
        let e = err("a/B@sha256:abc");
        assert!(e.reason().contains("64 hex digits"), "{e}");
    }
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Parse must never panic; when it succeeds the result must be self-consistent, and when it
    /// fails the error must point inside (or just past) the input.
    fn check_any(input: &str) {
        match Reference::parse(input) {
            Ok(r) => {
                let c = r.canonical();
                let again = Reference::parse(&c)
                    .unwrap_or_else(|e| panic!("canonical of {input:?} = {c:?}: {e}"));
                assert_eq!(again.canonical(), c, "{input:?}");
                let f = r.familiar();
                let fam = Reference::parse(&f)
                    .unwrap_or_else(|e| panic!("familiar of {input:?} = {f:?}: {e}"));
                assert_eq!(fam.canonical(), c, "{input:?}");
                assert!(r.name().len() <= NAME_MAX);
            }
            Err(e) => {
                assert!(e.position() <= input.len(), "{input:?}: {e:?}");
                assert!(!e.reason().is_empty());
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn no_panic_on_truncations() {
        let mut inputs: Vec<String> = valid_vectors().into_iter().map(|v| v.0).collect();
        inputs.extend(invalid_vectors().into_iter().map(|v| v.0));
        for input in &inputs {
            for (i, _) in input
                .char_indices()
                .chain(std::iter::once((input.len(), ' ')))
            {
                check_any(&input[..i]);
                check_any(&input[i..]);
            }
        }
    }

    #[test]
    fn no_panic_on_random_input() {
        const ALPHABET: &[&str] = &[
            "a",
            "b",
            "z",
            "0",
            "9",
            "A",
            "Z",
            ".",
            "..",
            "_",
            "__",
            "-",
            "--",
            ":",
            "/",
            "//",
            "@",
            "[",
            "]",
            "::",
            "sha256:",
            "sha512:",
            "docker.io",
            "index.docker.io",
            "localhost",
            "library",
            "https://",
            " ",
            "\t",
            "é",
            "\u{0}",
            "\u{7f}",
            "=",
            "+",
            "%",
            "5000",
            H64,
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let seeds: Vec<String> = valid_vectors().into_iter().map(|v| v.0).collect();
        for round in 0..20_000 {
            let input = match round % 3 {
                // Tokens from a hostile alphabet.
                0 => {
                    let n = rng.below(12);
                    (0..n)
                        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                        .collect::<String>()
                }
                // Arbitrary bytes, made into text.
                1 => {
                    let n = rng.below(40);
                    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                // A valid reference with one token spliced in.
                _ => {
                    let seed = &seeds[rng.below(seeds.len())];
                    let at = rng.below(seed.len() + 1);
                    let cut = (at + rng.below(3)).min(seed.len());
                    format!(
                        "{}{}{}",
                        &seed[..at],
                        ALPHABET[rng.below(ALPHABET.len())],
                        &seed[cut..]
                    )
                }
            };
            check_any(&input);
        }
        // Long inputs must not recurse or misbehave.
        check_any(&"https://".repeat(10_000));
        check_any(&"a/".repeat(100_000));
        check_any(&"A".repeat(100_000));
        check_any(&format!("{}:{}", "a".repeat(100), "t".repeat(100_000)));
    }
}
