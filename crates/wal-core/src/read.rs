//! Reading while writing: one record by LSN, an iterator from any LSN, and a tailing iterator
//! (also a `futures_core::Stream` with the feature `stream`).
//!
//! A reader finds a position under the state lock (the sidecar index of the segment, in
//! memory), then scans frames of that chunk's *published* bytes without any lock: everything
//! below the published offset is complete and never written again, and every append publishes
//! before it returns, so a reader sees every record whose append returned. At the end of a
//! chunk's published bytes the reader either waits for more (the chunk is still being
//! written) or looks up the next position (the chunk is closed). A truncation bumps an epoch
//! that readers check on every step, so they never return a record that was cut.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wal_format::{Decoded, Frames, Lsn, RecordBytes, Stop, decode_frame};
use wal_segment::{ChunkRef, RealStorage, SegmentId, Storage};
use wal_telemetry::{Kind, Registration};

use crate::cuts::CutLink;
use crate::damage::Damage;
use crate::entry::{Entry, interpret};
use crate::error::Error;
use crate::shared::{Shared, lock_state};
use crate::wal::Wal;

/// Where a record lies: its chunk and offset, and the end of its segment's records.
struct Located<S: Storage> {
    /// The LSN found: the one asked for, or the start for a reader waiting at a pruned seal.
    lsn: Lsn,
    /// The segment holding it.
    segment: SegmentId,
    chunk: ChunkRef<S>,
    offset: usize,
    /// Records of the segment at and after this LSN were cut by a later segment.
    end: Lsn,
}

impl<S: Storage> Shared<S> {
    /// Finds record `lsn`; `Ok(None)` if it is not published yet.
    fn locate(&self, lsn: Lsn) -> Result<Option<Located<S>>, Error> {
        let state = lock_state(self);
        let start = state.anchor.start();
        let published = state.published_lsn();
        if lsn < start {
            if state.seal_before_start == Some(lsn) && lsn.0 + 1 == start.0 {
                drop(state);
                return self.locate(start);
            }
            return Err(Error::OutOfRange { lsn, start, end: published });
        }
        if lsn >= published {
            return Ok(None);
        }
        if let Some(writer) = state.active.as_ref().filter(|writer| lsn >= writer.first_lsn()) {
            let entry = writer.position(lsn).expect("a published record has a position");
            let chunk = writer.chunk(entry.chunk).expect("its chunk was started").clone();
            let (segment, offset) = (writer.segment_id(), entry.offset as usize);
            return Ok(Some(Located { lsn, segment, chunk, offset, end: Lsn::MAX }));
        }
        let at = state.closed.partition_point(|segment| segment.end <= lsn);
        let segment = state.closed.get(at).filter(|segment| segment.first <= lsn);
        let found = segment.and_then(|segment| {
            let entry = segment.index.get(lsn)?;
            let chunk = segment.chunks.get(entry.chunk as usize)?.clone();
            let (id, offset, end) = (segment.id, entry.offset as usize, segment.end);
            Some(Located { lsn, segment: id, chunk, offset, end })
        });
        // Recovery checked that the segments chain densely from the start.
        found.map(Some).ok_or(Error::OutOfRange { lsn, start, end: published })
    }
}

impl<S: Storage> Wal<S> {
    /// The record with LSN `lsn`, found through the segment's index; `None` if it is a record
    /// readers do not see (a segment's seal) or not yet written.
    ///
    /// # Errors
    /// `OutOfRange` below the log's start; `Damaged` if the record fails its checksum now.
    pub fn get(&self, lsn: Lsn) -> Result<Option<Entry>, Error> {
        let Some(located) = self.shared.locate(lsn)? else { return Ok(None) };
        let bytes = located.chunk.published_bytes();
        match decode_frame(&bytes, located.offset, located.chunk.salt(), lsn) {
            Ok((Decoded::Record(record), _)) => {
                let start = record.payload.as_ptr() as usize - bytes.as_ptr() as usize;
                let payload = bytes.slice(start..start + record.payload.len());
                let record = RecordBytes { offset: located.offset, lsn, tag: record.tag, payload };
                interpret(record).transpose()
            }
            Ok(_) => Ok(None),
            Err(error) => Err(self.shared.damaged(&located.chunk, located.offset, &error)),
        }
    }

    /// An iterator over the records from `lsn` (or the log's start, if later) to the last one
    /// published; it yields `None` once caught up, and more if called again after new appends.
    ///
    /// # Errors
    /// `OutOfRange` if `lsn` is below the log's start.
    #[track_caller]
    pub fn read_from(&self, lsn: Lsn) -> Result<Reader<S>, Error> {
        self.reader(lsn, Kind::Reader)
    }

    /// A reader that waits for new records: see [`Tail`].
    ///
    /// # Errors
    /// As [`Wal::read_from`].
    #[track_caller]
    pub fn tail_from(&self, lsn: Lsn) -> Result<Tail<S>, Error> {
        Ok(Tail {
            reader: self.reader(lsn, Kind::Tail)?,
            #[cfg(feature = "stream")]
            id: stream::next_id(),
        })
    }

    /// A reader from `lsn`, registered as `kind` with the caller's caller as its site.
    #[track_caller]
    fn reader(&self, lsn: Lsn, kind: Kind) -> Result<Reader<S>, Error> {
        let start = self.start_lsn();
        if lsn < start {
            return Err(Error::OutOfRange { lsn, start, end: self.shared.published_lsn() });
        }
        let registration = self.shared.register(kind);
        Ok(Reader::new(Arc::clone(&self.shared), lsn, registration))
    }
}

impl<S: Storage> Shared<S> {
    fn damaged(&self, chunk: &ChunkRef<S>, offset: usize, error: &wal_format::Error) -> Error {
        Error::Damaged {
            path: self.files.dir.clone(),
            damage: Damage::Frame { chunk: chunk.index(), offset, error: error.clone() },
        }
    }
}

/// Iterates records in LSN order, zero-copy. See [`Wal::read_from`].
pub struct Reader<S: Storage = RealStorage> {
    shared: Arc<Shared<S>>,
    next_lsn: Lsn,
    at: Option<Position<S>>,
    epoch: u64,
    /// The newest cut when the reader last looked (see `cuts.rs`).
    seen_cut: Arc<CutLink>,
    /// The reader's entry in the log's registry: its site, its age, the chunk it holds.
    registration: Option<Registration>,
}

/// A scan in progress through one chunk's published bytes.
struct Position<S: Storage> {
    chunk: ChunkRef<S>,
    frames: Frames<Bytes>,
    /// How many bytes of the chunk were published when `frames` began.
    scanned: usize,
    end: Lsn,
}

impl<S: Storage> Reader<S> {
    fn new(shared: Arc<Shared<S>>, next_lsn: Lsn, registration: Option<Registration>) -> Self {
        // Both under the state lock, where cuts are made, so they agree.
        let (epoch, seen_cut) = {
            let state = lock_state(&shared);
            (shared.epoch.load(Ordering::Acquire), Arc::clone(&state.latest_cut))
        };
        Reader { shared, next_lsn, at: None, epoch, seen_cut, registration }
    }

    /// Starts scanning the chunk `located` points into.
    fn enter(&mut self, located: Located<S>) {
        let Located { lsn, segment, chunk, offset, end } = located;
        if let Some(registration) = &self.registration {
            let bytes = chunk.mapped_bytes() as u64;
            self.shared.registry.pin(registration, Some(segment.0), bytes);
        }
        self.next_lsn = lsn;
        let bytes = chunk.published_bytes();
        let scanned = bytes.len();
        let frames = Frames::resume(bytes, chunk.salt(), offset, self.next_lsn);
        self.at = Some(Position { chunk, frames, scanned, end });
    }

    /// Lets go of the chunk being scanned (the next step looks the position up again).
    fn leave(&mut self) {
        self.at = None;
        if let Some(registration) = &self.registration {
            self.shared.registry.pin(registration, None, 0);
        }
    }

    /// The LSN the next record read will have (or be after, if it is a skipped seal).
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// The next record, or `None` if every published record has been read.
    fn step(&mut self) -> Option<Result<Entry, Error>> {
        loop {
            let epoch = self.shared.epoch.load(Ordering::Acquire);
            if epoch != self.epoch {
                let (cut, newest) = CutLink::since(&self.seen_cut);
                self.seen_cut = newest;
                self.epoch = epoch;
                self.leave();
                // Records this reader returned were cut: say so, and go on from the cut.
                if let Some(at) = cut.filter(|&at| at < self.next_lsn) {
                    self.next_lsn = at;
                    return Some(Err(Error::Truncated { at }));
                }
            }
            if self.at.is_none() {
                match self.shared.locate(self.next_lsn) {
                    Ok(Some(located)) => self.enter(located),
                    Ok(None) => return None,
                    Err(error) => return Some(Err(error)),
                }
            }
            let position = self.at.as_mut().expect("located above");
            match position.frames.next() {
                Some(Ok(record)) if record.lsn >= position.end => self.leave(),
                Some(Ok(record)) => {
                    self.next_lsn = record.lsn.next();
                    if let Some(entry) = interpret(record) {
                        return Some(entry);
                    }
                }
                Some(Err(error)) => {
                    let offset = position.frames.offset();
                    let error = self.shared.damaged(&position.chunk, offset, &error);
                    self.leave();
                    return Some(Err(error));
                }
                None if position.frames.stop() == Some(Stop::Padding) => self.leave(),
                None => {
                    // The end of what was published when the scan began: look again. (A closed
                    // chunk's scan can also end in a tail too short for a frame.)
                    let closed = position.chunk.is_closed();
                    let bytes = position.chunk.published_bytes();
                    if bytes.len() > position.scanned {
                        let (offset, salt) = (position.frames.offset(), position.chunk.salt());
                        position.scanned = bytes.len();
                        position.frames = Frames::resume(bytes, salt, offset, self.next_lsn);
                    } else if closed {
                        self.leave();
                    } else {
                        return None;
                    }
                }
            }
        }
    }
}

impl<S: Storage> Drop for Reader<S> {
    fn drop(&mut self) {
        if let Some(registration) = self.registration.take() {
            self.shared.registry.deregister(registration);
        }
    }
}

impl<S: Storage> Iterator for Reader<S> {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step()
    }
}

/// A reader that waits for records to be appended. Its iterator blocks the calling thread
/// until the next record exists, and ends when the log is closed. With the feature `stream`,
/// it is also a `futures_core::Stream` of the same items, for async code: polled, it waits for
/// the next record without blocking a thread (woken by each publication and by closing).
pub struct Tail<S: Storage = RealStorage> {
    reader: Reader<S>,
    /// Names its waker at the tail signal.
    #[cfg(feature = "stream")]
    id: u64,
}

impl<S: Storage> Tail<S> {
    /// The next record, waiting up to `timeout` for one; `Ok(None)` if none came in time or the
    /// log was closed. Blocks the calling thread while it waits.
    ///
    /// # Errors
    /// As the records of [`Reader`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Entry>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(entry) = self.reader.step() {
                return entry.map(Some);
            }
            let now = Instant::now();
            if now >= deadline || self.reader.shared.closed.load(Ordering::Acquire) {
                return Ok(None);
            }
            let shared = &self.reader.shared;
            let lsn = self.reader.next_lsn;
            // Re-check under the signal's lock: `published_lsn` takes the state lock briefly.
            shared.tail.wait((deadline - now).min(Duration::from_millis(50)), || {
                shared.closed.load(Ordering::Acquire) || shared.published_lsn() > lsn
            });
        }
    }

    /// The LSN the next record will have (or be after).
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.reader.next_lsn
    }
}

impl<S: Storage> Iterator for Tail<S> {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_timeout(Duration::from_secs(1)) {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Err(error) => return Some(Err(error)),
                Ok(None) if self.reader.shared.closed.load(Ordering::Acquire) => return None,
                Ok(None) => {}
            }
        }
    }
}

#[cfg(feature = "stream")]
mod stream {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::{Context, Poll};

    use wal_segment::Storage;

    use super::Tail;
    use crate::entry::Entry;
    use crate::error::Error;

    /// A fresh number for a tail's waker.
    pub(super) fn next_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    impl<S: Storage> Tail<S> {
        /// The next record if one is published; `Ready(None)` once the log is closed.
        fn ready(&mut self) -> Option<Option<Result<Entry, Error>>> {
            if let Some(entry) = self.reader.step() {
                return Some(Some(entry));
            }
            self.reader.shared.closed.load(Ordering::Acquire).then_some(None)
        }
    }

    /// The records as they are published; ends when the log is closed.
    impl<S: Storage> futures_core::Stream for Tail<S> {
        type Item = Result<Entry, Error>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let this = self.get_mut();
            if let Some(ready) = this.ready() {
                return Poll::Ready(ready);
            }
            this.reader.shared.tail.register(this.id, cx.waker());
            // Again: a record published before the registration woke nobody.
            match this.ready() {
                Some(ready) => Poll::Ready(ready),
                None => Poll::Pending,
            }
        }
    }

    impl<S: Storage> Drop for Tail<S> {
        fn drop(&mut self) {
            self.reader.shared.tail.unregister(self.id);
        }
    }
}
