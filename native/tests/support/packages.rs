//! The release packages of this build, made by the real `scripts/package.sh pack` into a
//! temporary `dist/`: [`Dist::pack`]. The binaries are the `purser` cargo built for these tests
//! and the `plugin.wasm` set-up built (`PURSER_PACKAGE_BINARY`, `PURSER_PACKAGE_WASM`), so the
//! packages are made in seconds, not by the static release builds; everything else (layout,
//! plugin manifests, provenance, SHA256SUMS) is what a release gets.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::gpg::GpgKey;
use super::helm::{purser_bin, text};
use super::repo_root;

/// The user id of the key [`Dist::pack`] signs with.
pub const SIGNER: &str = "purser release <release@purser.invalid>";

pub struct Dist {
    /// The temporary folder; `dist` is inside it.
    _dir: TempDir,
    /// The packages: `images-VERSION.tgz`, `mirror-…`, `relocate-…`, their `.prov`, …
    pub dir: PathBuf,
    /// The key the `.prov` files are signed with (its public ring is the `--keyring` to pass).
    pub key: GpgKey,
    pub version: String,
}

impl Dist {
    /// `scripts/package.sh pack` for this machine's architecture, signed by a new key.
    pub fn pack() -> Dist {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => panic!("no package architecture for {other}"),
        };
        let wasm = repo_root().join("plugin.wasm");
        assert!(
            wasm.is_file(),
            "no {}: run scripts/setup.sh first",
            wasm.display()
        );
        let key = GpgKey::generate(SIGNER);
        let dir = tempfile::Builder::new()
            .prefix("purser-dist-")
            .tempdir()
            .unwrap();
        let dist = dir.path().join("dist");
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/package.sh"))
            .arg("pack")
            .env("PURSER_DIST", &dist)
            .env("PURSER_PACKAGE_ARCHES", arch)
            .env("PURSER_PACKAGE_BINARY", purser_bin())
            .env("PURSER_PACKAGE_WASM", &wasm)
            .env("PURSER_SIGN_KEY", "purser release")
            .env("PURSER_KEYRING", &key.secring)
            .env("HELM_BIN", repo_root().join(".purser/bin/helm"))
            .output()
            .expect("run scripts/package.sh");
        assert!(
            out.status.success(),
            "scripts/package.sh pack: {}",
            text(&out)
        );
        let version = env!("CARGO_PKG_VERSION").to_owned();
        Dist {
            _dir: dir,
            dir: dist,
            key,
            version,
        }
    }

    /// `dist/NAME-VERSION.tgz`.
    pub fn tarball(&self, name: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}-{}.tgz", self.version));
        assert!(path.is_file(), "no {} in dist", path.display());
        path
    }

    /// The public keyring that verifies the packages.
    pub fn keyring(&self) -> &Path {
        &self.key.pubring
    }
}
