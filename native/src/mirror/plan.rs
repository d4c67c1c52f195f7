//! `helm mirror plan CHART... --to REGISTRY[/PREFIX] --shards K --out FILE`: the first of
//! the three steps of a copy spread over many machines (`plan`, `execute`, `commit`).
//!
//! [`PlanArgs`] takes every flag `copy` takes ([`CopySpec`]); [`run`] does what `copy` does
//! up to moving anything — renders the charts (the only step that needs Helm), checks
//! signatures and scans at the source, and reads every manifest there (the only step that
//! does: executors and the commit send no manifest GET to a source) — then splits the blobs
//! into K shares balanced by bytes and writes a [`PlanFile`] (`--push REF` also stores it as
//! an OCI artifact). [`command`] prints what was planned.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use purser::reference::Reference;
use serde::Serialize;

use super::cluster;
use super::copy::{CopySpec, gather};
use super::copy_print::{print_copy, print_plan};
use super::jobs::JobsOptions;
use super::lock_file::{write_atomically, write_plan_lock};
use super::plan_file::{self, API_VERSION, KIND, PlanFile, SignSpec, Transport};
use super::transfer::{Prepared, prepare};

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub spec: CopySpec,
    /// Split the blobs into this many shares of about equal bytes, one per executor (an
    /// Indexed Job's completions): `helm mirror execute PLAN --shard I` runs share I.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub shards: u32,
    /// Write the plan to this file.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["push", "engine"])]
    pub out: Option<PathBuf>,
    /// Also push the plan as an OCI artifact to REF (REGISTRY/REPO:TAG) and print it pinned by
    /// digest, for `execute` and `commit` to read there (plans over a ConfigMap's 1 MiB).
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Print what was planned as JSON on stdout (with --engine kube: the report).
    #[arg(long)]
    pub json: bool,
    /// Also run the plan: `kube` applies the Jobs `helm mirror jobs` prints to the current
    /// kube context (Helm's --kube-context, -n), follows them with a line per share,
    /// resumes the commit Job and reports as `copy` does.
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub engine: Option<Engine>,
    /// With --engine: write the images-lock of the copy here (digests at the target), as
    /// `copy -o` does.
    #[arg(short, long, value_name = "FILE", requires = "engine")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub jobs: JobsOptions,
}

/// Where a plan runs once written.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Engine {
    /// Kubernetes: an Indexed Job for the shares, then a commit Job.
    Kube,
}

/// What `plan` wrote.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    /// The plan file's SHA-256.
    pub digest: purser::digest::Digest,
    pub size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Where `--push` put it, pinned by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<String>,
    /// Each share's blobs and bytes.
    pub shares: Vec<ShareSize>,
    /// Every image planned, present, missing or refused; every chart.
    pub report: super::copy_report::CopyReport,
    /// Requests sent while planning, to the sources and to the target.
    pub requests: super::copy_report::Requests,
}

#[derive(Serialize)]
pub struct ShareSize {
    pub blobs: usize,
    pub bytes: u64,
}

/// Writes the plan; returns what was planned and the plan as `execute` reads it.
pub async fn run(args: &PlanArgs) -> Result<(Planned, plan_file::Loaded), String> {
    let spec = &args.spec;
    for (asked, flag, instead) in [
        (
            spec.patch,
            "--patch",
            "helm mirror patch --lock LOCK --to …",
        ),
        (spec.sbom, "--sbom", "helm mirror copy --lock LOCK --sbom …"),
    ] {
        if asked {
            return Err(format!(
                "{flag} works on the images once they are at the target, which is after the \
                 commit: give `helm mirror commit PLAN -o LOCK`, then run `{instead}` on that \
                 lock"
            ));
        }
    }
    let push = args
        .push
        .as_deref()
        .map(|r| Reference::parse(r).map_err(|e| format!("--push {r:?}: {}", e.reason())))
        .transpose()?;
    let gathered = gather(spec, false, args.json).await?;
    let Prepared {
        mut report,
        plan,
        local,
    } = prepare(
        gathered.source.clone(),
        &gathered.target_client,
        gathered.job(),
        &gathered.options.plan,
    )
    .await;
    gathered.apply(&mut report);
    // Request counts vary from run to run (tokens): they go in the summary, not the plan,
    // whose bytes depend on the sources only.
    let requests = std::mem::take(&mut report.requests);
    let mut lock = gathered.loaded.lock.clone();
    // When the lock was made is when the commit writes it: the plan keeps no clock time.
    lock.metadata.generated_at = String::new();
    if let Some(gated) = &gathered.gated {
        crate::scan::record(&mut lock, &gated.scanned);
    }
    let shares = plan.shares(args.shards as usize);
    let file = PlanFile {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        to: spec.place.to.clone(),
        transport: Transport::of(&spec.registry),
        allow_missing: spec.allow_missing,
        sign: spec.sign.sign_key.clone().map(|key| SignSpec {
            key,
            format: spec.sign.signature_format,
            recursive: spec.sign.sign_recursive,
        }),
        shares: shares
            .iter()
            .map(|s| s.blobs.iter().map(|b| b.digest.clone()).collect())
            .collect(),
        local: local
            .into_iter()
            .map(|(digest, bytes)| (digest, bytes.to_vec()))
            .collect(),
        report,
        lock,
        plan,
    };
    let bytes = file.to_bytes();
    let digest = purser::digest::Digest::sha256(&bytes);
    if let Some(path) = &args.out {
        write_atomically(path, &String::from_utf8_lossy(&bytes))?;
    }
    let size = bytes.len();
    let pushed = match &push {
        Some(target) => Some(
            plan_file::push(target, bytes.clone(), &spec.registry)
                .await?
                .canonical(),
        ),
        None => None,
    };
    let planned = Planned {
        digest: digest.clone(),
        size,
        file: args.out.clone(),
        pushed: pushed.clone(),
        shares: shares
            .iter()
            .map(|s| ShareSize {
                blobs: s.blobs.len(),
                bytes: s.blobs.iter().map(|b| b.size).sum(),
            })
            .collect(),
        report: file.report.clone(),
        requests,
    };
    let loaded = plan_file::Loaded {
        file,
        digest,
        bytes,
        from_registry: pushed.is_some(),
    };
    Ok((planned, loaded))
}

/// `helm mirror plan`: the plan written, then what it holds; exit 1 when images it should
/// hold are missing or failed at the source (the plan is written all the same, and the
/// commit reports them).
pub async fn command(args: PlanArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let (planned, loaded) = run(&args).await?;
    if args.engine.is_some() {
        if !json {
            print_plan(&planned.report);
        }
        // The pods read the plan where it was pushed, else from the ConfigMap.
        let name = planned
            .pushed
            .clone()
            .or_else(|| planned.file.as_ref().map(|f| f.display().to_string()))
            .unwrap_or_else(|| format!("plan {}", planned.digest));
        let report = cluster::run(&loaded, &name, &args.jobs).await?;
        if let Some(path) = &args.output {
            let target = args.spec.registry.target_client()?;
            write_plan_lock(path, &loaded.file, &report, &target, json).await?;
        }
        return print_copy((report, false), json);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&planned).expect("the plan summary serialises")
        );
    } else {
        print_plan(&planned.report);
        for (i, share) in planned.shares.iter().enumerate() {
            println!("share {i}: {} blobs, {} bytes", share.blobs, share.bytes);
        }
        if let Some(file) = &planned.file {
            println!(
                "plan {} ({} bytes) written to {}",
                planned.digest,
                planned.size,
                file.display()
            );
        }
        if let Some(pushed) = &planned.pushed {
            println!("plan pushed: {pushed}");
        }
    }
    Ok(if planned.report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
