//! `purser plugin push PACKAGE|DIR... oci://REGISTRY[/PATH]`: publishes Helm 4 plugin packages
//! where `helm plugin install oci://REGISTRY/PATH/NAME:VERSION` finds them (Helm has no
//! `helm plugin push`).
//!
//! [`run`] reads each package and its `.prov` beside it, makes the artifact Helm pulls
//! ([`PluginArtifact`], in the core) and pushes every one through the copy engine: blobs first,
//! each checked and verified, then the manifest by digest, then the tag, so a tag never names a
//! plugin that did not arrive whole. It returns a [`PushReport`]; printing is the caller's.
//!
//! A directory stands for the `*.tgz` files in it (`dist/`, as `scripts/package.sh` makes it).
//! There, Helm 3 (legacy) packages are skipped and said so, because Helm 3 cannot install from a
//! registry; named one by one, they are an error like any file that is not a Helm 4 plugin.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use purser::plan::{EMPTY_CONFIG, OCI_MANIFEST, PlanBuilder, Repository};
use purser::plugin_artifact::{PluginArtifact, PluginArtifactError};
use serde::Serialize;

use crate::copy::{Executor, LocalBlobs};
use crate::mirror::RegistryArgs;
use crate::store::{Empty, RegistryStore};

#[derive(Args)]
pub struct PushArgs {
    /// Plugin packages (NAME-VERSION.tgz, with NAME-VERSION.tgz.prov beside it when signed),
    /// or directories of them (dist/).
    #[arg(required = true, value_name = "PACKAGE|DIR")]
    pub packages: Vec<PathBuf>,
    /// Where to publish: oci://REGISTRY[/PATH]; each plugin goes to REGISTRY/PATH/NAME:VERSION.
    #[arg(value_name = "oci://REGISTRY[/PATH]")]
    pub to: String,
    /// Push packages that have no .prov (`helm plugin install` then needs --verify=false).
    #[arg(long)]
    pub allow_unsigned: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a push did, plugin by plugin.
#[derive(Debug, Serialize)]
pub struct PushReport {
    /// True when every plugin is at its reference.
    pub complete: bool,
    pub plugins: Vec<PluginRow>,
    /// Packages left out, and why (Helm 3 packages found in a directory).
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
pub struct PluginRow {
    pub package: String,
    pub name: String,
    pub version: String,
    /// `oci://REGISTRY/PATH/NAME:TAG`, what `helm plugin install` takes.
    pub reference: String,
    pub digest: String,
    /// The `.prov` pushed with it.
    pub provenance: Option<String>,
    /// `pushed` or `failed`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub package: String,
    pub reason: String,
}

/// A package read from disk.
struct Loaded {
    path: PathBuf,
    prov: Option<PathBuf>,
    artifact: PluginArtifact,
    package: Vec<u8>,
    provenance: Option<Vec<u8>>,
}

/// Publishes the packages; an error before anything is pushed when one cannot be.
pub async fn run(args: PushArgs) -> Result<PushReport, String> {
    let base = target_base(&args.to)?;
    let mut skipped = Vec::new();
    let mut loaded = Vec::new();
    for given in &args.packages {
        if given.is_dir() {
            let mut files = package_files(given)?;
            if files.is_empty() {
                return Err(format!(
                    "{}: no .tgz plugin packages in it (make them with scripts/package.sh)",
                    given.display()
                ));
            }
            files.sort();
            for path in files {
                match load(&path, args.allow_unsigned) {
                    Err(Refusal::Artifact(PluginArtifactError::Legacy { name })) => {
                        skipped.push(Skipped {
                            package: path.display().to_string(),
                            reason: format!(
                                "{name} is a Helm 3 (legacy) plugin, and Helm 3 cannot install \
                                 from a registry"
                            ),
                        })
                    }
                    other => loaded.push(other.map_err(|e| e.at(&path))?),
                }
            }
        } else {
            loaded.push(load(given, args.allow_unsigned).map_err(|e| e.at(given))?);
        }
    }
    if loaded.is_empty() {
        return Err("no Helm 4 plugin package among the files given".into());
    }
    for (i, a) in loaded.iter().enumerate() {
        if let Some(b) = loaded[..i]
            .iter()
            .find(|b| b.artifact.name == a.artifact.name && b.artifact.tag == a.artifact.tag)
        {
            return Err(format!(
                "{} and {} are both {} {}: one reference cannot hold both",
                b.path.display(),
                a.path.display(),
                a.artifact.name,
                a.artifact.version
            ));
        }
    }

    let mut builder = PlanBuilder::new();
    let mut local = LocalBlobs::new();
    local.insert(
        loaded[0].artifact.config.digest.clone(),
        Bytes::from_static(EMPTY_CONFIG),
    );
    let mut repos = Vec::new();
    for l in &loaded {
        let repo = base.child(&l.artifact.name);
        local.insert(
            l.artifact.package.digest.clone(),
            Bytes::from(l.package.clone()),
        );
        if let (Some(d), Some(p)) = (&l.artifact.provenance, &l.provenance) {
            local.insert(d.digest.clone(), Bytes::from(p.clone()));
        }
        builder
            .add_manifest(
                &repo,
                &repo,
                l.artifact.manifest.clone(),
                OCI_MANIFEST,
                Some(&l.artifact.manifest_digest),
            )
            .and_then(|_| builder.tag(&repo, &l.artifact.tag, &l.artifact.manifest_digest))
            .map_err(|e| format!("{}: {e}", l.path.display()))?;
        repos.push(repo);
    }
    let plan = builder.build();
    let target = Arc::new(RegistryStore::target(args.registry.target_client()?));
    let executor = Executor {
        source: Arc::new(Empty),
        target: target.clone(),
        local: Arc::new(local),
        concurrency: args.registry.concurrency,
        attempts: args.registry.retries.max(1),
        on_blob: Arc::new(|_, _| {}),
        strict: false,
    };
    let execution = executor.run(&plan).await;

    let mut plugins = Vec::new();
    for (l, repo) in loaded.iter().zip(&repos) {
        let tagged = execution
            .tagged
            .contains(&(repo.clone(), l.artifact.tag.clone()));
        let message = (!tagged).then(|| {
            execution
                .cause(&plan, repo, &l.artifact.manifest_digest)
                .or_else(|| {
                    execution
                        .failures
                        .get(&format!("{repo}:{}", l.artifact.tag))
                        .cloned()
                })
                .unwrap_or_else(|| "not tagged: part of it did not arrive".into())
        });
        plugins.push(PluginRow {
            package: l.path.display().to_string(),
            name: l.artifact.name.clone(),
            version: l.artifact.version.clone(),
            reference: format!("oci://{repo}:{}", l.artifact.tag),
            digest: l.artifact.manifest_digest.to_string(),
            provenance: l.prov.as_ref().map(|p| p.display().to_string()),
            state: if tagged { "pushed" } else { "failed" },
            message,
        });
    }
    Ok(PushReport {
        complete: plugins.iter().all(|p| p.state == "pushed"),
        plugins,
        skipped,
    })
}

/// `oci://REGISTRY[/PATH]` as the repository plugins go under.
struct Base {
    registry: String,
    path: String,
}

impl Base {
    fn child(&self, name: &str) -> Repository {
        if self.path.is_empty() {
            Repository::new(&self.registry, name)
        } else {
            Repository::new(&self.registry, format!("{}/{name}", self.path))
        }
    }
}

fn target_base(to: &str) -> Result<Base, String> {
    let rest = to.strip_prefix("oci://").ok_or_else(|| {
        format!("{to}: the target is oci://REGISTRY[/PATH], as `helm plugin install` takes it")
    })?;
    let rest = rest.trim_end_matches('/');
    let (registry, path) = rest.split_once('/').unwrap_or((rest, ""));
    let bad = |why: &str| format!("{to}: {why}; the target is oci://REGISTRY[/PATH]");
    if registry.is_empty() {
        return Err(bad("no registry"));
    }
    if path.contains([':', '@']) || registry.contains('@') {
        return Err(bad(
            "no tag or digest here: each plugin is tagged with its version",
        ));
    }
    let valid_path = path.split('/').all(|segment| {
        !segment.is_empty()
            && segment.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
    });
    if !path.is_empty() && !valid_path {
        return Err(bad(
            "a repository path is lowercase letters, digits, `.`, `_` and `-`, in `/`-separated parts",
        ));
    }
    Ok(Base {
        registry: registry.to_owned(),
        path: path.to_owned(),
    })
}

fn package_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "tgz") {
            out.push(path);
        }
    }
    Ok(out)
}

/// Why a package cannot be pushed.
enum Refusal {
    Read(String),
    Artifact(PluginArtifactError),
    Unsigned,
}

impl Refusal {
    fn at(self, path: &Path) -> String {
        let path = path.display();
        match self {
            Refusal::Read(e) => format!("{path}: {e}"),
            Refusal::Artifact(e) => format!("{path}: {e}"),
            Refusal::Unsigned => format!(
                "{path}: no {path}.prov beside it, so `helm plugin install` (which verifies by \
                 default) would refuse it; sign it (scripts/package.sh with PURSER_SIGN_KEY), \
                 or pass --allow-unsigned"
            ),
        }
    }
}

fn load(path: &Path, allow_unsigned: bool) -> Result<Loaded, Refusal> {
    let package = std::fs::read(path).map_err(|e| Refusal::Read(e.to_string()))?;
    let mut prov_path = path.as_os_str().to_owned();
    prov_path.push(".prov");
    let prov_path = PathBuf::from(prov_path);
    let provenance = match std::fs::read(&prov_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Refusal::Read(format!("{}: {e}", prov_path.display()))),
    };
    let artifact =
        PluginArtifact::build(&package, provenance.as_deref()).map_err(Refusal::Artifact)?;
    if provenance.is_none() && !allow_unsigned {
        return Err(Refusal::Unsigned);
    }
    Ok(Loaded {
        path: path.to_owned(),
        prov: provenance.is_some().then_some(prov_path),
        artifact,
        package,
        provenance,
    })
}

impl PushReport {
    /// The report as a user reads it: a line per plugin, the skipped packages, and how to
    /// install what was pushed.
    pub fn text(&self, plain_http: bool) -> String {
        let mut out = String::new();
        for p in &self.plugins {
            match p.state {
                "pushed" => out.push_str(&format!(
                    "pushed  {} {}  {}  {}{}\n",
                    p.name,
                    p.version,
                    p.reference,
                    p.digest,
                    if p.provenance.is_some() {
                        "  (with provenance)"
                    } else {
                        "  (unsigned)"
                    }
                )),
                _ => out.push_str(&format!(
                    "FAILED  {} {}  {}: {}\n",
                    p.name,
                    p.version,
                    p.reference,
                    p.message.as_deref().unwrap_or("unknown")
                )),
            }
        }
        for s in &self.skipped {
            out.push_str(&format!("skipped {}: {}\n", s.package, s.reason));
        }
        let pushed: Vec<_> = self
            .plugins
            .iter()
            .filter(|p| p.state == "pushed")
            .collect();
        if !pushed.is_empty() {
            out.push_str("\nInstall with:\n");
            for p in pushed {
                out.push_str(&format!(
                    "  helm plugin install {}{}{}\n",
                    p.reference,
                    if plain_http { " --plain-http" } else { "" },
                    if p.provenance.is_some() {
                        " --keyring KEYRING.gpg"
                    } else {
                        " --verify=false"
                    }
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let b = target_base("oci://127.0.0.1:5000/team/plugins/").unwrap();
        assert_eq!(
            b.child("images").to_string(),
            "127.0.0.1:5000/team/plugins/images"
        );
        let b = target_base("oci://registry.example").unwrap();
        assert_eq!(b.child("mirror").to_string(), "registry.example/mirror");
        for bad in [
            "127.0.0.1:5000/x",
            "oci://",
            "oci://host/x:1.0",
            "oci://host/x@sha256:00",
            "oci://host/Upper",
            "oci://host//x",
        ] {
            assert!(target_base(bad).is_err(), "{bad}");
        }
    }
}
