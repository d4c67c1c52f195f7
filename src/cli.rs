//! `helm images`: argument parsing and the whole run from stdin bytes to stdout text.
//! Shared by the WebAssembly plugin and the native `purser images`, so both print the same.

/// Error of a `helm images` run: a message meant for the user, already naming the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// Runs `helm images ARGS` on `stdin` (a rendered manifest stream or a chart archive) and
/// returns what goes to stdout. `stdin_is_terminal` makes an empty call print the usage.
pub fn run_images(args: &[String], stdin: &[u8], stdin_is_terminal: bool) -> Result<String, RunError> {
    let _ = (args, stdin, stdin_is_terminal);
    Err(RunError("not yet".into()))
}
