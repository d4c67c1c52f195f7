//! [`Tree`], the value being written, and [`build`], which makes one with a serde `Serializer`
//! ([`TreeSer`]) from any `Serialize` value purser prints; [`WriteError`] for what it cannot hold (floats,
//! non-string map keys, enum variants with data).

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

/// A serialised value: what is written, in order.
pub(super) enum Tree {
    Null,
    /// A boolean or an integer, written as it is.
    Plain(String),
    Str(String),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

/// `value` as a [`Tree`].
pub(super) fn build<T: Serialize + ?Sized>(value: &T) -> Result<Tree, WriteError> {
    value.serialize(TreeSer)
}

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
