//! The Helm 4 plugin loads and runs: real Helm, the real plugin.wasm, temporary Helm homes.
//! Needs scripts/setup.sh to have run (Helm in .purser/bin or HELM_BIN, and ./plugin.wasm).

use crate::support;

use support::Helm;

#[test]
fn plugin_list_shows_images_as_a_cli_v1_plugin() {
    let helm = Helm::with_plugin();
    let run = helm.run(["plugin", "list"], None);
    run.assert_success();
    let columns: Vec<&str> = run
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|columns| columns.first() == Some(&"images"))
        .unwrap_or_else(|| panic!("no images plugin in `helm plugin list`: {}", run.describe()));
    // NAME VERSION TYPE APIVERSION PROVENANCE SOURCE
    assert_eq!(columns.get(2), Some(&"cli/v1"), "{}", run.describe());
    assert_eq!(columns.get(3), Some(&"v1"), "{}", run.describe());
    assert!(
        !run.stderr.contains("failed to load plugin"),
        "Helm could not load a plugin: {}",
        run.describe()
    );
}

#[test]
fn images_help_prints_usage() {
    let helm = Helm::with_plugin();
    // Helm passes --help through to the plugin (cli/v1 commands do not parse flags).
    let run = helm.run(["images", "--help"], None);
    run.assert_success();
    assert!(
        run.stdout.contains("Usage:"),
        "no usage text: {}",
        run.describe()
    );
    assert!(
        run.stdout.contains("--output"),
        "usage lists no --output: {}",
        run.describe()
    );
}

#[test]
fn helm_help_images_shows_the_plugin_yaml_help() {
    let helm = Helm::with_plugin();
    let run = helm.run(["help", "images"], None);
    run.assert_success();
    assert!(run.stdout.contains("helm images"), "{}", run.describe());
    assert!(
        run.stdout.contains("--certain-only"),
        "longHelp missing: {}",
        run.describe()
    );
}

#[test]
fn a_broken_chart_archive_on_stdin_is_a_plugin_error() {
    let helm = Helm::with_plugin();
    // gzip magic, then garbage: taken for a chart archive and rejected.
    let run = helm.images(&[], b"\x1f\x8b\x08garbage, not a chart");
    run.assert_code(1);
    assert!(
        run.stderr.contains("Error: plugin error:"),
        "the Extism error did not surface as Helm's plugin error: {}",
        run.describe()
    );
    assert!(
        run.stdout.is_empty(),
        "output despite the error: {}",
        run.describe()
    );
}

#[test]
fn the_demo_chart_renders_and_is_analysed() {
    let helm = Helm::with_plugin();
    let run = helm.template_images(&["demo", "examples/demo"], &["-o", "list"]);
    run.assert_success();
    for image in [
        "docker.io/library/nginx:1.27.3",
        "docker.io/library/busybox:1.37.0",
        "cr.fluentbit.io/fluent/fluent-bit:3.2.4",
        "docker.io/library/postgres:17.2-alpine",
    ] {
        assert!(
            run.stdout.contains(image),
            "{image} not listed: {}",
            run.describe()
        );
    }
    assert!(
        !run.stdout.contains("node-exporter"),
        "the switched-off metrics subchart was rendered: {}",
        run.describe()
    );
}
