//! A real Kubernetes API server for tests: kube-apiserver and etcd (built by
//! scripts/setup-kube.sh into .purser/bin) on loopback ports from `support::ports`, with
//! throw-away data in a temporary folder, all stopped when the `Kube` is dropped. No nodes;
//! no controllers unless [`Kube::start_with_controllers`] also starts kube-controller-manager
//! (the Job, garbage-collector and service-account controllers). Clients authenticate with
//! a static token.
//!
//! ```ignore
//! let Some(kube) = support::kube::Kube::start() else { return };
//! let mut helm = support::Helm::bare();
//! helm.use_cluster(&kube);
//! ```

use super::ports::free_port;
use super::repo_path;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const TOKEN: &str = "purser-test-token";

pub struct Kube {
    /// kube-apiserver first: it is stopped before its storage.
    children: Vec<(String, Child)>,
    dir: TempDir,
    port: u16,
}

impl Kube {
    /// Starts etcd and kube-apiserver and waits until the API server accepts connections.
    /// `None`, with a note, where scripts/setup-kube.sh has not built them; in CI (CI=true),
    /// where setup.sh always builds them, their absence fails the test instead.
    pub fn start() -> Option<Kube> {
        Kube::start_controllers(false)
    }

    /// [`Kube::start`], and kube-controller-manager running the Job, garbage-collector and
    /// service-account controllers against it.
    pub fn start_with_controllers() -> Option<Kube> {
        Kube::start_controllers(true)
    }

    fn start_controllers(controllers: bool) -> Option<Kube> {
        let etcd = repo_path(".purser/bin/etcd");
        let apiserver = repo_path(".purser/bin/kube-apiserver");
        let manager = repo_path(".purser/bin/kube-controller-manager");
        if !etcd.is_file() || !apiserver.is_file() || (controllers && !manager.is_file()) {
            let message = format!(
                "no {}, {} or {}: run scripts/setup-kube.sh (setup.sh runs it)",
                etcd.display(),
                apiserver.display(),
                manager.display()
            );
            assert!(std::env::var("CI").is_err(), "{message}");
            eprintln!("skipped: {message}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("purser-kube-")
            .tempdir()
            .expect("a temporary folder for the cluster");
        let d = dir.path().to_owned();
        let log = |name: &str| {
            Stdio::from(fs::File::create(d.join(name)).expect("create a cluster log file"))
        };
        let (client, peer, port) = (free_port(), free_port(), free_port());
        let mut kube = Kube {
            children: Vec::new(),
            dir,
            port,
        };
        let etcd_child = Command::new(&etcd)
            .args([
                "--name=default".to_owned(),
                format!("--data-dir={}", d.join("etcd").display()),
                format!("--listen-client-urls=http://127.0.0.1:{client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
            ])
            .stdout(log("etcd.out"))
            .stderr(log("etcd.log"))
            .spawn()
            .expect("start etcd");
        kube.children.push(("etcd".into(), etcd_child));

        let key = d.join("service-account.key");
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .expect("run openssl to make a service-account key");
        assert!(status.success(), "openssl genrsa failed");
        fs::write(
            d.join("tokens.csv"),
            format!("{TOKEN},purser,purser,system:masters\n"),
        )
        .expect("write the token file");
        let apiserver_child = Command::new(&apiserver)
            .args([
                format!("--etcd-servers=http://127.0.0.1:{client}"),
                format!("--secure-port={port}"),
                "--bind-address=127.0.0.1".to_owned(),
                format!("--cert-dir={}", d.join("certs").display()),
                format!("--service-account-key-file={}", key.display()),
                format!("--service-account-signing-key-file={}", key.display()),
                "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
                format!("--token-auth-file={}", d.join("tokens.csv").display()),
                "--authorization-mode=RBAC".to_owned(),
                "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
            ])
            .stdout(log("kube-apiserver.out"))
            .stderr(log("kube-apiserver.log"))
            .spawn()
            .expect("start kube-apiserver");
        kube.children
            .push(("kube-apiserver".into(), apiserver_child));
        // kube-apiserver goes first on drop.
        kube.children.reverse();

        fs::write(
            kube.kubeconfig(),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}\nusers:\n- name: test\n  user: {{token: {TOKEN}}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test, namespace: default}}\ncurrent-context: test\n"
            ),
        )
        .expect("write the kubeconfig");
        kube.wait_for_port();
        if controllers {
            let manager_child = Command::new(&manager)
                .args([
                    format!("--kubeconfig={}", kube.kubeconfig().display()),
                    "--controllers=job,garbagecollector,serviceaccount,serviceaccount-token"
                        .to_owned(),
                    format!("--service-account-private-key-file={}", key.display()),
                    "--leader-elect=false".to_owned(),
                    "--secure-port=0".to_owned(),
                ])
                .stdout(log("kube-controller-manager.out"))
                .stderr(log("kube-controller-manager.log"))
                .spawn()
                .expect("start kube-controller-manager");
            // First on drop: it talks to the API server.
            kube.children
                .insert(0, ("kube-controller-manager".into(), manager_child));
        }
        Some(kube)
    }

    /// The API server's URL and the token clients give it.
    pub fn access(&self) -> (String, String) {
        (format!("https://127.0.0.1:{}", self.port), TOKEN.to_owned())
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The last lines of a log of this cluster, for messages.
    pub fn log_tail(&self, name: &str) -> String {
        let text = fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn wait_for_port(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let exited =
                self.children
                    .iter_mut()
                    .find_map(|(name, child)| match child.try_wait() {
                        Ok(Some(status)) => Some((name.clone(), status)),
                        _ => None,
                    });
            if let Some((name, status)) = exited {
                panic!(
                    "{name} exited ({status}): {}",
                    self.log_tail(&format!("{name}.log"))
                );
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver did not listen within 120 s: {}",
                self.log_tail("kube-apiserver.log")
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
