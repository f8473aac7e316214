//! How bad a finding is ([`Verdict`], which is also the exit code), a finding itself, and the
//! tally of what recovery would change ([`Repair`]): the words `check`, `repair`, `verify` and
//! `dump` share. No judging happens here.

use std::path::PathBuf;

/// How bad the worst finding is; also the exit code's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// Recovery would change nothing.
    Clean,
    /// What a crash leaves: a torn tail to cut, an index behind the data to rewrite, files an
    /// interrupted prune or cut left, transactions to close with an abort. Recovery repairs it
    /// and loses nothing that was synced.
    Repairable,
    /// Recovery would accept the log, but delete or change what no crash leaves: a stray
    /// segment file, a missing anchor. Look before recovering.
    Unexplained,
    /// Damage inside durable data, a gap in the chain, a damaged anchor or snapshot: recovery
    /// would refuse the log (or the snapshot), or needs a mode that gives the damage up.
    Corrupt,
}

impl Verdict {
    /// The exit code `verify` (and `dump`, at what it read) gives for it.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Repairable => 1,
            Verdict::Corrupt => 3,
            Verdict::Unexplained => 6,
        }
    }

    /// The word a finding of this verdict is printed with.
    pub(crate) fn level(self) -> &'static str {
        match self {
            Verdict::Clean => "ok",
            Verdict::Repairable => "repairable",
            Verdict::Unexplained => "UNEXPLAINED",
            Verdict::Corrupt => "CORRUPT",
        }
    }
}

/// One thing found: the file, and a sentence saying what is wrong and where in it.
#[derive(Debug)]
pub(crate) struct Finding {
    pub(crate) verdict: Verdict,
    pub(crate) file: PathBuf,
    pub(crate) what: String,
}

/// What recovery would change, counted.
#[derive(Debug, Default)]
pub(crate) struct Repair {
    /// Bytes of a torn tail cut off the last segment.
    pub(crate) torn_bytes: u64,
    /// Sidecar indexes rewritten from their segment's data.
    pub(crate) indexes_rewritten: usize,
    /// Segment files deleted, their bytes, and the records in them (none part of the log).
    pub(crate) segments_deleted: usize,
    pub(crate) deleted_bytes: u64,
    pub(crate) deleted_records: usize,
    /// Index files without a segment file, deleted.
    pub(crate) orphan_indexes: usize,
    /// Transactions closed with an abort record.
    pub(crate) aborts: u64,
    /// A new anchor file created (the log then starts at LSN 1).
    pub(crate) anchor_created: bool,
    /// What point-in-time recovery would drop, if the log is damaged where it can cut.
    pub(crate) salvage: Option<Salvage>,
}

/// What point-in-time recovery drops: the records from the first damage on.
#[derive(Debug)]
pub(crate) struct Salvage {
    /// The first LSN dropped, and the damaged segment's file.
    pub(crate) from: wal_core::Lsn,
    pub(crate) file: PathBuf,
    /// The kept segments after it, deleted whole: files, bytes, records (seals not counted).
    pub(crate) later_segments: usize,
    pub(crate) later_bytes: u64,
    pub(crate) later_records: usize,
}

impl Salvage {
    /// The sentence `verify` prints for it.
    pub(crate) fn line(&self) -> String {
        format!(
            "point-in-time recovery would keep the records before LSN {} and drop the rest: what \
             follows the damage in {}, and {} after it ({} bytes, {})",
            self.from,
            self.file.display(),
            count(self.later_segments as u64, "segment file"),
            self.later_bytes,
            count(self.later_records as u64, "record")
        )
    }
}

impl Repair {
    /// One line per change, for `verify`; empty if recovery would change nothing.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.torn_bytes > 0 {
            lines.push(format!("cut {} bytes of torn tail (no whole record)", self.torn_bytes));
        }
        if self.segments_deleted > 0 {
            lines.push(format!(
                "delete {} ({} bytes, {}, none of them part of the log)",
                count(self.segments_deleted as u64, "segment file"),
                self.deleted_bytes,
                count(self.deleted_records as u64, "record")
            ));
        }
        if self.orphan_indexes > 0 {
            let files = count(self.orphan_indexes as u64, "index file");
            lines.push(format!("delete {files} without a segment"));
        }
        if self.indexes_rewritten > 0 {
            let indexes = count(self.indexes_rewritten as u64, "index");
            lines.push(format!("rewrite {indexes} from the segment's data"));
        }
        if self.aborts > 0 {
            let open = count(self.aborts, "open transaction");
            lines.push(format!("append an abort record for {open}"));
        }
        if self.anchor_created {
            lines.push("create a new anchor file, starting the log at LSN 1".into());
        }
        lines
    }
}

/// `n` and the noun, plural unless `n` is 1 (`noun` is singular; `index` becomes `indexes`).
pub(crate) fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ if noun.ends_with('x') => format!("{n} {noun}es"),
        _ => format!("{n} {noun}s"),
    }
}
