//! `Chart.yaml` (and the `requirements.yaml` of old charts) parsed and validated as Helm's
//! `Metadata.Validate` does, into [`Metadata`] and its [`Dependency`] entries, under YAML budgets
//! tight enough that an alias bomb fails fast.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ChartError;

/// The parts of `Chart.yaml` purser uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// `apiVersion`; `v1` when the file leaves it out, as Helm assumes.
    pub api_version: String,
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// From `Chart.yaml`, or from `requirements.yaml` for old (v1) charts.
    pub dependencies: Vec<Dependency>,
    /// `type`: `application` or `library`; `None` when not given.
    pub chart_type: Option<String>,
}

/// One entry of `dependencies` in `Chart.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub name: String,
    pub version: Option<String>,
    pub repository: Option<String>,
    pub condition: Option<String>,
    pub tags: Vec<String>,
    pub alias: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct RawMetadata {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    name: Option<String>,
    version: Option<String>,
    #[serde(rename = "appVersion")]
    app_version: Option<String>,
    annotations: Option<BTreeMap<String, Option<String>>>,
    pub(super) dependencies: Option<Vec<Option<RawDependency>>>,
    #[serde(rename = "type")]
    chart_type: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct RawRequirements {
    pub(super) dependencies: Option<Vec<Option<RawDependency>>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct RawDependency {
    name: Option<String>,
    version: Option<String>,
    repository: Option<String>,
    condition: Option<String>,
    tags: Option<Vec<Option<String>>>,
    alias: Option<String>,
    enabled: Option<bool>,
}

/// Parse a small YAML metadata file under tight budgets: a real `Chart.yaml` is a few hundred
/// nodes, so an alias bomb trips these within milliseconds.
pub(super) fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
) -> Result<Option<T>, ChartError> {
    parse_metadata_yaml(text).map_err(|e| ChartError::new(format!("{name} is not valid: {e}")))
}

/// A chart metadata file (`Chart.yaml`, `requirements.yaml`) read as Helm reads it (the last
/// of duplicated keys wins), under tight budgets (aliases count as the nodes they copy); the
/// loader and the OCI artifact builder share it.
pub(crate) fn parse_metadata_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<Option<T>, crate::yaml::de::ReadError> {
    let budget = crate::yaml::Budget {
        max_nodes: 50_000,
        max_depth: 64,
    };
    crate::yaml::de::from_str(text, budget)
}

/// Helm's `sanitizeString`: whitespace becomes a space, other non-printable characters go.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| sanitize(&s)).filter(|s| !s.is_empty())
}

impl RawMetadata {
    /// Validate as Helm's `Metadata.Validate` does.
    pub(super) fn into_metadata(
        self,
        deps: Option<Vec<Option<RawDependency>>>,
        file: &str,
    ) -> Result<Metadata, ChartError> {
        let invalid = |what: String| ChartError::new(format!("{file} is not valid: {what}"));
        let api_version = non_empty(self.api_version).unwrap_or_else(|| "v1".to_string());
        let name = non_empty(self.name).ok_or_else(|| invalid("`name` is required".to_string()))?;
        if name.contains('/') || name.contains('\\') {
            return Err(invalid(format!(
                "`name` {name:?} must not contain a path separator"
            )));
        }
        let version =
            non_empty(self.version).ok_or_else(|| invalid("`version` is required".to_string()))?;
        if !is_valid_semver(&version) {
            return Err(invalid(format!(
                "`version` {version:?} is not a semantic version (like 1.2.3)"
            )));
        }
        let chart_type = non_empty(self.chart_type);
        if let Some(t) = &chart_type {
            if t != "application" && t != "library" {
                return Err(invalid(format!(
                    "`type` {t:?} must be application or library"
                )));
            }
        }
        let annotations = self
            .annotations
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();

        let mut dependencies = Vec::new();
        let mut keys = BTreeSet::new();
        for (i, dep) in deps.unwrap_or_default().into_iter().enumerate() {
            let Some(dep) = dep else {
                return Err(invalid(format!(
                    "dependency #{} is empty; dependencies must not contain empty or null entries",
                    i + 1
                )));
            };
            let dep_name = dep.name.map(|s| sanitize(&s)).unwrap_or_default();
            let alias = non_empty(dep.alias);
            if let Some(a) = &alias {
                if !a
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(invalid(format!(
                        "dependency {dep_name:?} has disallowed characters in its alias {a:?} \
                         (allowed: letters, digits, '-' and '_')"
                    )));
                }
            }
            let key = alias.clone().unwrap_or_else(|| dep_name.clone());
            if !keys.insert(key.clone()) {
                return Err(invalid(format!(
                    "more than one dependency with name or alias {key:?}; give dependencies \
                     on the same chart distinct aliases"
                )));
            }
            dependencies.push(Dependency {
                name: dep_name,
                version: non_empty(dep.version),
                repository: non_empty(dep.repository),
                condition: non_empty(dep.condition),
                tags: dep
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| sanitize(&t.unwrap_or_default()))
                    .collect(),
                alias,
                enabled: dep.enabled,
            });
        }

        Ok(Metadata {
            api_version,
            name,
            version,
            app_version: non_empty(self.app_version),
            annotations,
            dependencies,
            chart_type,
        })
    }
}

/// The version syntax Helm accepts (Masterminds `semver.NewVersion`): an optional `v`, one to
/// three numeric parts, then optional `-prerelease` and `+build` dot-separated identifiers.
fn is_valid_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (rest, build) = match v.split_once('+') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3
        || parts.iter().any(|p| {
            p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u64>().is_err()
        })
    {
        return false;
    }
    let idents_ok = |s: &str, numeric_no_leading_zero: bool| {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !(numeric_no_leading_zero
                    && id.len() > 1
                    && id.starts_with('0')
                    && id.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    pre.is_none_or(|p| idents_ok(p, true)) && build.is_none_or(|b| idents_ok(b, false))
}

#[cfg(test)]
mod tests {
    use super::super::{Chart, Limits, load_files};
    use super::*;
    use crate::chart::test_archives::{E, load_err, tgz};

    #[test]
    fn dependencies_and_metadata_fields() {
        let cy = r#"
apiVersion: v2
name: app
version: v1.2.3-rc.1+build.5
appVersion: 1.10
type: application
description: ignored
maintainers: [{name: someone}]
annotations:
  category: Infrastructure
  images: |
    - name: nginx
      image: nginx:1.25
  empty:
dependencies:
  - name: redis
    version: 17.x.x
    repository: oci://registry-1.docker.io/bitnamicharts
    condition: redis.enabled
    tags: [cache, backend]
    import-values:
      - child: a
        parent: b
  - name: redis
    alias: second-redis
    enabled: false
  - name: common
    tags:
      - bitnami-common
"#;
        let c = load_files(
            vec![("Chart.yaml".into(), cy.as_bytes().to_vec())],
            &Limits::default(),
        )
        .unwrap();
        let m = &c.metadata;
        assert_eq!(c.path, "app");
        assert_eq!(m.version, "v1.2.3-rc.1+build.5");
        assert_eq!(m.app_version.as_deref(), Some("1.10"));
        assert_eq!(m.chart_type.as_deref(), Some("application"));
        assert_eq!(m.annotations["category"], "Infrastructure");
        assert!(m.annotations["images"].contains("nginx:1.25"));
        assert_eq!(m.annotations["empty"], "");
        assert_eq!(m.dependencies.len(), 3);
        let r = &m.dependencies[0];
        assert_eq!(r.name, "redis");
        assert_eq!(r.version.as_deref(), Some("17.x.x"));
        assert_eq!(r.condition.as_deref(), Some("redis.enabled"));
        assert_eq!(r.tags, ["cache", "backend"]);
        assert_eq!(r.alias, None);
        assert_eq!(r.enabled, None);
        let r2 = &m.dependencies[1];
        assert_eq!(r2.alias.as_deref(), Some("second-redis"));
        assert_eq!(r2.enabled, Some(false));
        assert_eq!(m.dependencies[2].tags, ["bitnami-common"]);

        // A redis subchart matches both entries that name it.
        let redis = Chart {
            path: "app/charts/redis".into(),
            metadata: Metadata {
                name: "redis".into(),
                ..Metadata::default()
            },
            values_yaml: None,
            templates: vec![],
            subcharts: vec![],
        };
        assert_eq!(c.dependencies_for(&redis).count(), 2);
        assert_eq!(c.dependency_for(&redis).unwrap().alias, None);
    }

    #[test]
    fn chart_yaml_validation() {
        let one = |cy: &str| {
            load_files(
                vec![("Chart.yaml".into(), cy.as_bytes().to_vec())],
                &Limits::default(),
            )
        };
        let c = one("name: old\nversion: 1.0.0\n").unwrap();
        assert_eq!(c.metadata.api_version, "v1");
        for (cy, needle) in [
            ("apiVersion: v2\nversion: 1.0.0\n", "`name` is required"),
            ("apiVersion: v2\nname: x\n", "`version` is required"),
            (
                "apiVersion: v2\nname: x\nversion: latest\n",
                "not a semantic version",
            ),
            (
                "apiVersion: v2\nname: a/b\nversion: 1.0.0\n",
                "path separator",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ntype: plugin\n",
                "application or library",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: a\n    alias: bad.alias\n",
                "disallowed characters",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: a\n  - name: a\n",
                "more than one dependency",
            ),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  -\n",
                "empty",
            ),
            ("- a\n- b\n", "Chart.yaml is not valid"),
        ] {
            let err = one(cy).unwrap_err().to_string();
            assert!(err.contains(needle), "{cy:?}: {err}");
            assert!(err.contains("Chart.yaml"), "{err}");
        }
        // Syntax errors carry the chart path and the line.
        let bytes = tgz(&[E::File(
            "bad/Chart.yaml",
            b"apiVersion: v2\nname: x\nversion: [1\n",
        )]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("bad/Chart.yaml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn semver_syntax() {
        for ok in [
            "1",
            "1.2",
            "1.2.3",
            "v1.2.3",
            "1.2.3-alpha.1",
            "1.2.3+b.5",
            "0.0.0-0.3.7",
            "1.0.0-x-y",
        ] {
            assert!(is_valid_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "v",
            "1.2.3.4",
            "a.b.c",
            "1..2",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2 .3",
        ] {
            assert!(!is_valid_semver(bad), "{bad}");
        }
    }

    #[test]
    fn requirements_yaml_supplies_old_dependencies() {
        let c = load_files(
            vec![
                ("Chart.yaml".into(), b"apiVersion: v1\nname: old\nversion: 1.0.0\n".to_vec()),
                (
                    "requirements.yaml".into(),
                    b"dependencies:\n  - name: mysql\n    version: 1.x\n    condition: mysql.enabled\n".to_vec(),
                ),
            ],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(c.metadata.dependencies.len(), 1);
        assert_eq!(c.metadata.dependencies[0].name, "mysql");
    }
    #[test]
    fn alias_bomb_in_chart_yaml_fails_fast() {
        let mut cy = String::from("apiVersion: v2\nname: bomb\nversion: 1.0.0\n");
        cy.push_str("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 10].join(",");
            cy.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], refs));
        }
        let start = std::time::Instant::now();
        for extra in ["", "annotations:\n  x: *i\n", "dependencies: *i\n"] {
            let text = format!("{cy}{extra}");
            let err = load_files(
                vec![("Chart.yaml".into(), text.into_bytes())],
                &Limits::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("Chart.yaml is not valid"), "{err}");
        }
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    }
}
