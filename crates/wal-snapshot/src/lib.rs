//! Snapshots and checkpoints: the log as the persistence layer of an in-memory state.
//!
//! A write-ahead log is a fast, fine-grained record of changes, not a compact store or a fast
//! way to recover. A [`Durable`] pairs the log with the application's [`StateMachine`]:
//!
//! - [`Durable::execute`] writes a transaction of [`Change`]s to the log and applies it to the
//!   state, in commit order, before acknowledging it.
//! - [`Durable::checkpoint`] fixes a commit boundary (holding commits back only for that),
//!   writes the state's image to a snapshot file (temporary file, sync, rename, directory
//!   sync), keeps the newest few, and prunes the log they make unnecessary.
//! - [`Durable::open`] rebuilds the state: the newest snapshot that passes its checks, then the
//!   transactions committed after it (those it already holds are skipped). A damaged snapshot
//!   falls back to the one before; missing history is an error naming the gap, never a partial
//!   state. Damage in the log below the newest valid snapshot's point (history kept only for
//!   older snapshots) moves the log's start past it instead of failing ([`FrontCut`]);
//!   [`recover_log`] does this recovery without a state machine (the `wal recover` command).
//! - [`check_determinism`] rebuilds the state more than one way and compares digests.
//!
//! [`kv::KvStore`] is a small key-value state machine, the example and the test workload. The
//! snapshot file is specified in `docs/format.md`. This crate uses only `wal-core`'s public API.
//!
//! Opening is observable through `tracing`: an `info` span `wal.snapshot.open` (field `dir`)
//! holds the log's own recovery events (`wal-core`'s table) and these, at target
//! `wal::snapshot`; [`OpenReport`]'s `Display` says the same in a few lines.
//!
//! | level | when | fields |
//! |---|---|---|
//! | info | a state is opened (once per open) | `dir`, `snapshot` (or `none`), `skipped`, `replayed`, `elapsed_ms`, `report` (its `Display`) |
//! | warn | a snapshot fails its checks and the state falls back | `path`, `reason`, `fallback` (an older snapshot, or the log's beginning) |
//! | warn | damage below the newest valid snapshot's point: the log's start moves past it | `dir`, `from`, `to`, `damage`, `snapshot` |
//! | warn | an older snapshot needs history such a cut removed: no longer a fallback | `path`, `start` |
//! | warn | a temporary file of an interrupted checkpoint is deleted | `path` |
//! | warn | a checkpoint deletes a snapshot recovery passed over as damaged | `path` |
//! | debug | a checkpoint deletes a snapshot no longer kept | `path` |
//!
//! ```
//! use wal_snapshot::{Durable, SnapshotOptions, kv::KvStore};
//!
//! let dir = tempfile::tempdir()?;
//! let (store, _) = Durable::<KvStore>::open(dir.path(), SnapshotOptions::default())?;
//! store.execute(&[KvStore::put(b"x", b"1").as_change(), KvStore::put(b"y", b"2").as_change()])?;
//! store.checkpoint()?;
//! store.execute(&[KvStore::delete(b"x").as_change()])?;
//! drop(store);
//!
//! let (store, report) = Durable::<KvStore>::open(dir.path(), SnapshotOptions::default())?;
//! assert!(report.snapshot.is_some());
//! assert_eq!(report.replayed, 1); // only the delete: the snapshot held the puts
//! assert_eq!(store.read(|kv| (kv.get(b"x").is_none(), kv.get(b"y") == Some(&b"2"[..]))), (true, true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod determinism;
mod durable;
mod error;
mod events;
mod file;
pub mod kv;
mod log;
mod machine;
mod opening;
mod rebuild;
mod report;

pub use determinism::{DeterminismReport, Digest, check_determinism, digest};
pub use durable::{CheckpointReport, Durable, SnapshotOptions};
pub use error::Error;
pub use file::{
    SNAPSHOT_HEADER_BYTES, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, SnapshotHeader, check_snapshot,
    snapshot_file_name,
};
pub use log::Log;
pub use machine::{Body, Change, StateMachine, Unit};
pub use opening::{LogOpening, recover_log};
pub use report::{FrontCut, OpenReport};
