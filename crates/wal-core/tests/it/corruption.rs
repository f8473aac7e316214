//! Figure 5: corruption in the committed middle of a log at rest: single-bit flips, zeroed
//! 512-byte sectors, and sectors copied from elsewhere in the file (misplaced writes), each in
//! a random record other than the log's last. Opening must refuse with an error naming the
//! damage, or every record read back must be what was written (or an error): wrong data
//! returned without an error 0, damage silently treated as a torn tail (records lost without
//! an error) 0.

use wal_core::SegmentId;
use wal_core::{Durability, Lsn, SimStorage, Wal};
use wal_segment::{
    ChunkPreparation, SegmentOptions, scan_segment, segment_file_name, segment_first_lsn,
};

use crate::support::{TAG, dir, open_sim, small};

const CHUNK: usize = 64 << 10;

fn segment_options() -> SegmentOptions {
    SegmentOptions {
        chunk_bytes: CHUNK,
        chunks_per_segment: 2,
        preparation: ChunkPreparation::Inline,
        ..Default::default()
    }
}

/// Whether `wal_core::inspect` finds damage in the log: a segment with damage, or one that
/// does not start where the one before ends (damage that took a segment's last records with it
/// leaves no intact indexed record to tell, only the gap; `wal verify` checks the same).
fn inspect_finds_damage(storage: &SimStorage) -> bool {
    use wal_core::inspect::{Inspector, SegmentOutcome};
    let inspector = Inspector::open_in(storage.clone(), dir()).expect("inspect");
    let mut previous_end = None;
    for &id in inspector.segment_ids() {
        match inspector.segment(id).expect("read").outcome {
            SegmentOutcome::Checked(check) if check.damage.is_none() => {
                let scan = &check.scan;
                let Some(first) = scan.records.first().map(|r| r.record.lsn) else { continue };
                if previous_end.is_some_and(|end| first != end) {
                    return true;
                }
                previous_end = Some(scan.next_lsn);
            }
            SegmentOutcome::Empty => {}
            _ => return true,
        }
    }
    false
}

/// Every record of the log: its LSN and payload, through a reader.
fn read_back(wal: &Wal<SimStorage>) -> Result<Vec<(Lsn, Vec<u8>)>, wal_core::Error> {
    wal.read_from(wal.start_lsn())?
        .map(|entry| entry.map(|e| (e.lsn, e.payload.to_vec())))
        .collect()
}

/// Where frames lie: (file, byte range of header and payload); the log's last record apart.
type Frame = (std::path::PathBuf, usize, usize);

fn frame_ranges(storage: &SimStorage) -> (Vec<Frame>, Frame) {
    let mut ranges = Vec::new();
    let mut id = 0;
    loop {
        let path = dir().join(segment_file_name(SegmentId(id)));
        if wal_core::Storage::open(storage, &path).is_err() {
            break;
        }
        let first =
            segment_first_lsn(storage, dir(), SegmentId(id), segment_options()).unwrap().unwrap();
        let scan = scan_segment(storage, dir(), SegmentId(id), first, segment_options()).unwrap();
        for record in &scan.records {
            let start = record.chunk as usize * CHUNK + record.record.offset;
            let end = start + wal_format::HEADER_SIZE_BYTES + record.record.payload.len();
            ranges.push((path.clone(), start, end));
        }
        id += 1;
    }
    let last = ranges.pop().expect("records");
    (ranges, last)
}

#[test]
fn corruption_in_the_middle_of_the_log_is_never_returned_as_data() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    for i in 0..180u32 {
        if i % 4 == 0 {
            let mut txn = wal.begin().unwrap();
            txn.delta(TAG, &i.to_le_bytes().repeat(40)).unwrap();
            txn.commit().unwrap();
        } else {
            wal.append(TAG, &i.to_le_bytes().repeat(1 + (i as usize * 37) % 700)).unwrap();
        }
    }
    let written = read_back(&wal).unwrap();
    drop(wal);
    // Damage reaching the log's last record is a torn tail by definition: a sector that holds
    // any of it is never chosen.
    let (ranges, (last_path, last_start, last_end)) = frame_ranges(&storage);
    let touches_last = |path: &std::path::Path, from: usize, to: usize| {
        path == last_path && from < last_end && last_start < to
    };
    let count = crate::support::reliability_count(10_000, 100_000);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |bound: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        usize::try_from(rng % bound as u64).expect("below a usize bound")
    };
    let (mut refused, mut read_error, mut harmless) = (0, 0, 0);
    for round in 0..count {
        let copy = storage.crash(0);
        let kind = round % 3;
        let (path, at) = loop {
            let (path, start, end) = &ranges[next(ranges.len())];
            let at = start + next(end - start);
            let sector = at / 512 * 512;
            if kind == 0 || !touches_last(path, sector, sector + 512) {
                break (path, at);
            }
        };
        copy.edit_file(path, |bytes| match kind {
            0 => bytes[at] ^= 1 << next(8),
            1 => bytes[at / 512 * 512..(at / 512 + 1) * 512].fill(0),
            _ => {
                let sector = at / 512 * 512;
                let sectors = bytes.len() / 512;
                let mut from = next(sectors) * 512;
                while from == sector || bytes[from..from + 512] == bytes[sector..sector + 512] {
                    from = next(sectors) * 512;
                }
                bytes.copy_within(from..from + 512, sector);
            }
        });
        // The read-only inspection (what `wal verify` uses) must see the same damage,
        // before recovery touches anything.
        let inspected = inspect_finds_damage(&copy);
        match Wal::open_in(copy.clone(), dir(), small(Durability::Commit)) {
            Err(error) => {
                assert!(
                    inspected,
                    "round {round}: recovery refused ({error}), inspection saw nothing"
                );
                // Refused, naming the damaged file (or, for damage in the anchor, the anchor).
                let name = path.file_name().unwrap().to_string_lossy();
                assert!(error.to_string().contains(&*name), "round {round}: {error} names {name}?");
                refused += 1;
            }
            Ok((wal, _)) => match read_back(&wal) {
                _ if inspected => panic!("round {round}: inspection saw damage recovery accepted"),
                Err(_) => read_error += 1,
                Ok(read) => {
                    // Not refused: only possible if nothing that was written changed.
                    assert_eq!(
                        read,
                        written,
                        "round {round} (kind {kind}, {} byte {at}): wrong or missing data without an error",
                        path.display()
                    );
                    harmless += 1;
                }
            },
        }
    }
    println!(
        "corruption: {count} single-bit flips, zeroed sectors and misplaced sectors inside \
         records of the committed middle: {refused} refused at open, {read_error} errors at \
         read, {harmless} read back intact; wrong data returned 0, silently cut 0"
    );
}
