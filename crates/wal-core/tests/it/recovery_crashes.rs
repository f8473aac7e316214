//! Figure 4: a crash during recovery itself. A log that needs recovery work (a torn tail to
//! cut, a transaction a crash left open, a sidecar index behind the data) is opened with a
//! failure injected at each storage operation of the recovery in turn; then the machine loses
//! power (several seeds) and the log is opened again. Every time, the result must be the state
//! an undisturbed recovery gives.

use wal_core::storage::Fault;
use wal_core::{Durability, SimStorage, Wal};

use crate::support::{TAG, committed_payloads, dir, open_sim, small};

/// A crashed image whose recovery has work to do.
fn image_needing_recovery() -> SimStorage {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    for i in 0..150u32 {
        if i % 3 == 0 {
            let mut txn = wal.begin().unwrap();
            txn.delta(TAG, &i.to_le_bytes().repeat(50)).unwrap();
            txn.delta(TAG, &[7; 900]).unwrap();
            txn.commit().unwrap();
        } else {
            wal.append(TAG, &i.to_le_bytes().repeat(100 + i as usize)).unwrap();
        }
    }
    drop(wal);
    // Unsynced work at the end: appends and an open transaction, then the power goes.
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    for i in 0..40u32 {
        wal.append(TAG, &i.to_le_bytes().repeat(300)).unwrap();
    }
    let mut open = wal.begin().unwrap();
    open.delta(TAG, b"never finished").unwrap();
    wal.sync().unwrap();
    wal.append(TAG, &[1; 5000]).unwrap();
    let image = storage.crash(11);
    std::mem::forget(open);
    drop(wal);
    image
}

#[test]
fn a_crash_at_every_step_of_recovery_recovers_the_same_state() {
    let image = image_needing_recovery();
    // The undisturbed recovery, and how many storage operations it makes.
    let reference = image.crash(0);
    let before = reference.operations();
    let (wal, report) = open_sim(&reference, small(Durability::Commit));
    let steps = reference.operations() - before;
    let expected = committed_payloads(&wal);
    assert!(report.unfinished > 0 || report.torn_tail.is_some(), "recovery had work: {report:?}");
    drop(wal);

    let seeds = crate::support::reliability_count(4, 100);
    let (mut failed, mut recoveries) = (0, 0);
    for step in 0..steps {
        let disturbed = image.crash(0);
        disturbed.fail_after(step, Fault::Io);
        failed +=
            u64::from(Wal::open_in(disturbed.clone(), dir(), small(Durability::Commit)).is_err());
        for seed in 0..seeds {
            let after = disturbed.crash(step * 100 + seed);
            let (wal, _) = Wal::open_in(after.clone(), dir(), small(Durability::Commit))
                .unwrap_or_else(|e| panic!("step {step} seed {seed}: {e}"));
            assert_eq!(committed_payloads(&wal), expected, "step {step} seed {seed}");
            // And it keeps working.
            wal.append(TAG, b"after").unwrap();
            drop(wal);
            recoveries += 1;
        }
    }
    println!(
        "recovery of {steps} storage operations ({} committed units): a failure at each \
         ({failed} surfaced as errors), then {recoveries} power losses and a second recovery: \
         the undisturbed state every time",
        expected.len()
    );
}
