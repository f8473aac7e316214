//! A scan of arbitrary bytes as a chunk: never a panic, always progress, always a stop reason,
//! and every record delivered lies inside the input at an aligned offset with the next LSN.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wal_format::{Frames, Lsn, Salt};

// The golden seed chunk uses this salt and first LSN, so the fuzzer starts from valid frames.
const SALT: Salt = Salt(0x89AB_CDEF);
const FIRST_LSN: Lsn = Lsn(1000);

fuzz_target!(|data: &[u8]| {
    let mut frames = Frames::new(Bytes::copy_from_slice(data), SALT, FIRST_LSN);
    let mut delivered = 0u64;
    while let Some(frame) = frames.next() {
        match frame {
            Ok(record) => {
                assert_eq!(record.lsn.0, FIRST_LSN.0 + delivered + frames.skipped());
                assert!(record.offset % 8 == 0 && record.offset + 24 + record.payload.len() <= data.len());
                delivered += 1;
            }
            Err(_) => break,
        }
    }
    assert!(frames.stop().is_some());
    assert!(frames.offset() <= data.len());
    assert!(frames.offset() % 8 == 0);
});
