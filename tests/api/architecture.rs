//! The module graph stays acyclic: no top-level module of `src/` may use, directly or
//! through others, a module that uses it (ARCHITECTURE.md, "Layers"). Read from the source
//! text, so a new cycle fails here with the files that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every top-level module named after `crate::` in `code` (also inside `crate::{a, b}`).
fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for part in group.split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Comments may name any module; only code counts.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = graph.entry(top.clone()).or_default();
        for used in crate_uses(&code) {
            if used != top {
                deps.entry(used).or_default().insert(rel.clone());
            }
        }
    }
    graph
}

fn reaches(graph: &Graph, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        if last == to {
            return Some(path);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in graph.get(last).into_iter().flat_map(|d| d.keys()) {
            let mut p = path.clone();
            p.push(next.clone());
            stack.push(p);
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("store") && graph.contains_key("sync"));
    let mut cycles = Vec::new();
    for (module, deps) in &graph {
        for (dep, files) in deps {
            if let Some(back) = reaches(&graph, dep, module) {
                cycles.push(format!(
                    "{module} -> {} (from {files:?})",
                    back.join(" -> ")
                ));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_sees_grouped_and_plain_uses() {
    let uses = crate_uses("use crate::{store::X, sync};\nlet a = crate::events::api::f();");
    assert_eq!(
        uses.into_iter().collect::<Vec<_>>(),
        ["events", "store", "sync"]
    );
}

#[test]
fn storage_and_domain_types_sit_below_the_features() {
    let graph = module_graph();
    let uses = |m: &str| -> BTreeSet<String> { graph[m].keys().cloned().collect() };
    let allowed =
        |list: &[&str]| -> BTreeSet<String> { list.iter().map(|s| s.to_string()).collect() };
    // The bottom layers: only leaf helpers below them.
    assert!(
        uses("domain").is_subset(&allowed(&["crypto", "meeting_links"])),
        "{:?}",
        uses("domain")
    );
    assert!(uses("coord").is_empty(), "{:?}", uses("coord"));
    assert!(
        uses("store").is_subset(&allowed(&["domain", "crypto"])),
        "store may use only domain and crypto: {:?}",
        uses("store")
    );
}
