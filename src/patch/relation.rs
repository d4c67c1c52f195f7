//! [`Relation`]: one alternative of a package's dependency, in one model for both families:
//! [`parse_dpkg`] reads a Debian relationship field (`Depends:`, `Pre-Depends:`, `Provides:`),
//! [`parse_apk`] apk's dependency tokens (`D:` and `p:` lines, `depend =` in `.PKGINFO`). Both give
//! groups that are all needed, each a list of alternatives of which any will do.

use std::cmp::Ordering;
use std::fmt;

use super::{Family, version};

/// A version constraint's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// dpkg `<<`, apk `<`.
    Lt,
    /// `<=` (and dpkg's obsolete `<`).
    Le,
    /// `=`.
    Eq,
    /// `>=` (and dpkg's obsolete `>`).
    Ge,
    /// dpkg `>>`, apk `>`.
    Gt,
    /// apk's `~`: the version starts with this one, token by token ([`version::fuzzy_apk`]).
    /// dpkg has no such operator; on a dpkg version it means `=`.
    Fuzzy,
}

impl Op {
    fn symbol(self, family: Family) -> &'static str {
        match (self, family) {
            (Op::Lt, Family::Dpkg) => "<<",
            (Op::Lt, Family::Apk) => "<",
            (Op::Le, _) => "<=",
            (Op::Eq, _) => "=",
            (Op::Ge, _) => ">=",
            (Op::Gt, Family::Dpkg) => ">>",
            (Op::Gt, Family::Apk) => ">",
            (Op::Fuzzy, _) => "~",
        }
    }
}

/// One alternative: a package (or provided) name, with dpkg's `:arch` qualifier if written, and
/// the version constraint if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub arch: Option<String>,
    pub constraint: Option<(Op, String)>,
}

impl Relation {
    /// Whether `version` meets the constraint (always, without one). The name and the
    /// architecture qualifier are the caller's to match.
    pub fn allows(&self, family: Family, version: &str) -> bool {
        let Some((op, wanted)) = &self.constraint else {
            return true;
        };
        if *op == Op::Fuzzy && family == Family::Apk {
            return version::fuzzy_apk(version, wanted);
        }
        let order = family.compare(version, wanted);
        match op {
            Op::Lt => order == Ordering::Less,
            Op::Le => order != Ordering::Greater,
            Op::Eq | Op::Fuzzy => order == Ordering::Equal,
            Op::Ge => order != Ordering::Less,
            Op::Gt => order == Ordering::Greater,
        }
    }

    /// The relation as `family` writes it: `name:arch (>= 1.0)` for dpkg, `name>=1.0` for apk.
    pub fn text(&self, family: Family) -> String {
        let mut text = self.name.clone();
        if let Some(arch) = &self.arch {
            text.push(':');
            text.push_str(arch);
        }
        if let Some((op, version)) = &self.constraint {
            let (open, space, close) = match family {
                Family::Dpkg => (" (", " ", ")"),
                Family::Apk => ("", "", ""),
            };
            for part in [open, op.symbol(family), space, version, close] {
                text.push_str(part);
            }
        }
        text
    }
}

/// A relationship that does not read; `detail` quotes the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationError {
    pub detail: String,
}

impl fmt::Display for RelationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for RelationError {}

/// A Debian relationship field: groups separated by `,`, alternatives by `|`, each
/// `name[:arch] [(op version)]`, whitespace (newlines too) anywhere between. Architecture
/// restrictions `[...]` and build profiles `<...>`, which only source packages carry, are
/// skipped. Empty groups (a trailing comma) are too.
pub fn parse_dpkg(field: &str) -> Result<Vec<Vec<Relation>>, RelationError> {
    field
        .split(',')
        .filter(|group| !group.trim().is_empty())
        .map(|group| {
            group
                .split('|')
                .map(|alternative| dpkg_alternative(alternative, group))
                .collect()
        })
        .collect()
}

fn dpkg_alternative(alternative: &str, group: &str) -> Result<Relation, RelationError> {
    let fail = |what: &str| RelationError {
        detail: format!("`{}`: {what}", group.trim()),
    };
    let (name, mut rest) = word(alternative.trim_start(), ":([<");
    if name.is_empty() {
        return Err(fail("an alternative without a package name"));
    }
    let mut arch = None;
    if let Some(after) = rest.strip_prefix(':') {
        let qualifier;
        (qualifier, rest) = word(after, "([<");
        if qualifier.is_empty() {
            return Err(fail("no architecture after `:`"));
        }
        arch = Some(qualifier.to_owned());
    }
    rest = rest.trim_start();
    let mut constraint = None;
    if let Some(after) = rest.strip_prefix('(') {
        let (inside, after) = after
            .split_once(')')
            .ok_or_else(|| fail("no `)` closing the version"))?;
        constraint = Some(dpkg_constraint(inside).map_err(|what| fail(&what))?);
        rest = after.trim_start();
    }
    loop {
        let close = match rest.chars().next() {
            Some('[') => ']',
            Some('<') => '>',
            _ => break,
        };
        let (_, after) = rest
            .split_once(close)
            .ok_or_else(|| fail(&format!("no `{close}` closing `{rest}`")))?;
        rest = after.trim_start();
    }
    if !rest.is_empty() {
        return Err(fail(&format!("unexpected `{}`", rest.trim_end())));
    }
    Ok(Relation {
        name: name.to_owned(),
        arch,
        constraint,
    })
}

/// The text of `s` up to whitespace or one of `stops`, and the rest.
fn word<'a>(s: &'a str, stops: &str) -> (&'a str, &'a str) {
    s.split_at(
        s.find(|c: char| c.is_whitespace() || stops.contains(c))
            .unwrap_or(s.len()),
    )
}

/// `op version`, between a dpkg relation's parentheses.
fn dpkg_constraint(inside: &str) -> Result<(Op, String), String> {
    let inside = inside.trim();
    let (op, version) = inside.split_at(
        inside
            .find(|c: char| c.is_whitespace() || c.is_ascii_alphanumeric())
            .unwrap_or(inside.len()),
    );
    let op = match op {
        "" => return Err(format!("`({inside})` has no version operator")),
        "<<" => Op::Lt,
        "<=" | "<" => Op::Le,
        "=" => Op::Eq,
        ">=" | ">" => Op::Ge,
        ">>" => Op::Gt,
        _ => return Err(format!("`{op}` is not a version operator")),
    };
    let version = version.trim();
    if version.is_empty() || version.contains(char::is_whitespace) {
        return Err(format!("`({inside})` needs one version after the operator"));
    }
    Ok((op, version.to_owned()))
}

/// apk dependency tokens, separated by whitespace: `name`, `so:libc.musl-x86_64.so.1`,
/// `/bin/sh`, `cmd:openssl`, `pc:libcrypto`, `libcrypto3=3.1.4-r5`, `busybox>=1.36`,
/// `musl~1.2`; a repository pin `name@tag` is dropped. Each is a group of its own; conflicts
/// (`!name`) are not dependencies and are skipped.
pub fn parse_apk(field: &str) -> Result<Vec<Vec<Relation>>, RelationError> {
    field
        .split_whitespace()
        .filter(|token| !token.starts_with('!'))
        .map(|token| apk_token(token).map(|relation| vec![relation]))
        .collect()
}

fn apk_token(token: &str) -> Result<Relation, RelationError> {
    let fail = |what: &str| RelationError {
        detail: format!("`{token}`: {what}"),
    };
    let is_op = |c: char| matches!(c, '<' | '>' | '=' | '~');
    let (name, constraint) = token.split_at(token.find(is_op).unwrap_or(token.len()));
    let name = name.split_once('@').map_or(name, |(name, _tag)| name);
    if name.is_empty() {
        return Err(fail("no package name"));
    }
    let constraint = if constraint.is_empty() {
        None
    } else {
        let (op, version) =
            constraint.split_at(constraint.find(|c| !is_op(c)).unwrap_or(constraint.len()));
        let op = match op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            "=" => Op::Eq,
            ">=" => Op::Ge,
            ">" => Op::Gt,
            "~" | "=~" => Op::Fuzzy,
            _ => return Err(fail(&format!("`{op}` is not a supported version operator"))),
        };
        if version.is_empty() {
            return Err(fail("no version after the operator"));
        }
        Some((op, version.to_owned()))
    };
    Ok(Relation {
        name: name.to_owned(),
        arch: None,
        constraint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation(name: &str, constraint: Option<(Op, &str)>) -> Relation {
        Relation {
            name: name.into(),
            arch: None,
            constraint: constraint.map(|(op, v)| (op, v.into())),
        }
    }

    #[test]
    fn dpkg_groups_alternatives_and_constraints() {
        let groups = parse_dpkg(
            "libc6 (>= 2.34), libssl3 (>= 3.0.9) | libssl1.1,\n debconf (>= 0.5) | debconf-2.0, python3:any (<< 3.12)",
        )
        .unwrap();
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[0], [relation("libc6", Some((Op::Ge, "2.34")))]);
        assert_eq!(
            groups[1],
            [
                relation("libssl3", Some((Op::Ge, "3.0.9"))),
                relation("libssl1.1", None)
            ]
        );
        assert_eq!(groups[2][1], relation("debconf-2.0", None));
        assert_eq!(groups[3][0].arch.as_deref(), Some("any"));
        assert_eq!(groups[3][0].constraint, Some((Op::Lt, "3.12".into())));
    }

    #[test]
    fn dpkg_operators_including_the_obsolete_ones() {
        let ops: Vec<Op> =
            parse_dpkg("a (<< 1), b (<= 1), c (= 1), d (>= 1), e (>> 1), f (< 1), g (> 1)")
                .unwrap()
                .into_iter()
                .map(|group| group[0].constraint.as_ref().unwrap().0)
                .collect();
        assert_eq!(
            ops,
            [Op::Lt, Op::Le, Op::Eq, Op::Ge, Op::Gt, Op::Le, Op::Ge]
        );
    }

    #[test]
    fn dpkg_whitespace_anywhere_restrictions_and_profiles_skipped() {
        let groups = parse_dpkg(
            "  foo\n  (\n>=\n1.0 ) [amd64 !i386] <!nocheck> <cross>,bar[linux-any],baz:native<!stage1> ,",
        )
        .unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0], [relation("foo", Some((Op::Ge, "1.0")))]);
        assert_eq!(groups[1], [relation("bar", None)]);
        assert_eq!(groups[2][0].name, "baz");
        assert_eq!(groups[2][0].arch.as_deref(), Some("native"));
        assert_eq!(parse_dpkg("").unwrap(), Vec::<Vec<Relation>>::new());
    }

    #[test]
    fn dpkg_errors_quote_the_group() {
        for (field, what) in [
            ("a, b (>= 1.0", "no `)`"),
            ("a, b (~ 1.0)", "`~` is not a version operator"),
            ("b (>= )", "needs one version"),
            ("b (1.0)", "has no version operator"),
            ("b (>= 1 2)", "needs one version"),
            ("a | | b", "without a package name"),
            ("a b", "unexpected `b`"),
            ("a: (>= 1)", "no architecture"),
            ("a [amd64", "no `]`"),
        ] {
            let error = parse_dpkg(field).unwrap_err();
            assert!(error.detail.contains(what), "{field}: {error}");
        }
        assert_eq!(
            parse_dpkg("a, b (>= )").unwrap_err().to_string(),
            "`b (>= )`: `(>=)` needs one version after the operator"
        );
    }

    #[test]
    fn apk_tokens_each_a_group_conflicts_skipped() {
        let groups = parse_apk(
            "so:libc.musl-x86_64.so.1 libcrypto3=3.1.4-r5 !openssl-dev busybox>=1.36 /bin/sh\n cmd:ls musl~1.2 pkg@edge<2 pc:zlib",
        )
        .unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g[0].name.as_str()).collect();
        assert_eq!(
            names,
            [
                "so:libc.musl-x86_64.so.1",
                "libcrypto3",
                "busybox",
                "/bin/sh",
                "cmd:ls",
                "musl",
                "pkg",
                "pc:zlib"
            ]
        );
        assert!(groups.iter().all(|g| g.len() == 1));
        assert_eq!(groups[1][0].constraint, Some((Op::Eq, "3.1.4-r5".into())));
        assert_eq!(groups[2][0].constraint, Some((Op::Ge, "1.36".into())));
        assert_eq!(groups[5][0].constraint, Some((Op::Fuzzy, "1.2".into())));
        assert_eq!(groups[6][0].constraint, Some((Op::Lt, "2".into())));
        assert_eq!(groups[0][0].constraint, None);
    }

    #[test]
    fn apk_errors_quote_the_token() {
        assert_eq!(
            parse_apk("a b>=").unwrap_err().detail,
            "`b>=`: no version after the operator"
        );
        assert!(
            parse_apk("=1.0")
                .unwrap_err()
                .detail
                .contains("no package name")
        );
        assert!(parse_apk("a><Q1abc").unwrap_err().detail.contains("`><`"));
    }

    #[test]
    fn allows_each_operator_in_family_order() {
        let dpkg = |op, wanted: &str, version: &str| {
            relation("x", Some((op, wanted))).allows(Family::Dpkg, version)
        };
        assert!(dpkg(Op::Ge, "2.34", "2.36-9+deb12u10"));
        assert!(!dpkg(Op::Ge, "3.0.17-1~deb12u3", "3.0.17-1~deb12u2"));
        assert!(dpkg(Op::Lt, "1.0", "1.0~rc1"));
        assert!(!dpkg(Op::Lt, "1.0", "1.0"));
        assert!(dpkg(Op::Le, "1.0", "1.0"));
        assert!(dpkg(Op::Eq, "1:1.0", "1:1.0-0"));
        assert!(dpkg(Op::Gt, "1.0", "1.0+b1"));
        assert!(!dpkg(Op::Fuzzy, "1.2", "1.2.3"));
        assert!(relation("x", None).allows(Family::Dpkg, "anything"));

        let apk = |op, wanted: &str, version: &str| {
            relation("x", Some((op, wanted))).allows(Family::Apk, version)
        };
        assert!(apk(Op::Fuzzy, "1.2", "1.2.3-r1"));
        assert!(!apk(Op::Fuzzy, "1.2", "1.20"));
        assert!(apk(Op::Lt, "1.2", "1.2_rc1"));
        assert!(!apk(Op::Gt, "1.2_p1", "1.2"));
    }

    #[test]
    fn text_writes_each_family_syntax() {
        let group = parse_dpkg("libc6:amd64 (>= 2.34)").unwrap().remove(0);
        assert_eq!(group[0].text(Family::Dpkg), "libc6:amd64 (>= 2.34)");
        let lt = relation("a", Some((Op::Lt, "2")));
        assert_eq!(lt.text(Family::Dpkg), "a (<< 2)");
        assert_eq!(lt.text(Family::Apk), "a<2");
        let token = "musl~1.2";
        assert_eq!(parse_apk(token).unwrap()[0][0].text(Family::Apk), token);
    }
}
