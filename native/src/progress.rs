//! Progress for long runs: a bar on a terminal, one plain line an item when stderr is piped,
//! nothing when the output is JSON (the JSON says it all).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub enum Progress {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

impl Progress {
    pub fn new(total: usize, what: &str, quiet: bool) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        Progress::on_terminal(
            total as u64,
            "{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}",
            what,
        )
    }

    /// A bar over `total` bytes (a terminal), plain lines otherwise.
    pub fn bytes(total: u64, what: &str, quiet: bool) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        Progress::on_terminal(
            total,
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
            what,
        )
    }

    /// A bar drawn with `template` when stderr is a terminal; plain lines otherwise.
    fn on_terminal(total: u64, template: &str, what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines;
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what.to_owned());
        Progress::Bar(bar)
    }

    /// `n` more bytes (or items) done: `line` is what a piped run prints for them.
    pub fn advance(&self, n: u64, line: &str) {
        match self {
            Progress::Bar(bar) => bar.inc(n),
            Progress::Lines => eprintln!("{line}"),
            Progress::Quiet => {}
        }
    }

    /// One item done: `line` is what a piped run prints for it.
    pub fn done(&self, line: &str) {
        self.advance(1, line);
    }

    /// A line that must be seen even on a terminal (an error), above the bar.
    pub fn say(&self, line: &str) {
        match self {
            Progress::Bar(bar) => bar.println(line),
            Progress::Lines | Progress::Quiet => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
