//! The run's report: the limits, the table of systems with their ratios, and the plot.

use crate::limits::{CELLS, Limits};
use crate::{SYSTEMS, Workload};

/// One workload's results: each system's numbers, in the order of `SYSTEMS`.
pub(crate) type Row = Vec<Vec<f64>>;

/// One cell's numbers as text: the rate, then latencies or recovery figures where measured.
fn cell(fields: &[f64]) -> String {
    match *fields {
        [rate, ..] if rate.is_nan() => "n/a".to_owned(),
        [rate, p50, p99] => format!("{rate:.0} (p50 {p50:.0} us, p99 {p99:.0} us)"),
        [rate, seconds, rss, anon, file] => format!(
            "{rate:.0} ({seconds:.2} s, peak RSS {rss:.0} MiB: anonymous {anon:.0}, file-mapped \
             {file:.0})"
        ),
        [rate, seconds, rss, _] => format!("{rate:.0} ({seconds:.2} s, peak RSS {rss:.0} MiB)"),
        [rate, ..] if rate < 100.0 => format!("{rate:.1}"),
        [rate, ..] => format!("{rate:.0}"),
        [] => String::new(),
    }
}

pub(crate) fn limits_table(limits: &Limits) {
    println!("Physical limits, measured in this run:\n");
    println!("| limit | unit | measured |\n|---|---|---|");
    for ((_, name, unit), fields) in CELLS.iter().zip(&limits.0) {
        println!("| {name} | {unit} | {} |", cell(fields));
    }
    println!();
}

pub(crate) fn table(table: &[(&Workload, Row)], limits: &Limits) {
    println!(
        "| workload | unit | {} | wal / best library peer | wal / naive | limit | wal / limit |",
        SYSTEMS.join(" | ")
    );
    println!("|---|---|{}---|---|---|---|", "---|".repeat(SYSTEMS.len()));
    for (workload, row) in table {
        let cells: Vec<String> = row.iter().map(|fields| cell(fields)).collect();
        // Columns: wal, naive, then the libraries. `f64::max` passes over a NaN (a cell left
        // empty).
        let best_library = row[2..].iter().map(|fields| fields[0]).fold(f64::NAN, f64::max);
        let limit = limits.of(workload.limit);
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {} | {:.2} |",
            workload.name,
            workload.unit,
            cells.join(" | "),
            row[0][0] / best_library,
            row[0][0] / row[1][0],
            cell(&[limit]),
            row[0][0] / limit
        );
    }
}

/// A bar chart, one group per workload, each bar a system's rate as a fraction of the best in
/// that workload (labelled with the rate). Written by hand: a few rectangles and labels, no
/// font machinery needed.
pub(crate) fn plot(table: &[(&Workload, Row)]) -> String {
    let colors = [
        "#1f77b4", "#7f7f7f", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
        "#17becf",
    ];
    let (bar, gap, left, width) = (14.0, 14.0, 250.0, 420.0);
    let group = bar * SYSTEMS.len() as f64 + gap;
    let height = 40.0 + group * table.len() as f64 + 30.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        left + width + 160.0
    );
    svg += "<text x=\"10\" y=\"20\" font-size=\"14\">Rate as a fraction of the best system in each workload (higher is better)</text>\n";
    for (g, (workload, row)) in table.iter().enumerate() {
        let top = 40.0 + group * g as f64;
        let name = workload.name.split(':').next().unwrap_or(workload.name);
        svg += &format!("<text x=\"10\" y=\"{}\">{}</text>\n", top + bar * 2.0, escape(name));
        svg += &format!(
            "<text x=\"10\" y=\"{}\" fill=\"#555\">{}</text>\n",
            top + bar * 3.0,
            workload.unit
        );
        let best = row.iter().map(|fields| fields[0]).fold(0.0, f64::max);
        for (s, fields) in row.iter().enumerate() {
            let y = top + bar * s as f64;
            if fields[0].is_nan() {
                svg += &format!(
                    "<text x=\"{}\" y=\"{}\" fill=\"#999\">{} n/a</text>\n",
                    left + 4.0,
                    y + bar - 4.0,
                    SYSTEMS[s]
                );
                continue;
            }
            let w = width * fields[0] / best;
            svg += &format!(
                "<rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/>\n",
                bar - 2.0,
                colors[s]
            );
            svg += &format!(
                "<text x=\"{:.1}\" y=\"{}\">{} {}</text>\n",
                left + w + 4.0,
                y + bar - 4.0,
                SYSTEMS[s],
                cell(&fields[..1])
            );
        }
    }
    svg += "</svg>\n";
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
