//! The operation model: arbitrary appends, transactions (committed, aborted, left open by a
//! crash), syncs, truncations, reopens and power losses on simulated storage, checked against
//! a list of the records written (the model of `crates/wal-core/tests/it/model/machine.rs`,
//! included as it is: the proptest test and this target check the same rules).
//!
//! Input: one mode byte (bit 0: `Commit` or `Buffered`; bit 1: a size limit), then operations
//! of an opcode byte and its operands (little-endian), at most 64 of them.
#![no_main]

#[path = "../../crates/wal-core/tests/it/model/machine.rs"]
mod machine;

use libfuzzer_sys::fuzz_target;
use machine::{Model, Op};
use wal_core::{ChunkPreparation, Durability, Options, SimStorage, Tag, Wal};

const TAG: Tag = match Tag::user(0x41) {
    Some(tag) => tag,
    None => panic!("0x41 is a user tag"),
};

fn small(durability: Durability) -> Options {
    Options::default()
        .with_chunk_bytes(64 << 10)
        .with_chunks_per_segment(2)
        .with_durability(durability)
        .with_preparation(ChunkPreparation::Inline)
        .with_housekeeping(None)
}

fn open_sim(storage: &SimStorage, options: Options) -> (Wal<SimStorage>, wal_core::RecoveryReport) {
    Wal::open_in(storage.clone(), "/log", options).expect("open")
}

/// Reads operations off the input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u16(&mut self) -> Option<usize> {
        Some(usize::from(u16::from_le_bytes([self.byte()?, self.byte()?])))
    }

    fn u64(&mut self) -> Option<u64> {
        let mut bytes = [0; 8];
        for byte in &mut bytes {
            *byte = self.byte()?;
        }
        Some(u64::from_le_bytes(bytes))
    }

    fn op(&mut self) -> Option<Op> {
        Some(match self.byte()? % 14 {
            0 => Op::Append(self.u16()? % 3000),
            1 => {
                let count = usize::from(self.byte()? % 6);
                let mut deltas = Vec::with_capacity(count);
                for _ in 0..count {
                    deltas.push(self.u16()? % 2000);
                }
                Op::Txn { deltas, commit: self.byte()? % 2 == 1 }
            }
            2 => Op::OpenTxnThenCrash { deltas: usize::from(self.byte()? % 4), seed: self.u64()? },
            3 => Op::Sync,
            4 => Op::TruncateAfter(self.u16()?),
            5 => Op::TruncateBefore(self.u16()?),
            6 => Op::Reopen,
            7 => Op::Crash(self.u64()?),
            8 => Op::Fill(usize::from(self.byte()?) % 200 + 1),
            9 => Op::Begin,
            10 => Op::Delta(self.u16()? % 2000),
            11 => Op::Commit,
            12 => Op::Abort,
            _ => Op::Prune { force: self.byte()? % 2 == 1 },
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(mode) = input.byte() else { return };
    let durability = if mode % 2 == 1 { Durability::Commit } else { Durability::Buffered };
    // Bit 1: every roll prunes to a size limit, with transactions open across it.
    let limit = (mode & 2 != 0).then_some(256 << 10);
    let mut model = Model::with_size_limit(durability, limit);
    for _ in 0..64 {
        let Some(op) = input.op() else { break };
        model.run(op);
    }
    model.run(Op::Crash(7));
});
