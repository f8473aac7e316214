//! `commitlog` (0.2, a Kafka-style log): its `flush` syncs only the offset index (an `msync`);
//! the segment's data is never synced (`File::flush` does nothing for a file), so the harness
//! `fdatasync`s the segment file itself wherever a cell needs durability: after each
//! append and `flush` in durable cells, and at the end otherwise. Writers share the log behind a
//! mutex (it appends through `&mut self`; no group commit). Segments are made large enough
//! (3 GiB) to hold every cell in one file. Its recovery reads only the index, not the records,
//! so its W6 time is the read alone.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog as Log, LogOptions, ReadLimit};

fn options(dir: &Path) -> LogOptions {
    let mut options = LogOptions::new(dir);
    options.segment_max_bytes(3 << 30).message_max_bytes(64 << 20);
    options
}

pub(crate) struct CommitLog {
    log: Mutex<Log>,
    dir: PathBuf,
    durable: bool,
    /// The segment files, opened once for syncing (every cell fits in the first).
    segments: OnceLock<Vec<File>>,
}

impl CommitLog {
    /// `fdatasync`s every segment file.
    fn sync_segments(&self) {
        let segments = self.segments.get_or_init(|| {
            let mut segments = Vec::new();
            for entry in std::fs::read_dir(&self.dir).expect("list") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|extension| extension == "log") {
                    segments.push(File::open(&path).expect("open"));
                }
            }
            assert_eq!(segments.len(), 1, "one segment holds the cell");
            segments
        });
        for segment in segments {
            segment.sync_data().expect("fdatasync");
        }
    }
}

impl super::System for CommitLog {
    type Writer<'a> = &'a CommitLog;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        let log = Log::new(options(dir)).expect("open");
        crate::measure::sync_dir(dir);
        CommitLog { log: Mutex::new(log), dir: dir.to_owned(), durable, segments: OnceLock::new() }
    }

    fn writer(&self) -> &CommitLog {
        self
    }

    fn finish(&self) {
        self.log.lock().expect("lock").flush().expect("flush");
        self.sync_segments();
    }

    fn read_all(dir: &Path) -> Option<u64> {
        let log = Log::new(options(dir)).expect("open");
        let (mut at, mut read) = (0, 0);
        loop {
            let messages = log.read(at, ReadLimit::max_bytes(8 << 20)).expect("read");
            if messages.len() == 0 {
                return Some(read);
            }
            for message in messages.iter() {
                read += u64::from(!message.payload().is_empty());
                at = message.offset() + 1;
            }
        }
    }
}

impl super::Writer for &CommitLog {
    fn append(&mut self, payload: &[u8]) {
        let mut log = self.log.lock().expect("lock");
        log.append_msg(payload).expect("append");
        if self.durable {
            log.flush().expect("flush");
            self.sync_segments();
        }
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        let mut buffer = MessageBuf::default();
        for payload in payloads {
            buffer.push(payload).expect("push");
        }
        let mut log = self.log.lock().expect("lock");
        log.append(&mut buffer).expect("append");
        if self.durable {
            log.flush().expect("flush");
            self.sync_segments();
        }
    }
}
