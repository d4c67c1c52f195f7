//! A fault-injecting HTTP proxy in front of a registry: each request is counted, matched
//! against the rules (first match with uses left wins), and either answered by the fault or
//! forwarded upstream (one connection per request, `Connection: close` to the client).
//!
//! Bodies stream both ways, whatever their size: a request body (Content-Length or chunked)
//! is passed upstream as it arrives, chunked framing kept; a response is passed back as it
//! comes. Only faults that rewrite a body of unknown length (CorruptBody on a chunked answer)
//! read it whole. The [`Seen`] log has each request's body length and the status answered,
//! so tests can tell blob uploads, mounts and commits apart ([`uploads`], [`mounts`]).

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::{Framing, Head, copy_body, read_head, write_response};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status (an OCI error body), without asking upstream.
    Status(u16),
    /// 429 with this `Retry-After` value.
    TooManyRequests { retry_after: String },
    /// Forward, send the head and half the body, then reset the connection.
    ResetMidBody,
    /// Forward, then wait this long before answering.
    Slow(Duration),
    /// Forward, with one byte of the body changed (same length, headers untouched).
    CorruptBody,
    /// Forward, without this response header (lower case name).
    DropHeader(&'static str),
    /// One of these, picked by the rule's PRNG each time the rule applies.
    AnyOf(Vec<Fault>),
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub method: Option<String>,
    pub path_contains: String,
    pub fault: Fault,
    /// How many matching requests it applies to (usize::MAX: all).
    pub times: usize,
    /// The share of matching requests it applies to, drawn by its PRNG (1.0: every one).
    /// A request it lets pass goes on to the next rules (and is forwarded if none applies).
    pub fraction: f64,
    /// The rule's PRNG state (splitmix64), for `fraction` and `AnyOf`.
    pub rng: u64,
}

impl Rule {
    /// `fault` for the next `times` requests whose path contains `path_contains`.
    pub fn path(path_contains: &str, fault: Fault, times: usize) -> Rule {
        Rule {
            method: None,
            path_contains: path_contains.to_owned(),
            fault,
            times,
            fraction: 1.0,
            rng: 0,
        }
    }

    /// `fault` for the next `times` manifest requests (any method).
    pub fn manifests(fault: Fault, times: usize) -> Rule {
        Rule::path("/manifests/", fault, times)
    }

    /// `fault` for the next `times` blob requests (any method; uploads too).
    pub fn blobs(fault: Fault, times: usize) -> Rule {
        Rule::path("/blobs/", fault, times)
    }

    /// `fault` for every request, for the whole run.
    pub fn all(fault: Fault) -> Rule {
        Rule::path("", fault, usize::MAX)
    }

    /// For the whole run, on `fraction` of all requests (any method or path), one of: 503,
    /// 429 with `Retry-After: 0`, a connection reset mid-body, a 300 ms delay; drawn from a
    /// PRNG seeded with `seed`.
    pub fn random(fraction: f64, seed: u64) -> Rule {
        Rule::all(Fault::AnyOf(vec![
            Fault::Status(503),
            Fault::TooManyRequests {
                retry_after: "0".to_owned(),
            },
            Fault::ResetMidBody,
            Fault::Slow(Duration::from_millis(300)),
        ]))
        .fraction(fraction, seed)
    }

    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_owned());
        self
    }

    /// Applies to `fraction` of the matching requests, drawn from a PRNG seeded with `seed`.
    pub fn fraction(mut self, fraction: f64, seed: u64) -> Rule {
        self.fraction = fraction;
        self.rng = seed;
        self
    }

    fn draw(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The fault to apply to this matching request, if the draw says so (uses one `times`).
    fn apply(&mut self) -> Option<Fault> {
        if self.fraction < 1.0 {
            let unit = (self.draw() >> 11) as f64 / (1u64 << 53) as f64;
            if unit >= self.fraction {
                return None;
            }
        }
        self.times = self.times.saturating_sub(1);
        let choices = match &self.fault {
            Fault::AnyOf(faults) if !faults.is_empty() => faults.len() as u64,
            _ => return Some(self.fault.clone()),
        };
        let pick = (self.draw() % choices) as usize;
        match &self.fault {
            Fault::AnyOf(faults) => Some(faults[pick].clone()),
            fault => Some(fault.clone()),
        }
    }
}

/// One request the proxy saw, and what it did.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    /// `forwarded` or the fault applied.
    pub action: String,
    /// Request body bytes received from the client (so far, while it streams).
    pub body_len: u64,
    /// The request body came chunked (Transfer-Encoding), not with a Content-Length.
    pub chunked: bool,
    /// The status answered: the fault's or upstream's (known as soon as upstream answered,
    /// before a Slow fault's wait); None when there was no answer.
    pub status: Option<u16>,
}

impl Seen {
    /// A query parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.path.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }

    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// The repository of a `/v2/<repo>/{blobs,manifests,tags,referrers}/…` request.
    pub fn repository(&self) -> Option<&str> {
        let rest = self.path_only().strip_prefix("/v2/")?;
        ["/blobs/", "/manifests/", "/tags/", "/referrers/"]
            .iter()
            .filter_map(|marker| rest.find(marker))
            .min()
            .map(|at| &rest[..at])
    }

    pub fn is_blob_upload(&self) -> bool {
        self.path_only().contains("/blobs/uploads")
    }

    pub fn is_manifest(&self) -> bool {
        self.path_only().contains("/manifests/")
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One blob upload session as the proxy saw it: the requests on one upload location
/// (PATCHes and the closing PUT), or a monolithic `POST …/uploads/?digest=` with its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub repository: String,
    /// From the closing PUT (or monolithic POST); None when the session was never closed.
    pub digest: Option<String>,
    /// Body bytes sent in the session.
    pub bytes: u64,
    /// The closing request was answered 201 by the registry.
    pub committed: bool,
    pub requests: usize,
}

/// A cross-repository mount request (`POST …/blobs/uploads/?mount=D&from=R`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub repository: String,
    pub digest: String,
    pub from: Option<String>,
    /// 201: mounted; 202: the registry started an upload instead.
    pub status: Option<u16>,
}

/// The upload sessions in `seen`, in the order they started.
pub fn uploads(seen: &[Seen]) -> Vec<Upload> {
    let mut sessions: Vec<(String, Upload)> = Vec::new();
    for s in seen.iter().filter(|s| s.is_blob_upload()) {
        let Some(repository) = s.repository().map(str::to_owned) else {
            continue;
        };
        let path = s.path_only();
        let id = path
            .split("/blobs/uploads")
            .nth(1)
            .unwrap_or("")
            .trim_matches('/')
            .to_owned();
        let closing = s.method == "PUT" || (s.method == "POST" && s.query("digest").is_some());
        if s.method == "POST" {
            if s.query("mount").is_some() || s.query("digest").is_none() {
                continue; // a mount, or a session start without data
            }
            sessions.push((
                String::new(),
                Upload {
                    repository,
                    digest: s.query("digest"),
                    bytes: s.body_len,
                    committed: s.status == Some(201),
                    requests: 1,
                },
            ));
            continue;
        }
        if s.method != "PATCH" && s.method != "PUT" {
            continue;
        }
        let at = sessions
            .iter()
            .rposition(|(key, u)| !id.is_empty() && *key == id && !u.committed);
        let session = match at {
            Some(at) => &mut sessions[at].1,
            None => {
                sessions.push((
                    id.clone(),
                    Upload {
                        repository,
                        digest: None,
                        bytes: 0,
                        committed: false,
                        requests: 0,
                    },
                ));
                &mut sessions.last_mut().unwrap().1
            }
        };
        session.bytes += s.body_len;
        session.requests += 1;
        if closing {
            session.digest = s.query("digest");
            session.committed = s.status == Some(201);
        }
    }
    sessions.into_iter().map(|(_, u)| u).collect()
}

/// The mount requests in `seen`.
pub fn mounts(seen: &[Seen]) -> Vec<Mount> {
    seen.iter()
        .filter(|s| s.method == "POST" && s.is_blob_upload())
        .filter_map(|s| {
            Some(Mount {
                repository: s.repository()?.to_owned(),
                digest: s.query("mount")?,
                from: s.query("from"),
                status: s.status,
            })
        })
        .collect()
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

impl Shared {
    fn pick(&self, method: &str, target: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        rules.iter_mut().find_map(|r| {
            let matches = r.times > 0
                && r.method.as_deref().is_none_or(|m| m == method)
                && target.contains(&r.path_contains);
            if matches { r.apply() } else { None }
        })
    }

    fn record(&self, seen: Seen) -> usize {
        let mut all = self.seen.lock().unwrap();
        all.push(seen);
        all.len() - 1
    }

    fn update(&self, index: usize, body_len: Option<u64>, status: Option<u16>) {
        let mut all = self.seen.lock().unwrap();
        if let Some(body_len) = body_len {
            all[index].body_len = body_len;
        }
        if status.is_some() {
            all[index].status = status;
        }
    }
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    /// `127.0.0.1:PORT`: the registry part of references through the proxy.
    pub host: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = thread_shared.clone();
                std::thread::spawn(move || serve(stream, upstream, &shared));
            }
        });
        FaultProxy {
            addr,
            host: addr.to_string(),
            shared,
            thread: Some(thread),
        }
    }

    pub fn add(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// A mark in the log: `seen_since(mark)` gives what came after.
    pub fn mark(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    /// Requests since `mark`.
    pub fn seen_since(&self, mark: usize) -> Vec<Seen> {
        self.shared.seen.lock().unwrap()[mark..].to_vec()
    }

    /// Requests so far with this method.
    pub fn count(&self, method: &str) -> usize {
        self.seen().iter().filter(|s| s.method == method).count()
    }

    /// Blob upload sessions so far (see [`uploads`]).
    pub fn uploads(&self) -> Vec<Upload> {
        uploads(&self.seen())
    }

    /// Mount requests so far.
    pub fn mounts(&self) -> Vec<Mount> {
        mounts(&self.seen())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const BUFFER: usize = 64 * 1024;

fn serve(client: TcpStream, upstream: SocketAddr, shared: &Shared) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = BufReader::with_capacity(BUFFER, client.try_clone().expect("clone stream"));
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    let Some((method, target)) = head.request_line() else {
        return;
    };
    let framing = Framing::of_request(&head.headers);
    let fault = shared.pick(&method, &target);
    let index = shared.record(Seen {
        method: method.clone(),
        path: target.clone(),
        action: fault
            .as_ref()
            .map_or("forwarded".to_owned(), |f| format!("{f:?}")),
        body_len: 0,
        chunked: framing == Framing::Chunked,
        status: None,
    });
    let mut client = client;
    match fault {
        Some(Fault::Status(status)) => {
            let body_len = copy_body(&mut reader, &mut io::sink(), framing, false).ok();
            let code = match status {
                401 => "UNAUTHORIZED",
                403 => "DENIED",
                404 => "NAME_UNKNOWN",
                429 => "TOOMANYREQUESTS",
                _ => "UNAVAILABLE",
            };
            let body =
                format!(r#"{{"errors":[{{"code":"{code}","message":"injected {status}"}}]}}"#);
            shared.update(index, body_len, Some(status));
            let _ = write_response(
                &mut client,
                status,
                &[("Content-Type", "application/json".to_owned())],
                body.as_bytes(),
            );
        }
        Some(Fault::TooManyRequests { retry_after }) => {
            let body_len = copy_body(&mut reader, &mut io::sink(), framing, false).ok();
            shared.update(index, body_len, Some(429));
            let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"injected 429"}]}"#;
            let _ = write_response(
                &mut client,
                429,
                &[
                    ("Content-Type", "application/json".to_owned()),
                    ("Retry-After", retry_after),
                ],
                body,
            );
        }
        other => {
            let _ = forward(
                &mut reader,
                &mut client,
                &head,
                (&method, &target),
                framing,
                upstream,
                other,
                (shared, index),
            );
            let _ = client.flush();
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

/// Request headers not passed on: hop-by-hop ones (the proxy closes each connection) and
/// `Expect` (no interim 100 answers to deal with).
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "expect" | "upgrade"
    )
}

fn raw_name(line: &str) -> String {
    line.split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Sends the request upstream (HTTP/1.1, `Connection: close`, the body streamed as it
/// arrives) and the answer back, applying `fault`.
#[allow(clippy::too_many_arguments)]
fn forward(
    reader: &mut BufReader<TcpStream>,
    client: &mut TcpStream,
    head: &Head,
    (method, target): (&str, &str),
    framing: Framing,
    upstream: SocketAddr,
    fault: Option<Fault>,
    (shared, index): (&Shared, usize),
) -> io::Result<()> {
    let conn = TcpStream::connect(upstream)?;
    conn.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut up = BufWriter::with_capacity(BUFFER, conn.try_clone()?);
    let mut start = format!("{method} {target} HTTP/1.1\r\n");
    for line in &head.raw {
        if !hop_by_hop(&raw_name(line)) {
            start.push_str(line);
            start.push_str("\r\n");
        }
    }
    start.push_str("Connection: close\r\n\r\n");
    up.write_all(start.as_bytes())?;
    let sent = copy_body(reader, &mut up, framing, true);
    shared.update(index, sent.as_ref().ok().copied(), None);
    sent?;
    up.flush()?;
    drop(up);

    let mut from = BufReader::with_capacity(BUFFER, conn);
    let response = read_head(&mut from)
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no answer upstream"))?;
    let status = response.status().unwrap_or(0);
    shared.update(index, None, Some(status));
    let body = Framing::of_response(method, status, &response.headers);
    let head_out = |drop_names: &[&str], extra: &str| {
        let mut out = format!("{}\r\n", response.start);
        for line in &response.raw {
            let name = raw_name(line);
            if !hop_by_hop(&name) && !drop_names.contains(&name.as_str()) {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str(extra);
        out.push_str("Connection: close\r\n\r\n");
        out.into_bytes()
    };
    let mut to = BufWriter::with_capacity(BUFFER, client.try_clone()?);
    match fault {
        Some(Fault::Slow(delay)) => {
            std::thread::sleep(delay);
            to.write_all(&head_out(&[], ""))?;
            io::copy(&mut from, &mut to)?;
        }
        Some(Fault::DropHeader(name)) => {
            to.write_all(&head_out(&[name], ""))?;
            io::copy(&mut from, &mut to)?;
        }
        Some(Fault::ResetMidBody) => {
            to.write_all(&head_out(&[], ""))?;
            match body {
                Framing::Length(n) => {
                    io::copy(&mut Read::take(&mut from, n / 2), &mut to)?;
                }
                Framing::None => {}
                Framing::Chunked | Framing::UntilClose => {
                    let mut rest = Vec::new();
                    from.read_to_end(&mut rest)?;
                    to.write_all(&rest[..rest.len() / 2])?;
                }
            }
            to.flush()?;
            drop(to);
            let _ = socket2::SockRef::from(&*client).set_linger(Some(Duration::ZERO));
            return Ok(());
        }
        Some(Fault::CorruptBody) => match body {
            Framing::Length(n) if n <= 4 << 20 => {
                let mut payload = vec![0; n as usize];
                from.read_exact(&mut payload)?;
                corrupt(&mut payload);
                to.write_all(&head_out(&[], ""))?;
                to.write_all(&payload)?;
            }
            Framing::Length(n) => {
                // Large: stream, changing the byte in the middle.
                to.write_all(&head_out(&[], ""))?;
                io::copy(&mut Read::take(&mut from, n / 2), &mut to)?;
                let mut byte = [0u8; 1];
                from.read_exact(&mut byte)?;
                byte[0] ^= 0x55;
                to.write_all(&byte)?;
                io::copy(&mut from, &mut to)?;
            }
            Framing::Chunked | Framing::UntilClose => {
                let mut payload = Vec::new();
                copy_body(&mut from, &mut payload, body, false)?;
                corrupt(&mut payload);
                let length = format!("Content-Length: {}\r\n", payload.len());
                to.write_all(&head_out(&["transfer-encoding", "content-length"], &length))?;
                to.write_all(&payload)?;
            }
            Framing::None => {
                to.write_all(&head_out(&[], ""))?;
            }
        },
        _ => {
            to.write_all(&head_out(&[], ""))?;
            io::copy(&mut from, &mut to)?;
        }
    }
    to.flush()
}

/// Changes one hex digit inside the body (so JSON stays JSON), or any byte.
fn corrupt(body: &mut [u8]) {
    if body.is_empty() {
        return;
    }
    let at = body
        .windows(7)
        .position(|w| w == b"sha256:")
        .map(|p| p + 7)
        .filter(|&p| p < body.len())
        .unwrap_or(body.len() / 2);
    body[at] = if body[at] == b'0' { b'1' } else { b'0' };
}
