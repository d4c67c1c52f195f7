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
//!
//! The work is split by part: [`name`] scans the registry and the repository path,
//! [`tag_digest`] the tag and the digest, [`fail`] words what is wrong, and [`chars`] holds the
//! byte classes they share. This file scans a whole reference ([`parse_spans`]), builds the
//! [`Reference`] from the spans and normalises the registry.

mod chars;
mod fail;
mod name;
mod tag_digest;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use super::Reference;
use chars::is_lower_hex;
pub(super) use fail::{Fail, bad_char};
pub(super) use name::{looks_like_domain, scan_domain, scan_path};
pub(super) use tag_digest::{scan_digest, scan_tag};

pub(super) const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_REGISTRY: &str = "index.docker.io";
pub(super) const OFFICIAL_PREFIX: &str = "library/";
pub(super) const NAME_MAX: usize = 255;

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
    match registry_of(Some(domain), path_has_slash) {
        (DEFAULT_REGISTRY, official) => (Cow::Borrowed(DEFAULT_REGISTRY), official),
        (registry, official) => (Cow::Owned(registry.to_owned()), official),
    }
}

/// The registry a domain (or none) stands for, without allocating, and whether the path needs
/// the `library/` prefix: Docker Hub (no domain, `docker.io`, `index.docker.io`) is
/// `docker.io`, where a single-component path is an official image.
fn registry_of(domain: Option<&str>, path_has_slash: bool) -> (&str, bool) {
    match domain {
        None | Some(DEFAULT_REGISTRY | LEGACY_REGISTRY) => (DEFAULT_REGISTRY, !path_has_slash),
        Some(domain) => (domain, false),
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

/// The length of the normalised name, `registry/[library/]path`, that [`NAME_MAX`] bounds.
pub(super) fn name_len(registry: &str, path_len: usize, official: bool) -> usize {
    registry.len() + 1 + path_len + if official { OFFICIAL_PREFIX.len() } else { 0 }
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

    let (registry, official) = registry_of(domain.map(|(s, e)| &input[s..e]), path.has_slash);
    let total = name_len(registry, path.end - path_start, official);
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
