//! Real registries for the native tests, on loopback ports from [`ports`], started by the
//! tests and stopped when dropped:
//!
//! - [`Registry`]: Debian's `docker-registry` (distribution 2.8) plain, with htpasswd basic
//!   auth, with a self-signed TLS certificate, or with token (bearer) auth against a
//!   [`TokenServer`]; and `oci-registry` (OCI 1.1, referrers API) from `.purser/bin`.
//! - [`seed`]: pushes test content with plain registry API calls and remembers the bytes.
//! - [`FaultProxy`]: an HTTP proxy in front of a registry that injects faults and counts.
//! - [`DockerConfig`]: a temporary docker config.json and credential helper.
//! - [`cosign`]: the real cosign v3 and v2, run offline, for the trust tests.
//! - [`FileServer`]: a static file server (chart repositories, plugin tarball URLs).
//! - [`packages`]: the release packages of this build, made by `scripts/package.sh pack`.
//! - [`rootfs`]: image layers carrying a real Alpine or Debian package database (scans), and
//!   [`rootfs::extract_layers`], which applies layers onto a directory as a runtime does.
//! - [`debrepo`]: real Debian packages (`.purser/debs`, scripts/setup-debs.sh), a signed APT
//!   repository of them, a Debian root with them installed as dpkg leaves it (patch tests).
//! - [`apkrepo`]: synthetic Alpine packages as abuild writes them, a signed apk repository, an
//!   Alpine root with them installed as apk leaves it (patch tests).
//! - [`static_http`]: a tiny static HTTP server in a thread (the APT and apk repositories).
//! - [`trivy`]: the real Trivy and its tiny offline database (scans, patch tests).
//!
//! Binaries come from `scripts/setup.sh` (`scripts/setup-registries.sh`).
#![allow(dead_code, unused_imports)] // each test crate uses a part

pub mod apkrepo;
pub mod bundle;
pub mod certs;
pub mod copy;
pub mod cosign;
pub mod debrepo;
pub mod gpg;
pub mod helm;
pub mod http;
/// The real kube-apiserver + etcd of the core tests (scripts/setup-kube.sh builds them).
#[path = "../../../tests/support/kube.rs"]
pub mod kube;
pub mod kube_api;
pub mod kubelet;
pub mod packages;
pub mod ports;
pub mod proxy;
pub mod rootfs;
pub mod seed;
pub mod static_http;
pub mod token;
pub mod trivy;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use certs::TestCa;
pub use ports::free_port;
pub use proxy::{Fault, FaultProxy, Rule, Seen};
pub use seed::Seeder;
pub use token::TokenServer;

const SETUP_HINT: &str = "run scripts/setup.sh (it installs the test registries)";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("native/ has a parent")
        .to_owned()
}

/// A path under the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    repo_root().join(relative)
}

/// A tool from `.purser/bin`, else from PATH; a clear failure when neither has it.
pub fn tool(name: &str) -> PathBuf {
    let local = repo_root().join(".purser/bin").join(name);
    if local.is_file() {
        return local;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("{name} is not installed (not in .purser/bin, not on PATH): {SETUP_HINT}");
}

/// Copies an image between registries with the real crane (plain HTTP, loopback).
pub fn crane_copy(from: &str, to: &str) {
    let out = Command::new(tool("crane"))
        .args(["copy", "--insecure", from, to])
        .output()
        .expect("run crane");
    assert!(
        out.status.success(),
        "crane copy {from} {to}: {}",
        helm::text(&out)
    );
}

/// A server process that dies with the test: it runs under `sh`, which kills it when its
/// stdin closes, i.e. on Drop or whenever the test process goes away, even killed.
pub struct Process {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Process {
    pub fn spawn(name: &str, program: &Path, args: &[&str], log: PathBuf) -> Process {
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(
                r#""$@" & pid=$!; read -r _; kill $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0"#,
            )
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let stdin = child.stdin.take();
        Process {
            name: name.to_owned(),
            child,
            stdin,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `addr` accepts connections; fail with the server's log otherwise.
    pub fn wait_listening(&self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not listen on {addr} within 20 s; its log:\n{}",
            self.name,
            self.log()
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a test registry is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// distribution 2.8, plain HTTP, anonymous.
    Distribution,
    /// distribution 2.8, plain HTTP, htpasswd basic auth (user [`USER`], password [`PASSWORD`]).
    DistributionBasic,
    /// distribution 2.8 over TLS with a certificate from a fresh test CA.
    DistributionTls,
    /// distribution 2.8, plain HTTP, token auth against a [`TokenServer`] (same user).
    DistributionToken,
    /// distribution 2.8, plain HTTP, anonymous, as a pull-through cache (`proxy: remoteurl:`)
    /// of another registry: started with [`Registry::pull_through_cache`]. It fetches what it is
    /// asked for from upstream and keeps it; pushes are refused.
    DistributionCache,
    /// oci-registry (go-containerregistry, OCI 1.1 with referrers), plain HTTP, anonymous;
    /// blobs on disk in the registry's temp dir, manifests in memory. No cross-repository
    /// mounts (a mount request starts an upload), and blobs are global: a blob pushed to one
    /// repository is found in every one.
    Oci,
}

pub const USER: &str = "purser";
pub const PASSWORD: &str = "s3cret-Pa55";

/// A running registry; stopped on Drop.
pub struct Registry {
    pub flavour: Flavour,
    /// `127.0.0.1:PORT`, the registry part of references.
    pub host: String,
    pub addr: SocketAddr,
    /// The test CA (TLS flavour).
    pub ca: Option<TestCa>,
    /// The token service (token flavour).
    pub token: Option<TokenServer>,
    process: Process,
    dir: TempDir,
}

impl Registry {
    pub fn start(flavour: Flavour) -> Registry {
        assert!(
            flavour != Flavour::DistributionCache,
            "start a cache with Registry::pull_through_cache(upstream)"
        );
        Registry::start_with(flavour, None)
    }

    /// distribution 2.8 as a pull-through cache of `upstream` (`http://HOST:PORT`): the
    /// [`Flavour::DistributionCache`].
    pub fn pull_through_cache(upstream: &str) -> Registry {
        Registry::start_with(Flavour::DistributionCache, Some(upstream))
    }

    fn start_with(flavour: Flavour, upstream: Option<&str>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("purser-registry-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let host = addr.to_string();
        let mut ca = None;
        let mut token = None;
        let process = if flavour == Flavour::Oci {
            // Blobs on disk (a 1 GiB layer must not sit in the registry's memory).
            let bin = tool("oci-registry");
            let blobs = dir.path().join("blobs");
            Process::spawn(
                "oci-registry",
                &bin,
                &["-address", &host, "-blobs-dir", blobs.to_str().unwrap()],
                dir.path().join("registry.log"),
            )
        } else {
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: purser-test-secret\n",
                dir.path().join("data").display()
            );
            match flavour {
                Flavour::DistributionBasic => {
                    let htpasswd = dir.path().join("htpasswd");
                    let out = Command::new(tool("htpasswd"))
                        .args(["-Bbn", USER, PASSWORD])
                        .output()
                        .expect("run htpasswd");
                    assert!(out.status.success(), "htpasswd failed: {out:?}");
                    std::fs::write(&htpasswd, &out.stdout).unwrap();
                    config.push_str(&format!(
                        "auth:\n  htpasswd:\n    realm: purser-test\n    path: {}\n",
                        htpasswd.display()
                    ));
                }
                Flavour::DistributionTls => {
                    let test_ca = TestCa::generate(dir.path());
                    config.push_str(&format!(
                        "  tls:\n    certificate: {}\n    key: {}\n",
                        test_ca.server_cert.display(),
                        test_ca.server_key.display()
                    ));
                    ca = Some(test_ca);
                }
                Flavour::DistributionToken => {
                    let server = TokenServer::start(dir.path(), "purser-test-registry");
                    config.push_str(&format!(
                        "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                        server.realm(),
                        server.service,
                        token::ISSUER,
                        server.cert.display()
                    ));
                    token = Some(server);
                }
                Flavour::DistributionCache => {
                    let upstream = upstream.expect("a cache needs its upstream");
                    config.push_str(&format!("proxy:\n  remoteurl: {upstream}\n"));
                }
                _ => {}
            }
            let path = dir.path().join("config.yml");
            std::fs::write(&path, config).unwrap();
            Process::spawn(
                "docker-registry",
                &tool("docker-registry"),
                &["serve", path.to_str().unwrap()],
                dir.path().join("registry.log"),
            )
        };
        process.wait_listening(addr);
        Registry {
            flavour,
            host,
            addr,
            ca,
            token,
            process,
            dir,
        }
    }

    /// `http://HOST` or `https://HOST`.
    pub fn base_url(&self) -> String {
        let scheme = if self.flavour == Flavour::DistributionTls {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host)
    }

    /// A seeder that can push here (with credentials and the CA when needed).
    pub fn seeder(&self) -> Seeder {
        let mut seeder = Seeder::new(
            &self.base_url(),
            self.ca.as_ref().map(|ca| ca.ca_cert.as_path()),
        );
        match self.flavour {
            Flavour::DistributionBasic => seeder = seeder.basic(USER, PASSWORD),
            Flavour::DistributionToken => {
                let token = self.token.as_ref().unwrap().push_token();
                seeder = seeder.bearer(token);
            }
            _ => {}
        }
        seeder
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A temporary docker config.json, and a folder for credential helpers.
pub struct DockerConfig {
    pub dir: TempDir,
    pub path: PathBuf,
    /// Put this (alone) on the helper path.
    pub helpers: PathBuf,
}

impl DockerConfig {
    /// A config.json with `json` as its content.
    pub fn new(json: &serde_json::Value) -> DockerConfig {
        let dir = tempfile::Builder::new()
            .prefix("purser-docker-config-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(json).unwrap()).unwrap();
        let helpers = dir.path().join("bin");
        std::fs::create_dir_all(&helpers).unwrap();
        DockerConfig { dir, path, helpers }
    }

    /// `auths` with base64 `user:password` for `host`.
    pub fn with_auth(host: &str, user: &str, password: &str) -> DockerConfig {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        DockerConfig::new(&serde_json::json!({ "auths": { host: { "auth": auth } } }))
    }

    /// Write `docker-credential-NAME`, a shell script that answers `get` for `host` with
    /// user/password and "credentials not found" for any other server URL. Each call is
    /// logged to `calls.log` beside it (server URLs only).
    pub fn write_helper(&self, name: &str, host: &str, user: &str, password: &str) -> PathBuf {
        let script = format!(
            r#"#!/bin/sh
[ "$1" = get ] || {{ echo "unsupported: $1" >&2; exit 1; }}
read -r server || true
echo "$server" >> "$(dirname "$0")/calls.log"
if [ "$server" = "{host}" ]; then
  printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}\n' "$server"
else
  echo "credentials not found in native keychain"
  exit 1
fi
"#
        );
        let path = self.helpers.join(format!("docker-credential-{name}"));
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(script.as_bytes()).unwrap();
        drop(file);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The server URLs helpers were asked about, in order.
    pub fn helper_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.helpers.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs `cmd` to its end, sampling the process's own peak RSS (VmHWM, KiB) meanwhile: the
/// Helm children it runs are not counted (a `wait4` rusage would take their peak).
pub fn run_measuring_peak_rss(
    mut cmd: std::process::Command,
    log: &std::path::Path,
) -> (std::process::Output, u64) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start purser");
    let status_file = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let mut peak = 0u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let output = std::process::Output {
        status,
        stdout: reader.join().unwrap(),
        stderr: std::fs::read(log).unwrap_or_default(),
    };
    (output, peak)
}

/// A static file server on loopback (Python's http.server), stopped on Drop.
pub struct FileServer {
    child: std::process::Child,
    pub url: String,
}

impl FileServer {
    pub fn start(dir: &Path) -> FileServer {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileServer {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
