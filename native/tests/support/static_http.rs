//! A tiny static HTTP/1.1 file server on loopback, in a thread of the test process: the APT
//! and apk repositories of the patch tests ([`super::debrepo`], [`super::apkrepo`]) are served
//! by it. GET and HEAD only; `Content-Length` on every answer; one request per connection
//! (`Connection: close`); 404 for what is not there; 403 for a path that climbs out of the
//! directory (`..`, or a symbolic link leading outside). Every request is recorded
//! ([`StaticServer::requests`]). Stopped on Drop.
//!
//! [`get`] and [`head`] are the matching minimal client (plain `TcpStream`), for tests that
//! read what the server gives without an HTTP library.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::ports::free_port;

/// A request the server answered: method, raw path and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A static file server over one directory; stopped on Drop.
pub struct StaticServer {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    pub addr: SocketAddr,
    root: PathBuf,
    stop: Arc<AtomicBool>,
    served: Arc<Mutex<Vec<Served>>>,
    thread: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Serves `dir` (its files as they are at each request) at `http://127.0.0.1:PORT/`.
    pub fn start(dir: &Path) -> StaticServer {
        let root = dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("static server root {}: {e}", dir.display()));
        let listener = (0..20)
            .find_map(|_| TcpListener::bind(("127.0.0.1", free_port())).ok())
            .expect("bind a loopback port for the static server");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (root, stop, served) = (root.clone(), stop.clone(), served.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (root, served) = (root.clone(), served.clone());
                    std::thread::spawn(move || {
                        let _ = handle(stream, &root, &served);
                    });
                }
            })
        };
        StaticServer {
            url: format!("http://{addr}"),
            addr,
            root,
            stop,
            served,
            thread: Some(thread),
        }
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }

    /// How many GETs of `path` (as sent, e.g. `/debian/pool/x.deb`) were answered 200.
    pub fn gets_of(&self, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|s| s.method == "GET" && s.path == path && s.status == 200)
            .count()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request on `stream`.
fn handle(stream: TcpStream, root: &Path, served: &Mutex<Vec<Served>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // a wake-up connection, or a client that gave up
    }
    // The header lines: read and ignored (no Range, no conditionals).
    let mut head_bytes = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        head_bytes += n;
        if n == 0 || line == "\r\n" || line == "\n" || head_bytes > 64 * 1024 {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let (status, body) = match method.as_str() {
        "GET" | "HEAD" => answer(root, &target),
        _ => (405, Vec::new()),
    };
    served.lock().unwrap().push(Served {
        method: method.clone(),
        path: target,
        status,
    });
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let content_type = if status == 200 {
        "application/octet-stream"
    } else {
        "text/plain"
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(&body)?;
    }
    out.flush()
}

/// Status and body for a GET of `target` under `root`.
fn answer(root: &Path, target: &str) -> (u16, Vec<u8>) {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = percent_decode(path) else {
        return (400, b"bad percent-encoding\n".to_vec());
    };
    if !path.starts_with('/') || path.contains('\0') || path.contains('\\') {
        return (400, b"bad path\n".to_vec());
    }
    let mut file = root.to_path_buf();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => return (403, b"path traversal refused\n".to_vec()),
            c => file.push(c),
        }
    }
    let Ok(real) = file.canonicalize() else {
        return (404, b"not found\n".to_vec());
    };
    if !real.starts_with(root) {
        return (403, b"path traversal refused\n".to_vec());
    }
    if !real.is_file() {
        return (404, b"not found\n".to_vec());
    }
    match std::fs::read(&real) {
        Ok(bytes) => (200, bytes),
        Err(_) => (404, b"not found\n".to_vec()),
    }
}

/// `%XX` decoded; None for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// --- the client -----------------------------------------------------------------------------------

/// An answer: status, headers (names lower-cased) and body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD` of `url` (`http://HOST:PORT/path`, sent as written: no normalisation, so `..`
/// reaches the server).
pub fn request(method: &str, url: &str) -> Answer {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {url}: no header end in the answer"));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {url}: bad status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// GET `url`.
pub fn get(url: &str) -> Answer {
    request("GET", url)
}

/// HEAD `url`.
pub fn head(url: &str) -> Answer {
    request("HEAD", url)
}

/// GET `url`, which must answer 200: its body.
pub fn get_ok(url: &str) -> Vec<u8> {
    let answer = get(url);
    assert_eq!(
        answer.status,
        200,
        "GET {url}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.body
}
