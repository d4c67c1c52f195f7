//! The image's SBOM: a CycloneDX 1.5 document per platform ([`cyclonedx`]) naming the image,
//! the purser binary (with its sha256), the CA bundle, and every crate linked into the binary
//! for that platform ([`linked_crates`], read from `cargo metadata --filter-platform TRIPLE`:
//! the normal dependencies reachable from the binary's package, proc-macros left out since
//! they run at build time only). No clock and no random serial number in it: the same inputs
//! give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// A crate compiled into the binary.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// `registry+https://…` for crates.io, `None` for a path (workspace) crate.
    pub source: Option<String>,
}

impl Crate {
    fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }
}

/// The crates `root` (a package name) links for the platform `cargo metadata` was filtered
/// to, `root` included; an error names what the document lacks.
pub fn linked_crates(metadata: &Value, root: &str) -> Result<Vec<Crate>, String> {
    let packages: BTreeMap<&str, &Value> = metadata["packages"]
        .as_array()
        .ok_or("no `packages`: is it `cargo metadata --format-version 1` output?")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let nodes: BTreeMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("no `resolve.nodes`: run cargo metadata without --no-deps")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let start = packages
        .iter()
        .find(|(_, p)| p["name"] == root)
        .map(|(id, _)| *id)
        .ok_or_else(|| format!("no package {root} in it: run it in purser's workspace"))?;
    let proc_macro = |p: &Value| {
        p["targets"].as_array().is_some_and(|ts| {
            ts.iter().any(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "proc-macro"))
            })
        })
    };
    let mut seen = BTreeSet::from([start]);
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()));
            let Some(pkg) = dep["pkg"].as_str() else {
                continue;
            };
            if normal && packages.get(pkg).is_some_and(|p| !proc_macro(p)) && seen.insert(pkg) {
                todo.push(pkg);
            }
        }
    }
    let mut crates: Vec<Crate> = seen
        .iter()
        .map(|id| {
            let p = packages[id];
            Crate {
                name: p["name"].as_str().unwrap_or_default().to_owned(),
                version: p["version"].as_str().unwrap_or_default().to_owned(),
                source: p["source"].as_str().map(str::to_owned),
            }
        })
        .collect();
    crates.sort();
    Ok(crates)
}

/// What the SBOM describes.
pub struct SbomInput<'a> {
    pub version: &'a str,
    pub platform: &'a str,
    pub created: &'a str,
    /// `sha256:…` of the binary at /usr/local/bin/purser.
    pub binary: &'a str,
    /// `sha256:…` of the CA bundle.
    pub ca_bundle: &'a str,
    /// The crates linked in, the binary's own package among them.
    pub crates: &'a [Crate],
}

/// The CycloneDX 1.5 JSON document.
pub fn cyclonedx(input: &SbomInput) -> Vec<u8> {
    let hex = |d: &str| d.trim_start_matches("sha256:").to_owned();
    let binary_ref = format!("pkg:oci/purser@{}", input.version);
    let mut components = vec![
        json!({
            "type": "application",
            "bom-ref": "file:/usr/local/bin/purser",
            "name": "purser",
            "version": input.version,
            "hashes": [{"alg": "SHA-256", "content": hex(input.binary)}],
            "properties": [{"name": "path", "value": "/usr/local/bin/purser"}],
        }),
        json!({
            "type": "file",
            "bom-ref": "file:/etc/ssl/certs/ca-certificates.crt",
            "name": "/etc/ssl/certs/ca-certificates.crt",
            "hashes": [{"alg": "SHA-256", "content": hex(input.ca_bundle)}],
        }),
    ];
    for c in input.crates {
        let mut component = json!({
            "type": "library",
            "bom-ref": c.purl(),
            "name": c.name,
            "version": c.version,
            "purl": c.purl(),
        });
        if c.source.is_none() {
            component["properties"] = json!([{"name": "cargo:source", "value": "workspace"}]);
        }
        components.push(component);
    }
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": input.created,
            "tools": {"components": [{"type": "application", "name": "purser", "version": input.version}]},
            "component": {
                "type": "container",
                "bom-ref": binary_ref,
                "name": "purser",
                "version": input.version,
                "properties": [{"name": "platform", "value": input.platform}],
            },
        },
        "components": components,
        "dependencies": [{
            "ref": "file:/usr/local/bin/purser",
            "dependsOn": input.crates.iter().map(Crate::purl).collect::<Vec<_>>(),
        }],
    });
    serde_json::to_vec_pretty(&document).expect("an SBOM serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_crates_follow_normal_dependencies_only() {
        let dep = |pkg: &str, kind: Value| json!({"pkg": pkg, "dep_kinds": [{"kind": kind}]});
        let metadata = json!({
            "packages": [
                {"id": "app", "name": "app", "version": "1.0.0", "source": null, "targets": [{"kind": ["bin"]}]},
                {"id": "lib", "name": "lib", "version": "2.0.0", "source": "registry+https://github.com/rust-lang/crates.io-index", "targets": [{"kind": ["lib"]}]},
                {"id": "derive", "name": "derive", "version": "1.0.0", "source": "registry+x", "targets": [{"kind": ["proc-macro"]}]},
                {"id": "cc", "name": "cc", "version": "1.0.0", "source": "registry+x", "targets": [{"kind": ["lib"]}]},
                {"id": "test", "name": "tempfile", "version": "3.0.0", "source": "registry+x", "targets": [{"kind": ["lib"]}]},
                {"id": "deep", "name": "deep", "version": "0.1.0", "source": "registry+x", "targets": [{"kind": ["lib"]}]},
            ],
            "resolve": {"nodes": [
                {"id": "app", "deps": [dep("lib", Value::Null), dep("derive", Value::Null), dep("cc", json!("build")), dep("test", json!("dev"))]},
                {"id": "lib", "deps": [dep("deep", Value::Null)]},
                {"id": "cc", "deps": []},
            ]},
        });
        let names: Vec<String> = linked_crates(&metadata, "app")
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["app", "deep", "lib"]);
        assert!(
            linked_crates(&metadata, "nope")
                .unwrap_err()
                .contains("no package nope")
        );
        assert!(linked_crates(&json!({}), "app").is_err());
    }
}
