//! The layering rule: every dependency edge between workspace crates must be allowed by the table
//! under "## Allowed dependencies" in `docs/ARCHITECTURE.md`.
//!
//! The table has one row per workspace package: `| \`crate\` | \`dep\`, \`dep\` |`, or `-` for
//! none. Edges of every kind (normal, dev, build) count, and a package missing from the table is an
//! error, so a new crate cannot slip in without its place in the architecture being written down.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const HEADING: &str = "## Allowed dependencies";

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Runs `cargo metadata` on the workspace at `root` and checks it against its ARCHITECTURE.md.
pub(crate) fn check_workspace(root: &Path) -> Result<(), String> {
    let doc_path = root.join("docs/ARCHITECTURE.md");
    let doc = std::fs::read_to_string(&doc_path)
        .map_err(|error| format!("{}: {error}", doc_path.display()))?;
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .map_err(|error| format!("cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("cargo metadata output: {error}"))?;
    let actual = workspace_edges(&metadata)?;
    let allowed = allowed_edges(&doc)?;
    let violations = violations(&allowed, &actual);
    if violations.is_empty() {
        let edges: usize = actual.values().map(BTreeSet::len).sum();
        println!("layering: {} crates, {edges} internal edges, all allowed", actual.len());
        Ok(())
    } else {
        Err(format!("layering violations:\n  {}", violations.join("\n  ")))
    }
}

/// The dependency edges between workspace packages, from `cargo metadata --no-deps` output.
fn workspace_edges(metadata: &Value) -> Result<Graph, String> {
    let packages = metadata["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut graph = Graph::new();
    for package in packages {
        let name = package["name"].as_str().ok_or("cargo metadata: package without a name")?;
        let deps = package["dependencies"].as_array().map(Vec::as_slice).unwrap_or_default();
        let internal = deps
            .iter()
            .filter_map(|dep| dep["name"].as_str())
            .filter(|dep| names.contains(dep))
            .map(str::to_owned)
            .collect();
        graph.insert(name.to_owned(), internal);
    }
    Ok(graph)
}

/// The allowed edges, from the table under [`HEADING`].
fn allowed_edges(doc: &str) -> Result<Graph, String> {
    let start = doc.find(HEADING).ok_or(format!("ARCHITECTURE.md has no {HEADING:?} section"))?;
    let rows = doc[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2);
    let mut graph = Graph::new();
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let [krate, deps, ..] = cells.as_slice() else {
            return Err(format!("malformed row in {HEADING}: {row}"));
        };
        let deps = deps
            .split(',')
            .map(|dep| dep.trim().trim_matches('`'))
            .filter(|dep| !dep.is_empty() && *dep != "-")
            .map(str::to_owned)
            .collect();
        graph.insert(krate.trim_matches('`').to_owned(), deps);
    }
    Ok(graph)
}

fn violations(allowed: &Graph, actual: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (krate, deps) in actual {
        let Some(permitted) = allowed.get(krate) else {
            found.push(format!("{krate} is not in the table of docs/ARCHITECTURE.md"));
            continue;
        };
        for dep in deps.difference(permitted) {
            found.push(format!("{krate} -> {dep} is not an allowed edge"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
## Allowed dependencies

| crate | may depend on |
|---|---|
| `low` | - |
| `mid` | `low` |
| `top` | `mid`, `low` |
";

    fn metadata(edges: &[(&str, &[&str])]) -> Value {
        let packages: Vec<Value> = edges
            .iter()
            .map(|(name, deps)| {
                let deps: Vec<Value> = deps
                    .iter()
                    .map(|dep| serde_json::json!({ "name": dep, "kind": null }))
                    .chain([serde_json::json!({ "name": "bytes", "kind": null })])
                    .collect();
                serde_json::json!({ "name": name, "dependencies": deps })
            })
            .collect();
        serde_json::json!({ "packages": packages })
    }

    fn check(edges: &[(&str, &[&str])]) -> Vec<String> {
        let allowed = allowed_edges(DOC).unwrap();
        violations(&allowed, &workspace_edges(&metadata(edges)).unwrap())
    }

    #[test]
    fn allowed_graph_passes() {
        assert!(check(&[("low", &[]), ("mid", &["low"]), ("top", &["mid", "low"])]).is_empty());
    }

    #[test]
    fn upward_edge_fails() {
        assert_eq!(
            check(&[("low", &["mid"]), ("mid", &[])]),
            ["low -> mid is not an allowed edge"]
        );
    }

    #[test]
    fn unlisted_crate_fails() {
        assert_eq!(check(&[("stray", &[])]), ["stray is not in the table of docs/ARCHITECTURE.md"]);
    }

    #[test]
    fn the_real_workspace_obeys_its_architecture() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check_workspace(root).unwrap();
    }
}
