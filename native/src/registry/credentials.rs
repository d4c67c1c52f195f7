//! Where credentials for a registry host come from, first match wins:
//!
//! 1. `PURSER_REGISTRY_USERNAME` + `PURSER_REGISTRY_PASSWORD`, only for `PURSER_REGISTRY_HOST`
//!    when that is set, else for every registry that asks for credentials (so set the host
//!    when a chart pulls from more than one registry);
//! 2. Helm's registry config (`$HELM_REGISTRY_CONFIG`, else `~/.config/helm/registry/config.json`,
//!    written by `helm registry login`);
//! 3. Docker's config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
//!
//! Both config files have Docker's format. In each, like Docker: a `credHelpers` entry for the
//! host names a helper, else `credsStore` names one; the helper is `docker-credential-NAME get`
//! with the server URL on stdin and `{"Username","Secret"}` JSON on stdout (`<token>` as the
//! user name means Secret is an identity token). When the helper has nothing for the host, or
//! there is no helper, the `auths` entry is used: `auth` (base64 `user:password`),
//! `username`/`password`, or `identitytoken`. Keys are matched by host: `https://`, `http://`
//! and any path are ignored, and Docker Hub's aliases (`docker.io`, `index.docker.io`,
//! `registry-1.docker.io`, `https://index.docker.io/v1/`) are one host.
//!
//! Secrets live only in [`Secret`], whose `Debug` hides them; errors and messages name the
//! [`CredentialSource`], never the value.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, OnceCell};

/// Where the credentials used for a request came from (never the credentials themselves).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Anonymous,
    /// PURSER_REGISTRY_USERNAME / PURSER_REGISTRY_PASSWORD.
    Environment,
    /// An `auths` entry of a config file.
    ConfigFile {
        kind: ConfigKind,
        path: Arc<Path>,
        key: Arc<str>,
    },
    /// `docker-credential-NAME`, named by `credHelpers` or `credsStore` in a config file.
    Helper {
        name: Arc<str>,
        kind: ConfigKind,
        path: Arc<Path>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    Docker,
    Helm,
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigKind::Docker => "docker config",
            ConfigKind::Helm => "Helm registry config",
        })
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Anonymous => f.write_str("no credentials (anonymous)"),
            CredentialSource::Environment => {
                f.write_str("PURSER_REGISTRY_USERNAME/PURSER_REGISTRY_PASSWORD")
            }
            CredentialSource::ConfigFile { kind, path, key } => {
                write!(f, "{kind} {} (auths entry {key:?})", path.display())
            }
            CredentialSource::Helper { name, kind, path } => write!(
                f,
                "credential helper docker-credential-{name} (named in {kind} {})",
                path.display()
            ),
        }
    }
}

/// A secret, kept out of every `Debug` and `Display`.
#[derive(Clone)]
pub(crate) enum Secret {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), traded at the token realm.
    IdentityToken {
        token: String,
    },
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Basic { username, .. } => write!(f, "Basic({username}, <hidden>)"),
            Secret::IdentityToken { .. } => f.write_str("IdentityToken(<hidden>)"),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Credential {
    pub(crate) source: CredentialSource,
    pub(crate) secret: Secret,
}

/// User name and password from the environment, optionally for one host only.
#[derive(Clone, Default)]
pub struct EnvCredentials {
    pub username: String,
    pub password: String,
    /// Only for this registry host (`host[:port]`); every host when None.
    pub host: Option<String>,
}

impl EnvCredentials {
    /// PURSER_REGISTRY_USERNAME / PURSER_REGISTRY_PASSWORD / PURSER_REGISTRY_HOST, when both of
    /// the first two are set and not empty.
    pub fn from_env() -> Option<EnvCredentials> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(EnvCredentials {
            username: get("PURSER_REGISTRY_USERNAME")?,
            password: get("PURSER_REGISTRY_PASSWORD")?,
            host: get("PURSER_REGISTRY_HOST"),
        })
    }
}

impl fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("host", &self.host)
            .finish()
    }
}

#[derive(Deserialize, Default)]
struct ConfigJson {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

struct ConfigFile {
    kind: ConfigKind,
    path: Arc<Path>,
    json: ConfigJson,
}

impl ConfigFile {
    /// None when the file does not exist; an error when it exists but cannot be used.
    fn load(kind: ConfigKind, path: &Path) -> Result<Option<ConfigFile>, String> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{kind} {}: {e}", path.display())),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let json = serde_json::from_slice(&text)
            .map_err(|e| format!("{kind} {}: not a docker config.json: {e}", path.display()))?;
        Ok(Some(ConfigFile {
            kind,
            path: Arc::from(path),
            json,
        }))
    }

    fn helper_for(&self, host: &str) -> Option<(&str, String)> {
        if let Some((key, name)) = self
            .json
            .cred_helpers
            .iter()
            .find(|(key, _)| normalize_host(key) == host)
        {
            return Some((name.as_str(), key.clone()));
        }
        let store = self.json.creds_store.as_deref().filter(|s| !s.is_empty())?;
        // Docker hands helpers Docker Hub's legacy server URL, and plain hosts otherwise.
        let server = if host == DOCKER_HUB {
            "https://index.docker.io/v1/".to_owned()
        } else {
            host.to_owned()
        };
        Some((store, server))
    }

    /// The `auths` entry for `host`; the error names the key whose value is broken.
    fn auths_for(&self, host: &str) -> Result<Option<Credential>, (String, String)> {
        // Prefer an exact key, then any key that normalises to the host (sorted: deterministic).
        let mut keys: Vec<&String> = self
            .json
            .auths
            .keys()
            .filter(|key| normalize_host(key) == host)
            .collect();
        keys.sort_by_key(|key| (key.as_str() != host, key.as_str()));
        for key in keys {
            let entry = &self.json.auths[key];
            let source = CredentialSource::ConfigFile {
                kind: self.kind,
                path: self.path.clone(),
                key: Arc::from(key.as_str()),
            };
            if let Some(token) = entry.identity_token.as_deref().filter(|t| !t.is_empty()) {
                return Ok(Some(Credential {
                    source,
                    secret: Secret::IdentityToken {
                        token: token.to_owned(),
                    },
                }));
            }
            if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                let Some((username, password)) = decoded.as_deref().and_then(|d| d.split_once(':'))
                else {
                    return Err((
                        key.clone(),
                        "the `auth` value is not base64 of user:password".to_owned(),
                    ));
                };
                return Ok(Some(Credential {
                    source,
                    secret: Secret::Basic {
                        username: username.to_owned(),
                        password: password.to_owned(),
                    },
                }));
            }
            if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
                return Ok(Some(Credential {
                    source,
                    secret: Secret::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    },
                }));
            }
        }
        Ok(None)
    }
}

const DOCKER_HUB: &str = "docker.io";

/// `host[:port]` of a config key or registry name: scheme and path dropped, lower case,
/// Docker Hub's aliases folded into `docker.io`.
pub(crate) fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or("").to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_owned()
        }
        _ => host,
    }
}

type Lookup = Result<Option<Credential>, (CredentialSource, String)>;

/// The credential sources of one client, with one lookup per host (helpers run once).
pub(crate) struct Credentials {
    env: Option<EnvCredentials>,
    files: Vec<ConfigFile>,
    helper_path: Option<OsString>,
    cache: Mutex<HashMap<String, Arc<OnceCell<Lookup>>>>,
}

impl Credentials {
    pub(crate) fn load(
        env: Option<EnvCredentials>,
        helm_config: Option<&Path>,
        docker_config: Option<&Path>,
        helper_path: Option<OsString>,
    ) -> Result<Credentials, String> {
        let mut files = Vec::new();
        if let Some(path) = helm_config {
            files.extend(ConfigFile::load(ConfigKind::Helm, path)?);
        }
        if let Some(path) = docker_config {
            files.extend(ConfigFile::load(ConfigKind::Docker, path)?);
        }
        Ok(Credentials {
            env,
            files,
            helper_path,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The credential for `registry` (`host[:port]`), None for anonymous access; the error
    /// names the source that failed.
    pub(crate) async fn lookup(
        &self,
        registry: &str,
    ) -> Result<Option<Credential>, (CredentialSource, String)> {
        let host = normalize_host(registry);
        let cell = self
            .cache
            .lock()
            .await
            .entry(host.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| self.find(host)).await.clone()
    }

    async fn find(&self, host: String) -> Lookup {
        if let Some(env) = &self.env {
            let applies = env
                .host
                .as_deref()
                .is_none_or(|h| normalize_host(h) == host);
            if applies {
                return Ok(Some(Credential {
                    source: CredentialSource::Environment,
                    secret: Secret::Basic {
                        username: env.username.clone(),
                        password: env.password.clone(),
                    },
                }));
            }
        }
        for file in &self.files {
            if let Some((name, server)) = file.helper_for(&host) {
                let source = CredentialSource::Helper {
                    name: Arc::from(name),
                    kind: file.kind,
                    path: file.path.clone(),
                };
                match run_helper(name, &server, self.helper_path.as_ref()).await {
                    Ok(Some(secret)) => return Ok(Some(Credential { source, secret })),
                    Ok(None) => {}
                    Err(detail) => return Err((source, detail)),
                }
            }
            let found = file.auths_for(&host).map_err(|(key, detail)| {
                let source = CredentialSource::ConfigFile {
                    kind: file.kind,
                    path: file.path.clone(),
                    key: Arc::from(key),
                };
                (source, detail)
            })?;
            if let Some(credential) = found {
                return Ok(Some(credential));
            }
        }
        Ok(None)
    }
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// `docker-credential-NAME get` with `server` on stdin. Ok(None) when the helper has nothing
/// for the server. Helper output is never quoted in errors when it parsed as credentials.
async fn run_helper(
    name: &str,
    server: &str,
    path: Option<&OsString>,
) -> Result<Option<Secret>, String> {
    let program = format!("docker-credential-{name}");
    let resolved = match path {
        Some(path) => std::env::split_paths(path)
            .map(|dir| dir.join(&program))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| format!("{program} is not on the helper path"))?,
        None => PathBuf::from(&program),
    };
    let mut child = tokio::process::Command::new(&resolved)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("{program} is not installed (not found on PATH)")
            }
            _ => format!("cannot run {program}: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is fine: its answer decides.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "{program} did not answer within {}s",
                HELPER_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        let said: String = said.trim().chars().take(200).collect();
        return Err(format!("{program} get failed ({}): {said}", output.status));
    }
    let reply: HelperReply = serde_json::from_slice(&output.stdout)
        .map_err(|_| format!("{program} get did not print the expected JSON"))?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if reply.username == "<token>" {
        Secret::IdentityToken {
            token: reply.secret,
        }
    } else {
        Secret::Basic {
            username: reply.username,
            password: reply.secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise() {
        assert_eq!(normalize_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_host("registry-1.docker.io"), "docker.io");
        assert_eq!(normalize_host("http://Localhost:5000/x"), "localhost:5000");
        assert_eq!(normalize_host("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn secrets_hidden_in_debug() {
        let s = Secret::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        let e = EnvCredentials {
            username: "u".into(),
            password: "hunter2".into(),
            host: None,
        };
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}
