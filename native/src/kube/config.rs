//! Where the cluster is and who we are there: a [`Config`] read from the kubeconfig as kubectl
//! and Helm read it — `$KUBECONFIG` (a colon-separated list, the first file naming a thing
//! wins) or `~/.kube/config`, the current context or the one asked for — and from the
//! variables Helm hands a plugin for its own flags (`--kube-context`, `--kube-apiserver`,
//! `--kube-token`, `--kube-ca-file`, `--kube-insecure-skip-tls-verify`, `-n`). Bearer tokens
//! (inline or `tokenFile`) and client certificates (files or `-data`) are supported; `exec`
//! and `auth-provider` credentials are refused with what to do instead.
//!
//! [`Config::parse`] does the reading from text (no I/O but the files the kubeconfig names);
//! [`Config::load`] finds the files and the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::KubeError;

/// One cluster, one identity, one namespace.
#[derive(Clone, Debug)]
pub struct Config {
    /// `https://host:port`, no trailing slash.
    pub server: String,
    /// The context's namespace, if it names one.
    pub namespace: Option<String>,
    pub token: Option<String>,
    /// Client certificate chain and key, PEM.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// CA certificates (PEM) the server's certificate is checked against, beside the
    /// system's roots.
    pub ca: Vec<u8>,
    pub insecure_skip_tls_verify: bool,
    /// Where this came from, for messages: `kubeconfig FILE, context NAME`.
    pub origin: String,
}

/// The environment a plugin gets from Helm, as far as the cluster goes.
#[derive(Default)]
pub struct Overrides {
    pub context: Option<String>,
    pub server: Option<String>,
    pub token: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
}

impl Overrides {
    /// From HELM_KUBECONTEXT, HELM_KUBEAPISERVER, HELM_KUBETOKEN, HELM_KUBECAFILE and
    /// HELM_KUBEINSECURE_SKIP_TLS_VERIFY.
    pub fn from_env() -> Overrides {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Overrides {
            context: var("HELM_KUBECONTEXT"),
            server: var("HELM_KUBEAPISERVER"),
            token: var("HELM_KUBETOKEN"),
            ca_file: var("HELM_KUBECAFILE").map(PathBuf::from),
            insecure_skip_tls_verify: var("HELM_KUBEINSECURE_SKIP_TLS_VERIFY")
                .is_some_and(|v| v == "true"),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct KubeConfigFile {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: Option<T>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: Option<String>,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    exec: Option<serde_json::Value>,
    auth_provider: Option<serde_json::Value>,
}

#[derive(Deserialize, Clone, Default)]
struct Context {
    cluster: Option<String>,
    user: Option<String>,
    namespace: Option<String>,
}

/// The kubeconfig files: `$KUBECONFIG`'s list, else `~/.kube/config`.
pub fn kubeconfig_files() -> Vec<PathBuf> {
    match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list).collect(),
        None => std::env::var_os("HOME")
            .map(|home| vec![Path::new(&home).join(".kube/config")])
            .unwrap_or_default(),
    }
}

impl Config {
    /// The kubeconfig files and Helm's variables, as kubectl reads them.
    pub fn load() -> Result<Config, KubeError> {
        let mut files = Vec::new();
        for path in kubeconfig_files() {
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((path, text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(KubeError::Config {
                        reason: format!("kubeconfig {}: {e}", path.display()),
                    });
                }
            }
        }
        Config::parse(&files, &Overrides::from_env())
    }

    /// `files` (path, text) merged as kubectl merges them, then `overrides` applied.
    pub fn parse(files: &[(PathBuf, String)], overrides: &Overrides) -> Result<Config, KubeError> {
        let fail = |reason: String| KubeError::Config { reason };
        // name → (value, the folder relative paths in it are relative to)
        let mut clusters: BTreeMap<String, (Cluster, PathBuf)> = BTreeMap::new();
        let mut users: BTreeMap<String, (User, PathBuf)> = BTreeMap::new();
        let mut contexts: BTreeMap<String, Context> = BTreeMap::new();
        let mut current = None;
        for (path, text) in files {
            let parsed: KubeConfigFile = serde_saphyr::from_str(text)
                .map_err(|e| fail(format!("kubeconfig {}: {e}", path.display())))?;
            let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
            for c in parsed.clusters {
                clusters
                    .entry(c.name)
                    .or_insert((c.value.unwrap_or_default(), dir.clone()));
            }
            for u in parsed.users {
                users
                    .entry(u.name)
                    .or_insert((u.value.unwrap_or_default(), dir.clone()));
            }
            for c in parsed.contexts {
                contexts
                    .entry(c.name)
                    .or_insert(c.value.unwrap_or_default());
            }
            if current.is_none() {
                current = parsed.current_context.filter(|c| !c.is_empty());
            }
        }
        let where_ = || {
            let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
            if names.is_empty() {
                "no kubeconfig (set KUBECONFIG or write ~/.kube/config)".to_owned()
            } else {
                format!("kubeconfig {}", names.join(":"))
            }
        };
        let name = overrides.context.clone().or(current);
        let (context, origin) = match &name {
            Some(name) => (
                contexts.get(name).cloned().ok_or_else(|| {
                    fail(format!(
                        "{}: no context {name:?} (contexts: {})",
                        where_(),
                        contexts.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?,
                format!("{}, context {name}", where_()),
            ),
            None if overrides.server.is_some() => (Context::default(), "--kube-apiserver".into()),
            None => {
                return Err(fail(format!(
                    "{}: no current context: give --kube-context NAME to helm, or run \
                     `kubectl config use-context NAME`",
                    where_()
                )));
            }
        };
        let (cluster, cluster_dir) = match &context.cluster {
            Some(c) => clusters.get(c).cloned().ok_or_else(|| {
                fail(format!(
                    "{origin}: the context names cluster {c:?}, which is not there"
                ))
            })?,
            None => (Cluster::default(), PathBuf::from(".")),
        };
        let (user, user_dir) = match &context.user {
            Some(u) => users.get(u).cloned().ok_or_else(|| {
                fail(format!(
                    "{origin}: the context names user {u:?}, which is not there"
                ))
            })?,
            None => (User::default(), PathBuf::from(".")),
        };
        let read = |dir: &Path, file: &Path, what: &str| -> Result<Vec<u8>, KubeError> {
            let path = dir.join(file);
            std::fs::read(&path)
                .map_err(|e| fail(format!("{origin}: {what} {}: {e}", path.display())))
        };
        let decode = |data: &str, what: &str| -> Result<Vec<u8>, KubeError> {
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| fail(format!("{origin}: {what}: not base64: {e}")))
        };
        let server = overrides
            .server
            .clone()
            .or(cluster.server.clone())
            .ok_or_else(|| fail(format!("{origin}: the cluster has no server")))?
            .trim_end_matches('/')
            .to_owned();
        let ca = match (
            &overrides.ca_file,
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(file), _, _) => read(Path::new("."), file, "--kube-ca-file")?,
            (None, Some(data), _) => decode(data, "certificate-authority-data")?,
            (None, None, Some(file)) => read(&cluster_dir, file, "certificate-authority")?,
            (None, None, None) => Vec::new(),
        };
        if overrides.token.is_none() && (user.exec.is_some() || user.auth_provider.is_some()) {
            return Err(fail(format!(
                "{origin}: the user's credentials come from an exec or auth-provider plugin, \
                 which purser does not run: give a token (helm --kube-token, or a kubeconfig \
                 user with token or client certificate)"
            )));
        }
        let token = match (&overrides.token, &user.token, &user.token_file) {
            (Some(t), _, _) | (None, Some(t), _) => Some(t.clone()),
            (None, None, Some(file)) => Some(
                String::from_utf8_lossy(&read(&user_dir, file, "tokenFile")?)
                    .trim()
                    .to_owned(),
            ),
            (None, None, None) => None,
        };
        let cert = match (&user.client_certificate_data, &user.client_certificate) {
            (Some(data), _) => Some(decode(data, "client-certificate-data")?),
            (None, Some(file)) => Some(read(&user_dir, file, "client-certificate")?),
            (None, None) => None,
        };
        let key = match (&user.client_key_data, &user.client_key) {
            (Some(data), _) => Some(decode(data, "client-key-data")?),
            (None, Some(file)) => Some(read(&user_dir, file, "client-key")?),
            (None, None) => None,
        };
        let client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(fail(format!(
                    "{origin}: the user has a client certificate or key without the other"
                )));
            }
        };
        Ok(Config {
            server,
            namespace: context.namespace,
            token,
            client_cert,
            ca,
            insecure_skip_tls_verify: overrides.insecure_skip_tls_verify
                || cluster.insecure_skip_tls_verify,
            origin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: c1\n  cluster: {server: \"https://127.0.0.1:6443/\", insecure-skip-tls-verify: true}\nusers:\n- name: u1\n  user: {token: abc}\n- name: u2\n  user:\n    exec: {command: gke-gcloud-auth-plugin}\ncontexts:\n- name: a\n  context: {cluster: c1, user: u1, namespace: mirror}\n- name: b\n  context: {cluster: c1, user: u2}\n";

    fn parse(overrides: &Overrides) -> Result<Config, KubeError> {
        Config::parse(&[(PathBuf::from("/k/config"), TWO.to_owned())], overrides)
    }

    #[test]
    fn a_context_gives_server_token_and_namespace() {
        let config = parse(&Overrides {
            context: Some("a".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.server, "https://127.0.0.1:6443");
        assert_eq!(config.token.as_deref(), Some("abc"));
        assert_eq!(config.namespace.as_deref(), Some("mirror"));
        assert!(config.insecure_skip_tls_verify);
        assert!(config.origin.contains("context a"), "{}", config.origin);
    }

    #[test]
    fn exec_credentials_and_unknown_contexts_are_refused_by_name() {
        let error = parse(&Overrides::default()).unwrap_err().to_string();
        assert!(
            error.contains("exec") && error.contains("context b"),
            "{error}"
        );
        // A token from Helm's --kube-token stands in for the plugin.
        let config = parse(&Overrides {
            token: Some("t".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.token.as_deref(), Some("t"));
        let error = parse(&Overrides {
            context: Some("nope".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("\"nope\"") && error.contains("a, b"),
            "{error}"
        );
    }
}
