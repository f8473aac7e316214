//! Three nodes in one process over `WalLogStore`: elect a leader, replicate writes, restart a
//! follower and then the leader, and agree on the state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::{BasicNode, Config, SnapshotPolicy};
use tempfile::TempDir;

use crate::kv::{Raft, Router, start, write};

/// Waits until every running node has applied at least `index`.
async fn applied(router: &Router, index: u64) {
    let nodes: Vec<(u64, Raft)> =
        router.nodes.lock().expect("lock").iter().map(|(id, n)| (*id, n.clone())).collect();
    for (id, node) in nodes {
        node.wait(Some(Duration::from_secs(10)))
            .applied_index_at_least(Some(index), format!("node {id} applies {index}"))
            .await
            .expect("applied");
    }
}

async fn leader(router: &Router) -> u64 {
    let node = router.nodes.lock().expect("lock").values().next().cloned().expect("a node");
    let metrics = node
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .expect("a leader is elected");
    metrics.current_leader.expect("leader")
}

async fn restart(router: &Router, dirs: &BTreeMap<u64, TempDir>, id: u64, config: &Arc<Config>) {
    let node = router.nodes.lock().expect("lock").remove(&id).expect("running");
    node.shutdown().await.expect("shut down");
    drop(node);
    start(id, dirs[&id].path(), router, config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_and_survive_restarts() {
    let config = Arc::new(
        Config {
            heartbeat_interval: 50,
            election_timeout_min: 300,
            election_timeout_max: 600,
            // Snapshots and purges happen during the test, so restarts rebuild from both.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(40),
            max_in_snapshot_log_to_keep: 10,
            ..Config::default()
        }
        .validate()
        .expect("config"),
    );
    let router = Router::default();
    let dirs: BTreeMap<u64, TempDir> =
        (1..=3).map(|id| (id, TempDir::new().expect("dir"))).collect();
    for (id, dir) in &dirs {
        start(*id, dir.path(), &router, &config).await;
    }
    let members: BTreeMap<u64, BasicNode> =
        (1..=3).map(|id| (id, BasicNode::new(id.to_string()))).collect();
    let first = router.nodes.lock().expect("lock")[&1].clone();
    first.initialize(members).await.expect("initialize");

    let mut written = 0;
    for round in 0..3 {
        for _ in 0..50 {
            write(&router, &format!("k{written}"), &format!("v{written}-{round}")).await;
            written += 1;
        }
        let leader = leader(&router).await;
        // Round 0: restart a follower; round 1: the leader; round 2: everyone.
        let victims: Vec<u64> = match round {
            0 => vec![(1..=3).find(|id| *id != leader).expect("a follower")],
            1 => vec![leader],
            _ => vec![1, 2, 3],
        };
        for victim in victims {
            restart(&router, &dirs, victim, &config).await;
        }
    }
    write(&router, "last", "write").await;
    let node = router.nodes.lock().expect("lock").values().next().cloned().expect("a node");
    let index = node.metrics().borrow_watched().last_log_index.expect("entries");
    applied(&router, index).await;

    let states: Vec<BTreeMap<String, String>> = {
        let nodes: Vec<Raft> = router.nodes.lock().expect("lock").values().cloned().collect();
        let mut states = Vec::new();
        for node in nodes {
            let map = node
                .with_state_machine(|sm: &mut crate::kv::KvStateMachine| {
                    let map = sm.data.lock().expect("lock").map.clone();
                    Box::pin(async move { map })
                })
                .await
                .expect("state machine");
            states.push(map);
        }
        states
    };
    assert_eq!(states[0].len(), written + 1, "every write applied");
    for n in 0..written {
        assert_eq!(states[0][&format!("k{n}")], format!("v{n}-{}", n / 50));
    }
    assert!(states.iter().all(|state| *state == states[0]), "the nodes agree");
    // Snapshots were taken and the logs purged behind them, so restarts rebuilt from both.
    let nodes: Vec<Raft> = router.nodes.lock().expect("lock").values().cloned().collect();
    let purged: Vec<u64> = nodes
        .iter()
        .map(|node| node.metrics().borrow_watched().purged.map_or(0, |id| id.index))
        .collect();
    assert!(purged.iter().all(|index| *index > 0), "every log was purged: {purged:?}");
    println!(
        "3 nodes: {} writes, 5 restarts (2 of the leader), states agree; purged up to {purged:?}",
        written + 1
    );
    for node in nodes {
        node.shutdown().await.expect("shut down");
    }
}
