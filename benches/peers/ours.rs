//! `wal`: this log. W1, W1b, W2, W5 and W6 under `Durability::Buffered` with one `sync` at the
//! end; W3 and W4 under `Durability::Commit` (each commit durable before it returns).

use std::path::Path;

use wal_core::{Durability, Options, Record, Tag, Wal};

const TAG: Tag = match Tag::user(0x40) {
    Some(tag) => tag,
    None => panic!("0x40 is a user tag"),
};

pub(crate) struct Ours(Wal);

impl super::System for Ours {
    type Writer<'a> = &'a Wal;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        let durability = if durable { Durability::Commit } else { Durability::Buffered };
        let mut options =
            Options::default().with_durability(durability).with_space_fill(space_fill());
        // `WAL_BENCH_SYNCS_IN_FLIGHT=N` overrides the group commit's depth (for A/B runs).
        if let Some(depth) =
            std::env::var("WAL_BENCH_SYNCS_IN_FLIGHT").ok().and_then(|d| d.parse().ok())
        {
            options = options.with_syncs_in_flight(depth);
        }
        Ours(Wal::open(dir, options).expect("open").0)
    }

    fn writer(&self) -> &Wal {
        &self.0
    }

    fn finish(&self) {
        self.0.sync().expect("sync");
    }

    fn read_all(dir: &Path) -> Option<u64> {
        let options = Options::default().with_durability(Durability::Buffered);
        let (wal, _) = Wal::open(dir, options).expect("open");
        let reader = wal.read_from(wal.start_lsn()).expect("read");
        Some(reader.map(|entry| u64::from(entry.expect("record").payload[0] > 0)).sum())
    }
}

impl super::Writer for &Wal {
    fn append(&mut self, payload: &[u8]) {
        Wal::append(self, TAG, payload).expect("append");
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        let records: Vec<Record<'_>> =
            payloads.iter().map(|payload| Record { tag: TAG, payload }).collect();
        Wal::append_batch(self, &records).expect("append");
    }
}

/// `WAL_BENCH_SPACE_FILL=reserved|zeroed` overrides the log's choice (for A/B runs of one
/// cell); unset, the log chooses by durability.
fn space_fill() -> Option<wal_core::SpaceFill> {
    match std::env::var("WAL_BENCH_SPACE_FILL").as_deref() {
        Ok("reserved") => Some(wal_core::SpaceFill::Reserved),
        Ok("zeroed") => Some(wal_core::SpaceFill::Zeroed),
        _ => None,
    }
}
