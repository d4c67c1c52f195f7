//! [`Paragraph`]: one stanza of a deb822 file (dpkg's `status`, an APT `Release` or `Packages`
//! index, a `.sources` file), built by [`parse`] (or [`parse_numbered`], which keeps where each
//! paragraph starts) and written back by [`write`], byte for byte for well-formed input.

use std::fmt;

/// The fields of one paragraph, in file order, names as written.
///
/// A value is the text after `Name:`, trimmed, followed by its continuation lines verbatim
/// (leading space included), joined with `\n`. A value whose first line is empty is one that
/// starts on the next line, like `Conffiles:` or a multi-line `Description` continued this way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    fn position(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|(field, _)| field.eq_ignore_ascii_case(name))
    }

    /// The value of field `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.fields[i].1.as_str())
    }

    /// Replaces the value of field `name` (any case; the name keeps its spelling and its place),
    /// or appends the field. Continuation lines in `value` must start with a space or a tab.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Some(i) => value.clone_into(&mut self.fields[i].1),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Removes field `name` (any case).
    pub fn remove(&mut self, name: &str) {
        self.fields
            .retain(|(field, _)| !field.eq_ignore_ascii_case(name));
    }

    /// The field names, in order, as written.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(name, _)| name.as_str())
    }

    /// The line, counted from the paragraph's first (0), on which field `name` starts in
    /// [`Paragraph::to_text`], which is where it started in the parsed text unless comment lines
    /// came before it.
    pub fn line_offset(&self, name: &str) -> Option<usize> {
        let index = self.position(name)?;
        Some(
            self.fields[..index]
                .iter()
                .map(|(_, value)| 1 + value.matches('\n').count())
                .sum(),
        )
    }

    /// The paragraph as text: `Name: value\n` for each field (`Name:` and the value's next lines
    /// when its first line is empty). No blank line after it.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for (name, value) in &self.fields {
            text.push_str(name);
            text.push(':');
            if !value.is_empty() && !value.starts_with('\n') {
                text.push(' ');
            }
            text.push_str(value);
            text.push('\n');
        }
        text
    }
}

/// A line that does not read as deb822, with its place: `file` as the caller named it, `line`
/// counted from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deb822Error {
    pub file: String,
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for Deb822Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.detail)
    }
}

impl std::error::Error for Deb822Error {}

/// The paragraphs of `text`: separated by one or more blank (or whitespace-only) lines, with
/// `#` comment lines skipped (they do not end a paragraph, nor a field).
pub fn parse(text: &str, file: &str) -> Result<Vec<Paragraph>, Deb822Error> {
    let numbered = parse_numbered(text, file)?;
    Ok(numbered
        .into_iter()
        .map(|(_, paragraph)| paragraph)
        .collect())
}

/// As [`parse`], each paragraph with the line (from 1) of its first field.
pub fn parse_numbered(text: &str, file: &str) -> Result<Vec<(usize, Paragraph)>, Deb822Error> {
    let mut paragraphs = Vec::new();
    let mut current: Option<(usize, Paragraph)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let fail = |detail: String| Deb822Error {
            file: file.to_owned(),
            line: number,
            detail,
        };
        if line.trim().is_empty() {
            paragraphs.extend(current.take());
        } else if line.starts_with('#') {
            // A comment, in the middle of a field or not: skipped.
        } else if line.starts_with([' ', '\t']) {
            let (_, value) = current
                .as_mut()
                .and_then(|(_, paragraph)| paragraph.fields.last_mut())
                .ok_or_else(|| fail("a continuation line with no field before it".into()))?;
            value.push('\n');
            value.push_str(line);
        } else {
            let (name, value) = line
                .split_once(':')
                .filter(|(name, _)| !name.is_empty() && !name.contains(char::is_whitespace))
                .ok_or_else(|| {
                    fail(format!(
                        "`{line}` is neither `Name: value` nor a continuation line"
                    ))
                })?;
            let (_, paragraph) = current.get_or_insert_with(|| (number, Paragraph::default()));
            paragraph
                .fields
                .push((name.to_owned(), value.trim().to_owned()));
        }
    }
    paragraphs.extend(current);
    Ok(paragraphs)
}

/// The paragraphs as dpkg writes its `status`: each followed by an empty line.
pub fn write(paragraphs: &[Paragraph]) -> String {
    paragraphs
        .iter()
        .map(|paragraph| paragraph.to_text() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6352
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.17-1~deb12u2
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 Internet.
 .
 It provides the libssl and libcrypto shared libraries.
Homepage: https://www.openssl.org/

Package: openssl
Status: install ok installed
Priority: optional
Section: utils
Installed-Size: 2271
Architecture: amd64
Version: 3.0.17-1~deb12u2
Depends: libc6 (>= 2.34), libssl3 (>= 3.0.9)
Suggests: ca-certificates
Conffiles:
 /etc/ssl/openssl.cnf 5f2e9bc5c4b4f3f6aa0f4f3e8a3c3f0c
 /etc/ssl/certs/dummy obsolete
Description: Secure Sockets Layer toolkit - cryptographic utility
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 Internet.

";

    #[test]
    fn status_round_trips_byte_for_byte() {
        let paragraphs = parse(STATUS, "status").unwrap();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(write(&paragraphs), STATUS);

        let openssl = &paragraphs[1];
        assert_eq!(
            openssl.get("Conffiles"),
            Some(
                "\n /etc/ssl/openssl.cnf 5f2e9bc5c4b4f3f6aa0f4f3e8a3c3f0c\n /etc/ssl/certs/dummy obsolete"
            )
        );
        let description = paragraphs[0].get("Description").unwrap();
        assert!(description.starts_with("Secure Sockets Layer toolkit - shared libraries\n This"));
        assert!(description.contains("\n .\n"));
    }

    #[test]
    fn fields_are_found_in_any_case_and_edited_in_place() {
        let mut paragraph = parse(STATUS, "status").unwrap().remove(0);
        assert_eq!(paragraph.get("version"), Some("3.0.17-1~deb12u2"));
        assert_eq!(paragraph.get("Conffiles"), None);

        paragraph.set("VERSION", "3.0.22-1~deb12u2");
        paragraph.set("Conffiles", "\n /etc/x 0123");
        paragraph.remove("priority");
        let names: Vec<&str> = paragraph.names().collect();
        assert_eq!(names[..3], ["Package", "Status", "Section"]);
        assert_eq!(names.last(), Some(&"Conffiles"));
        let text = paragraph.to_text();
        assert!(text.contains("\nVersion: 3.0.22-1~deb12u2\n"));
        assert!(text.ends_with("\nConffiles:\n /etc/x 0123\n"));
        assert!(!text.contains("Priority"));
    }

    #[test]
    fn an_empty_value_writes_the_bare_name() {
        let mut paragraph = Paragraph::default();
        paragraph.set("Package", "x");
        paragraph.set("Empty", "");
        assert_eq!(paragraph.to_text(), "Package: x\nEmpty:\n");
        assert_eq!(parse("Package: x\nEmpty:\n", "f").unwrap(), [paragraph]);
    }

    #[test]
    fn blank_and_comment_lines() {
        let text = "\n\n# a comment\nTypes: deb\n# inside\nURIs: http://a\n \n\t\nTypes: deb\nSuites:\n# between\n stable\n";
        let numbered = parse_numbered(text, "x.sources").unwrap();
        assert_eq!(numbered.len(), 2);
        assert_eq!(numbered[0].0, 4);
        assert_eq!(numbered[0].1.get("URIs"), Some("http://a"));
        assert_eq!(numbered[1].0, 9);
        assert_eq!(numbered[1].1.get("Suites"), Some("\n stable"));
    }

    #[test]
    fn line_offsets_count_continuation_lines() {
        let paragraphs = parse(STATUS, "status").unwrap();
        assert_eq!(paragraphs[0].line_offset("Package"), Some(0));
        assert_eq!(paragraphs[0].line_offset("Homepage"), Some(17));
        assert_eq!(paragraphs[1].line_offset("Description"), Some(12));
        assert_eq!(paragraphs[1].line_offset("Homepage"), None);
    }

    #[test]
    fn errors_name_file_and_line() {
        let error = parse("Package: a\nnot a field\n", "status").unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.file, "status");
        assert!(error.to_string().starts_with("status:2: `not a field`"));

        let error = parse("Package: a\n\n continued\n", "status").unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.detail.contains("no field before it"));

        assert_eq!(parse(": value\n", "f").unwrap_err().line, 1);
        assert_eq!(parse("Two words: value\n", "f").unwrap_err().line, 1);
    }
}
