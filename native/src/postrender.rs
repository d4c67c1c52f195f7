//! `purser post-render`: the `relocate` post-renderer (a Helm 4 postrenderer/v1 subprocess
//! plugin). Helm writes the rendered manifests, hooks included, to stdin and reads the
//! rewritten stream from stdout; `--post-renderer-args` arrive as this command's arguments.
//! The rewrite itself is the core's `relocate`: this only reads, writes and reports.
//!
//! Helm 4 does not show a post-renderer's stderr (only "plugin \"relocate\" exited with
//! error"), so the same command run by hand on `helm template` output is how to see why.

use clap::Args;
use purser::destination::Rules;
use purser::lock::Lock;
use purser::relocate::{self, Options, RelocateError};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct PostRenderArgs {
    /// Move every image to this mirror (REGISTRY[/PREFIX]), named as `helm mirror` names it:
    /// the prefix plus the image's repository path.
    #[arg(long, value_name = "REGISTRY[/PREFIX]")]
    pub to: Option<String>,
    /// With --to: put every image directly under the prefix (last path component only).
    #[arg(long, requires = "to")]
    pub flatten: bool,
    /// With --to: images from SOURCE (a registry, or registry/path) go to DEST instead
    /// (repeatable; the longest matching SOURCE wins).
    #[arg(long, value_name = "SOURCE=DEST", requires = "to")]
    pub map: Vec<String>,
    /// Pin every image to its digest from this images-lock (`repo:tag@digest`; the index
    /// digest where there is one). Works with or without --to.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Fail when a rendered image is not in the lock (or the lock has no digest for it).
    #[arg(long, requires = "lock")]
    pub enforce: bool,
    /// Which digest the lock pins: `original` (the image as upstream made it) or `patched`
    /// (the image `helm mirror patch` made, where the lock records one; the others keep
    /// their original digest).
    #[arg(long, value_enum, default_value = "original", requires = "lock")]
    pub prefer: Prefer,
    /// Only rewrite typed image fields (containers, image volumes, known operator fields);
    /// leave references in args, env and ConfigMaps as they are.
    #[arg(long)]
    pub typed_only: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefer {
    Original,
    Patched,
}

pub fn run(args: PostRenderArgs) -> Result<ExitCode, String> {
    if args.to.is_none() && args.lock.is_none() {
        return Err(
            "nothing to do: give --to REGISTRY[/PREFIX], --lock FILE, or both \
                    (with Helm: --post-renderer relocate --post-renderer-args --to=REGISTRY/PREFIX)"
                .into(),
        );
    }
    let rules = match &args.to {
        Some(to) => Some(Rules::from_flags(to, args.flatten, &args.map)?),
        None => None,
    };
    let lock = match &args.lock {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "--lock {}: {e} (a relative path is taken from the directory helm runs in)",
                    path.display()
                )
            })?;
            Some(Lock::parse(&text, &path.display().to_string())?)
        }
        None => None,
    };

    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err("purser post-render reads a manifest stream on stdin: \
                    helm template RELEASE CHART | purser post-render --to REGISTRY/PREFIX"
            .into());
    }
    let mut bytes = Vec::with_capacity(1 << 20);
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading stdin: {e}"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(
            "nothing on stdin: purser post-render reads the manifest stream Helm \
                    renders (helm template RELEASE CHART | purser post-render ...)"
                .into(),
        );
    }
    let stream = String::from_utf8(bytes).map_err(|e| {
        format!(
            "stdin is not UTF-8 text (invalid byte at offset {}): not a manifest stream",
            e.utf8_error().valid_up_to()
        )
    })?;

    let options = Options {
        rules: rules.as_ref(),
        typed_only: args.typed_only,
        lock: lock.as_ref(),
        enforce: args.enforce,
        prefer_patched: args.prefer == Prefer::Patched,
    };
    let relocated = relocate::relocate(&stream, &options).map_err(|e| match (&args.lock, &e) {
        (Some(path), RelocateError::NotPinned(_)) if args.enforce => {
            format!("{e}\n(lock: {})", path.display())
        }
        _ => e.to_string(),
    })?;
    for warning in &relocated.warnings {
        eprintln!("Warning: {warning}");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(relocated.text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing stdout: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
