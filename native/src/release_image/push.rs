//! `purser image push REF --binary linux/ARCH=FILE…`: what the user typed ([`PushArgs`]),
//! read into [`super::Inputs`], built, and pushed ([`run`], returning an [`ImageReport`]).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use purser::plan::{Descriptor, OCI_INDEX, OCI_MANIFEST, PlanBuilder, Repository};
use purser::reference::Reference;
use serde::Serialize;

use super::sbom::{self, Crate};
use super::{Inputs, PlatformInput, build, elf};
use crate::copy::{Executor, LocalBlobs};
use crate::mirror::RegistryArgs;
use crate::mirror::sbom::CYCLONEDX;
use crate::store::{Empty, RegistryStore, Store, attach_document};
use crate::trust::sign::{SignatureFormat, Signer};

#[derive(Args)]
pub struct PushArgs {
    /// Where the image goes: REGISTRY/REPOSITORY:TAG.
    #[arg(value_name = "REGISTRY/REPOSITORY:TAG")]
    pub reference: String,
    /// A static purser binary for a platform, linux/amd64 or linux/arm64 (repeat: one image
    /// index over all of them).
    #[arg(long = "binary", required = true, value_name = "linux/ARCH=FILE")]
    pub binaries: Vec<String>,
    /// `cargo metadata --format-version 1 --filter-platform TRIPLE` output for a platform: the
    /// crates linked into its binary, listed in its SBOM (one per --binary).
    #[arg(long = "cargo-metadata", value_name = "linux/ARCH=FILE")]
    pub metadata: Vec<String>,
    /// The CA certificates put at /etc/ssl/certs/ca-certificates.crt.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    pub ca_certificates: PathBuf,
    /// The image's version (org.opencontainers.image.version).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    pub version: String,
    /// The source commit (org.opencontainers.image.revision).
    #[arg(long)]
    pub revision: Option<String>,
    /// The source repository URL (org.opencontainers.image.source).
    #[arg(long)]
    pub source: Option<String>,
    /// Seconds since the epoch for every file time and `created` (default: $SOURCE_DATE_EPOCH,
    /// else 0).
    #[arg(long, value_name = "SECONDS")]
    pub created: Option<i64>,
    /// Sign the index and its manifests with this cosign key (COSIGN_PASSWORD opens an
    /// encrypted one).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// The signature format.
    #[arg(long, value_enum, default_value = "bundle")]
    pub signature_format: SignatureFormat,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What was pushed.
#[derive(Debug, Serialize)]
pub struct ImageReport {
    /// `REGISTRY/REPOSITORY:TAG@sha256:…`.
    pub reference: String,
    pub digest: String,
    pub platforms: Vec<PlatformRow>,
    /// The digests signed, the index and its manifests (none without --sign-key).
    pub signed: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PlatformRow {
    pub platform: String,
    pub digest: String,
    /// The SBOM referrer's manifest digest.
    pub sbom: String,
    /// Crates the SBOM lists.
    pub crates: usize,
}

impl ImageReport {
    pub fn text(&self) -> String {
        let mut out = format!("pushed {}\n", self.reference);
        for p in &self.platforms {
            out.push_str(&format!(
                "  {}: {} (SBOM {}, {} crates)\n",
                p.platform, p.digest, p.sbom, p.crates
            ));
        }
        for s in &self.signed {
            out.push_str(&format!("  signed: {s}\n"));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}

fn source_date_epoch() -> Result<i64, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("SOURCE_DATE_EPOCH={text}: not a number of seconds")),
        Err(_) => Ok(0),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `linux/ARCH=FILE` as (architecture, file).
fn platform_file(given: &str, flag: &str) -> Result<(String, PathBuf), String> {
    let (platform, file) = given
        .split_once('=')
        .ok_or_else(|| format!("{flag} {given}: give it as linux/ARCH=FILE"))?;
    match platform {
        "linux/amd64" | "linux/arm64" => Ok((platform[6..].to_owned(), PathBuf::from(file))),
        _ => Err(format!(
            "{flag} {given}: the platform is linux/amd64 or linux/arm64"
        )),
    }
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// The inputs the arguments name, each binary checked; warnings for what will not run.
fn inputs(args: &PushArgs) -> Result<(Inputs, Vec<String>), String> {
    let mut warnings = Vec::new();
    let mut metadata = std::collections::BTreeMap::new();
    for given in &args.metadata {
        let (arch, file) = platform_file(given, "--cargo-metadata")?;
        let text = read(&file, "--cargo-metadata")?;
        let value: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| format!("--cargo-metadata {}: not JSON: {e}", file.display()))?;
        let crates = sbom::linked_crates(&value, "purser-native")
            .map_err(|e| format!("--cargo-metadata {}: {e}", file.display()))?;
        metadata.insert(arch, crates);
    }
    let mut platforms: Vec<PlatformInput> = Vec::new();
    for given in &args.binaries {
        let (architecture, file) = platform_file(given, "--binary")?;
        if platforms.iter().any(|p| p.architecture == architecture) {
            return Err(format!("--binary linux/{architecture} is given twice"));
        }
        let binary = read(&file, "--binary")?;
        let found = elf::inspect(&binary).map_err(|e| format!("--binary {given}: {e}"))?;
        if found.architecture != architecture {
            return Err(format!(
                "--binary {given}: it is built for {}, not {architecture}",
                found.architecture
            ));
        }
        if found.dynamic {
            warnings.push(format!(
                "{}: dynamically linked; the image has no libc, so it will not run there \
                 (scripts/package.sh builds static ones)",
                file.display()
            ));
        }
        let crates: Vec<Crate> = match metadata.remove(&architecture) {
            Some(crates) => crates,
            None => {
                warnings.push(format!(
                    "linux/{architecture}: no --cargo-metadata, its SBOM lists no crates"
                ));
                Vec::new()
            }
        };
        platforms.push(PlatformInput {
            architecture,
            binary,
            crates,
        });
    }
    if let Some(arch) = metadata.keys().next() {
        return Err(format!(
            "--cargo-metadata linux/{arch}: no --binary for that platform"
        ));
    }
    Ok((
        Inputs {
            platforms,
            ca_bundle: read(&args.ca_certificates, "--ca-certificates")?,
            version: args.version.clone(),
            revision: args.revision.clone(),
            source: args.source.clone(),
            created: match args.created {
                Some(created) => created,
                None => source_date_epoch()?,
            },
        },
        warnings,
    ))
}

/// Builds and pushes the image; the tag is set last, once SBOMs and signatures are there.
pub async fn run(args: PushArgs) -> Result<ImageReport, String> {
    let reference = Reference::parse(&args.reference).map_err(|e| e.to_string())?;
    let tag = match (reference.tag(), reference.digest()) {
        (Some(tag), None) => tag.to_owned(),
        _ => {
            return Err(format!(
                "{}: name a tag and no digest (REGISTRY/REPOSITORY:TAG): the digest is the image's own",
                args.reference
            ));
        }
    };
    let (inputs, warnings) = inputs(&args)?;
    let signer = args
        .sign_key
        .as_ref()
        .map(|key| Signer::load(key, args.signature_format, true, now_unix()))
        .transpose()?;
    let image = build(&inputs).map_err(|e| format!("writing a layer: {e}"))?;
    let repo = Repository::new(reference.registry(), reference.repository());

    let mut builder = PlanBuilder::new();
    let located = |e: purser::plan::PlanError| format!("{repo}: {e}");
    builder
        .add_manifest(
            &repo,
            &repo,
            image.index.clone(),
            OCI_INDEX,
            Some(&image.index_digest),
        )
        .map_err(located)?;
    for p in &image.platforms {
        builder
            .add_manifest(
                &repo,
                &repo,
                p.manifest.clone(),
                OCI_MANIFEST,
                Some(&p.digest),
            )
            .map_err(located)?;
    }
    let plan = builder.build();
    let mut local = LocalBlobs::new();
    for (digest, bytes) in &image.blobs {
        local.insert(digest.clone(), Bytes::from(bytes.clone()));
    }
    let target = Arc::new(RegistryStore::target(args.registry.target_client()?));
    let execution = Executor {
        source: Arc::new(Empty),
        target: target.clone(),
        local: Arc::new(local),
        concurrency: args.registry.concurrency,
        attempts: args.registry.retries.max(1),
        on_blob: Arc::new(|_, _| {}),
        strict: true,
    }
    .run(&plan)
    .await;
    if let Some((what, why)) = execution.failures.iter().next() {
        return Err(format!(
            "pushing {repo}: {what}: {why} (nothing is tagged; push again to finish)"
        ));
    }

    let created = purser::lock::rfc3339(inputs.created);
    let mut platforms = Vec::new();
    for (p, given) in image.platforms.iter().zip(&inputs.platforms) {
        let subject = Descriptor::new(OCI_MANIFEST, p.digest.clone(), p.manifest.len() as u64);
        let annotations = serde_json::Map::from_iter([(
            purser::plan::annotation::CREATED.to_owned(),
            serde_json::Value::from(created.clone()),
        )]);
        let sbom = attach_document(
            target.as_ref(),
            &repo,
            &subject,
            CYCLONEDX,
            p.sbom.clone(),
            annotations,
        )
        .await
        .map_err(|e| {
            format!(
                "attaching the SBOM of {}: {e} (nothing is tagged)",
                p.platform
            )
        })?;
        platforms.push(PlatformRow {
            platform: p.platform.clone(),
            digest: p.digest.to_string(),
            sbom: sbom.to_string(),
            crates: given.crates.len(),
        });
    }
    let mut signed = Vec::new();
    if let Some(signer) = &signer {
        let done = signer
            .sign(target.as_ref(), &repo, &image.index_digest)
            .await
            .map_err(|e| {
                format!(
                    "signing {repo}@{}: {e} (nothing is tagged)",
                    image.index_digest
                )
            })?;
        signed.extend(done.into_iter().map(|s| s.digest.to_string()));
    }
    target
        .manifest_put(&repo, &tag, OCI_INDEX, Bytes::from(image.index.clone()))
        .await
        .map_err(|e| format!("tagging {repo}:{tag}: {e}"))?;
    Ok(ImageReport {
        reference: format!("{repo}:{tag}@{}", image.index_digest),
        digest: image.index_digest.to_string(),
        platforms,
        signed,
        warnings,
    })
}
