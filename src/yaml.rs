//! yaml (being written)
