//! The corpus check: every real chart in ../shared/charts (when that folder is there) rendered
//! by real Helm with default values and piped into `helm images` (the WASM plugin).
//!
//! - Rendered: every `image` of a container, init or ephemeral container and every image
//!   volume in the output (read with a different YAML parser, serde-saphyr) must be found; no
//!   certain finding may be anything else.
//! - Declared: for charts whose Chart.yaml lists images in an annotation, `purser images --all`
//!   on a copy with every images annotation removed must still find each of them (from values).
//!
//! - Deep: every complete reference (a registry host and a tag or digest) written anywhere in
//!   the rendered output, in any string, outside CustomResourceDefinitions, must be found (as
//!   an image or an artifact) or be listed in [`DEEP_EXCLUSIONS`] with the reason.
//!
//! Runs with every other test (scripts/test.sh) where the corpus is there, and prints a
//! per-chart table; `scripts/corpus-check.sh` runs it alone, with the table shown.

use crate::support;

use purser::reference::Reference;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use support::{Helm, repo_root};

fn corpus() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/charts");
    dir.is_dir().then_some(dir)
}

fn canonical(text: &str) -> String {
    Reference::parse(text.trim())
        .map(|r| r.canonical())
        .unwrap_or_else(|e| format!("INVALID {text}: {e}"))
}

/// Image fields of pod specs and image volumes, wherever they sit.
fn truth(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for key in ["containers", "initContainers", "ephemeralContainers"] {
                if let Some(Value::Array(items)) = map.get(key) {
                    for c in items {
                        if let Some(Value::String(image)) = c.get("image") {
                            out.insert(canonical(image));
                        }
                    }
                }
            }
            if map.contains_key("containers") {
                if let Some(Value::Array(volumes)) = map.get("volumes") {
                    for v in volumes {
                        if let Some(Value::String(r)) =
                            v.get("image").and_then(|i| i.get("reference"))
                        {
                            out.insert(canonical(r));
                        }
                    }
                }
            }
            map.values().for_each(|v| truth(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| truth(v, out)),
        _ => {}
    }
}

/// Complete references in the corpus' rendered output that are deliberately not images:
/// (chart, canonical reference, why). None so far: every one the corpus writes is pulled.
const DEEP_EXCLUSIONS: &[(&str, &str, &str)] = &[];

/// Every complete reference in any string of a document: tokens of reference characters
/// that parse, name a registry host and carry a tag or a digest (URLs left out).
fn deep(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            let token_char = |c: char| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@')
            };
            for token in text.split(|c: char| !token_char(c)) {
                let token = token.trim_end_matches(['.', ':', '-']);
                if token.contains("://") || !token.contains('/') {
                    continue;
                }
                if let Ok(r) = Reference::parse(token) {
                    if r.has_explicit_registry() && (r.tag().is_some() || r.digest().is_some()) {
                        out.insert(r.canonical());
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| deep(v, out)),
        Value::Object(map) => map.values().for_each(|v| deep(v, out)),
        _ => {}
    }
}

fn documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.lines() {
        if line == "---" || line.starts_with("--- ") {
            docs.push(String::new());
        } else {
            let doc = docs.last_mut().unwrap();
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs
}

/// The rendered truth: (pod-spec and image-volume images, every complete reference outside CRDs).
fn rendered_truth(stream: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut out = BTreeSet::new();
    let mut complete = BTreeSet::new();
    let mut options = serde_saphyr::Options::default();
    options.budget = None;
    for doc in documents(stream) {
        if doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let value: Value = serde_saphyr::from_str_with_options(&doc, options.clone())
            .unwrap_or_else(|e| {
                panic!("serde-saphyr cannot read a rendered document ({e}):\n{doc}")
            });
        truth(&value, &mut out);
        if value.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
            deep(&value, &mut complete);
        }
    }
    (out, complete)
}

/// Images listed in images annotations of the chart and its vendored subcharts.
fn annotated(chart: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for file in chart_yamls(chart) {
        let value: Value = serde_saphyr::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        for key in ["images", "artifacthub.io/images", "helm.sh/images"] {
            if let Some(Value::String(text)) = value.get("annotations").and_then(|a| a.get(key)) {
                let list: Value = serde_saphyr::from_str(text).unwrap();
                for entry in list.as_array().into_iter().flatten() {
                    if let Some(Value::String(image)) = entry.get("image") {
                        out.insert(canonical(image));
                    }
                }
            }
        }
    }
    out
}

fn chart_yamls(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "Chart.yaml") {
                out.push(p);
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Removes every images annotation (a `key: |` block of more-indented lines) from Chart.yaml.
fn strip_annotations(chart: &Path) {
    for file in chart_yamls(chart) {
        let text = fs::read_to_string(&file).unwrap();
        let mut out = String::new();
        let mut skipping: Option<usize> = None;
        for line in text.lines() {
            let indent = line.len() - line.trim_start().len();
            if let Some(level) = skipping {
                if line.trim().is_empty() || indent > level {
                    continue;
                }
                skipping = None;
            }
            let key = line.trim_start();
            if [
                "images:",
                "artifacthub.io/images:",
                "helm.sh/images:",
                "\"helm.sh/images\":",
            ]
            .iter()
            .any(|k| key.starts_with(k))
            {
                skipping = Some(indent);
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        fs::write(&file, out).unwrap();
    }
}

struct Row {
    chart: String,
    rendered: usize,
    found: usize,
    likely: usize,
    missed: Vec<String>,
    extra: Vec<String>,
    deep: usize,
    deep_missed: Vec<String>,
    annotated: usize,
    annotated_missed: Vec<String>,
}

#[test]
fn corpus_check() {
    let Some(dir) = corpus() else {
        eprintln!("corpus check skipped: no ../shared/charts beside the repository");
        return;
    };
    let helm = Helm::with_plugin();
    let mut charts: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    charts.sort();
    assert!(
        charts.len() >= 30,
        "expected the 30 corpus charts in {}",
        dir.display()
    );
    let scratch = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().into_owned();
        let mut args = vec!["release", chart.to_str().unwrap()];
        args.extend(support::corpus_values(&name));
        let stream = helm.template(&args);
        let (truth, complete) = rendered_truth(&stream);
        let run = helm.images(&["-o", "json"], stream.as_bytes());
        run.assert_success();
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let images = doc["images"].as_array().unwrap();
        let all: BTreeSet<String> = images
            .iter()
            .map(|i| i["image"].as_str().unwrap().to_owned())
            .collect();
        let certain: BTreeSet<String> = images
            .iter()
            .filter(|i| i["confidence"] == "certain")
            .map(|i| i["image"].as_str().unwrap().to_owned())
            .collect();
        let list = helm.images(&["-o", "list"], stream.as_bytes());
        list.assert_success();
        assert_eq!(
            list.stdout.lines().collect::<BTreeSet<_>>(),
            all.iter().map(String::as_str).collect(),
            "{name}: -o list and -o json disagree"
        );

        let declared = annotated(chart);
        let mut annotated_missed = Vec::new();
        if !declared.is_empty() {
            let copy = scratch.path().join(&name);
            copy_dir(chart, &copy);
            strip_annotations(&copy);
            assert!(
                annotated(&copy).is_empty(),
                "{name}: annotations not stripped"
            );
            let out = helm
                .purser()
                .args(["images", "--all", "-o", "list", copy.to_str().unwrap()])
                .args(support::corpus_values(&name))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: purser images failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let found: BTreeSet<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            annotated_missed = declared.difference(&found).cloned().collect();
        }
        let excluded = |r: &String| DEEP_EXCLUSIONS.iter().any(|(c, e, _)| *c == name && e == r);
        rows.push(Row {
            deep: complete.len(),
            deep_missed: complete
                .iter()
                .filter(|r| !all.contains(*r) && !excluded(r))
                .cloned()
                .collect(),
            rendered: truth.len(),
            found: all.len(),
            likely: all.len() - certain.len(),
            missed: truth.difference(&all).cloned().collect(),
            extra: certain.difference(&truth).cloned().collect(),
            annotated: declared.len(),
            annotated_missed,
            chart: name,
        });
    }

    println!(
        "\n{:<26} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>9} {:>8}",
        "chart",
        "rendered",
        "found",
        "likely",
        "missed",
        "extra",
        "deep",
        "d.missed",
        "annotated",
        "a.missed"
    );
    for r in &rows {
        println!(
            "{:<26} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>9} {:>8}",
            r.chart,
            r.rendered,
            r.found,
            r.likely,
            r.missed.len(),
            r.extra.len(),
            r.deep,
            r.deep_missed.len(),
            r.annotated,
            r.annotated_missed.len()
        );
    }
    let sum = |f: fn(&Row) -> usize| rows.iter().map(f).sum::<usize>();
    println!(
        "{:<26} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>9} {:>8}",
        format!("total ({} charts)", rows.len()),
        sum(|r| r.rendered),
        sum(|r| r.found),
        sum(|r| r.likely),
        sum(|r| r.missed.len()),
        sum(|r| r.extra.len()),
        sum(|r| r.deep),
        sum(|r| r.deep_missed.len()),
        sum(|r| r.annotated),
        sum(|r| r.annotated_missed.len())
    );
    let problems: Vec<String> = rows
        .iter()
        .filter(|r| {
            !r.missed.is_empty()
                || !r.extra.is_empty()
                || !r.deep_missed.is_empty()
                || !r.annotated_missed.is_empty()
        })
        .map(|r| {
            format!(
                "{}: missed {:?}, extra certain {:?}, complete references neither found nor excluded {:?}, annotated but not found {:?}",
                r.chart, r.missed, r.extra, r.deep_missed, r.annotated_missed
            )
        })
        .collect();
    assert!(
        problems.is_empty(),
        "corpus check failed:\n{}",
        problems.join("\n")
    );
}
