//! [`Switch`] and [`list`]: finding a chart's switches, the values paths that are false by
//! default and turn something on (`X.enabled: false` in its values or a subchart's, a subchart's
//! `condition`, its tags), read from the top chart's values coalesced with each subchart's.

use crate::chart::Chart;
use crate::declared::coalesce;
use crate::yaml::{self, Node, Source, Value};
use std::borrow::Cow;

/// What a switch turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `X.enabled: false` in values.
    Feature,
    /// A subchart's `condition`.
    Condition,
    /// A subchart's tag.
    Tag,
}

/// A values path that is false by default and turns a feature or a subchart on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The path's keys from the top chart's values: `["sub", "metrics", "enabled"]`.
    pub keys: Vec<String>,
    pub kind: Kind,
    /// Switches rendered together when all of them at once fail: the first key (a top-level
    /// values key or a subchart), or `tags.T`.
    pub group: String,
    /// The switch this one sits under (an enclosing `enabled: false`, the subchart's own
    /// switch): it has an effect only with that one on too.
    pub requires: Option<usize>,
}

impl Switch {
    /// The path as users write it: `sub.metrics.enabled`.
    pub fn path(&self) -> String {
        self.keys.join(".")
    }

    /// The `--set` argument that turns it on: `sub.metrics.enabled=true`, with `.`, `,`, `=`,
    /// `[` and `\` inside keys escaped as Helm's `--set` parser reads them.
    pub fn set_arg(&self) -> String {
        let mut out = String::new();
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            for c in key.chars() {
                if matches!(c, '.' | ',' | '=' | '[' | ']' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        out.push_str("=true");
        out
    }
}

/// Every switch of `chart` and its subcharts, parents before what sits under them.
pub fn list(chart: &Chart) -> Result<Vec<Switch>, String> {
    let values = parse_values(chart)?;
    let mut lister = Lister {
        switches: Vec::new(),
        tags: values.get("tags").cloned(),
    };
    lister.chart(chart, values, &[], None)?;
    Ok(lister.switches)
}

fn parse_values(chart: &Chart) -> Result<Node<'_>, String> {
    match &chart.values_yaml {
        Some(text) => yaml::parse_one(text, 1)
            .map_err(|e| format!("values.yaml of {}: {e}", chart.metadata.name)),
        None => Ok(Node {
            value: Value::Map(Vec::new()),
            line: 1,
            source: Source::default(),
        }),
    }
}

struct Lister<'a> {
    switches: Vec<Switch>,
    /// The top chart's `tags:`, the only ones Helm reads.
    tags: Option<Node<'a>>,
}

impl<'a> Lister<'a> {
    fn add(&mut self, keys: Vec<String>, kind: Kind, requires: Option<usize>) -> usize {
        if let Some(i) = self.switches.iter().position(|s| s.keys == keys) {
            return i;
        }
        let group = match kind {
            Kind::Tag => keys.join("."),
            _ => keys[0].clone(),
        };
        self.switches.push(Switch {
            keys,
            kind,
            group,
            requires,
        });
        self.switches.len() - 1
    }

    /// A chart at `prefix` with its coalesced `values`; `requires` is the switch it is off by.
    fn chart(
        &mut self,
        chart: &'a Chart,
        values: Node<'a>,
        prefix: &[String],
        requires: Option<usize>,
    ) -> Result<(), String> {
        let mut subs = Vec::new();
        for sub in &chart.subcharts {
            let deps: Vec<_> = chart.dependencies_for(sub).collect();
            if deps.is_empty() {
                subs.push((sub, sub.metadata.name.clone(), None));
            }
            for dep in deps {
                let key = dep
                    .alias
                    .clone()
                    .unwrap_or_else(|| sub.metadata.name.clone());
                subs.push((sub, key, Some(dep)));
            }
        }
        // The chart's own features; subchart sections are read with the subchart's values, and
        // `global:` of a subchart as the top chart's (globals flow down).
        let skip: Vec<&str> = subs.iter().map(|(_, k, _)| k.as_str()).collect();
        let top = prefix.is_empty();
        if let Value::Map(entries) = &values.value {
            let mut root_requires = requires;
            if values.get("enabled").and_then(Node::as_bool) == Some(false) {
                root_requires = Some(self.add(with(prefix, "enabled"), Kind::Feature, requires));
            }
            for (k, v) in entries {
                let Some(k) = k.as_str() else { continue };
                if k == "enabled" || skip.contains(&k) {
                    continue;
                }
                let mut keys = if k == "global" && !top {
                    Vec::new()
                } else {
                    prefix.to_vec()
                };
                keys.push(k.to_owned());
                self.features(v, &mut keys, root_requires);
            }
        }
        for (sub, key, dep) in subs {
            let off = match dep {
                Some(dep) => self.dependency_switch(&values, prefix, dep, requires),
                None => None,
            };
            let mut sub_values = parse_values(sub)?;
            if let Some(section) = values.get(&key) {
                sub_values = coalesce(sub_values, section);
            }
            if let Some(global) = values.get("global") {
                let wrapped = Node {
                    value: Value::Map(vec![(
                        Node {
                            value: Value::Scalar(Cow::Borrowed("global"), true),
                            line: 1,
                            source: Source::default(),
                        },
                        global.clone(),
                    )]),
                    line: global.line,
                    source: Source::default(),
                };
                sub_values = coalesce(sub_values, &wrapped);
            }
            let sub_prefix = with(prefix, &key);
            self.chart(sub, sub_values, &sub_prefix, off.or(requires))?;
        }
        Ok(())
    }

    /// `enabled: false` maps below `node` (lists are left alone: `--set` on a list element
    /// replaces the whole list).
    fn features(&mut self, node: &Node<'_>, keys: &mut Vec<String>, requires: Option<usize>) {
        let Value::Map(entries) = &node.value else {
            return;
        };
        let mut requires = requires;
        if node.get("enabled").and_then(Node::as_bool) == Some(false) {
            requires = Some(self.add(with(keys, "enabled"), Kind::Feature, requires));
        }
        for (k, v) in entries {
            let Some(k) = k.as_str() else { continue };
            if k == "enabled" {
                continue;
            }
            keys.push(k.to_owned());
            self.features(v, keys, requires);
            keys.pop();
        }
    }

    /// The switch that turns on a subchart that is off, if it is: the first `condition` path
    /// that is a boolean when that is false; without one, a false tag when all are false.
    fn dependency_switch(
        &mut self,
        values: &Node<'_>,
        prefix: &[String],
        dep: &crate::chart::Dependency,
        requires: Option<usize>,
    ) -> Option<usize> {
        if let Some(condition) = &dep.condition {
            for path in condition
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let keys: Vec<&str> = path.split('.').collect();
                if let Some(on) = values.path(&keys).and_then(Node::as_bool) {
                    if on {
                        return None;
                    }
                    let mut full = prefix.to_vec();
                    full.extend(keys.iter().map(|k| (*k).to_owned()));
                    return Some(self.add(full, Kind::Condition, requires));
                }
            }
        }
        let tags = self.tags.as_ref()?;
        let found: Vec<(&String, bool)> = dep
            .tags
            .iter()
            .filter_map(|t| Some((t, tags.get(t)?.as_bool()?)))
            .collect();
        if found.is_empty() || found.iter().any(|(_, on)| *on) {
            return None;
        }
        let keys = vec!["tags".to_owned(), found[0].0.clone()];
        Some(self.add(keys, Kind::Tag, requires))
    }
}

fn with(prefix: &[String], key: &str) -> Vec<String> {
    let mut keys = prefix.to_vec();
    keys.push(key.to_owned());
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{Limits, load_files};

    fn chart(files: &[(&str, &str)]) -> Chart {
        load_files(
            files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
                .collect(),
            &Limits::default(),
        )
        .unwrap()
    }

    fn paths(switches: &[Switch]) -> Vec<String> {
        switches.iter().map(Switch::path).collect()
    }

    const TOP: &str = "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n  - name: db\n    version: 1.0.0\n    condition: db.enabled\n  - name: cache\n    version: 1.0.0\n    tags: [cache, backend]\n  - name: cache\n    alias: cache2\n    version: 1.0.0\n    condition: cache2.on,global.cache2.on\n  - name: always\n    version: 1.0.0\n    condition: always.enabled\n";

    fn top() -> Chart {
        chart(&[
            ("Chart.yaml", TOP),
            (
                "values.yaml",
                "global:\n  audit:\n    enabled: false\nmetrics:\n  enabled: false\n  serviceMonitor:\n    enabled: false\nlist:\n  - enabled: false\nweird.key:\n  enabled: false\ndb:\n  enabled: false\n  tls:\n    enabled: true\ntags:\n  cache: false\n  backend: false\ncache2:\n  on: false\nalways:\n  enabled: true\n",
            ),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 1.0.0\n",
            ),
            (
                "charts/db/values.yaml",
                "enabled: true\ntls:\n  enabled: false\nbackup:\n  enabled: false\nglobal:\n  dbonly:\n    enabled: false\n",
            ),
            (
                "charts/cache/Chart.yaml",
                "apiVersion: v2\nname: cache\nversion: 1.0.0\n",
            ),
            (
                "charts/cache/values.yaml",
                "persistence:\n  enabled: false\n",
            ),
            (
                "charts/always/Chart.yaml",
                "apiVersion: v2\nname: always\nversion: 1.0.0\n",
            ),
            ("charts/always/values.yaml", "extra:\n  enabled: false\n"),
        ])
    }

    #[test]
    fn lists_features_conditions_and_tags_from_the_top_chart() {
        let switches = list(&top()).unwrap();
        let got = paths(&switches);
        assert_eq!(
            got,
            [
                "global.audit.enabled",
                "metrics.enabled",
                "metrics.serviceMonitor.enabled",
                "weird.key.enabled",
                "always.extra.enabled",
                "tags.cache",
                "cache.persistence.enabled",
                "cache2.on",
                "cache2.persistence.enabled",
                "db.enabled",
                "db.backup.enabled",
                "global.dbonly.enabled",
            ]
        );
        let by = |p: &str| &switches[got.iter().position(|g| g == p).unwrap()];
        // The parent's values override the subchart's: db.tls is on, the parent says so.
        assert!(!got.contains(&"db.tls.enabled".to_owned()));
        // Nested switches need what they sit under; subchart switches need the subchart's.
        let needs = |p: &str| by(p).requires.map(|r| switches[r].path());
        assert_eq!(
            needs("metrics.serviceMonitor.enabled").as_deref(),
            Some("metrics.enabled")
        );
        assert_eq!(needs("db.backup.enabled").as_deref(), Some("db.enabled"));
        assert_eq!(
            needs("global.dbonly.enabled").as_deref(),
            Some("db.enabled")
        );
        assert_eq!(
            needs("cache.persistence.enabled").as_deref(),
            Some("tags.cache")
        );
        assert_eq!(
            needs("cache2.persistence.enabled").as_deref(),
            Some("cache2.on")
        );
        assert_eq!(needs("always.extra.enabled"), None);
        assert_eq!(by("db.enabled").kind, Kind::Condition);
        assert_eq!(by("tags.cache").kind, Kind::Tag);
        assert_eq!(by("tags.cache").group, "tags.cache");
        assert_eq!(by("db.backup.enabled").group, "db");
        assert_eq!(
            by("weird.key.enabled").set_arg(),
            "weird\\.key.enabled=true"
        );
    }

    #[test]
    fn a_chart_without_values_has_no_switches() {
        let c = chart(&[("Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\n")]);
        assert!(list(&c).unwrap().is_empty());
    }
}
