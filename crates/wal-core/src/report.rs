//! What recovery tells its caller: [`RecoveryReport`] and [`Dropped`], and their `Display`, a
//! few lines for a human (what was found, then what was changed). The same facts go out as
//! `tracing` events while recovery runs (`events.rs`); this module only words them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use wal_format::Lsn;

use crate::damage::{Damage, EndReason, TornTail};

/// What recovery found and did.
///
/// `Display` gives a line of what was found, then one line per change recovery made (or
/// "changed nothing"):
///
/// ```text
/// found 309 records in 2 segments (LSNs 1 to 310), transactions: 1 committed, 1 aborted, in 1.3 ms
/// cut a torn tail of 38 bytes at /log/00000000000000000001.wal, chunk 1, offset 52800: ...
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segment files holding the log's records.
    pub segments: usize,
    /// Records from the log's start to its end (seals and padding not counted).
    pub records: u64,
    /// Self-contained records among them.
    pub self_contained: u64,
    /// Transactions committed.
    pub committed: u64,
    /// Transactions aborted.
    pub aborted: u64,
    /// Transactions a crash left open; recovery appended an abort for each.
    pub unfinished: u64,
    /// Bytes of a torn tail cut off after the last complete record.
    pub bytes_cut: u64,
    /// Where and why the last segment's data ended early (a torn write), if it did.
    pub torn_tail: Option<TornTail>,
    /// Sidecar indexes that were missing, stale or damaged and were rebuilt.
    pub indexes_rebuilt: usize,
    /// Segment files deleted: emptied by a crash, cut away, or before the start.
    pub segments_deleted: usize,
    /// What point-in-time recovery dropped at the first damage.
    pub dropped: Option<Dropped>,
    /// The first LSN of the log.
    pub start: Lsn,
    /// The LSN after the last record.
    pub end: Lsn,
    /// Time taken.
    pub elapsed: Duration,
}

/// The records point-in-time recovery dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The file where the damage is.
    pub path: PathBuf,
    /// What the damage is and where in the file.
    pub damage: Damage,
    /// Records from this LSN on were dropped.
    pub from: Lsn,
    /// How many segment files after the damaged one were deleted.
    pub later_segments: usize,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let segments = counted(self.segments as u64, "segment", "segments");
        let last = Lsn(self.end.0.saturating_sub(1));
        match (self.segments, self.records) {
            (0, 0) => write!(f, "found an empty log (the next LSN is {})", self.end)?,
            (_, 0) => write!(f, "found no records in {segments} (the next LSN is {})", self.end)?,
            (_, records) if self.start == last => {
                let records = counted(records, "record", "records");
                write!(f, "found {records} in {segments} (LSN {last})")?;
            }
            (_, records) => {
                let records = counted(records, "record", "records");
                write!(f, "found {records} in {segments} (LSNs {} to {last})", self.start)?;
            }
        }
        if self.committed + self.aborted + self.unfinished > 0 {
            write!(
                f,
                ", transactions: {} committed, {} aborted, {} left open by a crash",
                self.committed, self.aborted, self.unfinished
            )?;
        }
        write!(f, ", in {:.1} ms", self.elapsed.as_secs_f64() * 1000.0)?;
        let changes = self.changes();
        if changes.is_empty() {
            return write!(f, "; changed nothing");
        }
        for change in changes {
            write!(f, "\n{change}")?;
        }
        Ok(())
    }
}

impl RecoveryReport {
    /// One sentence for each change recovery made to the log, in the order it made them.
    fn changes(&self) -> Vec<String> {
        let mut changes = Vec::new();
        if let Some(torn) = &self.torn_tail {
            changes.push(format!(
                "cut a torn tail of {} at {}, chunk {}, offset {}: {}",
                counted(self.bytes_cut, "byte", "bytes"),
                torn.path.display(),
                torn.at.chunk,
                torn.at.offset,
                EndReason(&torn.at.end)
            ));
        }
        if let Some(dropped) = &self.dropped {
            changes.push(dropped.to_string());
        }
        if self.indexes_rebuilt > 0 {
            let indexes = counted(self.indexes_rebuilt as u64, "index", "indexes");
            changes.push(format!("rebuilt {indexes} (missing, stale or damaged) from the data"));
        }
        if self.segments_deleted > 0 {
            let files = counted(self.segments_deleted as u64, "segment file", "segment files");
            changes.push(format!("deleted {files} the log no longer includes"));
        }
        if self.unfinished > 0 {
            let txns = counted(self.unfinished, "transaction", "transactions");
            changes.push(format!("closed {txns} a crash left open, with an abort each"));
        }
        changes
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dropped the records from LSN {} on, at damage in {}: {}",
            self.from,
            self.path.display(),
            self.damage
        )?;
        if self.later_segments > 0 {
            let files = counted(self.later_segments as u64, "segment file", "segment files");
            write!(f, " (and the {files} after it)")?;
        }
        Ok(())
    }
}

/// `n` with the singular or the plural noun.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
