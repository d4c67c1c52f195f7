//! The signature policy: which images and charts must be signed, and by whom. [`Policy`] is
//! read from a YAML file with [`Policy::parse`]; [`Policy::rule_for`] gives the first
//! [`Rule`] whose patterns match a name. Key and trusted-root files are only named here
//! (paths relative to the policy file); the caller reads them.
//!
//! ```yaml
//! apiVersion: purser.dev/v1
//! kind: SignaturePolicy
//! trustedRoot: trusted_root.json      # for keyless rules (cosign v3's format; never fetched)
//! rules:
//!   - match: ["registry.example/team/**"]
//!     keys: [cosign.pub]              # any of these keys
//!   - match: ["ghcr.io/fluxcd/*"]
//!     keyless:                        # any of these identities
//!       - issuer: https://token.actions.githubusercontent.com
//!         subjectRegExp: ^https://github\.com/fluxcd/.*$
//!   - match: ["docker.io/**"]
//!     mode: if-signed                 # unsigned passes; a signature must verify
//!     keys: [vendor.pub]
//!   - match: ["**"]
//!     mode: skip                      # not checked
//! ```
//!
//! A pattern matches the image's repository name, registry included, as the lock writes it
//! (`docker.io/library/nginx`): `*` stands for any characters but `/`, `**` for any
//! characters. The first rule that matches decides; a name no rule matches is not checked.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const API_VERSION: &str = "purser.dev/v1";
pub const KIND: &str = "SignaturePolicy";

/// A signature policy file, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The trusted root keyless rules verify against, resolved against the policy's folder.
    pub trusted_root: Option<PathBuf>,
    pub rules: Vec<Rule>,
    /// Where the policy was read from (for messages).
    pub source: String,
}

/// What one group of names must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Its position in the file, from 1 (`rules[N]` in messages).
    pub index: usize,
    pub patterns: Vec<String>,
    pub mode: Mode,
    /// Public keys (PEM files), resolved against the policy's folder.
    pub keys: Vec<PathBuf>,
    pub keyless: Vec<KeylessIdentity>,
}

/// How strict a rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A signature by one of the rule's signers must verify.
    #[default]
    Required,
    /// No signature passes; any signature found must include one that verifies.
    IfSigned,
    /// Not checked.
    Skip,
}

/// A keyless signer: the certificate's subject (SAN: e-mail or URI) and OIDC issuer, each
/// exact or a regular expression (as Flux's `matchOIDCIdentity` and cosign's
/// `--certificate-identity[-regexp]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessIdentity {
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default, rename = "issuerRegExp")]
    pub issuer_regexp: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default, rename = "subjectRegExp")]
    pub subject_regexp: Option<String>,
}

impl fmt::Display for KeylessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |exact: &Option<String>, re: &Option<String>| match (exact, re) {
            (Some(e), _) => e.clone(),
            (None, Some(r)) => format!("/{r}/"),
            (None, None) => "?".to_owned(),
        };
        write!(
            f,
            "{} from {}",
            part(&self.subject, &self.subject_regexp),
            part(&self.issuer, &self.issuer_regexp)
        )
    }
}

/// A policy file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub source: String,
    pub detail: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signature policy {}: {}", self.source, self.detail)
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPolicy {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    trusted_root: Option<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    patterns: Patterns,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    keyless: Vec<KeylessIdentity>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Patterns {
    One(String),
    Many(Vec<String>),
}

impl Policy {
    /// Reads a policy; `path` names it in errors and is where relative file names start.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let source = path.display().to_string();
        let err = |detail: String| PolicyError {
            source: source.clone(),
            detail,
        };
        let raw: RawPolicy = serde_saphyr::from_str(text).map_err(|e| err(e.to_string()))?;
        if raw.api_version.as_deref() != Some(API_VERSION) || raw.kind.as_deref() != Some(KIND) {
            return Err(err(format!(
                "expected apiVersion: {API_VERSION} and kind: {KIND}, found {} and {}",
                raw.api_version.as_deref().unwrap_or("none"),
                raw.kind.as_deref().unwrap_or("none")
            )));
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let resolve = |name: &str| base.join(name);
        let mut rules = Vec::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let index = i + 1;
            let at = |detail: &str| err(format!("rules[{index}]: {detail}"));
            let patterns = match r.patterns {
                Patterns::One(p) => vec![p],
                Patterns::Many(p) => p,
            };
            if patterns.is_empty() || patterns.iter().any(|p| p.trim().is_empty()) {
                return Err(at("`match` needs at least one non-empty pattern"));
            }
            let keys: Vec<PathBuf> = r.key.iter().chain(&r.keys).map(|k| resolve(k)).collect();
            for id in &r.keyless {
                if id.issuer.is_none() && id.issuer_regexp.is_none() {
                    return Err(at("a keyless identity needs `issuer` or `issuerRegExp`"));
                }
                if id.subject.is_none() && id.subject_regexp.is_none() {
                    return Err(at("a keyless identity needs `subject` or `subjectRegExp`"));
                }
            }
            if r.mode != Mode::Skip && keys.is_empty() && r.keyless.is_empty() {
                return Err(at(
                    "name who must have signed: `keys` (public key files) or `keyless` (identities), or set `mode: skip`",
                ));
            }
            if !r.keyless.is_empty() && raw.trusted_root.is_none() {
                return Err(at(
                    "keyless identities need `trustedRoot:` (a trusted_root.json file, e.g. from `cosign trusted-root create` or the Sigstore TUF repository)",
                ));
            }
            rules.push(Rule {
                index,
                patterns,
                mode: r.mode,
                keys,
                keyless: r.keyless,
            });
        }
        if rules.is_empty() {
            return Err(err("no rules: add at least one under `rules:`".to_owned()));
        }
        Ok(Policy {
            trusted_root: raw.trusted_root.map(|t| resolve(&t)),
            rules,
            source,
        })
    }

    /// The first rule whose patterns match `name` (a repository name with its registry).
    #[must_use]
    pub fn rule_for(&self, name: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.patterns.iter().any(|p| glob(p, name)))
    }
}

/// `*` matches any run of characters but `/`, `**` any run at all.
#[must_use]
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // Backtracking over the last star; `**` spans '/', `*` does not.
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => {
                let double = p.get(1) == Some(&b'*');
                let rest = if double { &p[2..] } else { &p[1..] };
                for i in 0..=n.len() {
                    if go(rest, &n[i..]) {
                        return true;
                    }
                    if i < n.len() && !double && n[i] == b'/' {
                        return false;
                    }
                }
                false
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(p, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_within_and_across_path_segments() {
        assert!(glob("docker.io/library/nginx", "docker.io/library/nginx"));
        assert!(!glob("docker.io/library/nginx", "docker.io/library/nginx2"));
        assert!(glob("docker.io/library/*", "docker.io/library/nginx"));
        assert!(!glob("docker.io/*", "docker.io/library/nginx"));
        assert!(glob("docker.io/**", "docker.io/library/nginx"));
        assert!(glob("**", "127.0.0.1:5000/a/b/c"));
        assert!(glob("*/team/*", "ghcr.io/team/app"));
        assert!(!glob("*/team/*", "ghcr.io/other/app"));
        assert!(glob("ghcr.io/team/app-*", "ghcr.io/team/app-operator"));
    }

    #[test]
    fn a_policy_reads_with_paths_beside_it_and_the_first_match_decides() {
        let text = r"
apiVersion: purser.dev/v1
kind: SignaturePolicy
trustedRoot: root/trusted_root.json
rules:
  - match: registry.example/team/**
    key: cosign.pub
  - match: [ghcr.io/fluxcd/*, quay.io/x/*]
    mode: if-signed
    keys: [a.pub, /abs/b.pub]
    keyless:
      - issuer: https://token.actions.githubusercontent.com
        subjectRegExp: ^https://github\.com/fluxcd/.*$
  - match: '**'
    mode: skip
";
        let p = Policy::parse(text, Path::new("/etc/purser/policy.yaml")).unwrap();
        assert_eq!(
            p.trusted_root.as_deref(),
            Some(Path::new("/etc/purser/root/trusted_root.json"))
        );
        let r = p.rule_for("registry.example/team/a/b").unwrap();
        assert_eq!((r.index, r.mode), (1, Mode::Required));
        assert_eq!(r.keys, vec![PathBuf::from("/etc/purser/cosign.pub")]);
        let r = p.rule_for("quay.io/x/y").unwrap();
        assert_eq!(r.mode, Mode::IfSigned);
        assert_eq!(
            r.keys,
            vec![
                PathBuf::from("/etc/purser/a.pub"),
                PathBuf::from("/abs/b.pub")
            ]
        );
        assert_eq!(
            r.keyless[0].to_string(),
            "/^https://github\\.com/fluxcd/.*$/ from https://token.actions.githubusercontent.com"
        );
        assert_eq!(
            p.rule_for("docker.io/library/nginx").unwrap().mode,
            Mode::Skip
        );
    }

    #[test]
    fn a_policy_that_cannot_decide_is_refused_with_the_place() {
        let bad = |text: &str| {
            Policy::parse(text, Path::new("p.yaml"))
                .unwrap_err()
                .to_string()
        };
        let head = "apiVersion: purser.dev/v1\nkind: SignaturePolicy\n";
        assert!(bad("kind: Lock\n").contains("expected apiVersion: purser.dev/v1"));
        assert!(bad(head).contains("no rules"));
        let e = bad(&format!("{head}rules:\n  - match: a/*\n"));
        assert!(e.contains("rules[1]") && e.contains("`keys`"), "{e}");
        let e = bad(&format!(
            "{head}rules:\n  - match: a/*\n    keyless: [{{issuer: x, subject: y}}]\n"
        ));
        assert!(e.contains("trustedRoot"), "{e}");
        let e = bad(&format!(
            "{head}trustedRoot: r.json\nrules:\n  - match: a/*\n    keyless: [{{issuer: x}}]\n"
        ));
        assert!(e.contains("subject"), "{e}");
        let e = bad(&format!("{head}rules:\n  - match: a/*\n    kye: c.pub\n"));
        assert!(e.contains("kye"), "{e}");
        let e = bad(&format!(
            "{head}rules:\n  - match: a/*\n    mode: maybe\n    key: c.pub\n"
        ));
        assert!(e.contains("maybe"), "{e}");
    }
}
