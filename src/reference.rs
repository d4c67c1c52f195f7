//! Container image references ([`Reference`]): parsed, normalised, and written back in
//! canonical (`docker.io/library/nginx:latest`) or familiar (`nginx:latest`) form, with their
//! registry, repository, tag and digest, and re-targeted (`with_tag`, `with_digest`,
//! `with_registry_and_repository`) without leaving the grammar. A string that is not a
//! reference is a [`ReferenceError`] naming the offending character.
//!
//! The grammar itself, Docker's `distribution/reference` scanned in a single pass, and its
//! normalisation rules live in [`grammar`].

mod grammar;
#[cfg(test)]
mod test_vectors;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use grammar::{
    DEFAULT_REGISTRY, Fail, NAME_MAX, OFFICIAL_PREFIX, bad_char, looks_like_domain, name_len,
    normalise_registry, parse_spans, refine_case, repository_string, scan_digest, scan_domain,
    scan_path, scan_tag, too_long_reason,
};

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
        let total = name_len(&registry_out, repository.len(), official);
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

#[cfg(test)]
mod tests {
    use super::test_vectors::{H64, ok, valid_vectors};
    use super::*;

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
}
