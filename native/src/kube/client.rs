//! [`Client`]: one reqwest client over rustls with the config's CA, client certificate and
//! token; every call names what it asked for in its error.

use reqwest::{Method, RequestBuilder};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use super::{Config, KubeError};
use crate::registry::TlsMaterial;

/// The field manager purser's server-side applies are recorded under.
pub const FIELD_MANAGER: &str = "purser";

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: std::sync::Arc<Config>,
}

/// The API path of an object (`/api/v1/namespaces/NS/configmaps/NAME`,
/// `/apis/batch/v1/namespaces/NS/jobs/NAME`), from its apiVersion, kind, namespace and name.
pub fn object_path(object: &Value) -> Result<String, KubeError> {
    let field = |path: &[&str]| {
        path.iter()
            .try_fold(object, |v, k| v.get(k))
            .and_then(Value::as_str)
    };
    let fail = |reason: &str| KubeError::Config {
        reason: format!("object {object}: {reason}"),
    };
    let version = field(&["apiVersion"]).ok_or_else(|| fail("no apiVersion"))?;
    let kind = field(&["kind"]).ok_or_else(|| fail("no kind"))?;
    let name = field(&["metadata", "name"]).ok_or_else(|| fail("no metadata.name"))?;
    let plural = match kind {
        "ConfigMap" => "configmaps",
        "Job" => "jobs",
        "Secret" => "secrets",
        "Pod" => "pods",
        "Namespace" => "namespaces",
        other => return Err(fail(&format!("kind {other} is not one purser applies"))),
    };
    let group = if version.contains('/') {
        format!("/apis/{version}")
    } else {
        format!("/api/{version}")
    };
    Ok(match field(&["metadata", "namespace"]) {
        Some(ns) if kind != "Namespace" => format!("{group}/namespaces/{ns}/{plural}/{name}"),
        _ => format!("{group}/{plural}/{name}"),
    })
}

impl Client {
    pub fn new(config: Config) -> Result<Client, KubeError> {
        let fail = |reason: String| KubeError::Config {
            reason: format!("{}: {reason}", config.origin),
        };
        let ca = CertificateDer::pem_slice_iter(&config.ca)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(format!("certificate authority: {e}")))?;
        let client_cert = match &config.client_cert {
            None => None,
            Some((cert, key)) => Some((
                CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| fail(format!("client certificate: {e}")))?,
                PrivateKeyDer::from_pem_slice(key).map_err(|e| fail(format!("client key: {e}")))?,
            )),
        };
        let extra = if ca.is_empty() {
            Vec::new()
        } else {
            vec![("of the kubeconfig".to_owned(), ca)]
        };
        let tls = TlsMaterial::new(extra, client_cert)
            .and_then(|m| m.config(!config.insecure_skip_tls_verify))
            .map_err(fail)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(concat!("purser/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| fail(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            config: std::sync::Arc::new(config),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.config.server));
        match &self.config.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, what: &str, request: RequestBuilder) -> Result<String, KubeError> {
        let response = request.send().await.map_err(|e| KubeError::Unreachable {
            server: self.config.server.clone(),
            reason: crate::causes(&e),
        })?;
        let code = response.status().as_u16();
        let body = response.text().await.map_err(|e| KubeError::Unreachable {
            server: self.config.server.clone(),
            reason: crate::causes(&e),
        })?;
        if (200..300).contains(&code) {
            return Ok(body);
        }
        // The API server's errors are `Status` objects; their message says it best.
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|s| s["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        Err(KubeError::Api {
            what: what.to_owned(),
            code,
            message,
        })
    }

    async fn json(&self, what: &str, request: RequestBuilder) -> Result<Value, KubeError> {
        let body = self.send(what, request).await?;
        serde_json::from_str(&body).map_err(|e| KubeError::Api {
            what: what.to_owned(),
            code: 200,
            message: format!("not JSON: {e}"),
        })
    }

    /// Server-side apply of `object` (created or brought to what it says, conflicts forced:
    /// purser owns what it applies).
    pub async fn apply(&self, object: &Value) -> Result<Value, KubeError> {
        let path = object_path(object)?;
        let request = self
            .request(Method::PATCH, &path)
            .query(&[("fieldManager", FIELD_MANAGER), ("force", "true")])
            .header("Content-Type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(object).expect("objects serialise"));
        self.json(&format!("apply {path}"), request).await
    }

    /// The object at `path`; `None` when there is none.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, KubeError> {
        match self
            .json(&format!("get {path}"), self.request(Method::GET, path))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A JSON merge patch of the object at `path`.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, KubeError> {
        let request = self
            .request(Method::PATCH, path)
            .query(&[("fieldManager", FIELD_MANAGER)])
            .header("Content-Type", "application/merge-patch+json")
            .body(patch.to_string());
        self.json(&format!("patch {path}"), request).await
    }

    /// The items of the collection at `path` with the labels `selector` names.
    pub async fn list(&self, path: &str, selector: &str) -> Result<Vec<Value>, KubeError> {
        let request = self
            .request(Method::GET, path)
            .query(&[("labelSelector", selector)]);
        let list = self.json(&format!("list {path}"), request).await?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// Deletes the object at `path` and, in the background, what it owns (a Job's pods).
    /// Gone already is fine.
    pub async fn delete(&self, path: &str) -> Result<(), KubeError> {
        let request = self
            .request(Method::DELETE, path)
            .query(&[("propagationPolicy", "Background")]);
        match self.send(&format!("delete {path}"), request).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The log of one container of a pod (what `kubectl logs POD -c CONTAINER` shows).
    pub async fn log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<String, KubeError> {
        let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/log");
        let request = self
            .request(Method::GET, &path)
            .query(&[("container", container)]);
        self.send(&format!("log of pod {namespace}/{pod}"), request)
            .await
    }
}
