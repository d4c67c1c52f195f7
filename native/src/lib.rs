//! purser-native: the companion library behind the `purser` binary (`helm mirror`, the
//! `relocate` post-renderer, `purser images`). The analysis lives in the `purser` core; this
//! crate adds what needs the machine: Helm as a subprocess ([`helm`], [`render`]), registries
//! ([`registry`]), the storage seam ([`store`]) and the copy engine ([`copy`]) over it,
//! offline bundles written by [`bundle_writer`] and read as a store; a small Kubernetes API
//! client ([`kube`]) for running a plan as Jobs; [`confirm`] reads a registry's answer about an image only heuristics found.
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`images::run`],
//! [`mirror::run`], [`postrender::run`] or [`plugin_push::run`]; tests use this library
//! directly.

pub mod bundle_writer;
pub mod chart_source;
pub mod confirm;
pub mod copy;
pub mod helm;
pub mod images;
pub mod kube;
pub mod mirror;
pub mod patch;
pub mod plugin_push;
pub mod postrender;
pub mod progress;
pub mod registry;
pub mod release_image;
pub mod render;
pub mod scan;
pub mod store;
pub mod trivy;
pub mod trust;

/// An error and its causes, `a: b: c`.
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}
