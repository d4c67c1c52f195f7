//! Image layers that carry a real OS package database, for the scan tests: [`Rootfs`] holds
//! the files (an Alpine `lib/apk/db/installed` or a Debian `var/lib/dpkg/status`, with the
//! release files Trivy reads to know the OS) and [`Rootfs::layer`] writes them as an
//! uncompressed tar layer (OCI `…layer.v1.tar`: its digest is its diff id).

use purser::bundle::tar::{END_OF_ARCHIVE, member_header, padding};

use super::seed::Blob;

/// One installed package: its name, version and source (apk origin, dpkg Source).
#[derive(Clone, Copy, Debug)]
pub struct Package<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub source: &'a str,
}

/// The files of a small root filesystem.
#[derive(Clone, Debug, Default)]
pub struct Rootfs {
    files: Vec<(String, Vec<u8>)>,
}

impl Rootfs {
    /// Alpine `release` (`3.19.1`) with these packages installed (`arch` as apk names it:
    /// `x86_64`, `aarch64`).
    pub fn alpine(release: &str, arch: &str, packages: &[Package]) -> Rootfs {
        let mut installed = String::new();
        for p in packages {
            installed.push_str(&format!(
                "C:Q1{}=\nP:{}\nV:{}\nA:{arch}\nS:1024\nI:4096\nT:{} for the purser tests\nU:https://purser.invalid/\nL:MIT\no:{}\n\n",
                short_hash(p.name),
                p.name,
                p.version,
                p.name,
                p.source
            ));
        }
        let minor: String = release.split('.').take(2).collect::<Vec<_>>().join(".");
        Rootfs::default()
            .with("etc/alpine-release", format!("{release}\n"))
            .with(
                "etc/os-release",
                format!(
                    "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID={release}\nPRETTY_NAME=\"Alpine Linux v{minor}\"\n"
                ),
            )
            .with("lib/apk/db/installed", installed)
    }

    /// Debian `version` (`12.7`, bookworm) with these packages installed (`arch` as dpkg
    /// names it: `amd64`, `arm64`).
    pub fn debian(version: &str, arch: &str, packages: &[Package]) -> Rootfs {
        let mut status = String::new();
        for p in packages {
            status.push_str(&format!(
                "Package: {}\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 1024\nMaintainer: purser tests <tests@purser.invalid>\nArchitecture: {arch}\nMulti-Arch: same\nSource: {}\nVersion: {}\nDescription: {} for the purser tests\n\n",
                p.name, p.source, p.version, p.name
            ));
        }
        let major = version.split('.').next().unwrap_or(version);
        Rootfs::default()
            .with("etc/debian_version", format!("{version}\n"))
            .with(
                "etc/os-release",
                format!(
                    "PRETTY_NAME=\"Debian GNU/Linux {major} (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"{major}\"\nVERSION_CODENAME=bookworm\nID=debian\n"
                ),
            )
            .with("var/lib/dpkg/status", status)
    }

    pub fn with(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Rootfs {
        self.files.push((path.to_owned(), contents.into()));
        self
    }

    /// The files as one uncompressed tar layer.
    pub fn layer(&self) -> Blob {
        let mut tar = Vec::new();
        for (path, contents) in &self.files {
            tar.extend(member_header(path, contents.len() as u64, 1_700_000_000));
            tar.extend(contents);
            tar.extend(std::iter::repeat_n(0u8, padding(contents.len() as u64)));
        }
        tar.extend(END_OF_ARCHIVE);
        Blob {
            digest: super::seed::sha256(&tar),
            bytes: tar,
        }
    }
}

/// A stand-in for apk's checksum field (Trivy does not check it).
fn short_hash(name: &str) -> String {
    let hex = super::seed::sha256(name.as_bytes());
    hex.trim_start_matches("sha256:")[..27].to_owned()
}
