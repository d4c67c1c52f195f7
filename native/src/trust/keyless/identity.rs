//! Whom a keyless signature is accepted from: an [`Identity`] is a certificate subject (SAN)
//! and an OIDC issuer, each a [`Matcher`] (the exact string, or an unanchored regular
//! expression as cosign matches them); [`accepted`] is the subject some identity accepts.

use std::fmt;

use regex::Regex;

use super::KeylessError;

/// How a subject or an issuer is matched.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// The whole string, exactly.
    Exact(String),
    /// A regular expression, matched as cosign's `--certificate-identity-regexp` and Flux's
    /// `matchOIDCIdentity` match theirs (Go `regexp.MatchString`): unanchored, so a pattern
    /// that must match the whole string needs its own `^...$`. The `regex` crate's syntax is
    /// Go's RE2 syntax for all but exotic features.
    Regex(Regex),
}

impl Matcher {
    /// A regular-expression matcher; a pattern that does not compile is an error naming it.
    pub fn regex(pattern: &str) -> Result<Matcher, KeylessError> {
        Regex::new(pattern).map(Matcher::Regex).map_err(|e| {
            KeylessError::Malformed(format!("the regular expression {pattern:?}: {e}"))
        })
    }

    #[must_use]
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// A signer accepted: the certificate's subject (SAN) and its OIDC issuer.
#[derive(Clone, Debug)]
pub struct Identity {
    pub subject: Matcher,
    pub issuer: Matcher,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subject {} issued by {}", self.subject, self.issuer)
    }
}

/// The first of `subjects` that some identity accepts together with `issuer`: subject and
/// issuer must match in the same identity.
pub(super) fn accepted<'a>(
    identities: &[Identity],
    subjects: &'a [String],
    issuer: &str,
) -> Option<&'a String> {
    identities
        .iter()
        .filter(|id| id.issuer.matches(issuer))
        .find_map(|id| subjects.iter().find(|s| id.subject.matches(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(subject: Matcher, issuer: &str) -> Identity {
        Identity {
            subject,
            issuer: Matcher::Exact(issuer.to_owned()),
        }
    }

    #[test]
    fn matchers_are_exact_or_unanchored_and_say_which() {
        let exact = Matcher::Exact("me@example.com".to_owned());
        assert!(exact.matches("me@example.com"));
        assert!(!exact.matches("xme@example.com"));
        let regex = Matcher::regex("example\\.com").unwrap();
        assert!(regex.matches("me@example.com"));
        assert!(
            !Matcher::regex("^example")
                .unwrap()
                .matches("me@example.com")
        );
        assert_eq!(exact.to_string(), "\"me@example.com\"");
        assert_eq!(regex.to_string(), "/example\\.com/");
        assert_eq!(
            identity(exact, "https://issuer").to_string(),
            "subject \"me@example.com\" issued by \"https://issuer\""
        );
        assert!(matches!(
            Matcher::regex("("),
            Err(KeylessError::Malformed(_))
        ));
    }

    #[test]
    fn subject_and_issuer_match_in_the_same_identity() {
        let subjects = vec!["a@example.com".to_owned(), "b@example.com".to_owned()];
        let identities = vec![
            identity(Matcher::Exact("a@example.com".to_owned()), "https://one"),
            identity(Matcher::Exact("b@example.com".to_owned()), "https://two"),
        ];
        assert_eq!(
            accepted(&identities, &subjects, "https://two").map(String::as_str),
            Some("b@example.com")
        );
        assert_eq!(accepted(&identities, &subjects[..1], "https://two"), None);
        assert_eq!(accepted(&identities, &subjects, "https://three"), None);
    }
}
