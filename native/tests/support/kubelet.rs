//! A stand-in for the kubelet, for tests with a real control plane ([`super::kube::Kube`]
//! started with its controllers) but no container runtime. It registers one Node and then
//! does for every pod what a kubelet does, the container replaced by a local process:
//!
//! - binds unscheduled pods to its Node (no scheduler runs either);
//! - makes the pod's volumes as folders — `configMap` and `secret` (its keys, or `items`;
//!   an optional one that is not there gives an empty folder) and `emptyDir` — and rewrites
//!   every argument and env value under a `mountPath` to the folder;
//! - runs the container's `command` (its first word looked up in `programs`) with exactly
//!   the pod's env (`value`, `secretKeyRef`, and `fieldRef` to the pod's annotations,
//!   labels, name and namespace: the Job controller's `JOB_COMPLETION_INDEX` comes that way)
//!   plus PATH;
//! - PATCHes the pod's status to `Succeeded` or `Failed` with the container's exit code, so
//!   the real Job controller applies `backoffLimitPerIndex` and `podFailurePolicy`;
//! - kills the process of a pod being deleted and removes the pod;
//! - serves `GET /containerLogs/NS/POD/CONTAINER` over HTTPS on the port its Node
//!   advertises, so the API server's `pods/log` works (stdout and stderr together, as a
//!   kubelet keeps them).
//!
//! Stopped (processes killed) on Drop.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use super::certs::TestCa;
use super::kube::Kube;
use super::kube_api::Api;
use super::ports::free_port;

const NODE: &str = "purser-stand-in";

pub struct Kubelet {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    /// Pods started: uid → (namespace/name, the kill switch of its process).
    running: Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>>,
    _dir: tempfile::TempDir,
}

impl Kubelet {
    /// Registers the Node, starts the log server and the pod loop. `programs` maps a
    /// container command's first word to the program run for it.
    pub async fn start(kube: &Kube, programs: BTreeMap<String, PathBuf>) -> Kubelet {
        let dir = tempfile::Builder::new()
            .prefix("purser-kubelet-")
            .tempdir()
            .unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let port = serve_logs(dir.path(), &logs, stop.clone());
        let api = Api::of(kube);
        api.wait_ok("/readyz", Duration::from_secs(120), || {
            kube.log_tail("kube-apiserver.log")
        })
        .await;
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}});
        let _ = api.post("/api/v1/nodes", node).await;
        api.merge(
            &format!("/api/v1/nodes/{NODE}/status"),
            json!({"status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                "conditions": [{"type": "Ready", "status": "True", "reason": "StandIn",
                    "lastHeartbeatTime": null, "lastTransitionTime": null}],
            }}),
        )
        .await
        .expect("the stand-in's Node status");
        let running: Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>> = Arc::default();
        let task = tokio::spawn(pod_loop(
            api,
            dir.path().join("pods"),
            logs,
            Arc::new(programs),
            running.clone(),
            stop.clone(),
        ));
        Kubelet {
            stop,
            task,
            running,
            _dir: dir,
        }
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.abort();
        for (_, kill) in self.running.lock().unwrap().drain() {
            let _ = kill.send(());
        }
    }
}

async fn pod_loop(
    api: Api,
    pods_dir: PathBuf,
    logs: PathBuf,
    programs: Arc<BTreeMap<String, PathBuf>>,
    running: Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>>,
    stop: Arc<AtomicBool>,
) {
    let mut started: HashSet<String> = HashSet::new();
    while !stop.load(Ordering::SeqCst) {
        let pods = match api.get("/api/v1/pods").await {
            Ok(list) => list["items"].as_array().cloned().unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        for pod in pods {
            let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
            let ns = pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let name = pod["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
            if !pod["metadata"]["deletionTimestamp"].is_null() {
                if let Some(kill) = running.lock().unwrap().remove(&uid) {
                    let _ = kill.send(());
                }
                let _ = api
                    .call(
                        reqwest::Method::DELETE,
                        &format!("{path}?gracePeriodSeconds=0"),
                        None,
                    )
                    .await;
                continue;
            }
            let phase = pod["status"]["phase"].as_str().unwrap_or("");
            if matches!(phase, "Succeeded" | "Failed") || !started.insert(uid.clone()) {
                continue;
            }
            if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
                let binding = json!({"apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}});
                if api
                    .call(
                        reqwest::Method::POST,
                        &format!("{path}/binding"),
                        Some(("application/json", binding)),
                    )
                    .await
                    .is_err()
                {
                    started.remove(&uid);
                    continue;
                }
            }
            let (kill, killed) = tokio::sync::oneshot::channel();
            running.lock().unwrap().insert(uid.clone(), kill);
            let (api, programs, running) = (api.clone(), programs.clone(), running.clone());
            let (dir, logs) = (pods_dir.join(&uid), logs.clone());
            tokio::spawn(async move {
                let status = run_pod(&api, &pod, &dir, &logs, &programs, killed).await;
                running.lock().unwrap().remove(&uid);
                if let Some(status) = status {
                    let _ = api.merge(&format!("{path}/status"), status).await;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the pod's one container; the status to write, `None` when it was killed.
async fn run_pod(
    api: &Api,
    pod: &Value,
    dir: &Path,
    logs: &Path,
    programs: &BTreeMap<String, PathBuf>,
    killed: tokio::sync::oneshot::Receiver<()>,
) -> Option<Value> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let container = &pod["spec"]["containers"][0];
    let container_name = container["name"].as_str().unwrap_or("");
    let failed = |message: String| Some(json!({"status": {"phase": "Failed", "message": message}}));
    // Volumes as folders.
    let mut folders: HashMap<String, PathBuf> = HashMap::new();
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let vname = volume["name"].as_str().unwrap_or("");
        let folder = dir.join("volumes").join(vname);
        std::fs::create_dir_all(&folder).unwrap();
        let source = [
            ("configMap", "configmaps", "name"),
            ("secret", "secrets", "secretName"),
        ]
        .into_iter()
        .find(|(field, _, _)| !volume[*field].is_null());
        if let Some((field, plural, key)) = source {
            let object_name = volume[field][key].as_str().unwrap_or("");
            match api
                .get(&format!("/api/v1/namespaces/{ns}/{plural}/{object_name}"))
                .await
            {
                Ok(object) => {
                    let decode = |k: &str| -> Option<Vec<u8>> {
                        if let Some(text) = object["data"][k].as_str() {
                            if field == "secret" {
                                use base64::Engine as _;
                                return base64::engine::general_purpose::STANDARD.decode(text).ok();
                            }
                            return Some(text.as_bytes().to_vec());
                        }
                        None
                    };
                    let items: Vec<(String, String)> = match volume[field]["items"].as_array() {
                        Some(items) => items
                            .iter()
                            .map(|i| {
                                (
                                    i["key"].as_str().unwrap().to_owned(),
                                    i["path"].as_str().unwrap().to_owned(),
                                )
                            })
                            .collect(),
                        None => object["data"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, _)| (k.clone(), k.clone()))
                            .collect(),
                    };
                    for (k, path) in items {
                        if let Some(bytes) = decode(&k) {
                            std::fs::write(folder.join(path), bytes).unwrap();
                        }
                    }
                }
                Err(_) if volume[field]["optional"] == true => {}
                Err(e) => return failed(format!("volume {vname}: {e}")),
            }
        }
        folders.insert(vname.to_owned(), folder);
    }
    let mut mounts: Vec<(String, PathBuf)> = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some((
                m["mountPath"].as_str()?.to_owned(),
                folders.get(m["name"].as_str()?)?.clone(),
            ))
        })
        .collect();
    mounts.sort_by_key(|(at, _)| std::cmp::Reverse(at.len()));
    let local = |text: &str| -> String {
        for (at, folder) in &mounts {
            if let Some(rest) = text.strip_prefix(at.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{}{rest}", folder.display());
            }
        }
        text.to_owned()
    };
    let field = |path: &str| -> Option<String> {
        let meta = &pod["metadata"];
        let inner = |prefix: &str| {
            path.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix("']"))
                .map(str::to_owned)
        };
        if let Some(key) = inner("metadata.annotations['") {
            return meta["annotations"][&key].as_str().map(str::to_owned);
        }
        if let Some(key) = inner("metadata.labels['") {
            return meta["labels"][&key].as_str().map(str::to_owned);
        }
        match path {
            "metadata.name" => meta["name"].as_str().map(str::to_owned),
            "metadata.namespace" => meta["namespace"].as_str().map(str::to_owned),
            _ => None,
        }
    };
    let words: Vec<String> = container["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["args"].as_array().into_iter().flatten())
        .filter_map(|w| w.as_str().map(local))
        .collect();
    let Some(program) = words.first().and_then(|w| programs.get(w)) else {
        return failed(format!("no program for the command {words:?}"));
    };
    let mut command = tokio::process::Command::new(program);
    command.args(&words[1..]).env_clear();
    command.env("PATH", std::env::var("PATH").unwrap_or_default());
    for env in container["env"].as_array().into_iter().flatten() {
        let name = env["name"].as_str().unwrap_or("");
        let secret = &env["valueFrom"]["secretKeyRef"];
        let value = match env["value"].as_str() {
            Some(v) => Some(local(v)),
            None if secret.is_object() => {
                let path = format!(
                    "/api/v1/namespaces/{ns}/secrets/{}",
                    secret["name"].as_str().unwrap_or("")
                );
                let found = api.get(&path).await.ok().and_then(|object| {
                    use base64::Engine as _;
                    let text = object["data"][secret["key"].as_str()?].as_str()?.to_owned();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()?;
                    String::from_utf8(bytes).ok()
                });
                if found.is_none() && secret["optional"] != true {
                    return failed(format!(
                        "env {name}: no key {secret} (CreateContainerConfigError)"
                    ));
                }
                found
            }
            None => env["valueFrom"]["fieldRef"]["fieldPath"]
                .as_str()
                .and_then(field),
        };
        if let Some(value) = value {
            command.env(name, value);
        }
    }
    let log =
        std::fs::File::create(logs.join(format!("{ns}_{name}_{container_name}.log"))).unwrap();
    command
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return failed(format!("start {}: {e}", program.display())),
    };
    let code = tokio::select! {
        status = child.wait() => status.ok().and_then(|s| s.code()).unwrap_or(137),
        _ = killed => {
            let _ = child.kill().await;
            return None;
        }
    };
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    Some(json!({"status": {
        "phase": phase,
        "containerStatuses": [{
            "name": container_name,
            "image": container["image"],
            "imageID": "",
            "ready": false,
            "restartCount": 0,
            "state": {"terminated": {
                "exitCode": code,
                "reason": if code == 0 { "Completed" } else { "Error" },
            }},
        }],
    }}))
}

/// Serves the logs over HTTPS (a thread per connection); the port.
fn serve_logs(dir: &Path, logs: &Path, stop: Arc<AtomicBool>) -> u16 {
    let ca = TestCa::generate(dir);
    let certs = CertificateDer::pem_file_iter(&ca.server_cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&ca.server_key).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let port = free_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let logs = logs.to_owned();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok((tcp, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let (config, logs) = (config.clone(), logs.clone());
            std::thread::spawn(move || {
                let _ = tcp.set_nonblocking(false);
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut stream = rustls::StreamOwned::new(connection, tcp);
                let mut reader = BufReader::new(&mut stream);
                let mut start = String::new();
                if reader.read_line(&mut start).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let target = start.split_whitespace().nth(1).unwrap_or("");
                let path = target.split('?').next().unwrap_or("");
                let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
                let body = match parts.as_slice() {
                    ["containerLogs", ns, pod, container] => {
                        std::fs::read(logs.join(format!("{ns}_{pod}_{container}.log"))).ok()
                    }
                    _ => None,
                };
                let (status, body) = match body {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"no such log".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
                let _ = stream.flush();
                stream.conn.send_close_notify();
                let _ = stream.flush();
            });
        }
    });
    port
}
