//! The registry auth handshake: `WWW-Authenticate` challenges, what each host asked for, and
//! bearer tokens per (host, repository) until they expire.
//!
//! Where credentials go (Docker's rule, with one tightening): basic credentials for host H are
//! sent to H itself, and to the token realm that H's own challenge names, which may be another
//! host (Docker Hub's realm is auth.docker.io, and many registries put their token service on a
//! separate name), exactly as `docker` and containerd do. Unlike them, purser never sends them
//! over plain HTTP to a realm unless that realm's host is one the user named with
//! `--plain-http` (a hostile registry could otherwise point the realm at any cleartext
//! listener). Redirects are followed by reqwest, which drops `Authorization` whenever a
//! redirect leaves the origin; tokens and credentials are never put in URLs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a host asked for in its last 401.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The first challenge of a `WWW-Authenticate` value that purser can answer.
pub(crate) fn parse_challenge(value: &str) -> Option<Challenge> {
    let mut rest = value.trim();
    while !rest.is_empty() {
        let (scheme, after) = split_token(rest);
        let (params, after) = parse_params(after);
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => {
                let realm = params.get("realm").filter(|r| !r.is_empty())?.clone();
                return Some(Challenge::Bearer {
                    realm,
                    service: params.get("service").cloned(),
                });
            }
            "basic" => return Some(Challenge::Basic),
            _ => {}
        }
        rest = after.trim_start_matches([',', ' ']);
        if scheme.is_empty() {
            break;
        }
    }
    None
}

fn split_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s
        .find(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// `k=v, k="quoted \" v"` pairs up to the next challenge (a token not followed by `=`).
fn parse_params(mut s: &str) -> (HashMap<String, String>, &str) {
    let mut params = HashMap::new();
    loop {
        let trimmed = s.trim_start_matches([',', ' ', '\t']);
        let (key, after) = split_token(trimmed);
        let after_trim = after.trim_start();
        if key.is_empty() || !after_trim.starts_with('=') {
            return (params, trimmed);
        }
        let value_start = after_trim[1..].trim_start();
        let (value, rest) = if let Some(quoted) = value_start.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = value_start.find([',', ' ']).unwrap_or(value_start.len());
            (value_start[..end].to_owned(), &value_start[end..])
        };
        params.insert(key.to_ascii_lowercase(), value);
        s = rest;
    }
}

/// What each host asked for, and the bearer tokens obtained, shared by all clones.
#[derive(Default)]
pub(crate) struct AuthState {
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), (String, Instant)>>,
    gates: Mutex<HashMap<(String, String), Gate>>,
}

/// Held while one request fetches a token.
type Gate = Arc<tokio::sync::Mutex<()>>;

impl AuthState {
    /// The lock that lets one request at a time fetch the token of (host, scope).
    pub(crate) fn gate(&self, host: &str, scope: &str) -> Gate {
        let mut gates = match self.gates.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        gates
            .entry((host.to_owned(), scope.to_owned()))
            .or_default()
            .clone()
    }

    pub(crate) fn challenge(&self, host: &str) -> Option<Challenge> {
        self.challenges.lock().ok()?.get(host).cloned()
    }

    pub(crate) fn learn(&self, host: &str, challenge: Challenge) {
        if let Ok(mut map) = self.challenges.lock() {
            map.insert(host.to_owned(), challenge);
        }
    }

    pub(crate) fn token(&self, host: &str, repository: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        let (token, expires) = tokens.get(&(host.to_owned(), repository.to_owned()))?;
        (Instant::now() < *expires).then(|| token.clone())
    }

    pub(crate) fn store_token(&self, host: &str, repository: &str, token: String, life: Duration) {
        // Renew a little early: a token that expires in flight costs a 401 round trip.
        let life = life.saturating_sub(Duration::from_secs(5).min(life / 4));
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(
                (host.to_owned(), repository.to_owned()),
                (token, Instant::now() + life),
            );
        }
    }

    pub(crate) fn forget_token(&self, host: &str, repository: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(&(host.to_owned(), repository.to_owned()));
        }
    }
}

/// A token service's answer (Docker's `token`, OAuth2's `access_token`).
#[derive(serde::Deserialize)]
pub(crate) struct TokenReply {
    #[serde(default)]
    pub(crate) token: Option<String>,
    #[serde(default)]
    pub(crate) access_token: Option<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
}

impl TokenReply {
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        // Docker's default when the service does not say: 60 seconds.
        let life = Duration::from_secs(self.expires_in.unwrap_or(60).max(1));
        Some((token, life))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"Negotiate, Bearer realm=http://t/x , service=s"#),
            Some(Challenge::Bearer {
                realm: "http://t/x".into(),
                service: Some("s".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm="a\"b""#),
            Some(Challenge::Bearer {
                realm: "a\"b".into(),
                service: None
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge(""), None);
        assert_eq!(parse_challenge("Digest nonce=1"), None);
    }
}
