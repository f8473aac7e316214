//! What opening a [`crate::Durable`] tells its caller: [`OpenReport`] and its `Display`, a few
//! lines for a human (the snapshot used, what was replayed, what was passed over, cut or
//! deleted, then the log's own recovery report), and [`FrontCut`]. The same facts go out as
//! `tracing` events (`events.rs`); this module only words them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use wal_core::{Lsn, RecoveryReport};

use crate::file::SnapshotHeader;

/// What opening found and did.
///
/// `Display` gives how the state was rebuilt, then a line for a front cut, a line per snapshot
/// passed over and for the temporary files deleted, then the log's [`RecoveryReport`] after `log: `.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenReport {
    /// The log's recovery.
    pub wal: RecoveryReport,
    /// The snapshot the state was restored from, if any.
    pub snapshot: Option<(PathBuf, SnapshotHeader)>,
    /// Newer snapshots that failed their checks and were passed over, and why.
    pub skipped: Vec<(PathBuf, String)>,
    /// The log's start moved past damage below the snapshot's point (`None`: no damage there).
    pub front_cut: Option<FrontCut>,
    /// Units applied from the log after the snapshot.
    pub replayed: u64,
    /// Units the log still holds that the snapshot already had (not applied again).
    pub already_applied: u64,
    /// Temporary files of interrupted checkpoints, deleted.
    pub temporary_removed: usize,
    /// Time taken, the log's recovery included.
    pub elapsed: Duration,
}

impl fmt::Display for OpenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let replayed = counted(self.replayed, "unit", "units");
        match &self.snapshot {
            Some((path, header)) => write!(
                f,
                "restored the snapshot {} ({}, commits below LSN {}), then applied {replayed} \
                 committed after it",
                path.display(),
                counted(header.units, "unit", "units"),
                header.next_lsn
            )?,
            None => write!(f, "rebuilt the state from the log's beginning: applied {replayed}")?,
        }
        if self.already_applied > 0 {
            let units = counted(self.already_applied, "unit", "units");
            write!(f, " ({units} the snapshot already held were read, not applied)")?;
        }
        write!(f, ", in {:.1} ms", self.elapsed.as_secs_f64() * 1000.0)?;
        if let Some(cut) = &self.front_cut {
            write!(f, "\n{cut}")?;
        }
        for (path, reason) in &self.skipped {
            write!(f, "\npassed over the damaged snapshot {}: {reason}", path.display())?;
        }
        if self.temporary_removed > 0 {
            let files = counted(self.temporary_removed as u64, "temporary file", "temporary files");
            write!(f, "\ndeleted {files} of interrupted checkpoints")?;
        }
        write!(f, "\nlog: {}", self.wal)
    }
}

/// How recovery moved the log's start past damage the newest valid snapshot covers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FrontCut {
    /// The log's start before the first cut.
    pub from: Lsn,
    /// The log's start after the last cut: the first LSN after the last damaged segment.
    pub to: Lsn,
    /// What stopped the log's recovery before each cut, in order: `Damaged` (a segment below
    /// the snapshot's point) or `MissingHistory` (segments missing before it).
    pub damage: Vec<wal_core::Error>,
    /// The snapshot that holds every unit the cut history held.
    pub snapshot: PathBuf,
    /// Older snapshots whose replay needs history before `to`: no longer fallbacks (a
    /// checkpoint deletes them, and never counts them among those kept).
    pub unusable: Vec<PathBuf>,
}

impl fmt::Display for FrontCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "moved the log's start from LSN {} to LSN {} past damage the snapshot {} covers",
            self.from,
            self.to,
            self.snapshot.display()
        )?;
        let damage: Vec<String> = self.damage.iter().map(ToString::to_string).collect();
        write!(f, ": {}", damage.join("; "))?;
        if !self.unusable.is_empty() {
            let paths: Vec<String> =
                self.unusable.iter().map(|path| path.display().to_string()).collect();
            write!(f, "; no longer fallbacks: {}", paths.join(", "))?;
        }
        Ok(())
    }
}

/// `n` with the singular or the plural noun.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
