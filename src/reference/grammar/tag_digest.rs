//! The suffixes of a reference: [`scan_tag`] (`:tag`, at most 128 word characters, `.` and
//! `-`) and [`scan_digest`] (`@algorithm:encoded`, with the exact hex length of sha256, sha384
//! and sha512).

use super::chars::{is_lower_alnum, is_lower_hex, is_word};
use super::fail::{Fail, bad_char};

const TAG_MAX: usize = 128;

/// Scans a tag starting at `start` (just after `:`); stops at `@` when `stop_at_at`.
pub(in crate::reference) fn scan_tag(
    s: &str,
    start: usize,
    stop_at_at: bool,
) -> Result<usize, Fail> {
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
pub(in crate::reference) fn scan_digest(s: &str, start: usize) -> Result<(), Fail> {
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
