//! `helm mirror` (`purser mirror`): the table of commands — [`MirrorCommand`], one variant a
//! subcommand with its arguments, and [`run`], which hands each to its module. Each module
//! holds one command: its arguments (`…Args`), its work (`run`, returning a report) and its
//! printing, apart.
//!
//! - `lock CHART` writes an images-lock: per image the digest its reference names (an index
//!   where there is one) and each platform's manifest digest. Written only when every image
//!   resolved (or with `--allow-missing`, the failures marked), and atomically. Likely images
//!   the registry says do not exist are set aside in the lock's `unresolved` list
//!   ([`crate::confirm`]) ([`lock`]).
//! - `verify CHART --lock FILE` sends one HEAD per image and reports drift; exit 1 on drift
//!   ([`verify`]).
//! - `status CHART --to REGISTRY[/PREFIX]` says, per image, whether the mirror has it
//!   ([`status`]).
//! - `copy CHART... --to REGISTRY[/PREFIX]` copies charts and images ([`copy`]).
//! - `plan CHART... --to ... --shards K --out PLAN`, `execute PLAN --shard I` and `commit
//!   PLAN` are `copy` spread over many machines: plan once, upload each share of the blobs
//!   anywhere, publish once ([`plan`], [`plan_file`], [`execute`], [`commit`]); `jobs PLAN`
//!   prints the Kubernetes Jobs that run it, and `plan … --engine kube` runs them ([`jobs`],
//!   [`cluster`]).
//! - `export CHART... -o bundle.tar`, `import BUNDLE --to ...` and `inspect BUNDLE` carry
//!   them across an air gap in an offline bundle ([`export`], [`import`], [`inspect`]).
//! - `verify-signatures CHART... --policy POLICY` checks signatures, copying nothing
//!   ([`verify_signatures`]).
//! - `scan CHART` (or `--lock FILE`) scans every platform of every image with Trivy, a gate
//!   with `--fail-on` ([`scan`]).
//! - `patch CHART` (or `--lock FILE`) fixes the OS-package findings of every platform with
//!   one added layer and publishes `TAG-patched` beside the original ([`patch`]).
//!
//! What several commands share: the flags ([`args`]), the charts read and rendered
//! ([`charts`]), the copy engine's run and its report ([`transfer`], [`copy_report`],
//! [`copy_print`]), lock files ([`lock_file`]), signatures ([`signatures`]) and bounded
//! concurrency ([`each`]).

mod args;
mod charts;
mod cluster;
mod commit;
mod copy;
mod copy_print;
mod copy_report;
mod each;
mod execute;
mod export;
mod import;
mod inspect;
mod jobs;
mod lock;
mod lock_file;
mod patch;
mod plan;
mod plan_file;
pub(crate) mod sbom;
mod scan;
mod scan_gate;
mod signatures;
mod status;
mod sync;
mod transfer;
mod verify;
mod verify_signatures;

use std::process::ExitCode;

use clap::Subcommand;

pub use args::{Common, PlaceArgs, RegistryArgs, SelectArgs};

#[derive(Subcommand)]
pub enum MirrorCommand {
    /// Resolve every image of a chart to digests and write an images-lock.
    Lock(lock::LockArgs),
    /// Re-resolve a chart's images and report drift from a lock (exit 1 on drift).
    Verify(verify::VerifyArgs),
    /// Show, per image, whether a mirror registry holds it with the same digest.
    Status(status::StatusArgs),
    /// Copy charts and every image they pull into a registry, byte-exact, each blob once.
    Copy(copy::CopyArgs),
    /// Copy a whole mirror set — a purser MirrorSet, a helmper.yaml, hauler manifests or a
    /// zarf.yaml — as one plan: every chart version in range, every image, each blob once.
    Sync(sync::SyncArgs),
    /// Plan a copy to run on many machines: read every manifest at the sources once, split
    /// the blobs into shares balanced by bytes, and write the plan (a file, or an OCI
    /// artifact) for `execute` and `commit`.
    Plan(plan::PlanArgs),
    /// Upload one share of a plan's blobs into the target (index from
    /// JOB_COMPLETION_INDEX), making nothing visible; exit 75 to retry, 3 to give up.
    Execute(execute::ExecuteArgs),
    /// Publish a plan whose shares ran: check every blob, put manifests, tags and referrers,
    /// the charts last; name what is incomplete (exit 1), lock and report as `copy`.
    Commit(commit::CommitArgs),
    /// Print the Kubernetes objects that run a plan: the plan's ConfigMap, an Indexed Job
    /// (one pod a share, per-index retries) and a suspended commit Job.
    Jobs(jobs::JobsArgs),
    /// Write charts, their images, signatures and lock into an offline bundle (an OCI image
    /// layout in a tar), straight from the registries.
    Export(export::ExportArgs),
    /// Push an offline bundle (purser's, or any OCI image layout in a tar) into a registry,
    /// every blob verified, nothing visible unless whole.
    Import(import::ImportArgs),
    /// List a bundle's charts, images, platforms, sizes, signatures and referrers, and
    /// whether it is complete; extract a chart from it.
    Inspect(inspect::InspectArgs),
    /// Check every image's and chart's cosign signatures (and chart archives' Helm
    /// provenance) against a signature policy, copying nothing (exit 1 if any is refused).
    VerifySignatures(verify_signatures::VerifySignaturesArgs),
    /// Scan every platform of every image with Trivy at its registry: a summary per image
    /// and platform, each report kept, and a gate (--fail-on; exit 1 over it).
    Scan(scan::ScanArgs),
    /// Fix the OS-package vulnerabilities Trivy finds in every platform of every image: one
    /// added layer of verified fixed packages, published as TAG-patched beside the original.
    Patch(patch::PatchArgs),
}

pub fn run(command: MirrorCommand) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        match command {
            MirrorCommand::Lock(args) => lock::command(args).await,
            MirrorCommand::Verify(args) => verify::command(args).await,
            MirrorCommand::Status(args) => status::command(args).await,
            MirrorCommand::Copy(args) => copy::command(args).await,
            MirrorCommand::Sync(args) => sync::command(args).await,
            MirrorCommand::Plan(args) => plan::command(args).await,
            MirrorCommand::Execute(args) => execute::command(args).await,
            MirrorCommand::Commit(args) => commit::command(args).await,
            MirrorCommand::Jobs(args) => jobs::command(args).await,
            MirrorCommand::Export(args) => export::command(args).await,
            MirrorCommand::Import(args) => import::command(args).await,
            MirrorCommand::Inspect(args) => inspect::run(args).await,
            MirrorCommand::VerifySignatures(args) => verify_signatures::command(args).await,
            MirrorCommand::Scan(args) => scan::command(args).await,
            MirrorCommand::Patch(args) => patch::command(args).await,
        }
    })
}
