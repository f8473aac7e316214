//! The table of live handles: who holds what, since when, created where.
//!
//! Every long-lived handle onto the log registers here when it is created and deregisters when
//! it is dropped. Registering claims a slot in a fixed table per kind with one compare-and-swap
//! and records the handle's birth time (coarse clock) and creation site (`#[track_caller]`), so
//! it costs a few atomic operations and no allocation or lock. When a kind has more live handles
//! than slots, the extra ones are counted but not described: the oldest handles, the ones a leak
//! report needs, hold their slots.

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

/// One live handle's description. Written by its owner; read by reports.
struct Slot {
    /// 0 when free; otherwise the handle's birth time (never 0).
    born: AtomicU64,
    /// The handle's creation site, or null while it is being filled in.
    site: AtomicPtr<Location<'static>>,
    /// The segment the handle pins, plus one; 0 for none.
    pin_segment: AtomicU64,
    /// Bytes of mapped chunks the handle keeps alive.
    pin_bytes: AtomicU64,
    /// Set once a leak warning has named this handle.
    warned: AtomicU64,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            born: AtomicU64::new(0),
            site: AtomicPtr::new(std::ptr::null_mut()),
            pin_segment: AtomicU64::new(0),
            pin_bytes: AtomicU64::new(0),
            warned: AtomicU64::new(0),
        }
    }
}

/// The handles of one kind.
struct Table {
    created: AtomicU64,
    dropped: AtomicU64,
    slots: Box<[Slot]>,
}

/// The live handles of one log, by kind. Shared (`Arc`) by the log and every registration.
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
            created: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            slots: (0..slots).map(|_| Slot::new()).collect(),
        };
        Arc::new(Registry { tables: [table(), table(), table(), table()] })
    }

    /// Registers a new handle of `kind`, created by the caller's caller. Drop the registration
    /// with the handle.
    #[track_caller]
    #[must_use]
    pub fn register(self: &Arc<Self>, kind: Kind) -> Registration {
        let site = Location::caller();
        let table = &self.tables[kind.index()];
        let ticket = table.created.fetch_add(1, Ordering::Relaxed);
        let born = now_nanos();
        let len = table.slots.len();
        let mut slot = NO_SLOT;
        if len > 0 {
            // Start where this ticket points, so concurrent registrations rarely meet.
            let start = usize::try_from(ticket % len as u64).unwrap_or(0);
            for probe in 0..len {
                let at = (start + probe) % len;
                let candidate = &table.slots[at];
                if candidate.born.load(Ordering::Relaxed) == 0
                    && candidate
                        .born
                        .compare_exchange(0, born, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    candidate.warned.store(0, Ordering::Relaxed);
                    let site = std::ptr::from_ref(site).cast_mut();
                    candidate.site.store(site, Ordering::Release);
                    slot = u32::try_from(at).unwrap_or(NO_SLOT);
                    break;
                }
            }
        }
        Registration { registry: Arc::clone(self), kind, slot }
    }

    /// Counts and pins of `kind`'s handles now.
    #[must_use]
    pub fn counts(&self, kind: Kind) -> KindCounts {
        let table = &self.tables[kind.index()];
        // `dropped` first: a handle dropped after this read is still counted as created.
        let dropped = table.dropped.load(Ordering::Relaxed);
        let created = table.created.load(Ordering::Relaxed).max(dropped);
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
            let pin_segment = slot.pin_segment.load(Ordering::Relaxed);
            handles.push(LiveHandle {
                kind,
                site,
                age: Duration::from_nanos(now.saturating_sub(born)),
                pinned_segment: pin_segment.checked_sub(1),
                pinned_bytes: slot.pin_bytes.load(Ordering::Relaxed),
                slot: u32::try_from(at).unwrap_or(NO_SLOT),
            });
        }
        handles
    }

    /// Marks `handle` as named by a leak warning; `false` if it already was.
    pub fn mark_warned(&self, handle: &LiveHandle) -> bool {
        let table = &self.tables[handle.kind.index()];
        table.slots.get(handle.slot as usize).is_some_and(|slot| {
            slot.warned.compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed).is_ok()
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

/// A handle's entry in the [`Registry`]; dropping it deregisters the handle.
pub struct Registration {
    registry: Arc<Registry>,
    kind: Kind,
    slot: u32,
}

impl Registration {
    /// Records what the handle keeps mapped now: a chunk of `segment` of `bytes`, or nothing.
    pub fn pin(&self, segment: Option<u64>, bytes: u64) {
        if let Some(slot) = self.slot() {
            slot.pin_segment.store(segment.map_or(0, |id| id.saturating_add(1)), Ordering::Relaxed);
            slot.pin_bytes.store(if segment.is_some() { bytes } else { 0 }, Ordering::Relaxed);
        }
    }

    /// What the handle is.
    #[must_use]
    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn slot(&self) -> Option<&Slot> {
        self.registry.tables[self.kind.index()].slots.get(self.slot as usize)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(slot) = self.slot() {
            slot.pin_segment.store(0, Ordering::Relaxed);
            slot.pin_bytes.store(0, Ordering::Relaxed);
            slot.site.store(std::ptr::null_mut(), Ordering::Relaxed);
            // Frees the slot; everything above is written before the next owner claims it.
            slot.born.store(0, Ordering::Release);
        }
        self.registry.tables[self.kind.index()].dropped.fetch_add(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("kind", &self.kind).field("slot", &self.slot).finish()
    }
}
