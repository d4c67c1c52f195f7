//! purser core: every container image a Helm chart needs, found without I/O.
//!
//! Bytes go in (a rendered manifest stream, a chart archive, a values file), findings come
//! out, and a report renders them. Nothing here reads files, spawns processes or touches the
//! network, so the same code runs natively and inside Helm's WebAssembly sandbox.

pub mod annotations;
pub mod bundle;
pub mod chart;
pub mod chart_artifact;
pub mod declared;
pub mod destination;
pub mod digest;
pub mod heuristics;
pub mod images_command;
pub mod inventory;
pub mod lock;
pub mod manifests;
pub mod patch;
pub mod plan;
pub mod plugin_artifact;
pub mod reference;
pub mod relocate;
pub mod report;
pub mod scan;
pub mod sets;
pub mod switches;
pub mod values;
pub mod yaml;
