//! A chart as the user names it, rendered through their Helm and read for what it declares:
//! the one analysis `purser images` and `helm mirror` both run.

use crate::{chart_source, helm};
use clap::Args;
use purser::images_command::Found;
use purser::images_command::RunError;
use purser::inventory::{Finding, Inventory, Selection};
use purser::lock::ChartId;
use purser::switches::Plan;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Mutex;

/// CHART plus the flags that say how to render it.
#[derive(Args)]
pub struct ChartArgs {
    /// A chart directory, a .tgz, repo/name, or an oci:// or https:// reference.
    pub chart: String,
    /// Release name used to render.
    #[arg(long, default_value = "release")]
    pub release: String,
    #[command(flatten)]
    pub render: RenderFlags,
}

/// What a chart pulls and which chart it is.
pub struct Analysis {
    pub found: Found,
    pub chart: ChartId,
}

impl Analysis {
    pub fn inventory(self, selection: Selection) -> (Inventory, ChartId) {
        let inventory =
            Inventory::build(self.found.findings, selection).with_injected(self.found.injected);
        (inventory, self.chart)
    }
}

impl ChartArgs {
    /// Renders the chart with `$HELM_BIN template` and reads it: rendered and declared findings.
    /// With `all`, renders it again with the switches that are off by default turned on
    /// (see `purser::switches`), and says on stderr how that went.
    pub fn analyse(&self, all: bool) -> Result<Analysis, RunError> {
        let mut template: Vec<OsString> = vec![
            "template".into(),
            self.release.clone().into(),
            self.chart.clone().into(),
        ];
        template.extend(self.render.template_flags());
        let rendered = helm::run(&template)?;
        let rendered = String::from_utf8(rendered)
            .map_err(|_| RunError("helm template printed bytes that are not UTF-8".into()))?;
        let (mut found, _) = purser::images_command::stream_findings(&rendered)?;
        let loaded = chart_source::load(&self.chart, &self.render.pull_flags())?;
        let (declared, mut chart) = purser::images_command::chart_findings(&loaded.chart)?;
        if all {
            let switches = purser::switches::list(&loaded.chart)?;
            let mut plan = Plan::new(switches, &found.findings, purser::switches::DEFAULT_CAP);
            self.render_switches(&mut plan)?;
            eprintln!("purser: {}", plan.summary());
            found.findings = plan.merge(found.findings, declared);
        } else {
            found.findings = purser::switches::merge_default(found.findings, declared);
        }
        chart.location = Some(self.chart.clone());
        chart.digest = loaded.digest;
        Ok(Analysis { found, chart })
    }

    /// Runs the plan's renders, two Helm processes at a time.
    fn render_switches(&self, plan: &mut Plan) -> Result<(), RunError> {
        if plan.switches().is_empty() {
            return Ok(());
        }
        // A chart Helm fetches (repo/name, oci://, https://) is fetched once, not per render.
        let local = Path::new(&self.chart).exists();
        let pulled = if local {
            None
        } else {
            let archive = chart_source::archive(&self.chart, &self.render.pull_flags())?;
            let dir = tempfile::tempdir()
                .map_err(|e| RunError(format!("creating a temporary directory: {e}")))?;
            let file = dir.path().join("chart.tgz");
            std::fs::write(&file, &archive.bytes)
                .map_err(|e| RunError(format!("writing {}: {e}", file.display())))?;
            Some((dir, file))
        };
        let mut base: Vec<OsString> = vec!["template".into(), self.release.clone().into()];
        match &pulled {
            Some((_, file)) => {
                base.push(file.into());
                base.extend(self.render.local_template_flags());
            }
            None => {
                base.push(self.chart.clone().into());
                base.extend(self.render.template_flags());
            }
        }
        loop {
            let batch = plan.next_batch();
            if batch.is_empty() {
                return Ok(());
            }
            let next = Mutex::new(batch.into_iter());
            let done = Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for _ in 0..HELM_AT_ONCE {
                    scope.spawn(|| {
                        loop {
                            let Some(request) = next.lock().expect("queue").next() else {
                                return;
                            };
                            let outcome = render_with(&base, &request.sets);
                            done.lock().expect("results").push((request.id, outcome));
                        }
                    });
                }
            });
            let mut done = done.into_inner().expect("results");
            done.sort_by_key(|(id, _)| *id);
            for (id, outcome) in done {
                plan.record(id, outcome?);
            }
        }
    }
}

/// Helm processes `--all` runs at once.
const HELM_AT_ONCE: usize = 2;

/// One render with `--set` for each of `sets`: its findings, or the first line of Helm's
/// error. A stream the scanner refuses is an error of the whole run, as for the default render.
fn render_with(
    base: &[OsString],
    sets: &[String],
) -> Result<Result<Vec<Finding>, String>, RunError> {
    let mut args = base.to_vec();
    for set in sets {
        args.push("--set".into());
        args.push(set.into());
    }
    let stdout = match helm::run(&args) {
        Ok(out) => out,
        // helm::run's message is "`helm ...` failed (status):\nHelm's stderr".
        Err(e) => {
            let stderr = e.split_once('\n').map_or(e.as_str(), |(_, rest)| rest);
            return Ok(Err(purser::switches::first_error_line(stderr)));
        }
    };
    let stream = String::from_utf8(stdout)
        .map_err(|_| RunError("helm template printed bytes that are not UTF-8".into()))?;
    let (found, _) = purser::images_command::stream_findings(&stream)?;
    Ok(Ok(found.findings))
}

/// Flags passed through to `helm template` (and `helm pull` where they apply), unchanged.
#[derive(Args, Clone, Default)]
pub struct RenderFlags {
    /// Values file (repeatable).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<OsString>,
    /// Set a value (repeatable), as for helm template.
    #[arg(long, value_name = "KEY=VAL")]
    pub set: Vec<OsString>,
    /// Set a string value (repeatable).
    #[arg(long = "set-string", value_name = "KEY=VAL")]
    pub set_string: Vec<OsString>,
    /// Set a value from a file (repeatable).
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    pub set_file: Vec<OsString>,
    /// Set a JSON value (repeatable).
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    pub set_json: Vec<OsString>,
    /// Set a literal string value (repeatable).
    #[arg(long = "set-literal", value_name = "KEY=VAL")]
    pub set_literal: Vec<OsString>,
    /// Chart version (constraints too) for repo/name and oci:// charts.
    #[arg(long)]
    pub version: Option<OsString>,
    /// Namespace to render into.
    #[arg(short = 'n', long)]
    pub namespace: Option<OsString>,
    /// Kubernetes version for Capabilities.KubeVersion.
    #[arg(long = "kube-version")]
    pub kube_version: Option<OsString>,
    /// Kubernetes API versions for Capabilities.APIVersions (repeatable).
    #[arg(long = "api-versions", value_name = "VERSION")]
    pub api_versions: Vec<OsString>,
    /// Chart repository URL, as for `helm template --repo`.
    #[arg(long)]
    pub repo: Option<OsString>,
    /// Use development versions too.
    #[arg(long)]
    pub devel: bool,
    /// Registry settings Helm needs to fetch an oci:// chart (set by `helm mirror` from its
    /// own --plain-http, --insecure-skip-tls-verify and --ca-file for the chart's host).
    #[arg(skip)]
    pub fetch: Vec<OsString>,
}

impl RenderFlags {
    pub fn pull_flags(&self) -> Vec<OsString> {
        let mut out = Vec::new();
        push_opt(&mut out, "--version", &self.version);
        push_opt(&mut out, "--repo", &self.repo);
        if self.devel {
            out.push("--devel".into());
        }
        out.extend(self.fetch.iter().cloned());
        out
    }

    pub fn template_flags(&self) -> Vec<OsString> {
        let mut out = self.pull_flags();
        out.extend(self.local_template_flags());
        out
    }

    /// The flags of `template_flags` that apply to a chart already on disk (no `--version`,
    /// `--repo`, `--devel` or registry settings).
    pub fn local_template_flags(&self) -> Vec<OsString> {
        let mut out = Vec::new();
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
