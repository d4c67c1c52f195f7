//! A `helmper.yaml`, read as helmper reads it, into a [`MirrorSet`]: every registry of
//! `registries[]` is a destination (images keep their source path without the host, charts
//! go to `charts/NAME` there), a chart's `version` range means its newest match, `images`
//! edits apply per chart (`exclude` by prefix, `modify` by image prefix or values path),
//! `import.architecture` narrows platforms, `import.cosign` signs, `import.copacetic`
//! patches, `k8s_version` is the render's kube version and `mirrors[]` are where images are
//! read from. Every other field is a [`Warning`].

use super::fields::{Fields, error};
use super::{
    ChartEntry, ChartSource, Credentials, Defaults, ImageEdits, ImageEntry, ImageSource, Kind,
    MirrorSet, Modify, ModifyFrom, Read, RegistrySettings, Select, SetError, Signing, Warning,
};
use crate::yaml::Node;

pub fn parse(doc: &Node<'_>) -> Result<Read, SetError> {
    let mut warnings = Vec::new();
    let top = Fields::lenient(
        doc,
        "",
        &[
            "charts",
            "images",
            "registries",
            "import",
            "k8s_version",
            "mirrors",
        ],
        &[
            ("verbose", "purser's output is chosen by flags (--json)"),
            (
                "update",
                "purser reads chart repositories fresh on every run",
            ),
            (
                "all",
                "purser skips, by digest, only what the target already holds",
            ),
            (
                "parser",
                "purser always renders each chart with its values and reads what it finds",
            ),
        ],
        &mut warnings,
    )?;
    let mut set = MirrorSet::default();
    let mut hosts: Vec<RegistrySettings> = Vec::new();
    for (i, n) in top.list("registries")?.iter().enumerate() {
        let path = format!("registries[{i}]");
        let r = Fields::lenient(
            n,
            &path,
            &["url", "plainHTTP", "insecure"],
            &[
                ("name", "purser names a registry by its host"),
                (
                    "prefixSource",
                    "purser keeps the source path without the host; use a MirrorSet `map` to add one",
                ),
            ],
            &mut warnings,
        )?;
        let url = r.required("url")?;
        let to = strip_scheme(&url).trim_end_matches('/').to_owned();
        let host = to.split('/').next().unwrap_or(&to).to_owned();
        set.defaults.to.push(to);
        let plain_http = r.bool("plainHTTP")?.unwrap_or(false);
        let insecure = r.bool("insecure")?.unwrap_or(false);
        if plain_http || insecure {
            hosts.push(RegistrySettings {
                line: r.line(),
                host,
                plain_http,
                insecure,
                ..RegistrySettings::default()
            });
        }
    }
    if let Some(n) = top.get("import") {
        import(n, &mut set.defaults, &mut warnings)?;
    }
    set.defaults.kube_version = top.string("k8s_version")?;
    for (i, n) in top.list("mirrors")?.iter().enumerate() {
        let m = Fields::lenient(
            n,
            &format!("mirrors[{i}]"),
            &["registry", "mirror"],
            &[],
            &mut warnings,
        )?;
        set.defaults.source_mirrors.push(format!(
            "{}={}",
            m.required("registry")?,
            m.required("mirror")?
        ));
    }
    for (i, n) in top.list("charts")?.iter().enumerate() {
        set.charts.push(chart(
            n,
            &format!("charts[{i}]"),
            &mut hosts,
            &mut warnings,
        )?);
    }
    for (i, n) in top.list("images")?.iter().enumerate() {
        let path = format!("images[{i}]");
        let im = Fields::lenient(
            n,
            &path,
            &["ref"],
            &[("patch", "patching is the set's `import.copacetic` switch")],
            &mut warnings,
        )?;
        set.images.push(ImageEntry {
            line: im.line(),
            source: ImageSource::Ref(im.required("ref")?),
            to: Vec::new(),
            platforms: Vec::new(),
        });
    }
    set.registries = merge_hosts(hosts);
    super::check(&set)?;
    Ok(Read {
        set,
        kind: Kind::Helmper,
        warnings,
    })
}

fn import(
    node: &Node<'_>,
    defaults: &mut Defaults,
    warnings: &mut Vec<Warning>,
) -> Result<(), SetError> {
    let im = Fields::lenient(
        node,
        "import",
        &["enabled", "architecture", "copacetic", "cosign"],
        &[(
            "replaceRegistryReferences",
            "purser leaves charts as published; install with the `relocate` post-renderer",
        )],
        warnings,
    )?;
    if im.bool("enabled")? != Some(true) {
        warnings.push(Warning {
            line: im.line(),
            path: "import.enabled".into(),
            message: "is not true: helmper would only report; `helm mirror sync` copies \
                      (add --dry-run to only report)"
                .into(),
        });
    }
    if let Some(arch) = im.string("architecture")? {
        defaults.platforms.push(arch);
    }
    if let Some(c) = im.get("copacetic") {
        let c = Fields::lenient(
            c,
            "import.copacetic",
            &["enabled"],
            &[
                (
                    "ignoreErrors",
                    "an image purser cannot patch is reported and kept unpatched",
                ),
                ("buildkitd", "purser patches without a daemon"),
                (
                    "trivy",
                    "purser runs Trivy itself (--trivy-server for a server)",
                ),
                ("output", "purser writes reports with --scan-reports"),
            ],
            warnings,
        )?;
        defaults.patch = c.bool("enabled")?.unwrap_or(false);
    }
    if let Some(c) = im.get("cosign") {
        let c = Fields::lenient(
            c,
            "import.cosign",
            &["enabled", "keyRef", "keyRefPass"],
            &[
                (
                    "verifyExisting",
                    "purser signs what it publishes; verify upstream with a policy",
                ),
                ("pubKeyRef", "purser signs with the private key alone"),
                (
                    "allowHTTPRegistry",
                    "purser reaches plain-HTTP registries as the set names them",
                ),
                (
                    "allowInsecure",
                    "purser reaches insecure registries as the set names them",
                ),
            ],
            warnings,
        )?;
        if c.bool("enabled")? == Some(true) {
            if c.get("keyRefPass").is_some() {
                warnings.push(Warning {
                    line: c.line(),
                    path: "import.cosign.keyRefPass".into(),
                    message: "not carried: a password in the file; purser reads it from \
                              COSIGN_PASSWORD, as cosign does"
                        .into(),
                });
            }
            defaults.sign = Some(Signing {
                key: c.required("keyRef")?,
                password_env: None,
            });
        }
    }
    Ok(())
}

fn chart(
    node: &Node<'_>,
    path: &str,
    hosts: &mut Vec<RegistrySettings>,
    warnings: &mut Vec<Warning>,
) -> Result<ChartEntry, SetError> {
    let c = Fields::lenient(
        node,
        path,
        &[
            "name",
            "version",
            "repo",
            "plainHTTP",
            "valuesFilePath",
            "values",
            "images",
        ],
        &[],
        warnings,
    )?;
    let name = c.required("name")?;
    let repo = c
        .get("repo")
        .ok_or_else(|| error(node, path, "`repo` (with its `url`) is required here"))?;
    let rp = c.path_of("repo");
    let r = Fields::lenient(
        repo,
        &rp,
        &[
            "url",
            "username",
            "password",
            "caFile",
            "certFile",
            "keyFile",
            "insecure_skip_tls_verify",
        ],
        &[
            ("name", "purser reads the repository by its URL"),
            (
                "pass_credentials_all",
                "credentials go to the repository's host only",
            ),
        ],
        warnings,
    )?;
    let url = r.required("url")?;
    let host = strip_scheme(&url)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let source = if url.starts_with("oci://") {
        ChartSource::Oci(format!("{}/{name}", url.trim_end_matches('/')))
    } else {
        ChartSource::Repo {
            url: url.clone(),
            name,
        }
    };
    let credentials = match (r.string("username")?, r.string("password")?) {
        (Some(username), Some(password)) => Some(Credentials::Inline { username, password }),
        (None, None) => None,
        _ => {
            return Err(error(
                repo,
                &rp,
                "give both `username` and `password`, or neither",
            ));
        }
    };
    let settings = RegistrySettings {
        line: r.line(),
        host,
        plain_http: c.bool("plainHTTP")?.unwrap_or(false),
        insecure: r.bool("insecure_skip_tls_verify")?.unwrap_or(false),
        ca_file: r.string("caFile")?,
        cert_file: r.string("certFile")?,
        key_file: r.string("keyFile")?,
        credentials,
        ..RegistrySettings::default()
    };
    let bare = RegistrySettings {
        line: settings.line,
        host: settings.host.clone(),
        ..RegistrySettings::default()
    };
    if settings != bare {
        hosts.push(settings);
    }
    let values = match c.get("values") {
        None => None,
        Some(n) => Some(
            crate::yaml::de::from_node::<serde_json::Value>(n)
                .map_err(|e| error(n, &c.path_of("values"), e.message))?,
        ),
    };
    let images = match c.get("images") {
        None => ImageEdits::default(),
        Some(n) => edits(n, &c.path_of("images"), warnings)?,
    };
    Ok(ChartEntry {
        line: c.line(),
        source,
        versions: c.string("version")?.filter(|v| !v.is_empty()),
        select: Select::Latest,
        release: None,
        namespace: None,
        values,
        values_files: c.string("valuesFilePath")?.into_iter().collect(),
        images,
        to: Vec::new(),
        all: None,
        carry_images: true,
    })
}

fn edits(node: &Node<'_>, path: &str, warnings: &mut Vec<Warning>) -> Result<ImageEdits, SetError> {
    let e = Fields::lenient(
        node,
        path,
        &["exclude", "modify"],
        &[(
            "excludeCopacetic",
            "purser patches every image it can when patching is on",
        )],
        warnings,
    )?;
    let mut edits = ImageEdits::default();
    for (i, n) in e.list("exclude")?.iter().enumerate() {
        let x = Fields::lenient(n, &format!("{path}.exclude[{i}]"), &["ref"], &[], warnings)?;
        edits.exclude.push(x.required("ref")?);
    }
    for (i, n) in e.list("modify")?.iter().enumerate() {
        let p = format!("{path}.modify[{i}]");
        let m = Fields::lenient(
            n,
            &p,
            &["from", "fromValuePath", "fromValuesPath", "to"],
            &[],
            warnings,
        )?;
        let value_path = m.string("fromValuePath")?.or(m.string("fromValuesPath")?);
        let from = match (m.string("from")?, value_path) {
            (Some(f), None) => ModifyFrom::Image(f),
            (None, Some(v)) => ModifyFrom::ValuePath(v),
            _ => return Err(error(n, &p, "give one of `from` or `fromValuePath`")),
        };
        edits.modify.push(Modify {
            from,
            to: m.required("to")?,
        });
    }
    Ok(edits)
}

fn strip_scheme(url: &str) -> &str {
    ["oci://", "https://", "http://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .unwrap_or(url)
}

/// One settings entry per host: what two entries for one host say is combined.
fn merge_hosts(hosts: Vec<RegistrySettings>) -> Vec<RegistrySettings> {
    let mut out: Vec<RegistrySettings> = Vec::new();
    for h in hosts {
        match out.iter_mut().find(|o| o.host == h.host) {
            Some(o) => {
                o.plain_http |= h.plain_http;
                o.insecure |= h.insecure;
                o.ca_file = o.ca_file.take().or(h.ca_file);
                o.cert_file = o.cert_file.take().or(h.cert_file);
                o.key_file = o.key_file.take().or(h.key_file);
                o.credentials = o.credentials.take().or(h.credentials);
            }
            None => out.push(h),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::read;
    use super::*;

    const HELMPER: &str = "\
k8s_version: 1.31.1
verbose: true
charts:
- name: podinfo
  version: \">=6.0.0 <7\"
  valuesFilePath: ./values.yaml
  repo:
    name: podinfo
    url: http://127.0.0.1:8080/
  images:
    exclude:
    - ref: ghcr.io/stefanprodan/podinfo-extra
    modify:
    - fromValuesPath: image.repository
      to: docker.io/stefanprodan/podinfo
- name: app
  version: 1.2.3
  plainHTTP: true
  repo:
    url: oci://127.0.0.1:5000/charts
images:
- ref: docker.io/library/busybox:1.36
registries:
- name: mirror
  url: oci://127.0.0.1:5001
  plainHTTP: true
import:
  enabled: true
  architecture: linux/amd64
  copacetic:
    enabled: false
    buildkitd: {addr: unix:///run/buildkit/buildkitd.sock}
mirrors:
- registry: docker.io
  mirror: mirror.gcr.io
";

    #[test]
    fn reads_helmper_as_helmper_does() {
        let read = read(HELMPER).unwrap();
        assert_eq!(read.kind, Kind::Helmper);
        let set = &read.set;
        assert_eq!(set.defaults.to, ["127.0.0.1:5001"]);
        assert_eq!(set.defaults.platforms, ["linux/amd64"]);
        assert_eq!(set.defaults.kube_version.as_deref(), Some("1.31.1"));
        assert_eq!(set.defaults.source_mirrors, ["docker.io=mirror.gcr.io"]);
        let c = &set.charts[0];
        assert_eq!(
            c.source,
            ChartSource::Repo {
                url: "http://127.0.0.1:8080/".into(),
                name: "podinfo".into()
            }
        );
        assert_eq!(c.select, Select::Latest);
        assert_eq!(c.images.exclude, ["ghcr.io/stefanprodan/podinfo-extra"]);
        assert_eq!(
            c.images.modify[0].from,
            ModifyFrom::ValuePath("image.repository".into())
        );
        assert_eq!(
            set.charts[1].source,
            ChartSource::Oci("oci://127.0.0.1:5000/charts/app".into())
        );
        let hosts: Vec<(&str, bool)> = set
            .registries
            .iter()
            .map(|r| (r.host.as_str(), r.plain_http))
            .collect();
        assert_eq!(hosts, [("127.0.0.1:5001", true), ("127.0.0.1:5000", true)]);
        let warned: Vec<&str> = read.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(
            warned,
            [
                "verbose",
                "registries[0].name",
                "import.copacetic.buildkitd",
                "charts[0].repo.name"
            ],
            "{:?}",
            read.warnings
        );
        assert_eq!(read.warnings[0].line, 2);
    }
}
