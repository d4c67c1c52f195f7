//! [`scalar`]: how one scalar (or empty collection) is written where it goes ([`Place`]): a
//! string plain, single- or double-quoted, or as a `|` or `>-` block folded at column 80.

use super::plain::{needs_escape, plain_safe};
use super::tree::Tree;

/// Where a scalar goes: its block body, if it gets one, is indented past that column.
#[derive(Clone, Copy)]
pub(super) enum Place {
    Root,
    /// The value of a key at this column.
    Value(usize),
    /// A sequence item whose dash is at this column.
    Item(usize),
}

pub(super) fn indent(out: &mut String, column: usize) {
    out.extend(std::iter::repeat_n(' ', column));
}

/// A scalar or an empty collection, and the line end (a block scalar writes its own lines).
pub(super) fn scalar(out: &mut String, value: &Tree, place: Place) {
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

/// Text a block scalar can hold as it is.
fn block_safe(s: &str) -> bool {
    s.chars().all(|c| match c {
        '\n' | '\t' => true,
        c => matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..),
    })
}
