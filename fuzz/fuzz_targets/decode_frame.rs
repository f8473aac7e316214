//! One frame decoded (and dumped) from arbitrary bytes at an arbitrary offset: never a panic, and
//! any frame accepted must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wal_format::{Decoded, Lsn, Salt, annotate_frame, decode_frame};

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let (control, bytes) = data.split_at(10);
    let salt = Salt(u32::from(control[0]).wrapping_mul(0x9E37_79B9));
    let lsn = Lsn(u64::from_le_bytes(control[1..9].try_into().unwrap()));
    let offset = usize::from(control[9]);
    let _ = annotate_frame(bytes, offset);
    if let Ok((decoded, len)) = decode_frame(bytes, offset, salt, lsn) {
        assert!(offset + len <= bytes.len());
        if let Decoded::Record(frame) = decoded {
            assert_eq!(frame.lsn, lsn);
            assert!(frame.payload.len() < len);
        }
    }
});
