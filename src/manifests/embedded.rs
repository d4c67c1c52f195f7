//! Documents embedded in a ConfigMap value (an injector's values as JSON, an installer's
//! YAML config) read for the images and artifacts they hand to a program: [`references`]
//! turns one value's text into [`Embedded`] candidates, each with its path inside the
//! document and, where the text spells it whole, its byte offset in the value.
//!
//! What counts, at any depth:
//! - a scalar that is a complete reference (a registry host and a tag or digest);
//! - an image composed the way injector templates compose it: `image` beside or below a `hub`
//!   and a `tag` (`{hub}/{image}:{tag}`), or a `{registry, repository, tag}` map, with where
//!   each of its fields is written ([`Parts`]), so that it can be rewritten through them;
//!   `image: auto` is a placeholder an injector fills in, not an image;
//! - under a key named `refs` (falcoctl's `artifact.install.refs` and `follow.refs`): OCI
//!   artifacts, not images. A bare `falco-rules:5` there is resolved through falcoctl's
//!   official index when the config names it (rules live at `ghcr.io/falcosecurity/rules/`).

use super::walker::INJECTED_SENTINEL;
use crate::heuristics::{complete_reference, image_map_parts, likely_reference};
use crate::inventory::Kind;
use crate::reference::Reference;
use crate::yaml::{self, Budget, Node, Value};

/// One reference found in an embedded document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Embedded {
    pub reference: Reference,
    /// The text as written, or as composed from several fields.
    pub written: String,
    /// Byte offset of `written` in the value's text, when it is written there whole.
    pub offset: Option<usize>,
    /// Path inside the embedded document: `global.proxy.image`.
    pub path: String,
    pub kind: Kind,
    /// For a composed image, the fields it is composed from.
    pub parts: Option<Parts>,
}

/// A scalar field of an embedded document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field {
    /// Its text (trimmed).
    pub text: String,
    /// Byte offset of `text` in the document's text, when it is written there as it reads
    /// (no escapes).
    pub offset: Option<usize>,
    /// Its path inside the document: `global.hub`.
    pub path: String,
    /// Written plain (unquoted).
    pub plain: bool,
}

/// The fields a composed image is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parts {
    /// `{hub}/{image}:{tag}` (the `tag` is `None` when the `image` carries its own).
    Hub {
        hub: Field,
        image: Field,
        tag: Option<Field>,
        /// The `variant` set beside or above (not `default`).
        variant: Option<String>,
        /// The document is JSON.
        json: bool,
    },
    /// `{registry, repository, tag, digest}`.
    Map {
        registry: Option<Field>,
        repository: Field,
        tag: Option<Field>,
        digest: Option<Field>,
    },
}

impl Parts {
    /// Where the fields are written in the document's text (those that can be placed).
    pub fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        let fields: [Option<&Field>; 4] = match self {
            Parts::Hub {
                hub, image, tag, ..
            } => [Some(hub), Some(image), tag.as_ref(), None],
            Parts::Map {
                registry,
                repository,
                tag,
                digest,
            } => [
                registry.as_ref(),
                Some(repository),
                tag.as_ref(),
                digest.as_ref(),
            ],
        };
        fields.into_iter().flatten().filter_map(|f| f.offset)
    }
}

/// The rules falcoctl's official index serves under `ghcr.io/falcosecurity/rules/`.
const FALCO_RULES: [&str; 4] = [
    "falco-rules",
    "falco-incubating-rules",
    "falco-sandbox-rules",
    "falco-deprecated-rules",
];
const FALCO_INDEX: &str = "falcosecurity.github.io/falcoctl/index.yaml";

/// The references in `text` when it is a JSON or YAML document (a map or a list); nothing
/// when it is not one (plain text, a template, a script).
pub(super) fn references(text: &str) -> Vec<Embedded> {
    let trimmed = text.trim_start();
    let document_like = trimmed.starts_with(['{', '['])
        || (text.contains('\n') && (text.contains(": ") || text.contains(":\n")));
    if !document_like || text.contains("{{") && !trimmed.starts_with('{') {
        return Vec::new();
    }
    let Ok(roots) = yaml::parse_documents(text, 1, Budget::for_text(text)) else {
        return Vec::new();
    };
    let mut walk = Walk {
        text,
        out: Vec::new(),
        path: String::new(),
        falco_index: false,
    };
    for root in &roots {
        if matches!(root.value, Value::Scalar(..)) {
            continue;
        }
        walk.falco_index = root
            .get("indexes")
            .and_then(Node::as_seq)
            .is_some_and(|indexes| {
                indexes.iter().any(|i| {
                    i.get("url")
                        .and_then(Node::as_text)
                        .is_some_and(|u| u.contains(FALCO_INDEX))
                })
            });
        walk.node(root, &Inherited::default(), None);
    }
    walk.out
}

/// `hub`, `tag` and `variant` set above a node, which an `image` below composes with.
#[derive(Default, Clone)]
struct Inherited {
    hub: Option<Field>,
    tag: Option<Field>,
    variant: Option<String>,
}

struct Walk<'t> {
    text: &'t str,
    out: Vec<Embedded>,
    path: String,
    falco_index: bool,
}

impl Walk<'_> {
    fn node(&mut self, node: &Node<'_>, above: &Inherited, key: Option<&str>) {
        match &node.value {
            Value::Scalar(..) => {
                if let Some(text) = node.as_text() {
                    if let Some(r) = complete_reference(text) {
                        let kind = if key == Some("refs") {
                            Kind::Artifact
                        } else {
                            Kind::Image
                        };
                        self.push(r, node, text.trim(), kind);
                    } else if key == Some("refs") && self.falco_index {
                        self.falco_rule(node, text.trim());
                    }
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = self.path.len();
                    self.path.push_str(&format!("[{i}]"));
                    self.node(item, above, key);
                    self.path.truncate(len);
                }
            }
            Value::Map(entries) => {
                let here = Inherited {
                    hub: self.field(node, "hub").or_else(|| above.hub.clone()),
                    tag: self.field(node, "tag").or_else(|| above.tag.clone()),
                    variant: match text_of(node, "variant") {
                        Some(v) => (v != "default").then_some(v),
                        None => above.variant.clone(),
                    },
                };
                let composed = self.composed(node, &here);
                for (k, v) in entries {
                    let Some(k) = k.as_str() else { continue };
                    // A composed image's parts are not references of their own.
                    if composed && matches!(k, "image" | "repository" | "registry" | "hub") {
                        continue;
                    }
                    let len = self.path.len();
                    if !self.path.is_empty() {
                        self.path.push('.');
                    }
                    self.path.push_str(k);
                    self.node(v, &here, Some(k));
                    self.path.truncate(len);
                }
            }
        }
    }

    /// An image this map composes (`{hub}/{image}:{tag}`, `{registry, repository, tag}`):
    /// recorded, and `true`, when it does.
    fn composed(&mut self, map: &Node<'_>, here: &Inherited) -> bool {
        if let Some(image) = self.field(map, "image") {
            if image.text.contains('/') && complete_reference(&image.text).is_some() {
                return false; // written whole: the scalar walk records it
            }
            if image.text == INJECTED_SENTINEL {
                return true; // filled in by the injector: neither an image nor a part of one
            }
            if let (Some(hub), false) = (&here.hub, image.text.contains('/')) {
                let mut written = format!("{}/{}", hub.text.trim_end_matches('/'), image.text);
                let tag = if image.text.contains([':', '@']) {
                    None
                } else {
                    let Some(tag) = &here.tag else { return false };
                    written.push(':');
                    written.push_str(&tag.text);
                    Some(tag.clone())
                };
                let parts = Parts::Hub {
                    hub: hub.clone(),
                    image,
                    tag,
                    variant: here.variant.clone(),
                    json: self.text.trim_start().starts_with(['{', '[']),
                };
                return self.push_composed(written, "image", parts);
            }
            return false;
        }
        let Some(map_parts) = image_map_parts(map) else {
            return false;
        };
        if map_parts.registry.is_none() && map_parts.tag.is_none() && map_parts.digest.is_none() {
            return false;
        }
        let field = |part: &Option<(&Node<'_>, String)>, key: &str| {
            part.as_ref()
                .map(|(node, text)| self.field_at(node, text, key))
        };
        let (node, text) = &map_parts.repository;
        let key = ["repository", "image", "name"]
            .into_iter()
            .find(|k| map.get(k).is_some_and(|n| std::ptr::eq(n, *node)))
            .unwrap_or("repository");
        let parts = Parts::Map {
            registry: field(&map_parts.registry, "registry"),
            repository: self.field_at(node, text, key),
            tag: field(&map_parts.tag, "tag"),
            digest: field(&map_parts.digest, "digest"),
        };
        self.push_composed(map_parts.compose(), "repository", parts)
    }

    /// `map[key]` as a field (see [`text_of`]).
    fn field(&self, map: &Node<'_>, key: &str) -> Option<Field> {
        let text = text_of(map, key)?;
        Some(self.field_at(map.get(key)?, &text, key))
    }

    /// The field of the current map under `key`, `node` with (trimmed) `text`.
    fn field_at(&self, node: &Node<'_>, text: &str, key: &str) -> Field {
        let text = text.trim();
        let offset = self
            .text
            .get(node.source.start..node.source.end)
            .and_then(|source| source.find(text))
            .map(|at| node.source.start + at);
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Field {
            text: text.to_owned(),
            offset,
            path,
            plain: node.source.style == crate::yaml::Style::Plain,
        }
    }

    /// Records an image composed from several fields of the map at the current path, under
    /// its `key`; `false` when the composition is no reference.
    fn push_composed(&mut self, written: String, key: &str, parts: Parts) -> bool {
        let Some(reference) = likely_reference(&written) else {
            return false;
        };
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        self.out.push(Embedded {
            reference,
            written,
            offset: None,
            path,
            kind: Kind::Image,
            parts: Some(parts),
        });
        true
    }

    /// `falco-rules:5` in a falcoctl config that uses the official index.
    fn falco_rule(&mut self, node: &Node<'_>, written: &str) {
        let name = written.split([':', '@']).next().unwrap_or(written);
        if !FALCO_RULES.contains(&name) || name.len() == written.len() {
            return;
        }
        let full = format!("ghcr.io/falcosecurity/rules/{written}");
        if let Ok(r) = Reference::parse(&full) {
            self.push(r, node, written, Kind::Artifact);
            if let Some(last) = self.out.last_mut() {
                last.written = written.to_owned();
            }
        }
    }

    fn push(&mut self, reference: Reference, node: &Node<'_>, written: &str, kind: Kind) {
        let offset = self
            .text
            .get(node.source.start..node.source.end)
            .and_then(|source| source.find(written))
            .map(|at| node.source.start + at);
        self.out.push(Embedded {
            reference,
            written: written.to_owned(),
            offset,
            path: self.path.clone(),
            kind,
            parts: None,
        });
    }
}

/// The text (or number) of `map[key]`, unless it is a template.
fn text_of(map: &Node<'_>, key: &str) -> Option<String> {
    let node = map.get(key)?;
    let text = match &node.value {
        Value::Scalar(s, _) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return None,
    };
    (!text.contains("{{")).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, Option<&str>, String, Kind)> {
        references(text)
            .into_iter()
            .map(|e| {
                let spelled = e.offset.map(|at| &text[at..at + e.written.len()]);
                (e.reference.canonical(), spelled, e.path, e.kind)
            })
            .collect()
    }

    #[test]
    fn injector_values_compose_hub_image_and_tag() {
        let json = r#"{"global":{"hub":"registry.example.io/mesh","tag":"1.24.0","proxy":{"image":"proxyv2","resources":{}},"proxy_init":{"image":"proxyv2"},"other":{"image":"registry.example.io/x/full:2"}},"revision":""}"#;
        assert_eq!(
            found(json),
            [
                (
                    "registry.example.io/mesh/proxyv2:1.24.0".to_owned(),
                    None,
                    "global.proxy.image".to_owned(),
                    Kind::Image
                ),
                (
                    "registry.example.io/mesh/proxyv2:1.24.0".to_owned(),
                    None,
                    "global.proxy_init.image".to_owned(),
                    Kind::Image
                ),
                (
                    "registry.example.io/x/full:2".to_owned(),
                    Some("registry.example.io/x/full:2"),
                    "global.other.image".to_owned(),
                    Kind::Image
                ),
            ]
        );
    }

    #[test]
    fn composed_images_record_where_their_fields_are_written() {
        let json = r#"{"global":{"hub":"quay.io/mesh","tag":"1.24.0","variant":"distroless","proxy":{"image":"proxyv2"}},"gw":{"hub":"quay.io/gw","tag":2,"image":"auto"}}"#;
        let got = references(json);
        assert_eq!(got.len(), 1, "image: auto composes nothing: {got:?}");
        let Some(Parts::Hub {
            hub,
            image,
            tag: Some(tag),
            variant,
            json: true,
        }) = &got[0].parts
        else {
            panic!("{got:?}")
        };
        let at = |f: &Field| &json[f.offset.unwrap()..f.offset.unwrap() + f.text.len()];
        assert_eq!(
            (at(hub), at(image), at(tag)),
            ("quay.io/mesh", "proxyv2", "1.24.0")
        );
        assert_eq!(
            (hub.path.as_str(), tag.path.as_str(), image.path.as_str()),
            ("global.hub", "global.tag", "global.proxy.image")
        );
        assert!(!tag.plain);
        assert_eq!(variant.as_deref(), Some("distroless"));
        // YAML, a map.
        let yaml = "csi:\n  registry: registry.example.io\n  repository: storage/csi\n  tag: 1.4\n";
        let got = references(yaml);
        let Some(Parts::Map {
            registry: Some(registry),
            repository,
            tag: Some(tag),
            digest: None,
        }) = &got[0].parts
        else {
            panic!("{got:?}")
        };
        let at = |f: &Field| &yaml[f.offset.unwrap()..f.offset.unwrap() + f.text.len()];
        assert_eq!(
            (at(registry), at(repository), at(tag)),
            ("registry.example.io", "storage/csi", "1.4")
        );
        assert_eq!(repository.path, "csi.repository");
        assert!(tag.plain);
        // An image with its own tag composes with the hub alone.
        let own = r#"{"hub":"quay.io/mesh","tag":"1","init":{"image":"init:2"}}"#;
        let got = references(own);
        assert!(
            matches!(&got[..], [Embedded { parts: Some(Parts::Hub { tag: None, .. }), written, .. }] if written == "quay.io/mesh/init:2"),
            "{got:?}"
        );
    }

    #[test]
    fn registry_repository_tag_maps_and_complete_scalars() {
        let yaml = "sidecars:\n  csi:\n    registry: registry.example.io\n    repository: storage/csi-sidecar\n    tag: v1.4.0\n  note: see registry.example.io/docs:1 for more\n  plain: quay.io/team/tool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
        let got = found(yaml);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "registry.example.io/storage/csi-sidecar:v1.4.0");
        assert_eq!(got[0].2, "sidecars.csi.repository");
        assert!(got[1].0.starts_with("quay.io/team/tool@sha256:"));
        assert_eq!(got[1].1, Some(&got[1].0[..]));
    }

    #[test]
    fn falcoctl_refs_are_artifacts() {
        let config = "artifact:\n  install:\n    refs:\n    - falco-rules:5\n    - ghcr.io/falcosecurity/plugins/plugin/container:0.7.1\n    - my-plugin:1\n  follow:\n    refs: [falco-rules:5]\nindexes:\n- name: falcosecurity\n  url: https://falcosecurity.github.io/falcoctl/index.yaml\n";
        let got = found(config);
        let want = [
            (
                "ghcr.io/falcosecurity/rules/falco-rules:5",
                Some("falco-rules:5"),
            ),
            (
                "ghcr.io/falcosecurity/plugins/plugin/container:0.7.1",
                Some("ghcr.io/falcosecurity/plugins/plugin/container:0.7.1"),
            ),
            (
                "ghcr.io/falcosecurity/rules/falco-rules:5",
                Some("falco-rules:5"),
            ),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((r, spelled, _, kind), (wr, ws)) in got.iter().zip(want) {
            assert_eq!((r.as_str(), *spelled, *kind), (wr, ws, Kind::Artifact));
        }
        // Without the official index a bare name is not resolved.
        let own = config.replace("falcosecurity.github.io/falcoctl", "example.com");
        assert_eq!(found(&own).len(), 1);
    }

    #[test]
    fn text_that_is_not_a_document_gives_nothing() {
        for text in [
            "",
            "just words",
            "#!/bin/sh\nexec app --image quay.io/a/b:1\n",
            "image: \"{{ .Values.global.hub }}/proxyv2:{{ .Values.global.tag }}\"\n",
            "{not json",
        ] {
            assert!(found(text).is_empty(), "{text}");
        }
    }
}
