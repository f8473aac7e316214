//! House rules no compiler checks, over every tracked `.rs` file of the workspace:
//! - each file opens with a `//!` paragraph saying what it is for;
//! - no function outside tests is longer than [`MAX_FN_LINES`] lines, except those in
//!   [`LONG_FUNCTIONS`], a list that may only shrink (a listed function that got short fails
//!   too, so the list stays true);
//! - a test that sleeps says why, on the line or in the comment right above (`// sleep: ...`): a sleep that
//!   waits for something the test could wait on directly is slow and flaky;
//! - every `#[ignore]` gives its reason (`#[ignore = "..."]`);
//! - every module is named in `docs/ARCHITECTURE.md`'s code map (`code_map.rs`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The longest a function outside tests may be, signature and closing brace included.
pub(crate) const MAX_FN_LINES: usize = 70;

/// Functions longer than [`MAX_FN_LINES`] when the rule came in, as `path::name`. Shorten one,
/// then remove it here; never add one.
const LONG_FUNCTIONS: &[&str] = &[];

/// Checks every `.rs` file `git ls-files` lists under `root`.
pub(crate) fn check_workspace(root: &Path) -> Result<(), String> {
    let output = Command::new("git")
        .args(["ls-files", "*.rs"])
        .current_dir(root)
        .output()
        .map_err(|error| format!("git ls-files: {error}"))?;
    if !output.status.success() {
        return Err(format!("git ls-files: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let mut problems = Vec::new();
    let mut long = BTreeSet::new();
    let files = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut count = 0;
    for path in files.lines() {
        // A file listed but deleted in the work tree is not checked.
        let Ok(text) = std::fs::read_to_string(root.join(path)) else { continue };
        count += 1;
        let checked = check_file(path, &text);
        problems.extend(checked.problems);
        long.extend(checked.long);
    }
    problems.extend(crate::code_map::check(root, &files.lines().collect::<Vec<_>>()));
    let listed: BTreeSet<String> = LONG_FUNCTIONS.iter().map(|&name| name.to_owned()).collect();
    for name in long.difference(&listed) {
        problems.push(format!("{name} is over {MAX_FN_LINES} lines: split it"));
    }
    for name in listed.difference(&long) {
        problems.push(format!(
            "{name} is no longer over {MAX_FN_LINES} lines (or gone): remove \
             it from LONG_FUNCTIONS in xtask/src/tidy.rs"
        ));
    }
    if problems.is_empty() {
        println!("tidy: {count} files, {} long functions left", listed.len());
        Ok(())
    } else {
        Err(format!("tidy:\n  {}", problems.join("\n  ")))
    }
}

/// What one file breaks, and its long functions outside tests (`path::name`).
#[derive(Default)]
struct Checked {
    problems: Vec<String>,
    long: Vec<String>,
}

fn check_file(path: &str, text: &str) -> Checked {
    let mut checked = Checked::default();
    let lines: Vec<&str> = text.lines().collect();
    if !lines.first().is_some_and(|line| line.starts_with("//!")) {
        checked.problems.push(format!("{path}: does not open with a `//!` paragraph"));
    }
    let whole_file_tests = path.split('/').any(|part| part == "tests");
    let tests = test_lines(&lines);
    for (at, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[ignore") && !trimmed.starts_with("#[ignore = \"") {
            checked.problems.push(format!("{path}:{}: `#[ignore]` without its reason", at + 1));
        }
        let in_test = whole_file_tests || tests[at];
        let sleeps = code_of(line).contains("sleep(");
        if in_test && sleeps && !says_why(&lines, at) {
            checked.problems.push(format!(
                "{path}:{}: a test sleeps without saying why (`// sleep: ...`); wait on the \
                 event instead if there is one",
                at + 1
            ));
        }
    }
    if !whole_file_tests {
        for function in functions(&lines) {
            if !tests[function.start] && function.len > MAX_FN_LINES {
                checked.long.push(format!("{path}::{}", function.name));
            }
        }
    }
    checked
}

/// Whether line `at`, or the comment block right above it, holds `// sleep: `.
fn says_why(lines: &[&str], at: usize) -> bool {
    if lines[at].contains("// sleep: ") {
        return true;
    }
    let above = lines[..at].iter().rev().take_while(|line| line.trim_start().starts_with("//"));
    above.into_iter().any(|line| line.contains("// sleep: "))
}

/// A line without its `//` comment.
fn code_of(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Which lines are test code: `#[cfg(test)]` items and `#[test]` functions (to the closing
/// brace at their indentation, as rustfmt lays them out).
fn test_lines(lines: &[&str]) -> Vec<bool> {
    let mut tests = vec![false; lines.len()];
    let mut at = 0;
    while at < lines.len() {
        let trimmed = lines[at].trim_start();
        let marks_test = trimmed.starts_with("#[cfg(test)]")
            || trimmed.starts_with("#[cfg(all(test")
            || trimmed.starts_with("#[test]")
            || trimmed.ends_with("::test]");
        if !marks_test {
            at += 1;
            continue;
        }
        let end = item_end(lines, at).unwrap_or(at);
        for line in &mut tests[at..=end] {
            *line = true;
        }
        at = end + 1;
    }
    tests
}

/// The last line of the item that starts at (or whose attributes start at) `at`: the line
/// that ends it with `;`, or its closing brace at the item's indentation.
fn item_end(lines: &[&str], at: usize) -> Option<usize> {
    let indent = lines[at].len() - lines[at].trim_start().len();
    let mut opened = None;
    for (offset, line) in lines[at..].iter().enumerate() {
        let code = code_of(line).trim_end();
        if code.trim_start().starts_with("#[") && opened.is_none() {
            continue;
        }
        if opened.is_none() {
            if code.ends_with(';') && !code.contains('{') {
                return Some(at + offset);
            }
            if code.ends_with('{') || code.ends_with('}') {
                if code.ends_with('}') && code.contains('{') {
                    return Some(at + offset); // `fn f() {}` or a one-line body
                }
                opened = Some(at + offset);
                continue;
            }
        } else if line.len() - line.trim_start().len() == indent && line.trim() == "}" {
            return Some(at + offset);
        }
    }
    None
}

/// A function's name, first line and length in lines.
struct Function {
    name: String,
    start: usize,
    len: usize,
}

fn functions(lines: &[&str]) -> Vec<Function> {
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(code_of(line)) else { continue };
        if let Some(end) = item_end(lines, at) {
            found.push(Function { name, start: at, len: end - at + 1 });
        }
    }
    found
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    for prefix in ["const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let name: String = rest
        .strip_prefix("fn ")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_body(name: &str, lines: usize) -> String {
        let body = "    let x = 1;\n".repeat(lines);
        format!("fn {name}() {{\n{body}}}\n")
    }

    #[test]
    fn a_long_function_is_found_and_a_test_one_is_not() {
        let text = format!(
            "//! A file.\n{}\n#[cfg(test)]\nmod tests {{\n    #[test]\n{}}}\n",
            long_body("too_long", MAX_FN_LINES),
            long_body("long_test", MAX_FN_LINES * 2)
        );
        let checked = check_file("crates/x/src/a.rs", &text);
        assert_eq!(checked.long, ["crates/x/src/a.rs::too_long"]);
        assert!(checked.problems.is_empty());
        let short = format!("//! A file.\n{}", long_body("fits", MAX_FN_LINES - 2));
        assert!(check_file("crates/x/src/a.rs", &short).long.is_empty());
    }

    #[test]
    fn headers_sleeps_and_ignores() {
        // Built from pieces, so this file's own lines hold no sleeping call.
        let sleep = ["    std::thread::sle", "ep(d);\n"].concat();
        let text = format!(
            "fn f() {{}}\n#[test]\n#[ignore]\nfn t() {{\n{sleep}}}\n#[test]\nfn u() {{\n    \
             // sleep: the clock must move for the age to grow\n{sleep}}}\n"
        );
        let problems = check_file("crates/x/src/a.rs", &text).problems;
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("`//!`"));
        assert!(problems[1].contains(":3: `#[ignore]`"));
        assert!(problems[2].contains(":5: a test sleeps"));
    }

    #[test]
    fn the_workspace_is_tidy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check_workspace(root).unwrap();
    }
}
