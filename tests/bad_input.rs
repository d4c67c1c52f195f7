//! Bad input to `helm images` (the WASM plugin under real Helm): a clear error that names the
//! place, exit 1, never a panic, never partial output.

use crate::support;

use flate2::Compression;
use flate2::write::GzEncoder;
use support::{Helm, Run};

fn assert_clear_error(run: &Run, needles: &[&str]) {
    run.assert_code(1);
    assert!(
        run.stdout.is_empty(),
        "no partial output on failure: {}",
        run.describe()
    );
    assert!(
        run.stderr.contains("Error: plugin error:"),
        "{}",
        run.describe()
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}: {}",
            run.describe()
        );
    }
}

/// A gzipped tar with raw headers, so paths and links a safe writer would refuse can be made.
fn archive(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, kind, body, link) in entries {
        let mut header = tar::Header::new_gnu();
        let name = path.as_bytes();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(*kind);
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, *body).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

const CHART_YAML: &[u8] = b"apiVersion: v2\nname: evil\nversion: 0.1.0\n";

#[test]
fn not_yaml_names_document_and_line() {
    let helm = Helm::with_plugin();
    let stream = "---\n# Source: x/templates/ok.yaml\nkind: Pod\nspec: {}\n---\n# Source: x/templates/bad.yaml\nkind: Pod\nspec:\n  containers:\n    - image: [nginx\n";
    let run = helm.images(&[], stream.as_bytes());
    assert_clear_error(
        &run,
        &["document 2", "x/templates/bad.yaml", "not valid YAML"],
    );
}

#[test]
fn bad_reference_in_a_typed_field() {
    let helm = Helm::with_plugin();
    let stream = "kind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: Nginx:Latest\n";
    let run = helm.images(&[], stream.as_bytes());
    assert_clear_error(&run, &["line 9", "container app", "must be lowercase"]);
}

#[test]
fn binary_garbage() {
    let helm = Helm::with_plugin();
    let mut garbage = vec![0u8; 4096];
    let mut x: u32 = 0x9e37_79b9;
    for b in &mut garbage {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    garbage[0] = 0xff;
    let run = helm.images(&[], &garbage);
    assert_clear_error(&run, &["neither a chart archive"]);
}

#[test]
fn truncated_archive() {
    let helm = Helm::with_plugin();
    let dir = tempfile::tempdir().unwrap();
    helm.run(
        [
            "package",
            "tests/fixtures/charts/shapes",
            "--destination",
            dir.path().to_str().unwrap(),
        ],
        None,
    )
    .assert_success();
    let bytes = std::fs::read(dir.path().join("shapes-1.2.3.tgz")).unwrap();
    let run = helm.images(&[], &bytes[..bytes.len() / 2]);
    assert_clear_error(&run, &["chart archive", "truncated or corrupt"]);
}

#[test]
fn archives_that_escape_or_link() {
    let helm = Helm::with_plugin();
    use tar::EntryType::{Link, Regular, Symlink};
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "dot-dot",
            archive(&[
                ("evil/Chart.yaml", Regular, CHART_YAML, None),
                ("evil/../../etc/x", Regular, b"x", None),
            ]),
            "..",
        ),
        (
            "absolute",
            archive(&[("/evil/Chart.yaml", Regular, CHART_YAML, None)]),
            "absolute",
        ),
        (
            "symlink",
            archive(&[
                ("evil/Chart.yaml", Regular, CHART_YAML, None),
                ("evil/values.yaml", Symlink, b"", Some("/etc/passwd")),
            ]),
            "link",
        ),
        (
            "hardlink",
            archive(&[
                ("evil/Chart.yaml", Regular, CHART_YAML, None),
                ("evil/templates/x.yaml", Link, b"", Some("evil/Chart.yaml")),
            ]),
            "link",
        ),
    ];
    for (what, bytes, needle) in cases {
        let run = helm.images(&[], &bytes);
        assert_clear_error(&run, &["chart archive", needle]);
        let _ = what;
    }
}

#[test]
fn alias_bomb() {
    let helm = Helm::with_plugin();
    let mut text = String::from(
        "kind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a0: &a0 [image, image, image, image, image, image, image, image, image]\n",
    );
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let run = helm.images(&[], text.as_bytes());
    assert_clear_error(&run, &["alias bomb", "document 1"]);
}

#[test]
fn empty_stdin() {
    let helm = Helm::with_plugin();
    let run = helm.images(&[], b"\n  \n");
    assert_clear_error(&run, &["nothing on stdin"]);
}

#[test]
fn fifty_megabytes_inside_the_memory_limit() {
    let helm = Helm::with_plugin();
    let doc = "---\n# Source: big/templates/d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-NNNN\n  annotations:\n    note: \"padding padding padding padding padding padding padding padding padding padding\"\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/big/app-NNNN:1.0\n          args: [\"--x-image=quay.io/big/helper:2\"]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-NNNN\ndata:\n  blob: |\n    lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet\n    lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet\n";
    let mut stream = String::with_capacity(52 << 20);
    let mut n = 0;
    while stream.len() < 50 << 20 {
        stream.push_str(&doc.replace("NNNN", &(n % 500).to_string()));
        n += 1;
    }
    let run = helm.images(&["-o", "list"], stream.as_bytes());
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 501, "500 app images and the helper");
    assert!(lines.contains(&"quay.io/big/helper:2"));
}
