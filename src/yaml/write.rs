//! A small YAML writer for what purser prints (`-o yaml`, `-o lock`, `-o annotation`, lock
//! files): any `Serialize` value made of structs, sequences, maps of string keys, strings,
//! integers, booleans and unit enum variants, written in block style with two-space indents.
//!
//! The layout and quoting are serde-saphyr's defaults, byte for byte, so files written before
//! read and diff the same: a mapping's sequences with their dashes under their key; empty collections
//! as `[]` and `{}`; strings plain when YAML 1.1 and 1.2 readers would both read them back as
//! the same string, else double-quoted with escapes; multi-line strings as `|` blocks and
//! plain-safe strings longer than 80 characters as `>-` blocks folded at spaces.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Why a value cannot be written by this writer (a float, a map key that is not a string, an
/// enum variant that carries data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError(String);

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write as YAML: {}", self.0)
    }
}

impl std::error::Error for WriteError {}

impl ser::Error for WriteError {
    fn custom<T: fmt::Display>(msg: T) -> WriteError {
        WriteError(msg.to_string())
    }
}

/// `value` as a YAML document.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, WriteError> {
    let tree = value.serialize(TreeSer)?;
    let mut out = String::new();
    match &tree {
        Tree::Map(entries) if !entries.is_empty() => map(&mut out, entries, 0, false),
        Tree::Seq(items) if !items.is_empty() => seq(&mut out, items, 0, false),
        _ => scalar(&mut out, &tree, Place::Root),
    }
    Ok(out)
}

/// A serialised value: what is written, in order.
enum Tree {
    Null,
    /// A boolean or an integer, written as it is.
    Plain(String),
    Str(String),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

/// Where a scalar goes: its block body, if it gets one, is indented past that column.
#[derive(Clone, Copy)]
enum Place {
    Root,
    /// The value of a key at this column.
    Value(usize),
    /// A sequence item whose dash is at this column.
    Item(usize),
}

fn indent(out: &mut String, column: usize) {
    out.extend(std::iter::repeat_n(' ', column));
}

/// A non-empty mapping with keys at `column`; `inline` when the first key follows a `- `.
fn map(out: &mut String, entries: &[(String, Tree)], column: usize, inline: bool) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, column);
        }
        out.push_str(key);
        out.push(':');
        match value {
            Tree::Map(entries) if !entries.is_empty() => {
                out.push('\n');
                map(out, entries, column + 2, false);
            }
            Tree::Seq(items) if !items.is_empty() => {
                out.push('\n');
                seq(out, items, column, false);
            }
            _ => {
                out.push(' ');
                scalar(out, value, Place::Value(column));
            }
        }
    }
}

/// A non-empty sequence with dashes at `column`; `inline` when the first dash follows a `- `.
fn seq(out: &mut String, items: &[Tree], column: usize, inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, column);
        }
        out.push_str("- ");
        match item {
            Tree::Map(entries) if !entries.is_empty() => map(out, entries, column + 2, true),
            Tree::Seq(items) if !items.is_empty() => seq(out, items, column + 2, true),
            _ => scalar(out, item, Place::Item(column)),
        }
    }
}

/// A scalar or an empty collection, and the line end (a block scalar writes its own lines).
fn scalar(out: &mut String, value: &Tree, place: Place) {
    match value {
        Tree::Null => out.push_str("null"),
        Tree::Plain(text) => out.push_str(text),
        Tree::Seq(_) => out.push_str("[]"),
        Tree::Map(_) => out.push_str("{}"),
        Tree::Str(s) => return string(out, s, place),
    }
    out.push('\n');
}

fn string(out: &mut String, s: &str, place: Place) {
    let block = if s.contains('\n') {
        (!s.is_empty() && block_safe(s)).then_some('|')
    } else {
        let probe = s.trim_end_matches(' ');
        (!probe.is_empty() && plain_safe(probe) && s.chars().count() > 80 && block_safe(s))
            .then_some('>')
    };
    match block {
        Some(style) => block_scalar(out, s, style, place),
        None => {
            if matches!(s, "." | "#" | "-") {
                out.push('\'');
                out.push_str(s);
                out.push('\'');
            } else if plain_safe(s) {
                out.push_str(s);
            } else {
                double_quoted(out, s);
            }
            out.push('\n');
        }
    }
}

/// A `|` (literal) or `>` (folded) block scalar: header, then the body two columns past the
/// node that holds it.
fn block_scalar(out: &mut String, s: &str, style: char, place: Place) {
    let body = match place {
        Place::Root => 2,
        Place::Value(column) | Place::Item(column) => column + 2,
    };
    let content = s.trim_end_matches('\n');
    let trailing = s.len() - content.len();
    out.push(style);
    let first = content.split('\n').find(|l| !l.is_empty()).unwrap_or("");
    if first.starts_with(' ') {
        out.push('2');
    }
    match trailing {
        0 => out.push('-'),
        1 if !content.is_empty() => {}
        _ => out.push('+'),
    }
    out.push('\n');
    if style == '>' {
        folded_body(out, s, body);
        return;
    }
    if content.is_empty() {
        for _ in 0..trailing {
            indent(out, body);
            out.push('\n');
        }
        return;
    }
    for line in content.split('\n') {
        indent(out, body);
        out.push_str(line);
        out.push('\n');
    }
    for _ in 1..trailing {
        indent(out, body);
        out.push('\n');
    }
}

/// The lines of a folded block, each broken at its last run of spaces before column 80 (a run
/// before a tab does not count): the run but one space stays at the end of the line.
fn folded_body(out: &mut String, s: &str, column: usize) {
    const WRAP: usize = 80;
    for line in s.split('\n') {
        if line.is_empty() || line.starts_with(' ') {
            indent(out, column);
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut start = 0;
        let mut col = 0;
        let mut last_run: Option<(usize, usize, usize)> = None;
        let mut run: Option<(usize, usize)> = None; // (start, length) of the current space run
        let mut prev_end = 0;
        for (i, ch) in line.char_indices() {
            if ch != ' ' {
                if let Some((run_start, run_len)) = run.take() {
                    if ch != '\t' {
                        last_run = Some((run_start, prev_end, run_len));
                    }
                }
            } else {
                run = Some(match run {
                    Some((run_start, run_len)) => (run_start, run_len + 1),
                    None => (i, 1),
                });
            }
            col += 1;
            if col > WRAP {
                let Some((ws_start, ws_end, ws_len)) = last_run else {
                    break;
                };
                indent(out, column);
                out.push_str(&line[start..ws_start]);
                out.extend(std::iter::repeat_n(' ', ws_len - 1));
                out.push('\n');
                start = ws_end;
                col = 0;
                last_run = None;
            }
            prev_end = i + ch.len_utf8();
        }
        indent(out, column);
        out.push_str(&line[start..]);
        out.push('\n');
    }
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{FEFF}' => out.push_str("\\uFEFF"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) <= 0xFF && c.is_control() => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{FEFF}' | '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}'
        )
}

/// Text a block scalar can hold as it is.
fn block_safe(s: &str) -> bool {
    s.chars().all(|c| match c {
        '\n' | '\t' => true,
        c => matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..),
    })
}

/// A string that reads back as itself when written plain, as a block mapping value.
fn plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if looks_typed(s)
        || first.is_ascii_whitespace()
        || last.is_ascii_whitespace()
        || starts_with_document_marker(s)
        || s.contains(": ")
        || s.trim().ends_with(':')
        || s.chars().any(needs_escape)
    {
        return false;
    }
    match bytes {
        [b'-' | b'?'] => return false,
        [b'-' | b'?', second, ..] if second.is_ascii_whitespace() => return false,
        [
            b',' | b':' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>'
            | b'\'' | b'"' | b'%' | b'@' | b'`',
            ..,
        ] => return false,
        _ => {}
    }
    let mut prev = None::<char>;
    !s.chars().any(|c| {
        let comment = c == '#' && prev.is_some_and(char::is_whitespace);
        prev = Some(c);
        comment
    })
}

fn starts_with_document_marker(s: &str) -> bool {
    match s.strip_prefix("---").or_else(|| s.strip_prefix("...")) {
        Some(rest) => rest.as_bytes().first().is_none_or(u8::is_ascii_whitespace),
        None => false,
    }
}

/// A plain scalar a YAML 1.1 or 1.2 reader takes for something other than a string: null,
/// booleans (`yes`, `off` too), numbers, timestamps, `<<` and `=`.
fn looks_typed(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let word = lower.trim_matches([' ', '\t', '\r', '\n']);
    matches!(
        lower.as_str(),
        "" | "~" | "null" | "nan" | "inf" | "+inf" | "-inf" | "<<" | "="
    ) || matches!(
        word,
        "true" | "false" | "yes" | "no" | "y" | "n" | "on" | "off"
    ) || numeric(s)
        || timestamp(s)
}

/// YAML 1.1 and 1.2 numbers: integers in any base, floats, sexagesimals, `.inf`, `.nan`.
fn numeric(s: &str) -> bool {
    if !matches!(
        s.as_bytes().first(),
        Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'_')
    ) {
        return false;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return true;
    }
    if sexagesimal(s) {
        return true;
    }
    if let Some((radix, digits)) = radix_digits(unsigned) {
        if digit_run(digits, radix, false) {
            return true;
        }
    }
    let normalized = s.replace('_', "");
    let s = normalized.as_str();
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if let Some((radix, digits)) = radix_digits(unsigned) {
        let digits = if s.starts_with("0b") || s.starts_with("0o") {
            digits.strip_prefix(['+', '-']).unwrap_or(digits)
        } else {
            digits
        };
        return digit_run(digits, radix, true);
    }
    let mantissa = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if !digit_run(exponent, 10, true) {
                return false;
            }
            mantissa
        }
        None => unsigned,
    };
    match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (whole.is_empty() || digit_run(whole, 10, true))
                && fraction.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        }
        None => digit_run(mantissa, 10, true),
    }
}

fn radix_digits(s: &str) -> Option<(u32, &str)> {
    match s.as_bytes() {
        [b'0', b'b' | b'B', ..] => Some((2, &s[2..])),
        [b'0', b'o' | b'O', ..] => Some((8, &s[2..])),
        [b'0', b'x' | b'X', ..] => Some((16, &s[2..])),
        _ => None,
    }
}

/// Digits of `radix`, with `_` between digits (`strict`) or anywhere.
fn digit_run(s: &str, radix: u32, strict: bool) -> bool {
    let digit = |b: u8| char::from(b).is_digit(radix);
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.iter().enumerate().all(|(i, &b)| {
            digit(b)
                || (b == b'_'
                    && (!strict
                        || (i > 0
                            && digit(bytes[i - 1])
                            && bytes.get(i + 1).is_some_and(|&n| digit(n)))))
        })
}

/// YAML 1.1 base-60 numbers: `1:20`, `-1:20:30.5`.
fn sexagesimal(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let Some((first, rest)) = integer.split_once(':') else {
        return false;
    };
    let Some(first_digit) = first.as_bytes().first() else {
        return false;
    };
    if !first_digit.is_ascii_digit()
        || (fraction.is_none() && *first_digit == b'0')
        || !first.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return false;
    }
    rest.split(':').all(|part| match part.as_bytes() {
        [digit] => digit.is_ascii_digit(),
        [tens, units] => matches!(tens, b'0'..=b'5') && units.is_ascii_digit(),
        _ => false,
    }) && fraction.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
}

/// YAML 1.1 timestamps: `2001-12-14`, `2001-12-14t21:59:43.10-05:00`.
fn timestamp(mut s: &str) -> bool {
    fn digits(s: &mut &str, min: usize, max: usize) -> bool {
        let len = s.bytes().take_while(u8::is_ascii_digit).count();
        if !(min..=max).contains(&len) {
            return false;
        }
        *s = &s[len..];
        true
    }
    fn prefix(s: &mut &str, ch: char) -> bool {
        match s.strip_prefix(ch) {
            Some(rest) => {
                *s = rest;
                true
            }
            None => false,
        }
    }
    if !digits(&mut s, 4, 4)
        || !prefix(&mut s, '-')
        || !digits(&mut s, 1, 2)
        || !prefix(&mut s, '-')
        || !digits(&mut s, 1, 2)
    {
        return false;
    }
    if s.is_empty() {
        return true;
    }
    if let Some(rest) = s.strip_prefix(['T', 't']) {
        s = rest;
    } else {
        let rest = s.trim_start_matches([' ', '\t']);
        if rest.len() == s.len() {
            return false;
        }
        s = rest;
    }
    if !digits(&mut s, 1, 2)
        || !prefix(&mut s, ':')
        || !digits(&mut s, 1, 2)
        || !prefix(&mut s, ':')
        || !digits(&mut s, 1, 2)
    {
        return false;
    }
    if prefix(&mut s, '.') || prefix(&mut s, ',') {
        digits(&mut s, 0, usize::MAX);
    }
    s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() || s == "Z" {
        return true;
    }
    if !(prefix(&mut s, '+') || prefix(&mut s, '-')) || !digits(&mut s, 1, 2) {
        return false;
    }
    if prefix(&mut s, ':') && !digits(&mut s, 2, 2) {
        return false;
    }
    s.is_empty()
}

// ---------------------------------------------------------------------------------------------
// Serialize -> Tree
// ---------------------------------------------------------------------------------------------

struct TreeSer;

fn unsupported<T>(what: &str) -> Result<T, WriteError> {
    Err(WriteError(format!("{what} is not supported")))
}

impl ser::Serializer for TreeSer {
    type Ok = Tree;
    type Error = WriteError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = Impossible<Tree, WriteError>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = Impossible<Tree, WriteError>;

    fn serialize_bool(self, v: bool) -> Result<Tree, WriteError> {
        Ok(Tree::Plain(v.to_string()))
    }
    fn serialize_i8(self, v: i8) -> Result<Tree, WriteError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Tree, WriteError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Tree, WriteError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Tree, WriteError> {
        Ok(Tree::Plain(v.to_string()))
    }
    fn serialize_u8(self, v: u8) -> Result<Tree, WriteError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Tree, WriteError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Tree, WriteError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Tree, WriteError> {
        Ok(Tree::Plain(v.to_string()))
    }
    fn serialize_f32(self, _v: f32) -> Result<Tree, WriteError> {
        unsupported("a float")
    }
    fn serialize_f64(self, _v: f64) -> Result<Tree, WriteError> {
        unsupported("a float")
    }
    fn serialize_char(self, v: char) -> Result<Tree, WriteError> {
        Ok(Tree::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Tree, WriteError> {
        Ok(Tree::Str(v.to_owned()))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Tree, WriteError> {
        unsupported("a byte string")
    }
    fn serialize_none(self) -> Result<Tree, WriteError> {
        Ok(Tree::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Tree, WriteError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Tree, WriteError> {
        Ok(Tree::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Tree, WriteError> {
        Ok(Tree::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Tree, WriteError> {
        Ok(Tree::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Tree, WriteError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Tree, WriteError> {
        unsupported("an enum variant with data")
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, WriteError> {
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, WriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, WriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        unsupported("an enum variant with data")
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer, WriteError> {
        Ok(MapSer {
            entries: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapSer, WriteError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        unsupported("an enum variant with data")
    }
}

struct SeqSer(Vec<Tree>);

impl ser::SerializeSeq for SeqSer {
    type Ok = Tree;
    type Error = WriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.0.push(value.serialize(TreeSer)?);
        Ok(())
    }
    fn end(self) -> Result<Tree, WriteError> {
        Ok(Tree::Seq(self.0))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Tree;
    type Error = WriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Tree, WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Tree;
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Tree, WriteError> {
        ser::SerializeSeq::end(self)
    }
}

struct MapSer {
    entries: Vec<(String, Tree)>,
    key: Option<String>,
}

impl ser::SerializeMap for MapSer {
    type Ok = Tree;
    type Error = WriteError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WriteError> {
        match key.serialize(TreeSer)? {
            Tree::Str(key) => {
                self.key = Some(key);
                Ok(())
            }
            _ => unsupported("a mapping key that is not a string"),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| WriteError("a mapping value without its key".into()))?;
        self.entries.push((key, value.serialize(TreeSer)?));
        Ok(())
    }
    fn end(self) -> Result<Tree, WriteError> {
        Ok(Tree::Map(self.entries))
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Tree;
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.entries
            .push((key.to_owned(), value.serialize(TreeSer)?));
        Ok(())
    }
    fn end(self) -> Result<Tree, WriteError> {
        Ok(Tree::Map(self.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::to_string;
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        name: String,
        count: u32,
        enabled: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        missing: Option<String>,
        none: Option<String>,
        empty_list: Vec<String>,
        empty_map: BTreeMap<String, String>,
        strings: Vec<String>,
        items: Vec<Item>,
        nested: Item,
        #[serde(flatten)]
        extra: BTreeMap<String, String>,
    }

    #[derive(Serialize)]
    struct Item {
        text: String,
        list: Vec<String>,
        inner: Vec<Item>,
    }

    /// Strings that probe every quoting and block rule.
    fn samples() -> Vec<String> {
        let mut s: Vec<String> = [
            "",
            " ",
            "plain",
            "docker.io/library/nginx:1.25",
            "a: b",
            "a:b",
            "ends:",
            "#x",
            "a #b",
            "a#b",
            "- x",
            "-x",
            "-",
            ".",
            "#",
            "?",
            "? x",
            "~",
            "null",
            "Null",
            "true",
            "False",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "1",
            "-1",
            "+1",
            "1.5",
            "1e3",
            ".5",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "1:20",
            "0:20",
            "12:30:45.5",
            ".inf",
            "-.INF",
            ".nan",
            "nan",
            "inf",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "2023-11-08T09:39:01Z",
            "2023-11-08 09:39",
            "<<",
            "=",
            "---",
            "--- x",
            "...",
            "---x",
            "[a]",
            "{a}",
            "a,b",
            "a[0]",
            "*x",
            "&x",
            "!x",
            "|x",
            ">x",
            "'x'",
            "\"x\"",
            "%x",
            "@x",
            "`x",
            "a\tb",
            "tab\t",
            "quote\"d",
            "back\\slash",
            "nul\0",
            "bell\u{7}",
            "esc\u{1b}",
            "del\u{7f}",
            "nel\u{85}",
            "ls\u{2028}",
            "bom\u{feff}",
            "é",
            "日本",
            "a\nb",
            "a\nb\n",
            "a\nb\n\n",
            "\n",
            "\n\n",
            "  lead\nx",
            "\n  lead",
            "x\n\ny",
            "cr\r\nlf",
            "trailing \nx",
            "1.10",
            "v1.2.3",
            "sha256:abc",
            "a: b\nc",
            "x ",
        ]
        .map(str::to_owned)
        .to_vec();
        let long = "docker.io/bitnami/wordpress@sha256:0123456789012345678901234567890123456789012345678901234567890123";
        s.push(long.to_owned());
        s.push(format!(
            "{long} with words after it that go on and on past the wrap column"
        ));
        s.push("word ".repeat(40));
        s.push(format!("{} \tx", "a".repeat(79)));
        s.push(format!("{}  {}", "a".repeat(70), "b".repeat(70)));
        s.push("ü".repeat(81));
        s.push(format!("{long}\n{long} {long}"));
        s
    }

    #[test]
    fn writes_what_serde_saphyr_writes() {
        let samples = samples();
        let mut wrong = Vec::new();
        let mut check = |text: &str, ours: String, theirs: String| {
            if ours != theirs {
                wrong.push(format!(
                    "{text:?}:\n--- ours\n{ours}--- serde-saphyr\n{theirs}"
                ));
            }
        };
        let item = |text: &str, depth: usize| -> Item {
            let mut item = Item {
                text: text.to_owned(),
                list: vec![text.to_owned(), "x".to_owned()],
                inner: Vec::new(),
            };
            if depth > 0 {
                item.inner.push(Item {
                    text: text.to_owned(),
                    list: vec![text.to_owned()],
                    inner: Vec::new(),
                });
            }
            item
        };
        for text in &samples {
            let doc = Doc {
                name: text.clone(),
                count: 3,
                enabled: false,
                missing: None,
                none: None,
                empty_list: Vec::new(),
                empty_map: BTreeMap::new(),
                strings: vec![text.clone(), "b".to_owned()],
                items: vec![item(text, 1), item("second", 0)],
                nested: item(text, 1),
                extra: [("flat".to_owned(), text.clone())].into(),
            };
            check(
                text,
                to_string(&doc).unwrap(),
                serde_saphyr::to_string(&doc).unwrap(),
            );
            let list = vec![text.clone()];
            check(
                text,
                to_string(&list).unwrap(),
                serde_saphyr::to_string(&list).unwrap(),
            );
            check(
                text,
                to_string(text).unwrap(),
                serde_saphyr::to_string(text).unwrap(),
            );
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        let empty: Vec<String> = Vec::new();
        assert_eq!(
            to_string(&empty).unwrap(),
            serde_saphyr::to_string(&empty).unwrap()
        );
    }
}
