//! Three openraft nodes in one process, each storing its Raft log in a `WalLogStore`: elect a
//! leader, replicate writes, restart the leader, and read the replicated map back.
//!
//! Run with `cargo run --release -p wal-raft --example cluster [DIR]` (default: a fresh
//! temporary directory, removed at the end).

#[path = "../tests/it/kv.rs"]
mod kv;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, Config};

use kv::{Router, start, write};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let base = std::env::args_os().nth(1).map_or_else(|| temp.path().to_owned(), Into::into);
    let config = Arc::new(Config::default().validate().expect("config"));
    let router = Router::default();
    for id in 1..=3 {
        start(id, &base.join(format!("node{id}")), &router, &config).await;
    }
    let members: BTreeMap<u64, BasicNode> =
        (1..=3).map(|id| (id, BasicNode::new(id.to_string()))).collect();
    let node = router.nodes.lock().expect("lock")[&1].clone();
    node.initialize(members).await.expect("initialize");
    let leader = node
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .expect("a leader")
        .current_leader
        .expect("leader");
    println!("node {leader} leads; logs under {}", base.display());

    let started = Instant::now();
    for n in 0..1000 {
        write(&router, &format!("key{n}"), &format!("value{n}")).await;
    }
    println!("1000 writes committed on a majority in {:.2?}", started.elapsed());

    // Restart the leader: its store reopens from the log and the state file.
    let leader_node = router.nodes.lock().expect("lock").remove(&leader).expect("running");
    leader_node.shutdown().await.expect("shut down");
    drop(leader_node);
    start(leader, &base.join(format!("node{leader}")), &router, &config).await;
    let node = router.nodes.lock().expect("lock")[&leader].clone();
    let last = node
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.last_applied.is_some_and(|id| id.index >= 1000), "catch up")
        .await
        .expect("the restarted node catches up");
    println!(
        "node {leader} restarted and applied up to index {}; the leader is now {}",
        last.last_applied.map_or(0, |id| id.index),
        last.current_leader.map_or_else(|| "being elected".to_owned(), |id| format!("node {id}"))
    );
    let nodes: Vec<kv::Raft> = router.nodes.lock().expect("lock").values().cloned().collect();
    for node in nodes {
        node.shutdown().await.expect("shut down");
    }
}
