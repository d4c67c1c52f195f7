//! [`Api`]: the tests' client of a real kube-apiserver ([`super::kube::Kube`]), made by
//! [`Api::of`]: bearer token, the server's self-signed certificate accepted, no proxy. The
//! stand-in kubelet and the tests that look at what purser applied both use it.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::kube::Kube;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    server: String,
    token: String,
}

impl Api {
    pub fn of(kube: &Kube) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (server, token) = kube.access();
        Api {
            http: reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .no_proxy()
                .build()
                .unwrap(),
            server,
            token,
        }
    }

    /// `method path` with `body` of content type `kind`; the JSON answer, or the status and
    /// text of a refusal.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Value)>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.server))
            .bearer_auth(&self.token);
        if let Some((kind, body)) = body {
            request = request.header("Content-Type", kind).body(body.to_string());
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call(
            reqwest::Method::POST,
            path,
            Some(("application/json", body)),
        )
        .await
    }

    pub async fn merge(&self, path: &str, patch: Value) -> Result<Value, String> {
        self.call(
            reqwest::Method::PATCH,
            path,
            Some(("application/merge-patch+json", patch)),
        )
        .await
    }

    /// Asks `GET path` until it answers 2xx (any body: `/readyz` says `ok`); past `within`,
    /// fails the test with `log()`.
    pub async fn wait_ok(&self, path: &str, within: Duration, log: impl Fn() -> String) {
        let deadline = Instant::now() + within;
        loop {
            let answered = self
                .http
                .get(format!("{}{path}", self.server))
                .bearer_auth(&self.token)
                .send()
                .await;
            if answered.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} did not succeed within {within:?}: {}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits for the server to be ready (`/readyz`, at most 120 s) and creates a namespace.
    pub async fn create_namespace(&self, kube: &Kube, name: &str) {
        self.wait_ok("/readyz", Duration::from_secs(120), || {
            kube.log_tail("kube-apiserver.log")
        })
        .await;
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name}});
        self.post("/api/v1/namespaces", ns)
            .await
            .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
    }
}
