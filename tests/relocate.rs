//! The `relocate` post-renderer end to end: real Helm 4 runs the plugin
//! (native/plugins/relocate/plugin.yaml with bin/purser) on fixture charts and on every chart
//! of ../shared/charts (where that folder exists).
//!
//! What a rewrite must keep is checked two ways:
//! - through Helm: `helm template --post-renderer relocate` against the same render through a
//!   post-renderer that hands the stream back unchanged (`cat`): Helm re-serialises what a
//!   post-renderer returns, so that is the baseline;
//! - byte for byte: `helm template` output piped into `purser post-render` directly.
//!
//! In both, every image the scanner finds in the output points where the naming rules say, and
//! the output with each rewritten scalar put back as it was equals the input exactly.
//!
//! Needs scripts/setup.sh to have run (Helm in .purser/bin or HELM_BIN, target/local/purser).

use crate::support;

use purser::destination::{Rules, Target};
use purser::inventory::{Finding, Span, Spot};
use purser::lock::Lock;
use purser::manifests;
use purser::reference::Reference;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use support::{Helm, Run, corpus_charts, purser_bin, run_with_stdin};

const TARGET: &str = "registry.internal/mirror";

/// Helm with `relocate` and a pass-through post-renderer (`cat`) installed.
fn helm_with_relocate(with_images: bool) -> Helm {
    let helm = if with_images {
        Helm::with_plugin()
    } else {
        Helm::bare()
    };
    helm.install_native_plugin("relocate");
    let dir = helm.scratch("passthrough");
    fs::write(
        dir.join("plugin.yaml"),
        "apiVersion: v1\nname: passthrough\ntype: postrenderer/v1\nruntime: subprocess\nversion: 0.1.0\nconfig: {}\nruntimeConfig:\n  platformCommand:\n    - command: cat\n",
    )
    .expect("write the passthrough plugin");
    helm.install_plugin_dir(&dir);
    helm
}

fn rules() -> Rules {
    Rules {
        to: Target::parse(TARGET, "--to").unwrap(),
        flatten: false,
        maps: Vec::new(),
    }
}

fn findings(stream: &str, what: &str) -> Vec<Finding> {
    manifests::scan(stream)
        .unwrap_or_else(|e| panic!("{what} does not scan: {e}"))
        .findings
}

/// `after` with every scalar that holds a reference put back as it is in `before`.
fn restore(before: &str, after: &str, b: &[Finding], a: &[Finding]) -> String {
    let mut back: BTreeMap<usize, (usize, &str)> = BTreeMap::new();
    let mut put = |sa: &Span, sb: &Span| {
        back.insert(
            sa.scalar.start,
            (sa.scalar.end, &before[sb.scalar.start..sb.scalar.end]),
        );
    };
    for (fb, fa) in b.iter().zip(a) {
        let (Some(sb), Some(sa)) = (&fb.spot, &fa.spot) else {
            panic!("{} or {} has no spot", fb.written, fa.written);
        };
        match (sb, sa) {
            (Spot::Text(sb), Spot::Text(sa)) => put(sa, sb),
            // All that changes of an image an injector composes is its hub (and tag, pinned).
            (Spot::Composed(cb), Spot::Composed(ca)) => {
                put(&ca.hub, &cb.hub);
                if let (Some(ta), Some(tb)) = (ca.tag, cb.tag) {
                    put(&ta, &tb);
                }
            }
            (Spot::Map(mb), Spot::Map(ma)) => {
                put(&ma.repository, &mb.repository);
                for (pa, pb) in [
                    (ma.registry, mb.registry),
                    (ma.tag, mb.tag),
                    (ma.digest, mb.digest),
                ] {
                    if let (Some(pa), Some(pb)) = (pa, pb) {
                        put(&pa, &pb);
                    }
                }
            }
            other => panic!("spots differ in kind: {other:?}"),
        }
    }
    let mut out = String::with_capacity(before.len());
    let mut at = 0;
    for (start, (end, text)) in back {
        out.push_str(&after[at..start]);
        out.push_str(text);
        at = end;
    }
    out.push_str(&after[at..]);
    out
}

/// The first line where two texts differ, for messages.
fn first_difference(a: &str, b: &str) -> String {
    for (n, (la, lb)) in a.lines().zip(b.lines()).enumerate() {
        if la != lb {
            return format!("line {}:\n  expected {la:?}\n  found    {lb:?}", n + 1);
        }
    }
    format!(
        "lengths differ: {} and {} bytes, {} and {} lines",
        a.len(),
        b.len(),
        a.lines().count(),
        b.lines().count()
    )
}

/// Checks that `after` is `before` with every reference found replaced by `expected(old)`,
/// and nothing else changed. Returns how many references there were.
fn check_rewrite(
    what: &str,
    before: &str,
    after: &str,
    expected: &dyn Fn(&Reference) -> Reference,
) -> Result<usize, String> {
    check_rewrite_except(what, before, after, expected, &BTreeSet::new())
}

/// The same, ignoring lines (0-based) that differ between two renders of the same chart
/// (`randAlphaNum` passwords, generated names): Helm renders again for each run.
fn check_rewrite_except(
    what: &str,
    before: &str,
    after: &str,
    expected: &dyn Fn(&Reference) -> Reference,
    noise: &BTreeSet<usize>,
) -> Result<usize, String> {
    let b = findings(before, what);
    let a = findings(after, what);
    if b.len() != a.len() {
        return Err(format!(
            "{what}: {} references before, {} after",
            b.len(),
            a.len()
        ));
    }
    for (fb, fa) in b.iter().zip(&a) {
        let want = expected(&fb.reference);
        if fa.reference != want {
            return Err(format!(
                "{what}: {} became {}, expected {} (at {})",
                fb.reference, fa.reference, want, fa.origin
            ));
        }
    }
    let restored = restore(before, after, &b, &a);
    let same = if noise.is_empty() {
        restored == before
    } else {
        restored.lines().count() == before.lines().count()
            && restored.ends_with('\n') == before.ends_with('\n')
            && before
                .lines()
                .zip(restored.lines())
                .enumerate()
                .all(|(n, (x, y))| x == y || noise.contains(&n))
    };
    if !same {
        return Err(format!(
            "{what}: the output differs from the input outside the references: {}",
            first_difference(before, &restored)
        ));
    }
    Ok(b.len())
}

fn moved(r: &Reference) -> Reference {
    rules().place(r).unwrap()
}

fn post_render(args: &[&str], stdin: &str) -> Run {
    let mut all = vec!["post-render"];
    all.extend_from_slice(args);
    run_with_stdin(&purser_bin(), &all, stdin.as_bytes())
}

fn template_args<'a>(chart: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["rel", chart];
    args.extend_from_slice(extra);
    args
}

/// Both checks for one chart: (references, references through Helm).
fn relocate_chart(helm: &Helm, chart: &str, values: &[&str]) -> Result<(usize, usize), String> {
    // Byte for byte: helm template | purser post-render.
    let plain = helm.run(
        std::iter::once("template").chain(template_args(chart, values)),
        None,
    );
    if !plain.success() {
        return Err(format!("helm template failed: {}", plain.describe()));
    }
    let piped = post_render(&["--to", TARGET], &plain.stdout);
    if !piped.success() {
        return Err(format!("purser post-render failed: {}", piped.describe()));
    }
    let direct = check_rewrite(
        &format!("{chart} piped"),
        &plain.stdout,
        &piped.stdout,
        &moved,
    )?;

    // Through Helm, against the pass-through post-renderer.
    let render = |plugin: &str, more: &[&str]| {
        let mut args = vec!["template"];
        args.extend(template_args(chart, values));
        args.extend(["--post-renderer", plugin]);
        args.extend_from_slice(more);
        helm.run(args, None)
    };
    let base = render("passthrough", &[]);
    let again = render("passthrough", &[]);
    if !base.success() || !again.success() {
        return Err(format!(
            "the pass-through render failed: {}",
            base.describe()
        ));
    }
    let noise: BTreeSet<usize> = base
        .stdout
        .lines()
        .zip(again.stdout.lines())
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(n, _)| n)
        .collect();
    let arg = format!("--to={TARGET}");
    let out = render("relocate", &["--post-renderer-args", &arg]);
    if !out.success() {
        return Err(format!(
            "--post-renderer relocate failed: {}",
            out.describe()
        ));
    }
    if out.stdout.contains("generated-by-postrender") {
        return Err(format!(
            "{chart}: a document lost its postrender-filename annotation: {}",
            out.stdout
        ));
    }
    let through_helm = check_rewrite_except(
        &format!("{chart} through Helm"),
        &base.stdout,
        &out.stdout,
        &moved,
        &noise,
    )?;
    Ok((direct, through_helm))
}

#[test]
fn fixture_charts_move_every_image_and_change_nothing_else() {
    let helm = helm_with_relocate(false);
    for chart in [
        "tests/fixtures/charts/shapes",
        "tests/fixtures/charts/operator",
    ] {
        let (direct, through_helm) =
            relocate_chart(&helm, chart, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(direct >= 5, "{chart}: only {direct} references");
        assert_eq!(direct, through_helm, "{chart}");
    }
    // Operator-managed images (ConfigMap, Secret, env tables) and installer artifacts move
    // too, `falco-rules:5` to its full name in the mirror.
    let platform = "tests/fixtures/charts/platform";
    let off = ["--set", "sidecarInjector.enabled=false"];
    let (direct, through_helm) =
        relocate_chart(&helm, platform, &off).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((direct, through_helm), (9, 9));
    let mut args = vec!["rel", platform];
    args.extend(off);
    args.extend([
        "--post-renderer",
        "relocate",
        "--post-renderer-args",
        "--to=registry.internal/mirror",
    ]);
    let out = helm.template(&args);
    assert!(
        out.contains("- registry.internal/mirror/falcosecurity/rules/falco-rules:5\n")
            && out.contains("3.8.0=registry.internal/mirror/strimzi/kafka:0.41.0-kafka-3.8.0\n"),
        "{out}"
    );
    // What an injector composes from hub/image/tag moves with its hub: the proxy and its
    // init container (both composed from the one hub), and nothing else changes.
    let (direct, through_helm) =
        relocate_chart(&helm, platform, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((direct, through_helm), (11, 11));
    let out = helm.template(&[
        "rel",
        platform,
        "--post-renderer",
        "relocate",
        "--post-renderer-args",
        "--to=registry.internal/mirror",
    ]);
    assert!(
        out.contains("\"hub\": \"registry.internal/mirror/mesh\",")
            && out.contains("\"tag\": \"1.24.0\"")
            && out.contains("image: auto\n"),
        "{out}"
    );
    // Helm's own # Source: lines come from the annotation the post-renderer must keep.
    let out = helm.template(&[
        "rel",
        "tests/fixtures/charts/shapes",
        "--post-renderer",
        "relocate",
        "--post-renderer-args",
        "--to=registry.internal/mirror",
    ]);
    assert!(
        out.contains("# Source: shapes/templates/workloads.yaml\n"),
        "{out}"
    );
    assert!(
        out.contains("image: registry.internal/mirror/shapes/pod:dev\n"),
        "{out}"
    );
}

/// A chart's name and its references (piped, through Helm), or what went wrong.
type ChartResult = (String, Result<(usize, usize), String>);

#[test]
fn every_corpus_chart_moves_every_image_and_changes_nothing_else() {
    let Some(charts) = corpus_charts() else {
        eprintln!("no ../shared/charts here: corpus part skipped");
        return;
    };
    assert!(!charts.is_empty(), "no charts in ../shared/charts");
    let helm = helm_with_relocate(false);
    let results: Vec<ChartResult> = std::thread::scope(|s| {
        let halves: Vec<&[PathBuf]> = charts.chunks(charts.len().div_ceil(2)).collect();
        let handles: Vec<_> = halves
            .into_iter()
            .map(|part| {
                let helm = &helm;
                s.spawn(move || {
                    part.iter()
                        .map(|path| {
                            let name = path.file_name().unwrap().to_string_lossy().into_owned();
                            let chart = path.to_string_lossy().into_owned();
                            let result =
                                relocate_chart(helm, &chart, support::corpus_values(&name));
                            (name, result)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a corpus thread panicked"))
            .collect()
    });
    let mut failures = Vec::new();
    let mut total = 0;
    eprintln!("{:<28} {:>10}", "chart", "references");
    for (name, result) in &results {
        match result {
            Ok((direct, through_helm)) => {
                total += direct;
                eprintln!("{name:<28} {direct:>10}");
                if direct != through_helm {
                    failures.push(format!(
                        "{name}: {direct} references piped, {through_helm} through Helm"
                    ));
                }
            }
            Err(e) => {
                eprintln!("{name:<28} FAILED");
                failures.push(e.clone());
            }
        }
    }
    eprintln!("{} charts, {total} references relocated", results.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(total > 50, "only {total} references in the whole corpus");
}

const SHAPES: &str = "tests/fixtures/charts/shapes";

/// An images-lock for the shapes chart, as `helm images -o lock` writes it, with a digest
/// added for every image (the one it names, where it names one).
fn shapes_lock(helm: &Helm) -> (PathBuf, Lock) {
    let rendered = helm.template(&["rel", SHAPES]);
    let run = helm.images(&["-o", "lock"], rendered.as_bytes());
    run.assert_success();
    let mut lock = Lock::parse(&run.stdout, "helm images -o lock").expect("a lock");
    assert!(lock.images.len() >= 10, "{}", run.stdout);
    for (i, image) in lock.images.iter_mut().enumerate() {
        let named = Reference::parse(&image.image).unwrap();
        image.digest = Some(match named.digest() {
            Some(d) => d.to_owned(),
            None => format!("sha256:{:064x}", 0xd1_6e57_u64 + i as u64),
        });
    }
    let path = helm.scratch("lock").join("images.lock");
    fs::write(&path, lock.to_yaml()).expect("write the lock");
    (path, lock)
}

fn pinned_by(lock: &Lock) -> impl Fn(&Reference) -> Reference + '_ {
    |r: &Reference| {
        let entry = lock
            .find(&r.canonical())
            .unwrap_or_else(|| panic!("{r} not in the lock"));
        r.with_digest(entry.digest.as_deref().unwrap()).unwrap()
    }
}

#[test]
fn a_lock_pins_every_image_and_enforce_refuses_an_unlisted_one() {
    let helm = helm_with_relocate(true);
    let (lock_path, lock) = shapes_lock(&helm);
    let lock_arg = format!("--lock={}", lock_path.display());
    let plain = helm.template(&["rel", SHAPES]);
    let base = helm.template(&["rel", SHAPES, "--post-renderer", "passthrough"]);
    let pin = pinned_by(&lock);

    // Moved and pinned, enforced: every image in the lock, so the render succeeds.
    let out = helm.template(&[
        "rel",
        SHAPES,
        "--post-renderer",
        "relocate",
        "--post-renderer-args",
        "--to=registry.internal/mirror",
        "--post-renderer-args",
        &lock_arg,
        "--post-renderer-args",
        "--enforce",
    ]);
    let n = check_rewrite("moved and pinned", &base, &out, &|r| moved(&pin(r)))
        .unwrap_or_else(|e| panic!("{e}"));
    for f in findings(&out, "moved and pinned") {
        assert!(f.reference.digest().is_some(), "{} not pinned", f.written);
    }
    assert!(
        out.contains("image: \"registry.internal/mirror/shapes/sidekick:1.0.0@sha256:"),
        "the tag is kept: {out}"
    );
    assert!(n >= 10);

    // Pinned in place (no --to): names and tags as the chart wrote them.
    let piped = post_render(&[&lock_arg], &plain);
    piped.assert_success();
    check_rewrite("pinned in place", &plain, &piped.stdout, &pin).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        piped.stdout.contains("image: postgres:17.2@sha256:"),
        "{}",
        piped.stdout
    );

    // A value that adds an image the lock does not list: Helm fails the render...
    let unlisted = [
        "rel",
        SHAPES,
        "--set",
        "metrics.enabled=true",
        "--post-renderer",
        "relocate",
        "--post-renderer-args",
        "--to=registry.internal/mirror",
        "--post-renderer-args",
        &lock_arg,
        "--post-renderer-args",
        "--enforce",
    ];
    let failed = helm.run(std::iter::once("template").chain(unlisted), None);
    assert!(!failed.success(), "{}", failed.describe());
    assert!(
        failed.stderr.contains("post-renderer plugin \"relocate\""),
        "{}",
        failed.describe()
    );
    // ...and the same stream piped in by hand says why (Helm hides a post-renderer's stderr).
    let rendered = helm.template(&["rel", SHAPES, "--set", "metrics.enabled=true"]);
    let why = post_render(&["--to", TARGET, &lock_arg, "--enforce"], &rendered);
    why.assert_code(1);
    for part in [
        "1 image the lock does not pin (--enforce)",
        "docker.io/prom/statsd-exporter:v0.28.0: not in the lock",
        "at shapes/templates/workloads.yaml: Deployment rel-web container exporter spec.template.spec.containers[2].image",
        &format!("(lock: {})", lock_path.display()),
    ] {
        assert!(
            why.stderr.contains(part),
            "no {part:?} in: {}",
            why.describe()
        );
    }
    assert!(why.stdout.is_empty(), "{}", why.describe());
    // Without --enforce the unlisted image is moved, unpinned, with a warning.
    let loose = post_render(&["--to", TARGET, &lock_arg], &rendered);
    loose.assert_success();
    assert!(
        loose
            .stdout
            .contains("registry.internal/mirror/prom/statsd-exporter:v0.28.0\""),
        "{}",
        loose.stdout
    );
    assert!(
        loose
            .stderr
            .contains("Warning: docker.io/prom/statsd-exporter:v0.28.0: not in the lock"),
        "{}",
        loose.describe()
    );
}

const HOOKS: &str = "tests/fixtures/charts/hooks";

/// Checks the HOOKS and MANIFEST sections `helm install/upgrade` print: the hook documents
/// went through the post-renderer too.
fn check_hooks_relocated(run: &Run, chart: &str) {
    run.assert_success();
    let (hooks, manifest) = run
        .stdout
        .split_once("\nMANIFEST:\n")
        .unwrap_or_else(|| panic!("no MANIFEST section: {}", run.describe()));
    let (hook_image, manifest_image) = if chart == HOOKS {
        (
            "image: \"registry.internal/mirror/acme/migrate:1.4.2\"",
            "image: registry.internal/mirror/acme/api:1.4.2",
        )
    } else {
        (
            "image: registry.internal/mirror/bitnami/kubectl:1.31.4",
            "image: registry.internal/mirror/library/postgres:17.2",
        )
    };
    assert!(hooks.contains("helm.sh/hook"), "{}", run.stdout);
    assert!(
        hooks.contains(hook_image),
        "the hook was not relocated: {}",
        run.stdout
    );
    assert!(manifest.contains(manifest_image), "{}", run.stdout);
    assert!(
        !run.stdout.contains("postrender-filename"),
        "{}",
        run.stdout
    );
    for f in findings(manifest, "the manifest") {
        assert_eq!(f.reference.registry(), "registry.internal", "{}", f.written);
    }
}

const RELOCATE: [&str; 4] = [
    "--post-renderer",
    "relocate",
    "--post-renderer-args",
    "--to=registry.internal/mirror",
];

#[test]
fn install_dry_run_with_hooks_goes_through_the_post_renderer() {
    let helm = helm_with_relocate(false);
    for chart in [HOOKS, SHAPES] {
        let mut args = vec!["install", "rel", chart, "--dry-run=client"];
        args.extend(RELOCATE);
        check_hooks_relocated(&helm.run(args, None), chart);
    }
}

/// `helm upgrade --install` asks the cluster for the release's history even with
/// --dry-run=client: a real kube-apiserver (scripts/setup-kube.sh) answers. With
/// --dry-run=server the API server also validates every relocated object.
#[test]
fn upgrade_install_dry_run_with_hooks_against_a_real_api_server() {
    let Some(kube) = support::kube::Kube::start() else {
        return;
    };
    let mut helm = helm_with_relocate(false);
    helm.use_cluster(&kube);
    for chart in [HOOKS, SHAPES] {
        let mut args = vec!["upgrade", "--install", "rel", chart, "--dry-run=client"];
        args.extend(RELOCATE);
        check_hooks_relocated(&helm.run(args, None), chart);
    }
    for command in [
        &["install", "rel"][..],
        &["upgrade", "--install", "rel"][..],
    ] {
        let mut args = command.to_vec();
        args.extend([HOOKS, "--dry-run=server"]);
        args.extend(RELOCATE);
        check_hooks_relocated(&helm.run(args, None), HOOKS);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let stream = "kind: Pod\nspec:\n  containers:\n  - {name: a, image: nginx:1}\n";
    let cases: [(&[&str], &str, &str); 6] = [
        (&["--to", TARGET], "", "nothing on stdin"),
        (&["--to", TARGET], " \n", "nothing on stdin"),
        (
            &["--to", TARGET],
            "# Source: c/templates/x.yaml\nkind: Pod\nspec: [1, 2\n",
            "not valid YAML",
        ),
        (
            &["--to", TARGET, "--map", "docker.io"],
            stream,
            "SOURCE=DEST",
        ),
        (&["--to", "https://r.io"], stream, "drop the scheme"),
        (&[], stream, "nothing to do"),
    ];
    for (args, stdin, message) in cases {
        let run = post_render(args, stdin);
        run.assert_code(1);
        assert!(
            run.stderr.starts_with("Error: ") && run.stderr.contains(message),
            "no {message:?}: {}",
            run.describe()
        );
        assert!(run.stdout.is_empty(), "{}", run.describe());
    }
    let dir = tempfile::tempdir().unwrap();
    let not_a_lock = dir.path().join("pod.yaml");
    fs::write(&not_a_lock, stream).unwrap();
    let lock_arg = format!("--lock={}", not_a_lock.display());
    let run = post_render(&[&lock_arg], stream);
    run.assert_code(1);
    assert!(
        run.stderr.contains("is not an images-lock file") && run.stderr.contains("kind \"Pod\""),
        "{}",
        run.describe()
    );
    let missing = format!("--lock={}", dir.path().join("nope.lock").display());
    let run = post_render(&[&missing], stream);
    run.assert_code(1);
    assert!(run.stderr.contains("nope.lock"), "{}", run.describe());
    let run = run_with_stdin(
        &purser_bin(),
        &["post-render", "--enforce"],
        stream.as_bytes(),
    );
    run.assert_code(2);
    assert!(run.stderr.contains("--lock"), "{}", run.describe());

    // Through Helm the render fails (Helm does not show the plugin's stderr).
    let helm = helm_with_relocate(false);
    let run = helm.run(
        [
            "template",
            "rel",
            SHAPES,
            "--post-renderer",
            "relocate",
            "--post-renderer-args",
            "--to=registry.internal/mirror",
            "--post-renderer-args",
            "--map=docker.io",
        ],
        None,
    );
    assert!(!run.success(), "{}", run.describe());
    assert!(run.stdout.is_empty() || !run.stdout.contains("registry.internal"));
}
