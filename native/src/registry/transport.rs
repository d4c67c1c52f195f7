//! The wire: one request to a registry, as layers around reqwest — counting, retry with
//! backoff (the [`retry`](super::retry) policy), and the auth handshake (challenge, token per
//! repository and action set) — plus where a registry is served (plain HTTP, TLS settings).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use purser::reference::Reference;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};

use super::auth::{self, Challenge, TokenReply};
use super::credentials::{Credential, CredentialSource, Secret, normalize_host};
use super::exchange::{Reply, Sent, Target};
use super::status::{bad, error_detail, status_error, unauthorized};
use super::{Client, MAX_MANIFEST_BYTES, MAX_TOKEN_BYTES, RegistryError, Stats, media, retry};

/// Requests sent so far, by kind (shared by a client's clones).
#[derive(Default)]
pub(super) struct Counters {
    head: AtomicU64,
    get: AtomicU64,
    put: AtomicU64,
    post: AtomicU64,
    patch: AtomicU64,
    delete: AtomicU64,
    token: AtomicU64,
    retries: AtomicU64,
    /// Bytes of request bodies sent (blob uploads, manifests), retries included.
    sent_bytes: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            head: load(&self.head),
            get: load(&self.get),
            put: load(&self.put),
            post: load(&self.post),
            patch: load(&self.patch),
            delete: load(&self.delete),
            token: load(&self.token),
            retries: load(&self.retries),
            sent_bytes: load(&self.sent_bytes),
        }
    }

    pub(super) fn add_sent(&self, bytes: u64) {
        self.sent_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn count(&self, kind: &Kind) {
        match kind {
            Kind::Registry(m) if *m == Method::HEAD => &self.head,
            Kind::Registry(m) if *m == Method::PUT => &self.put,
            Kind::Registry(m) if *m == Method::POST => &self.post,
            Kind::Registry(m) if *m == Method::PATCH => &self.patch,
            Kind::Registry(m) if *m == Method::DELETE => &self.delete,
            Kind::Registry(_) => &self.get,
            Kind::Token => &self.token,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// What a request may do, and so which token scope it needs: a token is asked for and cached
/// per (host, scope), so a pull token never stands in for a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access<'a> {
    Pull,
    Push,
    /// Push here, and pull from the mount source repository `from` on the same registry.
    Mount {
        from: &'a str,
    },
}

impl Access<'_> {
    /// The token scopes, as the distribution token spec writes them.
    fn scopes(&self, repository: &str) -> Vec<String> {
        match self {
            Access::Pull => vec![format!("repository:{repository}:pull")],
            Access::Push => vec![format!("repository:{repository}:pull,push")],
            Access::Mount { from } => vec![
                format!("repository:{repository}:pull,push"),
                format!("repository:{from}:pull"),
            ],
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Registry(Method),
    Token,
}

/// One request to a registry.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) accept: Option<&'static str>,
    pub(super) content_type: Option<&'a str>,
    /// A body that can be sent again on a retry.
    pub(super) body: Option<bytes::Bytes>,
    /// The most body bytes read into [`Reply::body`]; None: leave the body unread, as a
    /// stream in [`Reply::stream`] (2xx replies only; error replies are read).
    pub(super) limit: Option<usize>,
    pub(super) access: Access<'a>,
}

impl<'a> Call<'a> {
    pub(super) fn new(method: Method, url: String, access: Access<'a>) -> Call<'a> {
        Call {
            method,
            url,
            accept: None,
            content_type: None,
            body: None,
            limit: Some(SMALL_REPLY),
            access,
        }
    }
}

/// Error bodies and small replies (upload sessions, tag lists) are read up to this.
pub(super) const SMALL_REPLY: usize = 4 << 20;

impl Client {
    /// Where `registry/repository` is served (through its pull-through cache, when
    /// [`Options::source_mirrors`](super::Options::source_mirrors) names one); `shown` is what
    /// errors will name.
    pub(super) fn target(&self, registry: &str, repository: &str, shown: String) -> Target {
        if let Some((cache, path)) = self.inner.source_mirrors.route(registry, repository) {
            let shown = format!("{shown} (through {cache}/{path})");
            return self.direct_target(&cache, &path, shown);
        }
        self.direct_target(registry, repository, shown)
    }

    fn direct_target(&self, registry: &str, repository: &str, shown: String) -> Target {
        let api_host = if normalize_host(registry) == "docker.io" {
            "registry-1.docker.io".to_owned()
        } else {
            registry.to_owned()
        };
        let plain = listed(&self.inner.plain_http, registry);
        Target {
            shown,
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            base: format!("{}://{api_host}", if plain { "http" } else { "https" }),
            api_host,
            insecure: listed(&self.inner.insecure, registry),
        }
    }

    /// The target of a reference: errors name it in canonical form.
    pub(super) fn target_of(&self, r: &Reference) -> Target {
        self.target(r.registry(), r.repository(), r.canonical())
    }

    fn http(&self, t: &Target) -> &reqwest::Client {
        if t.insecure {
            &self.inner.unverified
        } else {
            &self.inner.verified
        }
    }

    /// HEAD or GET the manifest a reference names (its tag, else its digest, else `latest`);
    /// the reply may be any status.
    pub(super) async fn manifest_request(
        &self,
        t: &Target,
        r: &Reference,
        method: Method,
    ) -> Result<(Reply, Sent), RegistryError> {
        let id = match (r.tag(), r.digest()) {
            (Some(tag), _) => tag,
            (None, Some(digest)) => digest,
            (None, None) => "latest",
        };
        let mut call = Call::new(method, t.url(&format!("manifests/{id}")), Access::Pull);
        call.accept = Some(media::ACCEPT);
        call.limit = Some(MAX_MANIFEST_BYTES);
        self.call(t, call).await
    }

    /// One call with the auth dance (one challenge answered) around the retrying sender.
    pub(super) async fn call(
        &self,
        t: &Target,
        call: Call<'_>,
    ) -> Result<(Reply, Sent), RegistryError> {
        let mut answered = false;
        loop {
            let (authorization, sent) = self.authorization(t, call.access).await?;
            let build = || {
                let mut request = self.http(t).request(call.method.clone(), &call.url);
                if let Some(accept) = call.accept {
                    request = request.header(ACCEPT, accept);
                }
                if let Some(content_type) = call.content_type {
                    request = request.header(CONTENT_TYPE, content_type);
                }
                if let Some(body) = &call.body {
                    request = request.body(body.clone());
                } else if matches!(call.method, Method::PUT | Method::POST | Method::PATCH) {
                    request = request.header(CONTENT_LENGTH, 0);
                }
                if let Some(value) = &authorization {
                    request = request.header(AUTHORIZATION, value.clone());
                }
                request
            };
            let body_len = call.body.as_ref().map_or(0, |b| b.len() as u64);
            let reply = self
                .send(
                    t,
                    Kind::Registry(call.method.clone()),
                    call.limit,
                    body_len,
                    build,
                )
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
            self.inner
                .auth
                .forget_token(&t.api_host, &scope_key(&call.access.scopes(&t.repository)));
            self.inner.auth.learn(&t.api_host, challenge);
        }
    }

    /// One request whose body is a stream: sent once, never retried (a stream cannot be
    /// replayed; the caller retries the whole transfer). The authorization is the one the
    /// host asked for last, so the caller opens the session with [`call`](Self::call) first.
    pub(super) async fn call_streaming(
        &self,
        t: &Target,
        method: Method,
        url: &str,
        access: Access<'_>,
        body: reqwest::Body,
        length: u64,
    ) -> Result<(Reply, Sent), RegistryError> {
        let (authorization, sent) = self.authorization(t, access).await?;
        let mut request = self
            .http(t)
            .request(method.clone(), url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, length)
            .body(body);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        self.inner.counters.count(&Kind::Registry(method));
        self.inner.counters.add_sent(length);
        let reply = self.attempt(t, request, Some(SMALL_REPLY)).await?;
        Ok((reply, sent))
    }

    /// The Authorization header for the next request to `t`, from what its host asked for
    /// last time (nothing before the first challenge).
    async fn authorization(
        &self,
        t: &Target,
        access: Access<'_>,
    ) -> Result<(Option<HeaderValue>, Sent), RegistryError> {
        let anonymous = Sent {
            source: CredentialSource::Anonymous,
            withheld: None,
            token: false,
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
                        token: false,
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
                        token: false,
                    },
                )),
                None => Ok((None, anonymous)),
            },
            Challenge::Bearer { realm, service } => {
                let scopes = access.scopes(&t.repository);
                let key = scope_key(&scopes);
                let sent_source = credential
                    .as_ref()
                    .map_or(CredentialSource::Anonymous, |c| c.source.clone());
                let cached = || {
                    self.inner.auth.token(&t.api_host, &key).map(|token| {
                        (
                            Some(bearer_header(&token)),
                            Sent {
                                source: sent_source.clone(),
                                withheld: None,
                                token: true,
                            },
                        )
                    })
                };
                if let Some(found) = cached() {
                    return Ok(found);
                }
                // One token request per scope at a time: requests in parallel wait for the
                // first one's token instead of each asking for their own.
                let gate = self.inner.auth.gate(&t.api_host, &key);
                let _turn = gate.lock().await;
                if let Some(found) = cached() {
                    return Ok(found);
                }
                let (token, life, sent) = self
                    .fetch_token(t, &realm, service.as_deref(), credential, &scopes)
                    .await?;
                self.inner
                    .auth
                    .store_token(&t.api_host, &key, token.clone(), life);
                Ok((Some(bearer_header(&token)), sent))
            }
        }
    }

    pub(super) async fn credential(&self, t: &Target) -> Result<Option<Credential>, RegistryError> {
        self.inner
            .credentials
            .lookup(&t.registry)
            .await
            .map_err(|(source, detail)| RegistryError::Credentials {
                reference: t.shown.clone(),
                registry: t.registry.clone(),
                source,
                detail,
            })
    }

    /// A token for `scopes` from `realm`.
    async fn fetch_token(
        &self,
        t: &Target,
        realm: &str,
        service: Option<&str>,
        credential: Option<Credential>,
        scopes: &[String],
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
            .send(t, Kind::Token, Some(MAX_TOKEN_BYTES), 0, || {
                let mut query: Vec<(&str, &str)> =
                    scopes.iter().map(|s| ("scope", s.as_str())).collect();
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
        let sent = Sent {
            source,
            withheld,
            token: false,
        };
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
                    registry: t.registry.clone(),
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
        Ok((
            token.0,
            token.1,
            Sent {
                token: true,
                ..sent
            },
        ))
    }

    /// One exchange, retried on transient failures per the policy; the body read whole
    /// (up to `limit`) inside each attempt, so a body cut short is retried too. With no
    /// limit, a successful reply's body is left as a stream (its failures are the caller's).
    async fn send(
        &self,
        t: &Target,
        kind: Kind,
        limit: Option<usize>,
        body_len: u64,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Reply, RegistryError> {
        let policy = &self.inner.retry;
        let counters = &self.inner.counters;
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            counters.count(&kind);
            counters.add_sent(body_len);
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
                        registry: t.registry.clone(),
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
        t: &Target,
        request: reqwest::RequestBuilder,
        limit: Option<usize>,
    ) -> Result<Reply, RegistryError> {
        let mut response = request.send().await.map_err(|e| transport_error(t, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        if limit.is_none() && status.is_success() {
            return Ok(Reply {
                status,
                headers,
                body: Vec::new(),
                stream: Some(response),
            });
        }
        let limit = limit.unwrap_or(SMALL_REPLY);
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
            stream: None,
        })
    }
}

/// The token cache key of a scope set.
fn scope_key(scopes: &[String]) -> String {
    scopes.join(" ")
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

/// What a reqwest failure means for the user: no such host, TLS, or a (transient) broken
/// connection.
pub(super) fn transport_error(t: &Target, error: &reqwest::Error) -> RegistryError {
    let reference = t.shown.clone();
    let registry = t.registry.clone();
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
}
