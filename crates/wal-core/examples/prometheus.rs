//! Serves two logs' metrics to Prometheus: installs `metrics-exporter-prometheus`'s recorder
//! with its HTTP listener on a loopback port, opens two logs in one process (one named through
//! `Options::metrics_label`, one labelled by its directory), and appends to both, so each
//! metric shows two series told apart by their `log` label.
//!
//! Run `cargo run -p wal-core --example prometheus -- 127.0.0.1:9000`, then
//! `curl http://127.0.0.1:9000/metrics`. The scrape test (`tests/it/prometheus.rs`) runs these
//! same functions and reads `/metrics` over loopback. It shows no Prometheus configuration or
//! alerting rules: the README's table says what each series means.

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use wal_core::{Options, Tag, Wal};

/// Installs the Prometheus recorder, serving `http://{addr}/metrics`: once per process, before
/// opening the logs (metrics sent before it are lost).
pub(crate) fn install(addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    PrometheusBuilder::new().with_http_listener(addr).install()?;
    wal_core::describe_metrics(); // optional: help texts and units
    Ok(())
}

/// Opens the example's two logs under `root`: `orders`, named `log="orders"` by its options,
/// and `audit`, labelled by its directory (the default).
pub(crate) fn open_logs(root: &Path) -> Result<[Wal; 2], wal_core::Error> {
    let named = Options::default().with_metrics_label(Some("orders"));
    let (orders, _) = Wal::open(root.join("orders"), named)?;
    let (audit, _) = Wal::open(root.join("audit"), Options::default())?;
    Ok([orders, audit])
}

/// Appends `count` records to `wal`, then exports its metrics at once (the housekeeping thread
/// would within a second: `Options::housekeeping`).
pub(crate) fn append(wal: &Wal, count: usize) -> Result<(), wal_core::Error> {
    let tag = Tag::user(0x40).expect("a user tag");
    for i in 0..count {
        wal.append(tag, format!("record {i}").as_bytes())?;
    }
    wal.export_metrics();
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9000".to_owned());
    let addr: SocketAddr = addr.parse()?;
    install(addr)?;
    let dir = tempfile::tempdir()?;
    let logs = open_logs(dir.path())?;
    println!("serving http://{addr}/metrics until interrupted (Ctrl-C)");
    loop {
        // Different rates, so the two logs' series differ.
        for (wal, count) in logs.iter().zip([10, 3]) {
            append(wal, count)?;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
