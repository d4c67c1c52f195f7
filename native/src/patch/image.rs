//! An image with the patch layer appended: [`append_layer`] takes a platform manifest and its
//! config (their exact bytes) and returns both rewritten — the layer's descriptor after the
//! others (in the manifest's own family of media types), its diff id after the config's
//! `rootfs.diff_ids`, a `history` entry naming purser and the packages — and an annotation on
//! the manifest naming the manifest it was patched from.

use purser::digest::Digest;
use serde_json::{Value, json};

use super::layer::Layer;

/// What the patched platform manifest is made of.
pub struct Appended {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub config: Vec<u8>,
}

/// The annotation that names the original platform manifest on a patched one.
pub const PATCHED_FROM: &str = "dev.purser.patched-from";

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `manifest` (digest `from`) and `config` with `layer` on top; `created_by` goes into the
/// history (`purser patch: libssl3 3.0.17-1~deb12u2 -> 3.0.22-1~deb12u2`), `created` (RFC
/// 3339) is when.
pub fn append_layer(
    manifest: &[u8],
    from: &Digest,
    config: &[u8],
    layer: &Layer,
    created_by: &str,
    created: &str,
) -> Result<Appended, String> {
    let mut manifest: Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let mut config: Value =
        serde_json::from_slice(config).map_err(|e| format!("the image config is not JSON: {e}"))?;
    let media_type = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_MANIFEST)
        .to_owned();
    let layer_type = if media_type == DOCKER_MANIFEST {
        DOCKER_LAYER
    } else {
        OCI_LAYER
    };

    let diff_ids = config
        .pointer_mut("/rootfs/diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or("the image config has no rootfs.diff_ids")?;
    diff_ids.push(json!(layer.diff_id.as_str()));
    let history = config
        .as_object_mut()
        .ok_or("the image config is not a JSON object")?
        .entry("history")
        .or_insert_with(|| json!([]));
    if let Some(history) = history.as_array_mut() {
        history.push(json!({
            "created": created,
            "created_by": created_by,
            "comment": "purser patch: OS packages replaced by their fixed versions",
        }));
    }
    let config = serde_json::to_vec(&config).expect("JSON serialises");

    let object = manifest
        .as_object_mut()
        .ok_or("the manifest is not a JSON object")?;
    let config_descriptor = object
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .ok_or("the manifest has no config")?;
    config_descriptor.insert("digest".into(), json!(Digest::sha256(&config).as_str()));
    config_descriptor.insert("size".into(), json!(config.len()));
    object
        .get_mut("layers")
        .and_then(Value::as_array_mut)
        .ok_or("the manifest has no layers")?
        .push(json!({
            "mediaType": layer_type,
            "digest": layer.digest.as_str(),
            "size": layer.gzip.len(),
        }));
    if media_type != DOCKER_MANIFEST {
        let annotations = object
            .entry("annotations")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or("the manifest's annotations are not an object")?;
        annotations.insert(PATCHED_FROM.into(), json!(from.as_str()));
    }
    Ok(Appended {
        manifest: serde_json::to_vec(&manifest).expect("JSON serialises"),
        media_type,
        config,
    })
}
