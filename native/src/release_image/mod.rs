//! `purser image push`: purser's own container image, the `--image` that `helm mirror jobs`
//! runs, built without a daemon and pushed with purser's registry code.
//!
//! [`build`] (no I/O) makes a [`ReleaseImage`] from [`Inputs`]: per platform, a config and an
//! OCI manifest of two gzip layers — a base shared by every platform (the CA bundle at
//! `/etc/ssl/certs/ca-certificates.crt`, `/etc/passwd` and `/etc/group` with the non-root user
//! `nonroot` 65532, its home, `/tmp` 1777) and the static binary at `/usr/local/bin/purser`
//! (0555) —, an OCI index over them, and a CycloneDX SBOM per platform ([`sbom`]). Layers are
//! reproducible: members in path order, owner 0 (the home 65532), every mtime the `created`
//! time, gzip without a name or time; configs and indexes carry the
//! `org.opencontainers.image.*` labels. Same inputs, same digests.
//!
//! [`push::run`] pushes it through the copy engine (blobs, then manifests children first, by
//! digest), attaches each SBOM as a referrer of its platform manifest, signs the index and its
//! manifests with the release key (cosign's format, [`crate::trust::sign::Signer`]) and sets the tag
//! last: the tag never names an image whose SBOM or signature is missing.

pub mod elf;
pub mod push;
pub mod sbom;

use std::collections::BTreeMap;

use purser::digest::Digest;
use purser::plan::{OCI_INDEX, OCI_MANIFEST, annotation};
use serde_json::{Value, json};

use crate::patch::archive::{Entry, EntryKind};
use crate::patch::layer::{Layer, LayerBuilder};
use sbom::{Crate, SbomInput};

pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The user the image runs as (distroless's `nonroot`), as `helm mirror jobs` asks for it.
pub const NONROOT: u64 = 65532;
pub const BINARY_PATH: &str = "/usr/local/bin/purser";
pub const CA_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One platform's binary and the crates linked into it.
pub struct PlatformInput {
    /// `amd64` or `arm64` (the OS is linux).
    pub architecture: String,
    pub binary: Vec<u8>,
    pub crates: Vec<Crate>,
}

/// Everything the image is made of.
pub struct Inputs {
    pub platforms: Vec<PlatformInput>,
    pub ca_bundle: Vec<u8>,
    pub version: String,
    /// The source commit (`org.opencontainers.image.revision`).
    pub revision: Option<String>,
    /// The source repository URL (`org.opencontainers.image.source`).
    pub source: Option<String>,
    /// Seconds since the epoch: every mtime, `created` and the SBOM's timestamp.
    pub created: i64,
}

/// One platform's manifest, its SBOM, and what a report says of it.
pub struct PlatformImage {
    pub platform: String,
    pub manifest: Vec<u8>,
    pub digest: Digest,
    pub sbom: Vec<u8>,
}

/// The built image: every blob by digest, the platform manifests, the index.
pub struct ReleaseImage {
    pub blobs: BTreeMap<Digest, Vec<u8>>,
    pub platforms: Vec<PlatformImage>,
    pub index: Vec<u8>,
    pub index_digest: Digest,
}

fn entry(path: &str, kind: EntryKind, mode: u32, owner: u64, mtime: u64, data: Vec<u8>) -> Entry {
    Entry {
        path: path.to_owned(),
        kind,
        mode,
        uid: owner,
        gid: owner,
        mtime,
        data,
    }
}

fn dirs(layer: &mut LayerBuilder, paths: &[&str], mtime: u64) {
    for path in paths {
        layer.entry(entry(path, EntryKind::Dir, 0o755, 0, mtime, Vec::new()));
    }
}

fn base_layer(ca_bundle: &[u8], mtime: u64) -> std::io::Result<Layer> {
    let mut layer = LayerBuilder::default();
    dirs(
        &mut layer,
        &["/etc", "/etc/ssl", "/etc/ssl/certs", "/home"],
        mtime,
    );
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{NONROOT}:\n");
    layer.file("/etc/passwd", passwd.into_bytes(), 0o444, mtime);
    layer.file("/etc/group", group.into_bytes(), 0o444, mtime);
    layer.file(CA_PATH, ca_bundle.to_vec(), 0o444, mtime);
    layer.entry(entry(
        "/home/nonroot",
        EntryKind::Dir,
        0o700,
        NONROOT,
        mtime,
        Vec::new(),
    ));
    layer.entry(entry("/tmp", EntryKind::Dir, 0o1777, 0, mtime, Vec::new()));
    layer.finish(mtime)
}

fn binary_layer(binary: &[u8], mtime: u64) -> std::io::Result<Layer> {
    let mut layer = LayerBuilder::default();
    dirs(&mut layer, &["/usr", "/usr/local", "/usr/local/bin"], mtime);
    layer.file(BINARY_PATH, binary.to_vec(), 0o555, mtime);
    layer.finish(mtime)
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::sha256(bytes).to_string(), "size": bytes.len()})
}

impl Inputs {
    /// The `org.opencontainers.image.*` labels of every config and the index.
    fn labels(&self) -> BTreeMap<&'static str, String> {
        let mut labels = BTreeMap::from([
            (annotation::TITLE, "purser".to_owned()),
            (
                annotation::DESCRIPTION,
                "Every container image a Helm chart pulls, carried where you need it".to_owned(),
            ),
            (annotation::VERSION, self.version.clone()),
            (annotation::CREATED, purser::lock::rfc3339(self.created)),
            (annotation::LICENSES, "Apache-2.0".to_owned()),
        ]);
        if let Some(revision) = &self.revision {
            labels.insert(annotation::REVISION, revision.clone());
        }
        if let Some(source) = &self.source {
            labels.insert(annotation::SOURCE, source.clone());
        }
        labels
    }
}

/// Builds the image; an error only when a layer cannot be written.
pub fn build(inputs: &Inputs) -> std::io::Result<ReleaseImage> {
    let mtime = u64::try_from(inputs.created).unwrap_or(0);
    let created = purser::lock::rfc3339(inputs.created);
    let labels = inputs.labels();
    let base = base_layer(&inputs.ca_bundle, mtime)?;
    let mut blobs = BTreeMap::from([(base.digest.clone(), base.gzip.clone())]);
    let mut platforms = Vec::new();
    let mut entries = Vec::new();
    for p in &inputs.platforms {
        let binary = binary_layer(&p.binary, mtime)?;
        let config = serde_json::to_vec(&json!({
            "created": created,
            "architecture": p.architecture,
            "os": "linux",
            "config": {
                "User": format!("{NONROOT}:{NONROOT}"),
                "Entrypoint": [BINARY_PATH],
                "Env": [
                    "PATH=/usr/local/bin:/usr/bin:/bin",
                    format!("SSL_CERT_FILE={CA_PATH}"),
                    "HOME=/home/nonroot",
                ],
                "WorkingDir": "/home/nonroot",
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": [base.diff_id.to_string(), binary.diff_id.to_string()]},
            "history": [
                {"created": created, "created_by": "purser image push: CA certificates, passwd, group, /home/nonroot, /tmp"},
                {"created": created, "created_by": format!("purser image push: {BINARY_PATH}")},
            ],
        }))
        .expect("a config serialises");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": [descriptor(OCI_LAYER, &base.gzip), descriptor(OCI_LAYER, &binary.gzip)],
            "annotations": {annotation::CREATED: created, annotation::VERSION: inputs.version},
        }))
        .expect("a manifest serialises");
        let digest = Digest::sha256(&manifest);
        let platform = format!("linux/{}", p.architecture);
        let sbom = sbom::cyclonedx(&SbomInput {
            version: &inputs.version,
            platform: &platform,
            created: &created,
            binary: Digest::sha256(&p.binary).as_str(),
            ca_bundle: Digest::sha256(&inputs.ca_bundle).as_str(),
            crates: &p.crates,
        });
        let mut entry = descriptor(OCI_MANIFEST, &manifest);
        entry["platform"] = json!({"os": "linux", "architecture": p.architecture});
        entries.push(entry);
        blobs.insert(Digest::sha256(&config), config);
        blobs.insert(binary.digest.clone(), binary.gzip);
        platforms.push(PlatformImage {
            platform,
            manifest,
            digest,
            sbom,
        });
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
        "annotations": labels,
    }))
    .expect("an index serialises");
    Ok(ReleaseImage {
        blobs,
        platforms,
        index_digest: Digest::sha256(&index),
        index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(created: i64) -> Inputs {
        Inputs {
            platforms: ["amd64", "arm64"]
                .iter()
                .map(|a| PlatformInput {
                    architecture: (*a).to_owned(),
                    binary: format!("binary for {a}").into_bytes(),
                    crates: Vec::new(),
                })
                .collect(),
            ca_bundle: b"-----BEGIN CERTIFICATE-----\n".to_vec(),
            version: "1.2.3".into(),
            revision: Some("abc".into()),
            source: None,
            created,
        }
    }

    fn members(gzip: &[u8]) -> Vec<(String, u32, u64, u64)> {
        let tar = flate2::read::GzDecoder::new(gzip);
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn same_inputs_same_digests_and_the_base_is_shared() {
        let a = build(&inputs(1_700_000_000)).unwrap();
        let b = build(&inputs(1_700_000_000)).unwrap();
        assert_eq!(a.index_digest, b.index_digest);
        assert_eq!(a.platforms[0].sbom, b.platforms[0].sbom);
        assert_ne!(build(&inputs(1)).unwrap().index_digest, a.index_digest);
        // base, config and binary per platform, the base once: 5 blobs for 2 platforms.
        assert_eq!(a.blobs.len(), 5);
        let manifests: Vec<Value> = a
            .platforms
            .iter()
            .map(|p| serde_json::from_slice(&p.manifest).unwrap())
            .collect();
        assert_eq!(manifests[0]["layers"][0], manifests[1]["layers"][0]);
        assert_ne!(manifests[0]["layers"][1], manifests[1]["layers"][1]);
    }

    #[test]
    fn layers_are_sorted_root_owned_and_dated_created() {
        let image = build(&inputs(1_700_000_000)).unwrap();
        let manifest: Value = serde_json::from_slice(&image.platforms[1].manifest).unwrap();
        let blob = |i: usize| {
            let digest: Digest = manifest["layers"][i]["digest"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            image.blobs[&digest].clone()
        };
        let base = members(&blob(0));
        let paths: Vec<&str> = base.iter().map(|m| m.0.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort_unstable();
        assert_eq!(paths, sorted);
        assert!(base.iter().all(|m| m.3 == 1_700_000_000));
        let home = base.iter().find(|m| m.0 == "home/nonroot/").unwrap();
        assert_eq!((home.1, home.2), (0o700, NONROOT));
        let tmp = base.iter().find(|m| m.0 == "tmp/").unwrap();
        assert_eq!(tmp.1, 0o1777);
        let binary = members(&blob(1));
        let purser = binary
            .iter()
            .find(|m| m.0 == "usr/local/bin/purser")
            .unwrap();
        assert_eq!((purser.1, purser.2), (0o555, 0));
        let config: Value = serde_json::from_slice(
            &image.blobs[&manifest["config"]["digest"]
                .as_str()
                .unwrap()
                .parse::<Digest>()
                .unwrap()],
        )
        .unwrap();
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.revision"],
            "abc"
        );
    }
}
