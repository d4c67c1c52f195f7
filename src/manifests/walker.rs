//! The typed walk of one parsed document: [`Walker`] visits pod specs, image volumes, the
//! Prometheus operator's fields and ConfigMaps, and records a [`Finding`] per image with its
//! provenance and the exact bytes that spell it.

use super::{Document, Scan, embedded};
use crate::heuristics::{
    ImageMapParts, image_flag, image_map_parts, is_image_key, likely_reference,
    references_in_lines, references_in_text,
};
use crate::inventory::{
    ComposedSpans, Confidence, Finding, Injected, Kind, MapSpans, Origin, Span, Spot,
};
use crate::reference::Reference;
use crate::yaml::{Node, Value};
use memchr::memmem;

#[derive(Clone, Copy)]
enum Seg<'n> {
    Key(&'n str),
    Index(usize),
}

#[derive(Clone)]
struct Object {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: Option<String>,
    /// The template file named by Helm 4's post-renderer annotation (a post-renderer's
    /// input has no `# Source:` comments).
    template: Option<String>,
}

/// The annotation Helm 4 puts on every document it hands a post-renderer: the template file.
pub const POSTRENDER_FILENAME: &str = "postrenderer.helm.sh/postrender-filename";

impl Object {
    fn of(node: &Node<'_>) -> Object {
        let text = |keys: &[&str]| node.path(keys).and_then(|n| n.as_text()).map(str::to_owned);
        Object {
            api_version: text(&["apiVersion"]).unwrap_or_default(),
            kind: text(&["kind"]).unwrap_or_else(|| "(no kind)".to_owned()),
            namespace: text(&["metadata", "namespace"]),
            name: text(&["metadata", "name"]),
            template: text(&["metadata", "annotations", POSTRENDER_FILENAME]),
        }
    }

    fn is_prometheus_operator(&self) -> bool {
        self.api_version.starts_with("monitoring.coreos.com/")
            && matches!(
                self.kind.as_str(),
                "Prometheus" | "PrometheusAgent" | "Alertmanager" | "ThanosRuler"
            )
    }
}

type WalkError = (u32, String);

pub(super) struct Walker<'d, 'o, 'n> {
    doc: &'d Document<'d>,
    number: usize,
    out: &'o mut Scan,
    path: Vec<Seg<'n>>,
    object: Object,
}

/// Container fields that hold pod-spec container lists.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

impl<'d, 'o, 'n> Walker<'d, 'o, 'n> {
    pub(super) fn new(
        doc: &'d Document<'d>,
        number: usize,
        out: &'o mut Scan,
        root: &Node<'_>,
    ) -> Self {
        Walker {
            doc,
            number,
            out,
            path: Vec::new(),
            object: Object::of(root),
        }
    }

    pub(super) fn object_root(&mut self, root: &'n Node<'n>) -> Result<(), WalkError> {
        if self.object.kind == "List" {
            if let Some(items) = root.get("items").and_then(Node::as_seq) {
                let saved = self.object.clone();
                for (i, item) in items.iter().enumerate() {
                    self.object = Object::of(item);
                    self.path = vec![Seg::Key("items"), Seg::Index(i)];
                    self.walk(item)?;
                }
                self.object = saved;
                return Ok(());
            }
        }
        match self.object.kind.as_str() {
            "ConfigMap" => {
                self.config_map(root, "data");
                return Ok(());
            }
            "Secret" => {
                self.config_map(root, "stringData");
                return Ok(());
            }
            _ => {}
        }
        if self.object.is_prometheus_operator() {
            for keys in [&["spec", "image"][..], &["spec", "thanos", "image"][..]] {
                if let Some(node) = root.path(keys) {
                    if node.as_text().is_some() {
                        self.path = keys.iter().map(|k| Seg::Key(k)).collect();
                        self.typed(node, None)?;
                    }
                }
            }
        }
        self.path.clear();
        self.walk(root)
    }

    fn field(&self, extra: &[Seg<'_>]) -> String {
        let mut s = String::new();
        for seg in self.path.iter().chain(extra) {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }

    /// Where a value of this document sits.
    fn origin(&self, line: u32, field: String, container: Option<&str>) -> Origin {
        Origin::Rendered {
            template: self
                .doc
                .template
                .map(str::to_owned)
                .or_else(|| self.object.template.clone()),
            document: self.number,
            line,
            kind: self.object.kind.clone(),
            namespace: self.object.namespace.clone(),
            name: self.object.name.clone(),
            field,
            container: container.map(str::to_owned),
            needs: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        reference: Reference,
        written: &str,
        line: u32,
        field: String,
        container: Option<&str>,
        confidence: Confidence,
        spot: Option<Spot>,
        kind: Kind,
    ) {
        let origin = self.origin(line, field, container);
        self.out.findings.push(Finding {
            reference,
            written: written.to_owned(),
            origin,
            confidence,
            spot,
            kind,
        });
    }

    /// Where `needle` (a slice of the text of `scalar`) is written in the stream: the same
    /// occurrence of it in the scalar's source text. `None` when the source spells the text
    /// otherwise (escapes in a double-quoted scalar) or the node was not parsed from this
    /// document.
    fn span(&self, scalar: &Node<'_>, needle: &str) -> Option<Span> {
        let Value::Scalar(value, _) = &scalar.value else {
            return None;
        };
        let offset = (needle.as_ptr() as usize).checked_sub(value.as_ptr() as usize)?;
        if needle.is_empty() || offset + needle.len() > value.len() {
            return None;
        }
        let source = self.doc.text.get(scalar.source.start..scalar.source.end)?;
        let finder = memmem::Finder::new(needle.as_bytes());
        let mut in_value = finder.find_iter(value.as_bytes());
        let nth = in_value.position(|at| at == offset)?;
        let mut in_source = finder.find_iter(source.as_bytes());
        let at = in_source.nth(nth)?;
        // Every occurrence must be spelled the same way in both, else the n-th ones may differ.
        if in_value.count() != in_source.count() {
            return None;
        }
        let base = self.doc.offset + scalar.source.start;
        Some(Span {
            start: base + at,
            end: base + at + needle.len(),
            scalar: crate::yaml::Source {
                start: base,
                end: self.doc.offset + scalar.source.end,
                style: scalar.source.style,
            },
        })
    }

    /// The spot of the whole (trimmed) text of a scalar, or of a slice of it.
    fn text_spot(&self, scalar: &Node<'_>, needle: &str) -> Option<Spot> {
        self.span(scalar, needle.trim()).map(Spot::Text)
    }

    /// A typed image field (`node` a scalar): a reference that does not parse is an error.
    fn typed(&mut self, node: &Node<'_>, container: Option<&str>) -> Result<(), WalkError> {
        let Some(text) = node.as_text() else {
            return Ok(());
        };
        let field = self.field(&[]);
        match Reference::parse(text.trim()) {
            Ok(r) => {
                let spot = self.text_spot(node, text);
                self.push(
                    r,
                    text,
                    node.line,
                    field,
                    container,
                    Confidence::Certain,
                    spot,
                    Kind::Image,
                );
                Ok(())
            }
            Err(e) => Err((node.line, format!("{}: {e}", self.place(&field, container)))),
        }
    }

    fn place(&self, field: &str, container: Option<&str>) -> String {
        let mut s = self.object.kind.clone();
        if let Some(n) = &self.object.name {
            s.push(' ');
            s.push_str(n);
        }
        if let Some(c) = container {
            s.push_str(" container ");
            s.push_str(c);
        }
        s.push(' ');
        s.push_str(field);
        s
    }

    /// A heuristic finding in `text`, a slice of the text of the scalar `node`: kept only when
    /// it parses and looks like an image reference.
    fn likely(
        &mut self,
        node: &Node<'_>,
        text: &str,
        line: u32,
        extra: &[Seg<'_>],
        container: Option<&str>,
    ) {
        if let Some(r) = likely_reference(text) {
            let field = self.field(extra);
            let spot = self.text_spot(node, text);
            self.push(
                r,
                text,
                line,
                field,
                container,
                Confidence::Likely,
                spot,
                Kind::Image,
            );
        }
    }

    fn walk(&mut self, node: &'n Node<'n>) -> Result<(), WalkError> {
        match &node.value {
            Value::Scalar(..) => Ok(()),
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    self.walk(item)?;
                    self.path.pop();
                }
                Ok(())
            }
            Value::Map(entries) => {
                let pod_spec = node.get("containers").is_some_and(|c| c.as_seq().is_some());
                let operator_typed = self.object.is_prometheus_operator()
                    && matches!(self.field(&[]).as_str(), "spec" | "spec.thanos");
                for (key, value) in entries {
                    let Some(k) = key.as_str() else { continue };
                    self.path.push(Seg::Key(k));
                    if pod_spec && CONTAINER_LISTS.contains(&k) {
                        self.containers(value)?;
                    } else if pod_spec && k == "volumes" {
                        self.volumes(value)?;
                    } else if is_image_key(k) {
                        if !(operator_typed && k == "image") {
                            self.image_field(value);
                        }
                    } else {
                        self.walk(value)?;
                    }
                    self.path.pop();
                }
                Ok(())
            }
        }
    }

    fn containers(&mut self, list: &'n Node<'n>) -> Result<(), WalkError> {
        let Some(items) = list.as_seq() else {
            return Ok(());
        };
        for (i, c) in items.iter().enumerate() {
            self.path.push(Seg::Index(i));
            let name = c.get("name").and_then(Node::as_text);
            if let Some(image) = c.get("image") {
                if let Some(text) = image.as_text() {
                    self.path.push(Seg::Key("image"));
                    if text.trim() == INJECTED_SENTINEL {
                        let origin = self.origin(image.line, self.field(&[]), name);
                        self.out.injected.push(Injected {
                            written: text.to_owned(),
                            origin,
                        });
                    } else {
                        self.typed(image, name)?;
                    }
                    self.path.pop();
                }
            }
            for key in ["command", "args"] {
                if let Some(args) = c.get(key).and_then(Node::as_seq) {
                    self.args(key, args, name);
                }
            }
            if let Some(env) = c.get("env").and_then(Node::as_seq) {
                for (j, var) in env.iter().enumerate() {
                    let (Some(var_name), Some(value)) =
                        (var.get("name").and_then(Node::as_text), var.get("value"))
                    else {
                        continue;
                    };
                    if let Some(text) = value.as_text() {
                        let here = [Seg::Key("env"), Seg::Index(j), Seg::Key("value")];
                        if is_image_key(var_name) || var_name.starts_with("RELATED_IMAGE") {
                            self.likely(value, text, value.line, &here, name);
                        } else {
                            // Whatever the variable is called: a complete reference, or a
                            // table of `VERSION=REFERENCE` lines.
                            for (offset, candidate) in references_in_lines(text) {
                                let line = line_in(value, text, offset);
                                self.likely(value, candidate, line, &here, name);
                            }
                        }
                    }
                }
            }
            self.path.pop();
        }
        Ok(())
    }

    fn args(&mut self, key: &'static str, args: &'n [Node<'n>], container: Option<&str>) {
        let mut previous_flag: Option<&str> = None;
        for (j, arg) in args.iter().enumerate() {
            let Some(text) = arg.as_text() else {
                previous_flag = None;
                continue;
            };
            let here = [Seg::Key(key), Seg::Index(j)];
            if let Some(flag) = previous_flag.take() {
                if image_flag(flag) && !text.starts_with('-') {
                    self.likely(arg, text, arg.line, &here, container);
                    continue;
                }
            }
            // An argument may be a whole shell line (`sh -c "... --x-image=REF ..."`).
            let mut tokens = text.split_whitespace().peekable();
            while let Some(token) = tokens.next() {
                let token = token.trim_matches(|c| c == '"' || c == '\'');
                if let Some((flag, value)) = token.split_once('=') {
                    if flag.starts_with('-') && image_flag(flag) {
                        self.likely(
                            arg,
                            value.trim_matches(|c| c == '"' || c == '\''),
                            arg.line,
                            &here,
                            container,
                        );
                    }
                } else if token.starts_with("--") && image_flag(token) {
                    match tokens.peek() {
                        Some(next) => {
                            let next = next.trim_matches(|c| c == '"' || c == '\'');
                            self.likely(arg, next, arg.line, &here, container);
                        }
                        None => previous_flag = Some(token),
                    }
                }
            }
        }
    }

    fn volumes(&mut self, list: &'n Node<'n>) -> Result<(), WalkError> {
        let Some(items) = list.as_seq() else {
            return Ok(());
        };
        for (i, v) in items.iter().enumerate() {
            if let Some(reference) = v.path(&["image", "reference"]) {
                if reference.as_text().is_some() {
                    self.path
                        .extend([Seg::Index(i), Seg::Key("image"), Seg::Key("reference")]);
                    let result = self.typed(reference, None);
                    self.path.truncate(self.path.len() - 3);
                    result?;
                }
            }
        }
        Ok(())
    }

    /// A field named `image` or `*Image` outside a pod spec: a reference string or an
    /// image-shaped map.
    fn image_field(&mut self, value: &'n Node<'n>) {
        if let Some(text) = value.as_text() {
            self.likely(value, text, value.line, &[], None);
        } else if value.as_map().is_some() {
            if let Some(parts) = image_map_parts(value) {
                if let Some(r) = likely_reference(&parts.compose()) {
                    let field = self.field(&[]);
                    let spot = self.map_spot(&parts);
                    let composed = parts.compose();
                    self.push(
                        r,
                        &composed,
                        value.line,
                        field,
                        None,
                        Confidence::Likely,
                        spot,
                        Kind::Image,
                    );
                }
            } else {
                let _ = self.walk(value);
            }
        } else {
            let _ = self.walk(value);
        }
    }

    /// ConfigMap `data` and Secret `stringData`: values under image-named keys, complete
    /// references whatever the key, `KEY=REFERENCE` lines, image settings in free text, and
    /// documents embedded in a value (see [`embedded`]).
    fn config_map(&mut self, root: &'n Node<'n>, section: &'static str) {
        let Some(data) = root.get(section).and_then(Node::as_map) else {
            return;
        };
        for (key, value) in data {
            let (Some(k), Some(text)) = (key.as_str(), value.as_text()) else {
                continue;
            };
            let here = [Seg::Key(section), Seg::Key(k)];
            if is_image_key(k) {
                self.likely(value, text.trim(), value.line, &here, None);
                continue;
            }
            let mut found: Vec<(usize, &str)> = references_in_text(text)
                .chain(references_in_lines(text))
                .collect();
            found.sort_unstable();
            found.dedup_by_key(|(offset, _)| *offset);
            let embedded = embedded::references(text);
            // A field a composed image is made of (`"image": "init:2"` under a hub) is not an
            // image of its own.
            found.retain(|(offset, _)| {
                !embedded
                    .iter()
                    .filter_map(|e| e.parts.as_ref())
                    .any(|p| p.offsets().any(|at| at == *offset))
            });
            for &(offset, candidate) in &found {
                self.likely(value, candidate, line_in(value, text, offset), &here, None);
            }
            for e in embedded {
                if e.offset
                    .is_some_and(|at| found.iter().any(|(o, _)| *o == at))
                {
                    continue;
                }
                let prefix = self.field(&here);
                let field = format!("{prefix}#{}", e.path);
                let (line, spot) = match (e.offset, &e.parts) {
                    (Some(at), _) => (
                        line_in(value, text, at),
                        self.text_spot(value, &text[at..at + e.written.len()]),
                    ),
                    (None, Some(parts)) => {
                        (value.line, self.composed_spot(value, text, &prefix, parts))
                    }
                    (None, None) => (value.line, None),
                };
                self.push(
                    e.reference,
                    &e.written,
                    line,
                    field,
                    None,
                    Confidence::Likely,
                    spot,
                    e.kind,
                );
            }
        }
    }
}

/// What a chart writes instead of an image where a webhook injects it at admission (Istio's
/// gateway injection template: `image: auto`).
pub const INJECTED_SENTINEL: &str = "auto";

/// The stream line of byte `offset` of `text`, the text of the scalar `value` (whose line is
/// that of its first character: for a block scalar, the line after its key).
fn line_in(value: &Node<'_>, text: &str, offset: usize) -> u32 {
    value.line + memchr::memchr_iter(b'\n', &text.as_bytes()[..offset]).count() as u32
}

impl Walker<'_, '_, '_> {
    /// Where the fields of an image composed in a document embedded in `value` (whose text
    /// is `text`) are written in the stream (`None` unless each can be placed); `prefix` is
    /// the value's field path (`data.values`).
    fn composed_spot(
        &self,
        value: &Node<'_>,
        text: &str,
        prefix: &str,
        parts: &embedded::Parts,
    ) -> Option<Spot> {
        let place = |f: &embedded::Field| {
            let at = f.offset?;
            self.span(value, text.get(at..at + f.text.len())?)
        };
        let optional = |f: &Option<embedded::Field>| match f {
            Some(f) => place(f).map(Some),
            None => Some(None),
        };
        match parts {
            embedded::Parts::Hub {
                hub,
                image,
                tag,
                variant,
                json,
            } => Some(Spot::Composed(ComposedSpans {
                hub: place(hub)?,
                image: place(image)?,
                tag: optional(tag)?,
                hub_field: format!("{prefix}#{}", hub.path),
                tag_field: tag.as_ref().map(|t| format!("{prefix}#{}", t.path)),
                tag_plain_in_json: *json && tag.as_ref().is_some_and(|t| t.plain),
                variant: variant.clone(),
            })),
            embedded::Parts::Map {
                registry,
                repository,
                tag,
                digest,
            } => Some(Spot::Map(MapSpans {
                registry: optional(registry)?,
                repository: place(repository)?,
                tag: optional(tag)?,
                digest: optional(digest)?,
            })),
        }
    }

    /// Spans of every part of an image-shaped map (`None` unless each can be placed).
    fn map_spot(&self, parts: &ImageMapParts<'_, '_>) -> Option<Spot> {
        let whole = |(node, _): &(&Node<'_>, String)| match &node.value {
            Value::Scalar(value, _) => self.span(node, value.trim()),
            _ => None,
        };
        let optional = |part: &Option<(&Node<'_>, String)>| match part {
            Some(p) => whole(p).map(Some),
            None => Some(None),
        };
        Some(Spot::Map(MapSpans {
            registry: optional(&parts.registry)?,
            repository: whole(&parts.repository)?,
            tag: optional(&parts.tag)?,
            digest: optional(&parts.digest)?,
        }))
    }
}
