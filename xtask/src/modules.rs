//! The module rule: inside a crate, the imports between its top-level modules form no loop.
//!
//! A loop (`a` imports `b`, `b` imports `a`) means neither module can be read, tested or
//! replaced alone; the crates' own layering is checked by `layering.rs`, this is the same
//! discipline one level down. An import is any `crate::<module>` path outside comments, in a
//! `use` or inline; a file `src/m.rs` or `src/m/...` is module `m`; `lib.rs` and `main.rs`
//! (which declare and re-export every module) are not modules here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Checks every crate under `crates/`, and `xtask`, for import loops.
pub(crate) fn check_workspace(root: &Path) -> Result<(), String> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .map_err(|error| format!("crates/: {error}"))?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .collect();
    crates.sort();
    crates.extend([root.join("xtask")]);
    let mut loops = Vec::new();
    let mut modules = 0;
    for krate in &crates {
        let src = krate.join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = crate_graph(&src)?;
        modules += graph.len();
        let name = krate.file_name().map_or_else(String::new, |n| n.to_string_lossy().into());
        for (cycle, component) in cycles(&graph) {
            let all: Vec<&str> = component.iter().map(String::as_str).collect();
            loops.push(format!(
                "{name}: {} (modules in the loop: {})",
                cycle.join(" -> "),
                all.join(", ")
            ));
        }
    }
    if loops.is_empty() {
        println!("modules: {} crates, {modules} modules, no import loop", crates.len());
        Ok(())
    } else {
        Err(format!("import loops between modules:\n  {}", loops.join("\n  ")))
    }
}

/// The imports between the top-level modules of the crate whose sources are in `src`.
fn crate_graph(src: &Path) -> Result<Graph, String> {
    let mut files = Vec::new();
    collect_rs(src, &mut files)?;
    let mut sources = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).map_err(|error| error.to_string())?;
        let top = relative
            .components()
            .next()
            .map(|part| part.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned())
            .unwrap_or_default();
        // The crate roots, and binaries (each a crate of its own).
        if top == "lib" || top == "main" || top == "bin" {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|error| format!("{}: {error}", file.display()))?;
        sources.push((top, text));
    }
    Ok(graph_of(&sources))
}

/// The graph of `(module, source)` pairs: an edge for every `crate::<other module>` path.
fn graph_of(sources: &[(String, String)]) -> Graph {
    let names: BTreeSet<&str> = sources.iter().map(|(name, _)| name.as_str()).collect();
    let mut graph = Graph::new();
    for (module, text) in sources {
        let edges = graph.entry(module.clone()).or_default();
        for target in crate_paths(&strip_comments(text)) {
            if target != *module && names.contains(target.as_str()) {
                edges.insert(target);
            }
        }
    }
    graph
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        if path.is_dir() {
            collect_rs(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// `text` without `//` comments (doc comments name paths that are not imports). Block comments
/// are not used in this workspace; string literals holding `//` only hide paths after them on
/// their line, which no import shares.
fn strip_comments(text: &str) -> String {
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The first segment of every `crate::` path, a grouped `use crate::{a, b::c}` included.
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        // `crate` as a whole word: not the end of `my_crate::`.
        let whole = rest[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric() && c != '_');
        rest = &rest[at + "crate::".len()..];
        if !whole {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inside = &group[..group.find('}').unwrap_or(group.len())];
            // Nested braces only follow a first segment, which is all that is kept.
            for item in inside.split(',') {
                found.push(first_segment(item.trim()));
            }
        } else {
            found.push(first_segment(rest));
        }
    }
    found.retain(|segment| !segment.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Every loop of `graph`, one per strongly connected component of more than one module: a
/// cycle through it (the first module repeated at the end) and the component's modules.
fn cycles(graph: &Graph) -> Vec<(Vec<String>, BTreeSet<String>)> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for start in graph.keys() {
        if seen.contains(start) {
            continue;
        }
        // The component of `start`: the modules it reaches that reach it back.
        let reach = reachable(graph, start);
        let component: BTreeSet<String> =
            reach.iter().filter(|other| reachable(graph, other).contains(start)).cloned().collect();
        seen.extend(component.iter().cloned());
        if component.len() > 1 {
            found.push((cycle_through(graph, start, &component), component));
        }
    }
    found
}

fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(module) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

/// A shortest path from `start` back to itself inside `component` (breadth first).
fn cycle_through(graph: &Graph, start: &str, component: &BTreeSet<String>) -> Vec<String> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.to_owned()]);
    while let Some(module) = queue.pop_front() {
        for next in graph.get(&module).into_iter().flatten().filter(|n| component.contains(*n)) {
            if next == start {
                let mut path = vec![start.to_owned()];
                let mut at = module.clone();
                while at != start {
                    path.push(at.clone());
                    at = parent[&at].clone();
                }
                path.push(start.to_owned());
                let last = path.len() - 1;
                path[1..last].reverse();
                return path;
            }
            if !parent.contains_key(next) {
                parent.insert(next.clone(), module.clone());
                queue.push_back(next.clone());
            }
        }
    }
    component.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> Graph {
        let sources: Vec<(String, String)> =
            files.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect();
        graph_of(&sources)
    }

    #[test]
    fn grouped_inline_and_commented_paths() {
        let g = graph(&[
            ("a", "use crate::{b::X, c};\nfn f() { crate::d::g(); }\n/// [`crate::e::Y`]\n"),
            ("b", "use my_crate::a;"),
            ("c", ""),
            ("d", ""),
            ("e", ""),
        ]);
        let from_a: Vec<&str> = g["a"].iter().map(String::as_str).collect();
        assert_eq!(from_a, ["b", "c", "d"]);
        assert!(g["b"].is_empty());
    }

    #[test]
    fn a_loop_is_found_and_a_chain_is_not() {
        let chain = graph(&[("a", "use crate::b;"), ("b", "use crate::c;"), ("c", "")]);
        assert!(cycles(&chain).is_empty());
        let looped =
            graph(&[("a", "use crate::b;"), ("b", "use crate::c;"), ("c", "use crate::a::X;")]);
        let found = cycles(&looped);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, ["a", "b", "c", "a"]);
    }

    #[test]
    fn no_crate_of_the_workspace_has_an_import_loop() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check_workspace(root).unwrap();
    }
}
