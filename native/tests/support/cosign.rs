//! The real cosign, for the trust tests: v3.1.3 (`.purser/bin/cosign`) and v2.6.5
//! (`.purser/bin/cosign-v2`), both built by `scripts/setup.sh` (`scripts/setup-registries.sh`).
//!
//! Every call runs offline and apart from the user: cosign gets a cleared environment with a
//! fresh temporary `HOME`, `DOCKER_CONFIG` (anonymous pulls and pushes), `TUF_ROOT` and XDG
//! folders, `SIGSTORE_NO_CACHE=1`, and a proxy that refuses every connection
//! (`HTTP(S)_PROXY=http://127.0.0.1:9`): loopback registries are never proxied, so any attempt to
//! reach Sigstore's public services fails at once with `proxyconnect` in stderr instead of
//! waiting on a network that is not there. The flags are the offline ones of
//! `native/tests/fixtures/cosign/FORMATS.md` §5: signing never uploads to Rekor (no signing
//! config, `--tlog-upload=false`) and verifying skips the transparency log
//! (`--insecure-ignore-tlog`), v2 with a minimal `--trusted-root` (else it tries TUF first and
//! cannot read bundles at all). Registries are reached over plain HTTP: cosign does that for
//! `127.0.0.1:PORT` without `--allow-http-registry`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The smallest trusted root cosign v2 loads: with `--key` it needs no more.
pub const MINIMAL_TRUSTED_ROOT: &str =
    r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;

/// A proxy nobody listens on (the discard port): a request for a non-loopback host fails fast.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

/// How long one cosign run may take before it is killed (it should take about a second).
const TIMEOUT: Duration = Duration::from_secs(120);

/// A cosign major version: they take different flags for the same thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Major {
    V2,
    V3,
}

/// One cosign binary.
#[derive(Clone, Debug)]
pub struct Cosign {
    pub major: Major,
    pub bin: PathBuf,
    /// A docker config folder to use instead of an empty one (registries with credentials).
    pub docker_config: Option<PathBuf>,
}

/// What a cosign run did: exit status and output, for assertions and their messages.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The command line, for messages.
    pub command: String,
    pub success: bool,
    /// The exit code (None when killed by a signal). cosign's own: 10 no signatures found,
    /// 11 tag not found, 12 no matching signature (legacy `.sig`), 1 anything else.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The outcome, after checking that it succeeded (else a panic showing everything).
    #[track_caller]
    pub fn ok(self) -> Outcome {
        assert!(self.success, "cosign failed: {self}");
        self
    }

    /// The outcome, after checking that it failed (else a panic showing everything).
    #[track_caller]
    pub fn failed(self) -> Outcome {
        assert!(
            !self.success,
            "cosign succeeded, a failure was expected: {self}"
        );
        self
    }

    /// Whether cosign tried to reach anything but loopback (the dead proxy refused it).
    pub fn tried_network(&self) -> bool {
        self.stderr.contains("proxyconnect") || self.stdout.contains("proxyconnect")
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

impl Cosign {
    /// cosign v3.1.3, `.purser/bin/cosign`.
    pub fn v3() -> Cosign {
        Cosign::at(Major::V3, "cosign", "v3.1.3")
    }

    /// cosign v2.6.5, `.purser/bin/cosign-v2`.
    pub fn v2() -> Cosign {
        Cosign::at(Major::V2, "cosign-v2", "v2.6.5")
    }

    fn at(major: Major, name: &str, version: &str) -> Cosign {
        let bin = super::repo_root().join(".purser/bin").join(name);
        assert!(
            bin.is_file(),
            "{} is missing: the trust tests run the real cosign {version}; run scripts/setup.sh \
             (scripts/setup-registries.sh builds it)",
            bin.display()
        );
        Cosign {
            major,
            bin,
            docker_config: None,
        }
    }

    /// The same cosign with `dir` as its `DOCKER_CONFIG` (a folder holding config.json).
    pub fn with_docker_config(mut self, dir: &Path) -> Cosign {
        self.docker_config = Some(dir.to_owned());
        self
    }

    /// `COSIGN_PASSWORD=PASSWORD cosign generate-key-pair --output-key-prefix PREFIX` in `dir`:
    /// `(dir/PREFIX.key, dir/PREFIX.pub)`. Panics when cosign fails or leaves no files.
    #[track_caller]
    pub fn generate_key_pair(
        &self,
        dir: &Path,
        prefix: &str,
        password: &str,
    ) -> (PathBuf, PathBuf) {
        self.run_in(
            dir,
            &["generate-key-pair", "--output-key-prefix", prefix],
            Some(password),
        )
        .ok();
        let key = dir.join(format!("{prefix}.key"));
        let public = dir.join(format!("{prefix}.pub"));
        assert!(
            key.is_file() && public.is_file(),
            "cosign generate-key-pair left no {} and {}",
            key.display(),
            public.display()
        );
        (key, public)
    }

    /// Signs `image` (`HOST/REPO@sha256:…`) with `key` as a Sigstore bundle (an OCI referrer,
    /// or the `sha256-<hex>` fallback index tag where the registry has no referrers API):
    /// v3 `cosign sign --key KEY --use-signing-config=false --tlog-upload=false -y IMAGE`,
    /// v2 the same with `--new-bundle-format` instead of `--use-signing-config=false`.
    /// `recursive`: also every manifest of an index (`--recursive`).
    pub fn sign_bundle(&self, image: &str, key: &Path, password: &str, recursive: bool) -> Outcome {
        let mode = match self.major {
            Major::V3 => "--use-signing-config=false",
            Major::V2 => "--new-bundle-format",
        };
        self.sign(image, key, password, recursive, &[mode])
    }

    /// Signs `image` with `key` the old way: a simple-signing payload in the `sha256-<hex>.sig`
    /// tag. v3 `cosign sign --key KEY --use-signing-config=false --tlog-upload=false
    /// --new-bundle-format=false -y IMAGE`, v2 `cosign sign --key KEY --tlog-upload=false -y
    /// IMAGE`.
    pub fn sign_legacy(&self, image: &str, key: &Path, password: &str, recursive: bool) -> Outcome {
        match self.major {
            Major::V3 => self.sign(
                image,
                key,
                password,
                recursive,
                &["--use-signing-config=false", "--new-bundle-format=false"],
            ),
            Major::V2 => self.sign(image, key, password, recursive, &[]),
        }
    }

    fn sign(
        &self,
        image: &str,
        key: &Path,
        password: &str,
        recursive: bool,
        mode: &[&str],
    ) -> Outcome {
        let mut args = vec!["sign", "--key", key.to_str().expect("a UTF-8 key path")];
        args.extend_from_slice(mode);
        args.push("--tlog-upload=false");
        if recursive {
            args.push("--recursive");
        }
        args.extend(["-y", image]);
        self.run(&args, Some(password))
    }

    /// Verifies `image` against the public key `public` (bundles and legacy `.sig` alike),
    /// skipping the transparency log: v3 `cosign verify --key PUB --insecure-ignore-tlog IMAGE`,
    /// v2 the same with `--trusted-root` naming [`MINIMAL_TRUSTED_ROOT`] in a temporary file.
    pub fn verify(&self, image: &str, public: &Path) -> Outcome {
        self.verify_with(image, public, &[])
    }

    /// [`Cosign::verify`] with more flags (before the image), e.g. `--experimental-oci11`.
    pub fn verify_with(&self, image: &str, public: &Path, extra: &[&str]) -> Outcome {
        let scratch = scratch();
        let root = scratch.path().join("trusted_root.json");
        let mut args = vec![
            "verify",
            "--key",
            public.to_str().expect("a UTF-8 key path"),
            "--insecure-ignore-tlog",
        ];
        if self.major == Major::V2 {
            std::fs::write(&root, MINIMAL_TRUSTED_ROOT).expect("write the trusted root");
            args.extend(["--trusted-root", root.to_str().unwrap()]);
        }
        args.extend_from_slice(extra);
        args.push(image);
        self.run(&args, None)
    }

    /// `cosign ARGS…` in a scratch folder, sandboxed as the module says; `password` becomes
    /// `COSIGN_PASSWORD`.
    pub fn run(&self, args: &[&str], password: Option<&str>) -> Outcome {
        let scratch = scratch();
        self.run_in(scratch.path(), args, password)
    }

    /// `cosign ARGS…` with `dir` as its working folder (its HOME and caches still temporary).
    pub fn run_in(&self, dir: &Path, args: &[&str], password: Option<&str>) -> Outcome {
        let scratch = scratch();
        let home = scratch.path().join("home");
        let docker = scratch.path().join("docker");
        let tuf = scratch.path().join("tuf");
        let cache = scratch.path().join("cache");
        let config = scratch.path().join("config");
        for d in [&home, &docker, &tuf, &cache, &config] {
            std::fs::create_dir_all(d).expect("create cosign's scratch folders");
        }
        let stdout_path = scratch.path().join("stdout");
        let stderr_path = scratch.path().join("stderr");
        let command = format!("{} {}", self.bin.display(), args.join(" "));

        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env(
                "DOCKER_CONFIG",
                self.docker_config.as_ref().unwrap_or(&docker),
            )
            .env("TUF_ROOT", &tuf)
            .env("SIGSTORE_NO_CACHE", "1")
            .env("XDG_CACHE_HOME", &cache)
            .env("XDG_CONFIG_HOME", &config)
            .env("TMPDIR", scratch.path())
            .env("HTTP_PROXY", DEAD_PROXY)
            .env("HTTPS_PROXY", DEAD_PROXY)
            .env("http_proxy", DEAD_PROXY)
            .env("https_proxy", DEAD_PROXY)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
        if let Some(password) = password {
            cmd.env("COSIGN_PASSWORD", password);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for cosign") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{command} did not finish within {TIMEOUT:?}; its stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let read =
            |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        Outcome {
            command,
            success: status.success(),
            code: status.code(),
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
        }
    }
}

/// A fresh temporary folder for one cosign run.
fn scratch() -> TempDir {
    tempfile::Builder::new()
        .prefix("purser-cosign-")
        .tempdir()
        .expect("temp dir")
}
