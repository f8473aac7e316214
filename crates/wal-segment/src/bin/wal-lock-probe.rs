//! Test support: tries to take a log directory's lock, prints `won` or `locked`, and if it won,
//! holds the lock until its standard input is closed.
//!
//! Usage: `wal-lock-probe DIR`. Used by the lock tests to race real processes running this
//! crate's own locking code, with no timing involved; not part of the library.

use std::io::{Read, Write};
use std::path::PathBuf;

use wal_segment::{DirLock, Error, RealStorage};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: wal-lock-probe DIR"));
    match DirLock::acquire(&RealStorage, &dir) {
        Ok(lock) => {
            println!("won");
            std::io::stdout().flush().expect("stdout");
            // Hold the lock until the test has heard from every racer and closes our stdin.
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            drop(lock);
        }
        Err(Error::Locked { .. }) => println!("locked"),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    }
}
