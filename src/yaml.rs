//! YAML text -> a small value tree that remembers lines, with a budget against alias bombs.
//!
//! Built on saphyr-parser's event stream. Scalars borrow from the input where the parser
//! allows it, so walking a large stream allocates little. Every node knows the bytes of the
//! text it was read from, so a caller can edit a value in place without re-serialising. Aliases are expanded by copying the
//! anchored node, and every node counts against a budget, so `a: &a [*b, *b, ...]` nesting
//! fails fast with a clear message instead of eating memory.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};
use std::borrow::Cow;
use std::fmt;

pub mod de;
mod lower_indent;
pub mod write;

/// One node of a YAML tree with the 1-based line it starts on and the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    pub value: Value<'a>,
    pub line: u32,
    pub source: Source,
}

/// Where a node was written: the byte range of its text in the parsed text, and for a scalar
/// how it was written. A scalar's range covers its quotes, and its anchor and tag when it has
/// them (`&a !!str x`); a block scalar's covers its content lines, not the `|`/`>` header.
/// A node read through an alias keeps the range of the anchored node it copies. Nodes built
/// by hand (not parsed) have an empty range at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Source {
    pub start: usize,
    pub end: usize,
    pub style: Style,
}

/// How a scalar was written (collections say `Plain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

impl From<ScalarStyle> for Style {
    fn from(style: ScalarStyle) -> Style {
        match style {
            ScalarStyle::Plain => Style::Plain,
            ScalarStyle::SingleQuoted => Style::SingleQuoted,
            ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
            ScalarStyle::Literal => Style::Literal,
            ScalarStyle::Folded => Style::Folded,
        }
    }
}

/// The shape of a node. Scalars stay text: the caller decides what a value means.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Text of a scalar and whether it was plain (unquoted: `null`, `~`, `true` may mean more).
    Scalar(Cow<'a, str>, bool),
    Seq(Vec<Node<'a>>),
    Map(Vec<(Node<'a>, Node<'a>)>),
}

/// Why a YAML text could not be read, with the 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for YamlError {}

/// How many nodes a parse may build at most, aliases expanded. The default allows a document
/// sixteen times as many nodes as it has bytes (plus a floor), far above any real chart.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_nodes: usize,
    pub max_depth: usize,
}

impl Budget {
    pub fn for_text(text: &str) -> Budget {
        Budget {
            max_nodes: text.len().saturating_mul(16).max(1 << 16),
            max_depth: 512,
        }
    }
}

impl<'a> Node<'a> {
    /// The text of a scalar node (quoted or not); `None` for collections and plain nulls.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, plain) => {
                if *plain && is_null(s) {
                    None
                } else {
                    Some(s)
                }
            }
            _ => None,
        }
    }

    /// A non-empty string value (`""`, `~` and `null` give `None`).
    pub fn as_text(&self) -> Option<&str> {
        self.as_str().filter(|s| !s.is_empty())
    }

    pub fn as_seq(&self) -> Option<&[Node<'a>]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node<'a>, Node<'a>)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// A plain scalar `true`/`false` (YAML 1.2 core schema, as Kubernetes and Helm read it).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar(s, true) => match s.as_ref() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value under `key` in a mapping (the last one wins, as in Helm).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Follows a dotted path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node<'a>> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    /// `true` for a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s, true) if is_null(s))
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// Parses every document of `text`. `first_line` is the line `text` starts on in a larger
/// stream, so lines in nodes and errors are those of the stream.
///
/// Quoted scalars and flow collections continued on lines indented less than their block
/// (go-yaml, and so Helm, accepts them and writes them) are read as go-yaml reads them: see
/// [`lower_indent`]. Their nodes own their text; sources are still those of `text`.
pub fn parse_documents<'a>(
    text: &'a str,
    first_line: u32,
    budget: Budget,
) -> Result<Vec<Node<'a>>, YamlError> {
    match parse_text(text, first_line, budget) {
        Err(e) if go_yaml_takes(&e) => {
            let Some(padded) = lower_indent::pad(text) else {
                return Err(e);
            };
            let docs = parse_text(&padded.text, first_line, budget)
                .map_err(|e| unpad_error(e, &padded, first_line))?;
            Ok(docs.into_iter().map(|d| owned(d, &padded)).collect())
        }
        other => other,
    }
}

/// saphyr-parser refused a shape go-yaml reads (lines indented too little inside quoted
/// scalars and flow collections; a tab after `key:`): [`lower_indent::pad`] may mend it.
fn go_yaml_takes(e: &YamlError) -> bool {
    e.message.starts_with("invalid indentation")
        || e.message
            .starts_with("':' must be followed by a valid YAML whitespace")
}

/// go-yaml reads only `%YAML 1.1` documents ("found incompatible YAML document"); Helm
/// refuses any other version, so purser does too.
fn check_yaml_directive(text: &str, first_line: u32) -> Result<(), YamlError> {
    for at in memchr::memmem::find_iter(text.as_bytes(), b"%YAML") {
        if at != 0 && text.as_bytes()[at - 1] != b'\n' {
            continue;
        }
        let line = &text[at..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        let version = line["%YAML".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("");
        if version != "1.1" {
            return Err(YamlError {
                line: first_line + text[..at].matches('\n').count() as u32,
                column: 1,
                message: format!(
                    "`%YAML {version}`: Helm's YAML reader (go-yaml) reads only YAML 1.1 documents; remove the directive"
                ),
            });
        }
    }
    Ok(())
}

/// An error in a padded text, its column that of the caller's text.
fn unpad_error(mut e: YamlError, padded: &lower_indent::Padded, first_line: u32) -> YamlError {
    let inserted = padded.inserted_on_line(e.line.saturating_sub(first_line) as usize) as u32;
    if e.column > inserted {
        e.column -= inserted;
    }
    e
}

/// A node read from a padded text, owning its text, its sources those of the original.
fn owned<'a>(node: Node<'_>, padded: &lower_indent::Padded) -> Node<'a> {
    let source = Source {
        start: padded.original(node.source.start),
        end: padded.original(node.source.end),
        style: node.source.style,
    };
    let value = match node.value {
        Value::Scalar(text, plain) => Value::Scalar(Cow::Owned(text.into_owned()), plain),
        Value::Seq(items) => Value::Seq(items.into_iter().map(|n| owned(n, padded)).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (owned(k, padded), owned(v, padded)))
                .collect(),
        ),
    };
    Node {
        value,
        line: node.line,
        source,
    }
}

fn parse_text<'a>(
    text: &'a str,
    first_line: u32,
    budget: Budget,
) -> Result<Vec<Node<'a>>, YamlError> {
    check_yaml_directive(text, first_line)?;
    let mut builder = Builder {
        anchors: Vec::new(),
        nodes: 0,
        budget,
        first_line,
        offsets: Offsets::new(text),
    };
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    loop {
        let (event, _span) = next(&mut parser, first_line)?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                builder.anchors.clear();
                let (event, span) = next(&mut parser, first_line)?;
                let root = if matches!(event, Event::DocumentEnd) {
                    None
                } else {
                    let root = builder.node(&mut parser, event, span, 0)?;
                    let (end, _) = next(&mut parser, first_line)?;
                    debug_assert!(matches!(end, Event::DocumentEnd));
                    Some(root)
                };
                if let Some(root) = root {
                    docs.push(root);
                }
            }
            _ => {}
        }
    }
    Ok(docs)
}

/// Checks that `text` is well-formed YAML without building anything (what a document that
/// cannot hold an image still owes the reader: a stream that is not YAML is an error).
pub fn validate(text: &str, first_line: u32) -> Result<(), YamlError> {
    match validate_text(text, first_line) {
        Err(e) if go_yaml_takes(&e) => match lower_indent::pad(text) {
            Some(padded) => validate_text(&padded.text, first_line)
                .map_err(|e| unpad_error(e, &padded, first_line)),
            None => Err(e),
        },
        other => other,
    }
}

fn validate_text(text: &str, first_line: u32) -> Result<(), YamlError> {
    check_yaml_directive(text, first_line)?;
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, _) = next(&mut parser, first_line)?;
        if matches!(event, Event::StreamEnd) {
            return Ok(());
        }
    }
}

/// Parses a text that holds one document (or none: an empty text gives a null scalar).
pub fn parse_one(text: &str, first_line: u32) -> Result<Node<'_>, YamlError> {
    parse_one_within(text, first_line, Budget::for_text(text))
}

/// [`parse_one`] under a budget of the caller's.
pub fn parse_one_within(
    text: &str,
    first_line: u32,
    budget: Budget,
) -> Result<Node<'_>, YamlError> {
    let mut docs = parse_documents(text, first_line, budget)?;
    match docs.len() {
        0 => Ok(Node {
            value: Value::Scalar(Cow::Borrowed(""), true),
            line: first_line,
            source: Source::default(),
        }),
        1 => Ok(docs.pop().expect("one document")),
        n => Err(YamlError {
            line: docs[1].line,
            column: 1,
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

struct Builder<'a> {
    anchors: Vec<(usize, Node<'a>)>,
    nodes: usize,
    budget: Budget,
    first_line: u32,
    offsets: Offsets<'a>,
}

/// saphyr-parser's markers count characters; nodes want bytes. For ASCII text (nearly every
/// manifest) the two are the same; otherwise a cursor walks from the last position asked,
/// which the parser's forward-moving markers keep short.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Offsets<'a> {
        Offsets {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
        }
    }

    /// The byte offset of character `index` (the text's length past its end).
    fn byte(&mut self, index: usize) -> usize {
        if self.ascii {
            return index.min(self.text.len());
        }
        if index >= self.chars {
            let from = self.bytes;
            for (at, c) in self.text[from..].char_indices() {
                if self.chars == index {
                    break;
                }
                self.chars += 1;
                self.bytes = from + at + c.len_utf8();
            }
        } else {
            let mut before = self.text[..self.bytes].char_indices();
            while self.chars > index {
                match before.next_back() {
                    Some((at, _)) => {
                        self.chars -= 1;
                        self.bytes = at;
                    }
                    None => break,
                }
            }
        }
        self.bytes
    }
}

fn next<'a>(
    parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    first_line: u32,
) -> Result<(Event<'a>, Span), YamlError> {
    match parser.next_event() {
        Some(Ok(pair)) => Ok(pair),
        Some(Err(e)) => Err(scan_error(&e, first_line)),
        None => Err(YamlError {
            line: first_line,
            column: 1,
            message: "unexpected end of YAML".into(),
        }),
    }
}

fn scan_error(e: &ScanError, first_line: u32) -> YamlError {
    let m = e.marker();
    YamlError {
        line: first_line + m.line().saturating_sub(1) as u32,
        column: m.col() as u32 + 1,
        message: e.info().to_string(),
    }
}

impl<'a> Builder<'a> {
    /// go-yaml knows every escape of YAML 1.2 but `\/`: refuse it as Helm does. Only
    /// double-quoted scalars with an escape or a line break are looked at.
    fn check_escapes(&self, start: usize, end: usize, line: u32) -> Result<(), YamlError> {
        let raw = self
            .offsets
            .text
            .as_bytes()
            .get(start..end)
            .unwrap_or_default();
        let mut after_escape = usize::MAX;
        for at in memchr::memchr_iter(b'\\', raw) {
            if at == after_escape {
                continue; // the second of `\\`
            }
            if raw.get(at + 1) == Some(&b'/') {
                return Err(YamlError {
                    line,
                    column: 1,
                    message: "`\\/` in a double-quoted string: Helm's YAML reader (go-yaml) does not know this escape; write `/`".into(),
                });
            }
            after_escape = at + 1;
        }
        Ok(())
    }

    fn line(&self, span: &Span) -> u32 {
        self.first_line + span.start.line().saturating_sub(1) as u32
    }

    fn count(&mut self, add: usize, line: u32) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(add);
        if self.nodes > self.budget.max_nodes {
            return Err(YamlError {
                line,
                column: 1,
                message: format!(
                    "the document expands to more than {} YAML nodes (aliases repeated too often: an alias bomb?); refusing to read it",
                    self.budget.max_nodes
                ),
            });
        }
        Ok(())
    }

    fn node(
        &mut self,
        parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
        event: Event<'a>,
        span: Span,
        depth: usize,
    ) -> Result<Node<'a>, YamlError> {
        let line = self.line(&span);
        if depth > self.budget.max_depth {
            return Err(YamlError {
                line,
                column: span.start.col() as u32 + 1,
                message: format!("YAML nested deeper than {} levels", self.budget.max_depth),
            });
        }
        self.count(1, line)?;
        let start = self.offsets.byte(span.start.index());
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let end = self.offsets.byte(span.end.index());
                if style == ScalarStyle::DoubleQuoted && matches!(text, Cow::Owned(_)) {
                    self.check_escapes(start, end, line)?;
                }
                // A core-schema tag says what the text means: `!!str null` is a string,
                // `!!int '5'` a number, as go-yaml reads them; other tags change nothing.
                let plain = match tag.as_deref() {
                    Some(t) if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" => {
                        match t.suffix.as_str() {
                            "str" => false,
                            "int" | "float" | "bool" | "null" => true,
                            _ => style == ScalarStyle::Plain,
                        }
                    }
                    _ => style == ScalarStyle::Plain,
                };
                (
                    Node {
                        value: Value::Scalar(text, plain),
                        line,
                        source: Source {
                            start,
                            end,
                            style: style.into(),
                        },
                    },
                    anchor,
                )
            }
            Event::SequenceStart(anchor, _tag) => {
                let mut items = Vec::new();
                let end = loop {
                    let (event, span) = next(parser, self.first_line)?;
                    if matches!(event, Event::SequenceEnd) {
                        break self.offsets.byte(span.end.index());
                    }
                    items.push(self.node(parser, event, span, depth + 1)?);
                };
                (
                    Node {
                        value: Value::Seq(items),
                        line,
                        source: Source {
                            start,
                            end,
                            style: Style::Plain,
                        },
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _tag) => {
                let mut entries: Vec<(Node<'a>, Node<'a>)> = Vec::new();
                let end = loop {
                    let (event, span) = next(parser, self.first_line)?;
                    if matches!(event, Event::MappingEnd) {
                        break self.offsets.byte(span.end.index());
                    }
                    let key = self.node(parser, event, span, depth + 1)?;
                    if !matches!(key.value, Value::Scalar(..)) {
                        return Err(YamlError {
                            line: key.line,
                            column: 1,
                            message: "a mapping key that is a list or a mapping: Helm's YAML reader (go-yaml) refuses it".into(),
                        });
                    }
                    let (event, span) = next(parser, self.first_line)?;
                    let value = self.node(parser, event, span, depth + 1)?;
                    if key.as_str() == Some("<<") && matches!(key.value, Value::Scalar(_, true)) {
                        let line = value.line;
                        merge_into(&mut entries, value).map_err(|()| YamlError {
                            line,
                            column: 1,
                            message: "a merge key (<<) takes a mapping or a list of mappings; Helm refuses anything else".into(),
                        })?;
                    } else {
                        entries.push((key, value));
                    }
                };
                (
                    Node {
                        value: Value::Map(entries),
                        line,
                        source: Source {
                            start,
                            end,
                            style: Style::Plain,
                        },
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let Some((_, target)) = self.anchors.iter().rev().find(|(a, _)| *a == id) else {
                    return Err(YamlError {
                        line,
                        column: span.start.col() as u32 + 1,
                        message: "alias to an anchor that is not defined before it".into(),
                    });
                };
                let target = target.clone();
                self.count(size(&target), line)?;
                return Ok(Node { line, ..target });
            }
            other => {
                return Err(YamlError {
                    line,
                    column: span.start.col() as u32 + 1,
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        };
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        Ok(node)
    }
}

/// YAML merge keys (`<<: *base`): entries of the merged map(s) that the map does not set.
/// Anything but a mapping or a list of mappings is an error, as in go-yaml.
fn merge_into<'a>(entries: &mut Vec<(Node<'a>, Node<'a>)>, value: Node<'a>) -> Result<(), ()> {
    let sources = match value.value {
        Value::Map(m) => vec![m],
        Value::Seq(items) => items
            .into_iter()
            .map(|n| match n.value {
                Value::Map(m) => Ok(m),
                _ => Err(()),
            })
            .collect::<Result<Vec<_>, ()>>()?,
        Value::Scalar(..) => return Err(()),
    };
    for source in sources {
        for (k, v) in source {
            if !entries
                .iter()
                .any(|(e, _)| e.as_str().is_some() && e.as_str() == k.as_str())
            {
                entries.push((k, v));
            }
        }
    }
    Ok(())
}

fn size(node: &Node<'_>) -> usize {
    match &node.value {
        Value::Scalar(..) => 1,
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_those_of_the_stream() {
        let docs = parse_documents("a: 1\nb:\n  c: x\n", 10, Budget::for_text("")).unwrap();
        assert_eq!(docs.len(), 1);
        let c = docs[0].path(&["b", "c"]).unwrap();
        assert_eq!(c.as_str(), Some("x"));
        assert_eq!(c.line, 12);
    }

    #[test]
    fn sources_are_byte_ranges_of_the_text() {
        for prefix in ["", "note: \"é ✓ 日本\"\n"] {
            let text = format!(
                "{prefix}a: plain  # c\nb: 'it''s'\nc: \"q\\x41\"\nd: |\n  lit\ne: &x !!str tagged\nf: *x\ng: [x, {{k: v}}]\n"
            );
            let doc = parse_one(&text, 1).unwrap();
            let src = |key: &str| {
                let s = doc.get(key).unwrap().source;
                (&text[s.start..s.end], s.style)
            };
            assert_eq!(src("a"), ("plain", Style::Plain));
            assert_eq!(src("b"), ("'it''s'", Style::SingleQuoted));
            assert_eq!(src("c"), ("\"q\\x41\"", Style::DoubleQuoted));
            assert_eq!(src("d"), ("lit\n", Style::Literal));
            assert_eq!(src("e"), ("&x !!str tagged", Style::Plain));
            assert_eq!(
                src("f"),
                ("&x !!str tagged", Style::Plain),
                "an alias keeps the anchor's"
            );
            assert_eq!(src("g").0, "[x, {k: v}]");
            let k = doc.path(&["g"]).unwrap().as_seq().unwrap()[1]
                .get("k")
                .unwrap();
            assert_eq!(&text[k.source.start..k.source.end], "v");
        }
    }

    #[test]
    fn nulls_and_bools() {
        let doc = parse_one("a: ~\nb: null\nc: ''\nd: true\ne: 'true'\n", 1).unwrap();
        assert_eq!(doc.get("a").unwrap().as_str(), None);
        assert_eq!(doc.get("b").unwrap().as_str(), None);
        assert_eq!(doc.get("c").unwrap().as_str(), Some(""));
        assert_eq!(doc.get("c").unwrap().as_text(), None);
        assert_eq!(doc.get("d").unwrap().as_bool(), Some(true));
        assert_eq!(doc.get("e").unwrap().as_bool(), None);
    }

    #[test]
    fn aliases_and_merge_keys() {
        let doc = parse_one(
            "base: &b {image: nginx, tag: '1'}\nx:\n  <<: *b\n  tag: '2'\ny: *b\n",
            1,
        )
        .unwrap();
        assert_eq!(doc.path(&["x", "image"]).unwrap().as_str(), Some("nginx"));
        assert_eq!(doc.path(&["x", "tag"]).unwrap().as_str(), Some("2"));
        assert_eq!(doc.path(&["y", "tag"]).unwrap().as_str(), Some("1"));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_one(&text, 1).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{err}");
    }

    #[test]
    fn syntax_error_names_line() {
        let err = parse_one("a: 1\nb: [1, 2\nc: 3\n", 5).unwrap_err();
        assert!(err.line >= 6, "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(2000) + &"]".repeat(2000);
        assert!(parse_one(&text, 1).is_err());
    }

    #[test]
    fn quoted_scalar_continued_below_its_key_as_helm_writes_it() {
        let text = "groups:\n  - rules:\n    - alert: Watchdog\n      annotations:\n        description: 'This is an alert meant to ensure ...\n\n          This alert is always firing ...\n'\n        summary: always firing\n      expr: vector(1)\n";
        let doc = parse_one(text, 3).unwrap();
        let rule = &doc.get("groups").unwrap().as_seq().unwrap()[0]
            .get("rules")
            .unwrap()
            .as_seq()
            .unwrap()[0];
        let description = rule.path(&["annotations", "description"]).unwrap();
        assert_eq!(
            description.as_str(),
            Some("This is an alert meant to ensure ...\nThis alert is always firing ... ")
        );
        assert_eq!(description.line, 7);
        let s = description.source;
        assert!(text[s.start..s.end].starts_with("'This is"), "{s:?}");
        assert!(text[s.start..s.end].ends_with("...\n'"), "{s:?}");
        let summary = rule.path(&["annotations", "summary"]).unwrap();
        assert_eq!(
            &text[summary.source.start..summary.source.end],
            "always firing"
        );
        assert_eq!(rule.get("expr").unwrap().as_str(), Some("vector(1)"));
        assert!(validate(text, 1).is_ok());
    }

    #[test]
    fn double_quoted_and_flow_continued_below_their_block() {
        let doc = parse_one(
            "a:\n  b:\n    c: \"one\n two \\\n  three\n\"\n    d: [1,\n2,\n  {e: 'f\n'}]\n    g: x\n",
            1,
        )
        .unwrap();
        assert_eq!(
            doc.path(&["a", "b", "c"]).unwrap().as_str(),
            Some("one two three ")
        );
        let d = doc.path(&["a", "b", "d"]).unwrap().as_seq().unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[2].get("e").unwrap().as_str(), Some("f "));
        assert_eq!(doc.path(&["a", "b", "g"]).unwrap().as_str(), Some("x"));
    }

    #[test]
    fn document_marker_in_a_lower_quoted_scalar_is_still_an_error() {
        let err = parse_one("a:\n  b: 'x\n---\n'\n", 1).unwrap_err();
        assert!(err.message.contains("document indicator"), "{err}");
        // A line indented too little outside quotes and flow stays refused, line named.
        let err = parse_one("a:\n    b: x\n   c: y\n", 10).unwrap_err();
        assert_eq!(err.line, 12, "{err}");
    }

    #[test]
    fn tab_after_a_colon_separates() {
        let text = "a:\tb\nc: 'd:\te'\n";
        let doc = parse_one(text, 1).unwrap();
        assert_eq!(doc.get("a").unwrap().as_str(), Some("b"));
        assert_eq!(doc.get("c").unwrap().as_str(), Some("d:\te"));
        let b = doc.get("a").unwrap().source;
        assert_eq!(&text[b.start..b.end], "b");
    }

    #[test]
    fn yaml_directive_other_than_1_1_is_refused() {
        let err = parse_documents("%YAML 1.2\n---\na: 1\n", 4, Budget::for_text("")).unwrap_err();
        assert_eq!(err.line, 4);
        assert!(err.message.contains("YAML 1.1"), "{err}");
        assert!(validate("%YAML 1.2\n---\na: 1\n", 1).is_err());
        assert!(parse_one("%YAML 1.1\n---\na: 1\n", 1).is_ok());
        assert!(parse_one("a: '%YAML 1.2'\n", 1).is_ok());
    }

    #[test]
    fn escaped_slash_is_refused_as_go_yaml_does() {
        let err = parse_one("a: \"x\\/y\"\n", 1).unwrap_err();
        assert!(err.message.contains("\\/"), "{err}");
        let doc = parse_one("a: \"x\\\\/y\"\nb: 'x\\/y'\n", 1).unwrap();
        assert_eq!(doc.get("a").unwrap().as_str(), Some("x\\/y"));
        assert_eq!(doc.get("b").unwrap().as_str(), Some("x\\/y"));
    }

    #[test]
    fn core_tags_say_what_a_scalar_means() {
        let doc = parse_one(
            "a: !!str null\nb: !!bool 'true'\nc: !custom x\nd: !!str true\n",
            1,
        )
        .unwrap();
        assert_eq!(doc.get("a").unwrap().as_str(), Some("null"));
        assert_eq!(doc.get("b").unwrap().as_bool(), Some(true));
        assert_eq!(doc.get("c").unwrap().as_str(), Some("x"));
        assert_eq!(doc.get("d").unwrap().as_bool(), None);
    }

    #[test]
    fn merge_of_a_scalar_and_collection_keys_are_refused() {
        let err = parse_one("a:\n  <<: 1\n", 1).unwrap_err();
        assert!(err.message.contains("merge key"), "{err}");
        assert!(parse_one("a: &x {k: 1}\nb:\n  <<: [*x, 2]\n", 1).is_err());
        let err = parse_one("? [a, b]\n: c\n", 1).unwrap_err();
        assert!(err.message.contains("mapping key"), "{err}");
    }
}
