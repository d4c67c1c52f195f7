//! `helm mirror execute PLAN --shard I`: one share of a plan `helm mirror plan` wrote — its
//! blobs, and nothing else — into the target, as one worker of many (an Indexed Job's pod
//! takes `I` from `JOB_COMPLETION_INDEX`).
//!
//! Each blob is checked at the target first (HEAD), mounted from another repository of the
//! same registry where one holds it, else streamed from its source and verified on the way.
//! Nothing becomes visible: no manifest, no tag — `helm mirror commit PLAN` does that once
//! every share is done. Running a share again is harmless and moves only what is missing.
//!
//! [`run`] returns an [`Executed`]; [`command`] prints it and exits with a code that tells a
//! failure running again may mend from one it will not ([`TRANSIENT`], [`PERMANENT`]), so a
//! Job's `podFailurePolicy` can retry the one and fail the index on the other.

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use purser::digest::Digest;
use serde::Serialize;

use super::args::RegistryArgs;
use super::plan_file::{self, LoadError};
use super::transfer::{TransferOptions, executor};
use crate::copy::{BlobMode, Execution};
use crate::progress::Progress;
use crate::store::RegistryStore;

/// Exit code: some blob failed in a way running again may mend (a broken connection, an
/// overloaded registry, the plan's registry out of reach): retry the index.
pub const TRANSIENT: u8 = 75;
/// Exit code: some blob failed for good (credentials refused, a blob gone at the source,
/// bytes that do not match their digest), or the plan or the share cannot be used: fail the
/// index.
pub const PERMANENT: u8 = 3;

#[derive(Args)]
#[command(
    after_help = "Exit codes: 0 the share is at the target; 75 a failure running \
again may mend (retry); 3 a failure it will not (credentials refused, a blob gone at the \
source, a digest mismatch, an unusable plan or share); anything else is unexpected."
)]
pub struct ExecuteArgs {
    /// The plan: the file `helm mirror plan --out` wrote, or the REF@sha256:… `plan --push`
    /// printed.
    #[arg(value_name = "PLAN")]
    pub plan: String,
    /// Which share to upload, from 0; default: $JOB_COMPLETION_INDEX, as an Indexed Job
    /// sets it.
    #[arg(long, value_name = "I")]
    pub shard: Option<usize>,
    /// Print what was done as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What one share did.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Executed {
    /// The plan's SHA-256.
    pub plan: Digest,
    pub shard: usize,
    pub shards: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
    pub uploaded_bytes: u64,
    /// Why each failed blob failed.
    pub failures: Vec<BlobFailure>,
}

#[derive(Serialize)]
pub struct BlobFailure {
    pub digest: Digest,
    pub transient: bool,
    pub message: String,
}

/// Why a share could not be run at all, and so how it exits.
pub struct Refused {
    pub message: String,
    pub transient: bool,
}

impl From<LoadError> for Refused {
    fn from(e: LoadError) -> Refused {
        Refused {
            transient: matches!(e, LoadError::Unreachable(_)),
            message: e.message().to_owned(),
        }
    }
}

impl From<String> for Refused {
    fn from(message: String) -> Refused {
        Refused {
            message,
            transient: false,
        }
    }
}

pub async fn run(mut args: ExecuteArgs) -> Result<Executed, Refused> {
    let shard = match args.shard {
        Some(i) => i,
        None => shard_from_env()?,
    };
    let plan_file::Loaded { file, digest, .. } =
        plan_file::load(&args.plan, &args.registry).await?;
    file.transport.apply(&mut args.registry);
    let shards = file.shares.len();
    let Some(blobs) = file.share(shard) else {
        return Err(Refused::from(format!(
            "{}: share {shard} asked for, but the plan has {shards} (0 to {})",
            args.plan,
            shards.saturating_sub(1)
        )));
    };
    let source = Arc::new(RegistryStore::source(args.registry.client()?));
    let target_client = args.registry.target_client()?;
    let bytes: u64 = blobs.iter().map(|b| b.size).sum();
    let bar = Arc::new(Progress::bytes(
        bytes,
        &format!("share {shard} of {shards}: {} blobs", blobs.len()),
        args.json,
    ));
    let options = TransferOptions::of_plan(&file, &args.registry, args.json);
    let local = file
        .local
        .iter()
        .map(|(d, b)| (d.clone(), Bytes::copy_from_slice(b)))
        .collect();
    let executor = executor(source, &target_client, local, &options, &bar);
    let mut run = Execution::default();
    executor.blobs(&blobs, BlobMode::Move, &mut run).await;
    bar.finish();
    Ok(Executed {
        plan: digest,
        shard,
        shards,
        blobs: blobs.len(),
        bytes,
        uploaded: run.uploaded,
        mounted: run.mounted,
        present: run.present,
        uploaded_bytes: run.uploaded_bytes,
        failures: failures(&run),
    })
}

/// `JOB_COMPLETION_INDEX`, when `--shard` is not given.
fn shard_from_env() -> Result<usize, Refused> {
    let value = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
        Refused::from(
            "which share? give --shard I, or run it where JOB_COMPLETION_INDEX is set (an \
             Indexed Job's pod)"
                .to_owned(),
        )
    })?;
    value.trim().parse().map_err(|_| {
        Refused::from(format!(
            "JOB_COMPLETION_INDEX is {value:?}, not a share number"
        ))
    })
}

/// Each failed blob of `run`, with whether running again may mend it.
fn failures(run: &Execution) -> Vec<BlobFailure> {
    run.failures
        .iter()
        .filter_map(|(key, message)| {
            let digest: Digest = key.strip_prefix("blob ")?.parse().ok()?;
            Some(BlobFailure {
                transient: run.transient.contains(&digest),
                digest,
                message: message.clone(),
            })
        })
        .collect()
}

/// `helm mirror execute`: the share, then one line of what it did (or JSON); the exit code
/// says whether to retry.
pub async fn command(args: ExecuteArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let executed = match run(args).await {
        Ok(executed) => executed,
        Err(refused) => {
            eprintln!("Error: {}", refused.message);
            return Ok(ExitCode::from(if refused.transient {
                TRANSIENT
            } else {
                PERMANENT
            }));
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&executed).expect("the share's report serialises")
        );
    } else {
        for f in &executed.failures {
            eprintln!(
                "error: blob {}: {}{}",
                f.digest,
                f.message,
                if f.transient {
                    " (may pass: retry)"
                } else {
                    ""
                }
            );
        }
        println!(
            "share {} of {} of plan {}: {} blobs, {} bytes: {} sent ({} bytes), {} mounted, {} \
             present, {} failed",
            executed.shard,
            executed.shards,
            executed.plan,
            executed.blobs,
            executed.bytes,
            executed.uploaded,
            executed.uploaded_bytes,
            executed.mounted,
            executed.present,
            executed.failures.len()
        );
    }
    Ok(if executed.failures.is_empty() {
        ExitCode::SUCCESS
    } else if executed.failures.iter().all(|f| f.transient) {
        ExitCode::from(TRANSIENT)
    } else {
        ExitCode::from(PERMANENT)
    })
}
