//! `purser images`: the `helm images` analysis natively, on a chart on disk or on stdin.

use crate::render::ChartArgs;
use clap::Args;
use purser::images_command::{Environment, Options, RunError};
use purser::report::Format;
use std::io::{IsTerminal, Read};

#[derive(Args)]
pub struct ImagesArgs {
    /// Chart to analyse (a directory, a .tgz, repo/name, oci:// or https://); omit to read stdin.
    pub chart: Option<String>,
    /// Output format: table (default on a terminal), list (default when piped), json, yaml, lock, annotation.
    #[arg(short, long, value_parser = parse_format)]
    pub output: Option<Format>,
    /// Print every place IMAGE came from (a tag-less IMAGE matches every tag).
    #[arg(long, value_name = "IMAGE")]
    pub why: Option<String>,
    /// Include images of features and subcharts switched off by default: renders the chart
    /// again with them on (`X.enabled`, subchart conditions and tags), at most 64 more times.
    #[arg(long)]
    pub all: bool,
    /// Only typed image fields and declared images; no heuristics.
    #[arg(long)]
    pub certain_only: bool,
    /// Release name used to render.
    #[arg(long, default_value = "release")]
    pub release: String,
    #[command(flatten)]
    pub render: crate::render::RenderFlags,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("choose one of {}", Format::NAMES))
}

/// What the core needs to know about this process.
pub fn environment() -> Environment {
    Environment {
        stdin_is_terminal: std::io::stdin().is_terminal(),
        stdout_is_terminal: std::io::stdout().is_terminal(),
        now_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    }
}

pub fn run(args: ImagesArgs) -> Result<String, RunError> {
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
        return purser::images_command::run(&opts, &stdin, &env);
    };
    let chart = ChartArgs {
        chart,
        release: args.release,
        render: args.render,
    };
    let analysis = chart.analyse(args.all)?;
    purser::images_command::output(analysis.found, Some(&analysis.chart), &opts, &env)
}
