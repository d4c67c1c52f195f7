//! Pushes test content with plain registry API calls (monolithic blob upload, manifest PUT)
//! and keeps the exact bytes pushed, so tests can compare digests with what was sent.
//! Manifests are pretty-printed with an unusual indent: a client that re-serialised them would
//! get another digest.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use sha2::Digest as _;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const ARTIFACT_TYPE: &str = "application/vnd.purser.test.artifact.v1";

/// Something pushed: its digest, media type and exact bytes.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

pub fn sha256(bytes: &[u8]) -> String {
    let hash = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Random-looking bytes, different on every call (splitmix64 over a counter and the clock).
pub fn random_bytes(len: usize) -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut state = COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// JSON with a 3-space indent: valid, and not what any serializer would produce by default.
pub fn odd_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut ser).unwrap();
    out
}

type BearerFor = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Clone)]
pub struct Seeder {
    base: String,
    http: reqwest::Client,
    basic: Option<(String, String)>,
    bearer: Option<BearerFor>,
}

/// One platform of a test image.
#[derive(Clone, Copy)]
pub struct Platform<'a> {
    pub os: &'a str,
    pub architecture: &'a str,
    pub variant: Option<&'a str>,
}

pub const AMD64: Platform = Platform {
    os: "linux",
    architecture: "amd64",
    variant: None,
};
pub const ARM_V7: Platform = Platform {
    os: "linux",
    architecture: "arm",
    variant: Some("v7"),
};
pub const ARM64_V8: Platform = Platform {
    os: "linux",
    architecture: "arm64",
    variant: Some("v8"),
};

impl Platform<'_> {
    fn json(&self) -> Value {
        let mut p = json!({ "architecture": self.architecture, "os": self.os });
        if let Some(v) = self.variant {
            p["variant"] = json!(v);
        }
        p
    }
}

impl Seeder {
    pub fn new(base: &str, ca: Option<&Path>) -> Seeder {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            for cert in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .build()
            .unwrap();
        Seeder {
            base: base.trim_end_matches('/').to_owned(),
            http,
            basic: None,
            bearer: None,
        }
    }

    pub fn basic(mut self, user: &str, password: &str) -> Seeder {
        self.basic = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Bearer tokens per repository, from `token_for(repository)`.
    pub fn bearer(mut self, token_for: BearerFor) -> Seeder {
        self.bearer = Some(token_for);
        self
    }

    fn auth(&self, request: reqwest::RequestBuilder, repo: &str) -> reqwest::RequestBuilder {
        let request = match &self.basic {
            Some((u, p)) => request.basic_auth(u, Some(p)),
            None => request,
        };
        match &self.bearer {
            Some(token_for) => request.bearer_auth(token_for(repo)),
            None => request,
        }
    }

    /// Monolithic upload; returns the digest.
    pub async fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let start = self
            .auth(
                self.http
                    .post(format!("{}/v2/{repo}/blobs/uploads/", self.base)),
                repo,
            )
            .send()
            .await
            .expect("start blob upload");
        assert_eq!(start.status().as_u16(), 202, "blob upload start: {start:?}");
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_owned();
        let mut url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let put = self
            .auth(self.http.put(url), repo)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("finish blob upload");
        assert_eq!(put.status().as_u16(), 201, "blob upload PUT: {put:?}");
        digest
    }

    /// PUT a manifest under `reference` (a tag or its digest).
    pub async fn manifest(
        &self,
        repo: &str,
        reference: Option<&str>,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Pushed {
        let digest = sha256(&bytes);
        let reference = reference.unwrap_or(&digest).to_owned();
        let response = self
            .auth(
                self.http
                    .put(format!("{}/v2/{repo}/manifests/{reference}", self.base)),
                repo,
            )
            .header("content-type", media_type)
            .body(bytes.clone())
            .send()
            .await
            .expect("manifest PUT");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 201, "manifest PUT {repo}:{reference}: {text}");
        Pushed {
            digest,
            media_type: media_type.to_owned(),
            bytes,
        }
    }

    /// A single-platform image with two small random layers (OCI or Docker media types).
    pub async fn image(
        &self,
        repo: &str,
        tag: Option<&str>,
        platform: Platform<'_>,
        docker: bool,
    ) -> Pushed {
        let (manifest_type, config_type, layer_type) = if docker {
            (
                DOCKER_MANIFEST,
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        } else {
            (
                OCI_MANIFEST,
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        };
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for size in [512usize, 1536] {
            let bytes = random_bytes(size);
            diff_ids.push(sha256(&bytes));
            let digest = self.blob(repo, &bytes).await;
            layers.push(json!({ "mediaType": layer_type, "digest": digest, "size": size }));
        }
        let mut config = platform.json();
        config["rootfs"] = json!({ "type": "layers", "diff_ids": diff_ids });
        config["config"] = json!({ "Env": ["PURSER_TEST=1"] });
        let config = odd_json(&config);
        let config_digest = self.blob(repo, &config).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": { "mediaType": config_type, "digest": config_digest, "size": config.len() },
            "layers": layers,
        });
        self.manifest(repo, tag, manifest_type, odd_json(&manifest))
            .await
    }

    /// An OCI index with linux/amd64, linux/arm/v7, linux/arm64/v8 and a BuildKit-style
    /// attestation manifest for amd64. Returns (index, platform manifests, attestation).
    pub async fn oci_index(&self, repo: &str, tag: &str) -> (Pushed, Vec<Pushed>, Pushed) {
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for platform in [AMD64, ARM_V7, ARM64_V8] {
            let child = self.image(repo, None, platform, false).await;
            entries.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": child.digest,
                "size": child.bytes.len(),
                "platform": platform.json(),
            }));
            children.push(child);
        }
        let statement = odd_json(&json!({ "_type": "https://in-toto.io/Statement/v0.1" }));
        let statement_digest = self.blob(repo, &statement).await;
        let empty_config = b"{}".to_vec();
        let config_digest = self.blob(repo, &empty_config).await;
        let attestation = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2 },
            "layers": [{
                "mediaType": "application/vnd.in-toto+json",
                "digest": statement_digest,
                "size": statement.len(),
                "annotations": { "in-toto.io/predicate-type": "https://spdx.dev/Document" },
            }],
        });
        let attestation = self
            .manifest(repo, None, OCI_MANIFEST, odd_json(&attestation))
            .await;
        entries.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": attestation.digest,
            "size": attestation.bytes.len(),
            "platform": { "architecture": "unknown", "os": "unknown" },
            "annotations": {
                "vnd.docker.reference.digest": children[0].digest,
                "vnd.docker.reference.type": "attestation-manifest",
            },
        }));
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries });
        let index = self
            .manifest(repo, Some(tag), OCI_INDEX, odd_json(&index))
            .await;
        (index, children, attestation)
    }

    /// A Docker manifest list with linux/amd64 and linux/arm64/v8 Docker images.
    pub async fn docker_list(&self, repo: &str, tag: &str) -> (Pushed, Vec<Pushed>) {
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for platform in [AMD64, ARM64_V8] {
            let child = self.image(repo, None, platform, true).await;
            entries.push(json!({
                "mediaType": DOCKER_MANIFEST,
                "digest": child.digest,
                "size": child.bytes.len(),
                "platform": platform.json(),
            }));
            children.push(child);
        }
        let list = json!({ "schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries });
        let list = self
            .manifest(repo, Some(tag), DOCKER_LIST, odd_json(&list))
            .await;
        (list, children)
    }

    /// A non-image OCI artifact: artifactType set, the empty config, one file layer.
    pub async fn artifact(&self, repo: &str, tag: &str) -> Pushed {
        let config_digest = self.blob(repo, b"{}").await;
        let file = random_bytes(300);
        let file_digest = self.blob(repo, &file).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": 2 },
            "layers": [{ "mediaType": "application/vnd.purser.test.file", "digest": file_digest, "size": file.len() }],
        });
        self.manifest(repo, Some(tag), OCI_MANIFEST, odd_json(&manifest))
            .await
    }
}
