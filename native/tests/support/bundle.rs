//! The shared pieces of the bundle tests (mirror_bundle*.rs): `helm mirror export`, `import`
//! and `inspect` run through Helm for a [`Job`], each returning its JSON report.

use std::path::Path;

use serde_json::Value;

use super::copy::{Job, assert_exit, report};

/// A path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `helm mirror export CHART -o BUNDLE --json EXTRA…`: its report, after exit `code`.
pub fn export(job: &Job, bundle: &Path, extra: &[&str], code: i32) -> Value {
    let tgz = job.chart.tgz.display().to_string();
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = job.mirror(&["export", &tgz, "-o", s(bundle)], &args);
    assert_exit(&out, code);
    report(&out)
}

/// `helm mirror import BUNDLES… --to TARGET/PREFIX --json EXTRA…`: its report, after exit
/// `code`.
pub fn import(job: &Job, bundles: &[&Path], extra: &[&str], code: i32) -> Value {
    let mut words = vec!["import"];
    words.extend(bundles.iter().map(|p| s(p)));
    words.extend(["--to", &job.to]);
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = job.mirror(&words, &args);
    assert_exit(&out, code);
    report(&out)
}

/// `helm mirror inspect BUNDLES… --json`: the inspection, after exit `code`.
pub fn inspect(job: &Job, bundles: &[&Path], code: i32) -> Value {
    let mut words = vec!["inspect"];
    words.extend(bundles.iter().map(|p| s(p)));
    let out = job.helm.run(
        ["mirror"]
            .into_iter()
            .chain(words)
            .chain(["--json"])
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    );
    assert_exit(&out, code);
    report(&out)
}
