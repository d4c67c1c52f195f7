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

    /// The public key, binary (`gpg --export`): a keyring file for `gpgv --keyring` or APT's
    /// `signed-by=`.
    pub fn public_keyring(&self) -> Vec<u8> {
        std::fs::read(&self.pubring).unwrap()
    }

    /// `gpg --clearsign` of `input` into `output` (SHA-256), as APT's `InRelease` is made.
    pub fn clearsign(&self, input: &std::path::Path, output: &std::path::Path) {
        self.sign(&["--clearsign"], input, output);
    }

    /// `gpg --armor --detach-sign` of `input` into `output` (SHA-256), as APT's
    /// `Release.gpg` is made.
    pub fn detach_sign(&self, input: &std::path::Path, output: &std::path::Path) {
        self.sign(&["--armor", "--detach-sign"], input, output);
    }

    fn sign(&self, how: &[&str], input: &std::path::Path, output: &std::path::Path) {
        let mut args = vec!["--digest-algo", "SHA256"];
        args.extend_from_slice(how);
        args.extend([
            "--output",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        let out = self.gpg(&args);
        assert!(out.status.success(), "gpg {how:?}: {}", text(&out));
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
