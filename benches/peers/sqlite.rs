//! `sqlite` (rusqlite, bundled SQLite): a table of (integer key, blob) in WAL journal mode; one
//! autocommit `INSERT` per record (batches: one transaction each) with `synchronous=NORMAL` and
//! a `wal_checkpoint(FULL)` at the end (which syncs), or with `synchronous=FULL` for durable
//! cells (the WAL synced at every commit); W4 uses a connection per thread.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

pub(crate) struct Sqlite {
    path: PathBuf,
    durable: bool,
    /// The connection that sets the database up and checkpoints it (a `Connection` is
    /// `Send`, not `Sync`).
    first: std::sync::Mutex<Connection>,
}

fn connect(path: &Path, durable: bool) -> Connection {
    let connection = Connection::open(path).expect("open");
    connection.busy_timeout(std::time::Duration::from_secs(60)).expect("busy timeout");
    let synchronous = if durable { "FULL" } else { "NORMAL" };
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous};
             CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);"
        ))
        .expect("set up");
    connection
}

impl super::System for Sqlite {
    type Writer<'a> = Connection;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        std::fs::create_dir_all(dir).expect("dir");
        let path = dir.join("log.sqlite");
        let first = std::sync::Mutex::new(connect(&path, durable));
        Sqlite { path, durable, first }
    }

    fn writer(&self) -> Connection {
        connect(&self.path, self.durable)
    }

    fn finish(&self) {
        // Moves the WAL into the database and syncs both.
        let first = self.first.lock().expect("lock");
        // (busy, frames in the WAL, frames checkpointed): a busy checkpoint synced nothing.
        let busy: i64 = first
            .query_row("PRAGMA wal_checkpoint(FULL)", [], |row| row.get(0))
            .expect("checkpoint");
        assert_eq!(busy, 0, "the final checkpoint completed");
    }

    fn read_all(dir: &Path) -> Option<u64> {
        let connection = Connection::open(dir.join("log.sqlite")).expect("open");
        let mut statement = connection.prepare("SELECT payload FROM log").expect("prepare");
        let rows = statement.query_map([], |row| row.get::<_, Vec<u8>>(0)).expect("query");
        Some(rows.map(|row| u64::from(!row.expect("row").is_empty())).sum())
    }
}

impl super::Writer for Connection {
    fn append(&mut self, payload: &[u8]) {
        self.execute("INSERT INTO log (payload) VALUES (?1)", params![payload]).expect("insert");
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        let transaction = self.transaction().expect("begin");
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO log (payload) VALUES (?1)")
                .expect("prepare");
            for payload in payloads {
                insert.execute(params![payload]).expect("insert");
            }
        }
        transaction.commit().expect("commit");
    }
}
