//! The engine of the write-ahead log: the crate applications call.
//!
//! - [`Wal::open`] recovers the log and returns a [`RecoveryReport`]; [`Options`] sets the
//!   chunk and segment sizes, the [`Durability`], the [`RecoveryMode`] and a size limit.
//! - [`Wal::append`] and [`Wal::append_batch`] write self-contained records; [`Wal::begin`]
//!   starts a [`Txn`] of deltas that commits or aborts as a whole. Many threads append in
//!   parallel: LSNs and space are reserved under a short lock, the bytes are copied outside it,
//!   and records are published in LSN order. Commits share syncs (group commit).
//! - [`Wal::get`], [`Wal::read_from`] and [`Wal::tail_from`] read while others write, with
//!   zero-copy payloads; [`Wal::replay`] yields committed work in commit order.
//! - [`Wal::truncate_before`], [`Wal::truncate_after`] and [`Wal::prune`] remove records on
//!   record boundaries, crash-safely.
//! - [`Wal::telemetry`] tells which handles are alive, where they were created and what they
//!   hold back; the same figures go to the `metrics` facade ([`METRICS`]), each series
//!   labelled with its log ([`Options::metrics_label`]), and leaks are warned about through
//!   `tracing` ([`LeakThresholds`]). `examples/prometheus.rs` serves them to Prometheus.
//! - [`inspect::Inspector`] looks at a log without changing it (what recovery would find),
//!   for tools such as the `wal` command.
//!
//! `docs/ARCHITECTURE.md` maps the modules; `docs/format.md` says what a crash at each step
//! leaves.

mod anchor;
mod background;
mod cuts;
mod damage;
mod entry;
mod error;
mod group_commit;
pub mod inspect;
mod live_txns;
mod mutex;
mod options;
pub mod plan;
mod read;
mod recovery;
mod replay;
mod segments;
mod shared;
mod stats;
mod tail;
mod telemetry;
mod truncate;
mod txn;
mod wal;

pub use anchor::ANCHOR_FILE_NAME;
pub use damage::{Damage, DataEnd, TornTail};
pub use entry::{Entry, EntryKind, TxnId};
pub use error::Error;
pub use options::{Durability, Options, RecoveryMode};
pub use read::{Reader, Tail};
pub use recovery::{Dropped, FIRST_LSN, RecoveryReport};
pub use replay::{Committed, Replay, ReplaySummary};
pub use segments::{Force, PruneReport};
pub use telemetry::Tracked;
pub use txn::Txn;
pub use wal::{Opening, Wal};
pub use wal_format::{Lsn, Record, Tag};
pub use wal_segment::{
    ChunkPreparation, Error as SegmentError, RealStorage, SegmentEnd, SegmentId, SimStorage,
    SpaceFill, Storage, storage,
};
pub use wal_telemetry::{
    EngineFigures, HeldBack, Kind, KindCounts, LeakThresholds, LeakWarning, LedgerCounts,
    LiveHandle, METRICS, MetricInfo, RecoveryFigures, Telemetry, describe as describe_metrics,
};
