//! Where a mirror puts each image: `--to REGISTRY[/PREFIX]` plus the image's repository path
//! (`docker.io/library/nginx:1.27` -> `registry.internal/mirror/library/nginx:1.27`), or only
//! its last path component with `--flatten`, or, for images from a source named by
//! `--map SOURCE=DEST` (a registry, or a registry and path prefix; the longest match wins),
//! DEST plus the rest of the path. Tags and digests are kept. Used by `helm mirror` and by the
//! `relocate` post-renderer, so both agree on every name.

use crate::reference::{Reference, ReferenceError};
use std::fmt;

/// Why a `--to`, `--map` (or similar) flag cannot be read. `what`/`flag` names the flag as the
/// user gave it; `text` is its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationError {
    /// A URL scheme (`https://`) in front of the registry.
    Scheme { what: String, text: String },
    /// The first part does not read as a registry host.
    NoRegistryHost { what: String, text: String },
    /// The registry or the path prefix breaks the reference grammar.
    InvalidPath {
        what: String,
        text: String,
        error: Box<ReferenceError>,
    },
    /// `SOURCE=DEST` without the `=`.
    NoEquals { flag: String, text: String },
    /// `=DEST`: nothing before the `=`.
    EmptySource { flag: String, text: String },
}

impl fmt::Display for DestinationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestinationError::Scheme { what, text } => write!(
                f,
                "{what} {text:?}: drop the scheme; write REGISTRY[/PREFIX], e.g. registry.internal/mirror"
            ),
            DestinationError::NoRegistryHost { what, text } => write!(
                f,
                "{what} {text:?}: must start with a registry host (with a '.' or a port, or localhost), e.g. registry.internal/mirror or localhost:5000"
            ),
            DestinationError::InvalidPath { what, text, error } => write!(
                f,
                "{what} {text:?} is not a valid registry path: {}",
                error.reason()
            ),
            DestinationError::NoEquals { flag, text } => write!(
                f,
                "{flag} {text:?}: write SOURCE=DEST, e.g. {flag} docker.io=registry.internal/dockerhub"
            ),
            DestinationError::EmptySource { flag, text } => {
                write!(f, "{flag} {text:?}: the source before '=' is empty")
            }
        }
    }
}

impl std::error::Error for DestinationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DestinationError::InvalidPath { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// For callers whose errors are messages: the message.
impl From<DestinationError> for String {
    fn from(e: DestinationError) -> String {
        e.to_string()
    }
}

/// Why an image cannot be placed under its target: the name it would get breaks the reference
/// grammar (too long, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceError {
    /// The image's canonical reference.
    pub image: String,
    pub target: Target,
    pub error: Box<ReferenceError>,
}

impl fmt::Display for PlaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot place {} under {}: {}",
            self.image,
            self.target,
            self.error.reason()
        )
    }
}

impl std::error::Error for PlaceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error.as_ref())
    }
}

/// For callers whose errors are messages: the message.
impl From<PlaceError> for String {
    fn from(e: PlaceError) -> String {
        e.to_string()
    }
}

/// A registry and an optional path prefix: `registry.internal/mirror`, `localhost:5000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub registry: String,
    pub prefix: String,
}

impl Target {
    /// Parses `REGISTRY[/PREFIX]`; `what` names the flag in errors.
    pub fn parse(text: &str, what: &str) -> Result<Target, DestinationError> {
        let text = text.trim().trim_end_matches('/');
        if text.contains("://") {
            return Err(DestinationError::Scheme {
                what: what.to_owned(),
                text: text.to_owned(),
            });
        }
        let (registry, prefix) = text.split_once('/').unwrap_or((text, ""));
        let looks_like_host =
            registry.contains(['.', ':']) || registry == "localhost" || registry.starts_with('[');
        if registry.is_empty() || !looks_like_host {
            return Err(DestinationError::NoRegistryHost {
                what: what.to_owned(),
                text: text.to_owned(),
            });
        }
        // Validate both parts with the reference grammar: a throwaway repository under the target.
        let probe = if prefix.is_empty() {
            format!("{registry}/x")
        } else {
            format!("{registry}/{prefix}/x")
        };
        Reference::parse(&probe).map_err(|error| DestinationError::InvalidPath {
            what: what.to_owned(),
            text: text.to_owned(),
            error: Box::new(error),
        })?;
        Ok(Target {
            registry: registry.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            f.write_str(&self.registry)
        } else {
            write!(f, "{}/{}", self.registry, self.prefix)
        }
    }
}

/// `--map SOURCE=DEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// A registry (`docker.io`) or a registry and path prefix (`docker.io/bitnami`).
    pub source: String,
    pub target: Target,
}

impl Mapping {
    /// Parses `--map SOURCE=DEST`.
    pub fn parse(text: &str) -> Result<Mapping, DestinationError> {
        Mapping::parse_flag(text, "--map")
    }

    /// Parses `SOURCE=DEST` given to `flag` (named in errors).
    pub fn parse_flag(text: &str, flag: &str) -> Result<Mapping, DestinationError> {
        let Some((source, dest)) = text.split_once('=') else {
            return Err(DestinationError::NoEquals {
                flag: flag.to_owned(),
                text: text.to_owned(),
            });
        };
        let source = source.trim().trim_end_matches('/');
        if source.is_empty() {
            return Err(DestinationError::EmptySource {
                flag: flag.to_owned(),
                text: text.to_owned(),
            });
        }
        let (registry, path) = source
            .split_once('/')
            .map_or((source, None), |(r, p)| (r, Some(p)));
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            r => r,
        };
        let normalised = match path {
            Some(p) => format!("{registry}/{p}"),
            None => registry.to_owned(),
        };
        Ok(Mapping {
            source: normalised,
            target: Target::parse(dest, &format!("{flag} destination"))?,
        })
    }

    fn matches<'n>(&self, name: &'n str) -> Option<&'n str> {
        let rest = name.strip_prefix(self.source.as_str())?;
        rest.strip_prefix('/')
    }
}

/// Pull-through caches (`--source-mirror quay.io=cache.internal/quay`): images of a source
/// registry (or registry path) are fetched from the cache, while their names, locks and
/// destinations keep the upstream reference (helmper's `mirrors`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMirrors {
    maps: Vec<Mapping>,
}

impl SourceMirrors {
    /// The caches of `--source-mirror` flags, each checked.
    pub fn from_flags(flags: &[String]) -> Result<SourceMirrors, DestinationError> {
        Ok(SourceMirrors {
            maps: flags
                .iter()
                .map(|f| Mapping::parse_flag(f, "--source-mirror"))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Where `registry/repository` is fetched from: the longest matching cache's registry
    /// and path, or None to fetch it where it is.
    pub fn route(&self, registry: &str, repository: &str) -> Option<(String, String)> {
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            r => r,
        };
        let name = format!("{registry}/{repository}");
        let (m, rest) = self
            .maps
            .iter()
            .filter_map(|m| m.matches(&name).map(|rest| (m, rest)))
            .max_by_key(|(m, _)| m.source.len())?;
        let path = if m.target.prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{}/{rest}", m.target.prefix)
        };
        Some((m.target.registry.clone(), path))
    }
}

/// The naming rules of one mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub to: Target,
    pub flatten: bool,
    pub maps: Vec<Mapping>,
}

impl Rules {
    /// The rules of `--to`, `--flatten` and `--map` flags, each checked.
    pub fn from_flags(to: &str, flatten: bool, maps: &[String]) -> Result<Rules, DestinationError> {
        Ok(Rules {
            to: Target::parse(to, "--to")?,
            flatten,
            maps: maps
                .iter()
                .map(|m| Mapping::parse(m))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Where `image` goes.
    pub fn place(&self, image: &Reference) -> Result<Reference, PlaceError> {
        let name = image.name();
        let mapped = self
            .maps
            .iter()
            .filter_map(|m| m.matches(&name).map(|rest| (m, rest)))
            .max_by_key(|(m, _)| m.source.len());
        let (target, path) = match mapped {
            Some((m, rest)) => (&m.target, rest),
            None => (&self.to, image.repository()),
        };
        let path = if self.flatten {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path
        };
        let repository = if target.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", target.prefix)
        };
        image
            .with_registry_and_repository(&target.registry, &repository)
            .map_err(|error| PlaceError {
                image: image.canonical(),
                target: target.clone(),
                error: Box::new(error),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(to: &str, flatten: bool, maps: &[&str]) -> Rules {
        Rules {
            to: Target::parse(to, "--to").unwrap(),
            flatten,
            maps: maps.iter().map(|m| Mapping::parse(m).unwrap()).collect(),
        }
    }

    fn place(r: &Rules, image: &str) -> String {
        r.place(&Reference::parse(image).unwrap())
            .unwrap()
            .canonical()
    }

    #[test]
    fn prefix_plus_repository_path() {
        let r = rules("registry.internal/mirror", false, &[]);
        assert_eq!(
            place(&r, "nginx:1.27"),
            "registry.internal/mirror/library/nginx:1.27"
        );
        assert_eq!(
            place(
                &r,
                "quay.io/prometheus/prometheus:v3@sha256:0123456789012345678901234567890123456789012345678901234567890123"
            ),
            "registry.internal/mirror/prometheus/prometheus:v3@sha256:0123456789012345678901234567890123456789012345678901234567890123"
        );
        let bare = rules("localhost:5000", false, &[]);
        assert_eq!(place(&bare, "ghcr.io/a/b:1"), "localhost:5000/a/b:1");
    }

    #[test]
    fn flatten_and_maps() {
        let r = rules("registry.internal/mirror", true, &[]);
        assert_eq!(
            place(&r, "registry.k8s.io/ingress-nginx/controller:v1"),
            "registry.internal/mirror/controller:v1"
        );
        let r = rules(
            "registry.internal/mirror",
            false,
            &[
                "docker.io=registry.internal/dockerhub",
                "docker.io/bitnami=registry.internal/bitnami",
                "index.docker.io/x=other.io",
            ],
        );
        assert_eq!(
            place(&r, "nginx:1"),
            "registry.internal/dockerhub/library/nginx:1"
        );
        assert_eq!(
            place(&r, "bitnami/redis:7"),
            "registry.internal/bitnami/redis:7"
        );
        assert_eq!(place(&r, "x/y:1"), "other.io/y:1");
        assert_eq!(place(&r, "ghcr.io/a/b:1"), "registry.internal/mirror/a/b:1");
    }

    #[test]
    fn source_mirrors_route_to_the_longest_match() {
        let mirrors = SourceMirrors::from_flags(&[
            "quay.io=cache.internal/quay".to_owned(),
            "quay.io/team=cache.internal:5000".to_owned(),
        ])
        .unwrap();
        assert_eq!(
            mirrors.route("quay.io", "prometheus/node-exporter"),
            Some((
                "cache.internal".into(),
                "quay/prometheus/node-exporter".into()
            ))
        );
        assert_eq!(
            mirrors.route("quay.io", "team/app"),
            Some(("cache.internal:5000".into(), "app".into()))
        );
        assert_eq!(mirrors.route("ghcr.io", "team/app"), None);
        let err = SourceMirrors::from_flags(&["quay.io".to_owned()]).unwrap_err();
        assert!(matches!(err, DestinationError::NoEquals { .. }));
        let err = err.to_string();
        assert!(
            err.contains("--source-mirror \"quay.io\": write SOURCE=DEST"),
            "{err}"
        );
    }

    #[test]
    fn bad_rules_say_what_to_write() {
        assert!(
            Target::parse("https://r.io/x", "--to")
                .unwrap_err()
                .to_string()
                .contains("drop the scheme")
        );
        assert!(
            Target::parse("mirror", "--to")
                .unwrap_err()
                .to_string()
                .contains("registry host")
        );
        assert!(
            Target::parse("r.io/UPPER", "--to")
                .unwrap_err()
                .to_string()
                .contains("not a valid registry path")
        );
        assert!(
            Mapping::parse("docker.io")
                .unwrap_err()
                .to_string()
                .contains("SOURCE=DEST")
        );
        assert!(matches!(
            Mapping::parse("=r.io"),
            Err(DestinationError::EmptySource { .. })
        ));
        assert!(
            Mapping::parse("=r.io")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            Mapping::parse("docker.io=nohost")
                .unwrap_err()
                .to_string()
                .contains("registry host")
        );
    }
}
