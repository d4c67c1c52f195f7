//! `helm mirror lock CHART`: an images-lock — per image the digest its reference names (an
//! index where there is one) and each platform's manifest digest.
//!
//! [`LockArgs`] is what the user typed; [`run`] resolves every image and returns a [`Locked`]
//! (the lock and what could not be resolved); [`write`] says what was set aside and writes
//! the lock (to a file, atomically, or stdout) when every image resolved or
//! `--allow-missing` says to.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use purser::inventory::Confidence;
use purser::lock::{Lock, PlatformDigest, UnresolvedImage};
use purser::reference::Reference;
use purser::report::Stamp;

use super::args::Common;
use super::each::each;
use super::lock_file::write_atomically;
use crate::confirm;
use crate::progress::Progress;
use crate::registry::{self, RegistryError, Resolved};

#[derive(Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub common: Common,
    /// Keep only these platforms' digests (os/arch[/variant], repeatable), e.g. linux/amd64.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    /// Write the lock here instead of stdout (atomically: a complete file or none).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the lock even when images cannot be resolved, marking them `missing`.
    #[arg(long)]
    pub allow_missing: bool,
}

/// What resolving a chart's images gave: the lock (likely images the registry says do not
/// exist moved to its `unresolved` list, failures marked `missing`) and the failures.
pub struct Locked {
    pub lock: Lock,
    pub failures: Vec<String>,
}

/// `helm mirror lock`: resolve, then write.
pub async fn command(mut args: LockArgs) -> Result<ExitCode, String> {
    let locked = run(&mut args).await?;
    write(&args, locked)
}

/// Resolves every image of the chart (with progress on stderr) into a [`Locked`].
pub async fn run(args: &mut LockArgs) -> Result<Locked, String> {
    let (inventory, chart) = args.common.inventory()?;
    let client = args.common.registry.client()?;
    let refs: Vec<(Reference, Confidence)> = inventory
        .images
        .iter()
        .map(|i| (i.reference.clone(), i.confidence))
        .collect();
    let progress = Arc::new(Progress::new(refs.len(), "resolving", false));
    let results = {
        let client = client.clone();
        let progress = progress.clone();
        each(
            refs,
            args.common.registry.concurrency,
            move |(r, confidence)| {
                let client = client.clone();
                let progress = progress.clone();
                async move {
                    let result = client.resolve(&r).await;
                    let likely = confidence == Confidence::Likely;
                    match &result {
                        Ok(resolved) => progress.done(&format!(
                            "resolved {}{} {} ({} platform{})",
                            if likely { "likely " } else { "" },
                            r.canonical(),
                            resolved.digest,
                            resolved.platforms.len(),
                            if resolved.platforms.len() == 1 {
                                ""
                            } else {
                                "s"
                            }
                        )),
                        Err(e) if likely && confirm::absent(e) => {
                            progress.done(&format!("unresolved likely {}", r.canonical()))
                        }
                        Err(e) => progress.say(&format!("error: {e}")),
                    }
                    result
                }
            },
        )
        .await
    };
    progress.finish();

    let stamp = Stamp::at(crate::images::environment().now_unix);
    let mut lock = Lock::from_inventory(&inventory, Some(&chart), &stamp);
    let mut failures = Vec::new();
    let mut set_aside = Vec::new();
    for (index, (image, result)) in inventory.images.iter().zip(results).enumerate() {
        let entry = &mut lock.images[index];
        let result =
            result.and_then(|resolved| platforms(&image.reference, resolved, &args.platform));
        match (confirm::judge(image, &result), result) {
            (_, Ok((digest, digests))) => {
                entry.digest = Some(digest);
                entry.digests = digests;
                entry.confirmed = image.confidence == Confidence::Likely;
            }
            (confirm::Verdict::Unresolved(reason), Err(_)) => {
                set_aside.push(index);
                lock.unresolved
                    .push(UnresolvedImage::new(entry, image, reason));
            }
            (_, Err(e)) => {
                entry.missing = Some(e.to_string());
                failures.push(e.to_string());
            }
        }
    }
    for index in set_aside.into_iter().rev() {
        lock.images.remove(index);
    }
    Ok(Locked { lock, failures })
}

/// One stderr line per image set aside; then, unless images failed without
/// `--allow-missing` (an error, no lock), the lock to `--output` or stdout and its counts.
/// Exit 1 when any image is marked missing.
pub fn write(args: &LockArgs, locked: Locked) -> Result<ExitCode, String> {
    let Locked { lock, failures } = locked;
    for u in &lock.unresolved {
        eprintln!("{}", confirm::describe(&u.image, &u.reason, &u.found_at));
    }
    if !failures.is_empty() && !args.allow_missing {
        return Err(format!(
            "{} of {} images could not be resolved; no lock written (add --allow-missing to write it with those marked missing):\n  {}",
            failures.len(),
            lock.images.len(),
            failures.join("\n  ")
        ));
    }
    let text = lock.to_yaml();
    let confirmed = lock.images.iter().filter(|i| i.confirmed).count();
    let mut counts = Vec::new();
    if !failures.is_empty() {
        counts.push(format!("{} missing", failures.len()));
    }
    if confirmed > 0 {
        counts.push(format!("{confirmed} likely confirmed"));
    }
    if !lock.unresolved.is_empty() {
        counts.push(format!(
            "{} likely unresolved, left out",
            lock.unresolved.len()
        ));
    }
    let counts: String = counts.iter().map(|c| format!(", {c}")).collect();
    match &args.output {
        Some(path) => {
            write_atomically(path, &text)?;
            eprintln!(
                "wrote {} ({} images{counts})",
                path.display(),
                lock.images.len(),
            );
        }
        None => {
            print!("{text}");
            if !counts.is_empty() {
                eprintln!("locked {} images{counts}", lock.images.len());
            }
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(super) fn wanted(filter: &[String], platform: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            // `linux/arm` matches every arm variant; `linux/arm/v7` only v7.
            platform == f
                || platform
                    .strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// The lock digests of a resolved image, platforms filtered.
fn platforms(
    reference: &Reference,
    resolved: Resolved,
    filter: &[String],
) -> Result<(String, Vec<PlatformDigest>), RegistryError> {
    let digests: Vec<PlatformDigest> = resolved
        .platforms
        .iter()
        .map(|p| PlatformDigest::new(p.digest.to_string(), p.platform()))
        .filter(|p| wanted(filter, &p.arch))
        .collect();
    if digests.is_empty() && !filter.is_empty() && !resolved.platforms.is_empty() {
        let have: Vec<String> = resolved
            .platforms
            .iter()
            .map(registry::PlatformManifest::platform)
            .collect();
        return Err(RegistryError::message(format!(
            "{} has no manifest for {} (it has {})",
            reference.canonical(),
            filter.join(", "),
            if have.is_empty() {
                "none".into()
            } else {
                have.join(", ")
            }
        )));
    }
    Ok((resolved.digest.to_string(), digests))
}
