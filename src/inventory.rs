//! Findings from every source merged into one list of images, each keeping all its provenance.

use crate::reference::Reference;
use crate::yaml::Source;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How sure a finding is that the string names an image a cluster will pull. Locks write it
/// as `likely` / `certain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Heuristics: container args and env, ConfigMap data, `image`-named fields of unknown
    /// resources, image-shaped values.
    Likely,
    /// Typed image fields (containers, image volumes, known operator fields) and images the
    /// chart author declared in annotations.
    Certain,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Likely => "likely",
            Confidence::Certain => "certain",
        }
    }
}

/// What a reference names: an image a container runs, or another OCI artifact a program
/// pulls at run time (rules and plugins an installer fetches); both are mirrored alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Kind {
    #[default]
    Image,
    Artifact,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Artifact => "artifact",
        }
    }
}

/// Where a finding came from. Serialised as it appears in `-o json`: `source` names the
/// variant, fields are camelCase, absent ones are left out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(
    tag = "source",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum Origin {
    /// A document of a rendered manifest stream.
    Rendered {
        /// The template file from the `# Source:` comment Helm writes above each document.
        #[serde(skip_serializing_if = "Option::is_none")]
        template: Option<String>,
        /// 1-based document number in the stream and 1-based line of the value.
        document: usize,
        line: u32,
        kind: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Field path inside the document: `spec.template.spec.containers[0].image`.
        field: String,
        /// Container name when the value belongs to one.
        #[serde(skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        /// Found only in a render with switches that are off by default turned on (`--all`):
        /// those switches, as `--set` takes them: `metrics.enabled=true, tags.cache=true`.
        #[serde(skip_serializing_if = "Option::is_none")]
        needs: Option<String>,
    },
    /// A value in a chart's values.yaml.
    Values {
        /// The chart, as a path from the top chart: `wordpress/mariadb`.
        chart: String,
        /// Values path: `image.repository`, `sidecars[0].image`.
        #[serde(rename = "valuesPath")]
        path: String,
        /// The subchart is switched off or a parent `enabled: false` guards the value.
        #[serde(skip_serializing_if = "Option::is_none")]
        disabled_by: Option<String>,
    },
    /// An entry of a Chart.yaml annotation.
    Annotation {
        chart: String,
        /// `helm.sh/images`, `artifacthub.io/images` or `images`.
        #[serde(rename = "annotation")]
        key: String,
        /// The entry's `name`, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        disabled_by: Option<String>,
    },
}

impl Origin {
    /// What switched this finding off, if anything: the annotation or values path, or the
    /// switches a render needed to find it.
    pub fn disabled_by(&self) -> Option<&str> {
        match self {
            Origin::Rendered { needs, .. } => needs.as_deref(),
            Origin::Values { disabled_by, .. } | Origin::Annotation { disabled_by, .. } => {
                disabled_by.as_deref()
            }
        }
    }

    /// A short name for the kind of source: `rendered`, `values`, `annotation`.
    pub fn source(&self) -> &'static str {
        match self {
            Origin::Rendered { .. } => "rendered",
            Origin::Values { .. } => "values",
            Origin::Annotation { .. } => "annotation",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Rendered {
                template,
                document,
                line,
                kind,
                namespace,
                name,
                field,
                container,
                needs,
            } => {
                match template {
                    Some(t) => write!(f, "{t}: {kind}")?,
                    None => write!(f, "document {document}: {kind}")?,
                }
                match (namespace, name) {
                    (Some(ns), Some(n)) => write!(f, " {ns}/{n}")?,
                    (None, Some(n)) => write!(f, " {n}")?,
                    _ => {}
                }
                if let Some(c) = container {
                    write!(f, " container {c}")?;
                }
                write!(f, " {field}")?;
                // `{:#}` adds where in the stream: what --why prints.
                if f.alternate() {
                    match needs {
                        Some(_) => write!(f, " (document {document}, line {line} of that render)")?,
                        None => write!(f, " (document {document}, line {line} of the stream)")?,
                    }
                }
                if let Some(n) = needs {
                    write!(f, " (off: rendered with {n})")?;
                }
                Ok(())
            }
            Origin::Values {
                chart,
                path,
                disabled_by,
            } => {
                write!(f, "values of {chart}: {path}")?;
                if let Some(d) = disabled_by {
                    write!(f, " (off: {d})")?;
                }
                Ok(())
            }
            Origin::Annotation {
                chart,
                key,
                name,
                disabled_by,
            } => {
                write!(f, "Chart.yaml of {chart}: annotation {key}")?;
                if let Some(n) = name {
                    write!(f, " ({n})")?;
                }
                if let Some(d) = disabled_by {
                    write!(f, " (off: {d})")?;
                }
                Ok(())
            }
        }
    }
}

/// One place an image reference was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reference: Reference,
    /// The text as written where it was found.
    pub written: String,
    pub origin: Origin,
    pub confidence: Confidence,
    /// Where the reference is written in the rendered stream it was found in, so that it can
    /// be rewritten in place; `None` for other sources and for text the scanner could not
    /// place exactly (a double-quoted scalar that spells the reference with escapes).
    pub spot: Option<Spot>,
    pub kind: Kind,
}

/// A container whose image a webhook sets at admission: the chart writes a sentinel
/// (`image: auto`) where the image goes. Not an image to mirror; the injector's is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The sentinel as written.
    pub written: String,
    pub origin: Origin,
}

/// The bytes of a stream that spell a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spot {
    /// The reference is text inside one scalar (all of it, or part: `--x-image=REF`, a line
    /// of a ConfigMap value).
    Text(Span),
    /// The reference is composed from the scalars of an image-shaped map
    /// (`{registry, repository, tag, digest}`).
    Map(MapSpans),
    /// The reference is composed by a program from fields of a document embedded in a
    /// string (an injector's `{hub}/{image}:{tag}`): no bytes spell it whole, but the fields
    /// it is made of are placed, so it is moved by rewriting the `hub` and pinned through the
    /// `tag` (see [`ComposedSpans`]).
    Composed(ComposedSpans),
}

/// Where the fields an injector composes `{hub}/{image}:{tag}` from are written, each the
/// whole text of its scalar inside the embedded document (which sits in one scalar of the
/// stream). Several images may be composed from one `hub` or `tag` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedSpans {
    /// The `hub`: the registry and path in front of the image's name.
    pub hub: Span,
    /// The `image`: a name (`proxyv2`), or a name with its own tag or digest.
    pub image: Span,
    /// The `tag` composed after `:`; `None` when the `image` carries its own tag or digest.
    pub tag: Option<Span>,
    /// Field paths for messages: `data.values#global.hub`, `data.values#global.tag`.
    pub hub_field: String,
    pub tag_field: Option<String>,
    /// The tag is a plain scalar in a JSON document (`"tag": 1.24`): text put there that is
    /// no number must be quoted.
    pub tag_plain_in_json: bool,
    /// The `variant` the program appends to the tag (`-distroless`), when the document sets
    /// one other than `default`: a digest in the tag would not end the reference then.
    pub variant: Option<String>,
}

/// Text inside a scalar: `start..end` are the bytes of the stream that hold exactly the
/// reference's characters; `scalar` is the whole scalar they sit in (its range, quotes
/// included, also in stream bytes, and its style), which decides how a replacement is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub scalar: Source,
}

/// The parts of an image-shaped map, each the whole text of its scalar. `repository` is the
/// scalar under `repository`, `image` or `name`; `digest` under `digest` or `sha`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSpans {
    pub registry: Option<Span>,
    pub repository: Span,
    pub tag: Option<Span>,
    pub digest: Option<Span>,
}

impl Finding {
    pub fn enabled(&self) -> bool {
        self.origin.disabled_by().is_none()
    }
}

/// One image with every place it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub reference: Reference,
    /// The highest confidence among its findings.
    pub confidence: Confidence,
    /// `false` when every finding is of a feature or subchart that is switched off.
    pub enabled: bool,
    /// `Artifact` when every finding says so.
    pub kind: Kind,
    pub findings: Vec<Finding>,
}

impl Image {
    /// The chart (as a path of chart names: `top/sub`) the image belongs to, from its first
    /// finding that says.
    pub fn chart(&self) -> Option<String> {
        self.findings.iter().find_map(|f| match &f.origin {
            Origin::Rendered {
                template: Some(t), ..
            } => {
                // `top/charts/sub/charts/subsub/templates/x.yaml` -> `top/sub/subsub`
                let before = t.split("/templates/").next().unwrap_or(t);
                let parts: Vec<&str> = before.split('/').filter(|p| *p != "charts").collect();
                Some(parts.join("/"))
            }
            Origin::Values { chart, .. } | Origin::Annotation { chart, .. } => Some(chart.clone()),
            Origin::Rendered { template: None, .. } => None,
        })
    }
}

/// Every image, sorted by canonical reference, deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub images: Vec<Image>,
    /// Containers whose image is set at admission (see [`Injected`]).
    pub injected: Vec<Injected>,
}

/// Which findings make it into an inventory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Keep images of features and subcharts that are switched off.
    pub all: bool,
    /// Keep certain findings only.
    pub certain_only: bool,
}

impl Inventory {
    /// A name for each image, unique within the inventory: the name the chart declared in an
    /// annotation, else the last path component of the repository (`-2`, `-3` on clashes).
    pub fn names(&self) -> Vec<String> {
        let mut used = std::collections::BTreeSet::new();
        self.images
            .iter()
            .map(|image| {
                let declared = image.findings.iter().find_map(|f| match &f.origin {
                    Origin::Annotation { name: Some(n), .. } => Some(n.clone()),
                    _ => None,
                });
                let repository = image.reference.repository();
                let base = declared.unwrap_or_else(|| {
                    repository
                        .rsplit('/')
                        .next()
                        .unwrap_or(repository)
                        .to_owned()
                });
                let mut name = base.clone();
                let mut n = 2;
                while !used.insert(name.clone()) {
                    name = format!("{base}-{n}");
                    n += 1;
                }
                name
            })
            .collect()
    }

    /// Merges findings by canonical reference, keeping every provenance.
    pub fn build(findings: impl IntoIterator<Item = Finding>, selection: Selection) -> Inventory {
        let mut by_ref: BTreeMap<String, Image> = BTreeMap::new();
        for finding in findings {
            if selection.certain_only && finding.confidence != Confidence::Certain {
                continue;
            }
            if !selection.all && !finding.enabled() {
                continue;
            }
            let key = finding.reference.canonical();
            let image = by_ref.entry(key).or_insert_with(|| Image {
                reference: finding.reference.clone(),
                confidence: finding.confidence,
                enabled: false,
                kind: finding.kind,
                findings: Vec::new(),
            });
            image.confidence = image.confidence.max(finding.confidence);
            image.kind = image.kind.min(finding.kind);
            image.enabled |= finding.enabled();
            // Findings are distinct by construction (each has its own place), so no search here:
            // one image found in 100 000 documents must not cost 10^10 comparisons.
            image.findings.push(finding);
        }
        Inventory {
            images: by_ref.into_values().collect(),
            injected: Vec::new(),
        }
    }

    /// The same inventory, noting containers whose image is injected at admission.
    pub fn with_injected(mut self, injected: Vec<Injected>) -> Inventory {
        self.injected = injected;
        self
    }

    /// The images a user means by `wanted`: with a tag or digest, those exact ones, else every
    /// tag. Without a registry, a short name matches by the end of the repository path too,
    /// so `podinfo` finds `ghcr.io/stefanprodan/podinfo:6.14.1`.
    pub fn matching(&self, wanted: &Reference) -> Vec<&Image> {
        let same_version = |i: &Image| {
            (wanted.tag().is_none() && wanted.digest().is_none())
                || (i.reference.tag() == wanted.tag() && i.reference.digest() == wanted.digest())
        };
        let exact: Vec<&Image> = self
            .images
            .iter()
            .filter(|i| i.reference.name() == wanted.name() && same_version(i))
            .collect();
        if !exact.is_empty() || wanted.has_explicit_registry() {
            return exact;
        }
        let short = wanted
            .repository()
            .strip_prefix("library/")
            .unwrap_or(wanted.repository());
        let suffix = format!("/{short}");
        self.images
            .iter()
            .filter(|i| {
                let repo = i.reference.repository();
                (repo == short || repo.ends_with(&suffix)) && same_version(i)
            })
            .collect()
    }
}
