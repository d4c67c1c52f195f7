//! Just enough HTTP/1.x for the test proxy and token server: read one request or response
//! head, and its body (Content-Length, chunked, or up to EOF) whole or streamed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

pub struct Request {
    pub method: String,
    pub target: String,
    /// The request line and headers.
    pub head: Head,
    pub body: Vec<u8>,
}

/// A request line or status line and the header lines after it.
pub struct Head {
    /// `GET /v2/ HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start: String,
    /// Header lines as (name lower-cased, value).
    pub headers: Vec<(String, String)>,
    /// Header lines as they came (name case kept), for passing a head on.
    pub raw: Vec<String>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Request method and target.
    pub fn request_line(&self) -> Option<(String, String)> {
        let mut parts = self.start.split_whitespace();
        Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
    }

    /// Response status.
    pub fn status(&self) -> Option<u16> {
        self.start.split_whitespace().nth(1)?.parse().ok()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// How a message's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Up to the end of the connection (responses only).
    UntilClose,
}

impl Framing {
    /// A request's body framing (no Content-Length and not chunked: no body).
    pub fn of_request(headers: &[(String, String)]) -> Framing {
        match Framing::declared(headers) {
            Some(f) => f,
            None => Framing::None,
        }
    }

    /// A response's body framing, for a request with `method`.
    pub fn of_response(method: &str, status: u16, headers: &[(String, String)]) -> Framing {
        if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
            return Framing::None;
        }
        Framing::declared(headers).unwrap_or(Framing::UntilClose)
    }

    fn declared(headers: &[(String, String)]) -> Option<Framing> {
        if header(headers, "transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            return Some(Framing::Chunked);
        }
        header(headers, "content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|n| {
                if n == 0 {
                    Framing::None
                } else {
                    Framing::Length(n)
                }
            })
    }
}

/// Reads one head; None when the peer closed first or it is not HTTP.
pub fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut start = String::new();
    if reader.read_line(&mut start).ok()? == 0 {
        return None;
    }
    let start = start.trim_end().to_owned();
    if start.is_empty() {
        return None;
    }
    let mut headers = Vec::new();
    let mut raw = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(Head {
                start,
                headers,
                raw,
            });
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        raw.push(line.to_owned());
    }
}

/// Copies a body framed as `framing` from `reader` to `out`, returning the payload length.
/// `raw` keeps chunked framing as it came (to pass it on); otherwise only the payload is
/// written. Streams: never more than 64 KiB in memory.
pub fn copy_body(
    reader: &mut impl BufRead,
    out: &mut impl Write,
    framing: Framing,
    raw: bool,
) -> io::Result<u64> {
    match framing {
        Framing::None => Ok(0),
        Framing::Length(n) => {
            let copied = io::copy(&mut Read::take(&mut *reader, n), out)?;
            if copied < n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("body ended after {copied} of {n} bytes"),
                ));
            }
            Ok(copied)
        }
        Framing::UntilClose => io::copy(reader, out),
        Framing::Chunked => {
            let mut total = 0;
            loop {
                let mut size_line = String::new();
                if reader.read_line(&mut size_line)? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunked body ended early",
                    ));
                }
                let size = u64::from_str_radix(
                    size_line.trim().split(';').next().unwrap_or("").trim(),
                    16,
                )
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad chunk size line {size_line:?}"),
                    )
                })?;
                if raw {
                    out.write_all(size_line.as_bytes())?;
                }
                if size == 0 {
                    // Trailers, up to an empty line.
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line)? == 0 {
                            break;
                        }
                        if raw {
                            out.write_all(line.as_bytes())?;
                        }
                        if line.trim_end().is_empty() {
                            break;
                        }
                    }
                    return Ok(total);
                }
                let copied = io::copy(&mut Read::take(&mut *reader, size), out)?;
                if copied < size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunk ended early",
                    ));
                }
                total += size;
                let mut crlf = String::new();
                reader.read_line(&mut crlf)?;
                if raw {
                    out.write_all(crlf.as_bytes())?;
                }
            }
        }
    }
}

/// Reads one request with its whole body (Content-Length or chunked); None when the peer
/// closed first.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let head = read_head(reader)?;
    let (method, target) = head.request_line()?;
    let framing = Framing::of_request(&head.headers);
    let mut body = Vec::new();
    copy_body(reader, &mut body, framing, false).ok()?;
    Some(Request {
        method,
        target,
        head,
        body,
    })
}

/// Writes a whole response with Content-Length and `Connection: close`.
pub fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
