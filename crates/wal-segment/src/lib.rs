//! Segment files: the only layer that opens, maps, syncs or deletes files.
//!
//! Not implemented yet. This crate will append frames encoded by `wal-format` into memory-mapped
//! 16 MiB chunks, keep a sidecar index of exact record boundaries, seal finished segments, hold the
//! directory lock, and provide a simulated storage that tests can crash. Until then it exports
//! nothing, so nothing can depend on behaviour it does not have.
