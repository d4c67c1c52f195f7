//! Patching a dpkg image (Debian, Ubuntu, distroless): [`patch`] reads the image's package
//! database and APT sources, fetches each source's signed Release (verified with the image's
//! keyrings) and its `Packages` index (verified against the Release's SHA-256), picks the fixed
//! versions and the dependencies they need, fetches those `.deb`s (verified against the index),
//! and writes into a [`LayerBuilder`] what dpkg would leave: the new files, whiteouts for the
//! files the old versions had and the new lack, `info/PKG.list`, `.md5sums`, the other control
//! files, and the package's stanza in `status` (or `status.d/` for distroless). Locally changed
//! conffiles are kept. A package whose maintainer scripts would have to run is not patched.

use std::collections::{BTreeMap, BTreeSet};

use md5::{Digest as _, Md5};
use purser::digest::Digest;
use purser::patch::Family;
use purser::patch::deb822::{self, Paragraph};
use purser::patch::relation;
use purser::patch::release::Release;
use purser::patch::resolve::{self, Available, Installed, Upgrade, Want};
use purser::patch::sources::{self, AptSource};

use super::archive::{self, EntryKind};
use super::deb::{self, DebPackage};
use super::fetch::{FetchError, Fetcher};
use super::layer::LayerBuilder;
use super::release_signature::{Keyring, SignedRelease, verify_release};
use super::rootfs::{ImageFiles, NodeKind};
use super::{Change, Outcome, Refusal};

const STATUS: &str = "/var/lib/dpkg/status";
const STATUS_D: &str = "/var/lib/dpkg/status.d";
const INFO: &str = "/var/lib/dpkg/info";

/// Whether the image has a dpkg database.
pub fn detect(files: &ImageFiles) -> bool {
    files.read(STATUS).is_some() || files.kind(STATUS_D) == Some(&NodeKind::Dir)
}

/// Where a package's stanza lives.
#[derive(Clone)]
struct Record {
    file: String,
    paragraph: Paragraph,
}

/// The image's dpkg database: every stanza, by the file it is in.
struct Database {
    /// `status`, or each `status.d/` file, with its paragraphs.
    files: BTreeMap<String, Vec<Paragraph>>,
}

impl Database {
    fn read(files: &ImageFiles) -> Result<Database, Refusal> {
        let mut out = BTreeMap::new();
        let mut names: Vec<String> = Vec::new();
        if files.read(STATUS).is_some() {
            names.push(STATUS.to_owned());
        }
        for path in files.children(STATUS_D) {
            if !path.ends_with(".md5sums") && files.kind(path) == Some(&NodeKind::File) {
                names.push(path.to_owned());
            }
        }
        for name in names {
            let text = files.read(&name).unwrap_or_default();
            let text = std::str::from_utf8(text)
                .map_err(|_| Refusal::failed(format!("{name} is not UTF-8 text")))?;
            let paragraphs = deb822::parse(text, &name)
                .map_err(|e| Refusal::failed(format!("the dpkg database: {e}")))?;
            out.insert(name, paragraphs);
        }
        Ok(Database { files: out })
    }

    fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.files.iter().flat_map(|(file, paragraphs)| {
            paragraphs.iter().map(|p| Record {
                file: file.clone(),
                paragraph: p.clone(),
            })
        })
    }

    fn installed(&self) -> Vec<Installed> {
        self.records()
            .filter(|r| {
                r.paragraph
                    .get("Status")
                    .is_none_or(|s| s.ends_with(" installed"))
            })
            .filter_map(|r| {
                let p = &r.paragraph;
                Some(Installed {
                    name: p.get("Package")?.to_owned(),
                    version: p.get("Version")?.to_owned(),
                    arch: p.get("Architecture").unwrap_or("all").to_owned(),
                    provides: provides(p),
                })
            })
            .collect()
    }

    fn find(&self, name: &str) -> Option<Record> {
        self.records()
            .find(|r| r.paragraph.get("Package") == Some(name))
    }
}

fn provides(p: &Paragraph) -> Vec<(String, Option<String>)> {
    p.get("Provides")
        .and_then(|f| relation::parse_dpkg(f).ok())
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|r| (r.name, r.constraint.map(|(_, v)| v)))
        .collect()
}

/// An index entry of a repository: the paragraph and where its `Filename` is relative to.
struct Candidate {
    paragraph: Paragraph,
    base: String,
    origin: String,
}

/// `dpkg --print-architecture` for an OCI platform.
fn dpkg_arch(platform: &str) -> &'static str {
    match platform.split('/').nth(1).unwrap_or("") {
        "arm64" => "arm64",
        "arm" => "armhf",
        "386" => "i386",
        "ppc64le" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        _ => "amd64",
    }
}

/// The image's APT sources, each file in its format.
fn apt_sources(files: &ImageFiles) -> Result<Vec<AptSource>, Refusal> {
    let mut out = Vec::new();
    let mut paths = vec!["/etc/apt/sources.list".to_owned()];
    paths.extend(
        files
            .children("/etc/apt/sources.list.d")
            .into_iter()
            .map(str::to_owned),
    );
    for path in paths {
        let Some(bytes) = files.read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(bytes);
        let parsed = if path.ends_with(".sources") {
            sources::parse_deb822_sources(&text, &path)
        } else if path.ends_with(".list") {
            sources::parse_sources_list(&text, &path)
        } else {
            continue;
        };
        out.extend(parsed.map_err(|e| Refusal::failed(format!("the image's APT sources: {e}")))?);
    }
    Ok(out)
}

/// The keyrings a source is verified with: its `signed-by`, else the image's trusted
/// keyrings; and the ones given on the command line.
fn keyrings_for(files: &ImageFiles, source: &AptSource, extra: &[Keyring]) -> Vec<Keyring> {
    let mut out: Vec<Keyring> = extra.to_vec();
    if let Some(inline) = source.signed_by_inline() {
        out.push(Keyring {
            name: format!("{} Signed-By", source.file),
            bytes: inline.as_bytes().to_vec(),
        });
        return out;
    }
    let mut paths: Vec<String> = Vec::new();
    match &source.signed_by {
        Some(list) => paths.extend(list.split(',').map(|p| p.trim().to_owned())),
        None => {
            paths.push("/etc/apt/trusted.gpg".to_owned());
            paths.extend(
                files
                    .children("/etc/apt/trusted.gpg.d")
                    .into_iter()
                    .filter(|p| p.ends_with(".gpg") || p.ends_with(".asc"))
                    .map(str::to_owned),
            );
        }
    }
    for path in paths {
        if let Some(bytes) = files.read(&path) {
            out.push(Keyring {
                name: path,
                bytes: bytes.to_vec(),
            });
        }
    }
    out
}

fn join(base: &str, path: &str) -> String {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    format!("{}/{path}", base.trim_end_matches('/'))
}

/// The verified Release of a source, and the URL the indexes are relative to.
async fn release(
    fetcher: &Fetcher,
    source: &AptSource,
    base: &str,
    keyrings: &[Keyring],
) -> Result<(Release, String), Refusal> {
    let dir = if source.is_flat() {
        join(base, source.suite.trim_start_matches("./"))
    } else {
        join(base, &format!("dists/{}", source.suite))
    };
    let in_release = join(&dir, "InRelease");
    let verified = match fetcher.get(&in_release).await {
        Ok(bytes) => verify_release(SignedRelease::InRelease(&bytes), keyrings, &in_release),
        Err(FetchError::NotFound { .. }) => {
            let url = join(&dir, "Release");
            let release = fetcher.get(&url).await.map_err(failed)?;
            let signature = match fetcher.get(&join(&dir, "Release.gpg")).await {
                Ok(signature) => signature,
                Err(FetchError::NotFound { url }) => {
                    return Err(Refusal::failed(format!(
                        "{dir}: neither InRelease nor Release.gpg: the repository is not \
                         signed, and purser installs nothing unverified ({url})"
                    )));
                }
                Err(e) => return Err(failed(e)),
            };
            verify_release(
                SignedRelease::Detached {
                    release: &release,
                    signature: &signature,
                },
                keyrings,
                &url,
            )
        }
        Err(e) => return Err(failed(e)),
    }
    .map_err(|e| Refusal::failed(e.to_string()))?;
    let parsed = purser::patch::release::parse(&verified.text, &in_release)
        .map_err(|e| Refusal::failed(e.to_string()))?;
    Ok((parsed, dir))
}

fn failed(e: FetchError) -> Refusal {
    Refusal::failed(e.to_string())
}

/// The `Packages` index at `dir/path` (trying `.xz`, `.gz`, plain as the Release lists them),
/// verified against the Release; None where the Release lists none.
async fn packages(
    fetcher: &Fetcher,
    release: &Release,
    dir: &str,
    path: &str,
) -> Result<Option<Vec<Paragraph>>, Refusal> {
    for suffix in [".xz", ".gz", ""] {
        let name = format!("{path}{suffix}");
        let Some(listed) = release.find(&name) else {
            continue;
        };
        let url = join(dir, &name);
        let bytes = fetcher.get(&url).await.map_err(failed)?;
        let found = Digest::sha256(&bytes);
        if bytes.len() as u64 != listed.size || found.hex() != listed.sha256 {
            return Err(Refusal::failed(format!(
                "{url}: {} bytes with SHA-256 {}, but the signed Release says {} bytes with \
                 {}: the index was changed or is stale; refusing it",
                bytes.len(),
                found.hex(),
                listed.size,
                listed.sha256
            )));
        }
        let text = archive::decompress(&bytes, &url).map_err(|e| Refusal::failed(e.to_string()))?;
        let text = String::from_utf8_lossy(&text);
        let paragraphs = deb822::parse(&text, &url).map_err(|e| Refusal::failed(e.to_string()))?;
        return Ok(Some(paragraphs));
    }
    Ok(None)
}

/// A maintainer script that does nothing a patch must do: only `set -e`, `ldconfig`, the
/// `configure` test around it, `exit 0` and comments.
fn benign(script: &[u8]) -> bool {
    String::from_utf8_lossy(script).lines().all(|line| {
        let line = line.trim();
        line.is_empty()
            || line.starts_with('#')
            || matches!(
                line,
                "set -e" | "exit 0" | "fi" | "ldconfig" | "esac" | ";;"
            )
            || (line.starts_with("if [ \"$1\" = \"configure\" ]") && line.ends_with("then"))
            || line.starts_with("configure)")
    })
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every path of every package's `.list` but `except`'s.
fn owned_by_others(files: &ImageFiles, except: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in files.children(INFO) {
        let Some(base) = path
            .strip_prefix(&format!("{INFO}/"))
            .and_then(|n| n.strip_suffix(".list"))
        else {
            continue;
        };
        if except.contains(base) {
            continue;
        }
        if let Some(list) = files.read(path) {
            out.extend(String::from_utf8_lossy(list).lines().map(str::to_owned));
        }
    }
    out
}

/// The name of a package's files in `info/`: `NAME:ARCH` for `Multi-Arch: same` (or where
/// the image already names it so), else `NAME`.
fn info_base(files: &ImageFiles, control: &Paragraph) -> String {
    let name = control.get("Package").unwrap_or_default();
    let arch = control.get("Architecture").unwrap_or_default();
    let qualified = format!("{name}:{arch}");
    if files.kind(&format!("{INFO}/{qualified}.list")).is_some()
        || (files.kind(&format!("{INFO}/{name}.list")).is_none()
            && control.get("Multi-Arch") == Some("same"))
    {
        qualified
    } else {
        name.to_owned()
    }
}

/// Conffiles as the status records them: `(path, md5)`.
fn conffiles(p: &Paragraph) -> BTreeMap<String, String> {
    p.get("Conffiles")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

/// The control file of a package, parsed.
fn control_of(deb: &DebPackage) -> Paragraph {
    deb822::parse(&deb.control, "control")
        .ok()
        .and_then(|mut p| (!p.is_empty()).then(|| p.remove(0)))
        .unwrap_or_default()
}

/// A field of `/etc/os-release`, unquoted.
fn os_release(files: &ImageFiles, field: &str) -> Option<String> {
    let text = files
        .read("/etc/os-release")
        .or_else(|| files.read("/usr/lib/os-release"))?;
    String::from_utf8_lossy(text).lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned())
    })
}

/// The package a candidate names, fetched and checked against the signed index: its size
/// and SHA-256, then its control file's name and version.
async fn fetch_deb(
    fetcher: &Fetcher,
    candidate: &Candidate,
) -> Result<(DebPackage, String), Refusal> {
    let p = &candidate.paragraph;
    let name = p.get("Package").unwrap_or_default();
    let version = p.get("Version").unwrap_or_default();
    let (Some(filename), Some(sha256)) = (p.get("Filename"), p.get("SHA256")) else {
        return Err(Refusal::failed(format!(
            "{name} {version} in {}: no Filename or SHA256 field, so it cannot be verified",
            candidate.origin
        )));
    };
    let url = join(&candidate.base, filename);
    let bytes = fetcher.get(&url).await.map_err(failed)?;
    let found = Digest::sha256(&bytes);
    let size_ok = p
        .get("Size")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .is_none_or(|size| size == bytes.len() as u64);
    if found.hex() != sha256.trim().to_ascii_lowercase() || !size_ok {
        return Err(Refusal::failed(format!(
            "{url}: SHA-256 {} ({} bytes) is not the {} the signed index {} gives for {name} {version}: the package was changed; refusing it",
            found.hex(),
            bytes.len(),
            sha256.trim(),
            candidate.origin
        )));
    }
    let deb = deb::parse(&bytes, &url).map_err(|e| Refusal::failed(e.to_string()))?;
    let control = control_of(&deb);
    if control.get("Package") != Some(name) || control.get("Version") != Some(version) {
        return Err(Refusal::failed(format!(
            "{url}: its control file names {} {}, the index {name} {version}",
            control.get("Package").unwrap_or("?"),
            control.get("Version").unwrap_or("?")
        )));
    }
    Ok((deb, url))
}

/// Patches the dpkg image `files` (platform `platform`) for `wants`.
pub async fn patch(
    files: &ImageFiles,
    platform: &str,
    wants: &[Want],
    fetcher: &Fetcher,
    extra_keyrings: &[Keyring],
    layer: &mut LayerBuilder,
) -> Result<Outcome, Refusal> {
    let database = Database::read(files)?;
    let installed = database.installed();
    let native = dpkg_arch(platform);
    let mut arches: BTreeSet<String> = BTreeSet::from([native.to_owned()]);
    for want in wants {
        if let Some(i) = installed.iter().find(|i| i.name == want.name)
            && i.arch != "all"
        {
            arches.insert(i.arch.clone());
        }
    }

    let mut image_sources = apt_sources(files)?;
    if image_sources.is_empty() {
        let Some(mirror) = fetcher.mirror_for_all() else {
            return Err(Refusal::not_patchable(
                "the image names no APT source (/etc/apt/sources.list, sources.list.d): give \
                 --package-mirror URL to fetch its fixes from"
                    .to_owned(),
            ));
        };
        let codename = os_release(files, "VERSION_CODENAME").ok_or_else(|| {
            Refusal::not_patchable(
                "the image names no APT source and no VERSION_CODENAME in /etc/os-release"
                    .to_owned(),
            )
        })?;
        image_sources.push(AptSource {
            uri: mirror.to_owned(),
            suite: codename,
            components: vec!["main".to_owned()],
            signed_by: None,
            architectures: Vec::new(),
            trusted: false,
            file: "--package-mirror".to_owned(),
        });
    }

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for source in &image_sources {
        if source.trusted {
            problems.push(format!(
                "{} names {} with trusted=yes: purser verifies every repository, so it is \
                 skipped (give its key with --package-keyring)",
                source.file, source.uri
            ));
            continue;
        }
        let base = fetcher.base(&source.uri);
        let keyrings = keyrings_for(files, source, extra_keyrings);
        if keyrings.is_empty() {
            problems.push(format!(
                "{} {}: no keyring to verify it with (the image has none at {}; give \
                 --package-keyring)",
                source.file,
                source.uri,
                source
                    .signed_by
                    .as_deref()
                    .unwrap_or("/etc/apt/trusted.gpg.d")
            ));
            continue;
        }
        let (release, dir) = match release(fetcher, source, &base, &keyrings).await {
            Ok(found) => found,
            Err(e) => {
                problems.push(e.reason);
                continue;
            }
        };
        let mut paths: Vec<(String, String)> = Vec::new();
        if source.is_flat() {
            paths.push(("Packages".to_owned(), dir.clone()));
        } else {
            for component in &source.components {
                for arch in &arches {
                    if !source.architectures.is_empty() && !source.architectures.contains(arch) {
                        continue;
                    }
                    paths.push((format!("{component}/binary-{arch}/Packages"), base.clone()));
                }
            }
        }
        for (path, relative_to) in paths {
            match packages(fetcher, &release, &dir, &path).await {
                Ok(Some(paragraphs)) => {
                    candidates.extend(paragraphs.into_iter().map(|p| Candidate {
                        paragraph: p,
                        base: relative_to.clone(),
                        origin: join(&dir, &path),
                    }))
                }
                Ok(None) => {}
                Err(e) => problems.push(e.reason),
            }
        }
    }

    let available: Vec<Available> = candidates
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            let p = &c.paragraph;
            Some(Available {
                name: p.get("Package")?.to_owned(),
                version: p.get("Version")?.to_owned(),
                arch: p.get("Architecture").unwrap_or("all").to_owned(),
                depends: [p.get("Pre-Depends"), p.get("Depends")]
                    .into_iter()
                    .flatten()
                    .filter_map(|f| relation::parse_dpkg(f).ok())
                    .flatten()
                    .collect(),
                provides: provides(p),
                index,
            })
        })
        .collect();
    let upgrades = resolve::resolve(Family::Dpkg, &installed, &available, wants)
        .map_err(|e| Refusal::unresolved(e, &problems, !candidates.is_empty()))?;

    let mut fetched: Vec<(Upgrade, DebPackage, String)> = Vec::new();
    for upgrade in upgrades {
        let candidate = &candidates[upgrade.index];
        let (deb, url) = fetch_deb(fetcher, candidate).await?;
        for script in deb.maintainer_scripts() {
            if !benign(&deb.control_files[script]) {
                return Err(Refusal::not_patchable(format!(
                    "{} {} has a {script} that must run (purser does not run maintainer \
                     scripts; patch it with a rebuild)",
                    upgrade.name, upgrade.to
                )));
            }
        }
        fetched.push((upgrade, deb, url));
    }

    let names: BTreeSet<String> = fetched
        .iter()
        .map(|(_, deb, _)| info_base(files, &control_of(deb)))
        .collect();
    let others = owned_by_others(files, &names);
    let mut database = database;
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    let mut changes = Vec::new();
    let mut mtime = 0;
    for (upgrade, deb, url) in &fetched {
        let control = control_of(deb);
        let base = info_base(files, &control);
        let old = database.find(&upgrade.name);
        for script in ["prerm", "postrm"] {
            if let Some(old_script) = files.read(&format!("{INFO}/{base}.{script}"))
                && !benign(old_script)
            {
                return Err(Refusal::not_patchable(format!(
                    "{} {}: its {script} would have to run to remove it (purser does not run \
                     maintainer scripts)",
                    upgrade.name,
                    upgrade.from.as_deref().unwrap_or("")
                )));
            }
        }
        let old_conffiles = old
            .as_ref()
            .map(|r| conffiles(&r.paragraph))
            .unwrap_or_default();
        let new_conffiles: BTreeSet<String> = deb
            .control_files
            .get("conffiles")
            .map(|c| {
                String::from_utf8_lossy(c)
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default();

        // The files, but a conffile changed in the image stays as it is.
        let mut listed: Vec<String> = Vec::new();
        let mut md5sums = String::new();
        let mut conffile_md5: Vec<(String, String)> = Vec::new();
        for entry in &deb.data {
            listed.push(if entry.path == "/" {
                "/.".to_owned()
            } else {
                entry.path.clone()
            });
            mtime = mtime.max(entry.mtime);
            if entry.kind == EntryKind::File {
                let sum = md5_hex(&entry.data);
                if new_conffiles.contains(&entry.path) {
                    conffile_md5.push((entry.path.clone(), sum.clone()));
                    let current = files.read(&entry.path);
                    let changed = match (current, old_conffiles.get(&entry.path)) {
                        (Some(current), Some(dist)) => md5_hex(current) != *dist,
                        (Some(_), None) => true,
                        _ => false,
                    };
                    if changed {
                        continue;
                    }
                }
                md5sums.push_str(&format!("{sum}  {}\n", entry.path.trim_start_matches('/')));
            }
            if entry.path == "/"
                || (entry.kind == EntryKind::Dir && files.kind(&entry.path) == Some(&NodeKind::Dir))
            {
                continue;
            }
            layer.entry(entry.clone());
        }
        let new_paths: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
        if let Some(old_list) = files.read(&format!("{INFO}/{base}.list")) {
            for path in String::from_utf8_lossy(old_list).lines() {
                if new_paths.contains(path) || others.contains(path) || path == "/." {
                    continue;
                }
                if matches!(
                    files.kind(path),
                    Some(NodeKind::File | NodeKind::Symlink(_) | NodeKind::Hardlink(_))
                ) {
                    layer.whiteout(path);
                }
            }
        }

        // info/: the list, the md5sums, every other control file; old ones gone hidden.
        let mut info: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        info.insert(
            "list".to_owned(),
            format!("{}\n", listed.join("\n")).into_bytes(),
        );
        let md5sums = match deb.control_files.get("md5sums") {
            Some(given) => given.clone(),
            None => md5sums.into_bytes(),
        };
        info.insert("md5sums".to_owned(), md5sums.clone());
        for (name, data) in &deb.control_files {
            if name != "md5sums" {
                info.insert(name.clone(), data.clone());
            }
        }
        let prefix = format!("{INFO}/{base}.");
        for path in files.children(INFO) {
            if let Some(kind) = path.strip_prefix(&prefix)
                && !info.contains_key(kind)
            {
                layer.whiteout(path);
            }
        }
        for (kind, data) in info {
            let mode = if deb::SCRIPTS.contains(&kind.as_str()) {
                0o755
            } else {
                0o644
            };
            layer.file(&format!("{prefix}{kind}"), data, mode, mtime);
        }

        // The stanza.
        let mut stanza = Paragraph::default();
        for name in control.names() {
            if name.eq_ignore_ascii_case("Description") && !conffile_md5.is_empty() {
                let value: String = conffile_md5
                    .iter()
                    .map(|(path, sum)| format!("\n {path} {sum}"))
                    .collect();
                stanza.set("Conffiles", &value);
            }
            stanza.set(name, control.get(name).unwrap_or_default());
            if name.eq_ignore_ascii_case("Package") {
                stanza.set("Status", "install ok installed");
            }
        }
        let file = match &old {
            Some(record) => record.file.clone(),
            None if database.files.contains_key(STATUS) || database.files.is_empty() => {
                STATUS.to_owned()
            }
            None => format!("{STATUS_D}/{}", upgrade.name),
        };
        if file.starts_with(STATUS_D)
            && old
                .as_ref()
                .is_some_and(|r| r.paragraph.get("Status").is_none())
        {
            stanza.remove("Status");
        }
        let paragraphs = database.files.entry(file.clone()).or_default();
        match paragraphs
            .iter_mut()
            .find(|p| p.get("Package") == Some(upgrade.name.as_str()))
        {
            Some(slot) => *slot = stanza,
            None => paragraphs.push(stanza),
        }
        let md5_file = format!("{file}.md5sums");
        if file.starts_with(STATUS_D) && files.read(&md5_file).is_some() {
            layer.file(&md5_file, md5sums, 0o644, mtime);
        }
        changes.push(Change {
            package: upgrade.name.clone(),
            from: upgrade.from.clone(),
            to: upgrade.to.clone(),
            source: url.clone(),
        });
        dirty.insert(file);
    }
    for file in dirty {
        let text = deb822::write(&database.files[&file]);
        layer.file(&file, text.into_bytes(), 0o644, mtime);
    }
    Ok(Outcome { changes, mtime })
}
