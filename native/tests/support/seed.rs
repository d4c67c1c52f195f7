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
        let (index, children, mut attestations) = self.oci_index_attested(repo, tag, &[0]).await;
        (index, children, attestations.remove(0))
    }

    /// An OCI index with linux/amd64, linux/arm/v7, linux/arm64/v8 (the platform manifests, in
    /// that order) and, after them, a BuildKit-style attestation manifest (`unknown/unknown`,
    /// `vnd.docker.reference.type: attestation-manifest`, `vnd.docker.reference.digest` naming
    /// the platform manifest) for each platform whose position is in `attested`. Returns
    /// (index, platform manifests, attestations in the order of `attested`).
    pub async fn oci_index_attested(
        &self,
        repo: &str,
        tag: &str,
        attested: &[usize],
    ) -> (Pushed, Vec<Pushed>, Vec<Pushed>) {
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
        let empty_config = b"{}".to_vec();
        let config_digest = self.blob(repo, &empty_config).await;
        let mut attestations = Vec::new();
        for &of in attested {
            let subject = &children[of].digest;
            let statement = odd_json(&json!({
                "_type": "https://in-toto.io/Statement/v0.1",
                "subject": [{ "digest": { "sha256": subject.trim_start_matches("sha256:") } }],
            }));
            let statement_digest = self.blob(repo, &statement).await;
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
                    "vnd.docker.reference.digest": subject,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
            }));
            attestations.push(attestation);
        }
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries });
        let index = self
            .manifest(repo, Some(tag), OCI_INDEX, odd_json(&index))
            .await;
        (index, children, attestations)
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

// --- more content for copy tests ------------------------------------------------------------------

pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Every manifest media type, for Accept headers.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A blob: its digest and exact bytes.
#[derive(Clone, Debug)]
pub struct Blob {
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    /// `len` random bytes (not pushed yet).
    pub fn random(len: usize) -> Blob {
        let bytes = random_bytes(len);
        Blob {
            digest: sha256(&bytes),
            bytes,
        }
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// A blob generated from a seed by [`PatternStream`], never held in memory whole.
#[derive(Clone, Debug)]
pub struct LargeBlob {
    pub digest: String,
    pub size: u64,
    pub seed: u64,
}

/// A referrer pushed: the artifact manifest, and the fallback index tag
/// (`sha256-<hex of subject>`) when the registry has no referrers API.
#[derive(Clone, Debug)]
pub struct Referrer {
    pub manifest: Pushed,
    pub artifact_type: String,
    pub annotations: Value,
    pub subject: String,
    /// The fallback index as pushed (None: the registry answered `OCI-Subject`).
    pub fallback: Option<Pushed>,
}

/// A manifest read back: the registry's digest header, content type and exact bytes.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Deterministic pseudo-random bytes (splitmix64 words) from a seed, in chunks.
pub struct PatternStream {
    state: u64,
    left: u64,
    chunk: usize,
}

impl PatternStream {
    pub fn new(seed: u64, size: u64) -> PatternStream {
        PatternStream {
            state: seed,
            left: size,
            chunk: 1 << 20,
        }
    }
}

impl Iterator for PatternStream {
    type Item = bytes::Bytes;

    fn next(&mut self) -> Option<bytes::Bytes> {
        if self.left == 0 {
            return None;
        }
        let n = (self.chunk as u64).min(self.left) as usize;
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(n);
        self.left -= n as u64;
        Some(bytes::Bytes::from(out))
    }
}

fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256-<hex>`: the tag cosign and the referrers fallback derive from a digest.
pub fn digest_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The blobs a manifest names: config then layers (none for an index).
pub fn blob_digests(manifest: &[u8]) -> Vec<String> {
    let value: Value = serde_json::from_slice(manifest).expect("manifest JSON");
    let mut out = Vec::new();
    if let Some(d) = value["config"]["digest"].as_str() {
        out.push(d.to_owned());
    }
    for layer in value["layers"].as_array().into_iter().flatten() {
        out.push(layer["digest"].as_str().unwrap().to_owned());
    }
    out
}

/// The manifests an index names.
pub fn child_digests(index: &[u8]) -> Vec<String> {
    let value: Value = serde_json::from_slice(index).expect("index JSON");
    value["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Sizes of the blobs a manifest names, by digest.
pub fn blob_sizes(manifest: &[u8]) -> Vec<(String, u64)> {
    let value: Value = serde_json::from_slice(manifest).expect("manifest JSON");
    let mut out = Vec::new();
    let descriptors = std::iter::once(&value["config"])
        .chain(value["layers"].as_array().into_iter().flatten())
        .filter(|d| d["digest"].is_string());
    for d in descriptors {
        out.push((
            d["digest"].as_str().unwrap().to_owned(),
            d["size"].as_u64().unwrap(),
        ));
    }
    out
}

impl Seeder {
    /// The HTTP client (rustls with the test CA), for requests the seeder does not make.
    pub fn client(&self) -> reqwest::Client {
        self.http.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Starts an upload session; the URL to PUT to.
    async fn start_upload(&self, repo: &str) -> String {
        let start = self
            .auth(
                self.http
                    .post(self.url(&format!("/v2/{repo}/blobs/uploads/"))),
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
        if location.starts_with('/') {
            self.url(&location)
        } else {
            location
        }
    }

    /// Pushes `size` bytes from [`PatternStream`] (seed `seed`) as one streamed PUT, with a
    /// Content-Length or (`content_length` false) chunked. The digest is computed first in a
    /// pass that keeps nothing (the PUT must name it), and again over what is streamed.
    pub async fn stream_blob(
        &self,
        repo: &str,
        seed: u64,
        size: u64,
        content_length: bool,
    ) -> LargeBlob {
        let mut hasher = sha2::Sha256::new();
        for chunk in PatternStream::new(seed, size) {
            hasher.update(&chunk);
        }
        let digest = format!("sha256:{}", hex(&hasher.finalize()));
        let streamed = Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
        let tap = streamed.clone();
        let body = futures_util::stream::iter(PatternStream::new(seed, size).map(move |chunk| {
            tap.lock().unwrap().update(&chunk);
            Ok::<_, std::io::Error>(chunk)
        }));
        let mut url = self.start_upload(repo).await;
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let mut put = self
            .auth(self.http.put(url), repo)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        if content_length {
            put = put.header("content-length", size.to_string());
        }
        let put = put.send().await.expect("streamed blob PUT");
        let status = put.status().as_u16();
        let text = put.text().await.unwrap_or_default();
        assert_eq!(status, 201, "streamed blob PUT: {text}");
        let again = format!(
            "sha256:{}",
            hex(&std::mem::take(&mut *streamed.lock().unwrap()).finalize())
        );
        assert_eq!(again, digest, "the streamed bytes hash as computed first");
        LargeBlob { digest, size, seed }
    }

    /// A blob of `size` bytes streamed from a fresh seed, never held in memory.
    pub async fn large_blob(&self, repo: &str, size: u64) -> LargeBlob {
        let seed = u64::from_le_bytes(random_bytes(8).try_into().unwrap());
        self.stream_blob(repo, seed, size, true).await
    }

    /// A linux/amd64 OCI image whose one layer is a [`Seeder::large_blob`] of `size` bytes.
    pub async fn large_image(&self, repo: &str, tag: &str, size: u64) -> (Pushed, LargeBlob) {
        let layer = self.large_blob(repo, size).await;
        let mut config = AMD64.json();
        config["rootfs"] = json!({ "type": "layers", "diff_ids": [layer.digest] });
        let config = odd_json(&config);
        let config_digest = self.blob(repo, &config).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
            "layers": [{ "mediaType": OCI_LAYER, "digest": layer.digest, "size": layer.size }],
        });
        let pushed = self
            .manifest(repo, Some(tag), OCI_MANIFEST, odd_json(&manifest))
            .await;
        (pushed, layer)
    }

    /// Random blobs of these sizes, pushed to `repo`.
    pub async fn layers(&self, repo: &str, sizes: &[usize]) -> Vec<Blob> {
        let mut out = Vec::new();
        for &size in sizes {
            let blob = Blob::random(size);
            self.blob(repo, &blob.bytes).await;
            out.push(blob);
        }
        out
    }

    /// A linux/amd64 OCI image in `repo` whose first layers are `base` (pushed to `repo` too:
    /// the same digests as wherever else they are) and one random layer of `extra_layer_len`.
    pub async fn image_on_base(
        &self,
        repo: &str,
        tag: Option<&str>,
        base: &[Blob],
        extra_layer_len: usize,
    ) -> Pushed {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        let extra = Blob::random(extra_layer_len);
        for blob in base.iter().chain([&extra]) {
            self.blob(repo, &blob.bytes).await;
            diff_ids.push(blob.digest.clone());
            layers.push(
                json!({ "mediaType": OCI_LAYER, "digest": blob.digest, "size": blob.size() }),
            );
        }
        let mut config = AMD64.json();
        config["rootfs"] = json!({ "type": "layers", "diff_ids": diff_ids });
        config["config"] = json!({ "Env": [format!("PURSER_REPO={repo}")] });
        let config = odd_json(&config);
        let config_digest = self.blob(repo, &config).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
            "layers": layers,
        });
        self.manifest(repo, tag, OCI_MANIFEST, odd_json(&manifest))
            .await
    }

    /// A cosign-style (legacy, tag-based) signature of `signed`: a manifest (OCI, or Docker v2
    /// with `docker`) with one `simplesigning` layer whose descriptor carries the signature
    /// annotation, tagged `sha256-<hex>.sig` in `repo`.
    pub async fn cosign_signature(&self, repo: &str, signed: &Pushed, docker: bool) -> Pushed {
        let payload = serde_json::to_vec(&json!({
            "critical": {
                "identity": { "docker-reference": repo },
                "image": { "docker-manifest-digest": signed.digest },
                "type": "cosign container image signature",
            },
            "optional": null,
        }))
        .unwrap();
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::STANDARD.encode(random_bytes(71));
        self.cosign_like(
            repo,
            signed,
            "sig",
            COSIGN_SIMPLESIGNING,
            payload,
            json!({ COSIGN_SIGNATURE_ANNOTATION: signature }),
            docker,
        )
        .await
    }

    /// A cosign-style attestation of `signed`: one DSSE envelope layer, tagged
    /// `sha256-<hex>.att`.
    pub async fn cosign_attestation(&self, repo: &str, signed: &Pushed) -> Pushed {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{ "name": repo, "digest": { "sha256": signed.digest.trim_start_matches("sha256:") } }],
            "predicate": {},
        }))
        .unwrap();
        let envelope = serde_json::to_vec(&json!({
            "payloadType": "application/vnd.in-toto+json",
            "payload": b64(&statement),
            "signatures": [{ "keyid": "", "sig": b64(&random_bytes(71)) }],
        }))
        .unwrap();
        self.cosign_like(
            repo,
            signed,
            "att",
            DSSE_ENVELOPE,
            envelope,
            json!({ "predicateType": "https://slsa.dev/provenance/v0.2" }),
            false,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn cosign_like(
        &self,
        repo: &str,
        signed: &Pushed,
        suffix: &str,
        layer_type: &str,
        layer: Vec<u8>,
        annotations: Value,
        docker: bool,
    ) -> Pushed {
        let layer_digest = self.blob(repo, &layer).await;
        let config = serde_json::to_vec(&json!({
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{ "created": "0001-01-01T00:00:00Z" }],
            "os": "",
            "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
            "config": {},
        }))
        .unwrap();
        let config_digest = self.blob(repo, &config).await;
        let (manifest_type, config_type) = if docker {
            (
                DOCKER_MANIFEST,
                "application/vnd.docker.container.image.v1+json",
            )
        } else {
            (OCI_MANIFEST, OCI_CONFIG)
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": { "mediaType": config_type, "digest": config_digest, "size": config.len() },
            "layers": [{
                "mediaType": layer_type,
                "digest": layer_digest,
                "size": layer.len(),
                "annotations": annotations,
            }],
        });
        let tag = format!("{}.{suffix}", digest_tag(&signed.digest));
        self.manifest(repo, Some(&tag), manifest_type, odd_json(&manifest))
            .await
    }

    /// An OCI 1.1 referrer of `subject`: an artifact manifest (`artifactType`, the empty config,
    /// one small layer, `subject`, `annotations`) pushed by digest. When the registry does not
    /// answer `OCI-Subject` (no referrers API: distribution 2.8), the fallback index tag
    /// `sha256-<hex of subject>` is pushed too, as a client does there (listing the referrers
    /// already in it plus this one: mediaType, digest, size, artifactType, annotations).
    pub async fn referrer(
        &self,
        repo: &str,
        subject: &Pushed,
        artifact_type: &str,
        annotations: Value,
    ) -> Referrer {
        self.blob(repo, b"{}").await;
        let file = random_bytes(256);
        let file_digest = self.blob(repo, &file).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": { "mediaType": OCI_EMPTY, "digest": sha256(b"{}"), "size": 2 },
            "layers": [{ "mediaType": "application/vnd.purser.test.sbom+json", "digest": file_digest, "size": file.len() }],
            "subject": { "mediaType": subject.media_type, "digest": subject.digest, "size": subject.bytes.len() },
            "annotations": annotations,
        });
        let bytes = odd_json(&manifest);
        let digest = sha256(&bytes);
        let response = self
            .auth(
                self.http
                    .put(self.url(&format!("/v2/{repo}/manifests/{digest}"))),
                repo,
            )
            .header("content-type", OCI_MANIFEST)
            .body(bytes.clone())
            .send()
            .await
            .expect("referrer PUT");
        let status = response.status().as_u16();
        let oci_subject = response.headers().get("oci-subject").is_some();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 201, "referrer PUT {repo}@{digest}: {text}");
        let pushed = Pushed {
            digest,
            media_type: OCI_MANIFEST.to_owned(),
            bytes,
        };
        let fallback = if oci_subject {
            None
        } else {
            let tag = digest_tag(&subject.digest);
            let mut entries = match self.fetch_manifest(repo, &tag).await {
                Some(existing) => {
                    serde_json::from_slice::<Value>(&existing.bytes).unwrap()["manifests"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                }
                None => Vec::new(),
            };
            entries.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": pushed.digest,
                "size": pushed.bytes.len(),
                "artifactType": artifact_type,
                "annotations": annotations,
            }));
            let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries });
            Some(
                self.manifest(repo, Some(&tag), OCI_INDEX, odd_json(&index))
                    .await,
            )
        };
        Referrer {
            manifest: pushed,
            artifact_type: artifact_type.to_owned(),
            annotations,
            subject: subject.digest.clone(),
            fallback,
        }
    }

    // --- reading back ------------------------------------------------------------------------

    /// GET a manifest by tag or digest; None on 404.
    pub async fn fetch_manifest(&self, repo: &str, reference: &str) -> Option<Fetched> {
        let response = self
            .auth(
                self.http
                    .get(self.url(&format!("/v2/{repo}/manifests/{reference}"))),
                repo,
            )
            .header("accept", ACCEPT_MANIFESTS)
            .send()
            .await
            .expect("manifest GET");
        let status = response.status().as_u16();
        if status == 404 {
            return None;
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let digest = header("docker-content-digest");
        let media_type = header("content-type");
        let bytes = response.bytes().await.expect("manifest body").to_vec();
        assert_eq!(
            status,
            200,
            "manifest GET {repo}:{reference}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Some(Fetched {
            digest,
            media_type,
            bytes,
        })
    }

    /// HEAD a manifest: its `Docker-Content-Digest`, None on 404.
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Option<String> {
        let response = self
            .auth(
                self.http
                    .head(self.url(&format!("/v2/{repo}/manifests/{reference}"))),
                repo,
            )
            .header("accept", ACCEPT_MANIFESTS)
            .send()
            .await
            .expect("manifest HEAD");
        match response.status().as_u16() {
            404 => None,
            200 => Some(
                response
                    .headers()
                    .get("docker-content-digest")
                    .expect("Docker-Content-Digest")
                    .to_str()
                    .unwrap()
                    .to_owned(),
            ),
            other => panic!("manifest HEAD {repo}:{reference}: {other}"),
        }
    }

    /// Whether the registry has the blob in `repo` (HEAD).
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        let response = self
            .auth(
                self.http
                    .head(self.url(&format!("/v2/{repo}/blobs/{digest}"))),
                repo,
            )
            .send()
            .await
            .expect("blob HEAD");
        match response.status().as_u16() {
            200 => true,
            404 => false,
            other => panic!("blob HEAD {repo}@{digest}: {other}"),
        }
    }

    /// GET a blob whole (small blobs); None on 404.
    pub async fn fetch_blob(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        let response = self
            .auth(
                self.http
                    .get(self.url(&format!("/v2/{repo}/blobs/{digest}"))),
                repo,
            )
            .send()
            .await
            .expect("blob GET");
        match response.status().as_u16() {
            200 => Some(response.bytes().await.expect("blob body").to_vec()),
            404 => None,
            other => panic!("blob GET {repo}@{digest}: {other}"),
        }
    }

    /// GET a blob streamed, returning the sha256 digest and length of what came; None on 404.
    pub async fn blob_sha256(&self, repo: &str, digest: &str) -> Option<(String, u64)> {
        use futures_util::StreamExt as _;
        let response = self
            .auth(
                self.http
                    .get(self.url(&format!("/v2/{repo}/blobs/{digest}"))),
                repo,
            )
            .send()
            .await
            .expect("blob GET");
        match response.status().as_u16() {
            200 => {}
            404 => return None,
            other => panic!("blob GET {repo}@{digest}: {other}"),
        }
        let mut hasher = sha2::Sha256::new();
        let mut length = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("blob body");
            length += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Some((format!("sha256:{}", hex(&hasher.finalize())), length))
    }

    /// The tags of `repo` (empty when the repository does not exist).
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let response = self
            .auth(
                self.http
                    .get(self.url(&format!("/v2/{repo}/tags/list?n=1000"))),
                repo,
            )
            .send()
            .await
            .expect("tags list");
        if response.status().as_u16() == 404 {
            return Vec::new();
        }
        assert!(
            response.status().is_success(),
            "tags list {repo}: {response:?}"
        );
        let value: Value = response.json().await.expect("tags JSON");
        let mut tags: Vec<String> = value["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        tags.sort();
        tags
    }

    /// The repositories of the registry (`/v2/_catalog`).
    pub async fn catalog(&self) -> Vec<String> {
        let response = self
            .auth(self.http.get(self.url("/v2/_catalog?n=1000")), "")
            .send()
            .await
            .expect("catalog");
        assert!(response.status().is_success(), "catalog: {response:?}");
        let value: Value = response.json().await.expect("catalog JSON");
        let mut repos: Vec<String> = value["repositories"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        repos.sort();
        repos
    }

    /// The referrers API answer for `digest` in `repo`; None when the registry has no such
    /// API (404).
    pub async fn referrers(&self, repo: &str, digest: &str) -> Option<Value> {
        let response = self
            .auth(
                self.http
                    .get(self.url(&format!("/v2/{repo}/referrers/{digest}"))),
                repo,
            )
            .send()
            .await
            .expect("referrers GET");
        if response.status().as_u16() == 404 {
            return None;
        }
        assert!(
            response.status().is_success(),
            "referrers {repo}: {response:?}"
        );
        Some(response.json().await.expect("referrers JSON"))
    }
}
