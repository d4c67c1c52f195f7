//! Running the user's Helm (`$HELM_BIN`, else `helm` on PATH) with their flags unchanged, so
//! their Helm config, repositories and credentials apply.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

/// The Helm binary to run: `$HELM_BIN` (Helm sets it for plugins), else `helm`.
pub fn binary() -> OsString {
    std::env::var_os("HELM_BIN")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "helm".into())
}

/// Runs `helm ARGS` and returns its stdout; a failure carries Helm's own message.
pub fn run(args: &[OsString]) -> Result<Vec<u8>, String> {
    let helm = binary();
    let shown = || {
        let mut s = Path::new(&helm).display().to_string();
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    };
    let output = Command::new(&helm)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "could not run {}: {e}; install Helm 4 or point HELM_BIN at it",
                Path::new(&helm).display()
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`{}` failed ({}):\n{}",
            shown(),
            output.status,
            stderr.trim_end()
        ));
    }
    Ok(output.stdout)
}
