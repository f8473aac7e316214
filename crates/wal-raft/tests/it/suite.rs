//! openraft's own storage test suite, run against the store.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use tempfile::TempDir;

use crate::kv::{KvStateMachine, Store, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, Store, KvStateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, Store, KvStateMachine), StorageError<TypeConfig>> {
        let dir = TempDir::new().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let state_machine = KvStateMachine::open(dir.path()).expect("state machine");
        Ok((dir, store, state_machine))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_log_storage_suite() {
    Suite::test_all(Builder).await.expect("the suite passes");
}
