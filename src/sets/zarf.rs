//! A `zarf.yaml` (`kind: ZarfPackageConfig`), read as `zarf package create` reads it, into a
//! [`MirrorSet`]: every component's `images` and `charts` (a Helm repository `url` with
//! `name`/`repoName`, an `oci://` url, a `localPath`, or a `gitPath` inside a git repository
//! on this machine). As in zarf, charts bring no images of their own: the images a package
//! carries are the ones it lists. `only.cluster.architecture` (or the package's
//! `metadata.architecture`) gives the platform. The destination comes from `--to`.

use super::fields::Fields;
use super::{
    ChartEntry, ChartSource, ImageEdits, ImageEntry, ImageSource, Kind, MirrorSet, Read, Select,
    SetError, Warning,
};
use crate::yaml::Node;

pub fn parse(doc: &Node<'_>) -> Result<Read, SetError> {
    let mut warnings = Vec::new();
    let top = Fields::lenient(
        doc,
        "",
        &["kind", "metadata", "components"],
        &[
            (
                "constants",
                "purser renders charts with their values, not zarf templates",
            ),
            (
                "variables",
                "purser renders charts with their values, not zarf templates",
            ),
        ],
        &mut warnings,
    )?;
    let mut package_arch = None;
    if let Some(m) = top.get("metadata") {
        let m = Fields::lenient(
            m,
            "metadata",
            &["name", "architecture"],
            &[
                ("description", "a description"),
                ("version", "the package's own version"),
                ("yolo", "purser always mirrors into a registry"),
            ],
            &mut warnings,
        )?;
        package_arch = m.string("architecture")?;
    }
    let mut set = MirrorSet::default();
    for (i, n) in top.list("components")?.iter().enumerate() {
        let path = format!("components[{i}]");
        let c = Fields::lenient(
            n,
            &path,
            &["name", "only", "images", "charts"],
            &[
                ("description", "a description"),
                ("required", "purser mirrors every component"),
                ("default", "purser mirrors every component"),
                (
                    "manifests",
                    "purser mirrors charts and images, not raw manifests",
                ),
                ("files", "purser mirrors charts and images, not files"),
                (
                    "repos",
                    "purser mirrors charts and images, not git repositories",
                ),
                ("dataInjections", "purser mirrors charts and images only"),
                ("actions", "purser runs no actions"),
                ("import", "imported components are not followed"),
            ],
            &mut warnings,
        )?;
        let mut arch = package_arch.clone();
        if let Some(only) = c.get("only") {
            let o = Fields::lenient(
                only,
                &format!("{path}.only"),
                &["cluster"],
                &[("localOS", "purser mirrors for the cluster")],
                &mut warnings,
            )?;
            if let Some(cl) = o.get("cluster") {
                let cl = Fields::lenient(
                    cl,
                    &format!("{path}.only.cluster"),
                    &["architecture"],
                    &[("distros", "purser mirrors for any distribution")],
                    &mut warnings,
                )?;
                arch = cl.string("architecture")?.or(arch);
            }
        }
        let platforms: Vec<String> = arch.iter().map(|a| format!("linux/{a}")).collect();
        let images = c.strings("images")?;
        let image_lines: Vec<u32> = c.list("images")?.iter().map(|n| n.line).collect();
        for (r, line) in images.into_iter().zip(image_lines) {
            set.images.push(ImageEntry {
                line,
                source: ImageSource::Ref(r),
                to: Vec::new(),
                platforms: platforms.clone(),
            });
        }
        for (j, ch) in c.list("charts")?.iter().enumerate() {
            set.charts
                .push(chart(ch, &format!("{path}.charts[{j}]"), &mut warnings)?);
        }
    }
    Ok(Read {
        set,
        kind: Kind::Zarf,
        warnings,
    })
}

fn chart(node: &Node<'_>, path: &str, warnings: &mut Vec<Warning>) -> Result<ChartEntry, SetError> {
    let c = Fields::lenient(
        node,
        path,
        &[
            "name",
            "version",
            "url",
            "repoName",
            "localPath",
            "gitPath",
            "namespace",
            "releaseName",
            "valuesFiles",
        ],
        &[
            ("noWait", "purser does not install"),
            (
                "variables",
                "purser renders charts with their values, not zarf variables",
            ),
            ("schedule", "purser does not install"),
        ],
        warnings,
    )?;
    let name = c.required("name")?;
    let source = match (
        c.string("url")?,
        c.string("localPath")?,
        c.string("gitPath")?,
    ) {
        (Some(url), None, Some(git_path)) => {
            let repo = url.split('@').next().unwrap_or(&url);
            let repo = repo.strip_prefix("file://").unwrap_or(repo);
            if repo.contains("://") {
                return Err(super::fields::error(
                    node,
                    path,
                    format!(
                        "{url:?}: a git repository over the network; clone it and give its path as `localPath`"
                    ),
                ));
            }
            ChartSource::Local(format!(
                "{}/{}",
                repo.trim_end_matches(".git").trim_end_matches('/'),
                git_path
            ))
        }
        (Some(url), None, None) if url.starts_with("oci://") => ChartSource::Oci(url),
        (Some(url), None, None) => ChartSource::Repo {
            url,
            name: c.string("repoName")?.unwrap_or(name),
        },
        (None, Some(local), None) => ChartSource::Local(local),
        _ => {
            return Err(super::fields::error(
                node,
                path,
                "give one of `url` (a Helm repository, oci://, or a git repository with `gitPath`) or `localPath`",
            ));
        }
    };
    Ok(ChartEntry {
        line: c.line(),
        source,
        versions: c.string("version")?,
        select: Select::Latest,
        release: c.string("releaseName")?,
        namespace: c.string("namespace")?,
        values: None,
        values_files: c.strings("valuesFiles")?,
        images: ImageEdits::default(),
        to: Vec::new(),
        all: None,
        carry_images: false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::read;
    use super::*;

    #[test]
    fn components_as_zarf_reads_them() {
        let text = "\
kind: ZarfPackageConfig
metadata:
  name: demo
components:
- name: web
  required: true
  only:
    cluster:
      architecture: arm64
  images:
  - docker.io/library/nginx:1.27
  charts:
  - name: podinfo
    version: 6.9.1
    url: http://127.0.0.1:8080
    namespace: web
  - name: app
    url: oci://127.0.0.1:5000/charts/app
    version: 1.2.3
  - name: local
    localPath: ./chart
";
        let read = read(text).unwrap();
        assert_eq!(read.kind, Kind::Zarf);
        let set = read.set;
        assert_eq!(set.images[0].platforms, ["linux/arm64"]);
        assert_eq!(set.images[0].line, 11);
        assert_eq!(set.charts.len(), 3);
        assert_eq!(set.charts[0].namespace.as_deref(), Some("web"));
        assert!(!set.charts[0].carry_images);
        assert_eq!(set.charts[2].source, ChartSource::Local("./chart".into()));
        assert_eq!(read.warnings[0].path, "components[0].required");
    }
}
