//! Container image references: the grammar and normalisation of Docker's
//! `distribution/reference` package, written as a hand-rolled single-pass scanner.
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
use std::fmt;
use std::str::FromStr;

const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_REGISTRY: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed, normalised container image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: Cow<'static, str>,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
    explicit_registry: bool,
}

/// Why a string is not an image reference, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceError {
    input: String,
    position: usize,
    reason: Cow<'static, str>,
    hint: Option<String>,
}

impl ReferenceError {
    /// The text that failed to parse (for `with_*`, the reference as it would have been written).
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Byte offset of the offending character in [`input`](Self::input) (0-based).
    #[must_use]
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong, without the position or the suggestion.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// A suggested fix, such as `write it as "nginx/web:1.2"`, when there is one.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 1-based character (not byte) position, so non-ASCII input counts sensibly.
        let character = match self.input.get(..self.position) {
            Some(before) => before.chars().count() + 1,
            None => self.position + 1,
        };
        write!(
            f,
            "{:?} is not an image reference: {} (character {})",
            self.input, self.reason, character
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReferenceError {}

impl Reference {
    /// Parses and normalises `input`. Whitespace around the reference is an error: trim first.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        match parse_spans(input, true) {
            Ok(spans) => Ok(spans.build(input)),
            Err(fail) => Err(refine_case(input, fail).into_error(input.to_owned())),
        }
    }

    /// The registry host (and port): `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry: `library/nginx`, `bitnami/redis`.
    #[must_use]
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag as written, if any (no `latest` default here).
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if any.
    #[must_use]
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether the input named a registry (`docker.io/nginx` did, `nginx` did not).
    #[must_use]
    pub fn has_explicit_registry(&self) -> bool {
        self.explicit_registry
    }

    /// `registry/repository`, e.g. `docker.io/library/nginx`.
    #[must_use]
    pub fn name(&self) -> String {
        let mut out = String::with_capacity(self.registry.len() + 1 + self.repository.len());
        out.push_str(&self.registry);
        out.push('/');
        out.push_str(&self.repository);
        out
    }

    /// `registry/repository[:tag][@digest]`; `:latest` is added when there is neither a tag
    /// nor a digest (what a runtime pulls).
    #[must_use]
    pub fn canonical(&self) -> String {
        let mut out = String::with_capacity(
            self.registry.len() + 1 + self.repository.len() + self.suffix_len(),
        );
        out.push_str(&self.registry);
        out.push('/');
        out.push_str(&self.repository);
        self.push_suffix(&mut out);
        out
    }

    /// Docker's familiar form: `docker.io/` and `library/` dropped (`nginx:1.27`,
    /// `bitnami/redis:7`, `ghcr.io/x/y:1`), with the same tag/digest as
    /// [`canonical`](Self::canonical), `:latest` default included.
    ///
    /// Unlike Docker, `docker.io/` is kept when dropping it would make the first path
    /// component read as a registry (`docker.io/foo.bar/baz`), so the result always parses back
    /// to the same reference.
    #[must_use]
    pub fn familiar(&self) -> String {
        let mut out = String::with_capacity(
            self.registry.len() + 1 + self.repository.len() + self.suffix_len(),
        );
        if self.registry == DEFAULT_REGISTRY {
            let repo = self.repository.as_str();
            let short = match repo.strip_prefix(OFFICIAL_PREFIX) {
                Some(rest) if !rest.contains('/') => rest,
                _ => repo,
            };
            let ambiguous = short
                .find('/')
                .is_some_and(|slash| looks_like_domain(&short.as_bytes()[..slash]));
            if ambiguous {
                out.push_str(DEFAULT_REGISTRY);
                out.push('/');
            }
            out.push_str(short);
        } else {
            out.push_str(&self.registry);
            out.push('/');
            out.push_str(&self.repository);
        }
        self.push_suffix(&mut out);
        out
    }

    /// The same reference with `tag` (validated) in place of its tag; any digest is kept.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if scan_tag(tag, 0, false).is_err() {
            // Re-scan inside the reference as it would be written, for a useful position.
            let text = format!("{}:{}", self.name(), tag);
            let start = text.len() - tag.len();
            let fail = scan_tag(&text, start, false)
                .err()
                .unwrap_or_else(|| Fail::new(start, "invalid tag"));
            return Err(fail.into_error(text));
        }
        let mut out = self.clone();
        out.tag = Some(tag.to_owned());
        Ok(out)
    }

    /// The same reference with `digest` (validated) in place of its digest; any tag is kept.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if scan_digest(digest, 0).is_err() {
            let mut text = self.name();
            if let Some(tag) = &self.tag {
                text.push(':');
                text.push_str(tag);
            }
            text.push('@');
            let start = text.len();
            text.push_str(digest);
            let fail = scan_digest(&text, start)
                .err()
                .unwrap_or_else(|| Fail::new(start, "invalid digest"));
            return Err(fail.into_error(text));
        }
        let mut out = self.clone();
        out.digest = Some(digest.to_owned());
        Ok(out)
    }

    /// The same tag and digest under another registry and repository, validated and
    /// normalised like a parsed name (`index.docker.io` → `docker.io`, `library/` added for a
    /// single-component Docker Hub path).
    ///
    /// The registry must be one that reads as a registry in front of a path (it contains `.`
    /// or `:`, is `localhost`, or has an uppercase letter); otherwise the canonical form would
    /// parse back as a Docker Hub path.
    pub fn with_registry_and_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Reference, ReferenceError> {
        let text = || {
            let mut t =
                String::with_capacity(registry.len() + 1 + repository.len() + self.suffix_len());
            t.push_str(registry);
            t.push('/');
            t.push_str(repository);
            if let Some(tag) = &self.tag {
                t.push(':');
                t.push_str(tag);
            }
            if let Some(digest) = &self.digest {
                t.push('@');
                t.push_str(digest);
            }
            t
        };
        let rb = registry.as_bytes();
        if rb.is_empty() {
            return Err(Fail::new(0, "empty registry").into_error(text()));
        }
        if let Err(fail) = scan_domain(registry, 0, rb.len()) {
            return Err(fail.into_error(text()));
        }
        if !looks_like_domain(rb) {
            let fail = Fail::new(
                0,
                format!(
                    "registry \"{registry}\" would be read as part of the repository path; \
                     a registry needs a '.', a ':port', or to be \"localhost\""
                ),
            );
            return Err(fail.into_error(text()));
        }
        let offset = rb.len() + 1;
        if repository.is_empty() {
            return Err(
                Fail::new(rb.len(), "missing repository path after the registry")
                    .into_error(text()),
            );
        }
        let path = match scan_path(repository, 0) {
            Ok(path) if path.end == repository.len() => path,
            Ok(path) => {
                let fail = bad_char(repository, path.end, "repository path");
                return Err(fail.shifted(offset).into_error(text()));
            }
            Err(fail) => {
                let mut fail = fail.shifted(offset);
                if repository.bytes().any(|c| c.is_ascii_uppercase()) {
                    let lower = repository.to_ascii_lowercase();
                    if matches!(scan_path(&lower, 0), Ok(p) if p.end == lower.len()) {
                        let first = repository
                            .bytes()
                            .position(|c| c.is_ascii_uppercase())
                            .unwrap_or(0);
                        fail = Fail::new(offset + first, "repository path must be lowercase")
                            .with_hint(format!("write the repository as \"{lower}\""));
                    }
                }
                return Err(fail.into_error(text()));
            }
        };
        let (registry_out, official) = normalise_registry(registry, path.has_slash);
        let repo_len = repository.len() + if official { OFFICIAL_PREFIX.len() } else { 0 };
        let total = registry_out.len() + 1 + repo_len;
        if total > NAME_MAX {
            let pos = offset + repository.len().saturating_sub(total - NAME_MAX);
            return Err(Fail::new(pos, too_long_reason(total, official)).into_error(text()));
        }
        Ok(Reference {
            registry: registry_out,
            repository: repository_string(repository, official),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
            explicit_registry: true,
        })
    }

    fn suffix_len(&self) -> usize {
        match (&self.tag, &self.digest) {
            (None, None) => 7,
            (tag, digest) => {
                tag.as_ref().map_or(0, |t| t.len() + 1) + digest.as_ref().map_or(0, |d| d.len() + 1)
            }
        }
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        if self.tag.is_none() && self.digest.is_none() {
            out.push_str(":latest");
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Scanner

/// A failure inside the scanner; turned into a [`ReferenceError`] at the API boundary.
#[derive(Debug)]
struct Fail {
    pos: usize,
    reason: Cow<'static, str>,
    hint: Option<String>,
}

impl Fail {
    fn new(pos: usize, reason: impl Into<Cow<'static, str>>) -> Fail {
        Fail {
            pos,
            reason: reason.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: String) -> Fail {
        self.hint = Some(hint);
        self
    }

    fn shifted(mut self, by: usize) -> Fail {
        self.pos += by;
        self
    }

    fn into_error(self, input: String) -> ReferenceError {
        ReferenceError {
            input,
            position: self.pos,
            reason: self.reason,
            hint: self.hint,
        }
    }
}

/// Byte ranges of a successfully scanned reference.
struct Spans {
    domain: Option<(usize, usize)>,
    path: (usize, usize),
    path_has_slash: bool,
    tag: Option<(usize, usize)>,
    digest: Option<(usize, usize)>,
}

impl Spans {
    fn build(&self, input: &str) -> Reference {
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
fn normalise_registry(domain: &str, path_has_slash: bool) -> (Cow<'static, str>, bool) {
    if domain == DEFAULT_REGISTRY || domain == LEGACY_REGISTRY {
        (Cow::Borrowed(DEFAULT_REGISTRY), !path_has_slash)
    } else {
        (Cow::Owned(domain.to_owned()), false)
    }
}

fn repository_string(path: &str, official: bool) -> String {
    if official {
        let mut repo = String::with_capacity(OFFICIAL_PREFIX.len() + path.len());
        repo.push_str(OFFICIAL_PREFIX);
        repo.push_str(path);
        repo
    } else {
        path.to_owned()
    }
}

fn too_long_reason(total: usize, official: bool) -> String {
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
fn looks_like_domain(first: &[u8]) -> bool {
    first == b"localhost"
        || first
            .iter()
            .any(|&c| c == b'.' || c == b':' || c.is_ascii_uppercase())
}

/// An error for the character at `pos`, which is not allowed in `context`.
fn bad_char(s: &str, pos: usize, context: &str) -> Fail {
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
fn parse_spans(input: &str, suggest: bool) -> Result<Spans, Fail> {
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
fn scan_domain(s: &str, start: usize, end: usize) -> Result<(), Fail> {
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

struct PathScan {
    end: usize,
    has_slash: bool,
}

/// Scans path components from `start` up to `:`, `@` or the end of input.
fn scan_path(s: &str, start: usize) -> Result<PathScan, Fail> {
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
fn scan_tag(s: &str, start: usize, stop_at_at: bool) -> Result<usize, Fail> {
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
fn scan_digest(s: &str, start: usize) -> Result<(), Fail> {
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
fn refine_case(input: &str, fail: Fail) -> Fail {
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
    use super::*;

    const H64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn h128() -> String {
        H64.repeat(2)
    }

    fn ok(input: &str) -> Reference {
        match Reference::parse(input) {
            Ok(r) => r,
            Err(e) => panic!("{input:?} should parse: {e}"),
        }
    }

    fn err(input: &str) -> ReferenceError {
        match Reference::parse(input) {
            Ok(r) => panic!("{input:?} should not parse, got {r:?}"),
            Err(e) => e,
        }
    }

    /// input, registry, repository, tag, digest, canonical, familiar, explicit registry
    type Vector = (
        String,
        &'static str,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        bool,
    );

    fn valid_vectors() -> Vec<Vector> {
        let d = format!("sha256:{H64}");
        let d512 = format!("sha512:{}", h128());
        let long_tag = "t".repeat(128);
        let s = |x: &str| x.to_owned();
        let o = |x: &str| Some(x.to_owned());
        vec![
            (
                s("docker.io/library/nginx"),
                "docker.io",
                s("library/nginx"),
                None,
                None,
                s("docker.io/library/nginx:latest"),
                s("nginx:latest"),
                true,
            ),
            (
                s("nginx"),
                "docker.io",
                s("library/nginx"),
                None,
                None,
                s("docker.io/library/nginx:latest"),
                s("nginx:latest"),
                false,
            ),
            (
                s("nginx:1.27"),
                "docker.io",
                s("library/nginx"),
                o("1.27"),
                None,
                s("docker.io/library/nginx:1.27"),
                s("nginx:1.27"),
                false,
            ),
            (
                format!("nginx@{d}"),
                "docker.io",
                s("library/nginx"),
                None,
                Some(d.clone()),
                format!("docker.io/library/nginx@{d}"),
                format!("nginx@{d}"),
                false,
            ),
            (
                format!("nginx:1.27@{d}"),
                "docker.io",
                s("library/nginx"),
                o("1.27"),
                Some(d.clone()),
                format!("docker.io/library/nginx:1.27@{d}"),
                format!("nginx:1.27@{d}"),
                false,
            ),
            (
                s("bitnami/redis:7"),
                "docker.io",
                s("bitnami/redis"),
                o("7"),
                None,
                s("docker.io/bitnami/redis:7"),
                s("bitnami/redis:7"),
                false,
            ),
            (
                s("ghcr.io/a/b/c:v1"),
                "ghcr.io",
                s("a/b/c"),
                o("v1"),
                None,
                s("ghcr.io/a/b/c:v1"),
                s("ghcr.io/a/b/c:v1"),
                true,
            ),
            (
                s("localhost/foo"),
                "localhost",
                s("foo"),
                None,
                None,
                s("localhost/foo:latest"),
                s("localhost/foo:latest"),
                true,
            ),
            (
                s("localhost:5000/foo:bar"),
                "localhost:5000",
                s("foo"),
                o("bar"),
                None,
                s("localhost:5000/foo:bar"),
                s("localhost:5000/foo:bar"),
                true,
            ),
            (
                s("[::1]:5000/foo"),
                "[::1]:5000",
                s("foo"),
                None,
                None,
                s("[::1]:5000/foo:latest"),
                s("[::1]:5000/foo:latest"),
                true,
            ),
            (
                s("[2001:db8::1]/foo"),
                "[2001:db8::1]",
                s("foo"),
                None,
                None,
                s("[2001:db8::1]/foo:latest"),
                s("[2001:db8::1]/foo:latest"),
                true,
            ),
            (
                s("index.docker.io/nginx"),
                "docker.io",
                s("library/nginx"),
                None,
                None,
                s("docker.io/library/nginx:latest"),
                s("nginx:latest"),
                true,
            ),
            (
                s("index.docker.io/library/nginx:1"),
                "docker.io",
                s("library/nginx"),
                o("1"),
                None,
                s("docker.io/library/nginx:1"),
                s("nginx:1"),
                true,
            ),
            (
                s("docker.io/nginx"),
                "docker.io",
                s("library/nginx"),
                None,
                None,
                s("docker.io/library/nginx:latest"),
                s("nginx:latest"),
                true,
            ),
            (
                s("library/nginx"),
                "docker.io",
                s("library/nginx"),
                None,
                None,
                s("docker.io/library/nginx:latest"),
                s("nginx:latest"),
                false,
            ),
            (
                format!("registry.k8s.io/ingress-nginx/controller:v1.14.0@{d}"),
                "registry.k8s.io",
                s("ingress-nginx/controller"),
                o("v1.14.0"),
                Some(d.clone()),
                format!("registry.k8s.io/ingress-nginx/controller:v1.14.0@{d}"),
                format!("registry.k8s.io/ingress-nginx/controller:v1.14.0@{d}"),
                true,
            ),
            (
                s("quay.io/prometheus-operator/prometheus-config-reloader:v0.86.0"),
                "quay.io",
                s("prometheus-operator/prometheus-config-reloader"),
                o("v0.86.0"),
                None,
                s("quay.io/prometheus-operator/prometheus-config-reloader:v0.86.0"),
                s("quay.io/prometheus-operator/prometheus-config-reloader:v0.86.0"),
                true,
            ),
            (
                s("a__b"),
                "docker.io",
                s("library/a__b"),
                None,
                None,
                s("docker.io/library/a__b:latest"),
                s("a__b:latest"),
                false,
            ),
            (
                s("a-b--c"),
                "docker.io",
                s("library/a-b--c"),
                None,
                None,
                s("docker.io/library/a-b--c:latest"),
                s("a-b--c:latest"),
                false,
            ),
            (
                s("a_b-c--d---e/f.g"),
                "docker.io",
                s("a_b-c--d---e/f.g"),
                None,
                None,
                s("docker.io/a_b-c--d---e/f.g:latest"),
                s("a_b-c--d---e/f.g:latest"),
                false,
            ),
            (
                s("foo.bar"),
                "docker.io",
                s("library/foo.bar"),
                None,
                None,
                s("docker.io/library/foo.bar:latest"),
                s("foo.bar:latest"),
                false,
            ),
            (
                s("foo.bar:1"),
                "docker.io",
                s("library/foo.bar"),
                o("1"),
                None,
                s("docker.io/library/foo.bar:1"),
                s("foo.bar:1"),
                false,
            ),
            (
                s("my.registry.example.com:443/team/app.name_x:1.0.0-rc.1"),
                "my.registry.example.com:443",
                s("team/app.name_x"),
                o("1.0.0-rc.1"),
                None,
                s("my.registry.example.com:443/team/app.name_x:1.0.0-rc.1"),
                s("my.registry.example.com:443/team/app.name_x:1.0.0-rc.1"),
                true,
            ),
            (
                format!("nginx:{long_tag}"),
                "docker.io",
                s("library/nginx"),
                Some(long_tag.clone()),
                None,
                format!("docker.io/library/nginx:{long_tag}"),
                format!("nginx:{long_tag}"),
                false,
            ),
            (
                s("docker.io/library/a/b"),
                "docker.io",
                s("library/a/b"),
                None,
                None,
                s("docker.io/library/a/b:latest"),
                s("library/a/b:latest"),
                true,
            ),
            // Docker's rule: an uppercase first component is a registry.
            (
                s("Foo/bar"),
                "Foo",
                s("bar"),
                None,
                None,
                s("Foo/bar:latest"),
                s("Foo/bar:latest"),
                true,
            ),
            (
                s("GHCR.IO/org/app:V1"),
                "GHCR.IO",
                s("org/app"),
                o("V1"),
                None,
                s("GHCR.IO/org/app:V1"),
                s("GHCR.IO/org/app:V1"),
                true,
            ),
            // Without a '/', localhost is an ordinary name and ":5000" a tag.
            (
                s("localhost"),
                "docker.io",
                s("library/localhost"),
                None,
                None,
                s("docker.io/library/localhost:latest"),
                s("localhost:latest"),
                false,
            ),
            (
                s("localhost:5000"),
                "docker.io",
                s("library/localhost"),
                o("5000"),
                None,
                s("docker.io/library/localhost:5000"),
                s("localhost:5000"),
                false,
            ),
            (
                format!("example.com/foo@{d512}"),
                "example.com",
                s("foo"),
                None,
                Some(d512.clone()),
                format!("example.com/foo@{d512}"),
                format!("example.com/foo@{d512}"),
                true,
            ),
            (
                s("foo@md5+b64:abc=_-XYZ"),
                "docker.io",
                s("library/foo"),
                None,
                o("md5+b64:abc=_-XYZ"),
                s("docker.io/library/foo@md5+b64:abc=_-XYZ"),
                s("foo@md5+b64:abc=_-XYZ"),
                false,
            ),
            (
                s("a:_tag"),
                "docker.io",
                s("library/a"),
                o("_tag"),
                None,
                s("docker.io/library/a:_tag"),
                s("a:_tag"),
                false,
            ),
            (
                s("a:UPPER.case-tag_1"),
                "docker.io",
                s("library/a"),
                o("UPPER.case-tag_1"),
                None,
                s("docker.io/library/a:UPPER.case-tag_1"),
                s("a:UPPER.case-tag_1"),
                false,
            ),
            // Familiar keeps docker.io/ when the first component would read as a registry.
            (
                s("docker.io/foo.bar/baz"),
                "docker.io",
                s("foo.bar/baz"),
                None,
                None,
                s("docker.io/foo.bar/baz:latest"),
                s("docker.io/foo.bar/baz:latest"),
                true,
            ),
            (
                s("docker.io/localhost/baz:1"),
                "docker.io",
                s("localhost/baz"),
                o("1"),
                None,
                s("docker.io/localhost/baz:1"),
                s("docker.io/localhost/baz:1"),
                true,
            ),
            (
                s("a/b/c/d/e"),
                "docker.io",
                s("a/b/c/d/e"),
                None,
                None,
                s("docker.io/a/b/c/d/e:latest"),
                s("a/b/c/d/e:latest"),
                false,
            ),
            (
                s("127.0.0.1:5000/x/y:z"),
                "127.0.0.1:5000",
                s("x/y"),
                o("z"),
                None,
                s("127.0.0.1:5000/x/y:z"),
                s("127.0.0.1:5000/x/y:z"),
                true,
            ),
            (
                s("sub-domain.ex--ample.com/x"),
                "sub-domain.ex--ample.com",
                s("x"),
                None,
                None,
                s("sub-domain.ex--ample.com/x:latest"),
                s("sub-domain.ex--ample.com/x:latest"),
                true,
            ),
            (
                s("0/1"),
                "docker.io",
                s("0/1"),
                None,
                None,
                s("docker.io/0/1:latest"),
                s("0/1:latest"),
                false,
            ),
            (
                s("host:1/x"),
                "host:1",
                s("x"),
                None,
                None,
                s("host:1/x:latest"),
                s("host:1/x:latest"),
                true,
            ),
            (
                s("[::1]/x"),
                "[::1]",
                s("x"),
                None,
                None,
                s("[::1]/x:latest"),
                s("[::1]/x:latest"),
                true,
            ),
            (
                s("[FE80::A]:443/x"),
                "[FE80::A]:443",
                s("x"),
                None,
                None,
                s("[FE80::A]:443/x:latest"),
                s("[FE80::A]:443/x:latest"),
                true,
            ),
        ]
    }

    #[test]
    fn valid_vectors_parse_as_expected() {
        for (input, registry, repository, tag, digest, canonical, familiar, explicit) in
            valid_vectors()
        {
            let r = ok(&input);
            assert_eq!(r.registry(), registry, "registry of {input}");
            assert_eq!(r.repository(), repository, "repository of {input}");
            assert_eq!(r.tag(), tag.as_deref(), "tag of {input}");
            assert_eq!(r.digest(), digest.as_deref(), "digest of {input}");
            assert_eq!(r.canonical(), canonical, "canonical of {input}");
            assert_eq!(r.to_string(), canonical, "Display of {input}");
            assert_eq!(r.familiar(), familiar, "familiar of {input}");
            assert_eq!(
                r.has_explicit_registry(),
                explicit,
                "explicit registry of {input}"
            );
            assert_eq!(
                r.name(),
                format!("{registry}/{repository}"),
                "name of {input}"
            );
            assert_eq!(
                input.parse::<Reference>().as_ref(),
                Ok(&r),
                "FromStr of {input}"
            );
        }
    }

    #[test]
    fn canonical_and_familiar_round_trip() {
        for (input, ..) in valid_vectors() {
            let x = ok(&input);
            let y = ok(&x.canonical());
            // `explicit_registry` becomes true and an absent tag becomes "latest"; all else is kept.
            assert_eq!(y.registry(), x.registry(), "{input}");
            assert_eq!(y.repository(), x.repository(), "{input}");
            assert_eq!(y.digest(), x.digest(), "{input}");
            let want_tag = x.tag().or(if x.digest().is_none() {
                Some("latest")
            } else {
                None
            });
            assert_eq!(y.tag(), want_tag, "{input}");
            assert!(y.has_explicit_registry());
            // Once canonical, parsing is a fixed point, including the derived equality.
            assert_eq!(ok(&y.canonical()), y, "{input}");
            let f = ok(&x.familiar());
            assert_eq!(
                f.canonical(),
                x.canonical(),
                "familiar of {input} = {}",
                x.familiar()
            );
            assert_eq!(ok(&f.familiar()).familiar(), f.familiar());
        }
        // Plain equality holds whenever the input was already explicit and tagged.
        let x = ok("ghcr.io/a/b:1");
        assert_eq!(ok(&x.canonical()), x);
    }

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

    #[test]
    fn with_tag_and_digest() {
        let d = format!("sha256:{H64}");
        let r = ok("nginx");
        let t = r.with_tag("1.27").unwrap();
        assert_eq!(t.canonical(), "docker.io/library/nginx:1.27");
        assert!(!t.has_explicit_registry());
        let td = t.with_digest(&d).unwrap();
        assert_eq!(td.canonical(), format!("docker.io/library/nginx:1.27@{d}"));
        let td2 = td.with_tag("2").unwrap();
        assert_eq!(td2.canonical(), format!("docker.io/library/nginx:2@{d}"));
        assert_eq!(ok(&td2.canonical()).digest(), Some(d.as_str()));

        let e = r.with_tag("bad tag").unwrap_err();
        assert_eq!(e.input(), "docker.io/library/nginx:bad tag");
        assert_eq!(e.position(), 27);
        assert!(e.reason().contains("whitespace"));
        let e = r.with_tag("").unwrap_err();
        assert!(e.reason().contains("empty tag"));
        assert_eq!(e.position(), 23);
        let e = r.with_tag("a@b").unwrap_err();
        assert!(e.reason().contains("'@'"), "{e}");
        assert!(r.with_tag(&"t".repeat(129)).is_err());
        assert!(r.with_tag(&"t".repeat(128)).is_ok());

        let e = t.with_digest("sha256:abc").unwrap_err();
        assert_eq!(e.input(), "docker.io/library/nginx:1.27@sha256:abc");
        assert_eq!(e.position(), 36);
        assert!(t.with_digest("").is_err());
        assert!(t.with_digest("sha256").is_err());
        assert!(t.with_digest("x:y").is_ok());
    }

    #[test]
    fn with_registry_and_repository() {
        let d = format!("sha256:{H64}");
        let r = ok(&format!("nginx:1.27@{d}"));
        let m = r
            .with_registry_and_repository("mirror.example.com:5000", "hub/nginx")
            .unwrap();
        assert_eq!(
            m.canonical(),
            format!("mirror.example.com:5000/hub/nginx:1.27@{d}")
        );
        assert!(m.has_explicit_registry());
        let h = r
            .with_registry_and_repository("index.docker.io", "nginx")
            .unwrap();
        assert_eq!(h.registry(), "docker.io");
        assert_eq!(h.repository(), "library/nginx");
        assert_eq!(h.familiar(), format!("nginx:1.27@{d}"));
        let l = r.with_registry_and_repository("localhost", "a/b").unwrap();
        assert_eq!(l.canonical(), format!("localhost/a/b:1.27@{d}"));
        r.with_registry_and_repository("[::1]:5000", "a").unwrap();

        let e = r.with_registry_and_repository("", "a").unwrap_err();
        assert!(e.reason().contains("empty registry"));
        let e = r
            .with_registry_and_repository("myregistry", "a")
            .unwrap_err();
        assert!(
            e.reason()
                .contains("would be read as part of the repository path"),
            "{e}"
        );
        let e = r
            .with_registry_and_repository("ghcr.io", "Org/app")
            .unwrap_err();
        assert_eq!(e.position(), 8);
        assert_eq!(e.hint(), Some("write the repository as \"org/app\""));
        let e = r
            .with_registry_and_repository("ghcr.io", "a:b")
            .unwrap_err();
        assert_eq!(e.position(), 9);
        let e = r
            .with_registry_and_repository("ghcr.io/x", "a")
            .unwrap_err();
        assert_eq!(e.position(), 7);
        let e = r
            .with_registry_and_repository("ghcr.io", "a//b")
            .unwrap_err();
        assert_eq!(e.position(), 10);
        let e = r.with_registry_and_repository("ghcr.io", "").unwrap_err();
        assert!(e.reason().contains("missing repository path"), "{e}");
        assert!(
            r.with_registry_and_repository("example.com", &"a".repeat(243))
                .is_ok()
        );
        let e = r
            .with_registry_and_repository("example.com", &"a".repeat(244))
            .unwrap_err();
        assert!(e.reason().contains("256"));
        assert!(
            r.with_registry_and_repository("docker.io", &"a".repeat(237))
                .is_ok()
        );
        assert!(
            r.with_registry_and_repository("docker.io", &"a".repeat(238))
                .is_err()
        );
    }

    #[test]
    fn ordering_and_hashing_are_derived() {
        use std::collections::HashSet;
        let a = ok("a:1");
        let b = ok("b:1");
        assert!(a < b);
        let set: HashSet<Reference> = [ok("nginx"), ok("nginx"), ok("docker.io/library/nginx")]
            .into_iter()
            .collect();
        // explicit_registry is part of equality.
        assert_eq!(set.len(), 2);
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
