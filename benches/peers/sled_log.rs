//! `sled` (0.34): `insert` under an increasing 8-byte key (batches: `apply_batch`), one `flush`
//! at the end, or a `flush` after every insert for durable cells. sled's `flush` ends in
//! `sync_file_range`, which is not durable across a power loss: each flush (the final one too)
//! is followed by an `fdatasync` of its data file.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct Sled {
    db: sled::Db,
    /// For durable cells, sled's data file: its `flush` ends in `sync_file_range`, which
    /// writes the pages but neither the metadata nor the disk's cache (not durable across
    /// a power loss, as `strace -f -c` shows), so each flush is followed by `fdatasync`.
    data: std::fs::File,
    dir: std::path::PathBuf,
    durable: bool,
    next: AtomicU64,
}

impl Sled {
    fn flush(&self) {
        self.db.flush().expect("flush");
        self.data.sync_data().expect("fdatasync");
        // Values larger than a node go to files of their own under `blobs/`, which sled's
        // flush does not sync (W2's 64 KiB records).
        let blobs = self.dir.join("blobs");
        if blobs.is_dir() {
            crate::measure::sync_tree(&blobs);
        }
    }
}

pub(crate) struct SledWriter<'a>(&'a Sled);

impl super::System for Sled {
    type Writer<'a> = SledWriter<'a>;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        let db = sled::Config::new().path(dir).open().expect("open");
        let data = std::fs::File::open(dir.join("db")).expect("sled's file");
        Sled { db, data, dir: dir.to_owned(), durable, next: AtomicU64::new(0) }
    }

    fn writer(&self) -> SledWriter<'_> {
        SledWriter(self)
    }

    fn finish(&self) {
        self.flush();
    }

    fn read_all(dir: &Path) -> Option<u64> {
        let db = sled::Config::new().path(dir).open().expect("open");
        Some(db.iter().map(|item| u64::from(!item.expect("item").1.is_empty())).sum())
    }
}

impl super::Writer for SledWriter<'_> {
    fn append(&mut self, payload: &[u8]) {
        let key = self.0.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        self.0.db.insert(key, payload).expect("insert");
        if self.0.durable {
            self.0.flush();
        }
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        let mut batch = sled::Batch::default();
        for payload in payloads {
            let key = self.0.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
            batch.insert(&key, *payload);
        }
        self.0.db.apply_batch(batch).expect("batch");
    }
}
