//! Every end-to-end test of the native companion (`helm mirror`, `relocate`, the registry
//! client, the Helm 3 and release packages), linked into one binary (`autotests = false` in
//! Cargo.toml): the crate and its dependencies link once, not once per file. Each file is a
//! module named as the file was; `cargo test -p purser-native --test e2e mirror_trust::` runs
//! one of them. They share the registries, proxies and tools in `support/`.

mod support;

mod helm3;
mod mirror_bundle;
mod mirror_bundle_faults;
mod mirror_bundle_interop;
mod mirror_bundle_parts;
mod mirror_confirm;
mod mirror_copy;
mod mirror_copy_options;
mod mirror_helm;
mod mirror_patch;
mod mirror_plan;
mod mirror_scan;
mod mirror_sync;
mod mirror_trust;
mod patch_support;
mod plugin_install;
mod registry;
mod release_image;
mod trust_cosign_tools;
