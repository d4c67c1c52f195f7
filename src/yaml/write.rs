//! A small YAML writer for what purser prints (`-o yaml`, `-o lock`, `-o annotation`, lock
//! files): any `Serialize` value made of structs, sequences, maps of string keys, strings,
//! integers, booleans and unit enum variants, written in block style with two-space indents.
//!
//! The layout and quoting are serde-saphyr's defaults, byte for byte, so files written before
//! read and diff the same: a mapping's sequences with their dashes under their key; empty collections
//! as `[]` and `{}`; strings plain when YAML 1.1 and 1.2 readers would both read them back as
//! the same string, else double-quoted with escapes; multi-line strings as `|` blocks and
//! plain-safe strings longer than 80 characters as `>-` blocks folded at spaces.
//!
//! The work is split by job: `tree` turns the value into a `Tree`, this file lays out its
//! mappings and sequences, `scalar` writes each scalar, and `plain` decides which strings may go
//! unquoted.

mod plain;
mod scalar;
#[cfg(test)]
mod tests;
mod tree;

use serde::Serialize;

use scalar::{Place, indent, scalar};
use tree::Tree;
pub use tree::WriteError;

/// `value` as a YAML document.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, WriteError> {
    let tree = tree::build(value)?;
    let mut out = String::new();
    match &tree {
        Tree::Map(entries) if !entries.is_empty() => map(&mut out, entries, 0, false),
        Tree::Seq(items) if !items.is_empty() => seq(&mut out, items, 0, false),
        _ => scalar(&mut out, &tree, Place::Root),
    }
    Ok(out)
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
