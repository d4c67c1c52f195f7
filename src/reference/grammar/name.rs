//! The name part of a reference: [`looks_like_domain`] (is the first component a registry?),
//! [`scan_domain`] (`host[:port]`, IPv6 in brackets) and [`scan_path`] (the repository's
//! `/`-separated lowercase components, with the precise error for an empty one).

use super::chars::is_lower_alnum;
use super::fail::{Fail, bad_char};

/// Docker's rule for the text before the first `/`: a domain when it contains `.` or `:`, is
/// `localhost`, or has an uppercase letter.
pub(in crate::reference) fn looks_like_domain(first: &[u8]) -> bool {
    first == b"localhost"
        || first
            .iter()
            .any(|&c| c == b'.' || c == b':' || c.is_ascii_uppercase())
}

/// Validates `s[start..end]` as `host[:port]`; every byte in the range must be consumed.
pub(in crate::reference) fn scan_domain(s: &str, start: usize, end: usize) -> Result<(), Fail> {
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

pub(in crate::reference) struct PathScan {
    pub(in crate::reference) end: usize,
    pub(in crate::reference) has_slash: bool,
}

/// Scans path components from `start` up to `:`, `@` or the end of input.
pub(in crate::reference) fn scan_path(s: &str, start: usize) -> Result<PathScan, Fail> {
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
