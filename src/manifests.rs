//! manifests (being written)
