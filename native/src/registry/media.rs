//! Manifest media types: what the client asks for, what it accepts, and the platforms of an
//! index or manifest list (parsed with oci-client's `OciImageIndex`, which reads both).

use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciImageIndex,
};

use purser::digest::{Digest, DigestError};

use super::PlatformManifest;

pub const OCI_MANIFEST: &str = OCI_IMAGE_MEDIA_TYPE;
pub const OCI_INDEX: &str = OCI_IMAGE_INDEX_MEDIA_TYPE;
pub const DOCKER_MANIFEST: &str = IMAGE_MANIFEST_MEDIA_TYPE;
pub const DOCKER_LIST: &str = IMAGE_MANIFEST_LIST_MEDIA_TYPE;
/// The short-lived OCI 1.1 release-candidate artifact manifest; some registries still hold it.
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header for manifest requests: every manifest and index type purser reads.
/// Docker schema 1 is left out on purpose, so registries convert or refuse instead.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.artifact.manifest.v1+json";

const SUPPORTED: [&str; 5] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_LIST,
    OCI_ARTIFACT_MANIFEST,
];

pub fn is_supported(media_type: &str) -> bool {
    SUPPORTED.contains(&media_type)
}

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// `type/subtype` of a Content-Type value, parameters dropped.
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// The media type of manifest `bytes` served with `content_type`, or why they are not a
/// manifest purser can use. A known Content-Type wins; a generic one (application/json,
/// absent) defers to the manifest's own `mediaType`, then to its shape.
pub fn classify(bytes: &[u8], content_type: Option<&str>) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "the body is not JSON ({e}){}",
            content_type
                .map(|t| format!(", Content-Type {t}"))
                .unwrap_or_default()
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err("the body is JSON but not an object".to_owned());
    };
    let declared = object.get("mediaType").and_then(|v| v.as_str());
    let header = content_type.map(essence).filter(|t| !t.is_empty());
    let media_type = match header {
        Some(t) if SUPPORTED.contains(&t) => t.to_owned(),
        Some(t @ (DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)) => return Err(schema1(t)),
        _ => match declared {
            Some(t) if SUPPORTED.contains(&t) => t.to_owned(),
            Some(t @ (DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)) => return Err(schema1(t)),
            Some(t) => return Err(format!("unsupported manifest media type {t}")),
            None if object.get("schemaVersion").and_then(|v| v.as_i64()) == Some(1) => {
                return Err(schema1(DOCKER_SCHEMA1));
            }
            None if object.contains_key("manifests") => OCI_INDEX.to_owned(),
            None if object.contains_key("config") || object.contains_key("layers") => {
                OCI_MANIFEST.to_owned()
            }
            None => {
                return Err(format!(
                    "not a manifest (Content-Type {}, no mediaType, no manifests, config or layers)",
                    header.unwrap_or("absent")
                ));
            }
        },
    };
    if is_index(&media_type) {
        if !object.get("manifests").is_some_and(|m| m.is_array()) {
            return Err(format!("a {media_type} without a manifests list"));
        }
    } else if media_type != OCI_ARTIFACT_MANIFEST && !object.contains_key("config") {
        return Err(format!("a {media_type} without a config descriptor"));
    }
    Ok(media_type)
}

fn schema1(media_type: &str) -> String {
    format!(
        "{media_type} is Docker's deprecated schema 1, which purser does not read; re-push the image with a current client"
    )
}

/// Why [`platforms`] cannot read an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// Not an index: what is wrong with it.
    Unreadable(String),
    /// An entry's digest is not a digest.
    Digest(DigestError),
}

/// The platform entries of an index, and how many attestation manifests it holds
/// (`vnd.docker.reference.type: attestation-manifest`, or platform unknown/unknown), which are
/// not platforms. Entries without a platform are kept with empty os and architecture.
pub fn platforms(bytes: &[u8]) -> Result<(Vec<PlatformManifest>, usize), IndexError> {
    let index: OciImageIndex = serde_json::from_slice(bytes)
        .map_err(|e| IndexError::Unreadable(format!("the index does not parse: {e}")))?;
    let mut platforms = Vec::with_capacity(index.manifests.len());
    let mut attestations = 0;
    for entry in index.manifests {
        let attestation = entry
            .annotations
            .as_ref()
            .and_then(|a| a.get("vnd.docker.reference.type"))
            .is_some_and(|t| t == "attestation-manifest");
        let (os, architecture, variant) = match &entry.platform {
            Some(p) => (
                p.os.to_string(),
                p.architecture.to_string(),
                p.variant.clone().filter(|v| !v.is_empty()),
            ),
            None => (String::new(), String::new(), None),
        };
        if attestation || (os == "unknown" && architecture == "unknown") {
            attestations += 1;
            continue;
        }
        platforms.push(PlatformManifest {
            digest: Digest::parse(&entry.digest).map_err(IndexError::Digest)?,
            media_type: entry.media_type,
            os,
            architecture,
            variant,
        });
    }
    Ok((platforms, attestations))
}

/// Config media types that hold an image's platform (`os`, `architecture`, `variant`).
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// The config descriptor of an image manifest, when its config is an image config:
/// (media type, digest). Artifacts and anything unreadable give `None`.
pub fn image_config(manifest: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let config = value.get("config")?;
    let media_type = config.get("mediaType")?.as_str()?;
    let digest = config.get("digest")?.as_str()?;
    IMAGE_CONFIGS
        .contains(&media_type)
        .then(|| (media_type.to_owned(), digest.to_owned()))
}

/// `os`, `architecture` and `variant` of an image config.
pub fn config_platform(config: &[u8]) -> Result<(String, String, Option<String>), String> {
    let value: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("does not parse: {e}"))?;
    let text = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let os = text("os").ok_or("has no `os`")?;
    let architecture = text("architecture").ok_or("has no `architecture`")?;
    Ok((os, architecture, text("variant").filter(|v| !v.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_by_header_body_and_shape() {
        let manifest = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(
            classify(manifest, Some(DOCKER_MANIFEST)).unwrap(),
            DOCKER_MANIFEST
        );
        assert_eq!(
            classify(manifest, Some("application/json")).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(classify(manifest, None).unwrap(), OCI_MANIFEST);
        let list = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[]}}"#);
        assert_eq!(
            classify(list.as_bytes(), Some("text/plain")).unwrap(),
            DOCKER_LIST
        );
        assert!(
            classify(b"<html>", Some("text/html"))
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            classify(br#"{"schemaVersion":1,"fsLayers":[]}"#, None)
                .unwrap_err()
                .contains("schema 1")
        );
        assert!(
            classify(br#"{"a":1}"#, None)
                .unwrap_err()
                .contains("not a manifest")
        );
        assert!(
            classify(br#"{"schemaVersion":2}"#, Some(OCI_INDEX))
                .unwrap_err()
                .contains("without a manifests")
        );
    }

    #[test]
    fn platforms_skip_attestations() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1,"platform":{"os":"unknown","architecture":"unknown"},"annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":1,"platform":{"os":"windows","architecture":"amd64","os.version":"10.0"}}
        ]}"#;
        let (platforms, attestations) = platforms(index).unwrap();
        assert_eq!(attestations, 1);
        assert_eq!(platforms.len(), 2);
        assert_eq!(platforms[0].architecture, "arm");
        assert_eq!(platforms[0].variant.as_deref(), Some("v7"));
        assert_eq!(platforms[1].os, "windows");
        assert_eq!(platforms[1].digest.hex(), "c".repeat(64));
    }

    #[test]
    fn platforms_refuse_a_malformed_entry_digest() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:AA","size":1,"platform":{"os":"linux","architecture":"amd64"}}
        ]}"#;
        assert!(matches!(
            platforms(index),
            Err(IndexError::Digest(DigestError::NotLowercaseHex { .. }))
        ));
        assert!(matches!(platforms(b"{}"), Err(IndexError::Unreadable(_))));
    }
}
