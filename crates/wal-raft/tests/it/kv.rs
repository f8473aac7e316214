//! A key-value state machine replicated by openraft over `WalLogStore`, and an in-process
//! network: what the cluster test and the `cluster` example run. The state machine keeps its
//! data in memory and its latest snapshot in a file beside the log, so a restarted node
//! rebuilds from the snapshot and the log.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use openraft::errors::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::storage::{EntryResponder, RaftStateMachine, Snapshot};
use openraft::type_config::alias::{
    LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf,
};
use openraft::{BasicNode, EntryPayload, RaftSnapshotBuilder, StoredMembership};
use serde::{Deserialize, Serialize};
use wal_raft::WalLogStore;

/// A write to the key-value map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Set { key, value } => write!(f, "set {key}={value}"),
        }
    }
}

/// The answer to a write: the value it set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Response {
    /// The value written, if the entry was a write.
    pub(crate) value: Option<String>,
}

openraft::declare_raft_types!(
    /// The cluster's types.
    pub(crate) TypeConfig:
        D = Request,
        R = Response,
        AsyncRuntime = openraft_rt_tokio::TokioRuntime,
);

/// A node of the cluster.
pub(crate) type Raft = openraft::Raft<TypeConfig, KvStateMachine>;
/// The log store of a node.
pub(crate) type Store = WalLogStore<TypeConfig>;
type Meta = SnapshotMetaOf<TypeConfig>;
/// The current snapshot: its meta and bytes.
type Kept = Option<(Meta, Vec<u8>)>;

/// What the state machine holds: applied position, membership, the map.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KvData {
    /// The last entry applied.
    pub(crate) last_applied: Option<LogIdOf<TypeConfig>>,
    /// The membership last applied.
    pub(crate) membership: StoredMembershipOf<TypeConfig>,
    /// The map.
    pub(crate) map: BTreeMap<String, String>,
}

/// The state machine; clones share it (the snapshot builder is a clone).
#[derive(Clone)]
pub(crate) struct KvStateMachine {
    /// The applied state, shared so a test can look inside.
    pub(crate) data: Arc<Mutex<KvData>>,
    snapshot: Arc<Mutex<Kept>>,
    snapshot_path: PathBuf,
}

impl KvStateMachine {
    /// A state machine whose snapshot lives at `dir/snapshot.json`; loads it if present (the
    /// node then starts from it).
    pub(crate) fn open(dir: &Path) -> io::Result<KvStateMachine> {
        let snapshot_path = dir.join("snapshot.json");
        let snapshot = match std::fs::read(&snapshot_path) {
            Ok(bytes) => {
                let (meta, data): (Meta, Vec<u8>) =
                    serde_json::from_slice(&bytes).map_err(io::Error::other)?;
                Some((meta, data))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        Ok(KvStateMachine {
            data: Arc::default(),
            snapshot: Arc::new(Mutex::new(snapshot)),
            snapshot_path,
        })
    }

    /// Keeps `snapshot` as the current one, durably (written aside, synced, renamed).
    fn keep(&self, meta: &Meta, data: &[u8]) -> io::Result<()> {
        let bytes = serde_json::to_vec(&(meta, data)).map_err(io::Error::other)?;
        let staged = self.snapshot_path.with_extension("tmp");
        std::fs::write(&staged, &bytes)?;
        std::fs::File::open(&staged)?.sync_all()?;
        std::fs::rename(&staged, &self.snapshot_path)?;
        if let Some(dir) = self.snapshot_path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        *self.snapshot.lock().expect("lock") = Some((meta.clone(), data.to_vec()));
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for KvStateMachine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, Vec<u8>>, io::Error> {
        let data = self.data.lock().expect("lock").clone();
        let bytes = serde_json::to_vec(&data).map_err(io::Error::other)?;
        let meta = Meta { last_log_id: data.last_applied, last_membership: data.membership };
        self.keep(&meta, &bytes)?;
        Ok(Snapshot { meta, snapshot: bytes })
    }
}

impl RaftStateMachine<TypeConfig> for KvStateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = KvStateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let data = self.data.lock().expect("lock");
        Ok((data.last_applied, data.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let response = {
                let mut data = self.data.lock().expect("lock");
                data.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => Response::default(),
                    EntryPayload::Normal(Request::Set { key, value }) => {
                        data.map.insert(key, value.clone());
                        Response { value: Some(value) }
                    }
                    EntryPayload::Membership(membership) => {
                        data.membership = StoredMembership::new(Some(entry.log_id), membership);
                        Response::default()
                    }
                }
            };
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> KvStateMachine {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Vec<u8>) -> Result<(), io::Error> {
        let data: KvData = serde_json::from_slice(&snapshot).map_err(io::Error::other)?;
        self.keep(meta, &snapshot)?;
        *self.data.lock().expect("lock") = data;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Vec<u8>>>, io::Error> {
        let current = self.snapshot.lock().expect("lock").clone();
        Ok(current.map(|(meta, snapshot)| Snapshot { meta, snapshot }))
    }
}

/// The in-process network: every node's `Raft` by id. A node not in the map is unreachable.
#[derive(Clone, Default)]
pub(crate) struct Router {
    /// The running nodes.
    pub(crate) nodes: Arc<Mutex<BTreeMap<u64, Raft>>>,
}

/// A connection to one node through the router.
pub(crate) struct Connection {
    target: u64,
    router: Router,
}

impl Connection {
    fn node(&self) -> Result<Raft, Unreachable<TypeConfig>> {
        let nodes = self.router.nodes.lock().expect("lock");
        let node = nodes.get(&self.target).cloned();
        node.ok_or_else(|| Unreachable::from_string(format!("node {} is down", self.target)))
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection { target, router: self.clone() }
    }
}

fn unreachable(error: impl ToString) -> Unreachable<TypeConfig> {
    Unreachable::from_string(error.to_string())
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let node = self.node().map_err(RPCError::Unreachable)?;
        node.append_entries(request).await.map_err(|e| RPCError::Unreachable(unreachable(e)))
    }

    async fn vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let node = self.node().map_err(RPCError::Unreachable)?;
        node.vote(request).await.map_err(|e| RPCError::Unreachable(unreachable(e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Vec<u8>>,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let node = self.node().map_err(StreamingError::Unreachable)?;
        node.install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(unreachable(e)))
    }
}

/// Opens node `id`'s store and state machine in `dir` and starts it on `router`. The directory
/// lock of a node just shut down may be held a moment longer (its tasks still hold the store):
/// opening retries for a few seconds.
pub(crate) async fn start(
    id: u64,
    dir: &Path,
    router: &Router,
    config: &Arc<openraft::Config>,
) -> Raft {
    let mut attempts = 0;
    let store = loop {
        match Store::open(dir) {
            Ok(store) => break store,
            Err(error) if attempts < 100 => {
                attempts += 1;
                let _ = error;
                // sleep: backs off while the stopped node's tasks still hold its directory
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("open node {id}'s store: {error}"),
        }
    };
    let state_machine = KvStateMachine::open(dir).expect("state machine");
    let raft = Raft::new(id, Arc::clone(config), router.clone(), store, state_machine)
        .await
        .expect("start a node");
    router.nodes.lock().expect("lock").insert(id, raft.clone());
    raft
}

/// Writes `key=value` through whichever node accepts it, retrying while no node can (right
/// after an election a leader refuses writes until its lease is established; a follower
/// refuses them with a forward-to-leader error).
pub(crate) async fn write(router: &Router, key: &str, value: &str) {
    let request = Request::Set { key: key.to_owned(), value: value.to_owned() };
    for _ in 0..500 {
        let nodes: Vec<Raft> = router.nodes.lock().expect("lock").values().cloned().collect();
        for node in nodes {
            if let Ok(response) = node.client_write(request.clone()).await {
                assert_eq!(response.data.value.as_deref(), Some(value));
                return;
            }
        }
        // sleep: backs off until some node is leader and accepts the write (leadership may
        // move meanwhile, so no single node's metrics can be awaited)
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no node accepted {key}={value}");
}
