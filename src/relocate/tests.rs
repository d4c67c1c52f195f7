use super::*;
use crate::destination::{Mapping, Target};
use crate::inventory::Origin;
use crate::lock::{ChartId, Metadata, PlatformDigest};
use std::collections::BTreeMap;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn rules(to: &str) -> Rules {
    Rules {
        to: Target::parse(to, "--to").unwrap(),
        flatten: false,
        maps: Vec::new(),
    }
}

fn to(stream: &str, target: &str) -> String {
    let rules = rules(target);
    relocate(
        stream,
        &Options {
            rules: Some(&rules),
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .text
}

fn lock(entries: &[(&str, Option<&str>, &[&str])]) -> Lock {
    Lock {
        api_version: crate::lock::API_VERSION.into(),
        kind: crate::lock::KIND.into(),
        metadata: Metadata {
            generated_at: "2026-01-01T00:00:00Z".into(),
            generated_by: "test".into(),
        },
        chart: ChartId::default(),
        images: entries
            .iter()
            .map(|(image, digest, platforms)| LockedImage {
                name: image.rsplit('/').next().unwrap().into(),
                image: Reference::parse(image).unwrap().canonical(),
                chart: "demo".into(),
                digest: digest.map(str::to_owned),
                digests: platforms
                    .iter()
                    .map(|d| PlatformDigest::new(*d, "linux/amd64"))
                    .collect(),
                source_digest: None,
                mirror: None,
                missing: None,
                confidence: None,
                confirmed: false,
                signatures: Vec::new(),
                patched: None,
            })
            .collect(),
        unresolved: Vec::new(),
    }
}

/// `after` with the text of every scalar holding a reference put back as it is in `before`:
/// equal to `before` when relocation changed nothing else.
fn restore(before: &str, after: &str) -> String {
    let b = manifests::scan(before).unwrap().findings;
    let a = manifests::scan(after).unwrap().findings;
    assert_eq!(b.len(), a.len(), "the rewrite changed what is found");
    let mut back: BTreeMap<usize, (usize, &str)> = BTreeMap::new();
    let mut put = |sa: &Span, sb: &Span| {
        back.insert(
            sa.scalar.start,
            (sa.scalar.end, &before[sb.scalar.start..sb.scalar.end]),
        );
    };
    for (fb, fa) in b.iter().zip(&a) {
        match (fb.spot.as_ref().unwrap(), fa.spot.as_ref().unwrap()) {
            (Spot::Text(sb), Spot::Text(sa)) => put(sa, sb),
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
    let mut out = String::new();
    let mut at = 0;
    for (start, (end, text)) in back {
        out.push_str(&after[at..start]);
        out.push_str(text);
        at = end;
    }
    out.push_str(&after[at..]);
    out
}

fn images(stream: &str) -> Vec<String> {
    manifests::scan(stream)
        .unwrap()
        .findings
        .iter()
        .map(|f| f.reference.canonical())
        .collect()
}

const STREAM: &str = "\
---
# Source: demo/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment   # a comment after the kind
metadata:
  name: web
  annotations:
    postrenderer.helm.sh/postrender-filename: 'demo/templates/deploy.yaml'
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: 'busybox:1.36'
      containers:
      - name: web   
        image: \"nginx:1.27\"   # pinned later
        args: [\"--sidecar-image=ghcr.io/acme/sidecar:2\", --log=info]
        env:
        - {name: HELPER_IMAGE, value: quay.io/acme/helper:6}
      - name: shell
        image: docker.io/library/alpine:3.20
        command:
        - sh
        - -c
        - |
          exec run --x-image=quay.io/acme/x:1 --other=1
---
apiVersion: v1
kind: ConfigMap
metadata: {name: jobs}
data:
  jobs.yaml: |
    backup:
      image: docker.io/restic/restic:0.17.3
    again:
      image: docker.io/restic/restic:0.17.3
...
";

#[test]
fn every_reference_moves_and_nothing_else_changes() {
    let out = to(STREAM, "registry.internal/mirror");
    for image in images(&out) {
        assert!(
            image.starts_with("registry.internal/mirror/"),
            "{image} not moved:\n{out}"
        );
    }
    assert_eq!(images(&out).len(), 8);
    assert!(out.contains("        image: 'registry.internal/mirror/library/busybox:1.36'\n"));
    assert!(out.contains(
        "        image: \"registry.internal/mirror/library/nginx:1.27\"   # pinned later\n"
    ));
    assert!(out.contains(
        "args: [\"--sidecar-image=registry.internal/mirror/acme/sidecar:2\", --log=info]"
    ));
    assert!(out.contains("value: registry.internal/mirror/acme/helper:6}"));
    assert!(out.contains("exec run --x-image=registry.internal/mirror/acme/x:1 --other=1\n"));
    assert_eq!(
        out.matches("image: registry.internal/mirror/restic/restic:0.17.3\n")
            .count(),
        2
    );
    assert!(
        out.contains("      - name: web   \n"),
        "trailing spaces kept"
    );
    assert_eq!(restore(STREAM, &out), STREAM);
}

#[test]
fn typed_only_leaves_args_env_and_config_maps() {
    let rules = rules("r.io/m");
    let out = relocate(
        STREAM,
        &Options {
            rules: Some(&rules),
            typed_only: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(out.references, 3);
    assert_eq!(out.rewritten, 3);
    assert!(out.text.contains("--sidecar-image=ghcr.io/acme/sidecar:2"));
    assert!(out.text.contains("image: docker.io/restic/restic:0.17.3"));
    assert!(out.text.contains("image: r.io/m/library/alpine:3.20"));
    assert_eq!(restore(STREAM, &out.text), STREAM);
}

#[test]
fn flatten_and_maps_name_like_helm_mirror() {
    let rules = Rules {
        to: Target::parse("r.io/all", "--to").unwrap(),
        flatten: true,
        maps: vec![Mapping::parse("quay.io/acme=q.internal/acme").unwrap()],
    };
    let out = relocate(
        STREAM,
        &Options {
            rules: Some(&rules),
            ..Options::default()
        },
    )
    .unwrap()
    .text;
    assert!(out.contains("value: q.internal/acme/helper:6}"), "{out}");
    assert!(out.contains("image: 'r.io/all/busybox:1.36'"), "{out}");
}

#[test]
fn block_scalars_quotes_and_escapes() {
    let stream = "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: >-\n      nginx:1\n  - name: b\n    image: \"quay.io/x/y:1\"\n    args:\n    - \"--foo-image=quay.io/x/z:1 --name=\\\"q\\\"\"\n    - 'it''s --bar-image=quay.io/x/w:1'\n";
    let out = to(stream, "r.io/m");
    assert!(
        out.contains("image: >-\n      r.io/m/library/nginx:1\n"),
        "{out}"
    );
    assert!(
        out.contains("- \"--foo-image=r.io/m/x/z:1 --name=\\\"q\\\"\"\n"),
        "{out}"
    );
    assert!(
        out.contains("- 'it''s --bar-image=r.io/m/x/w:1'\n"),
        "{out}"
    );
    assert_eq!(restore(stream, &out), stream);
}

#[test]
fn plain_scalars_that_need_quotes_get_them() {
    let stream = "kind: Pod\nspec:\n  containers:\n  - {name: a, image: nginx:1, args: [--x-image=quay.io/a/b:1, it's]}\n  - name: b\n    image: &img !!str busybox:1\n    args: [--y-image=quay.io/a/c:1]\n  - name: c\n    image: *img\n";
    let out = to(stream, "[::1]:5000/m");
    assert!(
        out.contains(
            "{name: a, image: '[::1]:5000/m/library/nginx:1', args: ['--x-image=[::1]:5000/m/a/b:1', it's]}"
        ),
        "{out}"
    );
    assert!(
        out.contains("image: &img !!str '[::1]:5000/m/library/busybox:1'\n"),
        "{out}"
    );
    for image in images(&out) {
        assert!(image.starts_with("[::1]:5000/m/"), "{image}: {out}");
    }
    assert_eq!(images(&out).len(), 5, "the alias reads the new text too");
    assert_eq!(restore(stream, &out), stream);
}

#[test]
fn non_ascii_text_before_a_reference() {
    let stream = "kind: Pod\nmetadata:\n  annotations: {note: \"café – ünïcödé ✓\"}\nspec:\n  containers:\n  - name: é\n    image: nginx:1 # ✓ ok\n---\n# Source: x/é.yaml\nkind: ConfigMap\ndata:\n  a: \"日本語 image: quay.io/a/b:2\"\n";
    let out = to(stream, "r.io");
    assert!(
        out.contains("    image: r.io/library/nginx:1 # ✓ ok\n"),
        "{out}"
    );
    assert!(out.contains("  a: \"日本語 image: r.io/a/b:2\"\n"), "{out}");
    assert_eq!(restore(stream, &out), stream);
}

#[test]
fn image_maps_are_rewritten_part_by_part() {
    let stream = "apiVersion: acme.io/v1\nkind: Widget\nspec:\n  exporter:\n    image:\n      registry: docker.io\n      repository: bitnami/redis-exporter\n      tag: 1.62.0\n  agent:\n    image: {repository: quay.io/acme/agent, tag: \"2\"}\n  bare:\n    image: {repository: ghcr.io/acme/bare}\n";
    let out = to(stream, "r.io/m");
    assert!(
        out.contains(
            "      registry: r.io\n      repository: m/bitnami/redis-exporter\n      tag: 1.62.0\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("{repository: r.io/m/acme/agent, tag: \"2\"}"),
        "{out}"
    );
    let lock = lock(&[
        ("docker.io/bitnami/redis-exporter:1.62.0", Some(D1), &[]),
        ("quay.io/acme/agent:2", Some(D2), &[]),
        ("ghcr.io/acme/bare:latest", Some(D3), &[]),
    ]);
    let rules = rules("r.io/m");
    let pinned = relocate(
        stream,
        &Options {
            rules: Some(&rules),
            lock: Some(&lock),
            enforce: true,
            ..Options::default()
        },
    )
    .unwrap()
    .text;
    assert!(
        pinned.contains(&format!("      tag: 1.62.0@{D1}\n")),
        "{pinned}"
    );
    assert!(pinned.contains(&format!("tag: \"2@{D2}\"}}")), "{pinned}");
    assert!(
        pinned.contains(&format!("{{repository: r.io/m/acme/bare@{D3}}}")),
        "{pinned}"
    );
    assert_eq!(restore(stream, &pinned), stream);

    // Pinned in place: the parts as written, the digest added.
    let in_place = relocate(
        stream,
        &Options {
            lock: Some(&lock),
            ..Options::default()
        },
    )
    .unwrap()
    .text;
    assert!(
        in_place.contains(&format!(
            "      registry: docker.io\n      repository: bitnami/redis-exporter\n      tag: 1.62.0@{D1}\n"
        )),
        "{in_place}"
    );
    assert!(
        in_place.contains(&format!("{{repository: ghcr.io/acme/bare@{D3}}}")),
        "{in_place}"
    );
    assert_eq!(restore(stream, &in_place), stream);
}

#[test]
fn a_lock_pins_to_the_index_digest_and_keeps_the_tag() {
    let lock = lock(&[
        ("busybox:1.36", Some(D1), &[D2, D3]),
        ("nginx:1.27", None, &[D2]),
        ("alpine:3.20", Some(D3), &[]),
        ("ghcr.io/acme/sidecar:2", Some(D1), &[]),
        ("quay.io/acme/helper:6", Some(D1), &[]),
        ("quay.io/acme/x:1", Some(D1), &[]),
        ("restic/restic:0.17.3", Some(D2), &[]),
    ]);
    let rules = rules("r.io/m");
    let out = relocate(
        STREAM,
        &Options {
            rules: Some(&rules),
            lock: Some(&lock),
            enforce: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let text = &out.text;
    assert!(text.contains(&format!("image: 'r.io/m/library/busybox:1.36@{D1}'")));
    assert!(
        text.contains(&format!("image: \"r.io/m/library/nginx:1.27@{D2}\"")),
        "the only platform digest when there is no index digest"
    );
    assert!(text.contains(&format!("--sidecar-image=r.io/m/acme/sidecar:2@{D1}\"")));
    for f in manifests::scan(text).unwrap().findings {
        assert!(f.reference.digest().is_some(), "{} unpinned", f.written);
    }
    assert_eq!(restore(STREAM, text), STREAM);
}

#[test]
fn a_lock_without_a_target_pins_in_place() {
    let stream = "# Source: a/b.yaml\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx:1.27\n  - name: b\n    image: \"quay.io/a/b:1@sha256:1111111111111111111111111111111111111111111111111111111111111111\"\n";
    let lock = lock(&[("nginx:1.27", Some(D2), &[]), ("quay.io/a/b:1", None, &[])]);
    // quay.io/a/b:1@D1 is a different canonical from quay.io/a/b:1: lock it as written.
    let mut lock = lock;
    lock.images[1].image = format!("quay.io/a/b:1@{D1}");
    let out = relocate(
        stream,
        &Options {
            lock: Some(&lock),
            enforce: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(
        out.text,
        stream.replace("image: nginx:1.27", &format!("image: nginx:1.27@{D2}"))
    );
    assert_eq!(out.rewritten, 1);
}

#[test]
fn a_lock_that_contradicts_the_chart_is_an_error() {
    let stream = format!("kind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx:1@{D1}\n");
    let mut lock = lock(&[]);
    lock.images = self::lock(&[("nginx:1", Some(D2), &[])]).images;
    lock.images[0].image = format!("docker.io/library/nginx:1@{D1}");
    let err = relocate(
        &stream,
        &Options {
            lock: Some(&lock),
            ..Options::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("the chart pins it to") && err.contains(D2),
        "{err}"
    );
}

#[test]
fn enforce_names_image_template_resource_and_container() {
    let lock = lock(&[("alpine:3.20", Some(D3), &[])]);
    let options = Options {
        lock: Some(&lock),
        enforce: true,
        typed_only: true,
        ..Options::default()
    };
    assert!(matches!(
        relocate(STREAM, &options),
        Err(RelocateError::NotPinned(problems)) if problems.len() == 2 && problems.iter().all(|p| p.unpinned)
    ));
    let err = relocate(STREAM, &options).unwrap_err().to_string();
    assert!(
        err.starts_with("2 images the lock does not pin (--enforce):"),
        "{err}"
    );
    assert!(
        err.contains("docker.io/library/nginx:1.27: not in the lock\n    at demo/templates/deploy.yaml: Deployment web container web spec.template.spec.containers[0].image"),
        "{err}"
    );
    assert!(
        err.contains("docker.io/library/busybox:1.36: not in the lock"),
        "{err}"
    );
    // Without the `# Source:` comment (a post-renderer's input), the annotation names it.
    let stream = STREAM.replace("# Source: demo/templates/deploy.yaml\n", "");
    let err = relocate(&stream, &options).unwrap_err().to_string();
    assert!(
        err.contains("at demo/templates/deploy.yaml: Deployment web container init"),
        "{err}"
    );
}

#[test]
fn unresolved_likely_images_of_the_lock_are_left_as_written() {
    let stream = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: alpine:3.20\n      env:\n        - name: HELPER_IMAGE\n          value: acme/ghost:1\n";
    let mut lock = lock(&[("alpine:3.20", Some(D3), &[])]);
    let enforce = |lock: &Lock| {
        relocate(
            stream,
            &Options {
                lock: Some(lock),
                enforce: true,
                ..Options::default()
            },
        )
    };
    let err = enforce(&lock).unwrap_err().to_string();
    assert!(
        err.contains("docker.io/acme/ghost:1: not in the lock"),
        "{err}"
    );
    lock.unresolved.push(crate::lock::UnresolvedImage {
        name: "ghost".into(),
        image: "docker.io/acme/ghost:1".into(),
        chart: "demo".into(),
        confidence: Confidence::Likely,
        reason: "not found".into(),
        found_at: Vec::new(),
    });
    let out = enforce(&lock).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.text.contains(&format!("image: alpine:3.20@{D3}")),
        "{}",
        out.text
    );
    assert!(out.text.contains("value: acme/ghost:1\n"), "{}", out.text);
    assert_eq!(out.references, 1, "the unresolved one is not counted");
}

#[test]
fn without_enforce_unlisted_images_are_moved_unpinned_with_a_warning() {
    let lock = lock(&[
        ("alpine:3.20", Some(D3), &[]),
        ("nginx:1.27", None, &[D1, D2]),
    ]);
    let rules = rules("r.io");
    let out = relocate(
        STREAM,
        &Options {
            rules: Some(&rules),
            lock: Some(&lock),
            typed_only: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(
        out.text
            .contains(&format!("image: r.io/library/alpine:3.20@{D3}"))
    );
    assert!(out.text.contains("image: 'r.io/library/busybox:1.36'"));
    assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
    assert!(
        out.warnings[1].contains("in the lock without a digest"),
        "{:?}",
        out.warnings
    );
    let err = relocate(
        STREAM,
        &Options {
            rules: Some(&rules),
            lock: Some(&lock),
            typed_only: true,
            enforce: true,
            ..Options::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("nginx:1.27: in the lock without a digest"),
        "{err}"
    );
}

#[test]
fn escaped_references_are_refused_not_mangled() {
    let stream = "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: \"nginx\\x3a1\"\n";
    let finding = &manifests::scan(stream).unwrap().findings[0];
    assert_eq!(finding.spot, None);
    let err = relocate(
        stream,
        &Options {
            rules: Some(&rules("r.io")),
            ..Options::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("escape sequences"), "{err}");
    assert!(matches!(
        relocate(
            stream,
            &Options {
                rules: Some(&rules("r.io")),
                ..Options::default()
            },
        ),
        Err(RelocateError::NotRelocated(_))
    ));
    // Nothing to change (no lock entry, no target): left alone.
    let lock = lock(&[]);
    let out = relocate(
        stream,
        &Options {
            lock: Some(&lock),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(out.text, stream);
}

#[test]
fn bad_streams() {
    let rules = rules("r.io");
    let options = Options {
        rules: Some(&rules),
        ..Options::default()
    };
    assert_eq!(relocate("", &options), Err(RelocateError::EmptyStream));
    assert!(
        relocate("", &options)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    assert!(
        relocate(" \n\n", &options)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    let err = relocate("# Source: a/t.yaml\nkind: Pod\nimage: [1, 2\n", &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not valid YAML") && err.contains("a/t.yaml"),
        "{err}"
    );
    let err = relocate(
        "kind: Pod\nspec:\n  containers:\n  - {name: a, image: \"nginx:-bad\"}\n",
        &options,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("container a"), "{err}");
    assert!(
        relocate(
            "kind: Pod\n",
            &Options {
                enforce: true,
                ..Options::default()
            }
        )
        .unwrap_err()
        .to_string()
        .contains("needs a lock")
    );
}

#[test]
fn documents_without_images_are_copied_untouched() {
    let stream = "---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n...\n---\n\n";
    let out = to(stream, "r.io");
    assert_eq!(out, stream);
}

#[test]
fn origins_of_post_renderer_input_name_the_template() {
    let stream = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    postrenderer.helm.sh/postrender-filename: 'c/templates/p.yaml'\nspec:\n  containers:\n  - {name: a, image: nginx}\n";
    let f = &manifests::scan(stream).unwrap().findings[0];
    match &f.origin {
        Origin::Rendered { template, .. } => {
            assert_eq!(template.as_deref(), Some("c/templates/p.yaml"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_large_stream_is_rewritten_quickly() {
    let mut stream = String::new();
    let mut n = 0;
    while stream.len() < 10 << 20 {
        let _ = write!(
            stream,
            "---\n# Source: big/templates/d{n}.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{n}\n  labels: {{app: d{n}, tier: web}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: \"ghcr.io/acme/app{n}:1.{n}\"\n        args: [--sidecar-image=quay.io/acme/side:{n}, --verbose]\n        env:\n        - name: A\n          value: \"{}\"\n",
            "x".repeat(200)
        );
        n += 1;
    }
    let started = std::time::Instant::now();
    let out = to(&stream, "registry.internal/mirror");
    let took = started.elapsed();
    assert_eq!(out.matches("registry.internal/mirror/").count(), 2 * n);
    // Generous for debug builds; scripts/bench-relocate.sh measures the release binary.
    assert!(took.as_secs() < 20, "{took:?}");
}

/// Mangled streams: no panic; whatever is rewritten reads back as YAML, finds the same
/// references, all at the target, and differs from the input only in their scalars.
#[test]
fn mutations_rewrite_only_references() {
    let base = "---\n# Source: c/templates/d.yaml\nkind: Deployment\nmetadata: {name: x, note: \"é\"}\nspec:\n  template:\n    spec:\n      initContainers: [{name: i, image: 'busybox:1'}]\n      containers:\n        - name: c\n          image: ghcr.io/a/b:1@sha256:0123456789012345678901234567890123456789012345678901234567890123\n          args: [--x-image=quay.io/x/y:2, --y-image, a/b:3, \"--z-image=q.io/z:1 --w\"]\n          env: [{name: A_IMAGE, value: 'c/d:4'}]\n      volumes: [{name: v, image: {reference: 'e/f:5'}}]\n---\nkind: ConfigMap\ndata:\n  k: |\n    image: g/h:6\n    \"image\": \"i/j:7\"\n---\nkind: Widget\nspec:\n  image: {registry: r.io, repository: a/w, tag: 1}\n---\nkind: List\nitems: [{kind: Pod, spec: {containers: [{image: k/l:8}]}}]\n";
    let alphabet = " \n:-[]{}'\"&*!|>#@/.,0aZ\té\\";
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let rules = rules("[::1]:5000/m");
    let options = Options {
        rules: Some(&rules),
        ..Options::default()
    };
    let mut rewritten = 0;
    for _ in 0..3000 {
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % chars.len();
            match next() % 3 {
                0 => chars[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => chars.truncate(at.max(1)),
                _ => {
                    let end = (at + (next() as usize) % 40).min(chars.len());
                    let chunk = chars[at..end].to_vec();
                    chars.splice(at..at, chunk);
                }
            }
        }
        let text: String = chars.into_iter().collect();
        let Ok(out) = relocate(&text, &options) else {
            continue;
        };
        rewritten += 1;
        let again = manifests::scan(&out.text)
            .unwrap_or_else(|e| panic!("{e}\n--- input\n{text}\n--- output\n{}", out.text));
        for f in &again.findings {
            assert!(
                f.reference.registry() == "[::1]:5000",
                "{} not moved\n--- input\n{text}\n--- output\n{}",
                f.written,
                out.text
            );
        }
        assert_eq!(restore(&text, &out.text), text, "--- output\n{}", out.text);
    }
    assert!(
        rewritten > 500,
        "only {rewritten} mangled streams were rewritten"
    );
}

/// An injector's ConfigMap: `values` composes `{hub}/{image}:{tag}` (the proxy twice, as
/// Istio's does), beside a reference written whole.
fn injector(values: &str) -> String {
    format!(
        "\
# Source: mesh/templates/injector.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: injector
data:
  values: |-
    {values}
  sidecar: quay.io/mesh/sidecar:1.0
"
    )
}

const MESH: &str = r#"{"global": {"hub": "quay.io/mesh", "tag": "1.24.0", "proxy": {"image": "proxyv2"}, "proxy_init": {"image": "proxyv2"}}}"#;

fn run(stream: &str, options: &Options<'_>) -> Result<Relocated, String> {
    relocate(stream, options).map_err(|e| e.to_string())
}

/// An injector composes `{hub}/{image}:{tag}` from its embedded values: the hub is rewritten
/// to the mirror's prefix, which moves every image composed from it, and nothing else changes.
#[test]
fn composed_references_move_by_rewriting_the_hub() {
    let stream = injector(MESH);
    let rules = rules("r.io/m");
    let out = run(
        &stream,
        &Options {
            rules: Some(&rules),
            ..Options::default()
        },
    )
    .unwrap();
    let want = stream
        .replace(r#""hub": "quay.io/mesh""#, r#""hub": "r.io/m/mesh""#)
        .replace("sidecar: quay.io/", "sidecar: r.io/m/");
    assert_eq!(out.text, want);
    assert_eq!((out.rewritten, out.references), (3, 3));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(
        images(&out.text),
        [
            "r.io/m/mesh/proxyv2:1.24.0",
            "r.io/m/mesh/proxyv2:1.24.0",
            "r.io/m/mesh/sidecar:1.0"
        ]
    );
    // --flatten: the hub is the mirror itself.
    let flat = Rules {
        flatten: true,
        ..rules.clone()
    };
    let out = run(
        &stream,
        &Options {
            rules: Some(&flat),
            ..Options::default()
        },
    )
    .unwrap();
    assert!(out.text.contains(r#""hub": "r.io/m","#), "{}", out.text);
    // --typed-only leaves them all; without a move or a pin nothing changes.
    let typed = run(
        &stream,
        &Options {
            rules: Some(&rules),
            typed_only: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(typed.text, stream);
    assert_eq!(run(&stream, &Options::default()).unwrap().text, stream);
}

/// One hub that two images composed from it would need to be two things is refused, naming
/// the document, the field and both values. No rule today asks for that (`--map` matches
/// path prefixes, so every image composed from one hub lands under one prefix): the plan is
/// fed a finding whose image a rule would send elsewhere, as a per-image rule would.
#[test]
fn a_hub_that_would_need_two_values_is_refused_naming_both() {
    let stream = injector(
        r#"{"global": {"hub": "quay.io/mesh", "tag": "1.24.0", "proxy": {"image": "proxyv2"}, "ztunnel": {"image": "ztunnel"}}}"#,
    );
    let rules = rules("r.io/m");
    let options = Options {
        rules: Some(&rules),
        ..Options::default()
    };
    let mut plan = Plan::new(&stream, &options);
    for mut finding in manifests::scan(&stream).unwrap().findings {
        if finding.reference.repository().ends_with("/ztunnel") {
            finding.reference = Reference::parse("quay.io/elsewhere/ztunnel:1.24.0").unwrap();
        }
        plan.finding(&finding);
    }
    let err = plan.finish().unwrap_err().to_string();
    assert!(
        err.starts_with("1 image cannot be relocated:\n  quay.io/elsewhere/ztunnel:1.24.0: ")
            && err.contains("ConfigMap injector (mesh/templates/injector.yaml)")
            && err.contains("the hub data.values#global.hub")
            && err.contains(
                r#"both "r.io/m/mesh" (for quay.io/mesh/proxyv2:1.24.0) and "r.io/m/elsewhere" (for this image)"#
            )
            && err.contains("ConfigMap injector data.values#global.ztunnel.image"),
        "{err}"
    );
    // As the rules are, they all go to one place: the hub moves once.
    let maps = Rules {
        maps: vec![Mapping::parse("quay.io/mesh=z.internal/mesh").unwrap()],
        ..rules.clone()
    };
    let out = run(
        &stream,
        &Options {
            rules: Some(&maps),
            ..Options::default()
        },
    )
    .unwrap();
    assert!(
        out.text.contains(r#""hub": "z.internal/mesh""#),
        "{}",
        out.text
    );
    assert_eq!(
        images(&out.text)[..2],
        [
            "z.internal/mesh/proxyv2:1.24.0",
            "z.internal/mesh/ztunnel:1.24.0"
        ]
    );
}

/// An `image` that is a full reference is rewritten where it is written (the injector uses
/// it as it is); the hub beside it stays.
#[test]
fn an_injector_image_that_is_a_full_reference_is_rewritten_itself() {
    let stream = injector(
        r#"{"global": {"hub": "quay.io/mesh", "tag": "1.24.0", "proxy": {"image": "registry.example.io/x/proxy:2"}}}"#,
    );
    let out = to(&stream, "r.io/m");
    assert!(
        out.contains(
            r#""hub": "quay.io/mesh", "tag": "1.24.0", "proxy": {"image": "r.io/m/x/proxy:2"}"#
        ),
        "{out}"
    );
}

/// `image: auto` is what the injector fills in: left as it is, in a container and in an
/// injector's document.
#[test]
fn image_auto_is_left_alone() {
    let stream = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
spec:
  template:
    spec:
      containers:
      - name: istio-proxy
        image: auto
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: injector
data:
  values: |-
    {\"global\": {\"hub\": \"quay.io/mesh\", \"tag\": \"1.24.0\", \"proxy\": {\"image\": \"auto\"}}}
";
    assert!(images(stream).is_empty(), "{:?}", images(stream));
    let rules = rules("r.io/m");
    let lock = lock(&[]);
    let out = run(
        stream,
        &Options {
            rules: Some(&rules),
            lock: Some(&lock),
            enforce: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(out.text, stream);
}

/// With a lock, composed images are pinned through their tag (`tag@digest`, which the
/// injector passes through) when every image composed from it has the same digest; a tag
/// that is a JSON number becomes a string.
#[test]
fn a_lock_pins_composed_images_through_their_tag() {
    let stream = injector(MESH);
    let lock = lock(&[
        ("quay.io/mesh/proxyv2:1.24.0", Some(D1), &[]),
        ("quay.io/mesh/sidecar:1.0", Some(D2), &[]),
    ]);
    let rules = rules("r.io/m");
    let options = Options {
        rules: Some(&rules),
        lock: Some(&lock),
        enforce: true,
        ..Options::default()
    };
    let out = run(&stream, &options).unwrap();
    assert!(
        out.text.contains(&format!(
            r#"{{"global": {{"hub": "r.io/m/mesh", "tag": "1.24.0@{D1}", "proxy""#
        )),
        "{}",
        out.text
    );
    assert_eq!(out.rewritten, 3);
    let want = format!("r.io/m/mesh/proxyv2:1.24.0@{D1}");
    assert_eq!(images(&out.text)[..2], [want.clone(), want]);
    // Pinned in place, no move.
    let pinned = run(
        &stream,
        &Options {
            rules: None,
            ..options
        },
    )
    .unwrap();
    assert!(
        pinned
            .text
            .contains(&format!(r#""hub": "quay.io/mesh", "tag": "1.24.0@{D1}""#)),
        "{}",
        pinned.text
    );
    // A number.
    let number = injector(&MESH.replace(r#""1.24.0""#, "1.24"));
    let lock = crate::relocate::tests::lock(&[
        ("quay.io/mesh/proxyv2:1.24", Some(D1), &[]),
        ("quay.io/mesh/sidecar:1.0", Some(D2), &[]),
    ]);
    let out = run(
        &number,
        &Options {
            lock: Some(&lock),
            ..options
        },
    )
    .unwrap();
    assert!(
        out.text.contains(&format!(r#""tag": "1.24@{D1}","#)),
        "{}",
        out.text
    );
    // An image with its own tag carries the pin itself.
    let own = injector(
        r#"{"global": {"hub": "quay.io/mesh", "tag": "1.24.0", "init": {"image": "init:2"}}}"#,
    );
    let lock = crate::relocate::tests::lock(&[
        ("quay.io/mesh/init:2", Some(D3), &[]),
        ("quay.io/mesh/sidecar:1.0", Some(D2), &[]),
    ]);
    let out = run(
        &own,
        &Options {
            lock: Some(&lock),
            ..options
        },
    )
    .unwrap();
    assert!(
        out.text.contains(&format!(
            r#""hub": "r.io/m/mesh", "tag": "1.24.0", "init": {{"image": "init:2@{D3}"}}"#
        )),
        "{}",
        out.text
    );
    assert_eq!(images(&out.text)[0], format!("r.io/m/mesh/init:2@{D3}"));
    // Checked like any other image: not in the lock fails under enforce.
    let partial = crate::relocate::tests::lock(&[("quay.io/mesh/sidecar:1.0", Some(D2), &[])]);
    let err = run(
        &stream,
        &Options {
            lock: Some(&partial),
            ..options
        },
    )
    .unwrap_err();
    assert!(
        err.contains("1 image the lock does not pin (--enforce)")
            && err.contains("quay.io/mesh/proxyv2:1.24.0: not in the lock")
            && err.contains("data.values#global.proxy.image"),
        "{err}"
    );
}

/// A tag that cannot carry the digest (a variant is appended to it, or it is the tag of
/// images with different digests) is left as it is with a warning; under enforce that fails,
/// saying which image and why.
#[test]
fn composed_images_that_cannot_be_pinned_warn_or_fail_under_enforce() {
    let rules = rules("r.io/m");
    let both = lock(&[
        ("quay.io/mesh/proxyv2:1.24.0", Some(D1), &[]),
        ("quay.io/mesh/ztunnel:1.24.0", Some(D3), &[]),
        ("quay.io/mesh/sidecar:1.0", Some(D2), &[]),
    ]);
    let variant = injector(&MESH.replace(
        r#""tag": "1.24.0","#,
        r#""tag": "1.24.0", "variant": "distroless","#,
    ));
    let shared = injector(
        r#"{"global": {"hub": "quay.io/mesh", "tag": "1.24.0", "proxy": {"image": "proxyv2"}, "ztunnel": {"image": "ztunnel"}}}"#,
    );
    for (stream, why) in [
        (
            &variant,
            r#"appends the variant "distroless" to the tag it composes from data.values#global.tag"#,
        ),
        (&shared, "data.values#global.tag, which is also the tag of"),
    ] {
        let options = Options {
            rules: Some(&rules),
            lock: Some(&both),
            ..Options::default()
        };
        let out = run(stream, &options).unwrap();
        assert!(
            out.text
                .contains(r#""hub": "r.io/m/mesh", "tag": "1.24.0","#),
            "{}",
            out.text
        );
        assert!(
            out.text
                .contains(&format!("sidecar: r.io/m/mesh/sidecar:1.0@{D2}"))
        );
        assert!(
            out.warnings.iter().any(
                |w| w.starts_with("quay.io/mesh/proxyv2:1.24.0: in the lock")
                    && w.contains("left unpinned")
                    && w.contains(why)
            ),
            "{:?}",
            out.warnings
        );
        let err = run(
            stream,
            &Options {
                enforce: true,
                ..options
            },
        )
        .unwrap_err();
        assert!(
            err.contains("the lock does not pin (--enforce)")
                && err.contains(&format!(
                    "quay.io/mesh/proxyv2:1.24.0: in the lock ({D1}) but cannot be pinned in place"
                ))
                && err.contains(why)
                && err.contains("through the chart's values")
                && !err.contains("lock them (helm mirror lock")
                && err.contains("ConfigMap injector data.values#global.proxy.image"),
            "{err}"
        );
    }
    // Shared with an image the lock does not pin: the tag cannot take the other's digest.
    let one = lock(&[
        ("quay.io/mesh/proxyv2:1.24.0", Some(D1), &[]),
        ("quay.io/mesh/sidecar:1.0", Some(D2), &[]),
    ]);
    let out = run(
        &shared,
        &Options {
            rules: Some(&rules),
            lock: Some(&one),
            ..Options::default()
        },
    )
    .unwrap();
    assert!(out.text.contains(r#""tag": "1.24.0","#), "{}", out.text);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("quay.io/mesh/ztunnel:1.24.0, which the lock does not pin")),
        "{:?}",
        out.warnings
    );
}

/// What `helm template rel istiod` and `helm template gw istio/gateway` render where images
/// are concerned (istiod 1.24: the injector's values as toPrettyJson writes them, its
/// injection template, the discovery Deployment; the gateway's `image: auto`): every image
/// moves and is pinned, `auto` stays, and nothing else changes.
#[test]
fn istiod_and_its_gateway_move_and_pin() {
    let stream = r#"---
# Source: istiod/templates/istiod-injector-configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio-sidecar-injector
  namespace: istio-system
data:
  values: |-
    {
      "gateways": {
        "seccompProfile": {},
        "securityContext": {}
      },
      "global": {
        "hub": "docker.io/istio",
        "imagePullPolicy": "",
        "logging": {
          "level": "default:info"
        },
        "proxy": {
          "autoInject": "enabled",
          "image": "proxyv2",
          "statusPort": 15020
        },
        "proxy_init": {
          "forceApplyIptables": false,
          "image": "proxyv2"
        },
        "tag": "1.24.0",
        "variant": ""
      },
      "pilot": {
        "cni": {
          "enabled": false,
          "provider": "default"
        },
        "env": {}
      },
      "revision": "",
      "sidecarInjectorWebhook": {
        "defaultTemplates": [],
        "templates": {}
      }
    }

  # To disable injection: use omitSidecarInjectorConfigMap
  config: |-
    defaultTemplates: [sidecar]
    policy: enabled
    templates:
      sidecar: |
        containers:
        - name: istio-proxy
          image: "{{ annotation .ObjectMeta `sidecar.istio.io/proxyImage` (ProxyImage .Values .ProxyConfig.Image .ObjectMeta.Annotations) }}"
---
# Source: istiod/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
spec:
  template:
    spec:
      containers:
        - name: discovery
          image: "docker.io/istio/pilot:1.24.0"
---
# Source: gateway/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gw
spec:
  template:
    metadata:
      annotations:
        inject.istio.io/templates: "gateway"
    spec:
      containers:
        - name: istio-proxy
          # Managed by Istio Injection, do not set
          image: auto
"#;
    assert_eq!(
        images(stream),
        [
            "docker.io/istio/proxyv2:1.24.0",
            "docker.io/istio/proxyv2:1.24.0",
            "docker.io/istio/pilot:1.24.0"
        ]
    );
    let rules = rules("registry.internal/mirror");
    let lock = lock(&[
        ("docker.io/istio/proxyv2:1.24.0", Some(D1), &[]),
        ("docker.io/istio/pilot:1.24.0", Some(D2), &[]),
    ]);
    let out = run(
        stream,
        &Options {
            rules: Some(&rules),
            lock: Some(&lock),
            enforce: true,
            ..Options::default()
        },
    )
    .unwrap();
    let want = stream
        .replace(
            r#""hub": "docker.io/istio","#,
            r#""hub": "registry.internal/mirror/istio","#,
        )
        .replace(r#""tag": "1.24.0","#, &format!(r#""tag": "1.24.0@{D1}","#))
        .replace(
            r#"image: "docker.io/istio/pilot:1.24.0""#,
            &format!(r#"image: "registry.internal/mirror/istio/pilot:1.24.0@{D2}""#),
        );
    assert_eq!(out.text, want);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let proxy = format!("registry.internal/mirror/istio/proxyv2:1.24.0@{D1}");
    assert_eq!(images(&out.text)[..2], [proxy.clone(), proxy]);
}
