//! purser: the native companion of the `helm images` plugin and the binary behind
//! `helm mirror`. `purser images` renders a chart through the user's Helm and reads the chart
//! itself; `purser mirror` resolves its images against registries.

use purser_native::{images, mirror, plugin_push, postrender, release_image};

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
    /// Publish purser's Helm 4 plugin packages (or any) to an OCI registry.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// purser's own container image (the one `helm mirror jobs --image` runs).
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Build the multi-platform image of static purser binaries, without a daemon, and push
    /// it: reproducible layers (CA certificates, the non-root user 65532, the binary at
    /// /usr/local/bin/purser), OCI labels, a CycloneDX SBOM referrer per platform, signed
    /// with --sign-key; the tag is set last. Exit 1 when anything failed (nothing tagged).
    Push(Box<release_image::push::PushArgs>),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Push plugin packages (dist/) where `helm plugin install oci://REGISTRY/PATH/NAME:VERSION`
    /// finds them: artifactType application/vnd.helm.plugin.v1+json, the package and its .prov
    /// as layers named NAME-VERSION.tgz[.prov]. Exit 1 when any push failed.
    Push(Box<plugin_push::PushArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Images(args) => images::run(*args)
            .map_err(|e| e.0)
            .and_then(|text| write_stdout(&text).map(|()| ExitCode::SUCCESS)),
        Command::Mirror(command) => mirror::run(*command),
        Command::PostRender(args) => postrender::run(args),
        Command::Plugin(PluginCommand::Push(args)) => plugin_push_command(*args),
        Command::Image(ImageCommand::Push(args)) => image_push_command(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}

fn image_push_command(args: release_image::push::PushArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let report = runtime()?.block_on(release_image::push::run(args))?;
    let text = if json {
        serde_json::to_string_pretty(&report).expect("a report serialises") + "\n"
    } else {
        report.text()
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}

fn write_stdout(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing stdout: {e}"))
}

fn plugin_push_command(args: plugin_push::PushArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let plain_http = !args.registry.plain_http.is_empty();
    let report = runtime()?.block_on(plugin_push::run(args))?;
    let text = if json {
        serde_json::to_string_pretty(&report).expect("a report serialises") + "\n"
    } else {
        report.text(plain_http)
    };
    write_stdout(&text)?;
    Ok(if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
