//! A classic Helm repository's `index.yaml` -> [`Index`], and [`choose`]: the versions of a
//! chart a range and a [`Select`] keep, newest first, as Helm orders them (semver precedence;
//! pre-releases only when the range names one; entries that are no version left out).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Select;
use super::semver::{Range, Version};

/// What a repository offers: each chart name's versions, with where each archive is.
#[derive(Debug, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<Entry>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub version: String,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub digest: Option<String>,
}

/// Why no version could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChooseError {
    NoSuchChart { name: String, known: usize },
    NoMatch { range: String, newest: Vec<String> },
    BadRange(String),
}

impl std::fmt::Display for ChooseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChooseError::NoSuchChart { name, known } => {
                write!(
                    f,
                    "the repository has no chart {name:?} ({known} charts in its index)"
                )
            }
            ChooseError::NoMatch { range, newest } if newest.is_empty() => {
                write!(
                    f,
                    "no version matches {range:?}: the chart has no version at all"
                )
            }
            ChooseError::NoMatch { range, newest } => write!(
                f,
                "no version matches {range:?}; the newest are {}",
                newest.join(", ")
            ),
            ChooseError::BadRange(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ChooseError {}

impl Index {
    /// Reads `index.yaml`.
    pub fn parse(text: &str) -> Result<Index, String> {
        let node = crate::yaml::parse_one(text, 1).map_err(|e| e.to_string())?;
        crate::yaml::de::from_node(&node).map_err(|e| e.to_string())
    }

    /// The entries of chart `name` a range and a selection keep, newest first.
    pub fn choose(
        &self,
        name: &str,
        range: Option<&str>,
        select: Select,
    ) -> Result<Vec<Entry>, ChooseError> {
        let entries = self
            .entries
            .get(name)
            .ok_or_else(|| ChooseError::NoSuchChart {
                name: name.to_owned(),
                known: self.entries.len(),
            })?;
        let versions: Vec<String> = entries.iter().map(|e| e.version.clone()).collect();
        let chosen = choose(&versions, range, select)?;
        Ok(chosen
            .iter()
            .filter_map(|v| entries.iter().find(|e| &e.version == v).cloned())
            .collect())
    }
}

/// Of `versions` (as written), those in `range` (none: every stable version), newest first,
/// cut by `select`.
pub fn choose(
    versions: &[String],
    range: Option<&str>,
    select: Select,
) -> Result<Vec<String>, ChooseError> {
    let parsed_range =
        Range::parse(range.unwrap_or("*")).map_err(|e| ChooseError::BadRange(e.to_string()))?;
    let mut all: Vec<Version> = versions.iter().filter_map(|v| Version::parse(v)).collect();
    all.sort_by(|a, b| b.cmp(a));
    all.dedup_by(|a, b| a.text == b.text);
    let kept: Vec<String> = all
        .iter()
        .filter(|v| parsed_range.matches(v))
        .map(|v| v.text.clone())
        .collect();
    if kept.is_empty() {
        return Err(ChooseError::NoMatch {
            range: range.unwrap_or("*").to_owned(),
            newest: all.iter().take(5).map(|v| v.text.clone()).collect(),
        });
    }
    Ok(select.apply(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "\
apiVersion: v1
entries:
  podinfo:
  - version: 6.10.0
    urls: [podinfo-6.10.0.tgz]
  - version: 6.9.1
    urls: [podinfo-6.9.1.tgz]
  - version: 6.11.0-rc.1
    urls: [podinfo-6.11.0-rc.1.tgz]
  - version: 5.2.0
    urls: [podinfo-5.2.0.tgz]
generated: \"2026-01-01T00:00:00Z\"
";

    fn versions(range: Option<&str>, select: Select) -> Vec<String> {
        Index::parse(INDEX)
            .unwrap()
            .choose("podinfo", range, select)
            .unwrap()
            .into_iter()
            .map(|e| e.version)
            .collect()
    }

    #[test]
    fn latest_all_and_newest_n() {
        assert_eq!(versions(Some(">=6.0.0 <7"), Select::Latest), ["6.10.0"]);
        assert_eq!(versions(Some("^6"), Select::All), ["6.10.0", "6.9.1"]);
        assert_eq!(versions(None, Select::Newest(2)), ["6.10.0", "6.9.1"]);
        assert_eq!(
            versions(Some(">=6.0.0-0"), Select::All),
            ["6.11.0-rc.1", "6.10.0", "6.9.1"]
        );
        assert_eq!(versions(Some("5.2.0"), Select::Latest), ["5.2.0"]);
    }

    #[test]
    fn nothing_matching_says_what_there_is() {
        let index = Index::parse(INDEX).unwrap();
        let e = index
            .choose("podinfo", Some(">=7"), Select::Latest)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no version matches \">=7\"; the newest are 6.11.0-rc.1, 6.10.0, 6.9.1, 5.2.0"
        );
        let e = index.choose("nginx", None, Select::Latest).unwrap_err();
        assert!(matches!(e, ChooseError::NoSuchChart { known: 1, .. }));
    }
}
