//! A Docker token service for distribution's `auth: token` mode: `GET /token?scope&service`
//! with optional basic auth, and the OAuth2 `POST /token` refresh-token grant. Tokens are
//! ES256 JWTs with the signing certificate in `x5c`, which distribution checks against its
//! `rootcertbundle`. Anonymous callers get a token with no access; wrong credentials get 401.
//! Callers with credentials get every action they ask for, on every repository of every
//! `scope` (several in one request, as for a cross-repository mount); each request is logged
//! ([`TokenServer::requests`]).

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

use super::http::{read_request, write_response};
use super::{PASSWORD, TestCa, USER};

pub const ISSUER: &str = "purser-test-issuer";
/// The identity token (refresh token) the service accepts.
pub const REFRESH_TOKEN: &str = "purser-refresh-token-123";

#[derive(Clone)]
struct Minter {
    key: Arc<EcdsaKeyPair>,
    cert: String,
    service: String,
}

impl Minter {
    fn mint(&self, subject: &str, repository: Option<&str>, actions: &[&str]) -> String {
        let access: Vec<(&str, &[&str])> = repository.map(|r| (r, actions)).into_iter().collect();
        self.mint_access(subject, &access)
    }

    /// A token granting each (repository, actions) pair (pairs without actions left out).
    fn mint_access(&self, subject: &str, grants: &[(&str, &[&str])]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = json!({ "typ": "JWT", "alg": "ES256", "x5c": [self.cert] });
        let access: Vec<_> = grants
            .iter()
            .filter(|(_, actions)| !actions.is_empty())
            .map(
                |(name, actions)| json!({ "type": "repository", "name": name, "actions": actions }),
            )
            .collect();
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": self.service,
            "exp": now + 300, "nbf": now - 10, "iat": now - 10,
            "jti": format!("{now}-{}", super::seed::sha256(&super::seed::random_bytes(8))),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// What the token service was asked.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub method: String,
    /// An Authorization header or a refresh token came with it.
    pub with_credentials: bool,
    /// The first `scope` parameter.
    pub scope: String,
    /// Every scope asked for: each `scope` parameter, split at spaces (a client may send
    /// several parameters, e.g. `repository:TO:pull,push` and `repository:FROM:pull` for a
    /// cross-repository mount, or several scopes space-separated in one).
    pub scopes: Vec<String>,
}

pub struct TokenServer {
    pub addr: SocketAddr,
    pub service: String,
    /// The signing certificate (distribution's rootcertbundle).
    pub cert: PathBuf,
    minter: Minter,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    pub fn start(dir: &Path, service: &str) -> TokenServer {
        let (cert, key) = TestCa::signing_pair(dir);
        let der = CertificateDer::from_pem_file(&cert).unwrap();
        let PrivateKeyDer::Pkcs8(pkcs8) = PrivateKeyDer::from_pem_file(&key).unwrap() else {
            panic!("openssl wrote no PKCS#8 key");
        };
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.secret_pkcs8_der(),
            &SystemRandom::new(),
        )
        .expect("EC key");
        let minter = Minter {
            key: Arc::new(key),
            cert: STANDARD.encode(der.as_ref()),
            service: service.to_owned(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (minter, requests, stop) = (minter.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &minter, &requests);
                    }
                }
            })
        };
        TokenServer {
            addr,
            service: service.to_owned(),
            cert,
            minter,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// `127.0.0.1:PORT` of the token service.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Push+pull tokens per repository, for the seeder.
    pub fn push_token(&self) -> Arc<dyn Fn(&str) -> String + Send + Sync> {
        let minter = self.minter.clone();
        Arc::new(move |repo: &str| minter.mint(USER, Some(repo), &["pull", "push"]))
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn serve(stream: TcpStream, minter: &Minter, requests: &Mutex<Vec<TokenRequest>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let mut stream = stream;
    let query = request.target.split_once('?').map_or("", |(_, q)| q);
    let mut params = form(query);
    if request.method == "POST" {
        params.extend(form(&String::from_utf8_lossy(&request.body)));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let scope = get("scope");
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
        .collect();
    let basic = request.head.header("authorization").map(str::to_owned);
    let refresh = get("refresh_token");
    requests.lock().unwrap().push(TokenRequest {
        method: request.method.clone(),
        with_credentials: basic.is_some() || !refresh.is_empty(),
        scope: scope.clone(),
        scopes: scopes.clone(),
    });
    let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
    let authorised = match (&basic, request.method.as_str()) {
        (_, "POST") => refresh == REFRESH_TOKEN,
        (Some(b), _) => *b == expected,
        (None, _) => true, // anonymous: a token without access
    };
    if !authorised {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}"#;
        let _ = write_response(
            &mut stream,
            401,
            &[("Content-Type", "application/json".to_owned())],
            body,
        );
        return;
    }
    // Each scope `repository:NAME:ACTIONS`: credentials get every action asked for, on every
    // repository named; anonymous callers get none.
    let credentialed = basic.is_some() || request.method == "POST";
    let grants: Vec<(&str, Vec<&str>)> = scopes
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            let actions: Vec<&str> = if credentialed {
                actions.split(',').filter(|a| !a.is_empty()).collect()
            } else {
                Vec::new()
            };
            (kind == "repository").then_some((name, actions))
        })
        .collect();
    let grants: Vec<(&str, &[&str])> = grants.iter().map(|(n, a)| (*n, a.as_slice())).collect();
    let token = minter.mint_access(USER, &grants);
    let body = json!({ "token": token, "access_token": token, "expires_in": 300 }).to_string();
    let _ = write_response(
        &mut stream,
        200,
        &[("Content-Type", "application/json".to_owned())],
        body.as_bytes(),
    );
}
