//! Reading a set file's YAML tree field by field: [`Fields`] over one mapping, strict (an
//! unknown key is a [`SetError`] naming it, its line and the nearest known key) for purser's
//! own format, or lenient for the files of other tools, where every key purser does not carry
//! becomes a [`Warning`] instead.

use super::{SetError, Warning};
use crate::yaml::{Node, Value};

/// One mapping of the file, with the path that names it in messages (`charts[2].repo`).
pub(crate) struct Fields<'n, 'a> {
    node: &'n Node<'a>,
    pub path: String,
}

/// `path.key`, or `key` at the top.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn error(node: &Node<'_>, path: &str, message: impl Into<String>) -> SetError {
    SetError {
        line: node.line,
        path: path.to_owned(),
        message: message.into(),
    }
}

fn kind(node: &Node<'_>) -> &'static str {
    match &node.value {
        Value::Map(_) => "a mapping",
        Value::Seq(_) => "a list",
        Value::Scalar(..) if node.is_null() => "empty",
        Value::Scalar(..) => "a scalar",
    }
}

impl<'n, 'a> Fields<'n, 'a> {
    /// `node` as a mapping whose keys must all be `known`.
    pub fn strict(node: &'n Node<'a>, path: &str, known: &[&str]) -> Result<Self, SetError> {
        let fields = Fields::of(node, path)?;
        for (key, _) in node.as_map().unwrap_or_default() {
            let name = key.as_str().unwrap_or_default();
            if !known.contains(&name) {
                return Err(error(
                    key,
                    &join(path, name),
                    format!("unknown key {name:?}{}", nearest_hint(name, known)),
                ));
            }
        }
        Ok(fields)
    }

    /// `node` as a mapping of another tool's file: keys in `carried` are read; every other key
    /// is warned about (`ignored` says why for the ones the tool knows but purser leaves).
    pub fn lenient(
        node: &'n Node<'a>,
        path: &str,
        carried: &[&str],
        ignored: &[(&str, &str)],
        warnings: &mut Vec<Warning>,
    ) -> Result<Self, SetError> {
        let fields = Fields::of(node, path)?;
        for (key, _) in node.as_map().unwrap_or_default() {
            let name = key.as_str().unwrap_or_default();
            if carried.contains(&name) {
                continue;
            }
            let message = match ignored.iter().find(|(k, _)| *k == name) {
                Some((_, why)) => format!("not carried: {why}"),
                None => format!("unknown key, not carried{}", nearest_hint(name, carried)),
            };
            warnings.push(Warning {
                line: key.line,
                path: join(path, name),
                message,
            });
        }
        Ok(fields)
    }

    fn of(node: &'n Node<'a>, path: &str) -> Result<Self, SetError> {
        if node.as_map().is_none() && !node.is_null() {
            return Err(error(
                node,
                path,
                format!("must be a mapping, not {}", kind(node)),
            ));
        }
        Ok(Fields {
            node,
            path: path.to_owned(),
        })
    }

    pub fn line(&self) -> u32 {
        self.node.line
    }

    /// The node under `key`, unless absent or null.
    pub fn get(&self, key: &str) -> Option<&'n Node<'a>> {
        self.node.get(key).filter(|n| !n.is_null())
    }

    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, SetError> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => match (&n.value, n.as_str()) {
                (Value::Scalar(..), Some(s)) => Ok(Some(s.to_owned())),
                _ => Err(error(
                    n,
                    &self.path_of(key),
                    format!("must be a string, not {}", kind(n)),
                )),
            },
        }
    }

    pub fn required(&self, key: &str) -> Result<String, SetError> {
        self.string(key)?.filter(|s| !s.is_empty()).ok_or_else(|| {
            error(
                self.node,
                &self.path_of(key),
                format!("`{key}` is required here"),
            )
        })
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, SetError> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => n.as_bool().map(Some).ok_or_else(|| {
                error(
                    n,
                    &self.path_of(key),
                    format!(
                        "must be true or false, not {:?}",
                        n.as_str().unwrap_or(kind(n))
                    ),
                )
            }),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<u64>, SetError> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => n
                .as_str()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    error(
                        n,
                        &self.path_of(key),
                        format!(
                            "must be a whole number, not {:?}",
                            n.as_str().unwrap_or(kind(n))
                        ),
                    )
                }),
        }
    }

    /// A list under `key` (absent: empty).
    pub fn list(&self, key: &str) -> Result<&'n [Node<'a>], SetError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(n) => n.as_seq().ok_or_else(|| {
                error(
                    n,
                    &self.path_of(key),
                    format!("must be a list, not {}", kind(n)),
                )
            }),
        }
    }

    /// A list of strings, or one string read as a list of one.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, SetError> {
        if let Some(n) = self.get(key)
            && matches!(n.value, Value::Scalar(..))
        {
            return Ok(self.string(key)?.into_iter().collect());
        }
        self.list(key)?
            .iter()
            .enumerate()
            .map(|(i, n)| match n.as_str() {
                Some(s) if matches!(n.value, Value::Scalar(..)) => Ok(s.to_owned()),
                _ => Err(error(
                    n,
                    &format!("{}[{i}]", self.path_of(key)),
                    format!("must be a string, not {}", kind(n)),
                )),
            })
            .collect()
    }
}

/// ` (did you mean "x"?)` for the known key nearest to `name`, when one is near enough; else
/// the keys that are known here.
fn nearest_hint(name: &str, known: &[&str]) -> String {
    let lower = name.to_ascii_lowercase();
    let best = known
        .iter()
        .map(|k| (distance(&lower, &k.to_ascii_lowercase()), *k))
        .min();
    match best {
        Some((d, k)) if d <= (name.len().max(k.len()) / 3).max(2) => {
            format!(" (did you mean {k:?}?)")
        }
        _ if known.is_empty() => String::new(),
        _ => format!("; known here: {}", known.join(", ")),
    }
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_known_key() {
        assert_eq!(distance("valuesfile", "valuesfiles"), 1);
        assert_eq!(
            nearest_hint("valuesFile", &["values", "valuesFiles", "versions"]),
            " (did you mean \"valuesFiles\"?)"
        );
        assert_eq!(
            nearest_hint("zzzz", &["values", "to"]),
            "; known here: values, to"
        );
    }
}
