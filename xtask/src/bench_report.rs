//! Turns criterion's raw estimates into the table `docs/PERFORMANCE.md` shows: per benchmark,
//! ns per frame, payload GB/s, and the difference to the `crc` baseline of the same group.
//!
//! Reads `target/criterion/<group>/<function>/<frames>/new/{estimates,benchmark}.json`; it does
//! not run anything and invents no number: a missing file is an error.

use std::path::Path;

use serde_json::Value;

/// Prints one markdown table per `codec_*` group found under `criterion_dir`.
pub(crate) fn print_codec_report(criterion_dir: &Path) -> Result<(), String> {
    let mut groups = read_dir_names(criterion_dir)?;
    groups.retain(|name| name.starts_with("codec_"));
    groups.sort();
    if groups.is_empty() {
        return Err(format!("no codec_* results under {}", criterion_dir.display()));
    }
    for group in groups {
        let mut rows = group_rows(&criterion_dir.join(&group))?;
        let find =
            |name: &str| rows.iter().find(|row| row.function == name).map(|r| r.ns_per_frame);
        let crc = find("crc");
        // An encoder must at least copy the payload and checksum it: its floor is the sum.
        if let (Some(crc), Some(memcpy), Some(any)) = (crc, find("memcpy"), rows.first()) {
            let floor = crc + memcpy;
            let gb_per_s = any.payload_gb_per_s * any.ns_per_frame / floor;
            rows.push(Row {
                function: "crc + memcpy (encode floor)".into(),
                ns_per_frame: floor,
                payload_gb_per_s: gb_per_s,
            });
        }
        println!(
            "\n{group}\n| benchmark | ns/frame | payload GB/s | ns/frame over crc |\n|---|---|---|---|"
        );
        for row in &rows {
            let over = crc.map_or("-".into(), |crc| format!("{:+.1}", row.ns_per_frame - crc));
            println!(
                "| {} | {:.1} | {:.2} | {over} |",
                row.function, row.ns_per_frame, row.payload_gb_per_s
            );
        }
    }
    Ok(())
}

struct Row {
    function: String,
    ns_per_frame: f64,
    payload_gb_per_s: f64,
}

fn group_rows(group_dir: &Path) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut functions = read_dir_names(group_dir)?;
    functions.retain(|name| name != "report");
    functions.sort();
    for function in functions {
        for frames in read_dir_names(&group_dir.join(&function))? {
            let run = group_dir.join(&function).join(&frames).join("new");
            let frame_count: f64 =
                frames.parse().map_err(|_| format!("{}: not a frame count", run.display()))?;
            let mean_ns = json(&run.join("estimates.json"))?["mean"]["point_estimate"]
                .as_f64()
                .ok_or(format!("{}: no mean", run.display()))?;
            let bytes = json(&run.join("benchmark.json"))?["throughput"]["Bytes"]
                .as_f64()
                .ok_or(format!("{}: no byte throughput", run.display()))?;
            rows.push(Row {
                function: function.clone(),
                ns_per_frame: mean_ns / frame_count,
                payload_gb_per_s: bytes / mean_ns,
            });
        }
    }
    Ok(rows)
}

fn json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_slice(&text).map_err(|error| format!("{}: {error}", path.display()))
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    Ok(entries.filter_map(Result::ok).filter_map(|e| e.file_name().into_string().ok()).collect())
}
