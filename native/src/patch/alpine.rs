//! Patching an apk image (Alpine, Wolfi-style apk databases): [`patch`] reads
//! `lib/apk/db/installed`, the image's `/etc/apk/repositories` and `/etc/apk/keys`, fetches
//! each repository's signed `APKINDEX.tar.gz` (verified with those keys), picks the fixed
//! versions and the dependencies they need, fetches those `.apk`s (signature and data hash
//! verified, control checksum matched against the index), and writes into a [`LayerBuilder`]
//! the new files, whiteouts for the files the old versions had and the new lack, and the
//! packages' stanzas in the installed database with every file's checksum, as apk leaves
//! them. A package with install scripts is not patched.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use purser::patch::Family;
use purser::patch::apkdb::{self, Stanza};
use purser::patch::relation;
use purser::patch::resolve::{self, Available, Installed, Want};
use purser::patch::sources;

use super::apk::{self, ApkKey, ApkPackage};
use super::archive::{Entry, EntryKind};
use super::fetch::Fetcher;
use super::layer::LayerBuilder;
use super::rootfs::{ImageFiles, NodeKind};
use super::{Change, Outcome, Refusal};

const DATABASES: [&str; 2] = ["/lib/apk/db/installed", "/usr/lib/apk/db/installed"];

/// Whether the image has an apk database.
pub fn detect(files: &ImageFiles) -> bool {
    DATABASES.iter().any(|p| files.read(p).is_some())
}

fn provides(stanza: &Stanza) -> Vec<(String, Option<String>)> {
    stanza
        .get('p')
        .and_then(|p| relation::parse_apk(p).ok())
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|r| (r.name, r.constraint.map(|(_, v)| v)))
        .collect()
}

/// The apk architecture of an OCI platform.
fn apk_arch(platform: &str) -> &'static str {
    let mut parts = platform.split('/').skip(1);
    match (parts.next().unwrap_or(""), parts.next()) {
        ("arm64", _) => "aarch64",
        ("arm", Some("v6")) => "armhf",
        ("arm", _) => "armv7",
        ("386", _) => "x86",
        ("ppc64le", _) => "ppc64le",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        _ => "x86_64",
    }
}

struct Candidate {
    stanza: Stanza,
    url: String,
    index: String,
}

/// `Q1` + base64 of a SHA-1: how apk records checksums.
fn q1(sha1: &[u8]) -> String {
    format!(
        "Q1{}",
        base64::engine::general_purpose::STANDARD.encode(sha1)
    )
}

fn sha1_of(data: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).into()
}

/// The installed-database stanza apk writes for `package` (from its `.PKGINFO`), with every
/// file of `data` under its directory.
fn stanza_of(package: &ApkPackage, data: &[Entry]) -> Stanza {
    let info = apkdb::parse_pkginfo(&package.pkginfo);
    let field = |key: &str| -> Vec<&str> {
        info.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let mut lines: Vec<(char, String)> = vec![('C', apk::checksum_field(&package.control_sha1))];
    for (c, key) in [('P', "pkgname"), ('V', "pkgver"), ('A', "arch")] {
        if let Some(v) = field(key).first() {
            lines.push((c, (*v).to_owned()));
        }
    }
    lines.push(('S', package.size.to_string()));
    for (c, key) in [
        ('I', "size"),
        ('T', "pkgdesc"),
        ('U', "url"),
        ('L', "license"),
        ('o', "origin"),
        ('m', "maintainer"),
        ('t', "builddate"),
        ('c', "commit"),
    ] {
        if let Some(v) = field(key).first() {
            lines.push((c, (*v).to_owned()));
        }
    }
    for (c, key) in [
        ('D', "depend"),
        ('p', "provides"),
        ('i', "install_if"),
        ('r', "replaces"),
    ] {
        let values = field(key);
        if !values.is_empty() {
            lines.push((c, values.join(" ")));
        }
    }
    let mut dirs: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
    for entry in data {
        match entry.kind {
            EntryKind::Dir => {
                dirs.entry(entry.path.trim_start_matches('/').to_owned())
                    .or_default();
            }
            _ => {
                let (dir, _) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
                dirs.entry(dir.trim_start_matches('/').to_owned())
                    .or_default()
                    .push(entry);
            }
        }
    }
    for (dir, entries) in dirs {
        if dir.is_empty() && entries.is_empty() {
            continue;
        }
        lines.push(('F', dir));
        for entry in entries {
            let name = entry.path.rsplit('/').next().unwrap_or_default();
            lines.push(('R', name.to_owned()));
            if entry.mode & 0o7777 != 0o644 || entry.uid != 0 || entry.gid != 0 {
                lines.push((
                    'a',
                    format!("{}:{}:{:o}", entry.uid, entry.gid, entry.mode & 0o7777),
                ));
            }
            let sum = match &entry.kind {
                EntryKind::Symlink(target) => sha1_of(target.as_bytes()),
                _ => sha1_of(&entry.data),
            };
            lines.push(('Z', q1(&sum)));
        }
    }
    Stanza { lines }
}

/// Patches the apk image `files` (platform `platform`) for `wants`.
pub async fn patch(
    files: &ImageFiles,
    platform: &str,
    wants: &[Want],
    fetcher: &Fetcher,
    layer: &mut LayerBuilder,
) -> Result<Outcome, Refusal> {
    let db_path = DATABASES
        .iter()
        .find(|p| files.read(p).is_some())
        .copied()
        .unwrap_or(DATABASES[0]);
    let text = String::from_utf8_lossy(files.read(db_path).unwrap_or_default()).into_owned();
    let mut stanzas = apkdb::parse(&text, db_path)
        .map_err(|e| Refusal::failed(format!("the apk database: {e}")))?;
    let installed: Vec<Installed> = stanzas
        .iter()
        .filter_map(|s| {
            Some(Installed {
                name: s.get('P')?.to_owned(),
                version: s.get('V')?.to_owned(),
                arch: s.get('A').unwrap_or("noarch").to_owned(),
                provides: provides(s),
            })
        })
        .collect();
    let arch = files
        .read("/etc/apk/arch")
        .map(|a| String::from_utf8_lossy(a).trim().to_owned())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| apk_arch(platform).to_owned());

    let keys: Vec<ApkKey> = files
        .children("/etc/apk/keys")
        .into_iter()
        .filter_map(|path| {
            Some(ApkKey {
                name: path.rsplit('/').next()?.to_owned(),
                pem: files.read(path)?.to_vec(),
            })
        })
        .collect();
    let repositories = files
        .read("/etc/apk/repositories")
        .map(|r| sources::parse_apk_repositories(&String::from_utf8_lossy(r)))
        .unwrap_or_default();
    let mut bases: Vec<String> = repositories
        .iter()
        .filter(|r| r.tag.is_none())
        .map(|r| fetcher.base(&r.url))
        .collect();
    if bases.is_empty() {
        match fetcher.mirror_for_all() {
            Some(mirror) => bases.push(mirror.to_owned()),
            None => {
                return Err(Refusal::not_patchable(
                    "the image names no apk repository (/etc/apk/repositories): give \
                     --package-mirror URL to fetch its fixes from"
                        .to_owned(),
                ));
            }
        }
    }
    if keys.is_empty() {
        return Err(Refusal::failed(
            "the image has no apk keys (/etc/apk/keys), so no package can be verified".to_owned(),
        ));
    }

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for base in &bases {
        let index = format!("{base}/{arch}/APKINDEX.tar.gz");
        let text = match fetcher.get(&index).await {
            Ok(bytes) => match apk::verified_index(&bytes, &index, &keys) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            },
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let parsed = apkdb::parse(&text, &index).map_err(|e| Refusal::failed(e.to_string()))?;
        for stanza in parsed {
            let (Some(name), Some(version)) = (stanza.get('P'), stanza.get('V')) else {
                continue;
            };
            let url = format!("{base}/{arch}/{name}-{version}.apk");
            candidates.push(Candidate {
                stanza,
                url,
                index: index.clone(),
            });
        }
    }
    let available: Vec<Available> = candidates
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            let s = &c.stanza;
            Some(Available {
                name: s.get('P')?.to_owned(),
                version: s.get('V')?.to_owned(),
                arch: s.get('A').unwrap_or("noarch").to_owned(),
                depends: s
                    .get('D')
                    .and_then(|d| relation::parse_apk(d).ok())
                    .unwrap_or_default(),
                provides: provides(s),
                index,
            })
        })
        .collect();
    let upgrades = resolve::resolve(Family::Apk, &installed, &available, wants)
        .map_err(|e| Refusal::unresolved(e, &problems, !candidates.is_empty()))?;

    let mut fetched: Vec<(resolve::Upgrade, ApkPackage, String)> = Vec::new();
    for upgrade in upgrades {
        let candidate = &candidates[upgrade.index];
        let bytes = fetcher
            .get(&candidate.url)
            .await
            .map_err(|e| Refusal::failed(e.to_string()))?;
        let package = apk::parse(&bytes, &candidate.url, &keys)
            .map_err(|e| Refusal::failed(e.to_string()))?;
        let checksum = apk::checksum_field(&package.control_sha1);
        if candidate.stanza.get('C') != Some(checksum.as_str()) {
            return Err(Refusal::failed(format!(
                "{}: its control checksum {checksum} is not the {} the signed index {} \
                 gives it: refusing it",
                candidate.url,
                candidate.stanza.get('C').unwrap_or("(none)"),
                candidate.index
            )));
        }
        if !package.scripts.is_empty() {
            return Err(Refusal::not_patchable(format!(
                "{} {} has install scripts ({}) that must run (purser does not run them; \
                 patch it with a rebuild)",
                upgrade.name,
                upgrade.to,
                package.scripts.join(", ")
            )));
        }
        fetched.push((upgrade, package, candidate.url.clone()));
    }

    let upgraded: BTreeSet<&str> = fetched.iter().map(|(u, _, _)| u.name.as_str()).collect();
    let others: BTreeSet<String> = stanzas
        .iter()
        .filter(|s| s.get('P').is_none_or(|p| !upgraded.contains(p)))
        .flat_map(|s| s.files())
        .map(|f| format!("/{}", f.trim_start_matches('/')))
        .collect();
    let mut changes = Vec::new();
    let mut mtime = 0;
    for (upgrade, package, url) in &fetched {
        let new_paths: BTreeSet<&str> = package.data.iter().map(|e| e.path.as_str()).collect();
        for entry in &package.data {
            mtime = mtime.max(entry.mtime);
            if entry.kind == EntryKind::Dir && files.kind(&entry.path) == Some(&NodeKind::Dir) {
                continue;
            }
            layer.entry(entry.clone());
        }
        let slot = stanzas
            .iter()
            .position(|s| s.get('P') == Some(upgrade.name.as_str()));
        if let Some(slot) = slot {
            for old in stanzas[slot].files() {
                let path = format!("/{}", old.trim_start_matches('/'));
                if !new_paths.contains(path.as_str())
                    && !others.contains(&path)
                    && matches!(
                        files.kind(&path),
                        Some(NodeKind::File | NodeKind::Symlink(_) | NodeKind::Hardlink(_))
                    )
                {
                    layer.whiteout(&path);
                }
            }
        }
        let stanza = stanza_of(package, &package.data);
        match slot {
            Some(slot) => stanzas[slot] = stanza,
            None => stanzas.push(stanza),
        }
        changes.push(Change {
            package: upgrade.name.clone(),
            from: upgrade.from.clone(),
            to: upgrade.to.clone(),
            source: url.clone(),
        });
    }
    layer.file(db_path, apkdb::write(&stanzas).into_bytes(), 0o644, mtime);
    Ok(Outcome { changes, mtime })
}
