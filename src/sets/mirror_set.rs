//! purser's own set format, `apiVersion: purser.dev/v1alpha1`, `kind: MirrorSet`, read
//! strictly: [`parse`] refuses an unknown key (naming it, its line and the nearest known key)
//! and a value of the wrong type. The JSON Schema beside it is `schemas/mirrorset.schema.json`.

use super::fields::{Fields, error};
use super::{
    ChartEntry, ChartSource, Credentials, Defaults, ImageEdits, ImageEntry, ImageSource, Kind,
    MirrorSet, Modify, ModifyFrom, PullBudget, Read, RegistrySettings, Select, SetError, Signing,
    TagRules,
};
use crate::yaml::{Node, Value};

pub const API_VERSION: &str = "purser.dev/v1alpha1";

/// Reads one MirrorSet document.
pub fn parse(doc: &Node<'_>) -> Result<Read, SetError> {
    let top = Fields::strict(
        doc,
        "",
        &[
            "apiVersion",
            "kind",
            "metadata",
            "defaults",
            "registries",
            "charts",
            "images",
            "lock",
            "schedule",
        ],
    )?;
    let api = top.string("apiVersion")?.unwrap_or_default();
    if api != API_VERSION {
        return Err(error(
            doc.get("apiVersion").unwrap_or(doc),
            "apiVersion",
            format!("{api:?} is not a version purser reads; write {API_VERSION:?}"),
        ));
    }
    let kind = top.string("kind")?.unwrap_or_default();
    if kind != "MirrorSet" {
        return Err(error(
            doc.get("kind").unwrap_or(doc),
            "kind",
            format!("{kind:?}: purser.dev/v1alpha1 files hold `kind: MirrorSet`"),
        ));
    }
    if let Some(m) = top.get("metadata") {
        let m = Fields::strict(m, "metadata", &["name", "labels", "annotations"])?;
        m.string("name")?;
    }
    let defaults = match top.get("defaults") {
        Some(d) => defaults(d)?,
        None => Defaults::default(),
    };
    let registries = top
        .list("registries")?
        .iter()
        .enumerate()
        .map(|(i, n)| registry(n, &format!("registries[{i}]")))
        .collect::<Result<_, _>>()?;
    let charts = top
        .list("charts")?
        .iter()
        .enumerate()
        .map(|(i, n)| chart(n, &format!("charts[{i}]")))
        .collect::<Result<_, _>>()?;
    let images = top
        .list("images")?
        .iter()
        .enumerate()
        .map(|(i, n)| image(n, &format!("images[{i}]")))
        .collect::<Result<_, _>>()?;
    let set = MirrorSet {
        defaults,
        registries,
        charts,
        images,
        lock: top.string("lock")?,
        schedule: top.string("schedule")?,
    };
    super::check(&set)?;
    Ok(Read {
        set,
        kind: Kind::MirrorSet,
        warnings: Vec::new(),
    })
}

fn defaults(node: &Node<'_>) -> Result<Defaults, SetError> {
    let d = Fields::strict(
        node,
        "defaults",
        &[
            "to",
            "platforms",
            "referrers",
            "flatten",
            "map",
            "sourceMirrors",
            "all",
            "kubeVersion",
            "sign",
            "verify",
            "scan",
            "patch",
            "sbom",
        ],
    )?;
    let sign = match d.get("sign") {
        None => None,
        Some(n) => {
            let s = Fields::strict(n, "defaults.sign", &["key", "passwordEnv"])?;
            Some(Signing {
                key: s.required("key")?,
                password_env: s.string("passwordEnv")?,
            })
        }
    };
    Ok(Defaults {
        to: d.strings("to")?,
        platforms: d.strings("platforms")?,
        referrers: d.bool("referrers")?,
        flatten: d.bool("flatten")?.unwrap_or(false),
        map: d.strings("map")?,
        source_mirrors: d.strings("sourceMirrors")?,
        all: d.bool("all")?.unwrap_or(false),
        kube_version: d.string("kubeVersion")?,
        sign,
        verify: d.string("verify")?,
        scan: d.bool("scan")?.unwrap_or(false),
        patch: d.bool("patch")?.unwrap_or(false),
        sbom: d.bool("sbom")?.unwrap_or(false),
    })
}

fn registry(node: &Node<'_>, path: &str) -> Result<RegistrySettings, SetError> {
    let r = Fields::strict(
        node,
        path,
        &[
            "host",
            "plainHTTP",
            "insecure",
            "caFile",
            "certFile",
            "keyFile",
            "credentials",
            "maxConcurrent",
            "pullBudget",
        ],
    )?;
    let credentials = match r.get("credentials") {
        None => None,
        Some(n) => {
            let p = r.path_of("credentials");
            let c = Fields::strict(n, &p, &["usernameEnv", "passwordEnv", "dockerConfig"])?;
            match (
                c.string("dockerConfig")?,
                c.string("usernameEnv")?,
                c.string("passwordEnv")?,
            ) {
                (Some(path), None, None) => Some(Credentials::DockerConfig(path)),
                (None, Some(username), Some(password)) => {
                    Some(Credentials::Env { username, password })
                }
                _ => {
                    return Err(error(
                        n,
                        &p,
                        "give `usernameEnv` and `passwordEnv` (names of environment variables), \
                         or `dockerConfig` (a config.json path); secrets never go in the file",
                    ));
                }
            }
        }
    };
    let pull_budget = match r.get("pullBudget") {
        None => None,
        Some(n) => {
            let p = r.path_of("pullBudget");
            let b = Fields::strict(n, &p, &["count", "period"])?;
            let period = b.string("period")?.unwrap_or_else(|| "6h".into());
            if period_seconds(&period).is_none() {
                return Err(error(
                    n,
                    &format!("{p}.period"),
                    format!("{period:?} is no period: write e.g. 6h, 1h or 30m"),
                ));
            }
            Some(PullBudget {
                count: b
                    .number("count")?
                    .ok_or_else(|| error(n, &p, "`count` is required here"))?,
                period,
            })
        }
    };
    Ok(RegistrySettings {
        line: r.line(),
        host: r.required("host")?,
        plain_http: r.bool("plainHTTP")?.unwrap_or(false),
        insecure: r.bool("insecure")?.unwrap_or(false),
        ca_file: r.string("caFile")?,
        cert_file: r.string("certFile")?,
        key_file: r.string("keyFile")?,
        credentials,
        max_concurrent: r.number("maxConcurrent")?,
        pull_budget,
    })
}

/// Seconds in a period written `6h`, `90m`, `30s` or `1d`.
pub fn period_seconds(text: &str) -> Option<u64> {
    let (n, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    (n > 0).then_some(n * unit)
}

fn chart(node: &Node<'_>, path: &str) -> Result<ChartEntry, SetError> {
    let c = Fields::strict(
        node,
        path,
        &[
            "chart",
            "repo",
            "name",
            "versions",
            "select",
            "release",
            "namespace",
            "values",
            "valuesFiles",
            "images",
            "to",
            "all",
            "carryImages",
        ],
    )?;
    let source = match (c.string("chart")?, c.string("repo")?, c.string("name")?) {
        (Some(chart), None, None) => chart_source(&chart),
        (None, Some(url), Some(name)) => ChartSource::Repo { url, name },
        (None, Some(_), None) => return Err(error(node, path, "`repo` needs the chart's `name`")),
        _ => {
            return Err(error(
                node,
                path,
                "give `chart` (a path or oci://…) or `repo` (a Helm repository URL) and `name`",
            ));
        }
    };
    let select = match c.get("select") {
        None => Select::Latest,
        Some(n) => select(n, &c.path_of("select"))?,
    };
    let values = match c.get("values") {
        None => None,
        Some(n) if n.as_map().is_some() => Some(
            crate::yaml::de::from_node::<serde_json::Value>(n)
                .map_err(|e| error(n, &c.path_of("values"), e.message))?,
        ),
        Some(n) => {
            return Err(error(
                n,
                &c.path_of("values"),
                "must be a mapping of values",
            ));
        }
    };
    let images = match c.get("images") {
        None => ImageEdits::default(),
        Some(n) => edits(n, &c.path_of("images"))?,
    };
    Ok(ChartEntry {
        line: c.line(),
        source,
        versions: c.string("versions")?,
        select,
        release: c.string("release")?,
        namespace: c.string("namespace")?,
        values,
        values_files: c.strings("valuesFiles")?,
        images,
        to: c.strings("to")?,
        all: c.bool("all")?,
        carry_images: c.bool("carryImages")?.unwrap_or(true),
    })
}

/// A chart written as one string: `oci://…`, else a path.
pub(crate) fn chart_source(text: &str) -> ChartSource {
    if text.starts_with("oci://") {
        ChartSource::Oci(text.to_owned())
    } else {
        ChartSource::Local(text.to_owned())
    }
}

fn select(node: &Node<'_>, path: &str) -> Result<Select, SetError> {
    let bad = || {
        error(
            node,
            path,
            "write `latest`, `all` or `{latest: N}` (the newest N versions in range)",
        )
    };
    match &node.value {
        Value::Scalar(..) => match node.as_str() {
            Some("latest") => Ok(Select::Latest),
            Some("all") => Ok(Select::All),
            _ => Err(bad()),
        },
        Value::Map(_) => {
            let s = Fields::strict(node, path, &["latest"])?;
            match s.number("latest")? {
                Some(n) if n > 0 => Ok(Select::Newest(n as usize)),
                _ => Err(bad()),
            }
        }
        Value::Seq(_) => Err(bad()),
    }
}

fn edits(node: &Node<'_>, path: &str) -> Result<ImageEdits, SetError> {
    let e = Fields::strict(node, path, &["exclude", "add", "modify"])?;
    let modify = e
        .list("modify")?
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = format!("{path}.modify[{i}]");
            let m = Fields::strict(n, &p, &["from", "valuePath", "to"])?;
            let from = match (m.string("from")?, m.string("valuePath")?) {
                (Some(f), None) => ModifyFrom::Image(f),
                (None, Some(v)) => ModifyFrom::ValuePath(v),
                _ => {
                    return Err(error(
                        n,
                        &p,
                        "give one of `from` (an image prefix) or `valuePath`",
                    ));
                }
            };
            Ok(Modify {
                from,
                to: m.required("to")?,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ImageEdits {
        exclude: e.strings("exclude")?,
        add: e.strings("add")?,
        modify,
    })
}

fn image(node: &Node<'_>, path: &str) -> Result<ImageEntry, SetError> {
    let i = Fields::strict(node, path, &["ref", "repo", "tags", "to", "platforms"])?;
    let source = match (i.string("ref")?, i.string("repo")?) {
        (Some(r), None) => {
            if i.get("tags").is_some() {
                return Err(error(node, path, "`tags` goes with `repo`, not `ref`"));
            }
            ImageSource::Ref(r)
        }
        (None, Some(repo)) => {
            let tags = match i.get("tags") {
                None => TagRules::default(),
                Some(n) => {
                    let p = i.path_of("tags");
                    let t = Fields::strict(n, &p, &["semver", "latest", "allow", "deny"])?;
                    TagRules {
                        semver: t.string("semver")?,
                        latest: t.number("latest")?.map(|n| n as usize),
                        allow: t.strings("allow")?,
                        deny: t.strings("deny")?,
                    }
                }
            };
            ImageSource::Repo { repo, tags }
        }
        _ => {
            return Err(error(
                node,
                path,
                "give one of `ref` (an image) or `repo` with `tags`",
            ));
        }
    };
    Ok(ImageEntry {
        line: i.line(),
        source,
        to: i.strings("to")?,
        platforms: i.strings("platforms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::read;
    use super::*;

    const SET: &str = "\
apiVersion: purser.dev/v1alpha1
kind: MirrorSet
defaults:
  to: registry.internal/mirror
  platforms: [linux/amd64]
registries:
  - host: registry-1.docker.io
    credentials: {usernameEnv: HUB_USER, passwordEnv: HUB_TOKEN}
    maxConcurrent: 4
    pullBudget: {count: 100, period: 6h}
charts:
  - repo: https://charts.example.com
    name: podinfo
    versions: \">=6.0 <7\"
    select: {latest: 2}
    values: {replicaCount: 2}
    images:
      exclude: [docker.io/library/busybox]
      add: [docker.io/library/redis:7]
      modify:
        - {from: ghcr.io/stefanprodan, to: docker.io/stefanprodan}
  - chart: oci://ghcr.io/org/charts/app
    select: all
images:
  - ref: docker.io/library/nginx:1.27
  - repo: quay.io/org/tool
    tags: {semver: \"^1\", latest: 3, deny: [\"-debug$\"]}
lock: set.lock
";

    #[test]
    fn reads_every_part() {
        let read = read(SET).unwrap();
        assert_eq!(read.kind, Kind::MirrorSet);
        let set = read.set;
        assert_eq!(set.defaults.to, ["registry.internal/mirror"]);
        assert_eq!(set.registries[0].max_concurrent, Some(4));
        assert_eq!(set.registries[0].pull_budget.as_ref().unwrap().count, 100);
        assert_eq!(set.charts[0].select, Select::Newest(2));
        assert_eq!(set.charts[0].source.name(), "podinfo");
        assert_eq!(set.charts[0].values.as_ref().unwrap()["replicaCount"], 2);
        assert_eq!(set.charts[1].select, Select::All);
        assert_eq!(set.charts[1].source.name(), "app");
        assert!(matches!(
            &set.images[1].source,
            ImageSource::Repo { tags, .. } if tags.latest == Some(3)
        ));
        assert_eq!(set.lock.as_deref(), Some("set.lock"));
    }

    #[test]
    fn the_json_schema_knows_what_the_parser_knows() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/mirrorset.schema.json")).unwrap();
        let props = &schema["properties"];
        for key in [
            "defaults",
            "registries",
            "charts",
            "images",
            "lock",
            "schedule",
        ] {
            assert!(props[key].is_object(), "{key}");
        }
        let chart = &props["charts"]["items"]["properties"];
        for key in [
            "chart",
            "repo",
            "versions",
            "select",
            "valuesFiles",
            "carryImages",
        ] {
            assert!(chart[key].is_object(), "charts[].{key}");
        }
        let registry = &props["registries"]["items"]["properties"];
        for key in ["maxConcurrent", "pullBudget", "credentials", "plainHTTP"] {
            assert!(registry[key].is_object(), "registries[].{key}");
        }
    }

    #[test]
    fn unknown_keys_name_the_line_and_the_nearest_key() {
        let bad = SET.replace("    values: {replicaCount: 2}", "    valuesFile: [a.yaml]");
        let e = read(&bad).unwrap_err();
        assert_eq!(e.line, 16);
        assert_eq!(e.path, "charts[0].valuesFile");
        assert!(e.message.contains("did you mean \"valuesFiles\""), "{e}");
    }

    #[test]
    fn wrong_types_and_bad_ranges_are_errors_at_their_line() {
        let e = read(&SET.replace("maxConcurrent: 4", "maxConcurrent: many")).unwrap_err();
        assert_eq!(
            (e.line, e.path.as_str()),
            (9, "registries[0].maxConcurrent")
        );
        let e = read(&SET.replace("\">=6.0 <7\"", "\">=six\"")).unwrap_err();
        assert_eq!(e.line, 12);
        assert!(
            e.path.contains("podinfo") && e.message.contains("no version"),
            "{e}"
        );
        let e = read(&SET.replace("select: all", "select: newest")).unwrap_err();
        assert!(e.message.contains("{latest: N}"), "{e}");
        let e = read(&SET.replace(
            "{usernameEnv: HUB_USER, passwordEnv: HUB_TOKEN}",
            "{password: x}",
        ))
        .unwrap_err();
        assert!(e.message.contains("unknown key \"password\""), "{e}");
    }
}
