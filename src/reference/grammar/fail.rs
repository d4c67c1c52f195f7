//! [`Fail`], a failure inside the scanner (byte position, reason, suggested fix), and
//! [`bad_char`], the message for a character a part of the grammar does not allow: whitespace,
//! control characters and non-ASCII named as such.

use std::borrow::Cow;

use super::super::ReferenceError;
use super::chars::is_space;

/// A failure inside the scanner; turned into a [`ReferenceError`] at the API boundary.
#[derive(Debug)]
pub(in crate::reference) struct Fail {
    pos: usize,
    reason: Cow<'static, str>,
    hint: Option<String>,
}

impl Fail {
    pub(in crate::reference) fn new(pos: usize, reason: impl Into<Cow<'static, str>>) -> Fail {
        Fail {
            pos,
            reason: reason.into(),
            hint: None,
        }
    }

    pub(in crate::reference) fn with_hint(mut self, hint: String) -> Fail {
        self.hint = Some(hint);
        self
    }

    pub(in crate::reference) fn shifted(mut self, by: usize) -> Fail {
        self.pos += by;
        self
    }

    pub(in crate::reference) fn into_error(self, input: String) -> ReferenceError {
        ReferenceError {
            input,
            position: self.pos,
            reason: self.reason,
            hint: self.hint,
        }
    }
}

/// An error for the character at `pos`, which is not allowed in `context`.
pub(in crate::reference) fn bad_char(s: &str, pos: usize, context: &str) -> Fail {
    let b = s.as_bytes();
    let Some(&c) = b.get(pos) else {
        return Fail::new(pos, format!("unexpected end of input in the {context}"));
    };
    if is_space(c) {
        if pos == 0 {
            Fail::new(pos, "starts with whitespace").with_hint("trim the input first".to_owned())
        } else if b[pos..].iter().all(|&c| is_space(c)) {
            Fail::new(pos, "ends with whitespace").with_hint("trim the input first".to_owned())
        } else {
            Fail::new(pos, format!("whitespace is not allowed in the {context}"))
        }
    } else if c < 0x20 || c == 0x7f {
        Fail::new(pos, format!("control character U+{c:04X} in the {context}"))
    } else if c >= 0x80 {
        match s.get(pos..).and_then(|rest| rest.chars().next()) {
            Some(ch) => Fail::new(
                pos,
                format!(
                    "non-ASCII character '{}' (U+{:04X}) in the {context}",
                    ch.escape_debug(),
                    ch as u32
                ),
            ),
            None => Fail::new(pos, format!("non-ASCII byte 0x{c:02X} in the {context}")),
        }
    } else {
        Fail::new(
            pos,
            format!("invalid character '{}' in the {context}", c as char),
        )
    }
}
