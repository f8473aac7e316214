//! The table of live handles: who holds what, since when, created where.
//!
//! Every long-lived handle onto the log registers here when it is created and deregisters when
//! it is dropped. Registering claims a slot in a fixed table per kind with one compare-and-swap
//! and records the handle's birth time (coarse clock) and creation site (`#[track_caller]`);
//! deregistering is plain stores. No lock, no allocation, no shared counter: each slot counts
//! its own claims and releases (written only by its owner), and reports add them up. When a
//! kind has more live handles than slots, the extra ones are counted but not described: the
//! oldest handles, the ones a leak report needs, hold their slots.

use std::cell::Cell;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_nanos;
use crate::kind::Kind;
use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Slots per kind in the table of a [`Registry::new`] registry.
pub const TRACKED_PER_KIND: usize = 256;

/// A registration that holds no slot (the table was full).
const NO_SLOT: u32 = u32::MAX;

/// One live handle's description. Written by its owner; read by reports. One cache line each,
/// so handles of different threads never share a line.
#[repr(align(64))]
struct Slot {
    /// 0 when free; otherwise the handle's birth time (never 0).
    born: AtomicU64,
    /// The handle's creation site, or null while it is being filled in.
    site: AtomicPtr<Location<'static>>,
    /// The segment the handle pins, plus one; 0 for none.
    pin_segment: AtomicU64,
    /// Bytes of mapped chunks the handle keeps alive.
    pin_bytes: AtomicU64,
    /// The birth time of the handle a leak warning last named (0: none).
    warned: AtomicU64,
    /// Registrations that claimed this slot, and those that released it. Each is written only
    /// by the slot's owner; `releases` with `Release`, after `claims`, so a report that reads
    /// `releases` first never counts more releases than claims.
    claims: AtomicU64,
    releases: AtomicU64,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            born: AtomicU64::new(0),
            site: AtomicPtr::new(std::ptr::null_mut()),
            pin_segment: AtomicU64::new(0),
            pin_bytes: AtomicU64::new(0),
            warned: AtomicU64::new(0),
            claims: AtomicU64::new(0),
            releases: AtomicU64::new(0),
        }
    }
}

// Where this thread's next registration looks first: the slot it last released, so a thread
// that makes and drops handles in turn reuses one warm slot. (Loom's own thread-locals under
// loom: a std one would outlive the model's runs and make them differ.)
#[cfg(not(loom))]
std::thread_local! {
    static HINT: Cell<usize> = const { Cell::new(0) };
}
#[cfg(loom)]
loom::thread_local! {
    static HINT: Cell<usize> = Cell::new(0);
}

/// The handles of one kind.
struct Table {
    /// Registrations that found no free slot, and their drops.
    overflow_created: AtomicU64,
    overflow_dropped: AtomicU64,
    slots: Box<[Slot]>,
}

/// The live handles of one log, by kind. Shared (`Arc`) by the log and its handles.
pub struct Registry {
    tables: [Table; Kind::ALL.len()],
}

/// One tracked handle, as a report sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveHandle {
    /// What the handle is.
    pub kind: Kind,
    /// Where it was created (the caller of the `Wal` method that made it).
    pub site: Option<&'static Location<'static>>,
    /// How long it has been alive.
    pub age: Duration,
    /// The segment whose chunk it keeps mapped, if any.
    pub pinned_segment: Option<u64>,
    /// Bytes of mapped chunks it keeps alive.
    pub pinned_bytes: u64,
    slot: u32,
    born: u64,
}

impl LiveHandle {
    /// `file:line:column` of the creation site, or `"unknown"`.
    #[must_use]
    pub fn site_name(&self) -> String {
        self.site.map_or_else(|| "unknown".to_owned(), ToString::to_string)
    }
}

/// What a kind's handles add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindCounts {
    /// Handles created since the log was opened.
    pub created: u64,
    /// Handles dropped since the log was opened.
    pub dropped: u64,
    /// Handles alive now (`created - dropped`).
    pub live: u64,
    /// Live handles beyond the table's capacity: counted, not described.
    pub untracked: u64,
    /// Chunks kept mapped by the described handles.
    pub pinned_chunks: u64,
    /// Bytes of those chunks.
    pub pinned_bytes: u64,
    /// The oldest described handle.
    pub oldest: Option<LiveHandle>,
}

impl Registry {
    /// A registry describing up to [`TRACKED_PER_KIND`] live handles of each kind.
    #[must_use]
    pub fn new() -> Arc<Registry> {
        Registry::with_capacity(TRACKED_PER_KIND)
    }

    /// A registry describing up to `slots` live handles of each kind.
    #[must_use]
    pub fn with_capacity(slots: usize) -> Arc<Registry> {
        let slots = slots.min(NO_SLOT as usize);
        let table = || Table {
            overflow_created: AtomicU64::new(0),
            overflow_dropped: AtomicU64::new(0),
            slots: (0..slots).map(|_| Slot::new()).collect(),
        };
        Arc::new(Registry { tables: [table(), table(), table(), table()] })
    }

    /// Registers a new handle of `kind`, created by the caller's caller. Give the registration
    /// back to [`Registry::deregister`] when the handle is dropped.
    #[track_caller]
    #[must_use = "a registration must be deregistered, or its handle stays counted as alive"]
    pub fn register(&self, kind: Kind) -> Registration {
        let site = Location::caller();
        let table = &self.tables[kind.index()];
        let born = now_nanos();
        let len = table.slots.len();
        let mut at = HINT.with(Cell::get);
        for _ in 0..len {
            if at >= len {
                at = 0;
            }
            let slot = &table.slots[at];
            if slot.born.load(Ordering::Relaxed) == 0
                && slot.born.compare_exchange(0, born, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                slot.claims.store(slot.claims.load(Ordering::Relaxed) + 1, Ordering::Release);
                slot.warned.store(0, Ordering::Release);
                slot.site.store(std::ptr::from_ref(site).cast_mut(), Ordering::Release);
                let slot = u32::try_from(at).unwrap_or(NO_SLOT);
                return Registration { kind, slot };
            }
            at += 1;
        }
        table.overflow_created.fetch_add(1, Ordering::Relaxed);
        Registration { kind, slot: NO_SLOT }
    }

    /// Deregisters a handle: it is no longer counted as alive.
    pub fn deregister(&self, registration: Registration) {
        let table = &self.tables[registration.kind.index()];
        let Some(slot) = table.slots.get(registration.slot as usize) else {
            table.overflow_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        slot.pin_segment.store(0, Ordering::Release);
        slot.pin_bytes.store(0, Ordering::Release);
        slot.site.store(std::ptr::null_mut(), Ordering::Release);
        slot.releases.store(slot.releases.load(Ordering::Relaxed) + 1, Ordering::Release);
        // Frees the slot; everything above is written before the next owner claims it.
        slot.born.store(0, Ordering::Release);
        HINT.with(|hint| hint.set(registration.slot as usize));
    }

    /// Records what `registration`'s handle keeps mapped now: a chunk of `segment` of `bytes`,
    /// or nothing.
    pub fn pin(&self, registration: &Registration, segment: Option<u64>, bytes: u64) {
        let table = &self.tables[registration.kind.index()];
        if let Some(slot) = table.slots.get(registration.slot as usize) {
            let segment_plus_one = segment.map_or(0, |id| id.saturating_add(1));
            slot.pin_segment.store(segment_plus_one, Ordering::Release);
            slot.pin_bytes.store(if segment.is_some() { bytes } else { 0 }, Ordering::Release);
        }
    }

    /// Counts and pins of `kind`'s handles now.
    #[must_use]
    pub fn counts(&self, kind: Kind) -> KindCounts {
        let table = &self.tables[kind.index()];
        let (mut created, mut dropped) = (0, 0);
        for slot in &table.slots {
            // Releases first: see `Slot::claims`.
            let releases = slot.releases.load(Ordering::Acquire);
            dropped += releases;
            created += slot.claims.load(Ordering::Acquire).max(releases);
        }
        let overflow_dropped = table.overflow_dropped.load(Ordering::Relaxed);
        dropped += overflow_dropped;
        created += table.overflow_created.load(Ordering::Relaxed).max(overflow_dropped);
        let handles = self.handles(kind);
        let live = created - dropped;
        let described = handles.len() as u64;
        let pinned: Vec<&LiveHandle> = handles.iter().filter(|h| h.pinned_bytes > 0).collect();
        KindCounts {
            created,
            dropped,
            live,
            untracked: live.saturating_sub(described),
            pinned_chunks: pinned.len() as u64,
            pinned_bytes: pinned.iter().map(|h| h.pinned_bytes).sum(),
            oldest: handles.into_iter().max_by_key(|handle| handle.age),
        }
    }

    /// Every described live handle of `kind`.
    #[must_use]
    pub fn handles(&self, kind: Kind) -> Vec<LiveHandle> {
        let now = now_nanos();
        let table = &self.tables[kind.index()];
        let mut handles = Vec::new();
        for (at, slot) in table.slots.iter().enumerate() {
            let born = slot.born.load(Ordering::Acquire);
            if born == 0 {
                continue;
            }
            let site = slot.site.load(Ordering::Acquire);
            // SAFETY: `site` is null or was made from a `&'static Location` in `register`.
            let site = unsafe { site.cast_const().as_ref() };
            let pin_segment = slot.pin_segment.load(Ordering::Acquire);
            handles.push(LiveHandle {
                kind,
                site,
                age: Duration::from_nanos(now.saturating_sub(born)),
                pinned_segment: pin_segment.checked_sub(1),
                pinned_bytes: slot.pin_bytes.load(Ordering::Acquire),
                slot: u32::try_from(at).unwrap_or(NO_SLOT),
                born,
            });
        }
        handles
    }

    /// Marks `handle` as named by a leak warning; `false` if it already was, or if it is gone
    /// (its slot may hold a newer handle by now, which keeps its own mark: the mark is the
    /// birth time of the handle it names).
    pub fn mark_warned(&self, handle: &LiveHandle) -> bool {
        let table = &self.tables[handle.kind.index()];
        table.slots.get(handle.slot as usize).is_some_and(|slot| {
            slot.born.load(Ordering::Acquire) == handle.born
                && slot.warned.swap(handle.born, Ordering::Relaxed) != handle.born
        })
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for kind in Kind::ALL {
            map.entry(&kind.name(), &self.counts(kind).live);
        }
        map.finish()
    }
}

/// A handle's entry in a [`Registry`]: a token to give back to [`Registry::deregister`]. It
/// holds no reference (registering must cost a few nanoseconds): the handle keeps the registry
/// alive itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Registration {
    kind: Kind,
    slot: u32,
}

impl Registration {
    /// What the handle is.
    #[must_use]
    pub fn kind(&self) -> Kind {
        self.kind
    }
}
