//! purser's YAML reader (src/yaml.rs) against Helm's (go.yaml.in/yaml/v3, which Helm 4 reads
//! and re-writes manifests with): whatever Helm accepts, purser must accept with the same
//! meaning, and what Helm refuses purser must refuse.
//!
//! The texts: every document of every corpus chart in ../shared/charts (and the fixture
//! charts) as `helm template` prints it and as Helm 4 hands it to a post-renderer (captured by
//! a `tee` post-renderer plugin), and each of those documents changed by a small deterministic
//! mutator (re-indented block scalars, multi-line quoted scalars at a lower indentation than
//! their key as Helm writes them, flow collections, comments in odd places, CRLF, tabs,
//! `---` inside block scalars, anchors, aliases and merge keys...).
//!
//! Each text goes through both readers; a disagreement fails the test with the chart, the
//! document, the mutation, the path of the first differing value and both values.
//!
//! Known, deliberate leniency (counted and printed, not failed): a mapping that repeats a
//! key. go-yaml's decoder refuses it, but Helm reads manifests into nodes (kio) and
//! Kubernetes into JSON (sigs.k8s.io/yaml, last one wins), so Helm installs such charts;
//! purser keeps the last value as they do.
//!
//! Not compared: `!!binary` scalars (go-yaml decodes the base64; purser keeps the text, which
//! is what a manifest's scanner wants) and other tags that make go-yaml convert or refuse a
//! value (`!!int abc`); charts do not write them.
//!
//! Needs scripts/setup.sh: Helm 4 in .purser/bin/helm and the oracle in .purser/bin/yaml-oracle.

use crate::support;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use support::yaml::{
    capture_post_renderer, first_difference, oracle_read, purser_json, split_documents,
};
use support::{Helm, corpus_charts, repo_path};

/// Disagreements known and not yet fixed, by mutation name: each is skipped (and printed),
/// never silently. Empty: every class the test found is fixed.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[];

/// Hand-written texts for what charts rarely show (each also goes through the mutator).
const PROBES: &[&str] = &[
    // Helm 4's own shape (issue 8): a long single-quoted string continued below its key.
    "groups:\n  - name: general\n    rules:\n    - alert: Watchdog\n      annotations:\n        description: 'This is an alert meant to ensure that the entire alerting pipeline is functional.\n\n          This alert is always firing, therefore it should always be firing in Alertmanager\n\n          and always fire against a receiver.\n'\n        summary: An alert that should always be firing.\n      expr: vector(1)\n",
    "a:\n  b:\n    c: \"one\n two \\\n  three\n\"\n    d: x\n",
    "a:\n  - 'x\n'\n  - \"y\n  z\"\n",
    "a:\n  b: [1,\n2,\n  {c: 'd\n'}]\n  e: {f: g,\nh: i}\n",
    "a:\n  b: 'x\n---\n'\n",
    "a:\n  b: 'x\n...\n'\n",
    "a:\n  b: 'x\n# not a comment\n'\n",
    "'a\n b': c\n",
    // Scalars as go-yaml resolves them.
    "[yes, no, on, off, y, n, 0755, 08, 1_000, 0x1F, 0o17, 0b101, +1, -0, .5, 1e3, 1E-3, -.inf, .NaN, 2001-12-14, 2001-12-14t21:59:43.10-05:00, 123456789012345678901234567890, 9223372036854775808, -9223372036854775809, 0.1.2, 1:20, ~, null, Null, NULL, nULL, TRUE, tRue, '1', \"true\"]\n",
    "a: \"\\x41\\u263A\\t\\U0001F600\\/\\ \\_\\N\"\n",
    "a: !!str 123\nb: !!int '5'\nc: !!float 1\nd: !custom x\ne: !!str null\nf: !!bool \"true\"\n",
    "a: &x 1\nb: *x\nc: &m {k: 1, l: 2}\nd:\n  <<: *m\n  k: 3\ne:\n  <<: [*m, {k: 4, z: 5}]\nf:\n  k: 0\n  <<: {k: 9, y: 8}\n",
    "a: &x {k: 1}\nb:\n  <<: [{k: 2}, *x]\n",
    "a:\n  <<: 1\n",
    "a: 1\na: 2\n",
    "? [a, b]\n: c\n? x\n: y\n",
    "1: a\n2.5: b\ntrue: c\n~: d\n",
    "%YAML 1.2\n---\na: 1\n...\n---\nb: 2\n",
    "--- |\n  text\n--- >-\n  folded\n  text\n\n  more\n",
    "\u{feff}a: 1\n",
    "a:\n- b\n- c\nd:\n  - e\n",
    "a: |2\n    indented\n  less\nb: >+\n  keep\n\nc: |-\n  strip\n",
    "a: b # c\nd: 'e # f'\ng: h#i\nj: [k, # l\n  m]\n",
    "a:\tb\nc: d\t\n",
    "a:\n\tb: c\n",
    "a: 'it''s'\nb: \"say \\\"hi\\\"\"\nc: it's\n",
    "a: multi\n  line\n  plain\nb: -x\nc: :x\nd: x:y\n",
    "- - a\n  - b\n- c: d\n  e: f\n",
    "a: {b: c, d: [e, f], 'g': \"h\"}\n",
    "a: [b, c,]\nd: {e: f,}\n",
    "a: *undefined\n",
    "a: 'unterminated\n",
    "a: [b\n",
    "empty:\nnull_value: null\ntilde: ~\n",
    "",
    "# only a comment\n",
    "---\n",
    "--- \n---\na: 1\n",
    "a: \"x\r\n  y\"\r\n",
];

/// One text to read and where it came from.
struct Case {
    chart: String,
    /// "rendered" or "post-render"
    stream: &'static str,
    document: usize,
    /// "as rendered" or the mutation's name
    mutation: &'static str,
    text: String,
}

#[test]
fn purser_reads_yaml_as_helm_does() {
    support::yaml::oracle_bin();
    let mut charts: Vec<PathBuf> = [
        "tests/fixtures/charts/shapes",
        "tests/fixtures/charts/operator",
    ]
    .iter()
    .map(|c| repo_path(c))
    .collect();
    match corpus_charts() {
        Some(corpus) => {
            assert!(
                corpus.len() >= 30,
                "expected the 30 corpus charts, found {}",
                corpus.len()
            );
            charts.extend(corpus);
        }
        None => eprintln!("no ../shared/charts here: only the fixture charts are compared"),
    }
    let helm = Helm::bare();
    let captured = capture_post_renderer(&helm);

    let mut cases = Vec::new();
    let mut originals = 0;
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().into_owned();
        let mut args = vec!["rel", chart.to_str().unwrap()];
        args.extend(support::corpus_values(&name));
        let rendered = helm.template(&args);
        let _ = fs::remove_file(&captured);
        args.extend(["--post-renderer", "capture"]);
        helm.template(&args);
        let handed = fs::read_to_string(&captured)
            .unwrap_or_else(|e| panic!("{name}: the capture post-renderer left nothing ({e})"));
        for (stream, text) in [("rendered", rendered), ("post-render", handed)] {
            for (document, doc) in split_documents(&text).into_iter().enumerate() {
                originals += 1;
                for (mutation, text) in mutations(&doc) {
                    cases.push(Case {
                        chart: name.clone(),
                        stream,
                        document,
                        mutation,
                        text,
                    });
                }
            }
        }
    }

    for (document, text) in PROBES.iter().enumerate() {
        for (mutation, text) in mutations(text) {
            cases.push(Case {
                chart: "probes".into(),
                stream: "hand-written",
                document,
                mutation,
                text,
            });
        }
    }

    let texts: Vec<String> = cases.iter().map(|c| c.text.clone()).collect();
    let oracle = oracle_read(&texts);
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lenient = Vec::new();
    let (mut agreed, mut both_refused) = (0, 0);
    for (case, helm_reads) in cases.iter().zip(oracle) {
        let purser_reads = purser_json(&case.text);
        let at = format!(
            "{} {} document {} ({})",
            case.chart, case.stream, case.document, case.mutation
        );
        let problem = match (&helm_reads, &purser_reads) {
            (Ok(h), Ok(p)) => first_difference(
                &serde_json::Value::Array(h.clone()),
                &serde_json::Value::Array(p.clone()),
            )
            .map(|(path, h, p)| {
                (
                    "different value",
                    format!("at {path}: Helm reads {h}, purser reads {p}"),
                )
            }),
            (Err(_), Err(_)) => {
                both_refused += 1;
                *refused.entry(case.mutation).or_default() += 1;
                None
            }
            (Err(h), Ok(_)) if h.contains("already defined") => {
                lenient.push(format!("{at}: {h}"));
                None
            }
            (Err(h), Ok(_)) => Some(("Helm refuses, purser accepts", format!("Helm: {h}"))),
            (Ok(_), Err(p)) => Some(("Helm accepts, purser refuses", format!("purser: {p}"))),
        };
        let Some((kind, detail)) = problem else {
            agreed += 1;
            continue;
        };
        if let Some((_, why)) = KNOWN_DISAGREEMENTS
            .iter()
            .find(|(m, _)| *m == case.mutation)
        {
            let _ = why;
            *skipped.entry(case.mutation).or_default() += 1;
            continue;
        }
        failures
            .entry(format!("{kind} [{}]", case.mutation))
            .or_default()
            .push(format!("{at}: {detail}\n--- text ---\n{}", case.text));
    }

    eprintln!(
        "{} charts, {originals} documents, {} texts read ({} mutated): {agreed} agree ({both_refused} refused by both), {} known leniency (repeated keys)",
        charts.len(),
        cases.len(),
        cases.len() - originals,
        lenient.len()
    );
    for (mutation, n) in &refused {
        eprintln!("  refused by both: {mutation}: {n}");
    }
    for line in lenient.iter().take(5) {
        eprintln!("  lenient: {line}");
    }
    for (mutation, n) in &skipped {
        eprintln!("  skipped (KNOWN_DISAGREEMENTS): {mutation}: {n}");
    }
    let mut report = String::new();
    for (class, cases) in &failures {
        report.push_str(&format!(
            "\n=== {class}: {} texts; first:\n{}\n",
            cases.len(),
            cases[0]
        ));
    }
    assert!(
        failures.is_empty(),
        "purser and Helm read YAML differently:{report}"
    );
    assert!(originals > 100, "only {originals} documents compared");
}

/// Each document as it is, and each mutation that applies to it.
fn mutations(doc: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![("as rendered", doc.to_owned())];
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let all = [
        ("quoted scalar continued at column 0", quoted_low as Mutator),
        ("double-quoted scalar continued lower", double_quoted_low),
        ("plain scalar continued lower", plain_low),
        ("block scalar re-indented", block_reindent),
        ("block scalar with --- and comment lines", block_markers),
        ("flow collections", flow),
        ("flow collection continued at column 0", flow_low),
        ("comments in odd places", comments),
        ("tabs in scalars", tabs),
        ("anchor and alias", anchor_alias),
        ("merge key", merge_key),
    ];
    for (name, mutate) in all {
        if let Some(text) = mutate(&lines) {
            out.push((name, text));
        }
    }
    out.push(("CRLF line ends", doc.replace('\n', "\r\n")));
    out
}

type Mutator = fn(&[&str]) -> Option<String>;

/// A line `INDENT[- ]KEY: VALUE` whose value is a simple plain scalar.
struct Entry {
    line: usize,
    /// indentation of the key
    indent: usize,
    /// text before the value (`  key: `)
    head: String,
    value: String,
}

fn entries(lines: &[&str]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut in_block: Option<usize> = None;
    for (n, line) in lines.iter().enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let indent = bare.len() - bare.trim_start().len();
        if let Some(block) = in_block {
            if bare.trim().is_empty() || indent > block {
                continue;
            }
            in_block = None;
        }
        let rest = bare.trim_start();
        let rest = rest.strip_prefix("- ").unwrap_or(rest);
        let key_indent = bare.len() - rest.len();
        let Some((key, value)) = rest.split_once(": ") else {
            continue;
        };
        if value.starts_with(['|', '>']) {
            in_block = Some(indent);
            continue;
        }
        let simple_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        let simple_value = !value.is_empty()
            && !value.starts_with([
                '[', '{', '\'', '"', '&', '*', '!', '#', '%', '@', '`', '|', '>', '-', '?', ':',
            ])
            && !value.contains(" #")
            && !value.contains(": ")
            && !value.ends_with(':')
            && !value.contains('\t');
        if simple_key && simple_value {
            out.push(Entry {
                line: n,
                indent: key_indent,
                head: bare[..bare.len() - value.len()].to_owned(),
                value: value.trim_end().to_owned(),
            });
        }
    }
    out
}

/// A deterministic pick among `n` candidates (the middle one).
fn pick<T>(mut items: Vec<T>) -> Option<T> {
    let middle = items.len() / 2;
    (middle < items.len()).then(|| items.swap_remove(middle))
}

fn replace_line(lines: &[&str], at: usize, with: &str) -> String {
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        if n == at {
            out.push_str(with);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// `key: 'FIRST\n\n  SECOND\n'` with the continuation and the closing quote at column 0, as
/// Helm 4 writes long single-quoted strings.
fn quoted_low(lines: &[&str]) -> Option<String> {
    let e = pick(entries(lines))?;
    let v = e.value.replace('\'', "''");
    let (first, second) = v.split_once(' ').unwrap_or((&v, "tail"));
    Some(replace_line(
        lines,
        e.line,
        &format!(
            "{}'{first}\n\n{}{second} {first}\n'\n",
            e.head,
            " ".repeat(e.indent + 2)
        ),
    ))
}

/// A double-quoted scalar over lines indented less than its key, with an escaped line break.
fn double_quoted_low(lines: &[&str]) -> Option<String> {
    let es = entries(lines);
    let e = es.iter().rev().find(|e| e.indent >= 2).or(es.last())?;
    let v = e.value.replace('\\', "\\\\").replace('"', "\\\"");
    Some(replace_line(
        lines,
        e.line,
        &format!("{}\"{v}\n first \\\n  second\n\n third\"\n", e.head),
    ))
}

/// A plain scalar continued on lines indented less than its key (but more than its parent).
fn plain_low(lines: &[&str]) -> Option<String> {
    let e = entries(lines).into_iter().find(|e| e.indent >= 4)?;
    Some(replace_line(
        lines,
        e.line,
        &format!(
            "{}{}\n{}more words\n",
            e.head,
            e.value,
            " ".repeat(e.indent - 1)
        ),
    ))
}

/// The first block scalar's content two columns further in.
fn block_reindent(lines: &[&str]) -> Option<String> {
    let (header, end) = block_scalar(lines)?;
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        if n > header && n < end && !line.trim().is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
    }
    Some(out)
}

/// `---`, `...` and `# ...` lines inside the first block scalar's content.
fn block_markers(lines: &[&str]) -> Option<String> {
    let (header, end) = block_scalar(lines)?;
    let first = lines.get(header + 1)?;
    let indent = first.len() - first.trim_start().len();
    if first.trim().is_empty() {
        return None;
    }
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        out.push_str(line);
        if n == header + 1 && header + 1 < end {
            out.push_str(&format!(
                "{pad}---\n{pad}--- x\n{pad}...\n{pad}# not a comment\n\n"
            ));
        }
    }
    Some(out)
}

/// The header line of the first block scalar and the line after its content.
fn block_scalar(lines: &[&str]) -> Option<(usize, usize)> {
    let header = lines.iter().position(|l| {
        let t = l.trim_end();
        t.ends_with(": |") || t.ends_with(": |-") || t.ends_with(": >") || t.ends_with(": >-")
    })?;
    let indent = lines[header].len() - lines[header].trim_start().len();
    let mut end = header + 1;
    while end < lines.len() {
        let l = lines[end];
        if !l.trim().is_empty() && l.len() - l.trim_start().len() <= indent {
            break;
        }
        end += 1;
    }
    (end > header + 1).then_some((header, end))
}

/// A value in flow style: `key: {a: [VALUE, 'q', "d"], b: {c: VALUE}, e: [], f: {}}`.
fn flow(lines: &[&str]) -> Option<String> {
    let e = pick(entries(lines))?;
    let v = &e.value;
    Some(replace_line(
        lines,
        e.line,
        &format!(
            "{}{{a: [{v}, 'q', \"d\", 1, true, ~], b: {{c: {v}}}, e: [], f: {{}}, g: [k: v]}}\n",
            e.head
        ),
    ))
}

/// A flow sequence whose later lines sit at column 0.
fn flow_low(lines: &[&str]) -> Option<String> {
    let e = entries(lines).into_iter().find(|e| e.indent >= 2)?;
    Some(replace_line(
        lines,
        e.line,
        &format!("{}[{},\nsecond,\n  {{k: v}}]\n", e.head, e.value),
    ))
}

/// A comment after every key that opens a block, and a comment line at column 0 in the middle.
fn comments(lines: &[&str]) -> Option<String> {
    let mut out = String::new();
    let middle = lines.len() / 2;
    let mut changed = false;
    for (n, line) in lines.iter().enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.ends_with(':') && !bare.trim_start().starts_with('#') {
            out.push_str(bare);
            out.push_str(" # a comment: with a colon\n");
            changed = true;
        } else {
            out.push_str(line);
        }
        if n == middle {
            out.push_str("# a comment at column 0\n");
            changed = true;
        }
    }
    changed.then_some(out)
}

/// A tab inside a plain value, after a colon, and in a quoted value.
fn tabs(lines: &[&str]) -> Option<String> {
    let es = entries(lines);
    let e = es.get(es.len() / 2)?;
    let mut text = replace_line(
        lines,
        e.line,
        &format!("{}{}\tand\ttabs\n", e.head, e.value),
    );
    if let Some(first) = es.first().filter(|f| f.line != e.line) {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let head = first.head.trim_end();
        text = replace_line(
            &lines,
            first.line,
            &format!("{head}\t\"{}\t\"\n", first.value.replace(['"', '\\'], "")),
        );
    }
    Some(text)
}

/// An anchor on a value and an alias to it in a new top-level key.
fn anchor_alias(lines: &[&str]) -> Option<String> {
    top_level_map(lines)?;
    let e = pick(entries(lines))?;
    let mut text = replace_line(lines, e.line, &format!("{}&value {}\n", e.head, e.value));
    ensure_newline(&mut text);
    text.push_str("zz-alias: *value\nzz-alias-seq: [*value, *value]\n");
    Some(text)
}

/// An anchored block mapping merged (`<<`) into a new top-level key, one of its keys set again.
fn merge_key(lines: &[&str]) -> Option<String> {
    top_level_map(lines)?;
    let at = (0..lines.len().saturating_sub(1)).find(|&n| {
        let bare = lines[n].trim_end();
        let next = lines[n + 1];
        let indent = lines[n].len() - lines[n].trim_start().len();
        let next_indent = next.len() - next.trim_start().len();
        bare.ends_with(':')
            && !bare.trim_start().starts_with(['#', '-'])
            && next_indent > indent
            && !next.trim_start().starts_with(['-', '#'])
            && next.contains(": ")
    })?;
    let child = lines[at + 1].trim().split_once(": ")?.0.to_owned();
    let mut text = replace_line(lines, at, &format!("{} &base\n", lines[at].trim_end()));
    ensure_newline(&mut text);
    text.push_str(&format!(
        "zz-merge:\n  {child}: set again\n  <<: *base\n  zz-extra: 1\nzz-merge-list:\n  <<: [*base, {{zz-more: 2}}]\n"
    ));
    Some(text)
}

/// The document's root is a block mapping at column 0.
fn top_level_map(lines: &[&str]) -> Option<()> {
    let first = lines.iter().find(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    })?;
    (!first.starts_with([' ', '-', '[', '{', '\t']) && first.contains(':')).then_some(())
}

fn ensure_newline(text: &mut String) {
    if !text.ends_with('\n') {
        text.push('\n');
    }
}
