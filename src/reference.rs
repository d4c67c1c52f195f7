//! Image references (placeholder; being written).
