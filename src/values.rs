//! values (being written)
