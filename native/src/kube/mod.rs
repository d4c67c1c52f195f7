//! A small Kubernetes API client: what `helm mirror plan … --engine kube` needs to run a plan
//! as Jobs and nothing more. [`Client`] is built from one [`Config`] (the kubeconfig and
//! Helm's flags, [`config`]) and speaks JSON over HTTPS: server-side apply, get, merge patch,
//! list by label, delete, and a pod's log. Errors are typed ([`KubeError`]): a refused
//! request keeps the API server's own `Status` message and code.

mod client;
pub mod config;

pub use client::{Client, object_path};
pub use config::Config;

/// What went wrong talking to a cluster.
#[derive(Debug)]
pub enum KubeError {
    /// The kubeconfig (or Helm's flags) do not say how to reach the cluster.
    Config { reason: String },
    /// The API server did not answer.
    Unreachable { server: String, reason: String },
    /// The API server answered with an error: what was asked, its code and its message.
    Api {
        what: String,
        code: u16,
        message: String,
    },
}

impl KubeError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, KubeError::Api { code: 404, .. })
    }
}

impl std::fmt::Display for KubeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeError::Config { reason } => write!(f, "{reason}"),
            KubeError::Unreachable { server, reason } => {
                write!(
                    f,
                    "the Kubernetes API server {server} did not answer: {reason}"
                )
            }
            KubeError::Api {
                what,
                code,
                message,
            } => write!(f, "{what}: the API server said {code}: {message}"),
        }
    }
}
