//! A [`MirrorSet`] written back in purser's own format (`helm mirror sync --explain`): what
//! purser understood of any file it read, and a start for moving to the MirrorSet format.
//! Secrets another tool's file held inline are written as environment names to set.

use serde::Serialize;

use super::mirror_set::API_VERSION;
use super::{
    ChartSource, Credentials, ImageSource, MirrorSet, ModifyFrom, RegistrySettings, Select,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'s> {
    api_version: &'static str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    defaults: Option<Defaults<'s>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    registries: Vec<Registry<'s>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    charts: Vec<Chart<'s>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Image<'s>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<&'s str>,
}

fn no(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Defaults<'s> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    to: &'s [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    platforms: &'s [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    referrers: Option<bool>,
    #[serde(skip_serializing_if = "no")]
    flatten: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    map: &'s [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    source_mirrors: &'s [String],
    #[serde(skip_serializing_if = "no")]
    all: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    kube_version: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign: Option<Sign<'s>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify: Option<&'s str>,
    #[serde(skip_serializing_if = "no")]
    scan: bool,
    #[serde(skip_serializing_if = "no")]
    patch: bool,
    #[serde(skip_serializing_if = "no")]
    sbom: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sign<'s> {
    key: &'s str,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_env: Option<&'s str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Registry<'s> {
    host: &'s str,
    #[serde(rename = "plainHTTP", skip_serializing_if = "no")]
    plain_http: bool,
    #[serde(skip_serializing_if = "no")]
    insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_file: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_file: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials: Option<Creds<'s>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_budget: Option<Budget<'s>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Creds<'s> {
    #[serde(skip_serializing_if = "Option::is_none")]
    username_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    docker_config: Option<&'s str>,
}

#[derive(Serialize)]
struct Budget<'s> {
    count: u64,
    period: &'s str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Chart<'s> {
    #[serde(skip_serializing_if = "Option::is_none")]
    chart: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repo: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<&'s str>,
    select: SelectOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<&'s serde_json::Value>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    values_files: &'s [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<Edits<'s>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    to: &'s [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    all: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    carry_images: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum SelectOut {
    Word(&'static str),
    Newest { latest: usize },
}

#[derive(Serialize)]
struct Edits<'s> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    exclude: &'s [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    add: &'s [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    modify: Vec<ModifyOut<'s>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModifyOut<'s> {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_path: Option<&'s str>,
    to: &'s str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Image<'s> {
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repo: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Tags<'s>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    to: &'s [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    platforms: &'s [String],
}

#[derive(Serialize)]
struct Tags<'s> {
    #[serde(skip_serializing_if = "Option::is_none")]
    semver: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest: Option<usize>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    allow: &'s [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    deny: &'s [String],
}

/// The environment variable names an inline secret of registry `host` is written as.
pub fn secret_env_names(host: &str) -> (String, String) {
    let stem: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    (format!("{stem}_USERNAME"), format!("{stem}_PASSWORD"))
}

fn registry(r: &RegistrySettings) -> Registry<'_> {
    let credentials = r.credentials.as_ref().map(|c| match c {
        Credentials::Env { username, password } => Creds {
            username_env: Some(username.clone()),
            password_env: Some(password.clone()),
            docker_config: None,
        },
        Credentials::DockerConfig(path) => Creds {
            username_env: None,
            password_env: None,
            docker_config: Some(path),
        },
        Credentials::Inline { .. } => {
            let (u, p) = secret_env_names(&r.host);
            Creds {
                username_env: Some(u),
                password_env: Some(p),
                docker_config: None,
            }
        }
    });
    Registry {
        host: &r.host,
        plain_http: r.plain_http,
        insecure: r.insecure,
        ca_file: r.ca_file.as_deref(),
        cert_file: r.cert_file.as_deref(),
        key_file: r.key_file.as_deref(),
        credentials,
        max_concurrent: r.max_concurrent,
        pull_budget: r.pull_budget.as_ref().map(|b| Budget {
            count: b.count,
            period: &b.period,
        }),
    }
}

/// `set` as a MirrorSet file.
pub fn explain(set: &MirrorSet) -> String {
    let d = &set.defaults;
    let defaults = Defaults {
        to: &d.to,
        platforms: &d.platforms,
        referrers: d.referrers,
        flatten: d.flatten,
        map: &d.map,
        source_mirrors: &d.source_mirrors,
        all: d.all,
        kube_version: d.kube_version.as_deref(),
        sign: d.sign.as_ref().map(|s| Sign {
            key: &s.key,
            password_env: s.password_env.as_deref(),
        }),
        verify: d.verify.as_deref(),
        scan: d.scan,
        patch: d.patch,
        sbom: d.sbom,
    };
    let charts = set
        .charts
        .iter()
        .map(|c| {
            let (chart, repo, name) = match &c.source {
                ChartSource::Local(p) | ChartSource::Oci(p) => (Some(p.as_str()), None, None),
                ChartSource::Repo { url, name } => (None, Some(url.as_str()), Some(name.as_str())),
            };
            let e = &c.images;
            Chart {
                chart,
                repo,
                name,
                versions: c.versions.as_deref(),
                select: match c.select {
                    Select::Latest => SelectOut::Word("latest"),
                    Select::All => SelectOut::Word("all"),
                    Select::Newest(n) => SelectOut::Newest { latest: n },
                },
                release: c.release.as_deref(),
                namespace: c.namespace.as_deref(),
                values: c.values.as_ref(),
                values_files: &c.values_files,
                images: (!(e.exclude.is_empty() && e.add.is_empty() && e.modify.is_empty())).then(
                    || Edits {
                        exclude: &e.exclude,
                        add: &e.add,
                        modify: e
                            .modify
                            .iter()
                            .map(|m| match &m.from {
                                ModifyFrom::Image(f) => ModifyOut {
                                    from: Some(f),
                                    value_path: None,
                                    to: &m.to,
                                },
                                ModifyFrom::ValuePath(v) => ModifyOut {
                                    from: None,
                                    value_path: Some(v),
                                    to: &m.to,
                                },
                            })
                            .collect(),
                    },
                ),
                to: &c.to,
                all: c.all,
                carry_images: (!c.carry_images).then_some(false),
            }
        })
        .collect();
    let images = set
        .images
        .iter()
        .map(|i| {
            let (reference, repo, tags) = match &i.source {
                ImageSource::Ref(r) => (Some(r.as_str()), None, None),
                ImageSource::Repo { repo, tags } => (
                    None,
                    Some(repo.as_str()),
                    Some(Tags {
                        semver: tags.semver.as_deref(),
                        latest: tags.latest,
                        allow: &tags.allow,
                        deny: &tags.deny,
                    }),
                ),
            };
            Image {
                reference,
                repo,
                tags,
                to: &i.to,
                platforms: &i.platforms,
            }
        })
        .collect();
    let doc = Doc {
        api_version: API_VERSION,
        kind: "MirrorSet",
        defaults: (d != &super::Defaults::default()).then_some(defaults),
        registries: set.registries.iter().map(registry).collect(),
        charts,
        images,
        lock: set.lock.as_deref(),
        schedule: set.schedule.as_deref(),
    };
    crate::yaml::write::to_string(&doc).expect("a MirrorSet is plain data")
}

#[cfg(test)]
mod tests {
    use super::super::read;

    #[test]
    fn explained_sets_read_back_the_same() {
        let helmper = "\
charts:
- name: podinfo
  version: \">=6 <7\"
  repo: {url: https://charts.example.com, username: u, password: p}
  images:
    modify: [{from: ghcr.io/a, to: docker.io/a}]
registries:
- url: oci://127.0.0.1:5001
  plainHTTP: true
import: {enabled: true}
";
        let first = read(helmper).unwrap();
        let text = super::explain(&first.set);
        assert!(!text.contains(": p\n"), "a secret was written: {text}");
        assert!(
            text.contains("passwordEnv: CHARTS_EXAMPLE_COM_PASSWORD"),
            "{text}"
        );
        let again = read(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut expected = first.set.clone();
        for r in &mut expected.registries {
            if r.credentials.is_some() {
                let (username, password) = super::secret_env_names(&r.host);
                r.credentials = Some(super::Credentials::Env { username, password });
            }
        }
        let strip = |mut s: super::MirrorSet| {
            s.charts.iter_mut().for_each(|c| c.line = 0);
            s.images.iter_mut().for_each(|i| i.line = 0);
            s.registries.iter_mut().for_each(|r| r.line = 0);
            s
        };
        assert_eq!(strip(again.set), strip(expected));
    }
}
