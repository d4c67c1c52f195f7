//! [`resolve`]: which packages to upgrade so that every vulnerable one reaches its fixed version
//! ([`Want`]) and every upgraded one still has its dependencies, choosing among the
//! repositories' [`Available`] records against what the image has [`Installed`]. The answer is a
//! list of [`Upgrade`]s, or the [`ResolveError`] that stops it.

use std::cmp::Ordering;
use std::fmt;

use super::Family;
use super::relation::Relation;

/// A package in the image's database. `provides` are `(name, version if stated)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub provides: Vec<(String, Option<String>)>,
}

/// A package a repository offers; `index` is the caller's handle to its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub depends: Vec<Vec<Relation>>,
    pub provides: Vec<(String, Option<String>)>,
    pub index: usize,
}

/// A vulnerable installed package and the first version that fixes it, from the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub name: String,
    pub fixed: String,
}

/// One package to install: `to` (the [`Available`] with `index`) over `from`, the installed
/// version (none: a new dependency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub name: String,
    pub from: Option<String>,
    pub to: String,
    pub index: usize,
    pub reason: Reason,
}

/// Why a package is upgraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A [`Want`] named it.
    Fix,
    /// The upgrade of package `of` needs it.
    Dependency { of: String },
}

/// Why no set of upgrades fixes the wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// A want names a package the image does not have.
    NotInstalled { name: String },
    /// No candidate reaches the fixed version; `newest` is the newest candidate, if any.
    NoFixedVersion {
        name: String,
        fixed: String,
        newest: Option<String>,
    },
    /// Nothing installed or available (no lower than installed) meets a dependency of
    /// `package` at `version`; `relation` is the dependency as the family writes it.
    Unsatisfiable {
        package: String,
        version: String,
        relation: String,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotInstalled { name } => write!(f, "{name} is not installed"),
            ResolveError::NoFixedVersion {
                name,
                fixed,
                newest,
            } => {
                write!(f, "no {name} {fixed} or newer in the repositories")?;
                match newest {
                    Some(newest) => write!(f, " (the newest is {newest})"),
                    None => write!(f, " (they have no {name} for its architecture)"),
                }
            }
            ResolveError::Unsatisfiable {
                package,
                version,
                relation,
            } => write!(
                f,
                "{package} {version} depends on `{relation}`, which nothing installed or available satisfies"
            ),
        }
    }
}

impl std::error::Error for ResolveError {}

/// The upgrades that fix `wants`: wants first, in the order given (several naming one package
/// count once, at the highest fixed version), then the dependencies they pull in, in the order
/// found.
///
/// A want's candidates are the available packages of its name whose architecture is the
/// installed one's, or `all`/`noarch`; the newest at or above the fixed version is chosen. A
/// want the installed version already meets needs no upgrade. Then every chosen package's
/// dependency groups must be met, by a chosen package or an installed one that is not being
/// replaced (by name, or by what it provides). A group that is not is met by the first
/// alternative some available package meets: the newest of that name, or else the newest
/// provider, never lower than its installed version nor a second version of a chosen package,
/// and its own dependencies are met in turn. There is no backtracking: a choice that a later
/// constraint rules out is reported as [`ResolveError::Unsatisfiable`]. Architecture qualifiers
/// (`:any`) are not matched; reverse dependencies of upgraded packages are not checked.
pub fn resolve(
    family: Family,
    installed: &[Installed],
    available: &[Available],
    wants: &[Want],
) -> Result<Vec<Upgrade>, ResolveError> {
    let mut chosen: Vec<(Upgrade, &Available)> = Vec::new();
    for (name, fixed) in merge_wants(family, wants) {
        let current = installed
            .iter()
            .find(|package| package.name == name)
            .ok_or_else(|| ResolveError::NotInstalled { name: name.into() })?;
        if family.compare(&current.version, fixed) != Ordering::Less {
            continue;
        }
        let candidates = available
            .iter()
            .filter(|package| package.name == name && arch_fits(&package.arch, &current.arch));
        let fix = newest(
            family,
            candidates
                .clone()
                .filter(|package| family.compare(&package.version, fixed) != Ordering::Less),
        )
        .ok_or_else(|| ResolveError::NoFixedVersion {
            name: name.into(),
            fixed: fixed.into(),
            newest: newest(family, candidates).map(|package| package.version.clone()),
        })?;
        chosen.push((upgrade(fix, Some(current), Reason::Fix), fix));
    }

    let mut next = 0;
    while let Some(&(_, package)) = chosen.get(next) {
        next += 1;
        for group in &package.depends {
            let met = group.iter().any(|relation| {
                chosen
                    .iter()
                    .any(|(_, c)| satisfies(family, relation, &c.name, &c.version, &c.provides))
                    || installed
                        .iter()
                        .filter(|i| !chosen.iter().any(|(u, _)| u.name == i.name))
                        .any(|i| satisfies(family, relation, &i.name, &i.version, &i.provides))
            });
            if met {
                continue;
            }
            let eligible = |candidate: &&Available| {
                !chosen.iter().any(|(u, _)| u.name == candidate.name)
                    && match installed.iter().find(|i| i.name == candidate.name) {
                        Some(current) => {
                            arch_fits(&candidate.arch, &current.arch)
                                && family.compare(&candidate.version, &current.version)
                                    != Ordering::Less
                        }
                        None => {
                            arch_fits(&candidate.arch, &package.arch) || is_any_arch(&package.arch)
                        }
                    }
            };
            let pick = group.iter().find_map(|relation| {
                let candidates = available.iter().filter(eligible);
                newest(
                    family,
                    candidates
                        .clone()
                        .filter(|c| c.name == relation.name && relation.allows(family, &c.version)),
                )
                .or_else(|| {
                    newest(
                        family,
                        candidates.filter(|c| provides(family, relation, &c.provides)),
                    )
                })
            });
            let Some(pick) = pick else {
                return Err(ResolveError::Unsatisfiable {
                    package: package.name.clone(),
                    version: package.version.clone(),
                    relation: group
                        .iter()
                        .map(|relation| relation.text(family))
                        .collect::<Vec<_>>()
                        .join(" | "),
                });
            };
            let current = installed.iter().find(|i| i.name == pick.name);
            let reason = Reason::Dependency {
                of: package.name.clone(),
            };
            chosen.push((upgrade(pick, current, reason), pick));
        }
    }
    Ok(chosen.into_iter().map(|(upgrade, _)| upgrade).collect())
}

/// The wants by package, in first-mention order, each at its highest fixed version.
fn merge_wants(family: Family, wants: &[Want]) -> Vec<(&str, &str)> {
    let mut merged: Vec<(&str, &str)> = Vec::new();
    for want in wants {
        match merged.iter_mut().find(|(name, _)| *name == want.name) {
            Some((_, fixed)) => {
                if family.compare(&want.fixed, fixed) == Ordering::Greater {
                    *fixed = &want.fixed;
                }
            }
            None => merged.push((&want.name, &want.fixed)),
        }
    }
    merged
}

fn upgrade(to: &Available, from: Option<&Installed>, reason: Reason) -> Upgrade {
    Upgrade {
        name: to.name.clone(),
        from: from.map(|installed| installed.version.clone()),
        to: to.version.clone(),
        index: to.index,
        reason,
    }
}

/// The newest of `packages`; the first of equals.
fn newest<'a>(
    family: Family,
    packages: impl Iterator<Item = &'a Available>,
) -> Option<&'a Available> {
    packages.fold(None, |best, package| match best {
        Some(best) if family.compare(&package.version, &best.version) != Ordering::Greater => {
            Some(best)
        }
        _ => Some(package),
    })
}

fn is_any_arch(arch: &str) -> bool {
    matches!(arch, "all" | "noarch")
}

/// Whether a package built for `candidate` can stand in for one built for `target`.
fn arch_fits(candidate: &str, target: &str) -> bool {
    candidate == target || is_any_arch(candidate)
}

/// Whether a package meets `relation`, by its own name or by what it provides.
fn satisfies(
    family: Family,
    relation: &Relation,
    name: &str,
    version: &str,
    provided: &[(String, Option<String>)],
) -> bool {
    (name == relation.name && relation.allows(family, version))
        || provides(family, relation, provided)
}

/// Whether `provided` meets `relation`: a provided name meets it unversioned, or at a stated
/// version the relation allows.
fn provides(family: Family, relation: &Relation, provided: &[(String, Option<String>)]) -> bool {
    provided.iter().any(|(name, version)| {
        *name == relation.name
            && version
                .as_deref()
                .map_or(relation.constraint.is_none(), |version| {
                    relation.allows(family, version)
                })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::relation::{parse_apk, parse_dpkg};

    fn installed(name: &str, version: &str, arch: &str) -> Installed {
        Installed {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            provides: vec![],
        }
    }

    fn available(name: &str, version: &str, arch: &str, depends: &str, index: usize) -> Available {
        Available {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            depends: parse_dpkg(depends).unwrap(),
            provides: vec![],
            index,
        }
    }

    fn want(name: &str, fixed: &str) -> Want {
        Want {
            name: name.into(),
            fixed: fixed.into(),
        }
    }

    fn debian_installed() -> Vec<Installed> {
        vec![
            installed("libc6", "2.36-9+deb12u10", "amd64"),
            installed("libssl3", "3.0.17-1~deb12u2", "amd64"),
            installed("libgcc-s1", "12.2.0-14+deb12u1", "amd64"),
            installed("tzdata", "2025b-0+deb12u1", "all"),
        ]
    }

    fn libssl3_available() -> Vec<Available> {
        vec![
            available("libssl3", "3.0.17-1~deb12u2", "amd64", "libc6 (>= 2.34)", 0),
            available("libssl3", "3.0.22-1~deb12u2", "amd64", "libc6 (>= 2.34)", 1),
            available("libssl3", "3.0.20-1~deb12u2", "amd64", "libc6 (>= 2.34)", 2),
            // Newer, but for another architecture.
            available("libssl3", "3.0.23-1~deb12u1", "i386", "libc6 (>= 2.34)", 3),
        ]
    }

    #[test]
    fn libssl3_takes_the_newest_fixed_version() {
        let upgrades = resolve(
            Family::Dpkg,
            &debian_installed(),
            &libssl3_available(),
            &[want("libssl3", "3.0.17-1~deb12u3")],
        )
        .unwrap();
        assert_eq!(
            upgrades,
            [Upgrade {
                name: "libssl3".into(),
                from: Some("3.0.17-1~deb12u2".into()),
                to: "3.0.22-1~deb12u2".into(),
                index: 1,
                reason: Reason::Fix,
            }]
        );
    }

    #[test]
    fn wants_on_one_package_merge_at_the_highest_fixed_version() {
        let mut repo = libssl3_available();
        repo.push(available("tzdata", "2025b-0+deb12u2", "all", "", 9));
        let upgrades = resolve(
            Family::Dpkg,
            &debian_installed(),
            &repo,
            &[
                want("libssl3", "3.0.17-1~deb12u3"),
                want("tzdata", "2025b-0+deb12u2"),
                want("libssl3", "3.0.22-1~deb12u1"),
            ],
        )
        .unwrap();
        let names: Vec<(&str, usize)> = upgrades
            .iter()
            .map(|u| (u.name.as_str(), u.index))
            .collect();
        assert_eq!(names, [("libssl3", 1), ("tzdata", 9)]);

        let error = resolve(
            Family::Dpkg,
            &debian_installed(),
            &repo,
            &[
                want("libssl3", "3.0.17-1~deb12u3"),
                want("libssl3", "3.0.23"),
            ],
        )
        .unwrap_err();
        assert!(
            matches!(error, ResolveError::NoFixedVersion { ref fixed, .. } if fixed == "3.0.23")
        );
    }

    #[test]
    fn a_want_already_met_needs_nothing() {
        let upgrades = resolve(
            Family::Dpkg,
            &debian_installed(),
            &libssl3_available(),
            &[want("libssl3", "3.0.17-1~deb12u1")],
        )
        .unwrap();
        assert!(upgrades.is_empty(), "{upgrades:?}");
    }

    #[test]
    fn a_dependency_on_a_newer_lib_upgrades_it_and_its_own_dependencies() {
        let repo = vec![
            available(
                "libssl3",
                "3.0.22-1~deb12u2",
                "amd64",
                "libc6 (>= 2.38), libzstd1 | libzstd",
                0,
            ),
            available("libc6", "2.36-9+deb12u10", "amd64", "libgcc-s1", 1),
            available("libc6", "2.39-1", "amd64", "libgcc-s1 (>= 3.0), libnew", 2),
            available("libc6", "2.38-1", "amd64", "libgcc-s1", 3),
            available("libzstd", "1.5.4", "amd64", "", 4),
            available("libzstd1", "1.5.4+dfsg2-5", "amd64", "libc6 (>= 2.34)", 5),
            available("libnew", "1.0", "all", "", 6),
        ];
        let upgrades = resolve(
            Family::Dpkg,
            &debian_installed(),
            &repo,
            &[want("libssl3", "3.0.17-1~deb12u3")],
        )
        .unwrap();
        let of = |name: &str| Reason::Dependency { of: name.into() };
        assert_eq!(
            upgrades,
            [
                upgrade(&repo[0], Some(&debian_installed()[1]), Reason::Fix),
                Upgrade {
                    name: "libc6".into(),
                    from: Some("2.36-9+deb12u10".into()),
                    to: "2.39-1".into(),
                    index: 2,
                    reason: of("libssl3"),
                },
                Upgrade {
                    name: "libzstd1".into(),
                    from: None,
                    to: "1.5.4+dfsg2-5".into(),
                    index: 5,
                    reason: of("libssl3"),
                },
                Upgrade {
                    name: "libnew".into(),
                    from: None,
                    to: "1.0".into(),
                    index: 6,
                    reason: of("libc6"),
                },
            ]
        );
    }

    #[test]
    fn an_installed_alternative_or_provider_meets_a_group() {
        let mut system = debian_installed();
        system.push(Installed {
            provides: vec![("mail-transport-agent".into(), None)],
            ..installed("exim4", "4.96-15", "amd64")
        });
        let repo = vec![available(
            "libssl3",
            "3.0.22-1~deb12u2",
            "amd64",
            "libfoo | libgcc-s1 (>= 12), mail-transport-agent",
            0,
        )];
        let upgrades = resolve(Family::Dpkg, &system, &repo, &[want("libssl3", "3.0.22")]).unwrap();
        assert_eq!(upgrades.len(), 1);
    }

    #[test]
    fn errors() {
        let system = debian_installed();
        assert_eq!(
            resolve(
                Family::Dpkg,
                &system,
                &libssl3_available(),
                &[want("curl", "8")]
            ),
            Err(ResolveError::NotInstalled {
                name: "curl".into()
            })
        );

        let error = resolve(
            Family::Dpkg,
            &system,
            &libssl3_available(),
            &[want("libssl3", "3.0.23-1~deb12u1")],
        )
        .unwrap_err();
        assert_eq!(
            error,
            ResolveError::NoFixedVersion {
                name: "libssl3".into(),
                fixed: "3.0.23-1~deb12u1".into(),
                newest: Some("3.0.22-1~deb12u2".into()),
            }
        );
        assert_eq!(
            resolve(Family::Dpkg, &system, &[], &[want("libssl3", "3.0.23")]),
            Err(ResolveError::NoFixedVersion {
                name: "libssl3".into(),
                fixed: "3.0.23".into(),
                newest: None,
            })
        );

        // libgcc-s1 is installed at 12.2: the only version below 4 would be a downgrade.
        let repo = vec![
            available(
                "libssl3",
                "3.0.22-1~deb12u2",
                "amd64",
                "libgcc-s1 (<< 4) | libmissing",
                0,
            ),
            available("libgcc-s1", "3.9", "amd64", "", 1),
        ];
        let error =
            resolve(Family::Dpkg, &system, &repo, &[want("libssl3", "3.0.22")]).unwrap_err();
        assert_eq!(
            error,
            ResolveError::Unsatisfiable {
                package: "libssl3".into(),
                version: "3.0.22-1~deb12u2".into(),
                relation: "libgcc-s1 (<< 4) | libmissing".into(),
            }
        );
        assert!(
            error
                .to_string()
                .contains("depends on `libgcc-s1 (<< 4) | libmissing`")
        );
    }

    #[test]
    fn apk_so_dependencies_met_by_installed_provides() {
        let system = vec![
            Installed {
                provides: vec![("so:libc.musl-x86_64.so.1".into(), Some("1".into()))],
                ..installed("musl", "1.2.5-r0", "x86_64")
            },
            installed("libcrypto3", "3.3.2-r0", "x86_64"),
            installed("libssl3", "3.3.2-r0", "x86_64"),
        ];
        let apk = |name: &str, version: &str, depends: &str, provides: &[&str], index| Available {
            name: name.into(),
            version: version.into(),
            arch: "x86_64".into(),
            depends: parse_apk(depends).unwrap(),
            provides: provides
                .iter()
                .map(|p| match p.split_once('=') {
                    Some((name, version)) => (name.into(), Some(version.into())),
                    None => ((*p).into(), None),
                })
                .collect(),
            index,
        };
        let repo = vec![
            apk(
                "libcrypto3",
                "3.3.3-r0",
                "so:libc.musl-x86_64.so.1",
                &["so:libcrypto.so.3=3"],
                0,
            ),
            apk(
                "libssl3",
                "3.3.3-r0",
                "so:libc.musl-x86_64.so.1 so:libcrypto.so.3 !libressl",
                &["so:libssl.so.3=3"],
                1,
            ),
            apk(
                "libcrypto3",
                "3.3.2-r1",
                "so:libc.musl-x86_64.so.1",
                &["so:libcrypto.so.3=3"],
                2,
            ),
        ];
        let upgrades = resolve(
            Family::Apk,
            &system,
            &repo,
            &[want("libssl3", "3.3.3-r0"), want("libcrypto3", "3.3.3-r0")],
        )
        .unwrap();
        let picked: Vec<(&str, &str, &Reason)> = upgrades
            .iter()
            .map(|u| (u.name.as_str(), u.to.as_str(), &u.reason))
            .collect();
        assert_eq!(
            picked,
            [
                ("libssl3", "3.3.3-r0", &Reason::Fix),
                ("libcrypto3", "3.3.3-r0", &Reason::Fix)
            ]
        );

        // Alone, libssl3's `so:libcrypto.so.3` is met by the installed libcrypto3 only if it
        // provides it; here its record states no provides, so the newest provider is pulled in.
        let upgrades =
            resolve(Family::Apk, &system, &repo, &[want("libssl3", "3.3.3-r0")]).unwrap();
        assert_eq!(upgrades.len(), 2);
        assert_eq!(upgrades[1].name, "libcrypto3");
        assert_eq!(upgrades[1].to, "3.3.3-r0");
        assert_eq!(upgrades[1].from.as_deref(), Some("3.3.2-r0"));
        assert_eq!(
            upgrades[1].reason,
            Reason::Dependency {
                of: "libssl3".into()
            }
        );
    }
}
