//! The registry client: one [`Client`] for every registry purser talks to, reading manifests
//! as raw bytes with their media type and digest, never re-serialised.
//!
//! # What comes from oci-client and what does not
//!
//! DESIGN.md says "one client over oci-client". oci-client 0.18 supplies the manifest model
//! here: the OCI/Docker media-type constants and `OciImageIndex`, which reads OCI indexes and
//! Docker manifest lists alike (see [`media`]). Its `Client` is not used for the wire, because
//! it cannot give what this layer must:
//!
//! - **Status codes and `Retry-After`**: its errors flatten HTTP answers (a 429 or 503 becomes
//!   a message, headers are gone), so there is nothing to base retries on, and it never retries.
//! - **Raw manifest with media type**: `pull_manifest_raw` returns bytes and digest, not the
//!   Content-Type; `fetch_manifest_digest` (HEAD) returns the digest only, no media type, no
//!   size.
//! - **Per-host TLS**: `accept_invalid_certificates` and `protocol` are client-wide or a host
//!   list for HTTP only; `--insecure-skip-tls-verify HOST` must touch no other host. No client
//!   certificates at all.
//! - **Credentials**: its token fetch sends basic credentials to whatever realm a challenge
//!   names, over plain HTTP too, and a refused token is swallowed (`get_auth_token` turns the
//!   error into "anonymous"), so a wrong password would read as a 401 with no cause. No
//!   identity tokens, no credential helpers.
//! - **Counting requests** (the benchmark's requests per image): not observable.
//!
//! So the wire is reqwest over rustls (ring provider) directly: [`auth`] (challenges, tokens),
//! [`credentials`] (docker/Helm config, helpers, environment), [`retry`] (backoff), [`tls`]
//! (roots, CA files, client certificate, the insecure verifier).
//!
//! # Semantics
//!
//! - A reference with a tag is asked for by tag, also when it pins a digest too
//!   (`repo:tag@sha256:…`): the bytes must then have the pinned digest, else
//!   [`RegistryError::DigestMismatch`] — that is how a moved tag is caught. Pass a reference
//!   without a tag to fetch by digest.
//! - No tag and no digest means `latest`.
//! - Plain HTTP and skipped TLS verification apply only to hosts in
//!   [`Options::plain_http`] / [`Options::insecure`]: an entry `host:port` matches that
//!   address, an entry `host` matches the host on any port.
//! - Docker Hub (`docker.io`) is reached at `registry-1.docker.io`.

//!
//! # Files
//!
//! One concern a file: [`options`] (what the caller sets), `transport` (counting, retry and
//! auth wrapped around one reqwest exchange), `exchange` (what that exchange is about: its
//! target, reply, credentials sent), `status` (what a reply's status means),
//! `manifest` (read manifests), `blob` (blobs: exists, stream, upload, mount), `push`
//! (write manifests), `referrers` (the referrers API, its tag fallback, tag lists),
//! `handover` (what another program, Trivy, needs to pull an image as this client would).

mod auth;
mod blob;
mod credentials;
mod error;
mod exchange;
mod handover;
mod manifest;
pub mod media;
mod options;
mod push;
mod referrers;
mod retry;
mod status;
mod tls;

pub(crate) use tls::TlsMaterial;
mod transport;

use std::sync::Arc;

use purser::digest::Digest;

pub use blob::{BlobAccess, BlobStream, Mount};
pub use credentials::{CredentialSource, EnvCredentials};
pub use error::RegistryError;
pub use handover::Handover;
pub use options::{Options, default_docker_config, default_helm_registry_config};
pub use push::Pushed;
pub use retry::RetryPolicy;

use auth::AuthState;
use credentials::{Credentials, normalize_host};
use transport::Counters;

/// Manifests larger than this are refused (distribution's own limit is 4 MiB).
const MAX_MANIFEST_BYTES: usize = 8 << 20;
/// Image configs are small JSON documents; a larger one is not a config.
const MAX_CONFIG_BYTES: usize = 8 << 20;
const MAX_TOKEN_BYTES: usize = 1 << 20;

/// What a HEAD (or a GET, when HEAD says too little) tells about a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A manifest exactly as the registry served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The digest of `bytes` (verified against the registry's header and the reference).
    pub digest: Digest,
}

/// A reference resolved to its manifest digest and, for an index, its platforms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub digest: Digest,
    pub media_type: String,
    /// Every platform entry of an index (attestations excluded); empty for a single manifest.
    pub platforms: Vec<PlatformManifest>,
    /// Attestation manifests in the index, which are not platforms.
    pub attestations: usize,
    pub is_index: bool,
}

/// One platform entry of an index or manifest list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformManifest {
    pub digest: Digest,
    pub media_type: String,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformManifest {
    /// `os/architecture[/variant]`, as locks write it.
    pub fn platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// Requests sent so far by a client and its clones, retries included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// HEAD requests to registries.
    pub head: u64,
    /// GET requests to registries.
    pub get: u64,
    /// PUT requests (manifests, upload completions).
    pub put: u64,
    /// POST requests (upload sessions, mounts).
    pub post: u64,
    /// PATCH requests (blob bodies).
    pub patch: u64,
    /// DELETE requests (cancelled upload sessions).
    pub delete: u64,
    /// Requests to token services.
    pub token: u64,
    /// Of all the above, how many were retries.
    pub retries: u64,
    /// Bytes of request bodies sent (blob and manifest uploads).
    pub sent_bytes: u64,
}

impl Stats {
    /// Every registry request (token requests not included).
    pub fn requests(&self) -> u64 {
        self.head + self.get + self.put + self.post + self.patch + self.delete
    }
}

/// The registry client; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    plain_http: Vec<String>,
    insecure: Vec<String>,
    retry: RetryPolicy,
    verified: reqwest::Client,
    unverified: reqwest::Client,
    credentials: Credentials,
    source_mirrors: purser::destination::SourceMirrors,
    auth: AuthState,
    counters: Counters,
}

impl Client {
    pub fn new(options: Options) -> Result<Client, RegistryError> {
        let fail = |reason: String| RegistryError::Options { reason };
        let material = tls::TlsMaterial::load(&options.ca_files, options.client_cert.as_ref())
            .map_err(fail)?;
        let build = |verify: bool| -> Result<reqwest::Client, RegistryError> {
            reqwest::Client::builder()
                .tls_backend_preconfigured(material.config(verify).map_err(fail)?)
                .user_agent(concat!("purser/", env!("CARGO_PKG_VERSION")))
                .timeout(options.timeout)
                .connect_timeout(options.connect_timeout)
                .redirect(reqwest::redirect::Policy::limited(5))
                .build()
                .map_err(|e| fail(format!("HTTP client: {e}")))
        };
        let credentials = Credentials::load(
            options.env_credentials.clone(),
            options.helm_registry_config.as_deref(),
            options.docker_config.as_deref(),
            options.credential_helper_path.clone(),
        )
        .map_err(fail)?;
        if options.retry.max_attempts == 0 {
            return Err(fail("retry.max_attempts must be at least 1".to_owned()));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                plain_http: options
                    .plain_http
                    .iter()
                    .map(|h| normalize_host(h))
                    .collect(),
                insecure: options.insecure.iter().map(|h| normalize_host(h)).collect(),
                retry: options.retry.clone(),
                verified: build(true)?,
                unverified: build(false)?,
                credentials,
                source_mirrors: options.source_mirrors.clone(),
                auth: AuthState::default(),
                counters: Counters::default(),
            }),
        })
    }

    /// The HTTP client for other servers than registries (package repositories): the same
    /// TLS roots and CA files, certificates verified.
    pub fn web(&self) -> reqwest::Client {
        self.inner.verified.clone()
    }

    /// Requests sent so far by this client and its clones.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }
}
