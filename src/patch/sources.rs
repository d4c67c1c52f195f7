//! [`AptSource`]: one repository APT fetches binary packages from, read from the one-line
//! `sources.list` format by [`parse_sources_list`] or from a deb822 `.sources` file by
//! [`parse_deb822_sources`]; and [`ApkRepository`], one line of apk's `etc/apk/repositories`,
//! read by [`parse_apk_repositories`].

use std::fmt;

use super::deb822::{self, Deb822Error};

const PGP_KEY_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// One `deb` repository: a suite of a URI, with its components (none for a flat repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    /// A distribution (`bookworm`, `bookworm-security`), or a path ending in `/` for a flat
    /// repository.
    pub suite: String,
    pub components: Vec<String>,
    /// `signed-by`: a keyring path (or fingerprints), or, from a deb822 file, an inline armored
    /// key ([`AptSource::signed_by_inline`]).
    pub signed_by: Option<String>,
    /// `arch` / `Architectures`; empty: APT's default ones.
    pub architectures: Vec<String>,
    /// `trusted=yes`: APT skips signature checks for this source.
    pub trusted: bool,
    /// The file it was read from, as the caller named it.
    pub file: String,
}

impl AptSource {
    /// The armored public key given inline in a deb822 `Signed-By:`, with its lines restored.
    pub fn signed_by_inline(&self) -> Option<&str> {
        self.signed_by
            .as_deref()
            .filter(|signed_by| signed_by.contains(PGP_KEY_BEGIN))
    }

    /// Whether the suite is a path (ending in `/`) into a repository without `dists/`.
    pub fn is_flat(&self) -> bool {
        self.suite.ends_with('/')
    }
}

/// A sources file that does not read, with its place: `file` as the caller named it, `line`
/// counted from 1 (for a deb822 paragraph, the line of its first field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesError {
    pub file: String,
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for SourcesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.detail)
    }
}

impl std::error::Error for SourcesError {}

impl From<Deb822Error> for SourcesError {
    fn from(error: Deb822Error) -> Self {
        SourcesError {
            file: error.file,
            line: error.line,
            detail: error.detail,
        }
    }
}

/// The `deb` lines of a one-line `sources.list`:
/// `deb [option=value option2=v1,v2] URI SUITE [COMPONENT...]`. `deb-src` lines, `#` comments
/// and blank lines are skipped; of the options, `signed-by`, `arch` and `trusted` are kept.
pub fn parse_sources_list(text: &str, file: &str) -> Result<Vec<AptSource>, SourcesError> {
    let mut sources = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fail = |detail: String| SourcesError {
            file: file.to_owned(),
            line: index + 1,
            detail,
        };
        let line = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if line.is_empty() {
            continue;
        }
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match kind {
            "deb" => {}
            "deb-src" => continue,
            _ => return Err(fail(format!("`{kind}` is neither `deb` nor `deb-src`"))),
        }
        let rest = rest.trim_start();
        let (options, rest) = match rest.strip_prefix('[') {
            Some(after) => after
                .split_once(']')
                .ok_or_else(|| fail("no `]` closing the options".into()))?,
            None => ("", rest),
        };
        let mut words = rest.split_whitespace().map(str::to_owned);
        let uri = words.next().ok_or_else(|| fail("no URI".into()))?;
        let suite = words.next().ok_or_else(|| fail("no suite".into()))?;
        let mut source = AptSource {
            uri,
            suite,
            components: words.collect(),
            signed_by: None,
            architectures: Vec::new(),
            trusted: false,
            file: file.to_owned(),
        };
        for option in options.split_whitespace() {
            let (name, value) = option
                .split_once('=')
                .ok_or_else(|| fail(format!("option `{option}` is not `name=value`")))?;
            match name {
                "signed-by" => source.signed_by = Some(value.to_owned()),
                "arch" => source.architectures = value.split(',').map(str::to_owned).collect(),
                "trusted" => source.trusted = boolean(option, value).map_err(fail)?,
                // The others (lang, target, by-hash, check-valid-until, ...) do not change which
                // packages a source offers.
                _ => {}
            }
        }
        check_components(&source).map_err(fail)?;
        sources.push(source);
    }
    Ok(sources)
}

/// The `deb` sources of a deb822 `.sources` file: one per URI and suite of each paragraph
/// whose `Types:` include `deb` and which is not `Enabled: no`.
pub fn parse_deb822_sources(text: &str, file: &str) -> Result<Vec<AptSource>, SourcesError> {
    let mut sources = Vec::new();
    for (line, paragraph) in deb822::parse_numbered(text, file)? {
        let fail = |detail: String| SourcesError {
            file: file.to_owned(),
            line,
            detail,
        };
        let flag = |name: &str| {
            paragraph
                .get(name)
                .map(|value| boolean(&format!("{name}: {value}"), value))
                .transpose()
                .map_err(fail)
        };
        let words = |name: &str| -> Vec<String> {
            paragraph.get(name).map_or_else(Vec::new, |value| {
                value.split_whitespace().map(str::to_owned).collect()
            })
        };
        if flag("Enabled")? == Some(false) {
            continue;
        }
        let types = words("Types");
        if types.is_empty() {
            return Err(fail("no `Types:`".into()));
        }
        if let Some(other) = types
            .iter()
            .find(|t| !matches!(t.as_str(), "deb" | "deb-src"))
        {
            return Err(fail(format!(
                "type `{other}` is neither `deb` nor `deb-src`"
            )));
        }
        if !types.iter().any(|t| t == "deb") {
            continue;
        }
        let (uris, suites) = (words("URIs"), words("Suites"));
        if uris.is_empty() {
            return Err(fail("no `URIs:`".into()));
        }
        if suites.is_empty() {
            return Err(fail("no `Suites:`".into()));
        }
        let components = words("Components");
        let signed_by = paragraph.get("Signed-By").map(signed_by);
        let architectures = words("Architectures");
        let trusted = flag("Trusted")?.unwrap_or(false);
        for uri in &uris {
            for suite in &suites {
                let source = AptSource {
                    uri: uri.clone(),
                    suite: suite.clone(),
                    components: components.clone(),
                    signed_by: signed_by.clone(),
                    architectures: architectures.clone(),
                    trusted,
                    file: file.to_owned(),
                };
                check_components(&source).map_err(fail)?;
                sources.push(source);
            }
        }
    }
    Ok(sources)
}

/// A deb822 `Signed-By:` value: an inline key with its continuation lines undone (a lone `.`
/// stands for an empty line), or the paths or fingerprints it lists.
fn signed_by(value: &str) -> String {
    if !value.contains(PGP_KEY_BEGIN) {
        return value.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let mut key = String::new();
    for line in value
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty())
    {
        if line != "." {
            key.push_str(line);
        }
        key.push('\n');
    }
    key
}

/// APT's booleans, as `trusted=`, `Trusted:` and `Enabled:` take them; `what` is how the setting
/// was written, for the error.
fn boolean(what: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "enable" | "1" => Ok(true),
        "no" | "false" | "off" | "disable" | "0" => Ok(false),
        _ => Err(format!("`{what}` is neither yes nor no")),
    }
}

/// APT's rule: a flat repository's suite (a path) takes no components, a distribution needs one.
fn check_components(source: &AptSource) -> Result<(), String> {
    match (source.is_flat(), source.components.is_empty()) {
        (true, false) => Err(format!(
            "suite `{}` is a flat repository's path, which takes no components",
            source.suite
        )),
        (false, true) => Err(format!("suite `{}` has no components", source.suite)),
        _ => Ok(()),
    }
}

/// One repository line of `etc/apk/repositories`: the base URL (or path), with the `@tag` that
/// pins packages to it if written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkRepository {
    pub tag: Option<String>,
    /// Without a trailing `/`.
    pub url: String,
}

/// The repositories of `etc/apk/repositories`, one a line, `[@tag] url`; blank lines, `#`
/// comments, and a tag without a URL are skipped.
pub fn parse_apk_repositories(text: &str) -> Vec<ApkRepository> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let first = words.next()?;
            let (tag, url) = match first.strip_prefix('@') {
                Some(tag) => (Some(tag.to_owned()), words.next()?),
                None => (None, first),
            };
            Some(ApkRepository {
                tag,
                url: url.trim_end_matches('/').to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_with_options_comments_and_deb_src() {
        let text = "\
# Debian
deb http://deb.debian.org/debian bookworm main contrib # non-free
deb-src http://deb.debian.org/debian bookworm main

deb [ arch=amd64,arm64 signed-by=/usr/share/keyrings/docker.gpg lang=none ] https://download.docker.com/linux/debian bookworm stable
deb [trusted=yes] file:///srv/repo ./
";
        let sources = parse_sources_list(text, "sources.list").unwrap();
        assert_eq!(sources.len(), 3);
        assert_eq!(
            sources[0],
            AptSource {
                uri: "http://deb.debian.org/debian".into(),
                suite: "bookworm".into(),
                components: vec!["main".into(), "contrib".into()],
                signed_by: None,
                architectures: vec![],
                trusted: false,
                file: "sources.list".into(),
            }
        );
        assert_eq!(sources[1].architectures, ["amd64", "arm64"]);
        assert_eq!(
            sources[1].signed_by.as_deref(),
            Some("/usr/share/keyrings/docker.gpg")
        );
        assert_eq!(sources[1].signed_by_inline(), None);
        assert_eq!(sources[1].components, ["stable"]);
        assert!(sources[2].trusted);
        assert!(sources[2].is_flat());
        assert!(sources[2].components.is_empty());
        assert!(!sources[0].is_flat());
    }

    #[test]
    fn one_line_errors_name_the_line() {
        for (text, line, what) in [
            (
                "deb http://a bookworm main\nrpm http://b x\n",
                2,
                "`rpm` is neither",
            ),
            ("deb [arch=amd64 http://a bookworm main", 1, "no `]`"),
            ("\n\ndeb http://a\n", 3, "no suite"),
            ("deb\n", 1, "no URI"),
            (
                "deb [arch] http://a b main",
                1,
                "`arch` is not `name=value`",
            ),
            (
                "deb [trusted=maybe] http://a b main",
                1,
                "`trusted=maybe` is neither",
            ),
            ("deb http://a bookworm\n", 1, "has no components"),
            ("deb http://a ./ main\n", 1, "takes no components"),
        ] {
            let error = parse_sources_list(text, "list").unwrap_err();
            assert_eq!(error.line, line, "{text}");
            assert!(error.detail.contains(what), "{text}: {error}");
        }
    }

    #[test]
    fn deb822_sources_multiply_uris_by_suites() {
        let text = "\
Types: deb deb-src
URIs: http://deb.debian.org/debian http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
 contrib
Architectures: amd64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# Disabled
Types: deb
URIs: http://old.example/debian
Suites: buster
Components: main
Enabled: no

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Trusted: yes
";
        let sources = parse_deb822_sources(text, "debian.sources").unwrap();
        let pairs: Vec<(&str, &str)> = sources
            .iter()
            .map(|s| (s.uri.as_str(), s.suite.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("http://deb.debian.org/debian", "bookworm"),
                ("http://deb.debian.org/debian", "bookworm-updates"),
                ("http://mirror.example/debian", "bookworm"),
                ("http://mirror.example/debian", "bookworm-updates"),
                ("http://deb.debian.org/debian-security", "bookworm-security"),
            ]
        );
        assert_eq!(sources[0].components, ["main", "contrib"]);
        assert_eq!(sources[3].architectures, ["amd64"]);
        assert_eq!(
            sources[3].signed_by.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
        assert!(!sources[0].trusted);
        assert!(sources[4].trusted);
        assert_eq!(sources[4].signed_by, None);
    }

    #[test]
    fn deb822_inline_key_is_restored() {
        let text = "\
Types: deb
URIs: https://repo.example/apt
Suites: ./
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGRnZXQBEAC
 =abcd
 -----END PGP PUBLIC KEY BLOCK-----
";
        let sources = parse_deb822_sources(text, "repo.sources").unwrap();
        assert_eq!(
            sources[0].signed_by_inline(),
            Some(
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGRnZXQBEAC\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
            )
        );
        assert!(sources[0].is_flat());
    }

    #[test]
    fn deb822_errors_name_the_paragraph() {
        for (text, line, what) in [
            (
                "Types: deb\nURIs: http://a\n\nTypes: deb\nSuites: x\n",
                1,
                "no `Suites:`",
            ),
            (
                "Types: deb\nURIs: http://a\nSuites: x\nComponents: main\n\nTypes: deb\nSuites: x\nComponents: main\n",
                6,
                "no `URIs:`",
            ),
            ("URIs: http://a\n", 1, "no `Types:`"),
            ("Types: deb rpm\nURIs: a\nSuites: b\n", 1, "type `rpm`"),
            (
                "Types: deb\nURIs: a\nSuites: b\nComponents: c\nEnabled: perhaps\n",
                1,
                "`Enabled: perhaps`",
            ),
            ("Types: deb\nURIs: a\nSuites: b\n", 1, "has no components"),
            (
                "Types: deb\nURIs: a\n  no field\n\n oops\n",
                5,
                "no field before it",
            ),
        ] {
            let error = parse_deb822_sources(text, "x.sources").unwrap_err();
            assert_eq!(
                (error.file.as_str(), error.line),
                ("x.sources", line),
                "{text}"
            );
            assert!(error.detail.contains(what), "{text}: {error}");
        }
    }

    #[test]
    fn apk_repositories_tags_comments_and_slashes() {
        let text = "\
https://dl-cdn.alpinelinux.org/alpine/v3.20/main/
# https://dl-cdn.alpinelinux.org/alpine/v3.20/community

@edge https://dl-cdn.alpinelinux.org/alpine/edge/testing
@lonely
  /media/cdrom/apks
";
        assert_eq!(
            parse_apk_repositories(text),
            [
                ApkRepository {
                    tag: None,
                    url: "https://dl-cdn.alpinelinux.org/alpine/v3.20/main".into()
                },
                ApkRepository {
                    tag: Some("edge".into()),
                    url: "https://dl-cdn.alpinelinux.org/alpine/edge/testing".into()
                },
                ApkRepository {
                    tag: None,
                    url: "/media/cdrom/apks".into()
                },
            ]
        );
    }
}
