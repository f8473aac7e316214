//! `docs/ARCHITECTURE.md`'s code map kept true: every module file of a crate's `src/` (and
//! xtask's) is named, in backticks, in that crate's `### \`crate\`` section, so a module added
//! without a line in the map fails `cargo xtask ci`.

use std::path::Path;

/// Checks the code map against the tracked `.rs` files `paths`; returns the problems.
pub(crate) fn check(root: &Path, paths: &[&str]) -> Vec<String> {
    let map_path = root.join("docs/ARCHITECTURE.md");
    let Ok(map) = std::fs::read_to_string(&map_path) else {
        return vec![format!("{}: cannot be read", map_path.display())];
    };
    let mut problems = Vec::new();
    for path in paths {
        let Some((krate, module)) = module_of(path) else { continue };
        let Some(section) = section(&map, krate) else {
            problems.push(format!("ARCHITECTURE.md has no code map section `### `{krate}``"));
            continue;
        };
        let stripped = module.strip_suffix("/mod");
        let named = |name: &str| section.contains(&format!("`{name}`"));
        if !named(module) && !stripped.is_some_and(named) {
            problems
                .push(format!("{path}: module `{module}` is not in ARCHITECTURE.md's code map"));
        }
    }
    problems
}

/// The crate and module a source file is, for `crates/<crate>/src/<module>.rs` and
/// `xtask/src/<module>.rs`; `None` for crate roots and other files.
fn module_of(path: &str) -> Option<(&str, &str)> {
    let (krate, rest) = if let Some(rest) = path.strip_prefix("xtask/src/") {
        ("xtask", rest)
    } else {
        let rest = path.strip_prefix("crates/")?;
        let (krate, rest) = rest.split_once('/')?;
        (krate, rest.strip_prefix("src/")?)
    };
    let module = rest.strip_suffix(".rs")?;
    (!matches!(module, "lib" | "main")).then_some((krate, module))
}

/// The text of the `### `krate`` section, up to the next heading of level 2 or 3.
fn section<'a>(map: &'a str, krate: &str) -> Option<&'a str> {
    let heading = format!("### `{krate}`\n");
    let start = map.find(&heading)? + heading.len();
    let rest = &map[start..];
    let end = rest.find("\n## ").into_iter().chain(rest.find("\n### ")).min();
    Some(&rest[..end.unwrap_or(rest.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_found_in_their_own_section_only() {
        let map =
            "## Code map\n### `a`\n- `x`: one\n- `s` (`s/mod`)\n### `b`\n- `y`\n## Next\n`z`\n";
        assert_eq!(section(map, "a"), Some("- `x`: one\n- `s` (`s/mod`)"));
        assert_eq!(module_of("crates/a/src/s/mod.rs"), Some(("a", "s/mod")));
        assert_eq!(module_of("crates/a/src/lib.rs"), None);
        assert_eq!(module_of("crates/a/tests/it/main.rs"), None);
        assert_eq!(module_of("xtask/src/tidy.rs"), Some(("xtask", "tidy")));
        let dir = std::env::temp_dir().join(format!("code-map-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("docs/ARCHITECTURE.md"), map).unwrap();
        let ok = ["crates/a/src/x.rs", "crates/a/src/s/mod.rs", "crates/b/src/y.rs"];
        assert!(check(&dir, &ok).is_empty());
        let bad = check(&dir, &["crates/b/src/x.rs", "crates/a/src/z.rs", "crates/c/src/y.rs"]);
        assert_eq!(bad.len(), 3, "{bad:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
