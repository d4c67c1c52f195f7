//! Flow content continued at a lower indentation, and `key:<TAB>value`, as go-yaml accepts them.
//!
//! go-yaml (and so Helm, kubectl and everything built on them) does not hold the continuation
//! lines of a quoted scalar or of a flow collection to the indentation of the block they sit
//! in, and Helm 4 writes such text itself when it re-serialises manifests for a post-renderer:
//!
//! ```text
//!     annotations:
//!       description: 'This is an alert meant to ensure ...
//!
//!         This alert is always firing ...
//! '
//! ```
//!
//! saphyr-parser refuses that ("invalid indentation in quoted scalar"). The leading white
//! space of such a line means nothing (a quoted scalar's line folding drops it; a flow
//! collection ignores it), so when a parse fails that way, [`pad`] indents those lines
//! enough and the text is read again; [`Padded::original`] maps offsets in the padded text
//! back to the caller's. Only that failure path pays for it.

/// A text with spaces put at the start of some lines.
pub(super) struct Padded {
    pub text: String,
    /// (byte offset in the padded text where inserted spaces start, how many were inserted,
    /// total inserted up to and including these), in order.
    inserts: Vec<(usize, usize, usize)>,
}

impl Padded {
    /// The byte offset in the original text of byte `at` of the padded text (inserted
    /// spaces map to the start of the line they were put on).
    pub fn original(&self, at: usize) -> usize {
        let i = self.inserts.partition_point(|&(start, _, _)| start <= at);
        if i == 0 {
            return at;
        }
        let (start, count, total) = self.inserts[i - 1];
        if at < start + count {
            start - (total - count)
        } else {
            at - total
        }
    }

    /// How many spaces were put at the start of the (0-based) line `line` of the text.
    pub fn inserted_on_line(&self, line: usize) -> usize {
        let Some(start) = self
            .text
            .split_inclusive('\n')
            .scan(0, |at, l| {
                let start = *at;
                *at += l.len();
                Some(start)
            })
            .nth(line)
        else {
            return 0;
        };
        self.inserts
            .iter()
            .find(|&&(s, _, _)| s == start)
            .map_or(0, |&(_, count, _)| count)
    }
}

/// Where the scan is between lines.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    None,
    /// inside a quoted scalar (`'` or `"`) outside any flow collection
    Quote(u8),
    /// inside `depth` flow collections, maybe inside a quoted scalar there
    Flow {
        depth: usize,
        quote: Option<u8>,
    },
}

/// `text` with each tab that separates a `:` from its value made a space (go-yaml takes
/// `key:<TAB>value`; saphyr-parser wants a space), and each continuation line of a multi-line quoted scalar or flow collection that
/// is indented less than one column past the token that opened it indented that far; `None`
/// when no line needs it. Block scalars, comments and document markers are left alone (a
/// `---` at column 0 inside a quoted scalar stays an error, as in go-yaml).
pub(super) fn pad(text: &str) -> Option<Padded> {
    let mut out = String::new();
    let mut inserts = Vec::new();
    let mut total = 0;
    let mut open = Open::None;
    // Column a continuation line must reach while something is open.
    let mut need = 0;
    // The parent indentation of the block scalar whose content lines are being skipped.
    let mut block: Option<usize> = None;
    let mut tabs = Vec::new();
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|&&b| b == b' ').count();
        let blank = line.trim().is_empty();
        if let Some(parent) = block {
            if blank || indent > parent {
                out.push_str(line);
                continue;
            }
            block = None;
        }
        let marker = indent == 0
            && (line.starts_with("---") || line.starts_with("..."))
            && matches!(bytes.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'));
        if open != Open::None && !blank && !marker && indent < need {
            let count = need - indent;
            total += count;
            inserts.push((out.len(), count, total));
            out.extend(std::iter::repeat_n(' ', count));
        }
        let line_start = out.len();
        out.push_str(line);
        if marker {
            open = Open::None;
            continue;
        }
        let (after, header) = scan_line(bytes, open, &mut need, &mut tabs);
        for at in tabs.drain(..) {
            out.replace_range(line_start + at..line_start + at + 1, " ");
            changed = true;
        }
        open = after;
        if let Some(parent) = header {
            block = Some(parent);
        }
    }
    (changed || !inserts.is_empty()).then_some(Padded { text: out, inserts })
}

/// Scans one line from state `open`; returns the state after it and, when the line ends in a
/// block scalar header (`|`, `>-`...), the indentation its content must exceed. Sets `need`
/// when a quote or flow collection opens from nothing.
fn scan_line(
    bytes: &[u8],
    mut open: Open,
    need: &mut usize,
    tabs: &mut Vec<usize>,
) -> (Open, Option<usize>) {
    let mut i = 0;
    // Column of the node content on this line (past indentation and `- ` / `? ` indicators):
    // what a block scalar's content must be indented past.
    let mut content_col: Option<usize> = None;
    // A token may start here (not inside a plain scalar).
    let mut token_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        let quote = match open {
            Open::Quote(q) => Some(q),
            Open::Flow { quote, .. } => quote,
            Open::None => None,
        };
        if let Some(q) = quote {
            let closes = if q == b'\'' {
                if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                b == b'\''
            } else {
                if b == b'\\' {
                    i += 2;
                    continue;
                }
                b == b'"'
            };
            if closes {
                open = match open {
                    Open::Flow { depth, .. } => Open::Flow { depth, quote: None },
                    _ => Open::None,
                };
                token_start = false;
            }
            i += 1;
            continue;
        }
        let in_flow = matches!(open, Open::Flow { .. });
        let next_blank = matches!(bytes.get(i + 1), None | Some(b' ' | b'\t' | b'\r' | b'\n'));
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t') => break,
            b'\'' | b'"' if token_start => {
                open = match open {
                    Open::Flow { depth, .. } => Open::Flow {
                        depth,
                        quote: Some(b),
                    },
                    _ => {
                        *need = i + 1;
                        Open::Quote(b)
                    }
                };
                content_col.get_or_insert(i);
            }
            b'[' | b'{' if token_start || in_flow => {
                open = match open {
                    Open::Flow { depth, quote } => Open::Flow {
                        depth: depth + 1,
                        quote,
                    },
                    _ => {
                        *need = i + 1;
                        Open::Flow {
                            depth: 1,
                            quote: None,
                        }
                    }
                };
                content_col.get_or_insert(i);
                token_start = true;
                i += 1;
                continue;
            }
            b']' | b'}' if in_flow => {
                if let Open::Flow { depth, quote } = open {
                    open = if depth > 1 {
                        Open::Flow {
                            depth: depth - 1,
                            quote,
                        }
                    } else {
                        Open::None
                    };
                }
                token_start = false;
            }
            b',' if in_flow => {
                token_start = true;
                i += 1;
                continue;
            }
            b'-' | b'?' | b':' if token_start && next_blank => {
                if b != b':' && !in_flow && content_col.is_none() {
                    // `- ` / `? `: the node content starts further on
                } else {
                    content_col.get_or_insert(i);
                }
                i += 1;
                continue;
            }
            b':' if next_blank || (in_flow && token_start) => {
                if bytes.get(i + 1) == Some(&b'\t') {
                    tabs.push(i + 1);
                }
                token_start = true;
                i += 1;
                continue;
            }
            b'&' | b'!' if token_start => {
                // an anchor or tag: a token may follow it
                content_col.get_or_insert(i);
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                continue;
            }
            b'|' | b'>' if token_start && !in_flow => {
                let rest = &bytes[i + 1..];
                let header = rest
                    .iter()
                    .take_while(|&&c| matches!(c, b'-' | b'+' | b'0'..=b'9'))
                    .count();
                let tail = &rest[header..];
                let ends = tail
                    .iter()
                    .position(|&c| !matches!(c, b' ' | b'\t'))
                    .is_none_or(|p| {
                        matches!(tail[p], b'#' | b'\r' | b'\n') && (p > 0 || tail[p] != b'#')
                    });
                if ends {
                    // The block scalar's parent: the key's column on this line; for `- |`, the
                    // `-`'s.
                    let parent = match key_col(bytes) {
                        Some(col) if col == i => col.saturating_sub(2),
                        Some(col) => col,
                        None => i,
                    };
                    return (open, Some(parent));
                }
                token_start = false;
            }
            _ => {
                content_col.get_or_insert(i);
                token_start = false;
            }
        }
        i += 1;
    }
    (open, None)
}

/// The column of the first key-like content of a line (past indentation and `- ` indicators).
fn key_col(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if bytes.get(i) == Some(&b'-') && matches!(bytes.get(i + 1), Some(b' ' | b'\t')) {
            i += 1;
            continue;
        }
        return (i < bytes.len()).then_some(i);
    }
}
