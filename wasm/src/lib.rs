//! Helm 4 extism/v1 guest (being written).
