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

// The mirror commands use this API as they grow; until every item has a caller:

mod auth;
mod credentials;
mod error;
mod media;
mod retry;
mod tls;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use purser::reference::Reference;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use sha2::Digest as _;

pub use credentials::{CredentialSource, EnvCredentials};
pub use error::RegistryError;
pub use retry::RetryPolicy;

use auth::{AuthState, Challenge, TokenReply};
use credentials::{Credential, Credentials, Secret, normalize_host};

/// Manifests larger than this are refused (distribution's own limit is 4 MiB).
const MAX_MANIFEST_BYTES: usize = 8 << 20;
/// Image configs are small JSON documents; a larger one is not a config.
const MAX_CONFIG_BYTES: usize = 8 << 20;
const MAX_TOKEN_BYTES: usize = 1 << 20;

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

/// What a HEAD (or a GET, when HEAD says too little) tells about a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// A manifest exactly as the registry served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The digest of `bytes` (verified against the registry's header and the reference).
    pub digest: String,
}

/// A reference resolved to its manifest digest and, for an index, its platforms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub digest: String,
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
    pub digest: String,
    pub media_type: String,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// Requests sent so far by a client and its clones, retries included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// HEAD requests to registries.
    pub head: u64,
    /// GET requests to registries.
    pub get: u64,
    /// Requests to token services.
    pub token: u64,
    /// Of all the above, how many were retries.
    pub retries: u64,
}

impl Stats {
    /// HEAD + GET: the registry requests (token requests not included).
    pub fn requests(&self) -> u64 {
        self.head + self.get
    }
}

#[derive(Default)]
struct Counters {
    head: AtomicU64,
    get: AtomicU64,
    token: AtomicU64,
    retries: AtomicU64,
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
    auth: AuthState,
    counters: Counters,
}

/// One request target: the reference as written in errors, and where it is served.
struct Target<'a> {
    reference: &'a Reference,
    /// The canonical reference, for messages.
    shown: String,
    /// The registry as the reference names it (`docker.io`, `localhost:5000`).
    registry: &'a str,
    /// `scheme://host[:port]` the API is at.
    base: String,
    /// `host[:port]` the API is at (auth state key).
    api_host: String,
    insecure: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Head,
    Get,
    Token,
}

/// A response read whole (HEAD: no body).
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The credentials an attempt carried, for the message if they are refused.
struct Sent {
    source: CredentialSource,
    /// Why credentials that exist were not sent (plain-HTTP token realm).
    withheld: Option<String>,
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
                auth: AuthState::default(),
                counters: Counters::default(),
            }),
        })
    }

    /// Requests sent so far by this client and its clones.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            head: c.head.load(Ordering::Relaxed),
            get: c.get.load(Ordering::Relaxed),
            token: c.token.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    /// The manifest's digest, media type and size from a HEAD request; a GET (hashing the
    /// bytes) when the registry's HEAD lacks `Docker-Content-Digest`, a Content-Type or a
    /// Content-Length, or answers another status than 200/401/403/404 (a HEAD reply has no
    /// body to explain itself).
    pub async fn head(&self, r: &Reference) -> Result<Descriptor, RegistryError> {
        let t = self.target(r);
        let (reply, sent) = self.manifest_request(&t, Method::HEAD).await?;
        let plain_answer = matches!(
            reply.status,
            StatusCode::OK
                | StatusCode::NOT_FOUND
                | StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
        );
        if !plain_answer {
            // HEAD refused (405), or an odd status whose reason is only in a body: ask by GET.
            return self.head_by_get(r).await;
        }
        check_status(&t, &reply, sent)?;
        let digest = reply
            .header("docker-content-digest")
            .map(str::trim)
            .filter(|d| algorithm(d).is_some());
        let media_type = reply
            .header(CONTENT_TYPE.as_str())
            .map(media::essence)
            .filter(|m| media::is_supported(m));
        let size = reply
            .header(reqwest::header::CONTENT_LENGTH.as_str())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let (Some(digest), Some(media_type), Some(size)) = (digest, media_type, size) else {
            return self.head_by_get(r).await;
        };
        if let Some(pinned) = r.digest() {
            if algorithm(pinned) != algorithm(digest) {
                // Another algorithm than the registry's: only the bytes can tell.
                return self.head_by_get(r).await;
            }
            if pinned != digest {
                return Err(mismatch(&t, pinned, digest, FROM_REFERENCE));
            }
        }
        Ok(Descriptor {
            digest: digest.to_owned(),
            media_type: media_type.to_owned(),
            size,
        })
    }

    async fn head_by_get(&self, r: &Reference) -> Result<Descriptor, RegistryError> {
        let m = self.manifest(r).await?;
        Ok(Descriptor {
            size: m.bytes.len() as u64,
            digest: m.digest,
            media_type: m.media_type,
        })
    }

    /// The manifest bytes as served, their media type and verified digest.
    pub async fn manifest(&self, r: &Reference) -> Result<RawManifest, RegistryError> {
        let t = self.target(r);
        let (reply, sent) = self.manifest_request(&t, Method::GET).await?;
        check_status(&t, &reply, sent)?;
        let header = reply
            .header("docker-content-digest")
            .map(str::trim)
            .filter(|d| !d.is_empty());
        if let Some(header) = header {
            let actual = digest_of(header, &reply.body).ok_or_else(|| {
                bad(
                    &t,
                    format!("Docker-Content-Digest {header:?} is not a digest purser can check"),
                )
            })?;
            if actual != header {
                return Err(mismatch(&t, header, &actual, FROM_REGISTRY));
            }
        }
        let digest = match r.digest() {
            Some(pinned) => {
                let actual = digest_of(pinned, &reply.body).ok_or_else(|| {
                    bad(
                        &t,
                        format!("the pinned digest {pinned} uses an unsupported algorithm"),
                    )
                })?;
                if actual != pinned {
                    return Err(mismatch(&t, pinned, &actual, FROM_REFERENCE));
                }
                actual
            }
            None => match header {
                Some(header) => header.to_owned(),
                None => sha256(&reply.body),
            },
        };
        // Digests first: bytes damaged in transit are a mismatch, whatever they parse as.
        let media_type = media::classify(&reply.body, reply.header(CONTENT_TYPE.as_str()))
            .map_err(|detail| bad(&t, detail))?;
        Ok(RawManifest {
            bytes: reply.body,
            media_type,
            digest,
        })
    }

    /// [`manifest`](Self::manifest), and for an index or manifest list its platforms.
    pub async fn resolve(&self, r: &Reference) -> Result<Resolved, RegistryError> {
        let m = self.manifest(r).await?;
        let is_index = media::is_index(&m.media_type);
        let (platforms, attestations) = if is_index {
            media::platforms(&m.bytes).map_err(|detail| bad(&self.target(r), detail))?
        } else {
            let platform = self.image_platform(r, &m).await?;
            (platform.into_iter().collect(), 0)
        };
        Ok(Resolved {
            digest: m.digest,
            media_type: m.media_type,
            platforms,
            attestations,
            is_index,
        })
    }

    /// The platform of a single image manifest, read from its config blob (one more GET);
    /// `None` for manifests whose config is not an image config (artifacts).
    async fn image_platform(
        &self,
        r: &Reference,
        manifest: &RawManifest,
    ) -> Result<Option<PlatformManifest>, RegistryError> {
        let t = self.target(r);
        let Some((config_type, config_digest)) = media::image_config(&manifest.bytes) else {
            return Ok(None);
        };
        let path = format!("blobs/{config_digest}");
        let (reply, sent) = self
            .object_request(&t, Method::GET, &path, "*/*", MAX_CONFIG_BYTES)
            .await?;
        check_status(&t, &reply, sent)?;
        let actual = digest_of(&config_digest, &reply.body).ok_or_else(|| {
            bad(
                &t,
                format!("config digest {config_digest} uses an unsupported algorithm"),
            )
        })?;
        if actual != config_digest {
            return Err(mismatch(&t, &config_digest, &actual, FROM_MANIFEST));
        }
        let (os, architecture, variant) = media::config_platform(&reply.body)
            .map_err(|detail| bad(&t, format!("image config {config_type}: {detail}")))?;
        Ok(Some(PlatformManifest {
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            os,
            architecture,
            variant,
        }))
    }

    fn target<'a>(&self, reference: &'a Reference) -> Target<'a> {
        let registry = reference.registry();
        let api_host = if normalize_host(registry) == "docker.io" {
            "registry-1.docker.io".to_owned()
        } else {
            registry.to_owned()
        };
        let plain = listed(&self.inner.plain_http, registry);
        Target {
            reference,
            shown: reference.canonical(),
            registry,
            base: format!("{}://{api_host}", if plain { "http" } else { "https" }),
            api_host,
            insecure: listed(&self.inner.insecure, registry),
        }
    }

    fn http(&self, t: &Target) -> &reqwest::Client {
        if t.insecure {
            &self.inner.unverified
        } else {
            &self.inner.verified
        }
    }

    /// HEAD or GET the manifest, answering one auth challenge; the reply may be any status.
    async fn manifest_request(
        &self,
        t: &Target<'_>,
        method: Method,
    ) -> Result<(Reply, Sent), RegistryError> {
        let r = t.reference;
        let id = match (r.tag(), r.digest()) {
            (Some(tag), _) => tag,
            (None, Some(digest)) => digest,
            (None, None) => "latest",
        };
        let path = format!("manifests/{id}");
        self.object_request(t, method, &path, media::ACCEPT, MAX_MANIFEST_BYTES)
            .await
    }

    /// `METHOD /v2/<repository>/<path>` with the auth dance (one challenge answered).
    async fn object_request(
        &self,
        t: &Target<'_>,
        method: Method,
        path: &str,
        accept: &'static str,
        limit: usize,
    ) -> Result<(Reply, Sent), RegistryError> {
        let r = t.reference;
        let url = format!("{}/v2/{}/{path}", t.base, r.repository());
        let kind = if method == Method::HEAD {
            Kind::Head
        } else {
            Kind::Get
        };
        let mut answered = false;
        loop {
            let (authorization, sent) = self.authorization(t).await?;
            let reply = self
                .send(t, kind, limit, || {
                    let mut request = self
                        .http(t)
                        .request(method.clone(), &url)
                        .header(ACCEPT, accept);
                    if let Some(value) = &authorization {
                        request = request.header(AUTHORIZATION, value.clone());
                    }
                    request
                })
                .await?;
            if reply.status != StatusCode::UNAUTHORIZED || answered {
                return Ok((reply, sent));
            }
            answered = true;
            let challenge = reply
                .header(reqwest::header::WWW_AUTHENTICATE.as_str())
                .and_then(auth::parse_challenge);
            let Some(challenge) = challenge else {
                return Ok((reply, sent));
            };
            self.inner.auth.forget_token(&t.api_host, r.repository());
            self.inner.auth.learn(&t.api_host, challenge);
        }
    }

    /// The Authorization header for the next request to `t`, from what its host asked for
    /// last time (nothing before the first challenge).
    async fn authorization(
        &self,
        t: &Target<'_>,
    ) -> Result<(Option<HeaderValue>, Sent), RegistryError> {
        let anonymous = Sent {
            source: CredentialSource::Anonymous,
            withheld: None,
        };
        let Some(challenge) = self.inner.auth.challenge(&t.api_host) else {
            return Ok((None, anonymous));
        };
        let credential = self.credential(t).await?;
        match challenge {
            Challenge::Basic => match credential {
                Some(Credential {
                    source,
                    secret: Secret::Basic { username, password },
                }) => Ok((
                    Some(basic_header(&username, &password)),
                    Sent {
                        source,
                        withheld: None,
                    },
                )),
                Some(Credential {
                    source,
                    secret: Secret::IdentityToken { .. },
                }) => Ok((
                    None,
                    Sent {
                        source,
                        withheld: Some(
                            "it holds an identity token, which needs a token service, but the registry asks for basic auth".to_owned(),
                        ),
                    },
                )),
                None => Ok((None, anonymous)),
            },
            Challenge::Bearer { realm, service } => {
                let repository = t.reference.repository();
                let sent_source = credential
                    .as_ref()
                    .map_or(CredentialSource::Anonymous, |c| c.source.clone());
                if let Some(token) = self.inner.auth.token(&t.api_host, repository) {
                    return Ok((
                        Some(bearer_header(&token)),
                        Sent {
                            source: sent_source,
                            withheld: None,
                        },
                    ));
                }
                let (token, life, sent) = self
                    .fetch_token(t, &realm, service.as_deref(), credential)
                    .await?;
                self.inner
                    .auth
                    .store_token(&t.api_host, repository, token.clone(), life);
                Ok((Some(bearer_header(&token)), sent))
            }
        }
    }

    async fn credential(&self, t: &Target<'_>) -> Result<Option<Credential>, RegistryError> {
        self.inner
            .credentials
            .lookup(t.registry)
            .await
            .map_err(|(source, detail)| RegistryError::Credentials {
                reference: t.shown.clone(),
                registry: t.registry.to_owned(),
                source,
                detail,
            })
    }

    /// A pull token for `t`'s repository from `realm`.
    async fn fetch_token(
        &self,
        t: &Target<'_>,
        realm: &str,
        service: Option<&str>,
        credential: Option<Credential>,
    ) -> Result<(String, Duration, Sent), RegistryError> {
        let realm_url = reqwest::Url::parse(realm).map_err(|_| {
            bad(
                t,
                format!("its auth challenge names a token realm that is not a URL: {realm:?}"),
            )
        })?;
        let realm_host = match (realm_url.host_str(), realm_url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(bad(t, format!("token realm {realm:?} has no host")));
            }
        };
        let scope = format!("repository:{}:pull", t.reference.repository());
        let mut withheld = None;
        let credential = match credential {
            Some(c)
                if realm_url.scheme() == "https"
                    || (realm_url.scheme() == "http"
                        && listed(&self.inner.plain_http, &realm_host)) =>
            {
                Some(c)
            }
            Some(c) => {
                withheld = Some(format!(
                    "they were not sent to the token service {realm}: it is not HTTPS and {realm_host} is not named with --plain-http"
                ));
                let _ = c;
                None
            }
            None => None,
        };
        let source = credential
            .as_ref()
            .map_or(CredentialSource::Anonymous, |c| c.source.clone());
        // The realm may be another host: use its own TLS setting.
        let http = if listed(&self.inner.insecure, &realm_host) {
            &self.inner.unverified
        } else {
            &self.inner.verified
        };
        let reply = self
            .send(t, Kind::Token, MAX_TOKEN_BYTES, || {
                let mut query: Vec<(&str, &str)> = vec![("scope", &scope)];
                if let Some(service) = service {
                    query.push(("service", service));
                }
                match credential.as_ref().map(|c| &c.secret) {
                    Some(Secret::IdentityToken { token }) => {
                        query.push(("grant_type", "refresh_token"));
                        query.push(("refresh_token", token));
                        query.push(("client_id", "purser"));
                        http.post(realm_url.clone()).form(&query)
                    }
                    Some(Secret::Basic { username, password }) => http
                        .get(realm_url.clone())
                        .query(&query)
                        .header(AUTHORIZATION, basic_header(username, password)),
                    None => http.get(realm_url.clone()).query(&query),
                }
            })
            .await?;
        let sent = Sent { source, withheld };
        match reply.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(unauthorized(
                    t,
                    &sent,
                    format!(
                        "its token service at {realm_host} answered HTTP {}{}",
                        reply.status.as_u16(),
                        error_detail(&reply.body)
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ),
                ));
            }
            status => {
                return Err(RegistryError::Status {
                    reference: t.shown.clone(),
                    registry: t.registry.to_owned(),
                    status: status.as_u16(),
                    detail: format!("from its token service at {realm_host}"),
                });
            }
        }
        let token = serde_json::from_slice::<TokenReply>(&reply.body)
            .ok()
            .and_then(TokenReply::into_token)
            .ok_or_else(|| {
                bad(
                    t,
                    format!("its token service at {realm_host} answered without a token"),
                )
            })?;
        Ok((token.0, token.1, sent))
    }

    /// One exchange, retried on transient failures per the policy; the body read whole
    /// (up to `limit`) inside each attempt, so a body cut short is retried too.
    async fn send(
        &self,
        t: &Target<'_>,
        kind: Kind,
        limit: usize,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Reply, RegistryError> {
        let policy = &self.inner.retry;
        let counters = &self.inner.counters;
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match kind {
                Kind::Head => &counters.head,
                Kind::Get => &counters.get,
                Kind::Token => &counters.token,
            }
            .fetch_add(1, Ordering::Relaxed);
            if attempt > 1 {
                counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            let (error, retry_after) = match self.attempt(t, build(), limit).await {
                Ok(reply) if is_transient_status(reply.status) => {
                    let after = reply
                        .header(reqwest::header::RETRY_AFTER.as_str())
                        .and_then(retry::parse_retry_after);
                    (status_error(t, &reply), after)
                }
                Ok(reply) => return Ok(reply),
                Err(e) if e.is_transient() => (e, None),
                Err(e) => return Err(e),
            };
            let exhausted = |error: RegistryError| {
                if attempt == 1 {
                    error
                } else {
                    RegistryError::RetriesExhausted {
                        reference: t.shown.clone(),
                        registry: t.registry.to_owned(),
                        attempts: attempt,
                        elapsed: start.elapsed(),
                        last: Box::new(error),
                    }
                }
            };
            if attempt >= policy.max_attempts {
                return Err(exhausted(error));
            }
            let delay = retry_after.unwrap_or_else(|| policy.backoff(attempt));
            if start.elapsed() + delay > policy.max_elapsed {
                return Err(exhausted(error));
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        t: &Target<'_>,
        request: reqwest::RequestBuilder,
        limit: usize,
    ) -> Result<Reply, RegistryError> {
        let mut response = request.send().await.map_err(|e| transport_error(t, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(t, &e))? {
            if body.len() + chunk.len() > limit {
                return Err(bad(
                    t,
                    format!("the response is larger than {} MiB", limit >> 20),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Whether `registry` is named in `list` (entries normalised): exactly, or by host alone.
fn listed(list: &[String], registry: &str) -> bool {
    let registry = normalize_host(registry);
    let host = host_part(&registry);
    list.iter()
        .any(|entry| *entry == registry || (entry == host && host_part(entry) == entry.as_str()))
}

/// `host` of `host[:port]` (IPv6 literals keep their brackets).
fn host_part(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end]);
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    }
}

fn is_transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429)
        || (status.is_server_error() && !matches!(status.as_u16(), 501 | 505))
}

const FROM_REFERENCE: &str = "pinned by the reference";
const FROM_REGISTRY: &str = "the registry's Docker-Content-Digest";
const FROM_MANIFEST: &str = "named by the image manifest";

fn mismatch(t: &Target, expected: &str, actual: &str, from: &'static str) -> RegistryError {
    RegistryError::DigestMismatch {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        expected: expected.to_owned(),
        actual: actual.to_owned(),
        expected_from: from,
    }
}

fn bad(t: &Target, detail: String) -> RegistryError {
    RegistryError::BadResponse {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        detail,
    }
}

fn unauthorized(t: &Target, sent: &Sent, detail: String) -> RegistryError {
    let detail = match &sent.withheld {
        Some(why) => format!("{detail}; credentials exist but {why}"),
        None => detail,
    };
    RegistryError::Unauthorized {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        credentials: sent.source.clone(),
        detail,
    }
}

fn status_error(t: &Target, reply: &Reply) -> RegistryError {
    RegistryError::Status {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        status: reply.status.as_u16(),
        detail: error_detail(&reply.body).unwrap_or_default(),
    }
}

/// The error of a non-200 manifest reply, by status.
fn check_status(t: &Target, reply: &Reply, sent: Sent) -> Result<(), RegistryError> {
    match reply.status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND => Err(RegistryError::NotFound {
            reference: t.shown.clone(),
            registry: t.registry.to_owned(),
        }),
        StatusCode::UNAUTHORIZED => {
            let detail =
                error_detail(&reply.body).unwrap_or_else(|| "HTTP 401 Unauthorized".to_owned());
            Err(unauthorized(t, &sent, detail))
        }
        StatusCode::FORBIDDEN => Err(RegistryError::Denied {
            reference: t.shown.clone(),
            registry: t.registry.to_owned(),
            credentials: sent.source,
        }),
        StatusCode::BAD_REQUEST
            if String::from_utf8_lossy(&reply.body).contains("HTTP request to an HTTPS server") =>
        {
            Err(RegistryError::Tls {
                reference: t.shown.clone(),
                registry: t.registry.to_owned(),
                detail: "it speaks HTTPS, but was asked in plain HTTP; drop --plain-http for it"
                    .to_owned(),
            })
        }
        _ => Err(status_error(t, reply)),
    }
}

/// `CODE: message` of an OCI error body, else its first line of text (registry-supplied).
fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        let text: Vec<String> = envelope
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !text.is_empty() {
            return Some(text.join("; "));
        }
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line: String = line.chars().filter(|c| !c.is_control()).take(200).collect();
    Some(line)
}

/// What a reqwest failure means for the user: no such host, TLS, or a (transient) broken
/// connection.
fn transport_error(t: &Target, error: &reqwest::Error) -> RegistryError {
    let reference = t.shown.clone();
    let registry = t.registry.to_owned();
    let mut innermost = error.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(tls) = find_rustls(e) {
            return RegistryError::Tls {
                reference,
                registry,
                detail: tls.to_string(),
            };
        }
        innermost = e.to_string();
        source = e.source();
    }
    let lower = innermost.to_ascii_lowercase();
    if lower.contains("name or service not known")
        || lower.contains("no address associated")
        || lower.contains("nodename nor servname")
        || lower.contains("no such host")
    {
        return RegistryError::UnknownHost {
            reference,
            registry,
        };
    }
    if error.is_builder() {
        return RegistryError::BadResponse {
            reference,
            registry,
            detail: format!("cannot build the request: {innermost}"),
        };
    }
    let detail = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        innermost
    };
    RegistryError::Connect {
        reference,
        registry,
        detail,
    }
}

/// A rustls error in `e` itself or inside (nested) `io::Error`s, which hide their inner error
/// from `source()`.
fn find_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    find_rustls(inner)
}

fn basic_header(username: &str, password: &str) -> HeaderValue {
    use base64::Engine;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

fn bearer_header(token: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    value.set_sensitive(true);
    value
}

/// `sha256`, `sha384` or `sha512` of a well-formed digest string.
fn algorithm(digest: &str) -> Option<&str> {
    let (algorithm, hex) = digest.split_once(':')?;
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    };
    (hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(algorithm)
}

/// The digest of `bytes` in the algorithm `like` uses.
fn digest_of(like: &str, bytes: &[u8]) -> Option<String> {
    Some(match algorithm(like)? {
        "sha256" => sha256(bytes),
        "sha384" => format!("sha384:{}", hex(&sha2::Sha384::digest(bytes))),
        _ => format!("sha512:{}", hex(&sha2::Sha512::digest(bytes))),
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lists() {
        let list: Vec<String> = ["localhost:5000", "reg.internal", "[::1]"]
            .iter()
            .map(|h| normalize_host(h))
            .collect();
        assert!(listed(&list, "localhost:5000"));
        assert!(!listed(&list, "localhost:5001"));
        assert!(listed(&list, "reg.internal:8443"));
        assert!(listed(&list, "reg.internal"));
        assert!(listed(&list, "[::1]:5000"));
        assert!(!listed(&list, "other.internal"));
        let hub = vec![normalize_host("index.docker.io")];
        assert!(listed(&hub, "docker.io"));
    }

    #[test]
    fn digests() {
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256(b""), empty);
        assert_eq!(algorithm(empty), Some("sha256"));
        assert_eq!(algorithm("sha256:abc"), None);
        assert_eq!(digest_of(empty, b"").as_deref(), Some(empty));
        assert!(
            digest_of(&format!("sha512:{}", "0".repeat(128)), b"")
                .unwrap()
                .starts_with("sha512:cf83e1357eefb8bd")
        );
    }

    #[test]
    fn error_details() {
        assert_eq!(
            error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            )
            .as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(error_detail(b"\n  oops\nmore").as_deref(), Some("oops"));
        assert_eq!(error_detail(b""), None);
    }
}
