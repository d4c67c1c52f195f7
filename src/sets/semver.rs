//! Versions and ranges as Helm reads them (Masterminds semver v3): [`Version`] (an optional
//! `v`, one to three numeric parts, `-prerelease`, `+build`) ordered by semver precedence, and
//! [`Range`] (`>=1.2 <2`, `^1.2`, `~1.2.3`, `1.2.x`, `*`, `1.2 - 1.4`, `a || b`, commas).
//!
//! As in Helm, a pre-release matches a range only when a comparator of the range names a
//! pre-release itself (`>=1.0.0-0`), so `^1.2` never picks `1.3.0-rc.1`.

use std::cmp::Ordering;
use std::fmt;

/// A semantic version; the text it was read from is kept (`v1.2`, as the tag or index says).
#[derive(Debug, Clone)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<Ident>,
    pub text: String,
}

/// One pre-release identifier: numeric ones sort before alphanumeric ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ident {
    Num(u64),
    Alpha(String),
}

impl Version {
    /// Reads `text`; `None` when it is no version Helm would accept.
    pub fn parse(text: &str) -> Option<Version> {
        let v = text.strip_prefix('v').unwrap_or(text);
        let v = v.split_once('+').map_or(v, |(a, _)| a);
        let (core, pre) = match v.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (v, None),
        };
        let mut parts = [0u64; 3];
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.len() > 3 {
            return None;
        }
        for (slot, n) in parts.iter_mut().zip(&numbers) {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = n.parse().ok()?;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => p
                .split('.')
                .map(|id| {
                    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        None
                    } else if id.bytes().all(|b| b.is_ascii_digit()) {
                        id.parse().ok().map(Ident::Num)
                    } else {
                        Some(Ident::Alpha(id.to_owned()))
                    }
                })
                .collect::<Option<_>>()?,
        };
        Some(Version {
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
            pre,
            text: text.to_owned(),
        })
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    fn triple(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.triple().cmp(&other.triple()).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A version range: alternatives (`||`), each a list of comparators all of which must hold.
#[derive(Debug, Clone)]
pub struct Range {
    alternatives: Vec<Vec<Comparator>>,
    text: String,
}

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    version: Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// Why a range could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub range: String,
    pub reason: String,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is no version range: {}", self.range, self.reason)
    }
}

impl std::error::Error for RangeError {}

/// A partial version: `1`, `1.2`, `1.2.x`, `*`; the wildcard parts are `None`.
struct Partial {
    parts: [Option<u64>; 3],
    pre: Vec<Ident>,
    text: String,
}

impl Partial {
    fn parse(text: &str) -> Option<Partial> {
        let t = text.strip_prefix('v').unwrap_or(text);
        let t = t.split_once('+').map_or(t, |(a, _)| a);
        let (core, pre) = match t.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        let mut parts = [None; 3];
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.len() > 3 {
            return None;
        }
        let mut wild = false;
        for (slot, n) in parts.iter_mut().zip(&numbers) {
            if matches!(*n, "x" | "X" | "*") {
                wild = true;
                continue;
            }
            if wild {
                return None;
            }
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = Some(n.parse().ok()?);
        }
        let pre = match pre {
            Some(p) => Version::parse(&format!("0.0.0-{p}"))?.pre,
            None => Vec::new(),
        };
        Some(Partial {
            parts,
            pre,
            text: text.to_owned(),
        })
    }

    fn known(&self) -> usize {
        self.parts.iter().take_while(|p| p.is_some()).count()
    }

    /// The lowest version it stands for.
    fn floor(&self) -> Version {
        Version {
            major: self.parts[0].unwrap_or(0),
            minor: self.parts[1].unwrap_or(0),
            patch: self.parts[2].unwrap_or(0),
            pre: self.pre.clone(),
            text: self.text.clone(),
        }
    }

    /// The first version above everything it stands for, when a part is wild.
    fn ceiling(&self) -> Option<Version> {
        let (major, minor) = match self.known() {
            0 => return None,
            1 => (self.parts[0]? + 1, 0),
            2 => (self.parts[0]?, self.parts[1]? + 1),
            _ => return None,
        };
        Some(bare(major, minor, 0))
    }
}

fn bare(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        major,
        minor,
        patch,
        pre: Vec::new(),
        text: format!("{major}.{minor}.{patch}"),
    }
}

/// `>= v` with the lowest pre-release, so the bound admits nothing below `v`'s line.
fn lowest(v: Version) -> Comparator {
    Comparator {
        op: Op::Ge,
        version: v,
    }
}

fn below(v: Version) -> Comparator {
    Comparator {
        op: Op::Lt,
        version: v,
    }
}

impl Range {
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let fail = |reason: String| RangeError {
            range: text.to_owned(),
            reason,
        };
        if text.trim().is_empty() || text.trim() == "*" {
            return Ok(Range {
                alternatives: vec![Vec::new()],
                text: text.to_owned(),
            });
        }
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            let tokens = tokenize(alternative);
            if tokens.is_empty() {
                return Err(fail("an alternative between `||` is empty".into()));
            }
            let mut comparators = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                if tokens.get(i + 1).map(String::as_str) == Some("-") {
                    let (Some(lo), Some(hi)) = (
                        Partial::parse(&tokens[i]),
                        tokens.get(i + 2).and_then(|t| Partial::parse(t)),
                    ) else {
                        return Err(fail(format!(
                            "the hyphen range at {:?} is incomplete",
                            tokens[i]
                        )));
                    };
                    comparators.push(lowest(lo.floor()));
                    match hi.ceiling() {
                        Some(c) => comparators.push(below(c)),
                        None if hi.known() == 0 => {}
                        None => comparators.push(Comparator {
                            op: Op::Le,
                            version: hi.floor(),
                        }),
                    }
                    i += 3;
                    continue;
                }
                comparators.extend(comparator(&tokens[i]).map_err(fail)?);
                i += 1;
            }
            alternatives.push(comparators);
        }
        Ok(Range {
            alternatives,
            text: text.to_owned(),
        })
    }

    /// Whether `v` is in the range (pre-releases only where a comparator names one on the
    /// same major.minor.patch line, or any comparator names one at all, as Helm does).
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|all| {
            let allows_pre = all.iter().any(|c| c.version.is_prerelease());
            (!v.is_prerelease() || allows_pre) && all.iter().all(|c| c.holds(v))
        })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Comparator {
    fn holds(&self, v: &Version) -> bool {
        let o = v.cmp(&self.version);
        match self.op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
        }
    }
}

/// Splits on spaces and commas, keeping an operator with its version (`>= 1.2` is `>=1.2`).
fn tokenize(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for word in text.split([' ', ',', '\t']).filter(|w| !w.is_empty()) {
        if word.bytes().all(|b| b"<>=!~^".contains(&b)) {
            pending_op.push_str(word);
            continue;
        }
        out.push(format!("{}{word}", std::mem::take(&mut pending_op)));
    }
    if !pending_op.is_empty() {
        out.push(pending_op);
    }
    out
}

/// One comparator token: an operator and a (partial) version.
fn comparator(token: &str) -> Result<Vec<Comparator>, String> {
    let split = token
        .find(|c: char| !"<>=!~^".contains(c))
        .unwrap_or(token.len());
    let (op, version) = token.split_at(split);
    let partial = Partial::parse(version)
        .ok_or_else(|| format!("{version:?} (in {token:?}) is no version"))?;
    let floor = partial.floor();
    let known = partial.known();
    let exact = |op| {
        Ok(vec![Comparator {
            op,
            version: floor.clone(),
        }])
    };
    match op {
        "" | "=" if known == 3 => exact(Op::Eq),
        "" | "=" => Ok(match partial.ceiling() {
            Some(c) => vec![lowest(floor), below(c)],
            None => Vec::new(),
        }),
        "!=" if known == 3 => exact(Op::Ne),
        "!=" => Err(format!("{token:?}: `!=` needs a whole version")),
        ">" if known < 3 => Ok(match partial.ceiling() {
            Some(c) => vec![lowest(c)],
            None => vec![below(bare(0, 0, 0))],
        }),
        ">" => exact(Op::Gt),
        ">=" | "=>" => Ok(vec![lowest(floor)]),
        "<" => Ok(vec![below(floor)]),
        "<=" | "=<" if known < 3 => Ok(match partial.ceiling() {
            Some(c) => vec![below(c)],
            None => Vec::new(),
        }),
        "<=" | "=<" => exact(Op::Le),
        "~" | "~>" => {
            let ceiling = if known >= 2 {
                bare(floor.major, floor.minor + 1, 0)
            } else {
                bare(floor.major + 1, 0, 0)
            };
            Ok(if known == 0 {
                Vec::new()
            } else {
                vec![lowest(floor), below(ceiling)]
            })
        }
        "^" => {
            let ceiling = match (floor.major, floor.minor, known) {
                (0, _, 0) => return Ok(Vec::new()),
                (0, 0, 3) => bare(0, 0, floor.patch + 1),
                (0, 0, 2) => bare(0, 1, 0),
                (0, 0, 1) => bare(1, 0, 0),
                (0, minor, _) => bare(0, minor + 1, 0),
                (major, _, _) => bare(major + 1, 0, 0),
            };
            Ok(vec![lowest(floor), below(ceiling)])
        }
        _ => Err(format!("{token:?}: {op:?} is no operator Helm knows")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(range: &str, v: &str) -> bool {
        Range::parse(range)
            .unwrap()
            .matches(&Version::parse(v).unwrap())
    }

    #[test]
    fn precedence_is_semver_not_lexical() {
        let mut vs: Vec<Version> = [
            "1.10.0",
            "1.9.0",
            "1.10.0-rc.2",
            "1.10.0-rc.10",
            "v2",
            "1.10.0-alpha",
        ]
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .collect();
        vs.sort();
        let texts: Vec<&str> = vs.iter().map(|v| v.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "1.9.0",
                "1.10.0-alpha",
                "1.10.0-rc.2",
                "1.10.0-rc.10",
                "1.10.0",
                "v2"
            ]
        );
        assert!(Version::parse("1.2.3.4").is_none());
        assert!(Version::parse("latest").is_none());
        assert!(Version::parse("1.2.x").is_none());
    }

    #[test]
    fn ranges_as_helm_reads_them() {
        assert!(m(">=1.2 <2", "1.9.9"));
        assert!(!m(">=1.2 <2", "2.0.0"));
        assert!(m(">= 1.2, < 2", "1.2.0"));
        assert!(m("^1.2", "1.99.0") && !m("^1.2", "2.0.0") && !m("^1.2", "1.1.9"));
        assert!(m("^0.2.3", "0.2.9") && !m("^0.2.3", "0.3.0"));
        assert!(m("~1.2.3", "1.2.9") && !m("~1.2.3", "1.3.0"));
        assert!(m("1.2.x", "1.2.7") && !m("1.2.x", "1.3.0"));
        assert!(m("*", "0.0.1") && m("", "3.0.0") == m("*", "3.0.0"));
        assert!(m("1.2 - 1.4", "1.4.9") && !m("1.2 - 1.4", "1.5.0"));
        assert!(m("1.2.0 - 1.4.0", "1.4.0") && !m("1.2.0 - 1.4.0", "1.4.1"));
        assert!(m("<1 || >=3", "3.1.0") && !m("<1 || >=3", "2.0.0"));
        assert!(m("1.2.3", "v1.2.3") && !m("1.2.3", "1.2.4"));
        assert!(m(">1.2", "1.3.0") && !m(">1.2", "1.2.9"));
        assert!(m("!=1.2.3", "1.2.4"));
    }

    #[test]
    fn pre_releases_only_when_the_range_asks() {
        assert!(!m("^1.2", "1.3.0-rc.1"));
        assert!(!m("*", "1.0.0-beta"));
        assert!(m(">=1.3.0-0", "1.3.0-rc.1"));
        assert!(m("^1.3.0-rc.0", "1.3.0-rc.1"));
        assert!(m("1.3.0-rc.1", "1.3.0-rc.1"));
    }

    #[test]
    fn bad_ranges_say_why() {
        for bad in ["^a.b", "1.2 -", ">>1", "1.x.3", "||"] {
            let e = Range::parse(bad).unwrap_err();
            assert!(!e.reason.is_empty(), "{bad}");
        }
    }
}
