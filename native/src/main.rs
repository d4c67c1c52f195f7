//! purser: the native companion of the `helm images` plugin and the binary behind
//! `helm mirror`. `purser images` renders a chart through the user's Helm and reads the chart
//! itself; `purser mirror` resolves its images against registries.

use purser_native::{images, mirror, postrender};

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "purser",
    version,
    about = "Every container image a Helm chart pulls, carried where you need it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every image a chart pulls: rendered with your values, and declared by the chart.
    ///
    /// With CHART (a directory, a .tgz, repo/name, an oci:// or https:// reference) it runs
    /// `$HELM_BIN template` with the render flags given here and reads the chart's values and
    /// annotations too. Without CHART it reads a rendered stream or a chart archive on stdin,
    /// exactly like `helm images`.
    Images(Box<images::ImagesArgs>),
    /// A chart's images against their registries: lock, verify, status, copy, export, import,
    /// inspect (helm mirror).
    #[command(subcommand)]
    Mirror(Box<mirror::MirrorCommand>),
    /// Rewrite a manifest stream (stdin to stdout) to pull from a mirror, pinned to a lock:
    /// the `relocate` post-renderer.
    PostRender(postrender::PostRenderArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Images(args) => images::run(*args).map_err(|e| e.0).and_then(|text| {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("writing stdout: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Mirror(command) => mirror::run(*command),
        Command::PostRender(args) => postrender::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}
