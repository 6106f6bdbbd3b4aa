//! The module import graph of both crates has no circles: no file imports a file that imports it
//! back, directly or through others (ARCHITECTURE.md, "Invariants").
//!
//! A file's imports are the `crate::`, `super::` and `self::` paths in its code (comments and
//! the unit tests at its end left out), each resolved to the longest module path that is a file;
//! a module's own children are reached by plain paths, which are not counted, so a parent and the
//! children it declares may name each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `root`, by module path (`store/db.rs` is `["store", "db"]`).
fn modules(root: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .with_extension("");
                let mut parts: Module = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("lib" | "main" | "mod")
                ) {
                    parts.pop();
                }
                out.insert(parts, path);
            }
        }
    }
    out
}

/// The code of a file without comments and without its `#[cfg(test)] mod tests`.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths written after `crate::`, `super::` or `self::`, as the module they start from and
/// their segments (`use crate::{a::b, c}` gives two).
fn paths(code: &str, module: &Module) -> Vec<Module> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for head in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(head) {
            let start = from + at;
            from = start + head.len();
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let mut base: Module = match head {
                "crate::" => Vec::new(),
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.clone(),
            };
            let rest = &code[from..];
            // `super::super::x`
            let mut rest = rest;
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let mut p = base.clone();
                    p.extend(segments(item.trim()));
                    out.push(p);
                }
            } else {
                let mut p = base;
                p.extend(segments(rest));
                out.push(p);
            }
        }
    }
    out
}

/// The leading `a::b::c` of `text`.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in text.split("::") {
        let ident: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        let whole = ident.len() == part.len();
        out.push(ident);
        if !whole {
            break;
        }
    }
    out
}

/// Each file's imports of other files.
fn graph(root: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = modules(root);
    let mut edges = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let mut to = BTreeSet::new();
        for p in paths(&code(&text), module) {
            // The longest prefix that is a file.
            if let Some(target) = (1..=p.len())
                .rev()
                .map(|n| &p[..n])
                .find(|m| files.contains_key(*m))
                && target != module.as_slice()
            {
                to.insert(target.to_vec());
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

/// A circle through `start`, if there is one.
fn circle(edges: &BTreeMap<Module, BTreeSet<Module>>, start: &Module) -> Option<Vec<Module>> {
    let mut stack = vec![(start.clone(), vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, trail)) = stack.pop() {
        for next in edges.get(&at).into_iter().flatten() {
            if next == start {
                return Some(trail);
            }
            if seen.insert(next.clone()) {
                let mut t = trail.clone();
                t.push(next.clone());
                stack.push((next.clone(), t));
            }
        }
    }
    None
}

fn circles(root: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(root);
    let edges = graph(&root);
    edges
        .keys()
        .filter_map(|m| circle(&edges, m))
        .map(|trail| {
            let names: Vec<String> = trail.iter().map(|m| m.join("/")).collect();
            format!("{} -> {}", names.join(" -> "), names[0])
        })
        .collect()
}

#[test]
fn the_data_layer_has_no_import_circles() {
    let found = circles("src");
    assert!(
        found.is_empty(),
        "import circles in src/:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_runtime_has_no_import_circles() {
    let found = circles("actors/src");
    assert!(
        found.is_empty(),
        "import circles in actors/src/:\n{}",
        found.join("\n")
    );
}

/// The check itself finds a circle where there is one.
#[test]
fn a_circle_is_found() {
    let dir = std::env::temp_dir().join(format!("fgt-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "mod c;\nuse crate::b::Thing;\n").unwrap();
    std::fs::write(
        dir.join("a/c.rs"),
        "// use crate::b;\nuse super::super::b::Other;\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.rs"), "use crate::{a::c::X, lib};\n").unwrap();
    let edges = graph(&dir);
    let b: Module = vec!["b".into()];
    let c: Module = vec!["a".into(), "c".into()];
    assert!(edges[&c].contains(&b), "{edges:?}");
    assert!(circle(&edges, &b).is_some(), "{edges:?}");
    std::fs::write(dir.join("b.rs"), "pub struct Thing;\n").unwrap();
    assert!(circle(&graph(&dir), &b).is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
