//! Where a file sits in a chart ([`Role`], from [`role`]) and whether any chart reads it
//! ([`is_needed`]), as Helm's loader decides: `Chart.yaml`, `values.yaml`, `requirements.yaml`,
//! `templates/…`, nested `charts/*.tgz` archives and vendored `charts/<name>/` directories,
//! skipping names under `charts/` that start with `_` or `.`.
//!
//! [`archive`](super::archive) asks [`is_needed`] which file contents to keep while reading;
//! [`assemble`](super::assemble) sorts the kept files by [`role`] to build the chart. One
//! classification serves both, so the reader never drops a file the builder wants.

/// What a path relative to a chart's root is to that chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role<'a> {
    ChartYaml,
    Values,
    Requirements,
    Template,
    /// `charts/<name>.tgz`: a nested chart archive; holds `<name>.tgz`.
    Archive(&'a str),
    /// `charts/<dir>/<inner>`: a file of the vendored subchart `dir`, at `inner` within it.
    Vendored {
        dir: &'a str,
        inner: &'a str,
    },
    /// Anything else (`README.md`, `files/…`, provenance files and stray files in `charts/`,
    /// names Helm skips): no chart reads it.
    Other,
}

/// Names under `charts/` that Helm skips.
fn skipped_subchart_name(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// Classify a path relative to a chart's root.
pub(super) fn role(rel: &str) -> Role<'_> {
    match rel {
        "Chart.yaml" => return Role::ChartYaml,
        "values.yaml" => return Role::Values,
        "requirements.yaml" => return Role::Requirements,
        _ if rel.starts_with("templates/") => return Role::Template,
        _ => {}
    }
    let Some(after) = rel.strip_prefix("charts/") else {
        return Role::Other;
    };
    match after.split_once('/') {
        None if after.ends_with(".tgz") && !skipped_subchart_name(after) => Role::Archive(after),
        // Other loose files in charts/ (provenance files, stray notes) are not charts; Helm
        // keeps .prov files aside and so do we.
        None => Role::Other,
        Some((dir, _)) if skipped_subchart_name(dir) => Role::Other,
        Some((dir, inner)) => Role::Vendored { dir, inner },
    }
}

/// Does a chart (or one of its vendored subcharts, at any depth) read this file?
pub(super) fn is_needed(rel: &str) -> bool {
    let mut rest = rel;
    loop {
        match role(rest) {
            Role::Other => return false,
            Role::Vendored { inner, .. } => rest = inner,
            _ => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_needs() {
        assert_eq!(role("Chart.yaml"), Role::ChartYaml);
        assert_eq!(role("values.yaml"), Role::Values);
        assert_eq!(role("requirements.yaml"), Role::Requirements);
        assert_eq!(role("templates/a/b.yaml"), Role::Template);
        assert_eq!(role("charts/sub-1.0.0.tgz"), Role::Archive("sub-1.0.0.tgz"));
        assert_eq!(role("charts/.hidden.tgz"), Role::Other);
        assert_eq!(role("charts/sub-1.0.0.tgz.prov"), Role::Other);
        assert_eq!(
            role("charts/v/templates/x.yaml"),
            Role::Vendored {
                dir: "v",
                inner: "templates/x.yaml"
            }
        );
        assert_eq!(role("charts/_skip/Chart.yaml"), Role::Other);
        assert_eq!(role("README.md"), Role::Other);
        assert!(is_needed("charts/v/charts/w/templates/x.yaml"));
        assert!(is_needed("charts/v/charts/w.tgz"));
        assert!(!is_needed("charts/v/README.md"));
        assert!(!is_needed("charts/v/charts/_w/Chart.yaml"));
        assert!(!is_needed("files/blob.bin"));
    }
}
