//! Offline bundles, as data: an OCI image layout ([`layout::Layout`], from a copy plan) plus
//! purser's own files (the images-lock, the chart archives, the bundle manifest
//! [`contents::BundleManifest`]) in a POSIX tar ([`tar`]), possibly split into parts
//! ([`contents::Contents`]). Reading and writing the bytes is the native side's job.

pub mod contents;
pub mod layout;
pub mod tar;
