//! Model checks of the counting protocols: `RUSTFLAGS="--cfg loom" cargo test --release -p
//! wal-telemetry --lib loom` (part of `cargo xtask loom`).

use std::sync::Arc;

use loom::thread;

use crate::{Kind, Ledger, Registry, Retirement, SegmentLife};

/// Holds taken, cloned and dropped on other threads while the log retires the segment: it is
/// released exactly once, and only after the retirement and the last drop.
#[test]
fn loom_the_last_of_retirement_and_drops_releases_once() {
    loom::model(|| {
        let ledger = Ledger::new();
        let life = SegmentLife::new(&ledger, 9);
        let first = life.hold(10);
        let second = life.hold(20);
        let copy = first.clone();
        let a = thread::spawn(move || drop(first));
        let b = thread::spawn(move || {
            let again = second.clone();
            drop(second);
            drop(again);
        });
        let retired = life.retire();
        let released_by_retire = retired == Retirement::Released;
        assert_ne!(retired, Retirement::AlreadyRetired);
        a.join().unwrap();
        b.join().unwrap();
        let before_last = ledger.take_released();
        assert!(before_last.is_empty() && !released_by_retire, "released while a clone lived");
        drop(copy);
        assert_eq!(ledger.take_released(), vec![9], "released exactly once");
        let counts = ledger.counts();
        assert_eq!((counts.held_back_segments, counts.held_back_bytes), (0, 0));
        assert_eq!((counts.chunks_mapped, counts.chunks_unmapped, counts.mapped_bytes), (2, 2, 0));
    });
}

/// The last hold dropping at the same time as the retirement: exactly one of them releases.
#[test]
fn loom_a_race_between_retirement_and_last_drop_releases_once() {
    loom::model(|| {
        let ledger = Ledger::new();
        let life = SegmentLife::new(&ledger, 1);
        let hold = life.hold(8);
        let dropper = thread::spawn(move || drop(hold));
        let retired = life.retire();
        dropper.join().unwrap();
        assert!(matches!(retired, Retirement::Released | Retirement::HeldBack { chunks: 1 }));
        assert_eq!(ledger.take_released(), vec![1]);
        assert!(life.is_released());
        assert_eq!(ledger.counts().held_back_bytes, 0);
    });
}

/// Registrations on two threads, racing for the same slot (both start at the same hint), never
/// share a slot, and the counts balance. A live handle is always counted; a registration that
/// reads a stale "taken" for a slot another thread just freed counts itself as undescribed,
/// never as described twice. (Loom keeps a history of seven stores per atomic, so each thread
/// registers once.)
#[test]
fn loom_registrations_claim_distinct_slots() {
    loom::model(|| {
        let registry = Registry::with_capacity(2);
        let other = Arc::clone(&registry);
        let peer = thread::spawn(move || {
            let registration = other.register(Kind::Reader);
            other.pin(&registration, Some(1), 64);
            other.deregister(registration);
        });
        let mine = registry.register(Kind::Reader);
        let counts = registry.counts(Kind::Reader);
        assert!(counts.live >= 1, "{mine:?} {counts:?}");
        let described = registry.handles(Kind::Reader);
        assert!(described.len() <= 2);
        let pinned = described.iter().filter(|h| h.pinned_segment.is_some()).count();
        assert!(pinned <= 1, "one slot per handle: {described:?}");
        registry.deregister(mine);
        peer.join().unwrap();
        let counts = registry.counts(Kind::Reader);
        assert_eq!((counts.created, counts.dropped, counts.live, counts.untracked), (2, 2, 0, 0));
        assert!(registry.handles(Kind::Reader).is_empty());
    });
}
