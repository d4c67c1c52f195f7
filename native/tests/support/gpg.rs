//! A throw-away OpenPGP key made by the real GnuPG, for Helm's provenance files (`helm package
//! --sign`, `helm plugin install --keyring`) in the tests.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::helm::text;

/// A throw-away GPG home with one key; its gpg-agent is stopped on Drop.
pub struct GpgKey {
    pub home: tempfile::TempDir,
    /// The secret keyring in the legacy format Helm reads.
    pub secring: PathBuf,
    pub pubring: PathBuf,
}

impl GpgKey {
    pub fn generate(uid: &str) -> GpgKey {
        let home = tempfile::Builder::new().prefix("gpg-").tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let key = GpgKey {
            secring: home.path().join("secring.gpg"),
            pubring: home.path().join("pubring.gpg"),
            home,
        };
        let out = key.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "default",
            "default",
            "never",
        ]);
        assert!(out.status.success(), "gpg --quick-gen-key: {}", text(&out));
        for (what, path) in [
            ("--export-secret-keys", &key.secring),
            ("--export", &key.pubring),
        ] {
            let out = key.gpg(&[what]);
            assert!(
                out.status.success() && !out.stdout.is_empty(),
                "gpg {what}: {}",
                text(&out)
            );
            std::fs::write(path, &out.stdout).unwrap();
        }
        key
    }

    pub fn gpg(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes"])
            .args(args)
            .output()
            .expect("run gpg")
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}
