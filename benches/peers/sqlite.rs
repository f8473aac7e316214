//! `sqlite` (rusqlite, bundled SQLite): a table of (integer key, blob) in WAL journal mode,
//! written through one connection shared behind a mutex (as an application would; separate
//! connections would wait on SQLite's busy handler, which sleeps for milliseconds). One
//! autocommit `INSERT` per record (batches: one transaction each), the statement cached.
//! Non-durable cells: `synchronous=NORMAL` and no automatic checkpoints (those sync), then a
//! `wal_checkpoint(FULL)` at the end, which syncs the WAL and the database. Durable cells:
//! `synchronous=FULL` (the WAL synced at every commit).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

pub(crate) struct Sqlite(Mutex<Connection>);

fn connect(path: &Path, durable: bool) -> Connection {
    let connection = Connection::open(path).expect("open");
    let settings = if durable {
        "PRAGMA synchronous=FULL;"
    } else {
        "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
    };
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode=WAL; {settings}
             CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);"
        ))
        .expect("set up");
    connection
}

const INSERT: &str = "INSERT INTO log (payload) VALUES (?1)";

impl super::System for Sqlite {
    type Writer<'a> = &'a Sqlite;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        std::fs::create_dir_all(dir).expect("dir");
        Sqlite(Mutex::new(connect(&dir.join("log.sqlite"), durable)))
    }

    fn writer(&self) -> &Sqlite {
        self
    }

    fn finish(&self) {
        // Moves the WAL into the database and syncs both.
        let connection = self.0.lock().expect("lock");
        // (busy, frames in the WAL, frames checkpointed): a busy checkpoint synced nothing.
        let busy: i64 = connection
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

impl super::Writer for &Sqlite {
    fn append(&mut self, payload: &[u8]) {
        let connection = self.0.lock().expect("lock");
        let mut insert = connection.prepare_cached(INSERT).expect("prepare");
        insert.execute(params![payload]).expect("insert");
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        let mut connection = self.0.lock().expect("lock");
        let transaction = connection.transaction().expect("begin");
        {
            let mut insert = transaction.prepare_cached(INSERT).expect("prepare");
            for payload in payloads {
                insert.execute(params![payload]).expect("insert");
            }
        }
        transaction.commit().expect("commit");
    }
}
