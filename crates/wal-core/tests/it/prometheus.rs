//! The Prometheus example, scraped over loopback: the README's metrics table is the list of
//! metrics (`METRICS`), and every metric it documents has a value for each of two logs in one
//! process, as two series told apart by their `log` label.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

#[path = "../../examples/prometheus.rs"]
#[allow(dead_code, reason = "the example's `main`: the test runs its other functions")]
mod example;

/// The README, whose telemetry section documents every metric in one table.
const README: &str = include_str!("../../../../README.md");

/// The table's header: the rows below it, up to the first line that is not a row, are the
/// documented metrics.
const TABLE_HEADER: &str = "| metric | type | labels | meaning |";

/// One row of the README's metrics table.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    name: String,
    kind: String,
    labels: Vec<String>,
    meaning: String,
}

/// The rows of the README's metrics table.
fn documented() -> Vec<Row> {
    let (_, table) = README.split_once(TABLE_HEADER).expect("the README's metrics table");
    let rows: Vec<Row> = table
        .lines()
        .skip(2) // the rest of the header line, and the `|---|` line
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let [name, kind, labels, meaning] = cells[..] else {
                panic!("a row of 4 cells: {line}")
            };
            let unquote = |cell: &str| cell.trim_matches('`').to_owned();
            Row {
                name: unquote(name),
                kind: kind.to_owned(),
                labels: labels.split(", ").map(unquote).collect(),
                meaning: meaning.to_owned(),
            }
        })
        .collect();
    assert!(rows.len() >= 20, "the table was not found whole: {rows:?}");
    rows
}

#[test]
fn the_readme_table_documents_exactly_the_exported_metrics() {
    let exported: Vec<Row> = wal_core::METRICS
        .iter()
        .map(|info| Row {
            name: info.name.to_owned(),
            kind: info.kind.to_owned(),
            labels: info.labels.iter().map(|&label| label.to_owned()).collect(),
            meaning: info.help.to_owned(),
        })
        .collect();
    assert_eq!(documented(), exported, "README.md's metrics table and wal_core::METRICS differ");
}

/// One sample of a scrape: a series' name, its labels as written, and its value.
struct Sample<'s> {
    name: &'s str,
    labels: &'s str,
    value: f64,
}

/// The samples of a Prometheus text exposition (comments and blank lines skipped).
fn samples(body: &str) -> Vec<Sample<'_>> {
    body.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let value = value.parse().unwrap_or_else(|_| panic!("a value: {line}"));
            Sample { name, labels: labels.trim_end_matches('}'), value }
        })
        .collect()
}

/// The value of `name` for `log` (with some `kind` if `by_kind`); a histogram, rendered as a
/// summary, counts by its `_count` series.
fn value_of(samples: &[Sample<'_>], row: &Row, log: &str) -> Option<f64> {
    let name =
        if row.kind == "histogram" { format!("{}_count", row.name) } else { row.name.clone() };
    let log = format!("log=\"{log}\"");
    let by_kind = row.labels.iter().any(|label| label == "kind");
    samples
        .iter()
        .find(|sample| {
            let labels: Vec<&str> = sample.labels.split(',').collect();
            sample.name == name
                && labels.contains(&log.as_str())
                && by_kind == labels.iter().any(|label| label.starts_with("kind="))
        })
        .map(|sample| sample.value)
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

/// Installs the example's exporter on a free loopback port; another process may take the port
/// between the probe and the exporter's bind, so a few ports are tried.
fn install_exporter() -> SocketAddr {
    let mut failures = Vec::new();
    for _ in 0..5 {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        match example::install(addr) {
            Ok(()) => return addr,
            Err(error) => failures.push(error.to_string()),
        }
    }
    panic!("the exporter did not start: {failures:?}");
}

/// `GET /metrics` from `addr` with a plain HTTP/1.0 request; returns the body.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the exporter");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers, then a body");
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

#[test]
fn two_logs_scraped_over_loopback_are_two_series_of_every_documented_metric() {
    let addr = install_exporter();
    let dir = tempfile::tempdir().expect("a directory");
    let logs = example::open_logs(dir.path()).expect("open the logs");
    let counts = [20, 5];
    for (wal, count) in logs.iter().zip(counts) {
        example::append(wal, count).expect("append");
    }
    let labels = logs.each_ref().map(|wal| wal.metrics_label().to_owned());
    assert_eq!(labels[0], "orders", "named in its options");
    assert_eq!(labels[1], dir.path().join("audit").display().to_string(), "its directory");
    assert!(labels.iter().all(|l| !l.contains(['"', '\\', ',', '}'])), "no escaping: {labels:?}");

    let body = scrape(addr);
    let samples = samples(&body);
    let mut missing = Vec::new();
    for row in documented() {
        for log in &labels {
            if value_of(&samples, &row, log).is_none() {
                missing.push(format!("{}{{log=\"{log}\"}}", row.name));
            }
        }
    }
    assert!(missing.is_empty(), "documented but not scraped: {missing:?}\n{body}");

    // Two series, each with its own log's figures (not one log's count, not a sum).
    let value = |name: &str, log: usize| {
        let row = Row {
            name: name.to_owned(),
            kind: "gauge".to_owned(),
            labels: vec![],
            meaning: String::new(),
        };
        value_of(&samples, &row, &labels[log]).expect("scraped")
    };
    for (log, wal) in logs.iter().enumerate() {
        let stats = wal.stats();
        assert_eq!(stats.records, counts[log] as u64);
        #[allow(clippy::cast_precision_loss)] // small counts
        let records = stats.records as f64;
        assert_eq!(value("wal_appended_records_total", log), records, "{}", labels[log]);
        assert_eq!(value("wal_segments", log), 1.0);
        assert!(value("wal_segment_bytes", log) > 0.0);
        // Durability::Commit: every append returned durable.
        assert_eq!(value("wal_unsynced_records", log), 0.0);
        assert_eq!(value("wal_poisoned", log), 0.0);
    }
    println!(
        "scraped {} samples from http://{addr}/metrics; the two logs' appended records: {} and {}",
        samples.len(),
        value("wal_appended_records_total", 0),
        value("wal_appended_records_total", 1)
    );
}
