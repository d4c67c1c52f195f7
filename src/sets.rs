//! Mirror sets: one file for a whole catalogue. The main type is [`MirrorSet`] — defaults,
//! per-host registry settings, charts (with version ranges and a selection), extra images
//! (with tag rules) — built by [`read`] from purser's own format (`purser.dev/v1alpha1`,
//! `kind: MirrorSet`, [`mirror_set`]) or from the files other tools read, as they read them:
//! a `helmper.yaml` ([`helmper`]), hauler's `Images`/`Charts` manifests ([`hauler`]) and a
//! `zarf.yaml` ([`zarf`]). The kind is told from the content, never the file name. What
//! another tool's file says that purser does not carry comes back as a [`Warning`]; nothing
//! is dropped silently. [`explain`] writes a set back in purser's format.
//!
//! Resolving a set (chart repositories, version ranges, tag lists) needs the network and is
//! the native side's work; the choosing is here: [`semver`] ranges, [`repo_index`] for a
//! classic Helm repository's `index.yaml`, [`MirrorSet`]'s [`Select`] and [`TagRules`].

use std::fmt;

use crate::yaml::{self, Budget, Node};

pub mod explain;
mod fields;
pub mod hauler;
pub mod helmper;
pub mod mirror_set;
pub mod repo_index;
pub mod semver;
pub mod zarf;

/// A whole catalogue to mirror.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorSet {
    pub defaults: Defaults,
    pub registries: Vec<RegistrySettings>,
    pub charts: Vec<ChartEntry>,
    pub images: Vec<ImageEntry>,
    /// Where the set's lock goes.
    pub lock: Option<String>,
    /// A cron expression, used only when the set is rendered as a CronJob.
    pub schedule: Option<String>,
}

/// What holds for every entry unless the entry says otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Defaults {
    /// Destinations, each `REGISTRY[/PREFIX]` as `--to` reads it; every entry goes to each.
    pub to: Vec<String>,
    pub platforms: Vec<String>,
    /// `false` leaves signatures, SBOMs and other referrers behind.
    pub referrers: Option<bool>,
    pub flatten: bool,
    /// `SOURCE=DEST` rewrites of where images go (`--map`).
    pub map: Vec<String>,
    /// `REGISTRY=MIRROR`: where images of REGISTRY are read from (`--source-mirror`).
    pub source_mirrors: Vec<String>,
    /// Render every chart again with its features switched on (`--all`).
    pub all: bool,
    pub kube_version: Option<String>,
    pub sign: Option<Signing>,
    /// A signature policy file images must pass before they are copied (`--verify`).
    pub verify: Option<String>,
    pub scan: bool,
    pub patch: bool,
    pub sbom: bool,
}

/// Sign what is published with this key; its password from the named environment variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Signing {
    pub key: String,
    pub password_env: Option<String>,
}

/// How one host (a registry or a chart repository) is reached, and what it allows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistrySettings {
    pub line: u32,
    /// `HOST[:PORT]`.
    pub host: String,
    pub plain_http: bool,
    pub insecure: bool,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub credentials: Option<Credentials>,
    /// Requests in flight at this host at once, shared by every chart and image.
    pub max_concurrent: Option<u64>,
    pub pull_budget: Option<PullBudget>,
}

/// Credentials by reference: purser's format never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    /// Names of environment variables holding the user name and password.
    Env { username: String, password: String },
    /// A Docker `config.json` to read them from.
    DockerConfig(String),
    /// Written in another tool's file (a helmper `repo.password`): carried for the run, never
    /// written back by [`explain`].
    Inline { username: String, password: String },
}

/// At most `count` manifest pulls per `period` (`6h`, `1h`, `30m`), as Docker Hub counts.
#[derive(Debug, Clone, PartialEq)]
pub struct PullBudget {
    pub count: u64,
    pub period: String,
}

/// One chart of the set: where it comes from, which versions, how it is rendered, what is
/// changed in its images, where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartEntry {
    pub line: u32,
    pub source: ChartSource,
    /// A range or a literal version; none: the newest stable version.
    pub versions: Option<String>,
    pub select: Select,
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// Inline values (JSON, which is YAML), given to Helm as one more values file.
    pub values: Option<serde_json::Value>,
    pub values_files: Vec<String>,
    pub images: ImageEdits,
    /// Destinations for this chart instead of the defaults'.
    pub to: Vec<String>,
    pub all: Option<bool>,
    /// `false`: the chart alone, none of its images (hauler without `add-images`, zarf).
    pub carry_images: bool,
}

/// Where a chart comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartSource {
    /// A directory or a `.tgz` on this machine.
    Local(String),
    /// `oci://REGISTRY/PATH/NAME`.
    Oci(String),
    /// A classic Helm repository (`index.yaml` at `url`) and the chart's name in it.
    Repo { url: String, name: String },
}

impl ChartSource {
    /// The chart's name as far as the source tells it (the last path part of a path).
    pub fn name(&self) -> &str {
        match self {
            ChartSource::Repo { name, .. } => name,
            ChartSource::Local(p) | ChartSource::Oci(p) => {
                let p = p.trim_end_matches('/');
                let last = p.rsplit('/').next().unwrap_or(p);
                last.strip_suffix(".tgz").unwrap_or(last)
            }
        }
    }
}

/// Which of the versions in range are mirrored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Select {
    /// The newest only.
    #[default]
    Latest,
    /// Every one.
    All,
    /// The newest N.
    Newest(usize),
}

impl Select {
    /// `versions` newest first, cut as selected.
    pub fn apply<T>(self, mut newest_first: Vec<T>) -> Vec<T> {
        let keep = match self {
            Select::Latest => 1,
            Select::All => newest_first.len(),
            Select::Newest(n) => n,
        };
        newest_first.truncate(keep);
        newest_first
    }
}

/// What a chart entry changes in the images its render finds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageEdits {
    /// Images left out: a reference, or a prefix of one (`docker.io/bitnami/`).
    pub exclude: Vec<String>,
    /// Images the render does not show that go along.
    pub add: Vec<String>,
    pub modify: Vec<Modify>,
}

/// Read an image from elsewhere: every image starting with `from` (its prefix replaced by
/// `to`), or the value at a values path set to `to` before the chart is rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Modify {
    pub from: ModifyFrom,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModifyFrom {
    Image(String),
    ValuePath(String),
}

/// An image of the set outside any chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageEntry {
    pub line: u32,
    pub source: ImageSource,
    pub to: Vec<String>,
    /// Platforms for this image instead of the defaults'.
    pub platforms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// One reference.
    Ref(String),
    /// Every tag of a repository the rules pick.
    Repo { repo: String, tags: TagRules },
}

/// Which tags of a repository go: in a semver range, allowed by a pattern and not denied by
/// one, then the newest `latest` of them (semver order; tags that are no version sort by name,
/// before every version).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagRules {
    pub semver: Option<String>,
    pub latest: Option<usize>,
    /// Regular expressions a tag must match (one of them).
    pub allow: Vec<String>,
    /// Regular expressions no tag may match.
    pub deny: Vec<String>,
}

impl TagRules {
    /// The tags of `tags` the semver range and `latest` keep, newest first; `allowed` applies
    /// the patterns (the core has no regular expressions).
    pub fn pick(
        &self,
        tags: &[String],
        allowed: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, semver::RangeError> {
        let range = self
            .semver
            .as_deref()
            .map(semver::Range::parse)
            .transpose()?;
        let mut kept: Vec<(Option<semver::Version>, &String)> = tags
            .iter()
            .filter(|t| allowed(t))
            .map(|t| (semver::Version::parse(t), t))
            .filter(|(v, _)| match (&range, v) {
                (Some(r), Some(v)) => r.matches(v),
                (Some(_), None) => false,
                (None, _) => true,
            })
            .collect();
        kept.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(a.1)));
        let mut out: Vec<String> = kept.into_iter().map(|(_, t)| t.clone()).collect();
        if let Some(n) = self.latest {
            out.truncate(n);
        }
        Ok(out)
    }
}

/// Which tool's file a set was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MirrorSet,
    Helmper,
    Hauler,
    Zarf,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::MirrorSet => "purser MirrorSet",
            Kind::Helmper => "helmper.yaml",
            Kind::Hauler => "hauler manifests",
            Kind::Zarf => "zarf.yaml",
        })
    }
}

/// A set as read, with what of the file was not carried.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub set: MirrorSet,
    pub kind: Kind,
    pub warnings: Vec<Warning>,
}

/// Something in the file purser does not carry, at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: u32,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.path, self.message)
    }
}

/// Why a set file cannot be used: the line, the field's path (`charts[1].versions`), what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError {
    pub line: u32,
    pub path: String,
    pub message: String,
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.path.is_empty()) {
            (0, true) => f.write_str(&self.message),
            (0, false) => write!(f, "{}: {}", self.path, self.message),
            (line, true) => write!(f, "line {line}: {}", self.message),
            (line, false) => write!(f, "line {line}: {}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for SetError {}

/// Reads a set file of any kind purser knows, telling the kind from its content.
pub fn read(text: &str) -> Result<Read, SetError> {
    let docs = yaml::parse_documents(text, 1, Budget::for_text(text)).map_err(|e| SetError {
        line: e.line,
        path: String::new(),
        message: format!("not YAML: {}", e.message),
    })?;
    let docs: Vec<Node<'_>> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let api = |d: &Node<'_>| {
        d.get("apiVersion")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let kind_of = |d: &Node<'_>| {
        d.get("kind")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let Some(first) = docs.first() else {
        return Err(SetError {
            line: 1,
            path: String::new(),
            message: "the file is empty".into(),
        });
    };
    if docs.iter().any(|d| api(d).starts_with("purser.dev/")) {
        if docs.len() > 1 {
            return Err(fields::error(
                &docs[1],
                "",
                "a MirrorSet file holds one document; put every entry in it",
            ));
        }
        return mirror_set::parse(first);
    }
    if docs
        .iter()
        .any(|d| api(d).starts_with("content.hauler.cattle.io/"))
    {
        return hauler::parse(&docs);
    }
    if kind_of(first) == "ZarfPackageConfig" {
        return zarf::parse(first);
    }
    if api(first).is_empty()
        && first.as_map().is_some()
        && ["charts", "images", "registries"]
            .iter()
            .any(|k| first.get(k).is_some())
    {
        return helmper::parse(first);
    }
    Err(fields::error(
        first,
        "",
        format!(
            "not a mirror set purser reads (apiVersion {:?}, kind {:?}): expected purser's \
             `apiVersion: purser.dev/v1alpha1` `kind: MirrorSet`, a helmper.yaml (top-level \
             `charts`/`images`/`registries`), hauler manifests (`content.hauler.cattle.io/v1`) \
             or a zarf.yaml (`kind: ZarfPackageConfig`)",
            api(first),
            kind_of(first)
        ),
    ))
}

/// Checks what the native side must not trip over later: every range parses, every image
/// reference and destination is one. Errors name the entry's line.
pub(crate) fn check(set: &MirrorSet) -> Result<(), SetError> {
    let at = |line: u32, path: String, message: String| SetError {
        line,
        path,
        message,
    };
    let check_to = |line: u32, path: String, to: &[String]| -> Result<(), SetError> {
        for t in to {
            crate::destination::Target::parse(t, "to")
                .map_err(|e| at(line, path.clone(), e.to_string()))?;
        }
        Ok(())
    };
    check_to(0, "defaults.to".into(), &set.defaults.to)?;
    for (i, c) in set.charts.iter().enumerate() {
        let path = format!("charts[{i}] ({})", c.source.name());
        if let Some(v) = &c.versions {
            semver::Range::parse(v)
                .map_err(|e| at(c.line, format!("{path}.versions"), e.to_string()))?;
        }
        for image in &c.images.add {
            crate::reference::Reference::parse(image).map_err(|e| {
                at(
                    c.line,
                    format!("{path}.images.add"),
                    format!("{image:?}: {}", e.reason()),
                )
            })?;
        }
        check_to(c.line, format!("{path}.to"), &c.to)?;
        if c.to.is_empty() && set.defaults.to.is_empty() {
            return Err(at(
                c.line,
                path,
                "goes nowhere: give `defaults.to` or the entry's `to`".into(),
            ));
        }
    }
    for (i, image) in set.images.iter().enumerate() {
        let path = format!("images[{i}]");
        match &image.source {
            ImageSource::Ref(r) => {
                crate::reference::Reference::parse(r).map_err(|e| {
                    at(
                        image.line,
                        format!("{path}.ref"),
                        format!("{r:?}: {}", e.reason()),
                    )
                })?;
            }
            ImageSource::Repo { repo, tags } => {
                crate::reference::Reference::parse(repo).map_err(|e| {
                    at(
                        image.line,
                        format!("{path}.repo"),
                        format!("{repo:?}: {}", e.reason()),
                    )
                })?;
                if let Some(r) = &tags.semver {
                    semver::Range::parse(r).map_err(|e| {
                        at(image.line, format!("{path}.tags.semver"), e.to_string())
                    })?;
                }
            }
        }
        check_to(image.line, format!("{path}.to"), &image.to)?;
        if image.to.is_empty() && set.defaults.to.is_empty() {
            return Err(at(
                image.line,
                path,
                "goes nowhere: give `defaults.to` or the entry's `to`".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules_order_by_semver_and_cut() {
        let tags: Vec<String> = ["1.9.0", "1.10.0", "1.10.1-rc.1", "latest", "1.2.0", "2.0.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rules = TagRules {
            semver: Some(">=1.2 <2".into()),
            latest: Some(2),
            ..TagRules::default()
        };
        assert_eq!(rules.pick(&tags, |_| true).unwrap(), ["1.10.0", "1.9.0"]);
        let any = TagRules::default();
        assert_eq!(
            any.pick(&tags, |t| t != "2.0.0").unwrap(),
            ["1.10.1-rc.1", "1.10.0", "1.9.0", "1.2.0", "latest"]
        );
    }

    #[test]
    fn the_kind_is_told_from_content() {
        assert!(
            read("just: text\n")
                .unwrap_err()
                .message
                .contains("not a mirror set")
        );
        assert_eq!(read("").unwrap_err().message, "the file is empty");
    }
}
