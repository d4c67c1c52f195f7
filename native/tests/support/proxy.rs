//! A fault-injecting HTTP proxy in front of a registry: each request is counted, matched
//! against the rules (first match with uses left wins), and either answered by the fault or
//! forwarded upstream (one connection per request, `Connection: close` to the client).

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::{Request, read_request, write_response};

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
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub method: Option<String>,
    pub path_contains: String,
    pub fault: Fault,
    /// How many matching requests it applies to (usize::MAX: all).
    pub times: usize,
}

impl Rule {
    /// `fault` for the next `times` manifest requests (any method).
    pub fn manifests(fault: Fault, times: usize) -> Rule {
        Rule {
            method: None,
            path_contains: "/manifests/".to_owned(),
            fault,
            times,
        }
    }

    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_owned());
        self
    }
}

/// One request the proxy saw, and what it did.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// `forwarded` or the fault applied.
    pub action: String,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
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

    /// Requests so far with this method.
    pub fn count(&self, method: &str) -> usize {
        self.seen().iter().filter(|s| s.method == method).count()
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

fn serve(stream: TcpStream, upstream: SocketAddr, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let mut stream = stream;
    let fault = {
        let mut rules = shared.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| {
                r.times > 0
                    && r.method.as_deref().is_none_or(|m| m == request.method)
                    && request.target.contains(&r.path_contains)
            })
            .map(|r| {
                r.times = r.times.saturating_sub(1);
                r.fault.clone()
            })
    };
    shared.seen.lock().unwrap().push(Seen {
        method: request.method.clone(),
        path: request.target.clone(),
        action: fault
            .as_ref()
            .map_or("forwarded".to_owned(), |f| format!("{f:?}")),
    });
    match fault {
        Some(Fault::Status(status)) => {
            let body =
                format!(r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected {status}"}}]}}"#);
            let _ = write_response(
                &mut stream,
                status,
                &[("Content-Type", "application/json".to_owned())],
                body.as_bytes(),
            );
        }
        Some(Fault::TooManyRequests { retry_after }) => {
            let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"injected 429"}]}"#;
            let _ = write_response(
                &mut stream,
                429,
                &[
                    ("Content-Type", "application/json".to_owned()),
                    ("Retry-After", retry_after),
                ],
                body,
            );
        }
        other => {
            let Some(mut response) = forward(&request, upstream) else {
                return;
            };
            match other {
                Some(Fault::Slow(delay)) => {
                    std::thread::sleep(delay);
                    let _ = stream.write_all(&response);
                }
                Some(Fault::ResetMidBody) => {
                    let cut = head_len(&response)
                        .map(|head| head + (response.len() - head) / 2)
                        .unwrap_or(response.len() / 2);
                    let _ = stream.write_all(&response[..cut]);
                    let _ = stream.flush();
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    drop(stream);
                    return;
                }
                Some(Fault::DropHeader(name)) => {
                    let _ = stream.write_all(&drop_header(&response, name));
                }
                Some(Fault::CorruptBody) => {
                    if let Some(head) = head_len(&response) {
                        corrupt(&mut response[head..]);
                    }
                    let _ = stream.write_all(&response);
                }
                _ => {
                    let _ = stream.write_all(&response);
                }
            }
            let _ = stream.flush();
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Sends `request` upstream as HTTP/1.0 (so the answer is unchunked and ends at EOF) and
/// returns the raw response.
fn forward(request: &Request, upstream: SocketAddr) -> Option<Vec<u8>> {
    let mut conn = TcpStream::connect(upstream).ok()?;
    let mut head = format!("{} {} HTTP/1.0\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        if name != "connection" && name != "keep-alive" {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).ok()?;
    conn.write_all(&request.body).ok()?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response).ok()?;
    Some(response)
}

/// The response without header `name` (matched case-insensitively).
fn drop_header(response: &[u8], name: &str) -> Vec<u8> {
    let Some(head) = head_len(response) else {
        return response.to_vec();
    };
    let text = String::from_utf8_lossy(&response[..head]);
    let prefix = format!("{name}:");
    let mut out: Vec<u8> = text
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with(&prefix))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(&response[head..]);
    out
}

fn head_len(response: &[u8]) -> Option<usize> {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
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
