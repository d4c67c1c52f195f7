//! What a chart declares without rendering: images in its values and annotations, and in those
//! of every subchart, each marked off when the feature or the subchart is switched off.
//!
//! Subchart values are the subchart's values.yaml with the parent's `<alias or name>:` section
//! and `global:` coalesced over them, as Helm does. A subchart is off when the first of its
//! `condition` paths that is a boolean is false, or, without a condition, when all of its
//! `tags` found under `tags:` are false.

use crate::annotations::{self, AnnotationError};
use crate::chart::Chart;
use crate::inventory::Finding;
use crate::values;
use crate::yaml::{self, Node, Source, Value, YamlError};
use std::borrow::Cow;
use std::fmt;

/// Why a chart's declared images cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclaredError {
    /// A chart's (or subchart's) `values.yaml` is not YAML; `chart` is its name.
    Values { chart: String, error: YamlError },
    /// An images annotation is malformed.
    Annotation(AnnotationError),
}

impl fmt::Display for DeclaredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclaredError::Values { chart, error } => write!(f, "values.yaml of {chart}: {error}"),
            DeclaredError::Annotation(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DeclaredError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeclaredError::Values { error, .. } => Some(error),
            DeclaredError::Annotation(e) => Some(e),
        }
    }
}

impl From<AnnotationError> for DeclaredError {
    fn from(e: AnnotationError) -> Self {
        DeclaredError::Annotation(e)
    }
}

/// Findings of a chart and all its subcharts.
pub fn scan(chart: &Chart) -> Result<Vec<Finding>, DeclaredError> {
    let mut out = Vec::new();
    let own = parse_values(chart)?;
    visit(
        chart,
        own,
        chart.metadata.name.clone(),
        String::new(),
        None,
        &mut out,
    )?;
    Ok(out)
}

fn parse_values(chart: &Chart) -> Result<Node<'_>, DeclaredError> {
    match &chart.values_yaml {
        Some(text) => yaml::parse_one(text, 1).map_err(|error| DeclaredError::Values {
            chart: chart.metadata.name.clone(),
            error,
        }),
        None => Ok(empty_map()),
    }
}

fn empty_map<'a>() -> Node<'a> {
    Node {
        value: Value::Map(Vec::new()),
        line: 1,
        source: Source::default(),
    }
}

fn visit<'a>(
    chart: &'a Chart,
    values: Node<'a>,
    display: String,
    prefix: String,
    chart_off: Option<String>,
    out: &mut Vec<Finding>,
) -> Result<(), DeclaredError> {
    let uses_app_version = chart
        .templates
        .iter()
        .any(|(_, t)| t.contains(".Chart.AppVersion"));
    let ctx = values::Context {
        chart: &display,
        prefix: &prefix,
        app_version: chart
            .metadata
            .app_version
            .as_deref()
            .filter(|_| uses_app_version),
        disabled_by: chart_off.clone(),
    };
    values::scan(&values, &ctx, out);

    let entries = annotations::entries(&display, &chart.metadata.annotations)?;
    let is_off = |path: &str| lookup_bool(&values, path) == Some(false);
    let dependency_off = |name: &str| {
        let dep = chart
            .metadata
            .dependencies
            .iter()
            .find(|d| d.name == name || d.alias.as_deref() == Some(name))?;
        dependency_disabled(&values, dep.condition.as_deref(), &dep.tags)
    };
    annotations::findings(
        &display,
        &entries,
        chart_off.as_deref(),
        is_off,
        dependency_off,
        out,
    )?;

    for sub in &chart.subcharts {
        let deps: Vec<_> = chart.dependencies_for(sub).collect();
        // One copy of the subchart per dependency entry (aliases), or one when none declares it.
        let entries: Vec<Option<&crate::chart::Dependency>> = if deps.is_empty() {
            vec![None]
        } else {
            deps.into_iter().map(Some).collect()
        };
        for dep in entries {
            let key = dep
                .and_then(|d| d.alias.clone())
                .unwrap_or_else(|| sub.metadata.name.clone());
            let off = chart_off.clone().or_else(|| {
                dep.and_then(|d| dependency_disabled(&values, d.condition.as_deref(), &d.tags))
                    .map(|why| format!("{prefix}{why}"))
            });
            let mut sub_values = parse_values(sub)?;
            if let Some(section) = values.get(&key) {
                sub_values = coalesce(sub_values, section);
            }
            if let Some(global) = values.get("global") {
                let wrapped = Node {
                    value: Value::Map(vec![(key_node("global"), global.clone())]),
                    line: global.line,
                    source: Source::default(),
                };
                sub_values = coalesce(sub_values, &wrapped);
            }
            let display = format!("{display}/{key}");
            visit(
                sub,
                sub_values,
                display,
                format!("{prefix}{key}."),
                off,
                out,
            )?;
        }
    }
    Ok(())
}

fn key_node<'a>(key: &'a str) -> Node<'a> {
    Node {
        value: Value::Scalar(Cow::Borrowed(key), true),
        line: 1,
        source: Source::default(),
    }
}

/// Why a dependency is off, if it is: `cond.path=false` or `tags: a, b all false`.
fn dependency_disabled(
    values: &Node<'_>,
    condition: Option<&str>,
    tags: &[String],
) -> Option<String> {
    if let Some(condition) = condition {
        for path in condition
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if let Some(enabled) = lookup_bool(values, path) {
                return (!enabled).then(|| format!("{path}=false"));
            }
        }
    }
    let found: Vec<bool> = tags
        .iter()
        .filter_map(|t| values.path(&["tags", t]).and_then(Node::as_bool))
        .collect();
    if !found.is_empty() && found.iter().all(|on| !on) {
        return Some(format!("tags {} false", tags.join(", ")));
    }
    None
}

fn lookup_bool(values: &Node<'_>, dotted: &str) -> Option<bool> {
    let keys: Vec<&str> = dotted.split('.').collect();
    values.path(&keys)?.as_bool()
}

/// Helm's coalescing: `over` wins; maps merge key by key; a null in `over` removes the key.
pub fn coalesce<'a>(base: Node<'a>, over: &Node<'a>) -> Node<'a> {
    match (base.value, &over.value) {
        (Value::Map(mut entries), Value::Map(over_entries)) => {
            for (k, v) in over_entries {
                let Some(key) = k.as_str() else { continue };
                match entries.iter().position(|(e, _)| e.as_str() == Some(key)) {
                    Some(i) if v.is_null() => {
                        entries.remove(i);
                    }
                    Some(i) => {
                        let (ek, ev) = entries.remove(i);
                        entries.insert(i, (ek, coalesce(ev, v)));
                    }
                    None if v.is_null() => {}
                    None => entries.push((k.clone(), v.clone())),
                }
            }
            Node {
                value: Value::Map(entries),
                line: base.line,
                source: Source::default(),
            }
        }
        (_, _) => over.clone(),
    }
}
