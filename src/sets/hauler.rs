//! hauler's content manifests (`content.hauler.cattle.io/v1`, `kind: Images` and
//! `kind: Charts`; other kinds warned about), read as `hauler store sync` reads them, into a
//! [`MirrorSet`]. hauler stores, it does not name a destination: the set's `to` comes from
//! `--to`. A chart brings its images only with `add-images: true`, as in hauler; the
//! `hauler.dev/platform` annotation is the platform of every entry of its manifest without one.

use super::fields::Fields;
use super::mirror_set::chart_source;
use super::{
    ChartEntry, ChartSource, ImageEdits, ImageEntry, ImageSource, Kind, MirrorSet, Read, Select,
    SetError, Warning,
};
use crate::yaml::Node;

const SIGNATURE_FIELDS: [(&str, &str); 5] = [
    (
        "key",
        "verify upstream signatures with a purser policy (`defaults.verify`)",
    ),
    (
        "certificate-identity",
        "verify upstream signatures with a purser policy (`defaults.verify`)",
    ),
    (
        "certificate-identity-regexp",
        "verify upstream signatures with a purser policy (`defaults.verify`)",
    ),
    (
        "certificate-oidc-issuer",
        "verify upstream signatures with a purser policy (`defaults.verify`)",
    ),
    (
        "certificate-oidc-issuer-regexp",
        "verify upstream signatures with a purser policy (`defaults.verify`)",
    ),
];

pub fn parse(docs: &[Node<'_>]) -> Result<Read, SetError> {
    let mut warnings = Vec::new();
    let mut set = MirrorSet::default();
    for (d, doc) in docs.iter().enumerate() {
        let path = format!("document {}", d + 1);
        let top = Fields::lenient(
            doc,
            &path,
            &["apiVersion", "kind", "metadata", "spec"],
            &[],
            &mut warnings,
        )?;
        let kind = top.string("kind")?.unwrap_or_default();
        let mut platform = None;
        if let Some(m) = top.get("metadata") {
            let m = Fields::lenient(
                m,
                &format!("{path}.metadata"),
                &["name", "annotations"],
                &[],
                &mut warnings,
            )?;
            if let Some(a) = m.get("annotations") {
                let a = Fields::lenient(
                    a,
                    &format!("{path}.metadata.annotations"),
                    &["hauler.dev/platform"],
                    &[
                        (
                            "hauler.dev/registry",
                            "purser reads each image from the registry its reference names",
                        ),
                        ("hauler.dev/key", SIGNATURE_FIELDS[0].1),
                        ("hauler.dev/certificate-identity", SIGNATURE_FIELDS[0].1),
                        ("hauler.dev/certificate-oidc-issuer", SIGNATURE_FIELDS[0].1),
                    ],
                    &mut warnings,
                )?;
                platform = a.string("hauler.dev/platform")?;
            }
        }
        let Some(spec) = top.get("spec") else {
            continue;
        };
        let spec_path = format!("{path}.spec");
        match kind.as_str() {
            "Images" => {
                let s = Fields::lenient(spec, &spec_path, &["images"], &[], &mut warnings)?;
                for (i, n) in s.list("images")?.iter().enumerate() {
                    let mut ignored = SIGNATURE_FIELDS.to_vec();
                    ignored.push((
                        "rewrite",
                        "purser places images by `map` rules of a MirrorSet",
                    ));
                    ignored.push(("tlog-upload", "purser verifies with its own policy"));
                    ignored.push(("use-tlog-verify", "purser verifies with its own policy"));
                    let im = Fields::lenient(
                        n,
                        &format!("{spec_path}.images[{i}]"),
                        &["name", "platform"],
                        &ignored,
                        &mut warnings,
                    )?;
                    set.images.push(ImageEntry {
                        line: im.line(),
                        source: ImageSource::Ref(im.required("name")?),
                        to: Vec::new(),
                        platforms: im
                            .string("platform")?
                            .or(platform.clone())
                            .into_iter()
                            .collect(),
                    });
                }
            }
            "Charts" => {
                let s = Fields::lenient(spec, &spec_path, &["charts"], &[], &mut warnings)?;
                for (i, n) in s.list("charts")?.iter().enumerate() {
                    set.charts.push(chart(
                        n,
                        &format!("{spec_path}.charts[{i}]"),
                        &mut warnings,
                    )?);
                }
            }
            other => warnings.push(Warning {
                line: doc.line,
                path,
                message: format!("kind {other:?} is not carried: purser mirrors Images and Charts"),
            }),
        }
    }
    Ok(Read {
        set,
        kind: Kind::Hauler,
        warnings,
    })
}

fn chart(node: &Node<'_>, path: &str, warnings: &mut Vec<Warning>) -> Result<ChartEntry, SetError> {
    let c = Fields::lenient(
        node,
        path,
        &[
            "name",
            "repoURL",
            "version",
            "valuesFiles",
            "add-images",
            "add-dependencies",
        ],
        &[(
            "rewrite",
            "purser places charts under `charts/` of the destination",
        )],
        warnings,
    )?;
    let name = c.required("name")?;
    let source = match c.string("repoURL")? {
        Some(url) if url.starts_with("oci://") => {
            ChartSource::Oci(format!("{}/{name}", url.trim_end_matches('/')))
        }
        Some(url) => ChartSource::Repo { url, name },
        None => chart_source(&name),
    };
    if c.bool("add-dependencies")? == Some(false) {
        warnings.push(Warning {
            line: c.line(),
            path: c.path_of("add-dependencies"),
            message: "false is not carried: the chart goes as published, its vendored dependencies with it".into(),
        });
    }
    Ok(ChartEntry {
        line: c.line(),
        source,
        versions: c.string("version")?,
        select: Select::Latest,
        release: None,
        namespace: None,
        values: None,
        values_files: c.strings("valuesFiles")?,
        images: ImageEdits::default(),
        to: Vec::new(),
        all: None,
        carry_images: c.bool("add-images")?.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::super::read;
    use super::*;

    #[test]
    fn images_and_charts_as_hauler_reads_them() {
        let text = "\
apiVersion: content.hauler.cattle.io/v1
kind: Images
metadata:
  name: imgs
  annotations:
    hauler.dev/platform: linux/amd64
spec:
  images:
  - name: docker.io/library/busybox:1.36
  - name: ghcr.io/org/tool:1
    platform: linux/arm64
    key: cosign.pub
---
apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata: {name: charts}
spec:
  charts:
  - name: podinfo
    repoURL: http://127.0.0.1:8080
    version: 6.9.1
    add-images: true
  - name: app
    repoURL: oci://127.0.0.1:5000/charts
    version: \">=1\"
---
apiVersion: content.hauler.cattle.io/v1
kind: Files
spec: {files: [{path: x}]}
";
        let read = read(text).unwrap();
        assert_eq!(read.kind, Kind::Hauler);
        let set = read.set;
        assert_eq!(set.images[0].platforms, ["linux/amd64"]);
        assert_eq!(set.images[1].platforms, ["linux/arm64"]);
        assert!(set.charts[0].carry_images && !set.charts[1].carry_images);
        assert_eq!(
            set.charts[1].source,
            ChartSource::Oci("oci://127.0.0.1:5000/charts/app".into())
        );
        let warned: Vec<&str> = read.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(warned, ["document 1.spec.images[1].key", "document 3"]);
    }
}
