//! chart (being written)
