//! The write-ahead log as the log storage of an [openraft](https://docs.rs/openraft) node.
//!
//! [`WalLogStore`] implements openraft's `RaftLogStorage` and `RaftLogReader` on a
//! [`wal_core::Wal`]: one log record per Raft entry (its LSN follows the entry's index), and
//! beside the log a small state file holding the vote, the committed log id and the purge point.
//!
//! - `append` writes the entries into the log and returns once they are readable; a flusher
//!   thread makes them durable and only then calls openraft's flush callback. Appends that
//!   arrive while a sync runs share the next one (group commit).
//! - `save_vote` first makes every entry appended before it durable, then writes the vote
//!   durably: what a crash leaves is always a prefix of the writes in the order openraft made
//!   them.
//! - `truncate_after` maps onto the log's entry-aligned `truncate_after`; `purge` writes the purge
//!   point durably, then drops the log's front (a crash in between is finished on reopen).
//! - `save_committed` is written without a sync: losing it to a power loss is allowed (openraft
//!   then re-applies less at startup); a process crash keeps it.
//!
//! Entries, votes and log ids are encoded with postcard through openraft's serde derives.
//! The crate is generic over the openraft type config; openraft stays out of every other crate.
//!
//! ```no_run
//! use wal_raft::WalLogStore;
//!
//! openraft::declare_raft_types!(
//!     pub TypeConfig: D = String, R = String, AsyncRuntime = openraft_rt_tokio::TokioRuntime,
//! );
//!
//! # fn main() -> Result<(), wal_raft::Error> {
//! let log_store = WalLogStore::<TypeConfig>::open("data/node1/raft-log")?;
//! // Then: openraft::Raft::new(node_id, config, network, log_store, state_machine).await
//! # drop(log_store);
//! # Ok(())
//! # }
//! ```
//!
//! `crates/wal-raft/examples/cluster.rs` runs three nodes in one process.

mod error;
mod flusher;
mod state_file;
mod store;

pub use error::Error;
pub use state_file::STATE_FILE_NAME;
pub use store::WalLogStore;
