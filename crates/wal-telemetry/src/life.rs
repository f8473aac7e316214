//! The life of a segment's mapped chunks, from the first mapping to the deletion of the file.
//!
//! Every mapped chunk of a segment carries a [`Hold`] on the segment's [`SegmentLife`]; the
//! mapping, and with it the hold, lives as long as anything views the chunk (the writer, the
//! log's segment list, a reader, a zero-copy payload). When the log no longer needs a segment
//! (a prune, a truncation), it *retires* it. The segment is *released* exactly once, by
//! whichever comes last: the retirement, or the drop of the last hold. Between the two the
//! segment is *held back*: its file stays on disk, and the [`Ledger`] counts its bytes. A
//! release puts the segment's id on the ledger's queue; the log deletes the files of queued
//! segments (it is the only one that may touch its directory).
//!
//! The protocol is one atomic word per segment: the number of holds, and a retired bit. The
//! release happens on the transition to "retired, no holds", which exactly one operation makes.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::clock::now_nanos;
use crate::sync::{AtomicU64, Ordering};

const RETIRED: u64 = 1 << 63;

/// Counters of one log's chunk mappings and held-back segments, and the queue of released
/// segments whose files the log must delete.
pub struct Ledger {
    chunks_mapped: AtomicU64,
    chunks_unmapped: AtomicU64,
    mapped_bytes: AtomicU64,
    held_back_segments: AtomicU64,
    held_back_bytes: AtomicU64,
    held_back_bytes_total: AtomicU64,
    released: Mutex<Vec<u64>>,
    waker: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// What a [`Ledger`] has counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerCounts {
    /// Chunks mapped since the log was opened.
    pub chunks_mapped: u64,
    /// Chunks unmapped since the log was opened.
    pub chunks_unmapped: u64,
    /// Bytes mapped now.
    pub mapped_bytes: u64,
    /// Segments retired but still held by a handle.
    pub held_back_segments: u64,
    /// Bytes of their files, which stay on disk until released.
    pub held_back_bytes: u64,
    /// Bytes ever held back at retirement, summed.
    pub held_back_bytes_total: u64,
}

impl Ledger {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Arc<Ledger> {
        Arc::new(Ledger {
            chunks_mapped: AtomicU64::new(0),
            chunks_unmapped: AtomicU64::new(0),
            mapped_bytes: AtomicU64::new(0),
            held_back_segments: AtomicU64::new(0),
            held_back_bytes: AtomicU64::new(0),
            held_back_bytes_total: AtomicU64::new(0),
            released: Mutex::new(Vec::new()),
            waker: OnceLock::new(),
        })
    }

    /// Calls `waker` after every release (the log wakes the thread that deletes files). Only
    /// the first call has an effect.
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        let _ = self.waker.set(Box::new(waker));
    }

    /// The counters now.
    #[must_use]
    pub fn counts(&self) -> LedgerCounts {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        LedgerCounts {
            chunks_mapped: get(&self.chunks_mapped),
            chunks_unmapped: get(&self.chunks_unmapped),
            mapped_bytes: get(&self.mapped_bytes),
            held_back_segments: get(&self.held_back_segments),
            held_back_bytes: get(&self.held_back_bytes),
            held_back_bytes_total: get(&self.held_back_bytes_total),
        }
    }

    /// Takes the ids of the segments released since the last call, in release order.
    #[must_use]
    pub fn take_released(&self) -> Vec<u64> {
        std::mem::take(&mut *self.released.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.counts().fmt(f)
    }
}

/// The life of one segment: how many of its chunk mappings are alive, and whether the log has
/// retired it.
pub struct SegmentLife {
    segment: u64,
    state: AtomicU64,
    /// Bytes of every chunk ever held: the file's size, for the held-back counters.
    bytes: AtomicU64,
    retired_at: AtomicU64,
    ledger: Arc<Ledger>,
}

/// Whether a retirement released the segment at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retirement {
    /// Nothing held it: it is released (queued for deletion).
    Released,
    /// Handles still hold `chunks` of its chunks: it is held back until they drop.
    HeldBack {
        /// Chunk mappings alive.
        chunks: u64,
    },
    /// It was retired before.
    AlreadyRetired,
}

impl SegmentLife {
    /// The life of segment `segment`, counted in `ledger`.
    #[must_use]
    pub fn new(ledger: &Arc<Ledger>, segment: u64) -> Arc<SegmentLife> {
        Arc::new(SegmentLife {
            segment,
            state: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            retired_at: AtomicU64::new(0),
            ledger: Arc::clone(ledger),
        })
    }

    /// The segment's id.
    #[must_use]
    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// A hold for a chunk of `bytes` just mapped; drop it when the mapping goes. Only a
    /// segment still in the log takes new holds (chunks are mapped before it is retired):
    /// a hold on a released segment would release it a second time.
    #[must_use]
    pub fn hold(self: &Arc<Self>, bytes: u64) -> Hold {
        let before = self.state.fetch_add(1, Ordering::AcqRel);
        debug_assert_ne!(before, RETIRED, "a hold taken on released segment {}", self.segment);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.ledger.chunks_mapped.fetch_add(1, Ordering::Relaxed);
        self.ledger.mapped_bytes.fetch_add(bytes, Ordering::Relaxed);
        Hold { life: Arc::clone(self), bytes: Some(bytes) }
    }

    /// Holds alive (chunk mappings, and clones of their holds).
    #[must_use]
    pub fn holds(&self) -> u64 {
        self.state.load(Ordering::Acquire) & !RETIRED
    }

    /// Whether the log has retired the segment.
    #[must_use]
    pub fn is_retired(&self) -> bool {
        self.state.load(Ordering::Acquire) & RETIRED != 0
    }

    /// Whether the segment is retired and nothing holds it.
    #[must_use]
    pub fn is_released(&self) -> bool {
        self.state.load(Ordering::Acquire) == RETIRED
    }

    /// Bytes of the segment's chunks (its file).
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// How long it has been retired; zero if it is not.
    #[must_use]
    pub fn retired_for(&self) -> Duration {
        match self.retired_at.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            at => Duration::from_nanos(now_nanos().saturating_sub(at)),
        }
    }

    /// The log no longer needs the segment: it is released now if nothing holds it, else when
    /// the last hold drops.
    pub fn retire(&self) -> Retirement {
        if self.is_retired() {
            return Retirement::AlreadyRetired;
        }
        self.retired_at.store(now_nanos(), Ordering::Relaxed);
        // Counted as held back before the retirement is visible, so that a release racing
        // with it never takes the gauge below zero; taken back below if nothing held it.
        let bytes = self.bytes();
        self.ledger.held_back_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.ledger.held_back_segments.fetch_add(1, Ordering::Relaxed);
        let before = self.state.fetch_or(RETIRED, Ordering::AcqRel);
        if before & RETIRED != 0 {
            self.unhold_back(bytes);
            return Retirement::AlreadyRetired;
        }
        if before == 0 {
            self.release();
            return Retirement::Released;
        }
        self.ledger.held_back_bytes_total.fetch_add(bytes, Ordering::Relaxed);
        Retirement::HeldBack { chunks: before }
    }

    fn unhold_back(&self, bytes: u64) {
        self.ledger.held_back_bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.ledger.held_back_segments.fetch_sub(1, Ordering::Relaxed);
    }

    /// Runs exactly once per segment, on the transition to "retired, no holds".
    fn release(&self) {
        self.unhold_back(self.bytes());
        self.ledger.released.lock().unwrap_or_else(PoisonError::into_inner).push(self.segment);
        if let Some(waker) = self.ledger.waker.get() {
            waker();
        }
    }
}

impl std::fmt::Debug for SegmentLife {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentLife")
            .field("segment", &self.segment)
            .field("holds", &self.holds())
            .field("retired", &self.is_retired())
            .finish()
    }
}

/// One chunk mapping's share in its segment's life. A clone is another share of the same
/// mapping: it keeps the segment held, and is not counted as a mapping.
pub struct Hold {
    life: Arc<SegmentLife>,
    /// The mapping's bytes, for the hold the mapping made; `None` for a clone.
    bytes: Option<u64>,
}

impl Hold {
    /// The segment held.
    #[must_use]
    pub fn segment(&self) -> u64 {
        self.life.segment
    }
}

impl Clone for Hold {
    fn clone(&self) -> Hold {
        self.life.state.fetch_add(1, Ordering::AcqRel);
        Hold { life: Arc::clone(&self.life), bytes: None }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(bytes) = self.bytes {
            let ledger = &self.life.ledger;
            ledger.chunks_unmapped.fetch_add(1, Ordering::Relaxed);
            ledger.mapped_bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        let before = self.life.state.fetch_sub(1, Ordering::AcqRel);
        if before == RETIRED | 1 {
            self.life.release();
        }
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").field("segment", &self.life.segment).finish()
    }
}
