//! Vectors for every manifest shape the scanner knows.

use super::*;

use crate::inventory::Confidence::{Certain, Likely};
use crate::inventory::{Confidence, Kind, Origin, Spot};

fn found(stream: &str) -> Vec<(String, Confidence, String)> {
    scan(stream)
        .unwrap()
        .findings
        .into_iter()
        .map(|f| match f.origin {
            Origin::Rendered { field, .. } => (f.reference.canonical(), f.confidence, field),
            _ => unreachable!(),
        })
        .collect()
}

fn refs(stream: &str) -> Vec<String> {
    found(stream).into_iter().map(|(r, ..)| r).collect()
}

const POD_SPEC: &str = "    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: app
          image: ghcr.io/acme/app:1.0
      ephemeralContainers:
        - name: debug
          image: docker.io/library/alpine:3.20";

#[test]
fn every_workload_kind() {
    for kind in [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "ReplicationController",
    ] {
        let doc = format!(
            "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: x\nspec:\n  template:\n{POD_SPEC}\n"
        );
        let got = found(&doc);
        assert_eq!(got.len(), 3, "{kind}: {got:?}");
        assert!(got.iter().all(|(_, c, _)| *c == Certain));
        assert_eq!(got[0].2, "spec.template.spec.initContainers[0].image");
        assert_eq!(got[1].0, "ghcr.io/acme/app:1.0");
        assert_eq!(got[2].2, "spec.template.spec.ephemeralContainers[0].image");
    }
}

#[test]
fn pod_and_cronjob() {
    let pod = "kind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: nginx:1.27\n";
    assert_eq!(
        found(pod),
        vec![(
            "docker.io/library/nginx:1.27".into(),
            Certain,
            "spec.containers[0].image".into()
        )]
    );
    let cron = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: c\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: c\n              image: bitnami/kubectl:1.31\n";
    assert_eq!(
        found(cron)[0].2,
        "spec.jobTemplate.spec.template.spec.containers[0].image"
    );
}

#[test]
fn image_volumes() {
    let pod = "kind: Pod\nspec:\n  containers:\n    - name: c\n      image: nginx\n  volumes:\n    - name: data\n      image:\n        reference: quay.io/acme/data:v1\n        pullPolicy: IfNotPresent\n    - name: empty\n      emptyDir: {}\n";
    let got = found(pod);
    assert_eq!(
        got[1],
        (
            "quay.io/acme/data:v1".into(),
            Certain,
            "spec.volumes[0].image.reference".into()
        )
    );
    assert_eq!(got[0].0, "docker.io/library/nginx:latest");
}

#[test]
fn crd_embedding_a_pod_template() {
    let doc = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: argoproj/rollouts-demo:blue\n";
    assert_eq!(
        found(doc),
        vec![(
            "docker.io/argoproj/rollouts-demo:blue".into(),
            Certain,
            "spec.template.spec.containers[0].image".into()
        )]
    );
}

#[test]
fn prometheus_operator_resources() {
    let doc = "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: p\n  namespace: mon\nspec:\n  image: quay.io/prometheus/prometheus:v3.5.0\n  thanos:\n    image: quay.io/thanos/thanos:v0.39.2\n";
    let got = found(doc);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0],
        (
            "quay.io/prometheus/prometheus:v3.5.0".into(),
            Certain,
            "spec.image".into()
        )
    );
    assert_eq!(
        got[1],
        (
            "quay.io/thanos/thanos:v0.39.2".into(),
            Certain,
            "spec.thanos.image".into()
        )
    );
    let am = "apiVersion: monitoring.coreos.com/v1\nkind: Alertmanager\nspec:\n  image: quay.io/prometheus/alertmanager:v0.28.1\n";
    assert_eq!(found(am)[0].1, Certain);
}

#[test]
fn other_image_fields_are_likely() {
    let doc = "apiVersion: example.com/v1\nkind: Thing\nspec:\n  image: example.com/thing:1\n  sidecar:\n    image:\n      registry: quay.io\n      repository: acme/side\n      tag: '2'\n  baseImage: docker.io/library/debian:12\n  imagePullPolicy: Always\n  image2: nope\n";
    let got = found(doc);
    assert_eq!(
        got,
        vec![
            ("example.com/thing:1".into(), Likely, "spec.image".into()),
            (
                "quay.io/acme/side:2".into(),
                Likely,
                "spec.sidecar.image".into()
            ),
            (
                "docker.io/library/debian:12".into(),
                Likely,
                "spec.baseImage".into()
            ),
        ]
    );
}

#[test]
fn args_and_env() {
    let doc = r#"kind: Deployment
metadata:
  name: operator
spec:
  template:
    spec:
      containers:
        - name: op
          image: quay.io/prometheus-operator/prometheus-operator:v0.86.0
          args:
            - --prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.86.0
            - --acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.19.1
            - --log-level=info
            - --sidecar-image
            - docker.io/acme/sidecar:3
          command: ["sh", "-c", "exec run --helper-image=ghcr.io/acme/helper:4 --verbose"]
          env:
            - name: RELATED_IMAGE_DB
              value: registry.example.com/db/postgres:16
            - name: WORKER_IMAGE
              value: ghcr.io/acme/worker@sha256:0123456789012345678901234567890123456789012345678901234567890123
            - name: IMAGE_PULL_POLICY
              value: Always
            - name: LOG_LEVEL
              value: debug
"#;
    let got = found(doc);
    let refs: Vec<_> = got.iter().map(|(r, c, _)| (r.as_str(), *c)).collect();
    assert_eq!(
        refs,
        vec![
            (
                "quay.io/prometheus-operator/prometheus-operator:v0.86.0",
                Certain
            ),
            ("ghcr.io/acme/helper:4", Likely),
            (
                "quay.io/prometheus-operator/prometheus-config-reloader:v0.86.0",
                Likely
            ),
            ("quay.io/jetstack/cert-manager-acmesolver:v1.19.1", Likely),
            ("docker.io/acme/sidecar:3", Likely),
            ("registry.example.com/db/postgres:16", Likely),
            (
                "ghcr.io/acme/worker@sha256:0123456789012345678901234567890123456789012345678901234567890123",
                Likely
            ),
        ]
    );
    assert_eq!(got[2].2, "spec.template.spec.containers[0].args[0]");
    assert_eq!(got[5].2, "spec.template.spec.containers[0].env[0].value");
}

#[test]
fn config_map_data() {
    let doc = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  kubectl-image: bitnami/kubectl:1.31
  config.yaml: |
    jobs:
      - name: backup
        image: "docker.io/restic/restic:0.17.0"
    imagePullPolicy: Always
  settings.json: '{"runner": {"image": "ghcr.io/acme/runner:5", "replicas": 2}}'
  env: |
    HELPER_IMAGE=quay.io/acme/helper:6
    LOG=debug
  unrelated: "redis:6379 and http://x:80"
"#;
    let got = refs(doc);
    assert_eq!(
        got,
        vec![
            "docker.io/bitnami/kubectl:1.31",
            "docker.io/restic/restic:0.17.0",
            "ghcr.io/acme/runner:5",
            "quay.io/acme/helper:6",
        ]
    );
}

#[test]
fn operator_image_sets_in_config_maps_and_secrets() {
    let stream = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: operator-images
data:
  sidecar: "registry.example.io/storage/csi-sidecar:v1.4.0"
  provisioner: registry.example.io/storage/csi-provisioner@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  short: busybox:1.36
  words: Always
  url: https://registry.example.io/v2/
---
apiVersion: v1
kind: Secret
metadata:
  name: operator-secret
stringData:
  builder: "registry.example.io/team/builder:2.1.0"
data:
  encoded: cmVnaXN0cnkuZXhhbXBsZS5pby90ZWFtL2J1aWxkZXI6Mi4xLjA=
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.io
spec:
  versions:
    - schema:
        openAPIV3Schema:
          description: "for example image: registry.example.io/never/this:1"
"#;
    let got = found(stream);
    let names: Vec<(&str, &str)> = got
        .iter()
        .map(|(r, _, f)| (r.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "registry.example.io/storage/csi-sidecar:v1.4.0",
                "data.sidecar"
            ),
            (
                "registry.example.io/storage/csi-provisioner@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "data.provisioner"
            ),
            (
                "registry.example.io/team/builder:2.1.0",
                "stringData.builder"
            ),
        ]
    );
    assert!(got.iter().all(|(_, c, _)| *c == Likely));
    // Each is placed exactly, so relocate can rewrite it.
    for f in scan(stream).unwrap().findings {
        let Some(Spot::Text(span)) = f.spot else {
            panic!("no spot for {}", f.written)
        };
        assert_eq!(&stream[span.start..span.end], f.written);
    }
}

#[test]
fn env_values_and_version_tables() {
    let stream = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: operator
spec:
  template:
    spec:
      containers:
        - name: manager
          image: registry.example.io/team/operator:1.0.0
          env:
            - name: OPERATOR_DEFAULT_BUILDER
              value: registry.example.io/team/builder:2.1.0
            - name: SUPPORTED_KAFKA
              value: |
                3.7.0=quay.io/strimzi/kafka:0.41.0-kafka-3.7.0
                3.8.0=quay.io/strimzi/kafka:0.41.0-kafka-3.8.0
            - name: LOG_LEVEL
              value: info
            - name: PLAIN_NAME
              value: busybox:1.36
"#;
    let got = found(stream);
    let refs: Vec<&str> = got.iter().map(|(r, ..)| r.as_str()).collect();
    assert_eq!(
        refs,
        [
            "registry.example.io/team/operator:1.0.0",
            "registry.example.io/team/builder:2.1.0",
            "quay.io/strimzi/kafka:0.41.0-kafka-3.7.0",
            "quay.io/strimzi/kafka:0.41.0-kafka-3.8.0",
        ]
    );
    assert_eq!(got[2].2, "spec.template.spec.containers[0].env[1].value");
    let scan = scan(stream).unwrap();
    for f in &scan.findings {
        let Some(Spot::Text(span)) = f.spot else {
            panic!("no spot for {}", f.written)
        };
        assert_eq!(&stream[span.start..span.end], f.written);
    }
    let Origin::Rendered { line, .. } = &scan.findings[3].origin else {
        unreachable!()
    };
    assert_eq!(
        stream.lines().nth(*line as usize - 1).map(str::trim),
        Some("3.8.0=quay.io/strimzi/kafka:0.41.0-kafka-3.8.0")
    );
}

#[test]
fn injector_values_and_installer_artifacts() {
    let stream = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: injector
data:
  values: |-
    {"global":{"hub":"registry.example.io/mesh","tag":"1.24.0","proxy":{"image":"proxyv2"}}}
  config: |-
    template: |
      image: "{{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: installer
data:
  falcoctl.yaml: |-
    artifact:
      install:
        refs:
        - falco-rules:5
        - ghcr.io/falcosecurity/plugins/plugin/container:0.7.1
    indexes:
    - name: falcosecurity
      url: https://falcosecurity.github.io/falcoctl/index.yaml
"#;
    let scan = scan(stream).unwrap();
    let got: Vec<(String, String, Kind, bool)> = scan
        .findings
        .iter()
        .map(|f| {
            let Origin::Rendered { field, .. } = &f.origin else {
                unreachable!()
            };
            (
                f.reference.canonical(),
                field.clone(),
                f.kind,
                matches!(f.spot, Some(Spot::Text(_))),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "registry.example.io/mesh/proxyv2:1.24.0".to_owned(),
                "data.values#global.proxy.image".to_owned(),
                Kind::Image,
                false
            ),
            (
                "ghcr.io/falcosecurity/rules/falco-rules:5".to_owned(),
                "data.falcoctl.yaml#artifact.install.refs[0]".to_owned(),
                Kind::Artifact,
                true
            ),
            (
                "ghcr.io/falcosecurity/plugins/plugin/container:0.7.1".to_owned(),
                "data.falcoctl.yaml#artifact.install.refs[1]".to_owned(),
                Kind::Artifact,
                true
            ),
        ]
    );
}

/// An image composed in an embedded document is placed field by field: the stream bytes of
/// its `hub`, `image` and `tag` (what relocate rewrites), their paths, the variant, and
/// whether the tag is a JSON number; a `{registry, repository, tag}` map there is placed as
/// a map; an escaped double-quoted value cannot be placed.
#[test]
fn composed_images_in_embedded_documents_are_placed_field_by_field() {
    let stream = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: injector
data:
  values: |-
    {"global": {"hub": "quay.io/mesh", "tag": 1.24, "variant": "distroless",
      "proxy": {"image": "proxyv2"}, "init": {"image": "init:2", "variant": "default"}}}
  config: |-
    sidecars:
      csi:
        registry: registry.example.io
        repository: storage/csi
        tag: v1.4.0
  escaped: "{\"global\": {\"hub\": \"\u0071uay.io/x\", \"tag\": \"1\", \"proxy\": {\"image\": \"p\"}}}"
"#;
    let findings = scan(stream).unwrap().findings;
    let text = |s: &crate::inventory::Span| &stream[s.start..s.end];
    let got: Vec<String> = findings.iter().map(|f| f.reference.canonical()).collect();
    assert_eq!(
        got,
        [
            "quay.io/mesh/proxyv2:1.24",
            "quay.io/mesh/init:2",
            "registry.example.io/storage/csi:v1.4.0",
            "quay.io/x/p:1",
        ]
    );
    let Some(Spot::Composed(proxy)) = &findings[0].spot else {
        panic!("{:?}", findings[0].spot)
    };
    assert_eq!(
        (
            text(&proxy.hub),
            text(&proxy.image),
            proxy.tag.as_ref().map(text)
        ),
        ("quay.io/mesh", "proxyv2", Some("1.24"))
    );
    assert_eq!(proxy.hub_field, "data.values#global.hub");
    assert_eq!(proxy.tag_field.as_deref(), Some("data.values#global.tag"));
    assert!(proxy.tag_plain_in_json);
    assert_eq!(proxy.variant.as_deref(), Some("distroless"));
    // The image carries its own tag (and is not read as an image of its own, `init:2`);
    // `default` is no variant.
    let Some(Spot::Composed(init)) = &findings[1].spot else {
        panic!("{:?}", findings[1].spot)
    };
    assert_eq!(
        (
            text(&init.hub),
            text(&init.image),
            init.tag,
            init.variant.as_deref()
        ),
        ("quay.io/mesh", "init:2", None, None)
    );
    assert_eq!(init.hub, proxy.hub, "one hub field, one span");
    let Some(Spot::Map(csi)) = &findings[2].spot else {
        panic!("{:?}", findings[2].spot)
    };
    assert_eq!(
        (
            csi.registry.as_ref().map(text),
            text(&csi.repository),
            csi.tag.as_ref().map(text)
        ),
        (Some("registry.example.io"), "storage/csi", Some("v1.4.0"))
    );
    assert_eq!(findings[3].spot, None);
}

#[test]
fn injected_images_are_not_invented() {
    let stream = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
spec:
  template:
    metadata:
      annotations:
        inject.istio.io/templates: gateway
    spec:
      containers:
        - name: istio-proxy
          image: auto
"#;
    let scan = scan(stream).unwrap();
    assert!(scan.findings.is_empty(), "{:?}", scan.findings);
    assert_eq!(scan.injected.len(), 1);
    let Origin::Rendered {
        container,
        field,
        line,
        ..
    } = &scan.injected[0].origin
    else {
        unreachable!()
    };
    assert_eq!(container.as_deref(), Some("istio-proxy"));
    assert_eq!(field, "spec.template.spec.containers[0].image");
    assert_eq!(*line, 13);
}

#[test]
fn lists_and_provenance() {
    let stream = "---\n# Source: demo/templates/pods.yaml\napiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    metadata:\n      name: a\n      namespace: ns\n    spec:\n      containers:\n        - name: c\n          image: nginx:1\n";
    let scan = scan(stream).unwrap();
    let f = &scan.findings[0];
    match &f.origin {
        Origin::Rendered {
            template,
            document,
            line,
            kind,
            namespace,
            name,
            field,
            container,
            ..
        } => {
            assert_eq!(template.as_deref(), Some("demo/templates/pods.yaml"));
            assert_eq!((*document, *line), (1, 13));
            assert_eq!(
                (kind.as_str(), namespace.as_deref(), name.as_deref()),
                ("Pod", Some("ns"), Some("a"))
            );
            assert_eq!(field, "items[0].spec.containers[0].image");
            assert_eq!(container.as_deref(), Some("c"));
        }
        _ => unreachable!(),
    }
}

#[test]
fn splitting_like_helm() {
    let stream = "# leading comment\n---\n# Source: a/templates/x.yaml\nkind: A\n---   \n\n---\n# Source: a/templates/y.yaml\nkind: B\ndata: |\n  ---not a marker\n  text\n--- # trailing comment\nkind: C\n...\n";
    let docs = split(stream);
    assert_eq!(docs.len(), 3, "{docs:?}");
    assert_eq!(docs[0].template, Some("a/templates/x.yaml"));
    assert_eq!(docs[0].line, 2);
    assert_eq!(docs[1].template, Some("a/templates/y.yaml"));
    assert_eq!(docs[1].line, 7);
    assert_eq!(docs[2].line, 13);
}

#[test]
fn crds_are_skipped_without_parsing() {
    // Invalid YAML inside a CRD is never read: CRD schemas name no images to pull.
    let stream = "kind: CustomResourceDefinition\nspec: [unclosed\n  image: {\n---\nkind: Pod\nspec:\n  containers:\n    - image: nginx:1\n";
    assert_eq!(refs(stream), vec!["docker.io/library/nginx:1"]);
}

#[test]
fn typed_field_with_a_bad_reference_names_the_place() {
    let stream = "---\n# Source: demo/templates/d.yaml\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: Nginx:Latest\n";
    let err = scan(stream).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("document 1")
            && msg.contains("line 11")
            && msg.contains("demo/templates/d.yaml"),
        "{msg}"
    );
    assert!(
        msg.contains("Deployment web container app spec.template.spec.containers[0].image"),
        "{msg}"
    );
}

#[test]
fn invalid_yaml_names_document_and_line() {
    let stream = "kind: Pod\nspec: {}\n---\n# Source: x/templates/bad.yaml\nkind: Pod\nspec:\n  containers:\n    - image: [nginx\n";
    let err = scan(stream).unwrap_err();
    assert_eq!(err.document, 2);
    assert!(err.line >= 8, "{err}");
    assert!(err.to_string().contains("x/templates/bad.yaml"), "{err}");
}

/// Mutated streams (bytes flipped, cut, duplicated) give findings or an error, never a panic.
#[test]
fn mutations_never_panic() {
    let base = "---\n# Source: c/templates/d.yaml\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      initContainers: [{name: i, image: 'busybox:1'}]\n      containers:\n        - name: c\n          image: ghcr.io/a/b:1@sha256:0123456789012345678901234567890123456789012345678901234567890123\n          args: [--x-image=quay.io/x/y:2, --y-image, a/b:3]\n          env: [{name: A_IMAGE, value: 'c/d:4'}]\n      volumes: [{name: v, image: {reference: 'e/f:5'}}]\n---\nkind: ConfigMap\ndata:\n  k: |\n    image: g/h:6\n    \"image\": \"i/j:7\"\n---\nkind: List\nitems: [{kind: Pod, spec: {containers: [{image: k/l:8}]}}]\n";
    let alphabet = b" \n:-[]{}'\"&*!|>#@/.,0aZ\t";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..(next() % 6 + 1) {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => bytes.truncate(at.max(1)),
                _ => {
                    let end = (at + (next() as usize) % 40).min(bytes.len());
                    let chunk = bytes[at..end].to_vec();
                    bytes.splice(at..at, chunk);
                }
            }
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = scan(text);
        }
    }
}
