#!/usr/bin/env python3
"""A counting TCP relay for the copy benchmark (scripts/bench-copy.sh). Standard library only.

    count-relay.py --upstream HOST:PORT --port-file FILE --stats FILE [--rate-mib R]

Listens on 127.0.0.1 (a free port, written to --port-file once it listens), forwards every
connection to --upstream unchanged, and on SIGTERM or SIGINT writes what it counted to --stats
as JSON and exits:

  bytes_up        bytes client -> server (requests: request lines, headers, bodies)
  bytes_down      bytes server -> client
  requests        HTTP requests, counted at message boundaries (see below)
  methods         requests per method
  connections     connections accepted
  tls_probes      connections that began with a TLS handshake (a client trying HTTPS first, as
                  crane with --insecure and skopeo with --tls-verify=false do): their bytes
                  count, they hold no HTTP request (the registry answers 400 and the client
                  retries in plain HTTP on a new connection)
  approximated    other connections where the parser gave up and requests were approximated
  manifest_gets   GET requests for /v2/…/manifests/… (a source's pull limits count these)

SIGUSR1 writes the same stats so far without stopping (a benchmark's phases read it between
them). --rate-mib R caps each connection at R MiB/s in each direction (a registry or link with
a per-connection bandwidth limit: more connections, more bandwidth).

Requests are counted exactly for HTTP/1.x: the client -> server stream of each connection is
parsed as a sequence of messages (request line and headers up to the blank line, then a body
framed by Content-Length or by chunked transfer encoding, trailers included), and each
message's request line counts once. Body bytes are skipped by length, not copied or scanned.
If a connection's stream stops parsing (a framing this parser does not know, or bytes that
are not HTTP/1.x), that connection falls back to an approximation: a read that starts with
`(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/` counts as one request. Its bytes are always counted.
Counting happens before forwarding, so a client that has its response has been counted.
"""
import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time

BUF = 256 * 1024
METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"}
APPROX = re.compile(rb"^(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/")
MAX_HEAD = 64 * 1024


class RequestCounter:
    """Parses one connection's client -> server stream into HTTP/1.x messages."""

    HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, TRAILER = range(5)

    def __init__(self):
        self.state = self.HEAD
        self.buf = b""  # pending bytes of a head, a chunk-size line or a trailer line
        self.remaining = 0  # body or chunk bytes (chunk: data plus its CRLF) still to skip
        self.requests = 0
        self.methods = {}
        self.approximate = False
        self.tls = False
        self.bytes_up = 0
        self.bytes_down = 0
        self.manifest_gets = 0

    def feed(self, data):
        if self.bytes_up == 0 and data[:1] == b"\x16":  # TLS record: handshake
            self.tls = True
        self.bytes_up += len(data)
        if self.tls:
            return
        if self.approximate:
            m = APPROX.match(data)
            if m:
                self._count(m.group(1))
            return
        try:
            self._parse(memoryview(data))
        except ValueError:
            self.approximate = True
            self.buf = b""
            m = APPROX.match(data)
            if m:
                self._count(m.group(1))

    def _count(self, method):
        self.requests += 1
        name = method.decode("ascii", "replace")
        self.methods[name] = self.methods.get(name, 0) + 1

    def _parse(self, data):
        pos, end = 0, len(data)
        while pos < end:
            if self.state in (self.BODY, self.CHUNK_DATA):
                take = min(self.remaining, end - pos)
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    self.state = self.HEAD if self.state == self.BODY else self.CHUNK_SIZE
                continue
            # Line-oriented states: gather bytes until the terminator.
            term = b"\r\n\r\n" if self.state == self.HEAD else b"\r\n"
            if self.state == self.HEAD and not self.buf:
                # Tolerate stray CRLFs between messages (RFC 9112 2.2).
                while pos + 1 < end and data[pos] == 13 and data[pos + 1] == 10:
                    pos += 2
                if pos >= end:
                    break
            chunk = bytes(data[pos : pos + MAX_HEAD])  # not a whole body-sized read
            start = max(0, len(self.buf) - len(term) + 1)
            self.buf += chunk
            i = self.buf.find(term, start)
            if i < 0:
                if len(self.buf) >= MAX_HEAD:  # also: the slice above left bytes unread
                    raise ValueError("head too long")
                if self.state == self.HEAD and len(self.buf) >= 8 and self.buf.split(b" ", 1)[0] not in METHODS:
                    raise ValueError("not an HTTP request")
                return
            line_end = i + len(term)
            used = line_end - (len(self.buf) - len(chunk))
            text, self.buf = self.buf[:i], b""
            pos += used
            if self.state == self.HEAD:
                self._head(text)
            elif self.state == self.CHUNK_SIZE:
                size = int(text.split(b";", 1)[0].strip() or b"x", 16)
                if size == 0:
                    self.state = self.TRAILER
                else:
                    self.state, self.remaining = self.CHUNK_DATA, size + 2
            else:  # TRAILER: header lines until an empty one
                if text == b"":
                    self.state = self.HEAD

    def _head(self, text):
        lines = text.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[0] not in METHODS or not parts[2].startswith(b"HTTP/1."):
            raise ValueError("not an HTTP/1 request line")
        self._count(parts[0])
        if parts[0] == b"GET" and b"/manifests/" in parts[1]:
            self.manifest_gets += 1
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            self.state = self.CHUNK_SIZE
        elif length > 0:
            self.state, self.remaining = self.BODY, length
        else:
            self.state = self.HEAD


RATE = 0  # bytes per second per connection and direction; 0: no cap


class Pace:
    """Holds one direction of one connection to RATE bytes per second."""

    def __init__(self):
        self.start = time.monotonic()
        self.sent = 0

    def wait(self, n):
        if RATE:
            self.sent += n
            ahead = self.sent / RATE - (time.monotonic() - self.start)
            if ahead > 0:
                time.sleep(ahead)


def pump_up(client, upstream, counter):
    pace = Pace()
    try:
        while True:
            data = client.recv(BUF)
            if not data:
                break
            counter.feed(data)
            pace.wait(len(data))
            upstream.sendall(data)
    except OSError:
        pass
    finally:
        try:
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def pump_down(upstream, client, counter):
    pace = Pace()
    try:
        while True:
            data = upstream.recv(BUF)
            if not data:
                break
            counter.bytes_down += len(data)
            pace.wait(len(data))
            client.sendall(data)
    except OSError:
        pass
    finally:
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, upstream_addr, counter):
    try:
        upstream = socket.create_connection(upstream_addr)
    except OSError:
        client.close()
        return
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    down = threading.Thread(target=pump_down, args=(upstream, client, counter), daemon=True)
    down.start()
    pump_up(client, upstream, counter)
    down.join()
    client.close()
    upstream.close()


def dump(counters, path):
    methods = {}
    for c in list(counters):
        for m, n in c.methods.items():
            methods[m] = methods.get(m, 0) + n
    stats = {
        "bytes_up": sum(c.bytes_up for c in counters),
        "bytes_down": sum(c.bytes_down for c in counters),
        "requests": sum(c.requests for c in counters),
        "methods": methods,
        "manifest_gets": sum(c.manifest_gets for c in counters),
        "connections": len(counters),
        "tls_probes": sum(1 for c in counters if c.tls),
        "approximated": sum(1 for c in counters if c.approximate),
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f)
        f.write("\n")
    os.replace(tmp, path)


class Stop(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--rate-mib", type=float, default=0, help="MiB/s per connection and direction")
    args = ap.parse_args()
    global RATE
    RATE = int(args.rate_mib * 1024 * 1024)
    host, _, port = args.upstream.rpartition(":")
    upstream_addr = (host, int(port))

    counters = []

    def stop(*_):
        raise Stop()

    signal.signal(signal.SIGUSR1, lambda *_: dump(counters, args.stats))
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    # A signal may land on any thread, and Python runs its handler in the main thread only
    # when that thread next runs: never block in accept() for long.
    listener.settimeout(0.2)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{listener.getsockname()[1]}\n")
    os.replace(tmp, args.port_file)

    try:
        while True:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            client.settimeout(None)
            counter = RequestCounter()
            counters.append(counter)
            threading.Thread(target=serve, args=(client, upstream_addr, counter), daemon=True).start()
    except Stop:
        pass
    dump(counters, args.stats)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
