//! Durable commits from async code on tokio: many tasks commit at once, none blocks a runtime
//! thread while its sync runs, and their commits share syncs (group commit).
//!
//! `cargo run -p wal-core --example async_commit [DIR]` (a temporary directory by default).
//! It does not show the blocking calls: `Txn::commit` inside a task would block a worker.

use std::sync::Arc;
use std::time::Instant;

use wal_core::{Options, Tag, Wal};

const TAG: Tag = match Tag::user(0x40) {
    Some(tag) => tag,
    None => panic!("0x40 is a user tag"),
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temporary = tempfile::tempdir()?;
    let dir = std::env::args_os().nth(1).map_or_else(|| temporary.path().to_owned(), Into::into);
    let (wal, report) = Wal::open(&dir, Options::default())?;
    println!("opened {} ({} records recovered)", dir.display(), report.records);
    let wal = Arc::new(wal);

    // One record: appended at the call, durable when the future resolves.
    let lsn = wal.append_durable(TAG, b"hello").await?;
    println!("record {lsn} is durable");

    // 1,000 tasks, each committing a transaction of two deltas.
    let started = Instant::now();
    let syncs_before = wal.stats().syncs;
    let tasks: Vec<_> = (0..1000u32)
        .map(|n| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move {
                let mut txn = wal.begin()?;
                txn.delta(TAG, format!("set x{n} = {n}").as_bytes())?;
                txn.delta(TAG, format!("set y{n} = {n}").as_bytes())?;
                txn.commit_async().await
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    println!(
        "1000 transactions durable in {:?}, {} syncs",
        started.elapsed(),
        wal.stats().syncs - syncs_before
    );

    // A commit appended now and waited for later (outside some lock of the application's).
    let mut txn = wal.begin()?;
    txn.delta(TAG, b"set z = 1")?;
    let commit = txn.commit_unsynced()?;
    wal.wait_durable(commit).await?;
    println!("commit {commit} is durable; {} committed units", wal.replay()?.count());
    Ok(())
}
