//! `helm mirror sync FILE`: a whole mirror set — purser's MirrorSet, a helmper.yaml, hauler
//! manifests or a zarf.yaml ([`purser::sets`]) — copied as one plan, so a blob shared by many
//! charts moves once, with one report and one lock.
//!
//! [`SyncArgs`] is what the user typed; [`resolve`] turns the set into charts to render
//! (classic Helm repositories read from their `index.yaml`, OCI charts from their tags,
//! versions chosen by range and selection) and images (tag rules read from the registry);
//! [`run`] reads every chart, applies each entry's image edits, places everything at every
//! destination of its entry, and hands the lot to `copy`'s settle-and-transfer.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, FromArgMatches};
use purser::destination::Rules;
use purser::inventory::{Confidence, Image, Inventory, Kind};
use purser::reference::Reference;
use purser::sets::repo_index::{self, Index};
use purser::sets::{
    ChartEntry, ChartSource, Credentials, ImageSource, MirrorSet, ModifyFrom, Read,
    RegistrySettings,
};

use super::args::{RegistryArgs, SelectArgs, charts_under};
use super::charts::{Carried, Loaded, LoadedChart, chart_destination, read_chart};
use super::copy::{self, CopyArgs};
use super::copy_print::print_copy;
use crate::copy::ImageRequest;
use crate::registry::Client;
use crate::render::{ChartArgs, RenderFlags};

#[derive(Args)]
pub struct SyncArgs {
    /// The set: a purser MirrorSet, a helmper.yaml, hauler manifests or a zarf.yaml (the
    /// kind is told from the content).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the resolved set (chart versions chosen, images, destinations) and the plan of
    /// what would move; copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the set as purser understood it, in purser's MirrorSet format, and stop.
    #[arg(long)]
    pub explain: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the set's images-lock here (default: the set's `lock`, beside the file).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Destination REGISTRY[/PREFIX] instead of the set's (repeatable); hauler manifests and
    /// zarf.yaml name none.
    #[arg(long, value_name = "REGISTRY[/PREFIX]")]
    pub to: Vec<String>,
    /// Exit 0 even when images are missing upstream (they are reported and left out).
    #[arg(long)]
    pub allow_missing: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// One chart version of the set, ready to render.
struct Resolved<'s> {
    entry: &'s ChartEntry,
    args: ChartArgs,
    version: Option<String>,
}

/// Reads the set file and says on stderr what of it is not carried.
fn read_set(path: &Path, quiet: bool) -> Result<Read, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let read = purser::sets::read(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if !quiet {
        for w in &read.warnings {
            eprintln!("purser: {}: {w}", path.display());
        }
        for r in &read.set.registries {
            let at = format!(
                "{}: line {}: registries ({})",
                path.display(),
                r.line,
                r.host
            );
            if r.max_concurrent.is_some() || r.pull_budget.is_some() {
                eprintln!(
                    "purser: {at}: maxConcurrent and pullBudget are not enforced by this \
                     version yet; --concurrency bounds requests per run"
                );
            }
            if r.credentials.is_some() {
                eprintln!(
                    "purser: {at}: credentials are used for chart repositories; registries \
                     read Docker's and Helm's config (docker login / helm registry login)"
                );
            }
        }
    }
    Ok(read)
}

/// The set's hosts added to the typed registry flags: plain HTTP, insecure, CA files.
fn registry_flags(mut registry: RegistryArgs, set: &MirrorSet, base: &Path) -> RegistryArgs {
    for r in &set.registries {
        if r.plain_http && !registry.plain_http.contains(&r.host) {
            registry.plain_http.push(r.host.clone());
        }
        if r.insecure && !registry.insecure_skip_tls_verify.contains(&r.host) {
            registry.insecure_skip_tls_verify.push(r.host.clone());
        }
        if let Some(ca) = &r.ca_file {
            registry.ca_file.push(base.join(ca));
        }
    }
    registry
        .source_mirror
        .extend(set.defaults.source_mirrors.iter().cloned());
    registry
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn settings_for<'s>(set: &'s MirrorSet, host: &str) -> Option<&'s RegistrySettings> {
    set.registries.iter().find(|r| r.host == host)
}

/// The flags `helm pull`/`helm template` need for a classic repository's host.
fn repo_flags(settings: Option<&RegistrySettings>, base: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    let Some(s) = settings else { return out };
    if let Some(Credentials::Inline { username, password }) = &s.credentials {
        out.extend(["--username".into(), username.into()]);
        out.extend(["--password".into(), password.into()]);
    }
    if let Some(Credentials::Env { username, password }) = &s.credentials {
        for (flag, var) in [("--username", username), ("--password", password)] {
            if let Ok(v) = std::env::var(var) {
                out.extend([flag.into(), v.into()]);
            }
        }
    }
    for (flag, file) in [
        ("--ca-file", &s.ca_file),
        ("--cert-file", &s.cert_file),
        ("--key-file", &s.key_file),
    ] {
        if let Some(f) = file {
            out.extend([flag.into(), base.join(f).into_os_string()]);
        }
    }
    if s.insecure {
        out.push("--insecure-skip-tls-verify".into());
    }
    out
}

/// A classic repository's index, fetched as Helm fetches it.
async fn fetch_index(
    client: &Client,
    url: &str,
    settings: Option<&RegistrySettings>,
) -> Result<Index, String> {
    let index_url = format!("{}/index.yaml", url.trim_end_matches('/'));
    let mut request = client.web().get(&index_url);
    if let Some(Credentials::Inline { username, password }) =
        settings.and_then(|s| s.credentials.as_ref())
    {
        request = request.basic_auth(username, Some(password));
    }
    let reply = request
        .send()
        .await
        .map_err(|e| format!("{index_url}: the chart repository cannot be reached: {e}"))?;
    if !reply.status().is_success() {
        return Err(format!(
            "{index_url}: the chart repository answered {}",
            reply.status()
        ));
    }
    let text = reply
        .text()
        .await
        .map_err(|e| format!("{index_url}: reading the index: {e}"))?;
    Index::parse(&text).map_err(|e| format!("{index_url}: not a Helm repository index: {e}"))
}

/// Every chart version of the set, chosen and ready to render.
async fn resolve<'s>(
    set: &'s MirrorSet,
    file: &Path,
    base: &Path,
    client: &Client,
    registry: &RegistryArgs,
    values_dir: &Path,
) -> Result<Vec<Resolved<'s>>, String> {
    let mut out = Vec::new();
    for (i, entry) in set.charts.iter().enumerate() {
        let at = || {
            format!(
                "{}: line {}: charts[{i}] ({})",
                file.display(),
                entry.line,
                entry.source.name()
            )
        };
        let (spec, repo, versions): (String, Option<String>, Vec<Option<String>>) = match &entry
            .source
        {
            ChartSource::Repo { url, name } => {
                let index = fetch_index(client, url, settings_for(set, host_of(url)))
                    .await
                    .map_err(|e| format!("{}: {e}", at()))?;
                let chosen = index
                    .choose(name, entry.versions.as_deref(), entry.select)
                    .map_err(|e| format!("{}: {url}: {e}", at()))?;
                (
                    name.clone(),
                    Some(url.clone()),
                    chosen.into_iter().map(|e| Some(e.version)).collect(),
                )
            }
            ChartSource::Oci(url) => {
                let rest = url.trim_start_matches("oci://");
                let (host, path) = rest
                    .split_once('/')
                    .ok_or_else(|| format!("{}: {url:?} names no repository", at()))?;
                let tags = client
                    .tags(host, path)
                    .await
                    .map_err(|e| format!("{}: listing the versions of {url}: {e}", at()))?;
                let versions: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
                let chosen = repo_index::choose(&versions, entry.versions.as_deref(), entry.select)
                    .map_err(|e| format!("{}: {url}: {e}", at()))?;
                (url.clone(), None, chosen.into_iter().map(Some).collect())
            }
            ChartSource::Local(path) => (base.join(path).display().to_string(), None, vec![None]),
        };
        for version in versions {
            let mut render = RenderFlags {
                values: entry
                    .values_files
                    .iter()
                    .map(|f| base.join(f).into_os_string())
                    .collect(),
                version: version.clone().map(Into::into),
                repo: repo.clone().map(Into::into),
                namespace: entry.namespace.clone().map(Into::into),
                kube_version: set.defaults.kube_version.clone().map(Into::into),
                ..RenderFlags::default()
            };
            if let Some(values) = &entry.values {
                let file = values_dir.join(format!("values-{i}.json"));
                std::fs::write(&file, values.to_string())
                    .map_err(|e| format!("writing {}: {e}", file.display()))?;
                render.values.push(file.into_os_string());
            }
            for m in &entry.images.modify {
                if let ModifyFrom::ValuePath(path) = &m.from {
                    let to = m.to.replace("{.version}", version.as_deref().unwrap_or(""));
                    render.set_string.push(format!("{path}={to}").into());
                }
            }
            render.fetch = match &repo {
                Some(url) => repo_flags(settings_for(set, host_of(url)), base),
                None => registry.helm_fetch_flags(&spec),
            };
            out.push(Resolved {
                entry,
                args: ChartArgs {
                    chart: spec.clone(),
                    release: entry.release.clone().unwrap_or_else(|| "release".into()),
                    render,
                },
                version,
            });
        }
    }
    Ok(out)
}

/// An image the set names outside any render.
fn named_image(reference: Reference) -> Image {
    Image {
        reference,
        confidence: Confidence::Certain,
        enabled: true,
        kind: Kind::Image,
        findings: Vec::new(),
    }
}

/// Whether `pattern` (a reference or a prefix of one) names `image`.
fn names(pattern: &str, image: &Reference) -> bool {
    image.canonical().starts_with(pattern) || image.familiar().starts_with(pattern)
}

/// The entry's exclusions, rewrites and additions applied to what its render found.
fn edit(entry: &ChartEntry, inventory: &mut Inventory, at: &str) -> Result<(), String> {
    if !entry.carry_images {
        inventory.images.clear();
        return Ok(());
    }
    inventory
        .images
        .retain(|i| !entry.images.exclude.iter().any(|x| names(x, &i.reference)));
    for m in &entry.images.modify {
        let ModifyFrom::Image(from) = &m.from else {
            continue;
        };
        for image in &mut inventory.images {
            let canonical = image.reference.canonical();
            let familiar = image.reference.familiar();
            let rest = canonical
                .strip_prefix(from.as_str())
                .or(familiar.strip_prefix(from.as_str()));
            if let Some(rest) = rest {
                let new = format!("{}{rest}", m.to);
                image.reference = Reference::parse(&new)
                    .map_err(|e| format!("{at}: images.modify makes {new:?}: {}", e.reason()))?;
            }
        }
    }
    for add in &entry.images.add {
        let r = Reference::parse(add)
            .map_err(|e| format!("{at}: images.add {add:?}: {}", e.reason()))?;
        inventory.images.push(named_image(r));
    }
    Ok(())
}

/// The images of `images[]`, tag rules read from the registry.
async fn set_images(
    set: &MirrorSet,
    file: &Path,
    client: &Client,
) -> Result<Vec<(usize, Reference)>, String> {
    let mut out = Vec::new();
    for (i, entry) in set.images.iter().enumerate() {
        let at = format!("{}: line {}: images[{i}]", file.display(), entry.line);
        match &entry.source {
            ImageSource::Ref(r) => out.push((
                i,
                Reference::parse(r).map_err(|e| format!("{at}: {r:?}: {}", e.reason()))?,
            )),
            ImageSource::Repo { repo, tags: rules } => {
                let base = Reference::parse(repo)
                    .map_err(|e| format!("{at}: {repo:?}: {}", e.reason()))?;
                let compile = |patterns: &[String]| -> Result<Vec<regex::Regex>, String> {
                    patterns
                        .iter()
                        .map(|p| {
                            regex::Regex::new(p)
                                .map_err(|e| format!("{at}: tag pattern {p:?}: {e}"))
                        })
                        .collect()
                };
                let (allow, deny) = (compile(&rules.allow)?, compile(&rules.deny)?);
                let tags = client
                    .tags(base.registry(), base.repository())
                    .await
                    .map_err(|e| format!("{at}: listing the tags of {repo}: {e}"))?;
                let picked = rules
                    .pick(&tags, |t| {
                        (allow.is_empty() || allow.iter().any(|r| r.is_match(t)))
                            && !deny.iter().any(|r| r.is_match(t))
                    })
                    .map_err(|e| format!("{at}: {e}"))?;
                if picked.is_empty() {
                    return Err(format!(
                        "{at}: no tag of {repo} passes the rules ({} tags there)",
                        tags.len()
                    ));
                }
                for t in picked {
                    out.push((
                        i,
                        base.with_tag(&t)
                            .map_err(|e| format!("{at}: tag {t:?}: {}", e.reason()))?,
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// The destinations of an entry: its own, else the defaults'.
fn destinations(own: &[String], set: &MirrorSet, at: &str) -> Result<Vec<Rules>, String> {
    let to = if own.is_empty() {
        &set.defaults.to
    } else {
        own
    };
    if to.is_empty() {
        return Err(format!(
            "{at}: goes nowhere: give --to, `defaults.to` or the entry's `to`"
        ));
    }
    to.iter()
        .map(|t| {
            Rules::from_flags(t, set.defaults.flatten, &set.defaults.map)
                .map_err(|e| format!("{at}: {e}"))
        })
        .collect()
}

/// What of the command line is for the copy itself.
struct Run {
    dry_run: bool,
    json: bool,
    output: Option<PathBuf>,
    allow_missing: bool,
}

/// The `copy` flags the set means (every flag at its default, then the set's switches).
fn copy_args(
    run: &Run,
    set: &MirrorSet,
    registry: RegistryArgs,
    base: &Path,
    to: &str,
) -> Result<CopyArgs, String> {
    let command = CopyArgs::augment_args(clap::Command::new("sync"));
    let matches = command
        .try_get_matches_from(["sync", "set", "--to", to])
        .map_err(|e| e.to_string())?;
    let mut copy = CopyArgs::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    let d = &set.defaults;
    copy.dry_run = run.dry_run;
    copy.json = run.json;
    copy.output = run
        .output
        .clone()
        .or_else(|| set.lock.as_ref().map(|l| base.join(l)));
    let spec = &mut copy.spec;
    spec.carry.platform = d.platforms.clone();
    spec.carry.no_referrers = d.referrers == Some(false);
    spec.allow_missing = run.allow_missing;
    spec.verify.verify = d.verify.as_ref().map(|v| base.join(v));
    spec.sign.sign_key = d.sign.as_ref().map(|s| base.join(&s.key));
    spec.scan = d.scan;
    spec.patch = d.patch;
    spec.sbom = d.sbom;
    spec.registry = registry;
    Ok(copy)
}

pub async fn run(args: SyncArgs) -> Result<Option<(super::copy_report::CopyReport, bool)>, String> {
    let SyncArgs {
        file,
        dry_run,
        explain,
        json,
        output,
        to,
        allow_missing,
        registry,
    } = args;
    let quiet = json || explain;
    let Read { mut set, .. } = read_set(&file, quiet)?;
    if explain {
        print!("{}", purser::sets::explain::explain(&set));
        return Ok(None);
    }
    if !to.is_empty() {
        set.defaults.to = to;
    }
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let registry = registry_flags(registry, &set, &base);
    let client = registry.client()?;
    let values_dir =
        tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
    let resolved = resolve(&set, &file, &base, &client, &registry, values_dir.path()).await?;
    let mut loaded = Loaded::empty();
    let mut requests: Vec<ImageRequest> = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut request = |source: &Reference,
                       destination: Reference,
                       likely: bool,
                       requests: &mut Vec<ImageRequest>| {
        if seen.insert((source.canonical(), destination.canonical())) {
            requests.push(ImageRequest {
                source: source.clone(),
                destination,
                locked: None,
                likely,
            });
        }
    };
    for r in &resolved {
        let entry = r.entry;
        let at = format!(
            "{}: line {}: chart {}",
            file.display(),
            entry.line,
            entry.source.name()
        );
        let select = SelectArgs {
            all: entry.all.unwrap_or(set.defaults.all),
            certain_only: false,
        };
        let (mut inventory, id, carried) =
            read_chart(&r.args, &select).map_err(|e| format!("{at}: {e}"))?;
        edit(entry, &mut inventory, &at)?;
        loaded.add_images(&inventory, Some(&id));
        for rules in destinations(&entry.to, &set, &at)? {
            let destination = chart_destination(&charts_under(&rules.to), &id)?;
            if !quiet {
                eprintln!(
                    "purser: {} {} ({}) -> {destination}",
                    id.name,
                    r.version.as_deref().unwrap_or(&id.version),
                    r.args
                        .render
                        .repo
                        .as_ref()
                        .map_or(r.args.chart.clone(), |u| u.to_string_lossy().into_owned()),
                );
            }
            for image in &inventory.images {
                let d = rules
                    .place(&image.reference)
                    .map_err(|e| format!("{at}: {e}"))?;
                request(
                    &image.reference,
                    d,
                    image.confidence == Confidence::Likely,
                    &mut requests,
                );
            }
            if let Carried::Oci(source) = &carried {
                request(source, destination.clone(), false, &mut requests);
            }
            loaded.charts.push(LoadedChart {
                id: id.clone(),
                carried: carried.clone(),
                destination,
            });
        }
    }
    let extra = set_images(&set, &file, &client).await?;
    let extra_inventory = Inventory {
        images: extra.iter().map(|(_, r)| named_image(r.clone())).collect(),
        injected: Vec::new(),
    };
    loaded.add_images(&extra_inventory, None);
    for (i, reference) in &extra {
        let entry = &set.images[*i];
        let at = format!("{}: line {}: images[{i}]", file.display(), entry.line);
        for rules in destinations(&entry.to, &set, &at)? {
            let d = rules.place(reference).map_err(|e| format!("{at}: {e}"))?;
            if !quiet {
                eprintln!("purser: image {} -> {d}", reference.canonical());
            }
            request(reference, d, false, &mut requests);
        }
    }
    if loaded.charts.is_empty() && requests.is_empty() {
        return Err(format!(
            "{}: the set names no chart and no image",
            file.display()
        ));
    }
    loaded.settle_confidence();
    let mut platforms: Vec<&Vec<String>> = set
        .images
        .iter()
        .map(|i| &i.platforms)
        .filter(|p| !p.is_empty())
        .collect();
    platforms.dedup();
    if set.defaults.platforms.is_empty() {
        match platforms.as_slice() {
            [one]
                if set
                    .images
                    .iter()
                    .all(|i| i.platforms.is_empty() || &i.platforms == *one) =>
            {
                set.defaults.platforms = (*one).clone();
            }
            [] | [_] => {}
            _ => eprintln!(
                "purser: {}: the images name different platforms: every platform of each is kept",
                file.display()
            ),
        }
    }
    let first_to = set
        .defaults
        .to
        .first()
        .cloned()
        .unwrap_or_else(|| "mirror.invalid".into());
    let run = Run {
        dry_run,
        json,
        output,
        allow_missing,
    };
    let copy = copy_args(&run, &set, registry, &base, &first_to)?;
    let rules = copy.spec.place.rules()?;
    let gathered = copy::settle(
        &copy.spec,
        &rules,
        loaded,
        requests,
        Vec::new(),
        copy.dry_run,
        copy.json,
    )
    .await?;
    let result = copy::finish(&copy, gathered).await?;
    drop(values_dir);
    Ok(Some(result))
}

/// `helm mirror sync`: the run, then its report as JSON or text.
pub async fn command(args: SyncArgs) -> Result<ExitCode, String> {
    let json = args.json;
    match run(args).await? {
        Some(result) => print_copy(result, json),
        None => Ok(ExitCode::SUCCESS),
    }
}
