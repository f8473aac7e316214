//! The engine and public face of the log.
//!
//! Not implemented yet. This crate will provide transactional append (begin / delta / commit /
//! abort markers in the order they happened), configurable durability with group commit,
//! concurrent writers and readers, truncation, pruning and recovery, built on `wal-segment`.
//! Until then it exports nothing.
