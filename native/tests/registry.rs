//! The registry layer against real registries on loopback (distribution 2.8 plain, basic
//! auth, TLS and token auth; oci-registry for OCI 1.1), with content the tests push first,
//! credentials from temporary config files and helpers, and a fault-injecting proxy.
//! No mocks: every answer comes from a real registry or a real TCP connection.

use crate::support;

use std::time::{Duration, Instant};

use purser::reference::Reference;
use purser_native::registry::{Client, CredentialSource, Options, RegistryError, RetryPolicy};
use serde_json::json;
use support::seed::{self, AMD64, ARM_V7, ARM64_V8, Pushed};
use support::{DockerConfig, Fault, FaultProxy, Flavour, PASSWORD, Registry, Rule, USER};

fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{host}/{rest}")).expect("test reference parses")
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_elapsed: Duration::from_secs(20),
    }
}

/// Nothing from the machine's environment; plain HTTP for `hosts`; quick retries.
fn options(plain_http: &[&str]) -> Options {
    Options {
        plain_http: plain_http.iter().map(|h| h.to_string()).collect(),
        retry: fast_retry(),
        ..Options::isolated()
    }
}

fn client(options: Options) -> Client {
    Client::new(options).expect("client builds")
}

/// [`options`] with credentials from `config` and its helpers (on the helper path alone).
fn config_options(config: &DockerConfig, plain_http: &[&str]) -> Options {
    Options {
        docker_config: Some(config.path.clone()),
        credential_helper_path: Some(config.helpers.clone().into_os_string()),
        ..options(plain_http)
    }
}

/// A registry of `flavour` holding one image, `REPO:1`: the registry, the image, its reference.
async fn one_image(flavour: Flavour, repo: &str) -> (Registry, Pushed, Reference) {
    let reg = Registry::start(flavour);
    let pushed = reg.seeder().image(repo, Some("1"), AMD64, false).await;
    let r = reference(&reg.host, &format!("{repo}:1"));
    (reg, pushed, r)
}

/// Where the credentials an `Unauthorized` error says were refused came from.
fn refused_credentials(error: &RegistryError) -> &CredentialSource {
    match error {
        RegistryError::Unauthorized { credentials, .. } => credentials,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

/// The error's message names the image and the registry host.
fn assert_names(error: &RegistryError, r: &Reference) {
    let text = error.to_string();
    assert!(
        text.contains(&r.canonical()),
        "error does not name {}: {text}",
        r.canonical()
    );
    assert!(
        text.contains(r.registry()),
        "error does not name {}: {text}",
        r.registry()
    );
}

fn assert_pushed(pushed: &Pushed) {
    assert_eq!(pushed.digest, seed::sha256(&pushed.bytes));
}

// --- content on each registry flavour -----------------------------------------------------------

async fn every_kind_resolves(flavour: Flavour) {
    let reg = Registry::start(flavour);
    let seeder = reg.seeder();
    let oci = seeder.image("team/app", Some("oci"), AMD64, false).await;
    let docker = seeder.image("team/app", Some("docker"), AMD64, true).await;
    let (index, children, attestation) = seeder.oci_index("team/multi", "1.0").await;
    let (list, list_children) = seeder.docker_list("team/multi", "docker").await;
    let artifact = seeder.artifact("team/artifact", "v1").await;
    for p in [&oci, &docker, &index, &list, &artifact] {
        assert_pushed(p);
    }
    let client = client(options(&[&reg.host]));

    // A single OCI image: HEAD, GET and resolve agree with the bytes pushed.
    let r = reference(&reg.host, "team/app:oci");
    let head = client.head(&r).await.unwrap();
    assert_eq!(head.digest.as_str(), oci.digest);
    assert_eq!(head.media_type, seed::OCI_MANIFEST);
    assert_eq!(head.size, oci.bytes.len() as u64);
    let raw = client.manifest(&r).await.unwrap();
    assert_eq!(
        raw.bytes, oci.bytes,
        "bytes must come back exactly as pushed"
    );
    assert_eq!(raw.digest.as_str(), oci.digest);
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.digest.as_str(), oci.digest);
    assert!(!resolved.is_index);
    // A single image: its one platform, read from the config blob, with the manifest's digest.
    let one: Vec<(&str, &str, &str)> = resolved
        .platforms
        .iter()
        .map(|p| (p.digest.as_str(), p.os.as_str(), p.architecture.as_str()))
        .collect();
    assert_eq!(one, vec![(oci.digest.as_str(), "linux", "amd64")]);

    // Docker schema 2.
    let r = reference(&reg.host, "team/app:docker");
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.digest.as_str(), docker.digest);
    assert_eq!(resolved.media_type, seed::DOCKER_MANIFEST);
    assert_eq!(
        client.head(&r).await.unwrap().media_type,
        seed::DOCKER_MANIFEST
    );

    // An OCI index: three platforms with variants, the attestation counted apart.
    let r = reference(&reg.host, "team/multi:1.0");
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.digest.as_str(), index.digest);
    assert_eq!(resolved.media_type, seed::OCI_INDEX);
    assert!(resolved.is_index);
    assert_eq!(resolved.attestations, 1);
    let platforms: Vec<(String, String, Option<String>, String)> = resolved
        .platforms
        .iter()
        .map(|p| {
            (
                p.os.clone(),
                p.architecture.clone(),
                p.variant.clone(),
                p.digest.to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, Option<String>, String)> = [AMD64, ARM_V7, ARM64_V8]
        .iter()
        .zip(&children)
        .map(|(p, child)| {
            (
                p.os.to_owned(),
                p.architecture.to_owned(),
                p.variant.map(str::to_owned),
                child.digest.clone(),
            )
        })
        .collect();
    assert_eq!(platforms, expected);
    assert!(
        resolved
            .platforms
            .iter()
            .all(|p| p.digest.as_str() != attestation.digest && p.media_type == seed::OCI_MANIFEST)
    );

    // A platform manifest by digest alone.
    let r = reference(&reg.host, &format!("team/multi@{}", children[1].digest));
    let raw = client.manifest(&r).await.unwrap();
    assert_eq!(raw.bytes, children[1].bytes);

    // A Docker manifest list.
    let r = reference(&reg.host, "team/multi:docker");
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.digest.as_str(), list.digest);
    assert_eq!(resolved.media_type, seed::DOCKER_LIST);
    assert_eq!(resolved.attestations, 0);
    assert_eq!(
        resolved
            .platforms
            .iter()
            .map(|p| (
                p.digest.as_str(),
                p.media_type.as_str(),
                p.variant.as_deref()
            ))
            .collect::<Vec<_>>(),
        vec![
            (
                list_children[0].digest.as_str(),
                seed::DOCKER_MANIFEST,
                None
            ),
            (
                list_children[1].digest.as_str(),
                seed::DOCKER_MANIFEST,
                Some("v8")
            ),
        ]
    );

    // A non-image artifact.
    let r = reference(&reg.host, "team/artifact:v1");
    let raw = client.manifest(&r).await.unwrap();
    assert_eq!(raw.digest.as_str(), artifact.digest);
    assert_eq!(raw.media_type, seed::OCI_MANIFEST);
    let value: serde_json::Value = serde_json::from_slice(&raw.bytes).unwrap();
    assert_eq!(value["artifactType"], seed::ARTIFACT_TYPE);

    let stats = client.stats();
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.token, 0);
}

#[tokio::test]
async fn every_kind_of_manifest_on_distribution() {
    every_kind_resolves(Flavour::Distribution).await;
}

#[tokio::test]
async fn every_kind_of_manifest_on_oci_registry() {
    every_kind_resolves(Flavour::Oci).await;
}

#[tokio::test]
async fn unchanged_tags_cost_one_head_each() {
    let reg = Registry::start(Flavour::Distribution);
    let seeder = reg.seeder();
    let mut pushed = Vec::new();
    for i in 0..5 {
        pushed.push(
            seeder
                .image(&format!("bench/img{i}"), Some("1"), AMD64, false)
                .await,
        );
    }
    let client = client(options(&[&reg.host]));
    for (i, p) in pushed.iter().enumerate() {
        let head = client
            .head(&reference(&reg.host, &format!("bench/img{i}:1")))
            .await
            .unwrap();
        assert_eq!(head.digest.as_str(), p.digest);
    }
    let stats = client.stats();
    assert_eq!((stats.head, stats.get, stats.retries), (5, 0, 0));
}

// --- credentials --------------------------------------------------------------------------------

#[tokio::test]
async fn basic_auth_from_config_auths_helpers_and_environment() {
    let (reg, pushed, r) = one_image(Flavour::DistributionBasic, "private/app").await;

    // auths: base64 user:password, keyed with a scheme (as `docker login` may write it).
    let config = DockerConfig::with_auth(&format!("http://{}", reg.host), USER, PASSWORD);
    let c = client(config_options(&config, &[&reg.host]));
    assert_eq!(c.resolve(&r).await.unwrap().digest.as_str(), pushed.digest);
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);
    // 401 once, then basic auth sent up front: manifest GET, config GET (the platform), HEAD.
    assert_eq!(c.stats().requests(), 4, "{:?}", c.stats());

    // auths: username/password fields, in Helm's registry config.
    let helm = DockerConfig::new(&json!({
        "auths": { reg.host.clone(): { "username": USER, "password": PASSWORD } }
    }));
    let c = client(Options {
        helm_registry_config: Some(helm.path.clone()),
        ..options(&[&reg.host])
    });
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);

    // credHelpers: a helper script on the helper path, asked once per host.
    let helpers = DockerConfig::new(&json!({
        "auths": { reg.host.clone(): {} },
        "credHelpers": { reg.host.clone(): "purser-test" }
    }));
    helpers.write_helper("purser-test", &reg.host, USER, PASSWORD);
    let c = client(config_options(&helpers, &[&reg.host]));
    assert_eq!(c.resolve(&r).await.unwrap().digest.as_str(), pushed.digest);
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);
    assert_eq!(helpers.helper_calls(), vec![reg.host.clone()]);

    // credsStore: the same helper for every host.
    let store = DockerConfig::new(&json!({ "credsStore": "purser-test" }));
    store.write_helper("purser-test", &reg.host, USER, PASSWORD);
    let c = client(config_options(&store, &[&reg.host]));
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);

    // Environment credentials, scoped to this host, win over a wrong docker config.
    let wrong = DockerConfig::with_auth(&reg.host, USER, "not-the-password");
    let c = client(Options {
        env_credentials: Some(purser_native::registry::EnvCredentials {
            username: USER.to_owned(),
            password: PASSWORD.to_owned(),
            host: Some(reg.host.clone()),
        }),
        ..config_options(&wrong, &[&reg.host])
    });
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);
}

#[tokio::test]
async fn refused_credentials_say_where_they_came_from() {
    let (reg, _, r) = one_image(Flavour::DistributionBasic, "private/app").await;

    // Wrong password from config.json: the file is named, the password never shown.
    let wrong = DockerConfig::with_auth(&reg.host, USER, "wrong-Pa55word");
    let c = client(config_options(&wrong, &[&reg.host]));
    let error = c.resolve(&r).await.unwrap_err();
    assert!(
        matches!(
            refused_credentials(&error),
            CredentialSource::ConfigFile { .. }
        ),
        "{error:?}"
    );
    assert_names(&error, &r);
    let text = error.to_string();
    assert!(text.contains(&wrong.path.display().to_string()), "{text}");
    assert!(!text.contains("wrong-Pa55word") && !format!("{error:?}").contains("wrong-Pa55word"));
    assert_eq!(c.stats().retries, 0, "a 401 is never retried");

    // No credentials at all.
    let c = client(options(&[&reg.host]));
    let error = c.head(&r).await.unwrap_err();
    assert!(
        matches!(refused_credentials(&error), CredentialSource::Anonymous),
        "{error:?}"
    );
    assert_names(&error, &r);
    assert!(
        error.to_string().contains("no credentials were found"),
        "{error}"
    );

    // A helper that fails.
    let broken =
        DockerConfig::new(&json!({ "credHelpers": { reg.host.clone(): "missing-helper" } }));
    let c = client(config_options(&broken, &[&reg.host]));
    let error = c.head(&r).await.unwrap_err();
    assert!(
        matches!(&error, RegistryError::Credentials { .. }),
        "{error:?}"
    );
    assert_names(&error, &r);
    assert!(
        error
            .to_string()
            .contains("docker-credential-missing-helper"),
        "{error}"
    );
}

#[tokio::test]
async fn bearer_tokens_from_a_token_service() {
    let (reg, pushed, r) = one_image(Flavour::DistributionToken, "private/app").await;
    let token = reg.token.as_ref().unwrap();
    let both = [reg.host.as_str(), &token.host()];

    // Basic credentials traded for a token at the realm.
    let config = DockerConfig::with_auth(&reg.host, USER, PASSWORD);
    let c = client(config_options(&config, &both));
    assert_eq!(c.resolve(&r).await.unwrap().digest.as_str(), pushed.digest);
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);
    let stats = c.stats();
    assert_eq!(stats.token, 1, "the token is reused: {stats:?}");
    assert_eq!(
        stats.requests(),
        4,
        "one 401, then manifest GET, config GET and HEAD: {stats:?}"
    );
    let asked = token.requests();
    assert!(
        asked
            .iter()
            .all(|t| t.with_credentials && t.scope == "repository:private/app:pull"),
        "{asked:?}"
    );

    // An identity token (refresh token) goes to the realm as an OAuth2 POST.
    let identity = DockerConfig::new(&json!({
        "auths": { reg.host.clone(): { "identitytoken": support::token::REFRESH_TOKEN } }
    }));
    let c = client(config_options(&identity, &both));
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);
    assert!(token.requests().iter().any(|t| t.method == "POST"));

    // Wrong password: the token service refuses, and says so.
    let wrong = DockerConfig::with_auth(&reg.host, USER, "wrong-Pa55word");
    let c = client(config_options(&wrong, &both));
    let error = c.head(&r).await.unwrap_err();
    refused_credentials(&error); // Unauthorized, whatever the credentials' source
    assert_names(&error, &r);
    assert!(error.to_string().contains("token service"), "{error}");

    // Anonymous: a token without access, then the registry's 401.
    let c = client(options(&both));
    let error = c.head(&r).await.unwrap_err();
    assert!(
        matches!(refused_credentials(&error), CredentialSource::Anonymous),
        "{error:?}"
    );

    // A plain-HTTP realm the user did not name: credentials are withheld, and the error says why.
    let before = token.requests().len();
    let c = client(config_options(&config, &[&reg.host]));
    let error = c.head(&r).await.unwrap_err();
    assert_names(&error, &r);
    assert!(error.to_string().contains("were not sent"), "{error}");
    assert!(
        token.requests()[before..]
            .iter()
            .all(|t| !t.with_credentials)
    );
}

// --- TLS ----------------------------------------------------------------------------------------

#[tokio::test]
async fn tls_needs_the_ca_or_an_explicit_skip() {
    let (reg, pushed, r) = one_image(Flavour::DistributionTls, "secure/app").await;
    let ca = reg.ca.as_ref().unwrap();

    let c = client(Options {
        ca_files: vec![ca.ca_cert.clone()],
        ..options(&[])
    });
    assert_eq!(c.resolve(&r).await.unwrap().digest.as_str(), pushed.digest);

    let c = client(options(&[]));
    let error = c.resolve(&r).await.unwrap_err();
    assert!(matches!(&error, RegistryError::Tls { .. }), "{error:?}");
    assert_names(&error, &r);
    let text = error.to_string();
    assert!(
        text.contains("--ca-file") && text.contains("--insecure-skip-tls-verify"),
        "{text}"
    );
    assert_eq!(c.stats().retries, 0, "TLS failures are not retried");

    // Skipping verification for this host only.
    let c = client(Options {
        insecure: vec![reg.host.clone()],
        ..options(&[])
    });
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), pushed.digest);
    let other = client(Options {
        insecure: vec!["127.0.0.2".to_owned()],
        ..options(&[])
    });
    assert!(matches!(
        other.head(&r).await,
        Err(RegistryError::Tls { .. })
    ));

    // Plain HTTP to a TLS port.
    let c = client(options(&[&reg.host]));
    let error = c.head(&r).await.unwrap_err();
    assert_names(&error, &r);
    assert!(matches!(&error, RegistryError::Tls { .. }), "{error:?}");

    // A CA file that is not one.
    let bad = reg.dir().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let error = Client::new(Options {
        ca_files: vec![bad.clone()],
        ..options(&[])
    })
    .err()
    .expect("a bad CA file fails the client");
    assert!(
        error.to_string().contains(&bad.display().to_string()),
        "{error}"
    );
}

// --- retries through the fault proxy ------------------------------------------------------------

struct Proxied {
    reg: Registry,
    proxy: FaultProxy,
    pushed: Pushed,
    index: Pushed,
}

async fn proxied() -> Proxied {
    let reg = Registry::start(Flavour::Distribution);
    let seeder = reg.seeder();
    let pushed = seeder.image("flaky/app", Some("1"), AMD64, false).await;
    let (index, _, _) = seeder.oci_index("flaky/multi", "1").await;
    let proxy = FaultProxy::start(reg.addr);
    Proxied {
        reg,
        proxy,
        pushed,
        index,
    }
}

impl Proxied {
    /// A client with plain HTTP to the proxy, quick retries.
    fn client(&self) -> Client {
        client(options(&[&self.proxy.host]))
    }

    /// `REST` (`REPO:TAG`, …) through the proxy.
    fn reference(&self, rest: &str) -> Reference {
        reference(&self.proxy.host, rest)
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let p = proxied().await;
    let c = p.client();
    let r = p.reference("flaky/app:1");

    p.proxy
        .add(Rule::manifests(Fault::Status(503), 2).method("GET"));
    assert_eq!(
        c.resolve(&r).await.unwrap().digest.as_str(),
        p.pushed.digest
    );
    let stats = c.stats();
    // Three manifest GETs (two 503s, then the manifest) and one for the config blob.
    assert_eq!((stats.get, stats.retries), (4, 2), "{stats:?}");
    assert_eq!(p.proxy.count("GET"), 4);

    p.proxy
        .add(Rule::manifests(Fault::Status(502), 1).method("HEAD"));
    assert_eq!(c.head(&r).await.unwrap().digest.as_str(), p.pushed.digest);
    assert_eq!(c.stats().head, 2);
    drop(p.reg);
}

#[tokio::test]
async fn head_without_a_digest_header_falls_back_to_get() {
    let p = proxied().await;
    let c = p.client();
    let r = p.reference("flaky/app:1");
    p.proxy.add(
        Rule::manifests(Fault::DropHeader("docker-content-digest"), usize::MAX).method("HEAD"),
    );
    let head = c.head(&r).await.unwrap();
    assert_eq!(head.digest.as_str(), p.pushed.digest);
    assert_eq!(head.size, p.pushed.bytes.len() as u64);
    let stats = c.stats();
    assert_eq!((stats.head, stats.get), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let p = proxied().await;
    let c = p.client();
    let r = p.reference("flaky/multi:1");
    p.proxy.add(Rule::manifests(
        Fault::TooManyRequests {
            retry_after: "1".to_owned(),
        },
        1,
    ));
    let start = Instant::now();
    let resolved = c.resolve(&r).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(resolved.digest.as_str(), p.index.digest);
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
    assert_eq!(c.stats().retries, 1);
}

#[tokio::test]
async fn broken_and_slow_bodies_are_retried() {
    let p = proxied().await;
    let r = p.reference("flaky/multi:1");

    let c = p.client();
    p.proxy
        .add(Rule::manifests(Fault::ResetMidBody, 1).method("GET"));
    let resolved = c.resolve(&r).await.unwrap();
    assert_eq!(resolved.digest.as_str(), p.index.digest);
    assert_eq!(resolved.platforms.len(), 3);
    assert_eq!(c.stats().retries, 1);

    // A response slower than the per-attempt timeout counts as a transient failure.
    let c = client(Options {
        timeout: Duration::from_millis(700),
        ..options(&[&p.proxy.host])
    });
    p.proxy
        .add(Rule::manifests(Fault::Slow(Duration::from_millis(1500)), 1).method("GET"));
    assert_eq!(c.resolve(&r).await.unwrap().digest.as_str(), p.index.digest);
    assert_eq!(c.stats().retries, 1);
}

#[tokio::test]
async fn retries_run_out_with_a_clear_error() {
    let p = proxied().await;
    let c = p.client();
    let r = p.reference("flaky/app:1");
    p.proxy.add(Rule::manifests(Fault::Status(503), usize::MAX));
    let error = c.resolve(&r).await.unwrap_err();
    match &error {
        RegistryError::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 4);
            assert!(
                matches!(**last, RegistryError::Status { status: 503, .. }),
                "{last:?}"
            );
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_names(&error, &r);
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(p.proxy.count("GET"), 4);

    // 4xx other than 429/408 are final at once.
    p.proxy.clear();
    p.proxy
        .add(Rule::manifests(Fault::Status(400), 1).method("GET"));
    let before = c.stats();
    let error = c.manifest(&r).await.unwrap_err();
    assert!(
        matches!(&error, RegistryError::Status { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(c.stats().requests(), before.requests() + 1);
}

// --- bad input ----------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_hosts_missing_images_and_closed_ports() {
    let (reg, _, _) = one_image(Flavour::Distribution, "there/app").await;
    let c = client(options(&[&reg.host, "purser-test.invalid:5000"]));

    let r = reference("purser-test.invalid:5000", "team/app:1");
    let error = c.head(&r).await.unwrap_err();
    assert!(
        matches!(&error, RegistryError::UnknownHost { .. }),
        "{error:?}"
    );
    assert_names(&error, &r);

    for missing in ["there/app:2", "nowhere/app:1"] {
        let r = reference(&reg.host, missing);
        for error in [
            c.head(&r).await.unwrap_err(),
            c.resolve(&r).await.unwrap_err(),
        ] {
            assert!(error.is_not_found(), "{error:?}");
            assert_names(&error, &r);
        }
    }

    // Nothing listens: refused connections are retried, then reported.
    let closed = format!("127.0.0.1:{}", support::free_port());
    let c = client(options(&[&closed]));
    let r = reference(&closed, "team/app:1");
    let error = c.head(&r).await.unwrap_err();
    assert!(
        matches!(&error, RegistryError::RetriesExhausted { .. }),
        "{error:?}"
    );
    assert_names(&error, &r);
}

#[tokio::test]
async fn digests_that_do_not_match_are_refused() {
    let p = proxied().await;
    let c = p.client();

    // The registry's bytes do not hash to its own Docker-Content-Digest.
    let r = p.reference("flaky/app:1");
    p.proxy
        .add(Rule::manifests(Fault::CorruptBody, 1).method("GET"));
    let error = c.manifest(&r).await.unwrap_err();
    match &error {
        RegistryError::DigestMismatch { expected, .. } => assert_eq!(*expected, p.pushed.digest),
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert_names(&error, &r);

    // A tag pinned to another digest than the one it has now.
    let other = seed::sha256(b"something else");
    let r = p.reference(&format!("flaky/app:1@{other}"));
    for error in [
        c.head(&r).await.unwrap_err(),
        c.manifest(&r).await.unwrap_err(),
        c.resolve(&r).await.unwrap_err(),
    ] {
        match &error {
            RegistryError::DigestMismatch {
                expected, actual, ..
            } => {
                assert_eq!(*expected, other);
                assert_eq!(*actual, p.pushed.digest);
            }
            e => panic!("expected DigestMismatch, got {e:?}"),
        }
        assert_names(&error, &r);
    }

    // Pinned to the right digest: fine.
    let r = p.reference(&format!("flaky/app:1@{}", p.pushed.digest));
    assert_eq!(
        c.resolve(&r).await.unwrap().digest.as_str(),
        p.pushed.digest
    );
}
