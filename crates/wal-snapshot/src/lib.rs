//! Checkpoints and snapshots.
//!
//! Not implemented yet. This crate will write snapshots and checkpoint markers using only
//! `wal-core`'s public API; recovery will be the newest valid snapshot plus a deterministic replay
//! of the transactions committed after it. Until then it exports nothing.
