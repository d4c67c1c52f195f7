//! Loopback ports for test servers that bind a port they are told ([`free_port`]); shared by
//! the native tests and, through `#[path]`, by the core tests (`tests/support/kube.rs`).
//!
//! A port picked by binding `127.0.0.1:0` and releasing it comes from the kernel's ephemeral
//! range, the range the kernel also hands to every other `bind(:0)` in the run (the fault
//! proxies, the token servers) and to the source side of every outgoing connection. Between
//! the release and the server's own bind, any of those can take it: the server then fails
//! with "address in use" while `wait_listening` talks to whoever holds the port, and the test
//! fails far from the cause (CI saw "start blob upload: error sending request"). So ports come
//! from just below the ephemeral range instead, where the kernel never assigns one, each
//! handed out once per test process, starting at an offset of the process id so that test
//! processes running side by side rarely meet; a port already bound there is skipped.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// How many ports below the ephemeral range are used.
const SPAN: u32 = 10_000;

/// The ports tests may use: `SPAN` ports just below the ephemeral range (Linux: from
/// `/proc/sys/net/ipv4/ip_local_port_range`; 32768–60999 where it cannot be read), or above
/// it where it starts too low to leave room.
fn range() -> (u32, u32) {
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32768, 60999));
    if low >= SPAN + 1024 {
        (low - SPAN, low)
    } else {
        (high + 1, (high + 1 + SPAN).min(65536))
    }
}

/// The next candidate, 0-based, within the range; starts at an offset of the process id.
static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

/// A loopback port that no other server of this test process has been given and that nothing
/// holds right now; the caller's server binds it next.
pub fn free_port() -> u16 {
    let (start, end) = range();
    let span = end - start;
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(2654435761) % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let port = start + NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = u16::try_from(port).expect("ports are below 65536");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {start}..{end}");
}
