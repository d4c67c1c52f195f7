//! purser: the native companion of the `helm images` plugin. `purser images` renders a chart
//! through the user's Helm and reads the chart itself, so one command reports rendered and
//! declared images together; with no chart it reads stdin exactly like `helm images`.

mod chart_source;
mod helm;

use clap::{Args, Parser, Subcommand};
use purser::cli::{Environment, Options, RunError};
use purser::report::Format;
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
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
    Images(ImagesArgs),
}

#[derive(Args)]
struct ImagesArgs {
    /// Chart to analyse; omit to read stdin.
    chart: Option<String>,
    /// Output format: table (default on a terminal), list (default when piped), json, yaml, lock, annotation.
    #[arg(short, long, value_parser = parse_format)]
    output: Option<Format>,
    /// Print every place IMAGE came from (a tag-less IMAGE matches every tag).
    #[arg(long, value_name = "IMAGE")]
    why: Option<String>,
    /// Include images of features and subcharts switched off by default.
    #[arg(long)]
    all: bool,
    /// Only typed image fields and declared images; no heuristics.
    #[arg(long)]
    certain_only: bool,
    /// Release name used to render.
    #[arg(long, default_value = "release")]
    release: String,
    #[command(flatten)]
    render: RenderFlags,
}

/// Flags passed through to `helm template` (and `helm pull` where they apply), unchanged.
#[derive(Args, Default)]
struct RenderFlags {
    /// Values file (repeatable).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    values: Vec<OsString>,
    #[arg(long, value_name = "KEY=VAL")]
    set: Vec<OsString>,
    #[arg(long = "set-string", value_name = "KEY=VAL")]
    set_string: Vec<OsString>,
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    set_file: Vec<OsString>,
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    set_json: Vec<OsString>,
    #[arg(long = "set-literal", value_name = "KEY=VAL")]
    set_literal: Vec<OsString>,
    /// Chart version (constraints too) for repo/name and oci:// charts.
    #[arg(long)]
    version: Option<OsString>,
    #[arg(short = 'n', long)]
    namespace: Option<OsString>,
    #[arg(long = "kube-version")]
    kube_version: Option<OsString>,
    #[arg(long = "api-versions", value_name = "VERSION")]
    api_versions: Vec<OsString>,
    /// Chart repository URL, as for `helm template --repo`.
    #[arg(long)]
    repo: Option<OsString>,
    /// Use development versions too.
    #[arg(long)]
    devel: bool,
}

impl RenderFlags {
    fn pull_flags(&self) -> Vec<OsString> {
        let mut out = Vec::new();
        push_opt(&mut out, "--version", &self.version);
        push_opt(&mut out, "--repo", &self.repo);
        if self.devel {
            out.push("--devel".into());
        }
        out
    }

    fn template_flags(&self) -> Vec<OsString> {
        let mut out = self.pull_flags();
        for (flag, values) in [
            ("--values", &self.values),
            ("--set", &self.set),
            ("--set-string", &self.set_string),
            ("--set-file", &self.set_file),
            ("--set-json", &self.set_json),
            ("--set-literal", &self.set_literal),
            ("--api-versions", &self.api_versions),
        ] {
            for v in values {
                out.push(flag.into());
                out.push(v.clone());
            }
        }
        push_opt(&mut out, "--namespace", &self.namespace);
        push_opt(&mut out, "--kube-version", &self.kube_version);
        out
    }
}

fn push_opt(out: &mut Vec<OsString>, flag: &str, value: &Option<OsString>) {
    if let Some(v) = value {
        out.push(flag.into());
        out.push(v.clone());
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("choose one of {}", Format::NAMES))
}

fn environment() -> Environment {
    Environment {
        stdin_is_terminal: std::io::stdin().is_terminal(),
        stdout_is_terminal: std::io::stdout().is_terminal(),
        now_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    }
}

fn images(args: ImagesArgs) -> Result<String, RunError> {
    let env = environment();
    let opts = Options {
        format: args.output,
        why: args.why,
        all: args.all,
        certain_only: args.certain_only,
        help: false,
    };
    let Some(chart) = args.chart else {
        let mut stdin = Vec::new();
        if !env.stdin_is_terminal {
            std::io::stdin()
                .read_to_end(&mut stdin)
                .map_err(|e| RunError(format!("reading stdin: {e}")))?;
        }
        return purser::cli::run(&opts, &stdin, &env);
    };
    let mut template: Vec<OsString> =
        vec!["template".into(), args.release.into(), chart.clone().into()];
    template.extend(args.render.template_flags());
    let rendered = helm::run(&template)?;
    let rendered = String::from_utf8(rendered)
        .map_err(|_| RunError("helm template printed bytes that are not UTF-8".into()))?;
    let (mut findings, _) = purser::cli::stream_findings(&rendered)?;
    let loaded = chart_source::load(&chart, &args.render.pull_flags())?;
    let (declared, id) = purser::cli::chart_findings(&loaded)?;
    findings.extend(declared);
    purser::cli::output(findings, Some(&id), &opts, &env)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Images(args) => images(args),
    };
    match result {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}
