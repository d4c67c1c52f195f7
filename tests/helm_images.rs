//! `helm images` end to end: real Helm 4 renders the fixture charts, the WASM plugin reads the
//! stream (or the packaged chart), and every output format says exactly what it should.

use crate::support;

use serde_json::Value;
use support::{Helm, purser_bin, repo_path};

const SHAPES: &str = "tests/fixtures/charts/shapes";
const OPERATOR: &str = "tests/fixtures/charts/operator";
const PLATFORM: &str = "tests/fixtures/charts/platform";

/// Every image `helm template rel shapes` pulls with default values.
const SHAPES_IMAGES: [&str; 18] = [
    "[::1]:5000/shapes/legacy:1",
    "docker.io/bitnami/kubectl:1.31.4",
    "docker.io/envoyproxy/envoy:v1.34.1",
    "docker.io/library/busybox:1.36",
    "docker.io/library/postgres:17.2",
    "docker.io/restic/restic:0.17.3",
    "ghcr.io/shapes/assets:2024.1",
    "ghcr.io/shapes/reports:7.7",
    "ghcr.io/shapes/sidekick:1.0.0",
    "ghcr.io/shapes/widget-init:0.9",
    "ghcr.io/shapes/widget:0.9",
    "localhost:5000/shapes/pod:dev",
    "quay.io/prometheus/prometheus:v3.5.0",
    "quay.io/shapes/agent@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "quay.io/shapes/worker:3.1",
    "quay.io/thanos/thanos:v0.39.2",
    "registry.example.com/shapes/web:2.0.0",
    "registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85",
];

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

fn yaml(s: &str) -> Value {
    serde_saphyr::from_str(s).unwrap_or_else(|e| panic!("not YAML ({e}):\n{s}"))
}

fn image<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == reference)
        .unwrap_or_else(|| panic!("{reference} not in {doc:#}"))
}

#[test]
fn list_is_exactly_every_image_sorted() {
    let helm = Helm::with_plugin();
    let run = helm.template_images(&["rel", SHAPES], &["-o", "list"]);
    run.assert_success();
    assert_eq!(lines(&run.stdout), SHAPES_IMAGES);
}

#[test]
fn json_and_yaml_carry_provenance_and_confidence() {
    let helm = Helm::with_plugin();
    let stream = helm.template(&["rel", SHAPES]);
    let doc = json(
        &helm
            .images(&["-o", "json"], stream.as_bytes())
            .assert_success()
            .stdout,
    );
    assert_eq!(doc["images"].as_array().unwrap().len(), SHAPES_IMAGES.len());

    let envoy = image(&doc, "docker.io/envoyproxy/envoy:v1.34.1");
    assert_eq!(envoy["confidence"], "certain");
    assert_eq!(envoy["familiar"], "envoyproxy/envoy:v1.34.1");
    let source = &envoy["sources"][0];
    assert_eq!(source["template"], "shapes/templates/workloads.yaml");
    assert_eq!(source["kind"], "Deployment");
    assert_eq!(source["name"], "rel-web");
    assert_eq!(source["container"], "proxy");
    assert_eq!(source["field"], "spec.template.spec.containers[1].image");

    let web = image(&doc, "registry.example.com/shapes/web:2.0.0");
    let fields: Vec<&str> = web["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "spec.template.spec.initContainers[0].image",
            "spec.template.spec.containers[0].image"
        ]
    );

    assert_eq!(
        image(&doc, "ghcr.io/shapes/assets:2024.1")["sources"][0]["field"],
        "spec.template.spec.volumes[0].image.reference"
    );
    assert_eq!(
        image(&doc, "docker.io/restic/restic:0.17.3")["confidence"],
        "likely"
    );
    assert_eq!(
        image(&doc, "ghcr.io/shapes/widget-init:0.9")["confidence"],
        "likely"
    );
    assert_eq!(
        image(&doc, "ghcr.io/shapes/widget:0.9")["confidence"],
        "certain"
    );
    assert_eq!(
        image(&doc, "quay.io/thanos/thanos:v0.39.2")["sources"][0]["field"],
        "spec.thanos.image"
    );
    let sidekick = &image(&doc, "ghcr.io/shapes/sidekick:1.0.0")["sources"][0];
    assert_eq!(
        sidekick["template"],
        "shapes/charts/sidekick/templates/deployment.yaml"
    );

    let from_yaml = yaml(
        &helm
            .images(&["-o", "yaml"], stream.as_bytes())
            .assert_success()
            .stdout,
    );
    assert_eq!(from_yaml, doc, "yaml and json outputs hold the same data");
}

#[test]
fn lock_and_annotation_formats() {
    let helm = Helm::with_plugin();
    let stream = helm.template(&["rel", SHAPES]);
    let lock = yaml(
        &helm
            .images(&["-o", "lock"], stream.as_bytes())
            .assert_success()
            .stdout,
    );
    assert_eq!(lock["apiVersion"], "v0");
    assert_eq!(lock["kind"], "ImagesLock");
    assert_eq!(lock["chart"]["name"], "shapes");
    assert_eq!(lock["chart"]["version"], "1.2.3");
    assert!(
        lock["metadata"]["generatedAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(
        lock["metadata"]["generatedBy"]
            .as_str()
            .unwrap()
            .starts_with("purser ")
    );
    let images = lock["images"].as_array().unwrap();
    let refs: Vec<&str> = images
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(refs, SHAPES_IMAGES);
    let mut names: Vec<&str> = images.iter().map(|i| i["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), images.len(), "lock names are unique");
    let sidekick = images
        .iter()
        .find(|i| i["image"] == "ghcr.io/shapes/sidekick:1.0.0")
        .unwrap();
    assert_eq!(sidekick["chart"], "sidekick");
    assert_eq!(sidekick["digests"], Value::Array(vec![]));

    let out = helm
        .images(&["-o", "annotation"], stream.as_bytes())
        .assert_success()
        .stdout
        .clone();
    let block = yaml(&out);
    let entries: Value = yaml(block["annotations"]["helm.sh/images"].as_str().unwrap());
    let refs: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["image"].as_str().unwrap())
        .collect();
    assert_eq!(refs, SHAPES_IMAGES);
    let sidekick = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["image"] == "ghcr.io/shapes/sidekick:1.0.0")
        .unwrap();
    assert_eq!(sidekick["dependency"], "sidekick");
}

#[test]
fn table_why_and_certain_only() {
    let helm = Helm::with_plugin();
    let stream = helm.template(&["rel", SHAPES]);
    let table = helm
        .images(&["-o", "table"], stream.as_bytes())
        .assert_success()
        .stdout
        .clone();
    assert!(table.starts_with("IMAGE"), "{table}");
    for image in SHAPES_IMAGES {
        assert!(
            table.contains(image),
            "{image} missing from the table:\n{table}"
        );
    }
    assert!(table.trim_end().ends_with("18 images"), "{table}");

    let why = helm
        .images(&["--why", "envoy"], stream.as_bytes())
        .assert_success()
        .stdout
        .clone();
    assert!(
        why.starts_with("docker.io/envoyproxy/envoy:v1.34.1 (certain)"),
        "{why}"
    );
    assert!(
        why.contains("Deployment default/rel-web") || why.contains("Deployment rel-web"),
        "{why}"
    );
    assert!(
        why.contains("container proxy") && why.contains("line "),
        "{why}"
    );

    let missing = helm.images(&["--why", "nothere:1"], stream.as_bytes());
    missing.assert_code(1);
    assert!(
        missing.stderr.contains("Error: plugin error:")
            && missing.stderr.contains("no image found matches"),
        "{}",
        missing.describe()
    );

    let certain = helm
        .images(&["-o", "list", "--certain-only"], stream.as_bytes())
        .assert_success()
        .stdout
        .clone();
    let expected: Vec<&str> = SHAPES_IMAGES
        .iter()
        .copied()
        .filter(|i| {
            !matches!(
                *i,
                "docker.io/restic/restic:0.17.3" | "ghcr.io/shapes/widget-init:0.9"
            )
        })
        .collect();
    assert_eq!(lines(&certain), expected);
}

#[test]
fn operator_passes_images_through_args_and_env() {
    let helm = Helm::with_plugin();
    let run = helm.template_images(&["rel", OPERATOR], &["-o", "json"]);
    let doc = json(&run.assert_success().stdout);
    let got: Vec<(String, String)> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_owned(),
                i["confidence"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("docker.io/library/busybox:1.36", "likely"),
        ("quay.io/acme/config-reloader:0.86.0", "likely"),
        ("quay.io/acme/operator:0.86.0", "certain"),
        ("quay.io/acme/solver:0.86.0", "likely"),
        ("registry.example.com/acme/db:16.4", "likely"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        image(&doc, "quay.io/acme/solver:0.86.0")["sources"][0]["field"],
        "spec.template.spec.containers[0].args[1]"
    );
    assert_eq!(
        image(&doc, "registry.example.com/acme/db:16.4")["sources"][0]["field"],
        "spec.template.spec.containers[0].env[0].value"
    );
}

/// Images an operator starts itself (an image-set ConfigMap, a Secret, env values and a
/// `VERSION=REFERENCE` table), an injector's values as JSON, an installer's OCI artifacts, and
/// a gateway whose image a webhook injects: all found, none invented.
#[test]
fn operator_managed_images_artifacts_and_injected_containers() {
    let helm = Helm::with_plugin();
    let stream = helm.template(&["rel", PLATFORM]);
    let doc = json(
        &helm
            .images(&["-o", "json"], stream.as_bytes())
            .assert_success()
            .stdout,
    );
    let got: Vec<(String, String, Option<String>, String)> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_owned(),
                i["confidence"].as_str().unwrap().to_owned(),
                i["kind"].as_str().map(str::to_owned),
                i["sources"][0]["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let artifact = Some("artifact".to_owned());
    let want = [
        (
            "ghcr.io/falcosecurity/rules/falco-rules:5",
            "likely",
            artifact.clone(),
            "data.falcoctl.yaml#artifact.install.refs[0]",
        ),
        (
            "quay.io/strimzi/kafka:0.41.0-kafka-3.7.0",
            "likely",
            None,
            "spec.template.spec.containers[0].env[1].value",
        ),
        (
            "quay.io/strimzi/kafka:0.41.0-kafka-3.8.0",
            "likely",
            None,
            "spec.template.spec.containers[0].env[1].value",
        ),
        (
            "registry.example.io/mesh/proxyv2:1.24.0",
            "likely",
            None,
            "data.values#global.proxy.image",
        ),
        (
            "registry.example.io/plugins/container:0.7.1",
            "likely",
            artifact,
            "data.falcoctl.yaml#artifact.install.refs[1]",
        ),
        (
            "registry.example.io/storage/csi-provisioner:v5.0.1",
            "likely",
            None,
            "data.provisioner",
        ),
        (
            "registry.example.io/storage/csi-sidecar:v1.4.0",
            "likely",
            None,
            "data.sidecar",
        ),
        (
            "registry.example.io/team/builder:2.1.0",
            "likely",
            None,
            "stringData.builder",
        ),
        (
            "registry.example.io/team/operator:2.1.0",
            "certain",
            None,
            "spec.template.spec.containers[0].image",
        ),
    ];
    let want: Vec<(String, String, Option<String>, String)> = want
        .into_iter()
        .map(|(a, b, c, d)| (a.to_owned(), b.to_owned(), c, d.to_owned()))
        .collect();
    assert_eq!(got, want);
    // The builder is both in the Secret and in the operator's env.
    assert_eq!(
        image(&doc, "registry.example.io/team/builder:2.1.0")["sources"][1]["field"],
        "spec.template.spec.containers[0].env[0].value"
    );
    // `image: auto` is no image: the container is listed as injected at admission.
    let injected = doc["injected"].as_array().expect("injected listed");
    assert_eq!(injected.len(), 1, "{doc:#}");
    assert_eq!(injected[0]["written"], "auto");
    assert_eq!(injected[0]["container"], "istio-proxy");
    assert_eq!(injected[0]["kind"], "Deployment");
    let table = helm
        .images(&["-o", "table"], stream.as_bytes())
        .assert_success()
        .stdout
        .clone();
    assert!(table.contains("likely, artifact"), "{table}");
    assert!(
        table.contains("image injected at admission")
            && table.contains("container istio-proxy")
            && !table.contains("library/auto"),
        "{table}"
    );
    let why = helm
        .images(&["--why", "auto"], stream.as_bytes())
        .assert_success()
        .stdout
        .clone();
    assert!(
        why.contains("image injected at admission") && why.contains("rel-gateway"),
        "{why}"
    );
    // What is certain stays certain; heuristics stay out with --certain-only.
    let certain = helm
        .images(&["-o", "list", "--certain-only"], stream.as_bytes())
        .assert_success()
        .stdout
        .clone();
    assert_eq!(lines(&certain), ["registry.example.io/team/operator:2.1.0"]);
}

#[test]
fn subcharts_follow_condition_tags_and_alias() {
    let helm = Helm::with_plugin();
    let list = |set: &[&str]| {
        let mut args = vec!["rel", SHAPES];
        for s in set {
            args.extend(["--set", s]);
        }
        helm.template_images(&args, &["-o", "list"])
            .assert_success()
            .stdout
            .clone()
    };
    let default = list(&[]);
    assert!(
        default.contains("ghcr.io/shapes/sidekick:1.0.0\n") && !default.contains("shapes/extras")
    );
    let tags_on = list(&["tags.extras=true"]);
    assert!(
        tags_on.contains("docker.io/shapes/extras:5.0\n"),
        "{tags_on}"
    );
    let off = list(&["sidekick.enabled=false", "reports.enabled=false"]);
    assert!(
        !off.contains("sidekick") && !off.contains("reports"),
        "{off}"
    );
    let alias = list(&["helper.enabled=true"]);
    assert!(
        alias.contains("ghcr.io/shapes/sidekick:1.1.0\n")
            && alias.contains("ghcr.io/shapes/sidekick:1.0.0\n"),
        "{alias}"
    );
    let metrics = list(&["metrics.enabled=true"]);
    assert!(
        metrics.contains("docker.io/prom/statsd-exporter:v0.28.0\n"),
        "{metrics}"
    );
}

#[test]
fn chart_archive_and_all() {
    let helm = Helm::with_plugin();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for chart in [SHAPES, OPERATOR] {
        helm.run(["package", chart, "--destination", out], None)
            .assert_success();
    }
    let shapes = std::fs::read(dir.path().join("shapes-1.2.3.tgz")).unwrap();
    let default = helm
        .images(&["-o", "list"], &shapes)
        .assert_success()
        .stdout
        .clone();
    assert_eq!(
        lines(&default),
        [
            "ghcr.io/shapes/reports:7.7",
            "ghcr.io/shapes/sidekick:1.0.0",
            "quay.io/shapes/worker:3.1",
            "registry.example.com/shapes/web:2.0.0"
        ]
    );
    let all = helm
        .images(&["-o", "json", "--all"], &shapes)
        .assert_success()
        .stdout
        .clone();
    let doc = json(&all);
    let off = |r: &str| {
        let i = image(&doc, r);
        assert_eq!(i["enabled"], false, "{i:#}");
        i["sources"][0]["disabledBy"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        off("docker.io/prom/statsd-exporter:v0.28.0"),
        "metrics.enabled=false"
    );
    assert_eq!(off("docker.io/shapes/extras:5.0"), "tags extras false");
    assert_eq!(off("ghcr.io/shapes/sidekick:1.1.0"), "helper.enabled=false");
    assert_eq!(
        image(&doc, "ghcr.io/shapes/sidekick:1.1.0")["sources"][0]["valuesPath"],
        "helper.image"
    );

    let operator = std::fs::read(dir.path().join("operator-0.3.0.tgz")).unwrap();
    let default = helm
        .images(&["-o", "list"], &operator)
        .assert_success()
        .stdout
        .clone();
    assert!(!default.contains("thanos"), "{default}");
    assert!(
        default.contains("quay.io/acme/operator:0.86.0\n"),
        "{default}"
    );
    let all = helm
        .images(&["-o", "list", "--all"], &operator)
        .assert_success()
        .stdout
        .clone();
    assert!(all.contains("quay.io/thanos/thanos:v0.39.2\n"), "{all}");
}

#[test]
fn native_and_wasm_print_the_same() {
    let helm = Helm::with_plugin();
    let stream = helm.template(&["rel", SHAPES]);
    for format in ["json", "list", "table", "annotation", "yaml"] {
        let wasm = helm
            .images(&["-o", format, "--all"], stream.as_bytes())
            .assert_success()
            .stdout
            .clone();
        let native = support::run_with_stdin(
            &purser_bin(),
            &["images", "-o", format, "--all"],
            stream.as_bytes(),
        );
        native.assert_success();
        assert_eq!(
            wasm, native.stdout,
            "-o {format} differs between helm images and purser images"
        );
    }
}

#[test]
fn purser_images_renders_and_reads_the_chart() {
    let helm = Helm::bare();
    let chart = repo_path(SHAPES);
    let mut cmd = helm.purser();
    cmd.args([
        "images",
        chart.to_str().unwrap(),
        "-o",
        "json",
        "--set",
        "tags.extras=true",
    ]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&String::from_utf8(out.stdout).unwrap());
    let web = image(&doc, "registry.example.com/shapes/web:2.0.0");
    let sources: Vec<&str> = web["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"rendered") && sources.contains(&"values"),
        "{web:#}"
    );
    // --set passed through to helm template: the tag-enabled subchart is rendered.
    let extras = image(&doc, "docker.io/shapes/extras:5.0");
    assert!(
        extras["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source"] == "rendered"),
        "{extras:#}"
    );
}
