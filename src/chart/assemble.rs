//! Building a [`Chart`] and, recursively, its subcharts ([`build_chart`], [`load_archive_at`])
//! from the files of one chart, sorted by their [`role`] (`Chart.yaml`, `values.yaml`, a
//! template, a nested `charts/*.tgz` archive or a vendored `charts/<name>/` directory); the
//! nesting budget; UTF-8 checks.

use std::collections::BTreeMap;

use super::archive::{Meter, read_archive};
use super::layout::{Role, role};
use super::metadata::{RawMetadata, RawRequirements, parse_yaml};
use super::{Chart, ChartError};

/// Read a chart archive (the root, or a nested `charts/*.tgz` at `depth`) and assemble it;
/// `path` is `None` for the root, which is then named after its top-level directory.
pub(super) fn load_archive_at(
    bytes: &[u8],
    path: Option<String>,
    label: &str,
    meter: &Meter,
    depth: usize,
) -> Result<Chart, ChartError> {
    let (top, files) = read_archive(bytes, label, meter)?;
    build_chart(Some(path.unwrap_or(top)), files, meter, depth)
}

/// Assemble a chart from its files (paths relative to the chart root). `path` is `None` only
/// for the root of [`load_files`](super::load_files), which is then named after the chart.
pub(super) fn build_chart(
    path: Option<String>,
    files: Vec<(String, Vec<u8>)>,
    meter: &Meter,
    depth: usize,
) -> Result<Chart, ChartError> {
    let mut chart_yaml = None;
    let mut values = None;
    let mut requirements = None;
    let mut templates = Vec::new();
    let mut archives: Vec<(String, Vec<u8>)> = Vec::new();
    let mut vendored: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (rel, data) in files {
        match role(&rel) {
            Role::ChartYaml => chart_yaml = Some(data),
            Role::Values => values = Some(data),
            Role::Requirements => requirements = Some(data),
            Role::Template => templates.push((rel, data)),
            Role::Archive(name) => archives.push((name.to_string(), data)),
            Role::Vendored { dir, inner } => vendored
                .entry(dir.to_string())
                .or_default()
                .push((inner.to_string(), data)),
            Role::Other => {}
        }
    }

    let place = |file: &str| match &path {
        Some(p) => format!("{p}/{file}"),
        None => file.to_string(),
    };
    let Some(chart_yaml) = chart_yaml else {
        return Err(ChartError::new(match &path {
            Some(p) => format!(
                "'{p}' has no Chart.yaml; every chart (and every directory under charts/) needs \
                 Chart.yaml at its root"
            ),
            None => "Chart.yaml is missing; pass the chart's own directory, the one with \
                     Chart.yaml at its root"
                .to_string(),
        }));
    };
    let chart_yaml_name = place("Chart.yaml");
    let text = into_text(chart_yaml, &chart_yaml_name)?;
    let raw: RawMetadata = parse_yaml(&text, &chart_yaml_name)?.unwrap_or_default();
    let mut raw_deps = raw.dependencies.clone();
    if let Some(req) = requirements {
        let req_name = place("requirements.yaml");
        let req_text = into_text(req, &req_name)?;
        let req: Option<RawRequirements> = parse_yaml(&req_text, &req_name)?;
        // Helm reads requirements.yaml into the same metadata, so its list wins when present.
        if let Some(deps) = req.and_then(|r| r.dependencies) {
            raw_deps = Some(deps);
        }
    }
    let metadata = raw.into_metadata(raw_deps, &chart_yaml_name)?;
    let path = path.unwrap_or_else(|| metadata.name.clone());

    let values_yaml = match values {
        Some(data) => Some(into_text(data, &format!("{path}/values.yaml"))?),
        None => None,
    };
    let mut texts = Vec::with_capacity(templates.len());
    for (rel, data) in templates {
        let text = into_text(data, &format!("{path}/{rel}"))?;
        texts.push((rel, text));
    }
    texts.sort_by(|a, b| a.0.cmp(&b.0));

    let mut subcharts = Vec::new();
    if !archives.is_empty() || !vendored.is_empty() {
        if depth >= meter.limits.max_depth {
            return Err(ChartError::new(format!(
                "'{path}' nests subcharts more than {} levels deep (Limits::max_depth); real \
                 charts rarely nest more than a few levels, so check where this chart came from",
                meter.limits.max_depth
            )));
        }
        archives.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, data) in archives {
            let sub_path = format!("{path}/charts/{name}");
            let label = format!("subchart archive '{sub_path}'");
            subcharts.push(load_archive_at(
                &data,
                Some(sub_path),
                &label,
                meter,
                depth + 1,
            )?);
        }
        for (dir, files) in vendored {
            let sub_path = format!("{path}/charts/{dir}");
            subcharts.push(build_chart(Some(sub_path), files, meter, depth + 1)?);
        }
        subcharts.sort_by(|a, b| a.path.cmp(&b.path));
    }

    Ok(Chart {
        path,
        metadata,
        values_yaml,
        templates: texts,
        subcharts,
    })
}

/// Check that a chart file is UTF-8 and drop a leading byte-order mark, as Helm does.
fn into_text(mut data: Vec<u8>, name: &str) -> Result<String, ChartError> {
    if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
        data.drain(..3);
    }
    String::from_utf8(data).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + memchr::memchr_iter(b'\n', &e.as_bytes()[..at]).count();
        ChartError::new(format!(
            "{name} is not valid UTF-8 (first bad byte at offset {at}, line {line}); chart \
             files Helm reads must be UTF-8 text, so re-save it as UTF-8"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Limits, load_archive, load_files};
    use crate::chart::test_archives::{E, chart_yaml, load_err, tar_bytes, tgz};

    #[test]
    fn simple_chart() {
        let cy = chart_yaml("mychart", "0.1.0");
        let entries = [
            E::Dir("mychart/"),
            E::File("mychart/Chart.yaml", cy.as_bytes()),
            E::File("mychart/values.yaml", b"\xEF\xBB\xBFimage: nginx:1.25\n"),
            E::Dir("mychart/templates/"),
            E::File("mychart/templates/deployment.yaml", b"kind: Deployment\n"),
            E::File(
                "mychart/templates/_helpers.tpl",
                b"{{- define \"x\" -}}{{- end -}}\n",
            ),
            E::File("mychart/README.md", b"# readme\n"),
            E::File("mychart/files/blob.bin", b"\xff\xfe\x00binary"),
        ];
        for bytes in [tgz(&entries), tar_bytes(&entries)] {
            let c = load_archive(&bytes, &Limits::default()).unwrap();
            assert_eq!(c.path, "mychart");
            assert_eq!(c.metadata.name, "mychart");
            assert_eq!(c.metadata.version, "0.1.0");
            assert_eq!(c.metadata.api_version, "v2");
            assert_eq!(c.metadata.app_version.as_deref(), Some("1.0"));
            assert_eq!(c.values_yaml.as_deref(), Some("image: nginx:1.25\n"));
            let names: Vec<&str> = c.templates.iter().map(|t| t.0.as_str()).collect();
            assert_eq!(
                names,
                ["templates/_helpers.tpl", "templates/deployment.yaml"]
            );
            assert_eq!(c.templates[1].1, "kind: Deployment\n");
            assert!(c.subcharts.is_empty());
        }
    }

    #[test]
    fn nested_archive_with_vendored_subchart() {
        let vend_cy = chart_yaml("vend", "3.0.0");
        let sub_cy = "apiVersion: v2\nname: sub\nversion: 1.0.0\ndependencies:\n  - name: vend\n    version: 3.x\n";
        let sub = tgz(&[
            E::File("sub/Chart.yaml", sub_cy.as_bytes()),
            E::File("sub/templates/svc.yaml", b"kind: Service\n"),
            E::File("sub/charts/vend/Chart.yaml", vend_cy.as_bytes()),
            E::File("sub/charts/vend/values.yaml", b"x: 1\n"),
            E::File("sub/charts/vend/templates/cm.yaml", b"kind: ConfigMap\n"),
        ]);
        let parent_cy = "apiVersion: v2\nname: parent\nversion: 2.0.0\ndependencies:\n  - name: sub\n    version: ~1.0.0\n    repository: https://example.com/charts\n    condition: sub.enabled\n";
        let parent = tgz(&[
            E::File("parent/Chart.yaml", parent_cy.as_bytes()),
            E::File("parent/charts/sub-1.0.0.tgz", &sub),
            E::File("parent/charts/sub-1.0.0.tgz.prov", b"signature"),
            E::File("parent/charts/_skipped/Chart.yaml", b"not: [valid"),
            E::File("parent/charts/.hidden.tgz", b"not an archive"),
            E::File("parent/charts/README.md", b"stray file"),
        ]);
        let c = load_archive(&parent, &Limits::default()).unwrap();
        assert_eq!(c.path, "parent");
        assert_eq!(c.subcharts.len(), 1);
        let s = &c.subcharts[0];
        assert_eq!(s.path, "parent/charts/sub-1.0.0.tgz");
        assert_eq!(s.metadata.name, "sub");
        assert_eq!(s.templates[0].0, "templates/svc.yaml");
        let dep = c.dependency_for(s).unwrap();
        assert_eq!(dep.condition.as_deref(), Some("sub.enabled"));
        assert_eq!(c.dependencies_for(s).count(), 1);
        assert_eq!(s.subcharts.len(), 1);
        let v = &s.subcharts[0];
        assert_eq!(v.path, "parent/charts/sub-1.0.0.tgz/charts/vend");
        assert_eq!(v.metadata.version, "3.0.0");
        assert_eq!(v.values_yaml.as_deref(), Some("x: 1\n"));
        assert_eq!(
            v.templates,
            [(
                "templates/cm.yaml".to_string(),
                "kind: ConfigMap\n".to_string()
            )]
        );
        assert_eq!(s.dependency_for(v).unwrap().version.as_deref(), Some("3.x"));
        assert!(v.dependency_for(s).is_none());
    }
    #[test]
    fn missing_chart_yaml() {
        let bytes = tgz(&[E::File("mychart/values.yaml", b"a: 1\n")]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("no Chart.yaml"), "{err}");
        let err = load_files(
            vec![("values.yaml".into(), b"a: 1\n".to_vec())],
            &Limits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Chart.yaml is missing"), "{err}");
        // A vendored directory without Chart.yaml is an error, as in Helm.
        let cy = chart_yaml("p", "1.0.0");
        let bytes = tgz(&[
            E::File("p/Chart.yaml", cy.as_bytes()),
            E::File("p/charts/sub/values.yaml", b"a: 1\n"),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("'p/charts/sub' has no Chart.yaml"), "{err}");
        let err = load_err(&tgz(&[]), &Limits::default());
        assert!(err.contains("holds no files"), "{err}");
    }
    #[test]
    fn nesting_deeper_than_max_depth() {
        let cy = chart_yaml("n", "1.0.0");
        let mut files = vec![];
        let mut prefix = String::new();
        for _ in 0..5 {
            files.push((format!("{prefix}Chart.yaml"), cy.clone().into_bytes()));
            prefix.push_str("charts/n/");
        }
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let err = load_files(files.clone(), &limits).unwrap_err().to_string();
        assert!(err.contains("max_depth"), "{err}");
        let c = load_files(files, &Limits::default()).unwrap();
        assert_eq!(c.subcharts[0].subcharts[0].path, "n/charts/n/charts/n");
        // Nested archives count too.
        let mut archive = tgz(&[E::File("n/Chart.yaml", cy.as_bytes())]);
        for _ in 0..4 {
            archive = tgz(&[
                E::File("n/Chart.yaml", cy.as_bytes()),
                E::File("n/charts/n.tgz", &archive),
            ]);
        }
        let err = load_err(&archive, &limits);
        assert!(err.contains("max_depth"), "{err}");
        assert!(load_archive(&archive, &Limits::default()).is_ok());
    }
    #[test]
    fn non_utf8_text_is_an_error_naming_the_file() {
        let cy = chart_yaml("c", "1.0.0");
        let bytes = tgz(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("c/values.yaml", b"a: 1\nb: \xff\xfe\n"),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(
            err.contains("c/values.yaml is not valid UTF-8") && err.contains("line 2"),
            "{err}"
        );
        let bytes = tgz(&[
            E::File("c/Chart.yaml", cy.as_bytes()),
            E::File("c/templates/x.yaml", b"\xc3\x28"),
        ]);
        let err = load_err(&bytes, &Limits::default());
        assert!(
            err.contains("c/templates/x.yaml is not valid UTF-8"),
            "{err}"
        );
        let bytes = tgz(&[E::File(
            "c/Chart.yaml",
            b"name: c\nversion: 1.0.0\ndescription: \xe9t\xe9\n",
        )]);
        let err = load_err(&bytes, &Limits::default());
        assert!(err.contains("c/Chart.yaml is not valid UTF-8"), "{err}");
    }
}
