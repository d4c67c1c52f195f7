//! A values tree -> image-shaped findings with their values path.
//!
//! Recognised shapes, inside maps and lists at any depth:
//! - `{registry, repository, tag, digest}` and its subsets with a `repository` (Bitnami,
//!   most charts), `{registry, image, tag, digest}` (ingress-nginx, metrics-server),
//!   `{name, tag}` under an image-named key;
//! - a string under an image-named key: `image: "nginx:1.27"`, `sidecarImage: ...`.
//!
//! A tag left empty takes the chart's appVersion when the chart's templates use
//! `.Chart.AppVersion` (what nearly every chart does for its main image). A `global.imageRegistry`
//! that is set replaces the registry, as Bitnami's `common.images.image` does. A finding under a
//! map whose `enabled` is false is marked off with that values path.

use crate::heuristics::is_image_key;
use crate::inventory::{Confidence, Finding, Kind, Origin};
use crate::reference::Reference;
use crate::yaml::{Node, Value};

/// What a values walk needs to know about the chart it walks.
#[derive(Debug, Clone, Default)]
pub struct Context<'c> {
    /// The chart as a path from the top chart, for provenance: `wordpress/mariadb`.
    pub chart: &'c str,
    /// Prefix of values paths as the user writes them in the top chart's values:
    /// `mariadb.` for a subchart, empty for the top chart.
    pub prefix: &'c str,
    /// Default tag when a tag is left empty and the chart's templates use `.Chart.AppVersion`.
    pub app_version: Option<&'c str>,
    /// Why the whole chart is off (a subchart whose condition or tags are false).
    pub disabled_by: Option<String>,
}

/// Walks `values` and appends a finding per image-shaped value.
pub fn scan(values: &Node<'_>, ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let global_registry = values
        .path(&["global", "imageRegistry"])
        .and_then(Node::as_text)
        .map(str::to_owned);
    let mut walk = Walk {
        ctx,
        out,
        path: String::from(ctx.prefix.trim_end_matches('.')),
        global_registry,
    };
    walk.node(values, None, ctx.disabled_by.clone());
}

struct Walk<'c, 'o> {
    ctx: &'c Context<'c>,
    out: &'o mut Vec<Finding>,
    path: String,
    global_registry: Option<String>,
}

impl Walk<'_, '_> {
    fn node(&mut self, node: &Node<'_>, key: Option<&str>, disabled_by: Option<String>) {
        match &node.value {
            Value::Scalar(..) => {
                if let (Some(k), Some(text)) = (key, node.as_text()) {
                    if is_image_key(k) && !text.contains("{{") {
                        if let Ok(reference) = Reference::parse(text.trim()) {
                            self.push(reference, text.to_owned(), disabled_by);
                        }
                    }
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = self.path.len();
                    self.path.push_str(&format!("[{i}]"));
                    self.node(item, key, disabled_by.clone());
                    self.path.truncate(len);
                }
            }
            Value::Map(entries) => {
                if let Some(written) = self.image_map(node, key) {
                    if let Ok(reference) = Reference::parse(&written) {
                        self.push(reference, written, disabled_by);
                        return;
                    }
                }
                let disabled_by = disabled_by.or_else(|| {
                    (node.get("enabled").and_then(Node::as_bool) == Some(false))
                        .then(|| self.joined("enabled") + "=false")
                });
                for (k, v) in entries {
                    let Some(k) = k.as_str() else { continue };
                    let len = self.path.len();
                    if !self.path.is_empty() {
                        self.path.push('.');
                    }
                    self.path.push_str(k);
                    self.node(v, Some(k), disabled_by.clone());
                    self.path.truncate(len);
                }
            }
        }
    }

    fn joined(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The reference an image-shaped map spells, if it is one.
    fn image_map(&self, node: &Node<'_>, key: Option<&str>) -> Option<String> {
        let text = |k: &str| scalar(node.get(k)?);
        let image_keyed = key.is_some_and(is_image_key);
        let repository = match text("repository") {
            Some(r) => r,
            None if image_keyed => text("image").or_else(|| text("name"))?,
            None => return None,
        };
        // A bare `repository:` (a git or Helm repository URL, say) is an image only with a tag,
        // a registry or a digest beside it, or under an image-named key.
        let has = |k: &str| node.get(k).is_some();
        if !(image_keyed || has("tag") || has("registry") || has("digest")) {
            return None;
        }
        if repository.contains("{{") || repository.contains("://") {
            return None;
        }
        let mut written = String::new();
        if let Some(registry) = self.global_registry.clone().or_else(|| text("registry")) {
            written.push_str(registry.trim_end_matches('/'));
            written.push('/');
        }
        written.push_str(&repository);
        let digest = text("digest").filter(|d| d.contains(':'));
        match text("tag").filter(|t| !t.contains("{{")) {
            Some(tag) => {
                written.push(':');
                written.push_str(&tag);
            }
            None if digest.is_none() => {
                if let Some(app) = self.ctx.app_version {
                    written.push(':');
                    written.push_str(app);
                }
            }
            None => {}
        }
        if let Some(d) = digest {
            written.push('@');
            written.push_str(&d);
        }
        Some(written)
    }

    fn push(&mut self, reference: Reference, written: String, disabled_by: Option<String>) {
        self.out.push(Finding {
            reference,
            written,
            origin: Origin::Values {
                chart: self.ctx.chart.to_owned(),
                path: self.path.clone(),
                disabled_by,
            },
            confidence: Confidence::Likely,
            spot: None,
            kind: Kind::Image,
        });
    }
}

/// A scalar's text, numbers included (`tag: 1.27` is a float to YAML, a tag to Helm users).
fn scalar(node: &Node<'_>) -> Option<String> {
    match &node.value {
        Value::Scalar(s, _) => node.as_text().map(|_| s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_one;

    fn found(text: &str, app: Option<&str>) -> Vec<(String, String, Option<String>)> {
        let values = parse_one(text, 1).unwrap();
        let ctx = Context {
            chart: "c",
            prefix: "",
            app_version: app,
            disabled_by: None,
        };
        let mut out = Vec::new();
        scan(&values, &ctx, &mut out);
        out.into_iter()
            .map(|f| match f.origin {
                Origin::Values {
                    path, disabled_by, ..
                } => (f.reference.canonical(), path, disabled_by),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn bitnami_shape() {
        let got = found(
            "image:\n  registry: docker.io\n  repository: bitnami/postgresql\n  tag: 17.6.0-debian-12-r4\n  digest: \"\"\n",
            None,
        );
        assert_eq!(
            got,
            vec![(
                "docker.io/bitnami/postgresql:17.6.0-debian-12-r4".into(),
                "image".into(),
                None
            )]
        );
    }

    #[test]
    fn app_version_default_and_strings_and_lists() {
        let got = found(
            "image:\n  repository: ghcr.io/stefanprodan/podinfo\n  tag: ''\nsidecars:\n  - name: s\n    image: busybox:1.36\nhelperImage: quay.io/x/y@sha256:0123456789012345678901234567890123456789012345678901234567890123\n",
            Some("6.14.1"),
        );
        assert_eq!(
            got[0],
            (
                "ghcr.io/stefanprodan/podinfo:6.14.1".into(),
                "image".into(),
                None
            )
        );
        assert_eq!(
            got[1],
            (
                "docker.io/library/busybox:1.36".into(),
                "sidecars[0].image".into(),
                None
            )
        );
        assert_eq!(got[2].1, "helperImage");
    }

    #[test]
    fn disabled_features_are_marked() {
        let got = found(
            "metrics:\n  enabled: false\n  image:\n    registry: docker.io\n    repository: bitnami/exporter\n    tag: '1'\n",
            None,
        );
        assert_eq!(got[0].2.as_deref(), Some("metrics.enabled=false"));
    }

    #[test]
    fn registry_image_shape_and_global_registry() {
        let got = found(
            "global:\n  imageRegistry: mirror.local\ncontroller:\n  image:\n    registry: registry.k8s.io\n    image: ingress-nginx/controller\n    tag: v1.14.0\n",
            None,
        );
        assert_eq!(got[0].0, "mirror.local/ingress-nginx/controller:v1.14.0");
    }

    #[test]
    fn not_images() {
        assert!(found("repository: https://github.com/x/y\nimage:\n  pullPolicy: Always\nchart:\n  repository: stable\n", None).is_empty());
    }
}
