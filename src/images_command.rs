//! The `helm images` command: argument parsing ([`Options`]) and the whole run from stdin bytes
//! to stdout text ([`run_images`]).
//! Shared by the WebAssembly plugin and the native `purser images`, so both print the same.

use crate::chart::{self, Chart};
use crate::declared;
use crate::inventory::{Finding, Injected, Inventory, Selection};
use crate::manifests;
use crate::reference::Reference;
use crate::report::{self, ChartId, Format, Stamp};

/// Error of a `helm images` run: a message meant for the user, already naming the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

impl From<String> for RunError {
    fn from(s: String) -> Self {
        RunError(s)
    }
}

/// What the caller knows about the world (the core reads none of it itself).
/// What a stream or a chart names: images found, and containers whose image a webhook
/// injects at admission.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub findings: Vec<Finding>,
    pub injected: Vec<Injected>,
}

impl From<Vec<Finding>> for Found {
    fn from(findings: Vec<Finding>) -> Found {
        Found {
            findings,
            injected: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Environment {
    pub stdin_is_terminal: bool,
    pub stdout_is_terminal: bool,
    /// Seconds since the Unix epoch, for the lock's `generatedAt`.
    pub now_unix: i64,
}

pub const USAGE: &str = "\
List every container image a Helm chart pulls.

Usage:
  helm template RELEASE CHART [flags] | helm images [options]
  helm get manifest RELEASE | helm images [options]
  helm images [options] < chart.tgz

Reads a rendered manifest stream, or a packaged chart (.tgz), on stdin. From a rendered
stream it reports every image the manifests use; from a chart archive, every image its
values and annotations declare, in the chart and its subcharts.

Options:
  -o, --output FORMAT   table (default on a terminal), list (default when piped), json,
                        yaml, lock (an images-lock file), annotation (a helm.sh/images block)
      --why IMAGE       print every place IMAGE came from (a tag-less IMAGE matches every tag)
      --all             with a chart archive: include images of features and subcharts that
                        are switched off by default
      --certain-only    only typed image fields and declared images; no heuristics
  -h, --help            print this help

Confidence: `certain` for typed image fields (containers, image volumes, known operator
fields) and images the chart declares; `likely` for images found in container args and env,
ConfigMap data and Secret stringData (also JSON/YAML embedded there), other image-named fields
and image-shaped values. OCI artifacts a program pulls at run time (falcoctl refs) are marked
`artifact`. Containers written `image: auto` get their image injected at admission: they are
listed apart, never as an image.
";

/// Parsed `helm images` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub format: Option<Format>,
    pub why: Option<String>,
    pub all: bool,
    pub certain_only: bool,
    pub help: bool,
}

/// Parses `helm images` arguments (`-o json`, `-ojson`, `--output=json`, ...).
pub fn parse_args(args: &[String]) -> Result<Options, RunError> {
    let mut opts = Options {
        format: None,
        why: None,
        all: false,
        certain_only: false,
        help: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ if arg.starts_with("-o") && arg.len() > 2 && !arg.starts_with("--") => {
                ("-o", Some(arg[2..].to_owned()))
            }
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, RunError> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| RunError(format!("{name} needs a value")))
        };
        match flag {
            "-h" | "--help" => opts.help = true,
            "--all" => opts.all = true,
            "--certain-only" => opts.certain_only = true,
            "-o" | "--output" => {
                let v = value("--output")?;
                opts.format = Some(Format::parse(&v).ok_or_else(|| {
                    RunError(format!(
                        "unknown output format {v:?}: choose one of {}",
                        Format::NAMES
                    ))
                })?);
            }
            "--why" => opts.why = Some(value("--why")?),
            other if other.starts_with('-') => {
                return Err(RunError(format!(
                    "unknown flag {other:?}; helm images takes -o/--output, --why, --all, --certain-only, -h/--help"
                )));
            }
            other => {
                return Err(RunError(format!(
                    "unexpected argument {other:?}: helm images reads stdin. Pipe a rendered chart into it \
                     (helm template RELEASE {other} | helm images), or run `purser images {other}` to render and \
                     read a chart on disk in one go"
                )));
            }
        }
    }
    Ok(opts)
}

/// What stdin held.
pub enum Input<'a> {
    Stream(&'a str),
    Chart(Box<Chart>),
}

/// Tells a chart archive from a manifest stream and reads it.
pub fn read_input(stdin: &[u8]) -> Result<Input<'_>, RunError> {
    if chart::is_gzip(stdin) || chart::looks_like_tar(stdin) {
        let chart = chart::load_archive(stdin, &chart::Limits::default())
            .map_err(|e| RunError(format!("reading the chart archive on stdin: {e}")))?;
        return Ok(Input::Chart(Box::new(chart)));
    }
    match std::str::from_utf8(stdin) {
        Ok(text) => Ok(Input::Stream(text)),
        Err(e) => Err(RunError(format!(
            "stdin is neither a chart archive (.tgz) nor UTF-8 text (invalid byte at offset {}): pipe the output of \
             `helm template` or a packaged chart into helm images",
            e.valid_up_to()
        ))),
    }
}

/// Findings of a rendered stream, and the chart it names (from `# Source:` and the
/// `helm.sh/chart` label).
pub fn stream_findings(stream: &str) -> Result<(Found, Option<ChartId>), RunError> {
    let scan = manifests::scan(stream).map_err(|e| RunError(e.to_string()))?;
    let found = Found {
        findings: scan.findings,
        injected: scan.injected,
    };
    Ok((found, chart_of_stream(stream)))
}

pub fn chart_findings(chart: &Chart) -> Result<(Vec<Finding>, ChartId), RunError> {
    let findings = declared::scan(chart).map_err(|e| RunError(e.to_string()))?;
    let id = ChartId {
        name: chart.metadata.name.clone(),
        version: chart.metadata.version.clone(),
        app_version: chart.metadata.app_version.clone(),
        ..ChartId::default()
    };
    Ok((findings, id))
}

/// Turns findings into the text `helm images` prints.
pub fn output(
    found: Found,
    chart: Option<&ChartId>,
    opts: &Options,
    env: &Environment,
) -> Result<String, RunError> {
    let selection = Selection {
        all: opts.all,
        certain_only: opts.certain_only,
    };
    let inventory = Inventory::build(found.findings, selection).with_injected(found.injected);
    let format = opts.format.unwrap_or(if env.stdout_is_terminal {
        Format::Table
    } else {
        Format::List
    });
    if let Some(wanted) = &opts.why {
        // `--why auto`: the placeholder a chart writes where an image is injected.
        let placeholders: Vec<Injected> = inventory
            .injected
            .iter()
            .filter(|i| i.written.trim() == wanted.trim())
            .cloned()
            .collect();
        if !placeholders.is_empty() {
            let mut out = String::new();
            report::injected(&placeholders, &mut out);
            return Ok(out.trim_start().to_owned());
        }
        let reference =
            Reference::parse(wanted.trim()).map_err(|e| RunError(format!("--why: {e}")))?;
        let matching = inventory.matching(&reference);
        if matching.is_empty() {
            return Err(RunError(format!(
                "--why {wanted}: no image found matches it ({} images found); run `helm images -o list` to see them{}{}",
                inventory.images.len(),
                if opts.all {
                    ""
                } else {
                    " (or add --all for images of switched-off features)"
                },
                match inventory.injected.len() {
                    0 => String::new(),
                    n => format!(
                        "; {n} container{} get{} the image injected at admission (the table lists them)",
                        if n == 1 { "" } else { "s" },
                        if n == 1 { "s" } else { "" }
                    ),
                }
            )));
        }
        if matches!(format, Format::Json | Format::Yaml) {
            let only = Inventory {
                images: matching.into_iter().cloned().collect(),
                injected: Vec::new(),
            };
            return Ok(report::render(
                &only,
                format,
                chart,
                &Stamp::at(env.now_unix),
            ));
        }
        return Ok(report::why(&matching));
    }
    Ok(report::render(
        &inventory,
        format,
        chart,
        &Stamp::at(env.now_unix),
    ))
}

/// Runs `helm images ARGS` on `stdin` and returns what goes to stdout.
pub fn run_images(args: &[String], stdin: &[u8], env: &Environment) -> Result<String, RunError> {
    run(&parse_args(args)?, stdin, env)
}

/// Runs `helm images` with parsed options on `stdin`.
pub fn run(opts: &Options, stdin: &[u8], env: &Environment) -> Result<String, RunError> {
    if opts.help || (stdin.is_empty() && env.stdin_is_terminal) {
        return Ok(USAGE.to_owned());
    }
    if stdin.trim_ascii_start().is_empty() {
        return Err(RunError(
            "nothing on stdin: pipe a rendered chart into helm images (helm template RELEASE CHART | helm images) \
             or give it a chart archive (helm images < chart.tgz)"
                .into(),
        ));
    }
    let (found, chart) = match read_input(stdin)? {
        Input::Stream(text) => stream_findings(text)?,
        Input::Chart(chart) => {
            let (findings, id) = chart_findings(&chart)?;
            (Found::from(findings), Some(id))
        }
    };
    output(found, chart.as_ref(), opts, env)
}

/// The top chart of a rendered stream: the first `# Source:` path's first component, with
/// the version from a `helm.sh/chart: NAME-VERSION` label when there is one.
fn chart_of_stream(stream: &str) -> Option<ChartId> {
    let name = manifests::split(stream)
        .iter()
        .find_map(|d| d.template)?
        .split('/')
        .next()?
        .to_owned();
    // `helm.sh/chart: NAME-VERSION`; a subchart named `NAME-x` (prometheus-node-exporter under
    // prometheus) shares the prefix, so the rest must read as a version.
    let label = format!("helm.sh/chart: {name}-");
    let version = stream.match_indices(&label).find_map(|(at, _)| {
        let rest = &stream[at + label.len()..];
        let value = rest[..rest.find(['\n', '\r', '"', '\'']).unwrap_or(rest.len())].trim();
        let digits = value.strip_prefix('v').unwrap_or(value);
        digits
            .starts_with(|c: char| c.is_ascii_digit())
            .then(|| value.to_owned())
    });
    Some(ChartId {
        name,
        version: version.unwrap_or_default(),
        ..ChartId::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags() {
        let o = parse_args(&args("-ojson --why nginx --all --certain-only")).unwrap();
        assert_eq!(o.format, Some(Format::Json));
        assert_eq!(o.why.as_deref(), Some("nginx"));
        assert!(o.all && o.certain_only);
        assert_eq!(
            parse_args(&args("--output=lock")).unwrap().format,
            Some(Format::Lock)
        );
        assert!(
            parse_args(&args("-o xml"))
                .unwrap_err()
                .0
                .contains("table, json")
        );
        assert!(
            parse_args(&args("--bogus"))
                .unwrap_err()
                .0
                .contains("unknown flag")
        );
        assert!(
            parse_args(&args("./chart"))
                .unwrap_err()
                .0
                .contains("purser images ./chart")
        );
    }

    #[test]
    fn usage_on_terminal_and_error_on_empty_pipe() {
        let tty = Environment {
            stdin_is_terminal: true,
            ..Default::default()
        };
        assert!(run_images(&[], b"", &tty).unwrap().contains("Usage:"));
        assert!(
            run_images(&[], b"  \n", &Environment::default())
                .unwrap_err()
                .0
                .contains("nothing on stdin")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        let err = run_images(&[], &[0xff, 0xfe, 0x00, 0x12], &Environment::default()).unwrap_err();
        assert!(err.0.contains("neither a chart archive"), "{err}");
    }

    #[test]
    fn chart_of_stream_reads_source_and_label() {
        let s = "---\n# Source: demo/templates/d.yaml\nkind: Deployment\nmetadata:\n  labels:\n    helm.sh/chart: demo-sidecar-0.4.0\n---\nkind: Service\nmetadata:\n  labels:\n    helm.sh/chart: demo-1.2.3\n";
        let id = chart_of_stream(s).unwrap();
        assert_eq!((id.name.as_str(), id.version.as_str()), ("demo", "1.2.3"));
    }
}
