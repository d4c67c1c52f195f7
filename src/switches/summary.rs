//! [`Summary`]: the one line `--all` prints on stderr about its renders, and
//! [`first_error_line`], the part of Helm's error output it quotes for a render that failed.

use super::plan::Plan;
use std::fmt;

impl Plan {
    /// The one line `--all` says on stderr.
    pub fn summary(&self) -> Summary {
        Summary {
            switches: self.switches.len(),
            renders: self.renders_run(),
            cap: self.cap,
            over_cap: self.over_cap,
            not_rendered: self.not_rendered(),
        }
    }
}

/// How the renders of `--all` went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub switches: usize,
    pub renders: usize,
    pub cap: usize,
    pub over_cap: usize,
    /// Switch paths no render could turn on, with the first line of Helm's error.
    pub not_rendered: Vec<(String, String)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--all: {} switch{} off by default, {} extra render{}",
            self.switches,
            if self.switches == 1 { "" } else { "es" },
            self.renders,
            if self.renders == 1 { "" } else { "s" }
        )?;
        if self.over_cap > 0 {
            write!(f, " ({} more skipped: cap {})", self.over_cap, self.cap)?;
        }
        if self.not_rendered.is_empty() {
            return write!(f, "; every switch rendered");
        }
        write!(f, "; could not render: ")?;
        for (i, (path, why)) in self.not_rendered.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{path} ({why})")?;
        }
        Ok(())
    }
}

/// The first line of what Helm printed on failure, without its `Error: ` prefix; when it ends
/// in `:` (a `fail` message that starts on a new line), with the three lines after it.
pub fn first_error_line(stderr: &str) -> String {
    let all: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // Warnings Helm logs come first; the error is the line that says so.
    let at = all
        .iter()
        .position(|l| l.starts_with("Error: "))
        .unwrap_or(0);
    let mut lines = all[at..].iter().copied();
    let Some(first) = lines.next() else {
        return "helm failed without a message".to_owned();
    };
    let mut out = first.strip_prefix("Error: ").unwrap_or(first).to_owned();
    if out.ends_with(':') {
        for line in lines.take(3) {
            out.push(' ');
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_line_joins_a_message_that_starts_below() {
        assert_eq!(
            first_error_line("Error: execution error at (c/t.yaml:1:2): boom\n\nUse --debug\n"),
            "execution error at (c/t.yaml:1:2): boom"
        );
        assert_eq!(
            first_error_line(
                "Error: execution error at (c/NOTES.txt:4:4): \nVALUES VALIDATION:\nc: auth.username\n    set it\nmore\n"
            ),
            "execution error at (c/NOTES.txt:4:4): VALUES VALIDATION: c: auth.username set it"
        );
        assert_eq!(
            first_error_line("level=INFO msg=\"warning: x is a table\"\nError: boom\n"),
            "boom"
        );
        assert_eq!(first_error_line(""), "helm failed without a message");
    }
}
