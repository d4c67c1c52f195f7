//! A rendered manifest stream (what `helm template` or `helm get manifest` prints) -> findings.
//!
//! The stream is split into documents the way Helm splits it (a line starting with `---`).
//! A document that cannot name an image (no `image` in any case, and not a ConfigMap) or that
//! is a CustomResourceDefinition is counted and skipped without parsing: on real charts most
//! bytes are CRD schemas, and skipping them is what makes a 50 MB stream take milliseconds.
//!
//! What is found, and how sure:
//! - certain: `image` of containers, initContainers and ephemeralContainers of any pod spec,
//!   wherever it sits (Pod, Deployment, CronJob, any CRD embedding a pod template); image
//!   volumes (`volumes[].image.reference`); `spec.image` and `spec.thanos.image` of the
//!   Prometheus operator's resources.
//! - likely: container args (`--x-image=REF`, `--prometheus-config-reloader=REF`, also as two
//!   arguments), env (`*_IMAGE`, `RELATED_IMAGE_*`), ConfigMap data, and any other field named
//!   `image` or `*Image` holding a reference or a `{registry, repository, tag}` map.

use crate::inventory::{Confidence, Finding, MapSpans, Origin, Span, Spot};
use crate::reference::Reference;
use crate::yaml::{self, Budget, Node, Value};
use memchr::memmem;
use std::fmt;

/// What was wrong with a stream, naming the document and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub document: usize,
    pub line: u32,
    pub template: Option<String>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {} (line {}", self.document, self.line)?;
        if let Some(t) = &self.template {
            write!(f, ", from {t}")?;
        }
        write!(f, "): {}", self.message)
    }
}

impl std::error::Error for ManifestError {}

/// The result of scanning a stream.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub findings: Vec<Finding>,
    /// Documents in the stream (empty ones not counted).
    pub documents: usize,
}

/// One document of a stream: its text, where it starts, and the template it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document<'a> {
    pub text: &'a str,
    /// Byte offset of `text` in the stream.
    pub offset: usize,
    /// 1-based line of the document's first line in the stream.
    pub line: u32,
    /// The `# Source: path` comment Helm writes at the top, if any.
    pub template: Option<&'a str>,
}

/// Splits a stream at lines that start with `---` followed by white space or the end of the
/// line (YAML document markers, which is also where Helm splits). The marker line's remainder
/// stays with the document it opens. Documents holding only white space and comments are
/// dropped.
pub fn split(stream: &str) -> Vec<Document<'_>> {
    let bytes = stream.as_bytes();
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u32;
    let mut line = 1u32;
    let mut counted_to = 0usize;
    let mut at = 0usize;
    let finder = memmem::Finder::new(b"---");
    while let Some(pos) = finder.find(&bytes[at..]).map(|p| p + at) {
        at = pos + 3;
        let at_line_start = pos == 0 || bytes[pos - 1] == b'\n';
        let marker_ends = bytes
            .get(pos + 3)
            .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
        if !(at_line_start && marker_ends) {
            continue;
        }
        line += memchr::memchr_iter(b'\n', &bytes[counted_to..pos]).count() as u32;
        counted_to = pos;
        if pos > start || start == 0 {
            push_document(stream, start..pos, start_line, &mut docs);
        }
        start = pos + 3;
        start_line = line;
    }
    push_document(stream, start..stream.len(), start_line, &mut docs);
    docs
}

fn push_document<'a>(
    stream: &'a str,
    range: std::ops::Range<usize>,
    line: u32,
    docs: &mut Vec<Document<'a>>,
) {
    let offset = range.start;
    let text = &stream[range];
    let mut template = None;
    let mut only_comments = true;
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            if template.is_none() {
                if let Some(path) = c.trim_start().strip_prefix("Source:") {
                    template = Some(path.trim());
                }
            }
            continue;
        }
        only_comments = false;
        break;
    }
    if !only_comments {
        docs.push(Document {
            text,
            offset,
            line,
            template,
        });
    }
}

/// Scans a whole stream.
pub fn scan(stream: &str) -> Result<Scan, ManifestError> {
    let mut scan = Scan::default();
    for (index, doc) in split(stream).into_iter().enumerate() {
        scan.documents += 1;
        scan_document(&doc, index + 1, &mut scan.findings)?;
    }
    Ok(scan)
}

/// How much of a document must be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// It may name images: parse it and walk it.
    Walk,
    /// It cannot name one (it never says "image" in any case and is not a ConfigMap): only
    /// check that it is YAML.
    Validate,
    /// A CustomResourceDefinition: schemas name no image to pull, and they are most of the
    /// bytes of real charts. Only its shape is checked (a `kind:` line at the top level).
    Skip,
}

fn depth(text: &str) -> Depth {
    match top_level_kind(text) {
        Some("CustomResourceDefinition") => Depth::Skip,
        Some("ConfigMap" | "List") => Depth::Walk,
        _ if mentions_image(text.as_bytes()) => Depth::Walk,
        _ => Depth::Validate,
    }
}

fn mentions_image(bytes: &[u8]) -> bool {
    let lower =
        memmem::find_iter(bytes, b"mage").any(|p| p > 0 && matches!(bytes[p - 1], b'i' | b'I'));
    lower || memmem::find(bytes, b"IMAGE").is_some()
}

/// The value of a `kind:` line at column 0, read without parsing.
fn top_level_kind(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    for pos in memmem::find_iter(bytes, b"kind:") {
        if pos == 0 || bytes[pos - 1] == b'\n' {
            let rest = &text[pos + 5..];
            let end = rest.find('\n').unwrap_or(rest.len());
            let value = rest[..end].trim().trim_matches(|c| c == '"' || c == '\'');
            let value = value.split(" #").next().unwrap_or(value).trim();
            return Some(value);
        }
    }
    None
}

/// Scans one document, appending its findings.
pub fn scan_document(
    doc: &Document<'_>,
    number: usize,
    out: &mut Vec<Finding>,
) -> Result<(), ManifestError> {
    let error = |line: u32, message: String| ManifestError {
        document: number,
        line,
        template: doc.template.map(str::to_owned),
        message,
    };
    let not_yaml = |e: yaml::YamlError| {
        error(
            e.line,
            format!(
                "not valid YAML: {} (column {}); check the template that produced it",
                e.message, e.column
            ),
        )
    };
    match depth(doc.text) {
        Depth::Skip => return Ok(()),
        Depth::Validate => return yaml::validate(doc.text, doc.line).map_err(not_yaml),
        Depth::Walk => {}
    }
    let roots =
        yaml::parse_documents(doc.text, doc.line, Budget::for_text(doc.text)).map_err(not_yaml)?;
    for root in &roots {
        if root.as_map().is_none() {
            continue;
        }
        let mut walker = Walker {
            doc,
            number,
            out,
            path: Vec::new(),
            object: Object::of(root),
        };
        walker
            .object_root(root)
            .map_err(|(line, m)| error(line, m))?;
    }
    Ok(())
}

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

struct Walker<'d, 'o, 'n> {
    doc: &'d Document<'d>,
    number: usize,
    out: &'o mut Vec<Finding>,
    path: Vec<Seg<'n>>,
    object: Object,
}

/// Container fields that hold pod-spec container lists.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

impl<'d, 'o, 'n> Walker<'d, 'o, 'n> {
    fn object_root(&mut self, root: &'n Node<'n>) -> Result<(), WalkError> {
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
        if self.object.kind == "ConfigMap" {
            self.config_map(root);
            return Ok(());
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
    ) {
        self.out.push(Finding {
            reference,
            written: written.to_owned(),
            origin: Origin::Rendered {
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
            },
            confidence,
            spot,
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
            self.push(r, text, line, field, container, Confidence::Likely, spot);
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
                if image.as_text().is_some() {
                    self.path.push(Seg::Key("image"));
                    self.typed(image, name)?;
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
                        if is_image_key(var_name) || var_name.starts_with("RELATED_IMAGE") {
                            self.likely(
                                value,
                                text,
                                value.line,
                                &[Seg::Key("env"), Seg::Index(j), Seg::Key("value")],
                                name,
                            );
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
                    );
                }
            } else {
                let _ = self.walk(value);
            }
        } else {
            let _ = self.walk(value);
        }
    }

    fn config_map(&mut self, root: &'n Node<'n>) {
        let Some(data) = root.get("data").and_then(Node::as_map) else {
            return;
        };
        for (key, value) in data {
            let (Some(k), Some(text)) = (key.as_str(), value.as_text()) else {
                continue;
            };
            let here = [Seg::Key("data"), Seg::Key(k)];
            if is_image_key(k) {
                self.likely(value, text.trim(), value.line, &here, None);
                continue;
            }
            let mut found: Vec<(usize, &str)> = references_in_text(text).collect();
            found.sort_unstable();
            for (offset, candidate) in found {
                // A multi-line value is a block scalar: its text starts on the line after its key.
                let line_no = value.line
                    + u32::from(text.contains('\n'))
                    + memchr::memchr_iter(b'\n', &text.as_bytes()[..offset]).count() as u32;
                self.likely(value, candidate, line_no, &here, None);
            }
        }
    }
}

/// `image`, `baseImage`, `config_reloader_image`, `FOO_IMAGE`, `sidecar-image`: a key whose
/// last word is "image".
pub fn is_image_key(key: &str) -> bool {
    let k = key.trim_start_matches('-');
    let Some(head_len) = k.len().checked_sub(5) else {
        return false;
    };
    let (head, tail) = k.split_at_checked(head_len).unwrap_or(("", ""));
    if !tail.eq_ignore_ascii_case("image") {
        return false;
    }
    match head.as_bytes().last() {
        None => true,
        Some(b'_' | b'-' | b'.') => true,
        Some(c) => tail.starts_with('I') && (c.is_ascii_lowercase() || c.is_ascii_digit()),
    }
}

/// Flags that hand an image to a program: `--x-image`, `--image`, and the Prometheus
/// operator's `--prometheus-config-reloader`.
fn image_flag(flag: &str) -> bool {
    let name = flag.trim_start_matches('-');
    is_image_key(name)
        || matches!(
            name,
            "prometheus-config-reloader" | "config-reloader-image" | "thanos-default-base-image"
        )
}

/// A reference found by a heuristic: it must parse and carry a tag, a digest or a path, so
/// that words like `default` or `Always` are not taken for images.
pub fn likely_reference(text: &str) -> Option<Reference> {
    let text = text.trim();
    if text.is_empty() || text.contains("{{") || !text.contains(['/', ':', '@']) {
        return None;
    }
    Reference::parse(text).ok()
}

/// Settings in free text (embedded YAML, JSON, TOML, env files, command lines) that hand over
/// an image: a key whose last word is "image" (or an image flag), then `:` or `=`, then the
/// value, quoted or not. Yields (byte offset, value).
fn references_in_text(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let key_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
    let value_char = |c: u8| {
        c.is_ascii_alphanumeric()
            || matches!(c, b'.' | b'_' | b'-' | b':' | b'/' | b'@' | b'[' | b']')
    };
    memmem::find_iter(bytes, b"mage")
        .chain(memmem::find_iter(bytes, b"MAGE"))
        .filter_map(move |at| {
            // The key must end at this "image": find its start and end.
            let end = at + 4;
            if at == 0
                || !matches!(bytes[at - 1], b'i' | b'I')
                || bytes.get(end).is_some_and(|&c| key_char(c))
            {
                return None;
            }
            let mut start = at - 1;
            while start > 0 && key_char(bytes[start - 1]) {
                start -= 1;
            }
            let key = &text[start..end];
            if !(is_image_key(key) || image_flag(key)) {
                return None;
            }
            let mut i = end;
            let skip = |i: &mut usize, set: &[u8]| {
                while bytes.get(*i).is_some_and(|c| set.contains(c)) {
                    *i += 1;
                }
            };
            skip(&mut i, b"\"' \t");
            if !matches!(bytes.get(i), Some(b':' | b'=')) {
                return None;
            }
            i += 1;
            skip(&mut i, b"\"' \t");
            let value_start = i;
            while bytes.get(i).is_some_and(|&c| value_char(c)) {
                i += 1;
            }
            (i > value_start).then(|| (value_start, &text[value_start..i]))
        })
}

/// `{registry, repository, tag, digest}`, `{repository, tag}`, `{registry, image, tag}`,
/// `{name, tag}` -> `registry/repository:tag@digest`.
pub fn compose_image_map(node: &Node<'_>) -> Option<String> {
    image_map_parts(node).map(|parts| parts.compose())
}

/// The scalars an image-shaped map is composed of, each with its text.
struct ImageMapParts<'n, 'a> {
    registry: Option<(&'n Node<'a>, String)>,
    repository: (&'n Node<'a>, String),
    tag: Option<(&'n Node<'a>, String)>,
    digest: Option<(&'n Node<'a>, String)>,
}

fn image_map_parts<'n, 'a>(node: &'n Node<'a>) -> Option<ImageMapParts<'n, 'a>> {
    let part = |k: &str| {
        let n = node.get(k)?;
        let text = n
            .as_text()
            .map(str::to_owned)
            .or_else(|| scalar_number(n))?;
        Some((n, text))
    };
    let repository = part("repository")
        .or_else(|| part("image"))
        .or_else(|| part("name"))?;
    if repository.1.contains("{{") {
        return None;
    }
    Some(ImageMapParts {
        registry: part("registry"),
        repository,
        tag: part("tag"),
        digest: part("digest")
            .or_else(|| part("sha"))
            .filter(|(_, d)| d.contains(':')),
    })
}

impl ImageMapParts<'_, '_> {
    fn compose(&self) -> String {
        let mut s = String::new();
        if let Some((_, registry)) = &self.registry {
            s.push_str(registry.trim_end_matches('/'));
            s.push('/');
        }
        s.push_str(&self.repository.1);
        if let Some((_, tag)) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some((_, digest)) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }
}

impl Walker<'_, '_, '_> {
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

fn scalar_number(node: &Node<'_>) -> Option<String> {
    match &node.value {
        Value::Scalar(s, _) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
