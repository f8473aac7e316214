//! The engine of the write-ahead log: the crate applications call.
//!
//! - [`Wal::open`] recovers the log (creating it if needed; [`Wal::open_existing`] only opens
//!   one that is there) and returns a [`RecoveryReport`]; [`Options`] sets the chunk and
//!   segment sizes of a new log (an existing one keeps those its files state), the
//!   [`Durability`], the [`RecoveryMode`] and a size limit.
//! - [`Wal::append`] and [`Wal::append_batch`] write self-contained records; [`Wal::begin`]
//!   starts a [`Txn`] of deltas that commits or aborts as a whole. Many threads append in
//!   parallel: LSNs and space are reserved under a short lock, the bytes are copied outside it,
//!   and records are published in LSN order. Commits share syncs (group commit).
//! - [`Wal::append_durable`], [`Txn::commit_async`] and [`Wal::wait_durable`] are the same for
//!   async code: futures (any executor: plain `std::task::Waker`s) that block no thread while
//!   the sync runs; they share syncs with committing threads. `append`, `commit`, `sync` and
//!   `wait_commit` block the calling thread.
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
//!
//! # Watching recovery
//!
//! Opening a log is observable through [`tracing`](https://docs.rs/tracing): recovery runs in
//! an `info` span `wal.recover` (fields `dir`, `mode`; `segments`, `records` and `bytes_cut`
//! recorded at its end), and every repair is a `warn` event with structured fields. A clean
//! open emits one `info` event, and the append and commit paths emit nothing while they
//! succeed. [`RecoveryReport`]'s `Display` says the same in a few lines.
//!
//! | level | target | when | fields |
//! |---|---|---|---|
//! | info | `wal::recovery` | a log is recovered (once per open) | `dir`, `mode`, `segments`, `records`, `start`, `end`, `elapsed_ms`, `report` (its `Display`) |
//! | info | `wal::recovery` | the log keeps its chunk size, not the options' | `dir`, `requested`, `on_disk` |
//! | debug | `wal::recovery` | a segment is opened and scanned | `segment`, `first`, `next`, `frames`, `end_chunk`, `end_offset`, `end`, `index_confirmed`, `sealed` |
//! | warn | `wal::recovery` | a torn tail is cut | `segment`, `path`, `chunk`, `offset` (in the chunk), `file_offset`, `bytes_cut`, `reason` |
//! | warn | `wal::recovery` | an index is rebuilt | `segment`, `kept` (entries that agreed), `records` |
//! | warn | `wal::recovery` | point-in-time recovery drops records | `segment`, `path`, `from`, `later_segments`, `damage` |
//! | warn | `wal::recovery` | a file is deleted (obsolete segment, orphan index) | `path`, `reason` |
//! | warn | `wal::recovery` | recovery refuses the log or fails | `dir`, `mode`, `error` |
//! | warn | `wal::recovery` | a repair is left to the next open (full disk) | `error` |
//! | warn | `wal::poison` | a failed write or sync poisons the log (once) | `dir`, `cause` |
//! | info | `wal::segment` | `truncate_after` cuts the log | `next`, `superseded` |
//! | debug | `wal::segment` | segments leave the front (prune, `truncate_before`) | `segments`, `start` |
//! | warn | `wal::segment` | a segment is sealed but its index is left to rebuild | `segment`, `error` |
//! | warn | `wal::prune` | a size-limit prune fails (retried at the next roll) | `error` |
//! | warn | `wal::housekeeping` | deleting a retired segment fails (retried) | `error` |
//! | warn | `wal::leak` | a handle outlives a threshold ([`LeakThresholds`]) | `kind`, `age_secs`, `site`, ... |

mod anchor;
mod background;
mod cuts;
mod damage;
mod directory;
mod durable;
mod entry;
mod error;
mod events;
mod group_commit;
pub mod inspect;
mod live_txns;
mod mutex;
mod options;
pub mod plan;
mod read;
mod recovery;
mod replay;
mod report;
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
pub use durable::{AppendDurable, WaitDurable};
pub use entry::{Entry, EntryKind, TxnId};
pub use error::Error;
pub use options::{DEFAULT_SYNCS_IN_FLIGHT, Durability, Options, RecoveryMode};
pub use read::{Reader, Tail};
pub use recovery::FIRST_LSN;
pub use replay::{Committed, Replay, ReplaySummary};
pub use report::{Dropped, RecoveryReport};
pub use segments::{Force, PruneReport};
pub use telemetry::Tracked;
pub use txn::{CommitAsync, Txn};
pub use wal::{Opening, Wal};
pub use wal_format::{Lsn, Record, Tag};
pub use wal_segment::{
    ChunkPreparation, Error as SegmentError, RealStorage, RecordLimit, SegmentEnd, SegmentId,
    SimStorage, SpaceFill, Storage, storage,
};
pub use wal_telemetry::{
    EngineFigures, HeldBack, Kind, KindCounts, LeakThresholds, LeakWarning, LedgerCounts,
    LiveHandle, METRICS, MetricInfo, RecoveryFigures, Telemetry, describe as describe_metrics,
};
