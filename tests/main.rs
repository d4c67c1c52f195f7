//! Every end-to-end test of the core and the `helm images` plugin, linked into one binary
//! (`autotests = false` in Cargo.toml): the crate and its dependencies link once, not once per
//! file. Each file is a module named as the file was; `cargo test --test e2e relocate::` runs
//! one of them. They share the helpers in `support/`.

mod support;

mod bad_input;
mod corpus;
mod helm_images;
mod plugin_loads;
mod relocate;
mod render_all;
mod yaml_differential;
