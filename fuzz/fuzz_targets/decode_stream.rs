//! A scan of arbitrary bytes as a chunk: never a panic, always progress, always a stop reason.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wal_format::{FrameDecoder, Lsn, Salt};

// The golden seed chunk uses this salt and first LSN, so the fuzzer starts from valid frames.
const SALT: Salt = Salt(0x0123_4567_89AB_CDEF);
const FIRST_LSN: Lsn = Lsn(1000);

fuzz_target!(|data: &[u8]| {
    let mut frames = FrameDecoder::new(Bytes::copy_from_slice(data), SALT, FIRST_LSN);
    let mut delivered = 0u64;
    while let Some(frame) = frames.next() {
        match frame {
            Ok(frame) => {
                assert_eq!(frame.lsn.0, FIRST_LSN.0 + delivered + frames.skipped());
                delivered += 1;
            }
            Err(_) => break,
        }
    }
    assert!(frames.stop().is_some());
    assert!(frames.offset() <= data.len());
    assert!(frames.offset() % 8 == 0);
});
