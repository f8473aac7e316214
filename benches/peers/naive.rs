//! `naive`: length + CRC-32 + payload per record through a 64 KiB `BufWriter`, one `fdatasync`
//! at the end; for durable cells, the record's one `write` and an `fdatasync` per record under a
//! mutex. The file's directory entry is synced when it is created.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

/// Length, CRC-32 and payload per record; buffered, or synced per record when durable.
pub(crate) struct Naive {
    out: Mutex<BufWriter<File>>,
    durable: bool,
}

impl super::System for Naive {
    type Writer<'a> = &'a Naive;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        std::fs::create_dir_all(dir).expect("dir");
        let file = File::create(dir.join("naive.log")).expect("create");
        crate::measure::sync_dir(dir);
        Naive { out: Mutex::new(BufWriter::with_capacity(64 << 10, file)), durable }
    }

    fn writer(&self) -> &Naive {
        self
    }

    fn finish(&self) {
        let mut out = self.out.lock().expect("lock");
        out.flush().expect("flush");
        out.get_ref().sync_data().expect("sync");
    }

    fn read_all(dir: &Path) -> Option<u64> {
        Some(crate::measure::read_naive_log(&dir.join("naive.log")))
    }
}

impl super::Writer for &Naive {
    fn append(&mut self, payload: &[u8]) {
        let mut out = self.out.lock().expect("lock");
        let len = u32::try_from(payload.len()).expect("small");
        out.write_all(&len.to_le_bytes()).expect("write");
        out.write_all(&crc32fast::hash(payload).to_le_bytes()).expect("write");
        out.write_all(payload).expect("write");
        if self.durable {
            out.flush().expect("flush");
            out.get_ref().sync_data().expect("sync");
        }
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        for payload in payloads {
            self.append(payload);
        }
    }
}
