//! `helm images` as a Helm 4 extism/v1 plugin (plugin.wasm).
//!
//! Helm calls the export `helm_plugin_main` with the cli/v1 input `{"extraArgs": [...]}` and
//! connects the real stdin, stdout, stderr and environment through WASI. We read the whole of
//! stdin, hand it to the shared core, print what it returns, and answer `{}`. A failure becomes an
//! Extism error, which Helm prints as `Error: plugin error: <message>` and exits 1.

use std::io::{IsTerminal, Read, Write};

use extism_pdk::{Error, FnResult, Json, plugin_fn};
use serde::{Deserialize, Serialize};

/// The cli/v1 input message (Helm's `schema.InputMessageCLIV1`).
#[derive(Deserialize)]
pub struct CliInput {
    #[serde(rename = "extraArgs", default)]
    extra_args: Vec<String>,
}

/// The cli/v1 output message: Helm only checks that it is a JSON object.
#[derive(Serialize)]
pub struct CliOutput {}

#[plugin_fn]
pub fn helm_plugin_main(Json(input): Json<CliInput>) -> FnResult<Json<CliOutput>> {
    let args = input.extra_args;
    let stdin = std::io::stdin();
    // Under Helm's wazero a terminal is a character device without seek rights, which is what
    // `is_terminal` checks on WASI (so `< /dev/null` counts as a terminal too: nothing to read).
    let stdin_is_terminal = stdin.is_terminal();
    let mut bytes = Vec::new();
    if !stdin_is_terminal && !asks_for_help(&args) {
        stdin
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::msg(format!("cannot read stdin: {e}")))?;
    }
    let env = purser::images_command::Environment {
        stdin_is_terminal,
        stdout_is_terminal: std::io::stdout().is_terminal(),
        now_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    };
    let text = purser::images_command::run_images(&args, &bytes, &env)
        .map_err(|e| Error::msg(e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::msg(format!("cannot write stdout: {e}")))?;
    Ok(Json(CliOutput {}))
}

/// `-h`/`--help` never needs the input, so do not wait for it (stdin may be an open pipe).
fn asks_for_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| a.as_str() != "--")
        .any(|a| a == "-h" || a == "--help")
}
