//! End-to-end test support: a real Helm 4 with this repository's `images` plugin installed in
//! temporary Helm homes, so tests never see (or touch) the user's plugins and settings.
//!
//! Needs `scripts/setup.sh` to have run: it builds Helm into `.purser/bin/helm` (or set
//! `HELM_BIN` to a Helm 4) and the module `./plugin.wasm`.
//!
//! ```ignore
//! mod support;
//! let helm = support::Helm::with_plugin();
//! let run = helm.template_images(&["demo", "examples/demo"], &["-o", "json"]);
//! run.assert_success();
//! ```
#![allow(dead_code)]

pub mod kube;
/// Loopback ports for servers (the native tests' allocator, one piece for both crates).
#[path = "../../native/tests/support/ports.rs"]
pub mod ports;
pub mod yaml;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

/// How long one command may run before the test kills it and fails: 180 s, or
/// `PURSER_TEST_TIMEOUT` seconds.
pub fn command_timeout() -> Duration {
    let seconds = std::env::var("PURSER_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(seconds.unwrap_or(180))
}

const SETUP_HINT: &str = "run scripts/setup.sh first";

/// The repository root (the root package's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    repo_root().join(relative)
}

/// The helm to test with: `$HELM_BIN` when set, else `.purser/bin/helm` from setup.sh.
pub fn helm_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HELM_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "HELM_BIN={} is not a file: point it at a Helm 4 binary, or unset it and {SETUP_HINT}",
            bin.display()
        );
        return bin;
    }
    let bin = repo_path(".purser/bin/helm");
    assert!(
        bin.is_file(),
        "no helm at {}: {SETUP_HINT} (it builds Helm 4.2.4 there), or set HELM_BIN",
        bin.display()
    );
    bin
}

/// The native `purser` binary: `$PURSER_BIN` when set, else the one in this test binary's
/// profile folder (target/local when tests run with `--profile local`, as scripts/test.sh runs
/// them), else target/local, where scripts/setup.sh builds it.
pub fn purser_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PURSER_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let name = format!("purser{}", std::env::consts::EXE_SUFFIX);
    let beside_tests = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(&name))); // <profile>/deps/<test>
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_path("target"), PathBuf::from);
    let local = target_dir.join("local").join(&name);
    beside_tests
        .filter(|bin| bin.is_file())
        .or_else(|| local.is_file().then(|| local.clone()))
        .unwrap_or_else(|| {
            panic!("no purser binary at {}: {SETUP_HINT} (it builds target/local/purser), or set PURSER_BIN", local.display())
        })
}

/// Runs any program with `args` and `stdin` piped in, in the repository root, with the
/// caller's environment; killed after command_timeout().
pub fn run_with_stdin(program: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let line = describe_command(&command);
    let mut child = spawn(&mut command, &line);
    let writer = feed(&mut child, stdin.to_vec());
    let run = finish(child, line);
    let _ = writer.join();
    run
}

/// `./plugin.wasm`, the module setup.sh builds; fails the test when it is missing.
pub fn plugin_wasm() -> PathBuf {
    let wasm = repo_path("plugin.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: {SETUP_HINT} (it builds the wasm32-wasip1 module)",
        wasm.display()
    );
    if let Some(newer) = newer_source_than(&wasm) {
        // Shown with the output of a failing test: a stale module explains odd failures.
        eprintln!(
            "warning: {} is older than {}; {SETUP_HINT} to rebuild it",
            wasm.display(),
            newer.display()
        );
    }
    wasm
}

/// A source file of the core or the guest changed after `built` was written, if any.
fn newer_source_than(built: &Path) -> Option<PathBuf> {
    let built_at = fs::metadata(built).and_then(|m| m.modified()).ok()?;
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    let mut dirs = vec![repo_path("src"), repo_path("wasm/src")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                dirs.push(path);
            } else if let Ok(modified) = meta.modified() {
                if modified > built_at && newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                    newest = Some((modified, path));
                }
            }
        }
    }
    newest.map(|(_, path)| path)
}

/// What a finished command left: its output and how it exited.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
}

impl Run {
    /// The exit code; `None` when a signal ended the process.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Fails the test, showing the command and both streams, unless it exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "`{}` failed: {}",
            self.command,
            self.describe()
        );
        self
    }

    /// Fails the test unless it exited with `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "`{}` exited otherwise than with {code}: {}",
            self.command,
            self.describe()
        );
        self
    }

    /// Status and both streams, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Helm with temporary HELM_DATA_HOME, HELM_CONFIG_HOME and HELM_CACHE_HOME, removed on drop.
pub struct Helm {
    bin: PathBuf,
    homes: TempDir,
    /// KUBECONFIG for every command, once use_cluster() has been called.
    kubeconfig: Option<PathBuf>,
}

impl Helm {
    /// Helm with empty temporary homes: no plugin installed.
    pub fn bare() -> Helm {
        let bin = helm_bin();
        let homes = tempfile::Builder::new()
            .prefix("purser-helm-")
            .tempdir()
            .expect("create a temporary directory for the Helm homes");
        for home in ["data", "config", "cache"] {
            fs::create_dir_all(homes.path().join(home)).expect("create a Helm home");
        }
        Helm {
            bin,
            homes,
            kubeconfig: None,
        }
    }

    /// Helm with this repository's `images` plugin installed.
    pub fn with_plugin() -> Helm {
        let helm = Helm::bare();
        helm.install_plugin();
        helm
    }

    /// Installs the repository's plugin.yaml and plugin.wasm (copied, so a rebuild during the
    /// test run cannot change them underneath) with `helm plugin install DIR`.
    pub fn install_plugin(&self) {
        let wasm = plugin_wasm();
        let source = self.homes.path().join("plugin-source/images");
        fs::create_dir_all(&source).expect("create the plugin source folder");
        fs::copy(repo_path("plugin.yaml"), source.join("plugin.yaml")).expect("copy plugin.yaml");
        fs::copy(&wasm, source.join("plugin.wasm")).expect("copy plugin.wasm");
        self.run(
            [
                OsStr::new("plugin"),
                OsStr::new("install"),
                source.as_os_str(),
            ],
            None,
        )
        .assert_success();
    }

    /// Installs a plugin whose manifest is native/plugins/NAME/plugin.yaml and whose command
    /// is the native `purser` (bin/purser in the plugin folder, a link to purser_bin()), as
    /// scripts/setup.sh stages `mirror` and `relocate`.
    pub fn install_native_plugin(&self, name: &str) {
        let source = self.homes.path().join("plugin-source").join(name);
        fs::create_dir_all(source.join("bin")).expect("create the plugin source folder");
        fs::copy(
            repo_path(&format!("native/plugins/{name}/plugin.yaml")),
            source.join("plugin.yaml"),
        )
        .expect("copy plugin.yaml");
        link_or_copy(&purser_bin(), &source.join("bin").join("purser"));
        self.install_plugin_dir(&source);
    }

    /// Talks to `kube` from now on, once Helm can list releases there (the API server serves
    /// before its storage is ready: waits up to 120 s).
    pub fn use_cluster(&mut self, kube: &kube::Kube) {
        self.kubeconfig = Some(kube.kubeconfig());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let run = self.run(["list"], None);
            if run.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "helm list against the test cluster kept failing: {}
--- kube-apiserver.log
{}",
                run.describe(),
                kube.log_tail("kube-apiserver.log")
            );
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// `helm plugin install DIR`, failing the test if it fails.
    pub fn install_plugin_dir(&self, dir: &Path) {
        self.run(
            [OsStr::new("plugin"), OsStr::new("install"), dir.as_os_str()],
            None,
        )
        .assert_success();
    }

    /// A folder inside these Helm homes (removed with them), created if needed.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.homes.path().join("scratch").join(name);
        fs::create_dir_all(&dir).expect("create a scratch folder");
        dir
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn data_home(&self) -> PathBuf {
        self.homes.path().join("data")
    }

    pub fn config_home(&self) -> PathBuf {
        self.homes.path().join("config")
    }

    pub fn cache_home(&self) -> PathBuf {
        self.homes.path().join("cache")
    }

    /// A native `purser` command that runs this Helm (`HELM_BIN`) with these homes.
    pub fn purser(&self) -> Command {
        let mut cmd = Command::new(purser_bin());
        cmd.env("HELM_BIN", self.bin())
            .env("HELM_DATA_HOME", self.data_home())
            .env("HELM_CONFIG_HOME", self.config_home())
            .env("HELM_CACHE_HOME", self.cache_home());
        cmd
    }

    /// A `helm` command with these homes and no other HELM_* setting of the caller's.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(&self.bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HELM_") {
                command.env_remove(key);
            }
        }
        command
            .env("HELM_DATA_HOME", self.data_home())
            .env("HELM_CONFIG_HOME", self.config_home())
            .env("HELM_CACHE_HOME", self.cache_home())
            .current_dir(repo_root())
            .args(args);
        if let Some(kubeconfig) = &self.kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        command
    }

    /// Runs `helm ARGS` with `stdin` (none: /dev/null, which the plugin takes for a terminal).
    /// Relative paths in ARGS are taken from the repository root.
    pub fn run<I, S>(&self, args: I, stdin: Option<&[u8]>) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command(args);
        let line = describe_command(&command);
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn(&mut command, &line);
        let writer = stdin.map(|bytes| feed(&mut child, bytes.to_vec()));
        let run = finish(child, line);
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        run
    }

    /// `helm images ARGS` with `stdin` piped in.
    pub fn images(&self, args: &[&str], stdin: &[u8]) -> Run {
        self.run(
            std::iter::once("images").chain(args.iter().copied()),
            Some(stdin),
        )
    }

    /// `helm template ARGS`; fails the test when it fails, else returns the manifest stream.
    pub fn template(&self, args: &[&str]) -> String {
        let run = self.run(
            std::iter::once("template").chain(args.iter().copied()),
            None,
        );
        run.assert_success();
        run.stdout
    }

    /// `helm template TEMPLATE_ARGS | helm images IMAGES_ARGS`, through an OS pipe as in a
    /// shell. Fails the test when `helm template` fails; returns what `helm images` left.
    pub fn template_images(&self, template_args: &[&str], images_args: &[&str]) -> Run {
        let mut template =
            self.command(std::iter::once("template").chain(template_args.iter().copied()));
        let template_line = describe_command(&template);
        template
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut template_child = spawn(&mut template, &template_line);
        let manifests = template_child.stdout.take().expect("helm template stdout");

        let mut images = self.command(std::iter::once("images").chain(images_args.iter().copied()));
        let images_line = describe_command(&images);
        images
            .stdin(Stdio::from(manifests))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let images_child = spawn(&mut images, &images_line);

        let template_run = finish(template_child, template_line);
        let images_run = finish(images_child, format!("… | {images_line}"));
        template_run.assert_success();
        images_run
    }
}

/// A symbolic link to `target` at `link` (a copy where links cannot be made).
fn link_or_copy(target: &Path, link: &Path) {
    #[cfg(unix)]
    if std::os::unix::fs::symlink(target, link).is_ok() {
        return;
    }
    fs::copy(target, link)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", target.display(), link.display()));
}

fn describe_command(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let mut line = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

fn spawn(command: &mut Command, line: &str) -> Child {
    command.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start `{line}` ({}): {e}",
            command.get_program().to_string_lossy()
        )
    })
}

/// Writes `bytes` to the child's stdin from a thread, then closes it.
fn feed(child: &mut Child, bytes: Vec<u8>) -> thread::JoinHandle<()> {
    let mut stdin = child.stdin.take().expect("piped stdin");
    thread::spawn(move || {
        // The command may exit without reading everything; that is its business.
        let _ = stdin.write_all(&bytes);
    })
}

/// Collects stdout and stderr (whichever were piped) and waits, killing the process after
/// command_timeout().
fn finish(mut child: Child, command: String) -> Run {
    fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let timeout = command_timeout();
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{command}` ran longer than {timeout:?} and was killed (PURSER_TEST_TIMEOUT sets the limit in seconds)"
                );
            }
            Err(e) => panic!("cannot wait for `{command}`: {e}"),
        }
    };
    Run {
        command,
        stdout: String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
        status,
    }
}

/// Extra `helm template` flags for corpus charts that need values to render at all
/// (../shared/charts/CORPUS.md says which and what).
pub fn corpus_values(chart: &str) -> &'static [&'static str] {
    match chart {
        "opentelemetry-collector" => &[
            "--set",
            "mode=deployment",
            "--set",
            "image.repository=otel/opentelemetry-collector-k8s",
        ],
        _ => &[],
    }
}

/// The corpus charts (folders with a Chart.yaml in ../shared/charts), sorted; `None` when
/// that folder is not beside the repository.
pub fn corpus_charts() -> Option<Vec<PathBuf>> {
    let dir = repo_root().join("../shared/charts");
    if !dir.is_dir() {
        return None;
    }
    let mut charts: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("read ../shared/charts")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    charts.sort();
    Some(charts)
}
