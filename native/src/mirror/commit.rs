//! `helm mirror commit PLAN`: the last step of a copy spread over many machines. Once every
//! share of the plan ran (`helm mirror execute PLAN --shard I`), it checks that each blob is
//! in every target repository that needs it (one HEAD each), then puts the manifests
//! (children first, then indexes, referrers after their subject), the referrer fallback
//! indexes and the tags — the charts' last, so a chart at the mirror means its images are
//! there. An image a blob of which is missing is not published and its row says which share
//! to run; everything whole is. Running it again is harmless.
//!
//! [`run`] returns the [`CopyReport`] `copy` gives (and `-o` writes the same lock);
//! [`command`] prints it as `copy` does, exit 1 unless complete.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::args::RegistryArgs;
use super::copy_print::print_copy;
use super::copy_report::CopyReport;
use super::lock_file::write_plan_lock;
use super::plan_file;
use super::signatures;
use super::transfer::{TransferOptions, executor, settle};
use crate::copy::{BlobMode, Execution};
use crate::images;
use crate::progress::Progress;
use crate::store::RegistryStore;
use crate::trust::sign::Signer;

#[derive(Args)]
pub struct CommitArgs {
    /// The plan: the file `helm mirror plan --out` wrote, or the REF@sha256:… `plan --push`
    /// printed.
    #[arg(value_name = "PLAN")]
    pub plan: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the images-lock of the copy here: digests at the target.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// For a plan that signs: the key is here, not at the path the plan names (a path on the
    /// planning machine; the commit Job mounts it from a Secret).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub async fn run(mut args: CommitArgs) -> Result<CopyReport, String> {
    let plan_file::Loaded { file, .. } = plan_file::load(&args.plan, &args.registry)
        .await
        .map_err(|e| e.message().to_owned())?;
    file.transport.apply(&mut args.registry);
    if args.sign_key.is_some() && file.sign.is_none() {
        return Err(format!(
            "--sign-key: the plan {} does not sign; plan with --sign-key to sign at the commit",
            args.plan
        ));
    }
    let signer = file
        .sign
        .as_ref()
        .map(|s| {
            Signer::load(
                args.sign_key.as_ref().unwrap_or(&s.key),
                s.format,
                s.recursive,
                images::environment().now_unix,
            )
        })
        .transpose()?;
    let source = Arc::new(RegistryStore::source(args.registry.client()?));
    let target_client = args.registry.target_client()?;
    let plan = &file.plan;
    let bar = Arc::new(Progress::bytes(
        file.report.bytes.unique,
        &format!("checking {} blobs", plan.blobs.len()),
        args.json,
    ));
    let options = TransferOptions::of_plan(&file, &args.registry, args.json);
    let executor = executor(source, &target_client, Default::default(), &options, &bar);
    let mut run = Execution::default();
    let missing = executor.blobs(&plan.blobs, BlobMode::Check, &mut run).await;
    bar.finish();
    for digest in &missing {
        if let (Some(share), Some(why)) = (
            file.share_of(digest),
            run.failures.get_mut(&format!("blob {digest}")),
        ) {
            why.push_str(&format!(
                " (it is in share {share}: run `helm mirror execute {} --shard {share}`)",
                args.plan
            ));
        }
    }
    executor.publish(plan, &missing, &mut run).await;
    let mut report = file.report.clone();
    settle(&mut report, plan, &run, file.allow_missing);
    report.requests.target = target_client.stats().requests();
    if let Some(signer) = &signer {
        let target = RegistryStore::target(target_client.clone());
        signatures::sign_report(signer, &target, &mut report, args.registry.concurrency).await;
    }
    if let Some(path) = &args.output {
        write_plan_lock(path, &file, &report, &target_client, args.json).await?;
    }
    Ok(report)
}

/// `helm mirror commit`: the run, then its report as `copy` prints it.
pub async fn command(args: CommitArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let report = run(args).await?;
    print_copy((report, false), json)
}
