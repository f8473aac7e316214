//! [`WalLogStore`]: openraft's log storage on the write-ahead log.
//!
//! Each entry is one log record: its index (8 bytes, little-endian) and the entry encoded with
//! postcard. Entries are contiguous in the log, but their LSNs are not quite (a segment's seal
//! takes an LSN), so the store keeps the runs of entries with contiguous LSNs: a few per segment,
//! rebuilt at open from the records' index prefixes.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::type_config::alias::{LogIdOf, VoteOf};
use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig};
use wal_core::{
    Durability, EngineFigures, FIRST_LSN, Lsn, Options, RealStorage, Record, RecoveryMode,
    SegmentError, SpaceFill, Storage, Tag, Wal,
};

use crate::Error;
use crate::flusher::Flusher;
use crate::state_file::StateFile;

/// openraft's log storage on a [`Wal`]. Cheap to clone: clones (and the readers openraft takes
/// from it) share one log, and the last one dropped stops the flusher.
pub struct WalLogStore<C: RaftTypeConfig, S: Storage = RealStorage> {
    owner: Arc<Owner<C, S>>,
}

impl<C: RaftTypeConfig, S: Storage> Clone for WalLogStore<C, S> {
    fn clone(&self) -> Self {
        WalLogStore { owner: Arc::clone(&self.owner) }
    }
}

/// Stops and joins the flusher when the last handle goes.
struct Owner<C: RaftTypeConfig, S: Storage> {
    core: Arc<Core<C, S>>,
    flusher: Option<JoinHandle<()>>,
}

impl<C: RaftTypeConfig, S: Storage> Drop for Owner<C, S> {
    fn drop(&mut self) {
        self.core.flusher.stop();
        if let Some(thread) = self.flusher.take() {
            let _ = thread.join();
        }
    }
}

struct Core<C: RaftTypeConfig, S: Storage> {
    wal: Wal<S>,
    flusher: Flusher<C>,
    /// Locked by every operation, never across an await: reads see a log no truncation or
    /// purge is halfway through.
    state: Mutex<State<C, S>>,
}

struct State<C: RaftTypeConfig, S: Storage> {
    /// Runs of entries with contiguous LSNs: the first index of each, and its LSN.
    runs: BTreeMap<u64, Lsn>,
    /// The last entry's log id; `None` if the log holds no entry.
    last: Option<LogIdOf<C>>,
    vote: Option<VoteOf<C>>,
    committed: Option<LogIdOf<C>>,
    purged: Option<LogIdOf<C>>,
    file: StateFile<S>,
}

/// What the state file holds.
struct Saved<C: RaftTypeConfig> {
    vote: Option<VoteOf<C>>,
    committed: Option<LogIdOf<C>>,
    purged: Option<LogIdOf<C>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change to the state is completed before its lock is released, or the log is
    // poisoned and refuses further writes: the state stays usable after a panic elsewhere.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: RaftTypeConfig, S: Storage> State<C, S> {
    /// The index of the last entry, or the purge point if the log holds none.
    fn last_index(&self) -> Option<u64> {
        self.last.as_ref().or(self.purged.as_ref()).map(|id| id.index)
    }

    fn first_index(&self) -> Option<u64> {
        self.runs.keys().next().copied()
    }

    /// The LSN of the entry with `index` (which the log holds).
    fn lsn_of(&self, index: u64) -> Lsn {
        let (first, lsn) = self.runs.range(..=index).next_back().expect("index held");
        Lsn(lsn.0 + (index - first))
    }

    /// Writes the state with `change` made to it to the state file, and only once that
    /// succeeded makes the change in memory (readers never see a vote or purge point that is
    /// not written).
    fn save(&mut self, durable: bool, change: impl FnOnce(&mut Saved<C>)) -> Result<(), Error> {
        let mut saved = Saved {
            vote: self.vote.clone(),
            committed: self.committed.clone(),
            purged: self.purged.clone(),
        };
        change(&mut saved);
        let triple = (&saved.vote, &saved.committed, &saved.purged);
        let bytes = postcard::to_allocvec(&triple).map_err(|source| Error::Decode {
            what: "state",
            lsn: 0,
            source,
        })?;
        self.file.write(&bytes, durable)?;
        (self.vote, self.committed, self.purged) = (saved.vote, saved.committed, saved.purged);
        Ok(())
    }
}

impl<C: RaftTypeConfig> WalLogStore<C> {
    /// Opens (or creates) the store in `dir` on the real file system.
    ///
    /// # Errors
    /// As [`WalLogStore::open_in`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_in(RealStorage, dir, Options::default())
    }
}

impl<C: RaftTypeConfig, S: Storage> WalLogStore<C, S> {
    /// Opens (or creates) the store in `dir` on `storage`. The log's durability setting is
    /// replaced by `Buffered`: the store decides when to sync. Opening recovers the log (a torn
    /// tail is cut: those entries were never acknowledged), makes what it found durable, reads
    /// the state file, and finishes a purge a crash interrupted.
    ///
    /// # Errors
    /// The log's open errors (a second process on the directory, damage recovery refuses);
    /// `StateDamaged` if neither slot of the state file is valid; `Decode` or `Inconsistent`
    /// if the records are not the entries this store writes.
    pub fn open_in(storage: S, dir: impl AsRef<Path>, options: Options) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let (wal, _) = Wal::open_in(storage.clone(), dir, store_options(options))?;
        wal.sync()?;
        let (mut file, bytes, fresh) = StateFile::open(&storage, dir)?;
        if fresh && wal.next_lsn() != FIRST_LSN {
            // The log was written to, so a state file existed: starting without its vote
            // could let this node vote twice in a term. Nothing was written over it, so
            // every later open refuses too.
            return Err(Error::StateDamaged { path: dir.join(crate::STATE_FILE_NAME) });
        }
        if fresh {
            file.write(&[], true)?;
        }
        let (vote, committed, purged) = if bytes.is_empty() {
            (None, None, None)
        } else {
            postcard::from_bytes(&bytes).map_err(|source| Error::Decode {
                what: "state file",
                lsn: 0,
                source,
            })?
        };
        let mut state = State { runs: BTreeMap::new(), last: None, vote, committed, purged, file };
        scan(&wal, &mut state)?;
        let core = Arc::new(Core { wal, flusher: Flusher::new(), state: Mutex::new(state) });
        {
            let mut state = lock(&core.state);
            // A crash between writing the purge point and dropping the log's front.
            if let Some(purged) = state.purged.clone() {
                drop_through(&core.wal, &mut state, purged.index)?;
                if let Some(first) = state.first_index().filter(|first| *first != purged.index + 1)
                {
                    return Err(Error::Inconsistent(format!(
                        "the log starts at entry {first}, but was purged up to {}",
                        purged.index
                    )));
                }
            }
            // openraft may save a committed index ahead of what this node had made durable; a
            // power loss can then leave it beyond the log. Everything the log holds after a
            // reopen is what survives, so the committed index is at most its end.
            let end = state.last.clone().or_else(|| state.purged.clone());
            if state
                .committed
                .as_ref()
                .is_some_and(|c| end.as_ref().is_none_or(|e| c.index > e.index))
            {
                state.committed = end;
            }
        }
        let thread_core = Arc::clone(&core);
        let flusher = std::thread::Builder::new()
            .name("wal-raft-flusher".into())
            .spawn(move || thread_core.flusher.run(&thread_core.wal))
            .map_err(|source| Error::Io {
                op: "start the flusher",
                path: dir.to_owned(),
                source,
            })?;
        Ok(WalLogStore { owner: Arc::new(Owner { core, flusher: Some(flusher) }) })
    }

    /// The statistics of the log underneath. (The log itself is not lent out: a write through
    /// it would shift the entries' positions under the store.)
    #[must_use]
    pub fn stats(&self) -> EngineFigures {
        self.owner.core.wal.stats()
    }

    fn core(&self) -> &Core<C, S> {
        &self.owner.core
    }

    /// Reads the entries with indexes in `range` that the log holds.
    fn read(&self, range: impl RangeBounds<u64>) -> Result<Vec<C::Entry>, Error> {
        let core = self.core();
        let state = lock(&core.state);
        let (Some(first), Some(last)) = (state.first_index(), state.last.as_ref()) else {
            return Ok(Vec::new());
        };
        let start = match range.start_bound() {
            Bound::Included(&start) => start.max(first),
            Bound::Excluded(&start) => start.saturating_add(1).max(first),
            Bound::Unbounded => first,
        };
        let end = match range.end_bound() {
            Bound::Included(&end) => end.min(last.index),
            Bound::Excluded(0) => return Ok(Vec::new()),
            Bound::Excluded(&end) => (end - 1).min(last.index),
            Bound::Unbounded => last.index,
        };
        if start > end {
            return Ok(Vec::new());
        }
        let count = usize::try_from(end - start + 1).unwrap_or(usize::MAX);
        let mut entries = Vec::with_capacity(count.min(1024));
        for record in core.wal.read_from(state.lsn_of(start))?.take(count) {
            let record = record?;
            let (index, entry) = decode::<C>(record.lsn, &record.payload)?;
            let expected = start + entries.len() as u64;
            if index != expected {
                return Err(Error::Inconsistent(format!(
                    "the record at LSN {} holds entry {index}, not {expected}",
                    record.lsn.0
                )));
            }
            entries.push(entry);
        }
        if entries.len() != count {
            return Err(Error::Inconsistent(format!(
                "entries {start}..={end} are in the log, but only {} could be read",
                entries.len()
            )));
        }
        Ok(entries)
    }

    /// Appends and queues `callback`; on an error, completes it with the error.
    ///
    /// A single entry finding the flusher idle is synced here, its callback answered before
    /// this returns: that is a leader under light load (or a client waiting on each write),
    /// served at the sync's own latency without two thread hand-offs. A batch is queued for
    /// the flusher, so a leader streaming batches keeps appending while earlier ones sync; and
    /// a busy leader's batches grow while an inline sync runs, which moves it to the flusher.
    fn append_entries(
        &self,
        entries: impl IntoIterator<Item = C::Entry>,
        callback: IOFlushed<C>,
    ) -> Result<(), Error> {
        let core = self.core();
        match self.write_entries(entries) {
            Ok((end, count)) => {
                let queued = if count == 1 {
                    core.flusher.complete_inline(&core.wal, end, callback)
                } else {
                    Some(callback)
                };
                if let Some(callback) = queued {
                    core.flusher.push(end, callback);
                }
                Ok(())
            }
            Err(error) => {
                callback.io_completed(Err(std::io::Error::other(error.to_string())));
                Err(error)
            }
        }
    }

    /// Writes `entries` to the log; returns the LSN below which they lie, and how many were
    /// written. On an error part-way
    /// through a batch written in pieces, the pieces already in the log stay the store's (its
    /// last log id is the last entry written), so openraft's view and a resend continue from
    /// what the log holds.
    fn write_entries(
        &self,
        entries: impl IntoIterator<Item = C::Entry>,
    ) -> Result<(Lsn, usize), Error> {
        let core = self.core();
        let mut state = lock(&core.state);
        let mut next = state.last_index().map(|index| index + 1);
        let (mut payloads, mut ids, mut first) = (Vec::new(), Vec::new(), None);
        for entry in entries {
            let index = entry.index();
            if next.is_some_and(|next| next != index) {
                return Err(Error::Inconsistent(format!(
                    "appending entry {index} to a log whose next index is {}",
                    next.unwrap_or_default()
                )));
            }
            next = Some(index + 1);
            first.get_or_insert(index);
            let mut payload = index.to_le_bytes().to_vec();
            postcard::to_io(&entry, &mut payload).map_err(|source| Error::Decode {
                what: "entry",
                lsn: 0,
                source,
            })?;
            payloads.push(payload);
            ids.push(entry.log_id());
        }
        let Some(first) = first else {
            return Ok((core.wal.next_lsn(), 0));
        };
        // The LSN of the last entry written: a piece continues its run if it follows it.
        let mut previous = state.last.as_ref().map(|last| state.lsn_of(last.index));
        let mut written = 0;
        // Each piece is recorded as soon as it is in the log: a later piece failing leaves the
        // store's runs and last log id matching the log (else a resend would append the landed
        // entries again, and every later open would find them twice).
        let appended = append_pieces(&core.wal, &payloads, &mut |lsn, count| {
            if previous.is_none_or(|at| at.0 + 1 != lsn.0) {
                state.runs.insert(first + written as u64, lsn);
            }
            written += count;
            previous = Some(Lsn(lsn.0 + count as u64 - 1));
            state.last = Some(ids[written - 1].clone());
        });
        appended?;
        let end = previous.map_or_else(|| core.wal.next_lsn(), |lsn| Lsn(lsn.0 + 1));
        Ok((end, written))
    }

    fn save_vote(&self, vote: &VoteOf<C>) -> Result<(), Error> {
        let core = self.core();
        let mut state = lock(&core.state);
        // Every entry appended before the vote is durable before it: a crash leaves a prefix of
        // the writes in openraft's order.
        core.wal.sync_below(core.wal.next_lsn())?;
        state.save(true, |saved| saved.vote = Some(vote.clone()))
    }

    fn save_committed(&self, committed: Option<LogIdOf<C>>) -> Result<(), Error> {
        let mut state = lock(&self.core().state);
        if state.committed == committed {
            return Ok(());
        }
        state.save(false, |saved| saved.committed = committed)
    }

    fn truncate_after(&self, keep: Option<LogIdOf<C>>) -> Result<(), Error> {
        let core = self.core();
        // Acknowledge (sync) every append so far, and hold back the flusher, before cutting.
        let _gate = core.flusher.drain(&core.wal);
        let mut state = lock(&core.state);
        let (Some(first), Some(last)) = (state.first_index(), state.last.clone()) else {
            return Ok(());
        };
        match keep {
            Some(keep) if keep.index >= last.index => {}
            Some(keep) if keep.index >= first => {
                core.wal.truncate_after(state.lsn_of(keep.index))?;
                state.runs.retain(|&index, _| index <= keep.index);
                state.last = Some(keep);
            }
            _ => drop_all(&core.wal, &mut state)?,
        }
        Ok(())
    }

    fn purge(&self, upto: LogIdOf<C>) -> Result<(), Error> {
        let core = self.core();
        let mut state = lock(&core.state);
        if state.purged.as_ref().is_some_and(|purged| purged.index >= upto.index) {
            return Ok(());
        }
        // The purge point first, durably: a crash before the log's front is dropped leaves a
        // purge that opening finishes, never entries a reader is told were purged.
        state.save(true, |saved| saved.purged = Some(upto.clone()))?;
        drop_through(&core.wal, &mut state, upto.index)
    }
}

/// Appends `payloads` as entry records, in one batch if they fit in a segment, else in pieces
/// (halved until they fit); calls `landed` with each piece's first LSN and length as soon as it
/// is in the log, so a piece failing after others landed leaves them reported.
fn append_pieces<S: Storage>(
    wal: &Wal<S>,
    payloads: &[Vec<u8>],
    landed: &mut impl FnMut(Lsn, usize),
) -> Result<(), Error> {
    let records: Vec<Record<'_>> =
        payloads.iter().map(|payload| Record { tag: Tag::ENTRY, payload }).collect();
    match wal.append_batch(&records) {
        Ok(lsn) => {
            landed(lsn, records.len());
            Ok(())
        }
        Err(wal_core::Error::Segment(SegmentError::SegmentFull { .. })) if payloads.len() > 1 => {
            let (front, back) = payloads.split_at(payloads.len() / 2);
            append_pieces(wal, front, landed)?;
            append_pieces(wal, back, landed)
        }
        Err(error) => Err(error.into()),
    }
}

/// Drops the log's entries up to and including `index`.
fn drop_through<C: RaftTypeConfig, S: Storage>(
    wal: &Wal<S>,
    state: &mut State<C, S>,
    index: u64,
) -> Result<(), Error> {
    let (Some(first), Some(last)) = (state.first_index(), state.last.as_ref()) else {
        return Ok(());
    };
    if index < first {
        return Ok(());
    }
    if index >= last.index {
        return drop_all(wal, state);
    }
    let lsn = state.lsn_of(index + 1);
    wal.truncate_before(lsn)?;
    let later = state.runs.split_off(&(index + 1));
    state.runs = later;
    state.runs.insert(index + 1, lsn);
    Ok(())
}

/// Drops every entry the log holds (the purge point and vote stay).
fn drop_all<C: RaftTypeConfig, S: Storage>(
    wal: &Wal<S>,
    state: &mut State<C, S>,
) -> Result<(), Error> {
    wal.truncate_before(wal.next_lsn())?;
    state.runs.clear();
    state.last = None;
    Ok(())
}

/// Splits a record into its index prefix and entry.
fn decode<C: RaftTypeConfig>(lsn: Lsn, payload: &[u8]) -> Result<(u64, C::Entry), Error> {
    let (index, rest) = split_index(lsn, payload)?;
    let entry: C::Entry = postcard::from_bytes(rest).map_err(|source| Error::Decode {
        what: "entry",
        lsn: lsn.0,
        source,
    })?;
    if entry.index() != index {
        return Err(Error::Inconsistent(format!(
            "the record at LSN {} is labelled entry {index} but holds entry {}",
            lsn.0,
            entry.index()
        )));
    }
    Ok((index, entry))
}

fn split_index(lsn: Lsn, payload: &[u8]) -> Result<(u64, &[u8]), Error> {
    let (prefix, rest) = payload.split_first_chunk::<8>().ok_or_else(|| {
        Error::Inconsistent(format!("the record at LSN {} is too short for an entry", lsn.0))
    })?;
    Ok((u64::from_le_bytes(*prefix), rest))
}

/// Rebuilds the runs and the last log id from the log's records.
fn scan<C: RaftTypeConfig, S: Storage>(wal: &Wal<S>, state: &mut State<C, S>) -> Result<(), Error> {
    let mut previous: Option<(u64, Lsn)> = None;
    for record in wal.read_from(wal.start_lsn())? {
        let record = record?;
        let (index, _) = split_index(record.lsn, &record.payload)?;
        match previous {
            Some((last, _)) if index != last + 1 => {
                return Err(Error::Inconsistent(format!(
                    "the record at LSN {} holds entry {index} after entry {last}",
                    record.lsn.0
                )));
            }
            Some((_, lsn)) if lsn.0 + 1 == record.lsn.0 => {}
            _ => {
                state.runs.insert(index, record.lsn);
            }
        }
        previous = Some((index, record.lsn));
    }
    if let Some((index, lsn)) = previous {
        let entry = wal.get(lsn)?.ok_or_else(|| {
            Error::Inconsistent(format!("the last entry (LSN {}) cannot be read", lsn.0))
        })?;
        let (_, entry) = decode::<C>(lsn, &entry.payload)?;
        debug_assert_eq!(entry.index(), index);
        state.last = Some(entry.log_id());
    }
    Ok(())
}

impl<C: RaftTypeConfig, S: Storage> RaftLogReader<C> for WalLogStore<C, S> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, io::Error> {
        Ok(self.read(range)?)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        Ok(lock(&self.core().state).vote.clone())
    }
}

impl<C: RaftTypeConfig, S: Storage> RaftLogStorage<C> for WalLogStore<C, S> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let state = lock(&self.core().state);
        let last_log_id = state.last.clone().or_else(|| state.purged.clone());
        Ok(LogState { last_purged_log_id: state.purged.clone(), last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        Ok(WalLogStore::save_vote(self, vote)?)
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        Ok(WalLogStore::save_committed(self, committed)?)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        Ok(lock(&self.core().state).committed.clone())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        Ok(self.append_entries(entries, callback)?)
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        Ok(WalLogStore::truncate_after(self, last_log_id)?)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        Ok(WalLogStore::purge(self, log_id)?)
    }
}

/// The log's options as the store needs them. Settings that would drop entries behind
/// openraft's back are replaced: a size limit (pruning removes entries nobody purged) and
/// point-in-time recovery (which can drop acknowledged entries after damage).
fn store_options(options: Options) -> Options {
    let mut options = options.with_durability(Durability::Buffered).with_size_limit_bytes(None);
    // The flusher syncs small batches often, as `Commit` does: keep small page-cache folios
    // (a small `msync` then writes only its pages), unless the caller chose.
    if options.space_fill.is_none() {
        options.space_fill = Some(SpaceFill::Reserved);
    }
    if options.recovery == RecoveryMode::PointInTime {
        options.recovery = RecoveryMode::TolerateTornTail;
    }
    options
}
