//! serde deserialisation from a parsed [`Node`] tree, so the small YAML files purser reads into
//! typed structs (`Chart.yaml`, `requirements.yaml`, images-lock files) go through the same
//! parser, budgets and line numbers as the manifests, with no second YAML stack.
//!
//! Read as Helm reads them: of duplicated mapping keys the last wins; a plain `null`, `~` or
//! empty scalar is null; a scalar read as a string is its text whatever it looks like
//! (`version: 1.10` is "1.10"). Self-describing targets (`serde_json::Value`) get the YAML 1.2
//! core schema: null, booleans, integers, floats, else strings.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use super::{Node, Value};

/// Why a YAML tree does not fit the type asked for, with the 1-based line of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    /// 0 when serde reports a problem with no node at hand.
    pub line: u32,
    pub message: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> DeError {
        DeError {
            line: 0,
            message: msg.to_string(),
        }
    }
}

/// Reads `node` as a `T`.
pub fn from_node<T: DeserializeOwned>(node: &Node<'_>) -> Result<T, DeError> {
    T::deserialize(NodeDe(node))
}

/// A deserializer over one node; errors without a line get the node's.
struct NodeDe<'n, 'a>(&'n Node<'a>);

impl<'n, 'a> NodeDe<'n, 'a> {
    fn at_line<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|mut e| {
            if e.line == 0 {
                e.line = self.0.line;
            }
            e
        })
    }

    fn unexpected(&self) -> de::Unexpected<'n> {
        match &self.0.value {
            Value::Scalar(s, _) => de::Unexpected::Str(s),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }

    fn invalid<T>(&self, visitor: &dyn de::Expected) -> Result<T, DeError> {
        let mut e: DeError = de::Error::invalid_type(self.unexpected(), visitor);
        e.line = self.0.line;
        Err(e)
    }

    fn visit_seq<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.value {
            Value::Seq(items) => self.at_line(visitor.visit_seq(Items(items.iter()))),
            _ => self.invalid(&visitor),
        }
    }

    fn visit_map<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.value {
            Value::Map(entries) => self.at_line(visitor.visit_map(Entries {
                entries,
                at: 0,
                value: None,
            })),
            _ => self.invalid(&visitor),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.value {
            Value::Scalar(s, false) => visitor.visit_str(s),
            Value::Scalar(s, true) => self.at_line(plain(s, visitor)),
            Value::Seq(_) => self.visit_seq(visitor),
            Value::Map(_) => self.visit_map(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.as_bool() {
            Some(b) => visitor.visit_bool(b),
            None => self.invalid(&visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.value {
            Value::Scalar(s, _) => self.at_line(visitor.visit_str(s)),
            _ => self.invalid(&visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_unit()
        } else {
            self.invalid(&visitor)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.visit_seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.visit_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.visit_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.visit_map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.visit_map(visitor)
    }

    /// Unit variants only: `confidence: likely`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.0.value {
            Value::Scalar(s, _) => self.at_line(visitor.visit_enum(s.as_ref().into_deserializer())),
            _ => self.invalid(&visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
    }
}

/// A plain scalar by the YAML 1.2 core schema.
fn plain<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, DeError> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return visitor.visit_unit(),
        "true" | "True" | "TRUE" => return visitor.visit_bool(true),
        "false" | "False" | "FALSE" => return visitor.visit_bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return visitor.visit_f64(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return visitor.visit_f64(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return visitor.visit_f64(f64::NAN),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = s.parse::<u64>() {
            return visitor.visit_u64(n);
        }
        if let Ok(n) = s.parse::<i64>() {
            return visitor.visit_i64(n);
        }
    }
    let radix = |prefix: &str, radix: u32| {
        s.strip_prefix(prefix)
            .and_then(|d| u64::from_str_radix(d, radix).ok())
    };
    if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return visitor.visit_u64(n);
    }
    let float_like = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if float_like {
        if let Ok(f) = s.parse::<f64>() {
            return visitor.visit_f64(f);
        }
    }
    visitor.visit_str(s)
}

struct Items<'n, 'a>(std::slice::Iter<'n, Node<'a>>);

impl<'de> SeqAccess<'de> for Items<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        self.0
            .next()
            .map(|node| seed.deserialize(NodeDe(node)))
            .transpose()
    }
}

/// The entries of a mapping, each key read only at its last occurrence.
struct Entries<'n, 'a> {
    entries: &'n [(Node<'a>, Node<'a>)],
    at: usize,
    value: Option<&'n Node<'a>>,
}

impl<'de> MapAccess<'de> for Entries<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        while let Some((key, value)) = self.entries.get(self.at) {
            self.at += 1;
            let later = self.entries[self.at..]
                .iter()
                .any(|(k, _)| k.value == key.value);
            if !later {
                self.value = Some(value);
                return seed.deserialize(NodeDe(key)).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("a mapping value without its key"))?;
        seed.deserialize(NodeDe(value))
    }
}

/// Why a YAML text could not be read as a typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not YAML (or over the budget).
    Yaml(super::YamlError),
    /// YAML, but not of the shape asked for.
    Shape(DeError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Yaml(e) => e.fmt(f),
            ReadError::Shape(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads a text of one YAML document as a `T` under `budget`; `None` for an empty text or a
/// null document.
pub fn from_str<T: DeserializeOwned>(
    text: &str,
    budget: super::Budget,
) -> Result<Option<T>, ReadError> {
    let node = super::parse_one_within(text, 1, budget)
        .map_err(|e| ReadError::Yaml(at_text_end(e, text)))?;
    if node.is_null() {
        return Ok(None);
    }
    from_node(&node).map(Some).map_err(ReadError::Shape)
}

/// An error the parser found only at the end of the text (an unclosed `[`) is placed at the
/// end of the last line, not on the empty line after the final line break.
fn at_text_end(mut e: super::YamlError, text: &str) -> super::YamlError {
    let lines = text.lines().count() as u32;
    if lines > 0 && e.line > lines {
        e.line = lines;
        e.column = text.lines().last().map_or(0, |l| l.chars().count() as u32) + 1;
    }
    e
}
