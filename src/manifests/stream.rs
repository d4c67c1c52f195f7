//! A rendered stream split into documents the way Helm splits it: [`Document`], made by [`split`].

use memchr::memmem;

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
