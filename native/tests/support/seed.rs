//! Pushes test content with plain registry API calls (monolithic blob upload, manifest PUT)
//! and keeps the exact bytes pushed, so tests can compare digests with what was sent.
//! Manifests are pretty-printed with an unusual indent: a client that re-serialised them would
//! get another digest.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::Digest as _;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const ARTIFACT_TYPE: &str = "application/vnd.purser.test.artifact.v1";
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// An uncompressed layer: its digest is its diff id.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Every manifest media type, for Accept headers.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Something pushed: its digest, media type and exact bytes.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Pushed {
    /// Its descriptor (mediaType, digest, size), as an index or a `subject` names it.
    pub fn descriptor(&self) -> Value {
        descriptor(&self.media_type, &self.digest, self.bytes.len() as u64)
    }
}

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

    /// An image config for this platform with these layers (and `Env`, when given), as pushed.
    fn image_config(&self, diff_ids: Vec<String>, env: Option<String>) -> Vec<u8> {
        let mut config = self.json();
        config["rootfs"] = json!({ "type": "layers", "diff_ids": diff_ids });
        if let Some(env) = env {
            config["config"] = json!({ "Env": [env] });
        }
        odd_json(&config)
    }
}

// --- bytes and digests ----------------------------------------------------------------------------

/// One step of splitmix64: the next word after `state`.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
    (0..len).map(|_| splitmix(&mut state) as u8).collect()
}

/// A random u64 (a seed).
pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes(8).try_into().unwrap())
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
            out.extend_from_slice(&splitmix(&mut self.state).to_le_bytes());
        }
        out.truncate(n);
        self.left -= n as u64;
        Some(bytes::Bytes::from(out))
    }
}

/// `sha256:<hex>` of what `hasher` took in.
fn digest_of(hasher: sha2::Sha256) -> String {
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

pub fn sha256(bytes: &[u8]) -> String {
    digest_of(sha2::Sha256::new_with_prefix(bytes))
}

/// JSON with a 3-space indent: valid, and not what any serializer would produce by default.
pub fn odd_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut ser).unwrap();
    out
}

/// A content descriptor: mediaType, digest, size.
fn descriptor(media_type: &str, digest: &str, size: u64) -> Value {
    json!({ "mediaType": media_type, "digest": digest, "size": size })
}

/// A descriptor with annotations.
fn annotated(mut descriptor: Value, annotations: Value) -> Value {
    descriptor["annotations"] = annotations;
    descriptor
}

/// `sha256-<hex>`: the tag cosign and the referrers fallback derive from a digest.
pub fn digest_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The descriptors of the blobs a manifest names: config then layers (none for an index).
fn blob_descriptors(manifest: &[u8]) -> Vec<(String, u64)> {
    let value: Value = serde_json::from_slice(manifest).expect("manifest JSON");
    std::iter::once(&value["config"])
        .chain(value["layers"].as_array().into_iter().flatten())
        .filter(|d| d["digest"].is_string())
        .map(|d| {
            (
                d["digest"].as_str().unwrap().to_owned(),
                d["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The blobs a manifest names: config then layers (none for an index).
pub fn blob_digests(manifest: &[u8]) -> Vec<String> {
    blob_descriptors(manifest)
        .into_iter()
        .map(|(digest, _)| digest)
        .collect()
}

/// Sizes of the blobs a manifest names, by digest.
pub fn blob_sizes(manifest: &[u8]) -> Vec<(String, u64)> {
    blob_descriptors(manifest)
}

/// The manifests an index names.
pub fn child_digests(index: &[u8]) -> Vec<String> {
    let value: Value = serde_json::from_slice(index).expect("index JSON");
    strings(&value["manifests"], |m| &m["digest"])
}

/// The strings `pick` finds in each element of the array `list` (none when it is not one).
fn strings(list: &Value, pick: impl Fn(&Value) -> &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|v| pick(v).as_str().unwrap().to_owned())
        .collect()
}

/// `url` with `digest=DIGEST` added to its query: the PUT that commits an upload.
fn with_digest(mut url: String, digest: &str) -> String {
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={digest}"));
    url
}

// --- the seeder -----------------------------------------------------------------------------------

type BearerFor = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Clone)]
pub struct Seeder {
    base: String,
    http: reqwest::Client,
    basic: Option<(String, String)>,
    bearer: Option<BearerFor>,
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

    /// The HTTP client (rustls with the test CA), for requests the seeder does not make.
    pub fn client(&self) -> reqwest::Client {
        self.http.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self, request: RequestBuilder, repo: &str) -> RequestBuilder {
        let request = match &self.basic {
            Some((u, p)) => request.basic_auth(u, Some(p)),
            None => request,
        };
        match &self.bearer {
            Some(token_for) => request.bearer_auth(token_for(repo)),
            None => request,
        }
    }

    /// A request to `path` (an absolute URL, or a path on the registry) with the credentials
    /// for `repo`.
    fn request(&self, method: Method, repo: &str, path: &str) -> RequestBuilder {
        let url = if path.starts_with('/') {
            self.url(path)
        } else {
            path.to_owned()
        };
        self.auth(self.http.request(method, url), repo)
    }

    /// Sends `request`; `what` names it when it cannot be sent, with every cause (reqwest's
    /// own message stops at "error sending request").
    async fn send(request: RequestBuilder, what: &str) -> Response {
        request.send().await.unwrap_or_else(|e| {
            let mut message = format!("{what}: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(&format!(": {c}"));
                cause = c.source();
            }
            panic!("{message}")
        })
    }

    // --- pushing -------------------------------------------------------------------------------

    /// Starts an upload session; the URL to PUT to.
    async fn start_upload(&self, repo: &str) -> String {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let start =
            Seeder::send(self.request(Method::POST, repo, &path), "start blob upload").await;
        assert_eq!(start.status().as_u16(), 202, "blob upload start: {start:?}");
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location");
        if location.starts_with('/') {
            self.url(location)
        } else {
            location.to_owned()
        }
    }

    /// One upload session committing `body` as `digest` in one PUT (with a Content-Length
    /// header when `length` is given).
    async fn upload(&self, repo: &str, digest: &str, body: reqwest::Body, length: Option<u64>) {
        let url = with_digest(self.start_upload(repo).await, digest);
        let mut put = self
            .request(Method::PUT, repo, &url)
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(length) = length {
            put = put.header("content-length", length.to_string());
        }
        let put = Seeder::send(put, "blob upload PUT").await;
        let status = put.status().as_u16();
        let text = put.text().await.unwrap_or_default();
        assert_eq!(status, 201, "blob upload PUT {repo}@{digest}: {text}");
    }

    /// Monolithic upload; returns the digest.
    pub async fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        self.upload(repo, &digest, bytes.to_vec().into(), None)
            .await;
        digest
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
        let digest = digest_of(hasher);
        let streamed = Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
        let tap = streamed.clone();
        let body = futures_util::stream::iter(PatternStream::new(seed, size).map(move |chunk| {
            tap.lock().unwrap().update(&chunk);
            Ok::<_, std::io::Error>(chunk)
        }));
        self.upload(
            repo,
            &digest,
            reqwest::Body::wrap_stream(body),
            content_length.then_some(size),
        )
        .await;
        let again = digest_of(std::mem::take(&mut *streamed.lock().unwrap()));
        assert_eq!(again, digest, "the streamed bytes hash as computed first");
        LargeBlob { digest, size, seed }
    }

    /// A blob of `size` bytes streamed from a fresh seed, never held in memory.
    pub async fn large_blob(&self, repo: &str, size: u64) -> LargeBlob {
        self.stream_blob(repo, random_u64(), size, true).await
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

    /// PUT a manifest under `reference` (a tag, else its digest); also whether the registry
    /// answered `OCI-Subject`.
    async fn put_manifest(
        &self,
        repo: &str,
        reference: Option<&str>,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> (Pushed, bool) {
        let digest = sha256(&bytes);
        let reference = reference.unwrap_or(&digest).to_owned();
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = Seeder::send(
            self.request(Method::PUT, repo, &path)
                .header("content-type", media_type)
                .body(bytes.clone()),
            "manifest PUT",
        )
        .await;
        let status = response.status().as_u16();
        let oci_subject = response.headers().get("oci-subject").is_some();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 201, "manifest PUT {repo}:{reference}: {text}");
        let pushed = Pushed {
            digest,
            media_type: media_type.to_owned(),
            bytes,
        };
        (pushed, oci_subject)
    }

    /// PUT a manifest under `reference` (a tag or its digest).
    pub async fn manifest(
        &self,
        repo: &str,
        reference: Option<&str>,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Pushed {
        self.put_manifest(repo, reference, media_type, bytes)
            .await
            .0
    }

    /// Pushes `config` and the image manifest naming it and `layers` (descriptors of blobs
    /// pushed already): OCI media types, or Docker v2 ones with `docker`. Under `tag`, else by
    /// digest.
    async fn push_image(
        &self,
        repo: &str,
        tag: Option<&str>,
        docker: bool,
        config: &[u8],
        layers: Vec<Value>,
    ) -> Pushed {
        let (manifest_type, config_type) = if docker {
            (DOCKER_MANIFEST, DOCKER_CONFIG)
        } else {
            (OCI_MANIFEST, OCI_CONFIG)
        };
        let config_digest = self.blob(repo, config).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": descriptor(config_type, &config_digest, config.len() as u64),
            "layers": layers,
        });
        self.manifest(repo, tag, manifest_type, odd_json(&manifest))
            .await
    }

    /// An image of `platform` whose layers are `layers` (pushed to `repo`), its config
    /// carrying `env`.
    async fn image_of(
        &self,
        repo: &str,
        tag: Option<&str>,
        platform: Platform<'_>,
        docker: bool,
        layers: &[&Blob],
        env: String,
    ) -> Pushed {
        let layer_type = if docker { DOCKER_LAYER } else { OCI_LAYER };
        let mut descriptors = Vec::new();
        for blob in layers {
            self.blob(repo, &blob.bytes).await;
            descriptors.push(descriptor(layer_type, &blob.digest, blob.size() as u64));
        }
        let diff_ids = layers.iter().map(|b| b.digest.clone()).collect();
        let config = platform.image_config(diff_ids, Some(env));
        self.push_image(repo, tag, docker, &config, descriptors)
            .await
    }

    /// A single-platform image with two small random layers (OCI or Docker media types).
    pub async fn image(
        &self,
        repo: &str,
        tag: Option<&str>,
        platform: Platform<'_>,
        docker: bool,
    ) -> Pushed {
        let (small, larger) = (Blob::random(512), Blob::random(1536));
        self.image_of(
            repo,
            tag,
            platform,
            docker,
            &[&small, &larger],
            "PURSER_TEST=1".to_owned(),
        )
        .await
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
        let extra = Blob::random(extra_layer_len);
        let layers: Vec<&Blob> = base.iter().chain([&extra]).collect();
        self.image_of(
            repo,
            tag,
            AMD64,
            false,
            &layers,
            format!("PURSER_REPO={repo}"),
        )
        .await
    }

    /// A linux/amd64 OCI image whose one layer is a [`Seeder::large_blob`] of `size` bytes.
    pub async fn large_image(&self, repo: &str, tag: &str, size: u64) -> (Pushed, LargeBlob) {
        let layer = self.large_blob(repo, size).await;
        let config = AMD64.image_config(vec![layer.digest.clone()], None);
        let layers = vec![descriptor(OCI_LAYER, &layer.digest, layer.size)];
        let pushed = self
            .push_image(repo, Some(tag), false, &config, layers)
            .await;
        (pushed, layer)
    }

    /// An index of `media_type` listing `entries`, tagged `tag`.
    async fn index(&self, repo: &str, tag: &str, media_type: &str, entries: Vec<Value>) -> Pushed {
        let index = json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": entries });
        self.manifest(repo, Some(tag), media_type, odd_json(&index))
            .await
    }

    /// A `platform` image whose one layer is `layer`, an uncompressed tar (OCI
    /// `…layer.v1.tar`, its digest its diff id): a [`super::rootfs::Rootfs`] for scanners.
    pub async fn rootfs_image(
        &self,
        repo: &str,
        tag: Option<&str>,
        platform: Platform<'_>,
        layer: &Blob,
    ) -> Pushed {
        self.blob(repo, &layer.bytes).await;
        let descriptors = vec![descriptor(
            OCI_LAYER_TAR,
            &layer.digest,
            layer.size() as u64,
        )];
        let config = platform.image_config(vec![layer.digest.clone()], None);
        self.push_image(repo, tag, false, &config, descriptors)
            .await
    }

    /// An OCI index of `children` (each pushed already, with its platform) under `tag`.
    pub async fn index_of(
        &self,
        repo: &str,
        tag: &str,
        children: &[(&Pushed, Platform<'_>)],
    ) -> Pushed {
        let entries = children
            .iter()
            .map(|(child, platform)| {
                let mut entry = child.descriptor();
                entry["platform"] = platform.json();
                entry
            })
            .collect();
        self.index(repo, tag, OCI_INDEX, entries).await
    }

    /// An image per platform (OCI, or Docker with `docker`), and their index entries.
    async fn platform_images(
        &self,
        repo: &str,
        platforms: &[Platform<'_>],
        docker: bool,
    ) -> (Vec<Pushed>, Vec<Value>) {
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for &platform in platforms {
            let child = self.image(repo, None, platform, docker).await;
            let mut entry = child.descriptor();
            entry["platform"] = platform.json();
            entries.push(entry);
            children.push(child);
        }
        (children, entries)
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
        let (children, mut entries) = self
            .platform_images(repo, &[AMD64, ARM_V7, ARM64_V8], false)
            .await;
        let mut attestations = Vec::new();
        for &of in attested {
            let subject = &children[of].digest;
            let statement = odd_json(&json!({
                "_type": "https://in-toto.io/Statement/v0.1",
                "subject": [{ "digest": { "sha256": subject.trim_start_matches("sha256:") } }],
            }));
            let statement_digest = self.blob(repo, &statement).await;
            let layer = annotated(
                descriptor(
                    "application/vnd.in-toto+json",
                    &statement_digest,
                    statement.len() as u64,
                ),
                json!({ "in-toto.io/predicate-type": "https://spdx.dev/Document" }),
            );
            let attestation = self.push_image(repo, None, false, b"{}", vec![layer]).await;
            let mut entry = annotated(
                attestation.descriptor(),
                json!({
                    "vnd.docker.reference.digest": subject,
                    "vnd.docker.reference.type": "attestation-manifest",
                }),
            );
            entry["platform"] = json!({ "architecture": "unknown", "os": "unknown" });
            entries.push(entry);
            attestations.push(attestation);
        }
        let index = self.index(repo, tag, OCI_INDEX, entries).await;
        (index, children, attestations)
    }

    /// A Docker manifest list with linux/amd64 and linux/arm64/v8 Docker images.
    pub async fn docker_list(&self, repo: &str, tag: &str) -> (Pushed, Vec<Pushed>) {
        let (children, entries) = self.platform_images(repo, &[AMD64, ARM64_V8], true).await;
        let list = self.index(repo, tag, DOCKER_LIST, entries).await;
        (list, children)
    }

    /// A non-image OCI artifact manifest: `artifactType`, the empty config, one random file
    /// of `len` bytes as a `file_type` layer (its blobs pushed, the manifest not).
    async fn artifact_manifest(
        &self,
        repo: &str,
        artifact_type: &str,
        file_type: &str,
        len: usize,
    ) -> Value {
        let config_digest = self.blob(repo, b"{}").await;
        let file = Blob::random(len);
        self.blob(repo, &file.bytes).await;
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor(OCI_EMPTY, &config_digest, 2),
            "layers": [descriptor(file_type, &file.digest, file.size() as u64)],
        })
    }

    /// A non-image OCI artifact: artifactType set, the empty config, one file layer.
    pub async fn artifact(&self, repo: &str, tag: &str) -> Pushed {
        let manifest = self
            .artifact_manifest(repo, ARTIFACT_TYPE, "application/vnd.purser.test.file", 300)
            .await;
        self.manifest(repo, Some(tag), OCI_MANIFEST, odd_json(&manifest))
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
        let signature = base64(&random_bytes(71));
        self.cosign_like(
            repo,
            signed,
            "sig",
            (COSIGN_SIMPLESIGNING, payload),
            json!({ COSIGN_SIGNATURE_ANNOTATION: signature }),
            docker,
        )
        .await
    }

    /// A cosign-style attestation of `signed`: one DSSE envelope layer, tagged
    /// `sha256-<hex>.att`.
    pub async fn cosign_attestation(&self, repo: &str, signed: &Pushed) -> Pushed {
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{ "name": repo, "digest": { "sha256": signed.digest.trim_start_matches("sha256:") } }],
            "predicate": {},
        }))
        .unwrap();
        let envelope = serde_json::to_vec(&json!({
            "payloadType": "application/vnd.in-toto+json",
            "payload": base64(&statement),
            "signatures": [{ "keyid": "", "sig": base64(&random_bytes(71)) }],
        }))
        .unwrap();
        self.cosign_like(
            repo,
            signed,
            "att",
            (DSSE_ENVELOPE, envelope),
            json!({ "predicateType": "https://slsa.dev/provenance/v0.2" }),
            false,
        )
        .await
    }

    /// A manifest with one `layer` (media type, bytes) annotated with `annotations`, tagged
    /// `sha256-<hex of signed>.SUFFIX`, as cosign writes them.
    async fn cosign_like(
        &self,
        repo: &str,
        signed: &Pushed,
        suffix: &str,
        (layer_type, layer): (&str, Vec<u8>),
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
        let layer = annotated(
            descriptor(layer_type, &layer_digest, layer.len() as u64),
            annotations,
        );
        let tag = format!("{}.{suffix}", digest_tag(&signed.digest));
        self.push_image(repo, Some(&tag), docker, &config, vec![layer])
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
        let mut manifest = self
            .artifact_manifest(
                repo,
                artifact_type,
                "application/vnd.purser.test.sbom+json",
                256,
            )
            .await;
        manifest["subject"] = subject.descriptor();
        manifest["annotations"] = annotations.clone();
        let (pushed, oci_subject) = self
            .put_manifest(repo, None, OCI_MANIFEST, odd_json(&manifest))
            .await;
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
            let mut entry = annotated(pushed.descriptor(), annotations.clone());
            entry["artifactType"] = json!(artifact_type);
            entries.push(entry);
            Some(self.index(repo, &tag, OCI_INDEX, entries).await)
        };
        Referrer {
            manifest: pushed,
            artifact_type: artifact_type.to_owned(),
            annotations,
            subject: subject.digest.clone(),
            fallback,
        }
    }

    // --- reading back --------------------------------------------------------------------------

    /// GET or HEAD a manifest, accepting every manifest type.
    async fn manifest_request(&self, method: Method, repo: &str, reference: &str) -> Response {
        let what = format!("manifest {method}");
        let path = format!("/v2/{repo}/manifests/{reference}");
        Seeder::send(
            self.request(method, repo, &path)
                .header("accept", ACCEPT_MANIFESTS),
            &what,
        )
        .await
    }

    /// GET a manifest by tag or digest; None on 404.
    pub async fn fetch_manifest(&self, repo: &str, reference: &str) -> Option<Fetched> {
        let response = self.manifest_request(Method::GET, repo, reference).await;
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
        let response = self.manifest_request(Method::HEAD, repo, reference).await;
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

    /// GET or HEAD a blob: the answer when the registry has it, None on 404.
    async fn blob_request(&self, method: Method, repo: &str, digest: &str) -> Option<Response> {
        let what = format!("blob {method}");
        let path = format!("/v2/{repo}/blobs/{digest}");
        let response = Seeder::send(self.request(method, repo, &path), &what).await;
        match response.status().as_u16() {
            200 => Some(response),
            404 => None,
            other => panic!("{what} {repo}@{digest}: {other}"),
        }
    }

    /// Whether the registry has the blob in `repo` (HEAD).
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        self.blob_request(Method::HEAD, repo, digest)
            .await
            .is_some()
    }

    /// GET a blob whole (small blobs); None on 404.
    pub async fn fetch_blob(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        let response = self.blob_request(Method::GET, repo, digest).await?;
        Some(response.bytes().await.expect("blob body").to_vec())
    }

    /// GET a blob streamed, returning the sha256 digest and length of what came; None on 404.
    pub async fn blob_sha256(&self, repo: &str, digest: &str) -> Option<(String, u64)> {
        use futures_util::StreamExt as _;
        let response = self.blob_request(Method::GET, repo, digest).await?;
        let mut hasher = sha2::Sha256::new();
        let mut length = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("blob body");
            length += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Some((digest_of(hasher), length))
    }

    /// GET `path` as JSON (credentials for `repo`); None on 404, `what` names it otherwise.
    async fn get_json(&self, repo: &str, path: &str, what: &str) -> Option<Value> {
        let response = Seeder::send(self.request(Method::GET, repo, path), what).await;
        if response.status().as_u16() == 404 {
            return None;
        }
        assert!(response.status().is_success(), "{what}: {response:?}");
        Some(
            response
                .json()
                .await
                .unwrap_or_else(|e| panic!("{what} JSON: {e}")),
        )
    }

    /// The tags of `repo` (empty when the repository does not exist).
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let path = format!("/v2/{repo}/tags/list?n=1000");
        let list = self
            .get_json(repo, &path, &format!("tags list {repo}"))
            .await;
        let mut tags = list.map_or_else(Vec::new, |v| strings(&v["tags"], |t| t));
        tags.sort();
        tags
    }

    /// The repositories of the registry (`/v2/_catalog`).
    pub async fn catalog(&self) -> Vec<String> {
        let catalog = self
            .get_json("", "/v2/_catalog?n=1000", "catalog")
            .await
            .expect("catalog: 404");
        let mut repos = strings(&catalog["repositories"], |r| r);
        repos.sort();
        repos
    }

    /// The digests of the referrers of `digest` in `repo` with `artifact_type`, from the
    /// referrers API, else the fallback tag (`sha256-<hex>`).
    pub async fn referrers_of_type(
        &self,
        repo: &str,
        digest: &str,
        artifact_type: &str,
    ) -> Vec<String> {
        let index = match self.referrers(repo, digest).await {
            Some(index) => Some(index),
            None => self
                .fetch_manifest(repo, &digest_tag(digest))
                .await
                .map(|f| serde_json::from_slice::<Value>(&f.bytes).unwrap()),
        };
        index
            .map(|i| {
                i["manifests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["artifactType"] == artifact_type)
                    .map(|m| m["digest"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The referrers API answer for `digest` in `repo`; None when the registry has no such
    /// API (404).
    pub async fn referrers(&self, repo: &str, digest: &str) -> Option<Value> {
        let path = format!("/v2/{repo}/referrers/{digest}");
        self.get_json(repo, &path, &format!("referrers {repo}"))
            .await
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
