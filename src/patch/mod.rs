//! Patching vulnerable OS packages inside images, as data. [`Family`] names the package manager
//! an image carries (dpkg on Debian and Ubuntu, apk on Alpine) and orders its versions; the
//! submodules read that manager's files ([`deb822`], [`sources`], [`release`], [`apkdb`]), its
//! dependency fields ([`relation`]), and decide what to upgrade ([`resolve`]). Fetching, unpacking
//! and repacking are the native side's job.

pub mod apkdb;
pub mod deb822;
pub mod relation;
pub mod release;
pub mod resolve;
pub mod sources;
pub mod version;

use std::cmp::Ordering;

/// The package manager whose database and repositories an image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Debian and Ubuntu: `var/lib/dpkg/status`, APT repositories.
    Dpkg,
    /// Alpine: `lib/apk/db/installed`, `APKINDEX` repositories.
    Apk,
}

impl Family {
    /// Orders two versions as this family's package manager does.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Family::Dpkg => version::compare_dpkg(a, b),
            Family::Apk => version::compare_apk(a, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_follows_the_family() {
        // `_` is an ordinary character to dpkg (after the end of the string) but opens a
        // pre-release suffix to apk.
        assert_eq!(Family::Dpkg.compare("1.0_rc1", "1.0"), Ordering::Greater);
        assert_eq!(Family::Apk.compare("1.0_rc1", "1.0"), Ordering::Less);
        // Both read digit runs as numbers.
        assert_eq!(Family::Apk.compare("1.0-r9", "1.0-r10"), Ordering::Less);
        assert_eq!(Family::Dpkg.compare("1.0-r9", "1.0-r10"), Ordering::Less);
    }
}
