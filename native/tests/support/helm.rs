//! Real Helm 4 (`.purser/bin/helm`) with temporary homes and the repository's native plugins
//! installed (native/plugins/NAME/plugin.yaml with this build's purser as bin/purser), and the
//! `purser` binary run the way Helm runs it (HELM_BIN and the same homes), for tests that need
//! the process itself.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use super::repo_root;

pub struct Helm {
    pub bin: PathBuf,
    pub homes: TempDir,
}

impl Helm {
    /// Helm with these native plugins installed (`mirror`, `relocate`).
    pub fn with_plugins(names: &[&str]) -> Helm {
        let bin = repo_root().join(".purser/bin/helm");
        assert!(
            bin.is_file(),
            "no {}: run scripts/setup.sh first",
            bin.display()
        );
        let helm = Helm {
            bin,
            homes: tempfile::Builder::new()
                .prefix("purser-helm-")
                .tempdir()
                .unwrap(),
        };
        for name in names {
            // The plugin folder: native/plugins/NAME/plugin.yaml and this build's purser.
            let stage = helm.homes.path().join("plugin-source").join(name);
            std::fs::create_dir_all(stage.join("bin")).unwrap();
            std::fs::copy(
                repo_root()
                    .join("native/plugins")
                    .join(name)
                    .join("plugin.yaml"),
                stage.join("plugin.yaml"),
            )
            .unwrap_or_else(|e| panic!("native/plugins/{name}/plugin.yaml: {e}"));
            std::os::unix::fs::symlink(purser_bin(), stage.join("bin/purser")).unwrap();
            let out = helm.run(["plugin", "install", stage.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "helm plugin install {name}: {}",
                text(&out)
            );
        }
        helm
    }

    /// Puts Helm's environment on `cmd`: the temporary homes, no HELM_* of the machine's, an
    /// empty docker config (test registries are anonymous), HELM_BIN, and a temporary
    /// XDG_CACHE_HOME (purser's default scan reports, Trivy's default cache).
    pub fn env(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HELM_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HELM_DATA_HOME", self.homes.path().join("data"))
            .env("HELM_CONFIG_HOME", self.homes.path().join("config"))
            .env("HELM_CACHE_HOME", self.homes.path().join("cache"))
            .env("DOCKER_CONFIG", self.homes.path().join("docker"))
            .env("XDG_CACHE_HOME", self.homes.path().join("xdg-cache"))
            .env("HELM_BIN", &self.bin);
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.bin);
        self.env(&mut cmd);
        cmd.args(args);
        cmd
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args).output().expect("run helm")
    }

    /// The `purser` binary of this build with Helm's environment (as the plugin runs it).
    pub fn purser<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(purser_bin());
        self.env(&mut cmd);
        cmd.args(args);
        cmd
    }

    /// `helm package DIR` into `dest`; the archive's path.
    pub fn package(&self, chart: &Path, dest: &Path) -> PathBuf {
        std::fs::create_dir_all(dest).unwrap();
        let out = self.run([
            OsStr::new("package"),
            chart.as_os_str(),
            OsStr::new("--destination"),
            dest.as_os_str(),
        ]);
        assert!(out.status.success(), "helm package: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .trim()
            .rsplit(": ")
            .next()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .unwrap_or_else(|| panic!("no archive named in {stdout:?}"))
    }
}

/// The `purser` binary cargo built for these tests.
pub fn purser_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_purser"))
}

/// Runs `cmd` with `input` on its stdin; its output.
pub fn feed(mut cmd: Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A command that exits without reading all of it is the caller's to judge by its output.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait for the command")
}

/// Status, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
