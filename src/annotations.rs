//! Images a chart declares in Chart.yaml annotations: `helm.sh/images` (HIP-0015, entries may
//! name the `dependency` that uses the image and the `condition` that switches it on),
//! `artifacthub.io/images`, and the plain `images` key Bitnami charts use. Each annotation is
//! a YAML string holding a list of `{name, image, ...}` entries.

use crate::inventory::{Confidence, Finding, Kind, Origin};
use crate::reference::{Reference, ReferenceError};
use crate::yaml::{self, Node, YamlError};
use std::collections::BTreeMap;
use std::fmt;

/// The annotation keys read, in the order they are read.
pub const KEYS: [&str; 3] = ["helm.sh/images", "artifacthub.io/images", "images"];

/// One entry of an images annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: &'static str,
    pub name: Option<String>,
    pub image: String,
    pub dependency: Option<String>,
    pub condition: Option<String>,
}

/// Why an images annotation of a chart cannot be read. Each names the chart (as shown to the
/// user) and the annotation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationError {
    /// The annotation's text is not YAML.
    NotYaml {
        chart: String,
        key: &'static str,
        error: YamlError,
    },
    /// The annotation is YAML but not a list.
    NotAList { chart: String, key: &'static str },
    /// Entry `entry` (1-based) has no `image` field and is not a plain string.
    NoImage {
        chart: String,
        key: &'static str,
        entry: usize,
    },
    /// An entry's image is not an image reference.
    BadReference {
        chart: String,
        key: &'static str,
        error: ReferenceError,
    },
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnotationError::NotYaml { chart, key, error } => write!(
                f,
                "Chart.yaml of {chart}: annotation {key} is not valid YAML ({error})"
            ),
            AnnotationError::NotAList { chart, key } => write!(
                f,
                "Chart.yaml of {chart}: annotation {key} must be a YAML list of {{name, image}} entries"
            ),
            AnnotationError::NoImage { chart, key, entry } => write!(
                f,
                "Chart.yaml of {chart}: annotation {key}, entry {entry}: no `image` field"
            ),
            AnnotationError::BadReference { chart, key, error } => {
                write!(f, "Chart.yaml of {chart}: annotation {key}: {error}")
            }
        }
    }
}

impl std::error::Error for AnnotationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AnnotationError::NotYaml { error, .. } => Some(error),
            AnnotationError::BadReference { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Reads every images annotation of a chart. A malformed annotation is an error naming the
/// chart and the key: the author declared images and we cannot tell which.
pub fn entries(
    chart: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<Entry>, AnnotationError> {
    let mut out = Vec::new();
    for key in KEYS {
        let Some(text) = annotations.get(key) else {
            continue;
        };
        let list = yaml::parse_one(text, 1).map_err(|error| AnnotationError::NotYaml {
            chart: chart.to_owned(),
            key,
            error,
        })?;
        if list.is_null() {
            continue;
        }
        let items = list.as_seq().ok_or_else(|| AnnotationError::NotAList {
            chart: chart.to_owned(),
            key,
        })?;
        for (i, item) in items.iter().enumerate() {
            let text = |k: &str| item.get(k).and_then(Node::as_text).map(str::to_owned);
            let image = match (text("image"), item.as_text()) {
                (Some(image), _) => image,
                (None, Some(plain)) => plain.to_owned(),
                (None, None) => {
                    return Err(AnnotationError::NoImage {
                        chart: chart.to_owned(),
                        key,
                        entry: i + 1,
                    });
                }
            };
            out.push(Entry {
                key,
                name: text("name"),
                image,
                dependency: text("dependency"),
                condition: text("condition"),
            });
        }
    }
    Ok(out)
}

/// Turns entries into findings. `is_off(condition)` says whether a `condition` values path is
/// false in the chart's values; `dependency_off(name)` whether a named dependency is off.
pub fn findings(
    chart: &str,
    entries: &[Entry],
    chart_off: Option<&str>,
    is_off: impl Fn(&str) -> bool,
    dependency_off: impl Fn(&str) -> Option<String>,
    out: &mut Vec<Finding>,
) -> Result<(), AnnotationError> {
    for entry in entries {
        let reference = Reference::parse(entry.image.trim()).map_err(|error| {
            AnnotationError::BadReference {
                chart: chart.to_owned(),
                key: entry.key,
                error,
            }
        })?;
        let disabled_by = chart_off
            .map(str::to_owned)
            .or_else(|| {
                entry
                    .condition
                    .as_deref()
                    .filter(|c| is_off(c))
                    .map(|c| format!("{c}=false"))
            })
            .or_else(|| entry.dependency.as_deref().and_then(&dependency_off));
        out.push(Finding {
            reference,
            written: entry.image.clone(),
            origin: Origin::Annotation {
                chart: chart.to_owned(),
                key: entry.key.to_owned(),
                name: entry.name.clone(),
                disabled_by,
            },
            confidence: Confidence::Certain,
            spot: None,
            kind: Kind::Image,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_three_keys() {
        let mut a = BTreeMap::new();
        a.insert(
            "images".into(),
            "- name: os-shell\n  image: docker.io/bitnami/os-shell:12\n".into(),
        );
        a.insert(
            "helm.sh/images".into(),
            "- name: a\n  image: ghcr.io/a/a:1\n  condition: a.enabled\n- name: b\n  image: b:2\n  dependency: sub\n".into(),
        );
        a.insert(
            "artifacthub.io/images".into(),
            "- name: j\n  image: jenkins/jenkins:2\n".into(),
        );
        let e = entries("c", &a).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].condition.as_deref(), Some("a.enabled"));
        assert_eq!(e[1].dependency.as_deref(), Some("sub"));
        let mut out = Vec::new();
        findings("c", &e, None, |c| c == "a.enabled", |_| None, &mut out).unwrap();
        assert_eq!(out[0].origin.disabled_by(), Some("a.enabled=false"));
        assert!(out[1].enabled());
        assert_eq!(
            out[3].reference.canonical(),
            "docker.io/bitnami/os-shell:12"
        );
    }

    #[test]
    fn malformed_annotation_names_chart_and_key() {
        let mut a = BTreeMap::new();
        a.insert("images".into(), "name: x\n".into());
        let err = entries("mychart", &a).unwrap_err();
        assert!(matches!(
            err,
            AnnotationError::NotAList { key: "images", .. }
        ));
        let err = err.to_string();
        assert!(
            err.contains("mychart") && err.contains("annotation images"),
            "{err}"
        );
    }
}
