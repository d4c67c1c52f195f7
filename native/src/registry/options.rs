//! How the client reaches registries and finds credentials: [`Options`], built by the CLI layer
//! from the user's flags (or [`Options::isolated`] in tests), with the default places of
//! Docker's and Helm's credential files.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use purser::destination::SourceMirrors;

use super::credentials::EnvCredentials;
use super::retry::RetryPolicy;

/// How the client reaches registries and finds credentials.
#[derive(Clone, Debug)]
pub struct Options {
    /// Hosts (`host[:port]`, or `host` for any port) spoken to over plain HTTP.
    pub plain_http: Vec<String>,
    /// Hosts whose TLS certificate is not verified (`--insecure-skip-tls-verify HOST`).
    pub insecure: Vec<String>,
    /// PEM files of CA certificates trusted in addition to the system's roots.
    pub ca_files: Vec<PathBuf>,
    /// A client certificate chain and its key (PEM files), offered to every TLS registry
    /// that asks for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub retry: RetryPolicy,
    /// Docker's config.json; None: no docker credentials.
    pub docker_config: Option<PathBuf>,
    /// Helm's registry config.json (same format); None: none.
    pub helm_registry_config: Option<PathBuf>,
    /// PURSER_REGISTRY_USERNAME / _PASSWORD / _HOST, read by `Default`.
    pub env_credentials: Option<EnvCredentials>,
    /// The search path for `docker-credential-*` helpers; None: `$PATH`.
    pub credential_helper_path: Option<OsString>,
    /// One attempt (connect, request, whole body) may take this long, then it counts as a
    /// transient failure.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Pull-through caches: every request for a repository they cover goes to the cache.
    pub source_mirrors: SourceMirrors,
}

impl Default for Options {
    /// Credentials from the environment, Helm's registry config and Docker's config, at the
    /// places Helm and Docker use; TLS with the system's roots; the default retry policy.
    fn default() -> Self {
        Options {
            docker_config: default_docker_config(),
            helm_registry_config: default_helm_registry_config(),
            env_credentials: EnvCredentials::from_env(),
            ..Options::isolated()
        }
    }
}

impl Options {
    /// Like `Default`, but nothing from the environment or the home folder: no credential
    /// files, no environment credentials (tests, and callers that set everything).
    pub fn isolated() -> Options {
        Options {
            plain_http: Vec::new(),
            insecure: Vec::new(),
            ca_files: Vec::new(),
            client_cert: None,
            retry: RetryPolicy::default(),
            docker_config: None,
            helm_registry_config: None,
            env_credentials: None,
            credential_helper_path: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            source_mirrors: SourceMirrors::default(),
        }
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    env_path("DOCKER_CONFIG")
        .or_else(|| Some(home()?.join(".docker")))
        .map(|dir| dir.join("config.json"))
}

/// `$HELM_REGISTRY_CONFIG` (Helm sets it for plugins), else Helm's config home
/// (`$HELM_CONFIG_HOME`, `$XDG_CONFIG_HOME/helm`, `~/.config/helm`; on macOS
/// `~/Library/Preferences/helm`) + `registry/config.json`.
pub fn default_helm_registry_config() -> Option<PathBuf> {
    if let Some(path) = env_path("HELM_REGISTRY_CONFIG") {
        return Some(path);
    }
    let config_home = env_path("HELM_CONFIG_HOME")
        .or_else(|| env_path("XDG_CONFIG_HOME").map(|d| d.join("helm")))
        .or_else(|| {
            let home = home()?;
            Some(if cfg!(target_os = "macos") {
                home.join("Library/Preferences/helm")
            } else {
                home.join(".config/helm")
            })
        })?;
    Some(config_home.join("registry").join("config.json"))
}
