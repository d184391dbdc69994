//! The import graph of a crate's modules, and its circles.
//!
//! A module is a file (`a/b.rs` or `a/b/mod.rs` is `a::b`). Module A depends
//! on module B when a `use` of A names a path in B (`crate::`, `super::` or
//! `self::` paths; other crates are left out). A module and its ancestors are
//! one piece of code (a parent re-exports its children, a child reads its
//! parent's items), so those edges do not count. A circle is two or more
//! modules that depend on each other around a loop: they cannot be read,
//! tested or moved one at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

/// A module's path from the crate root (`["accounts", "routes", "login"]`).
pub type ModulePath = Vec<String>;

/// Every module of the crate whose root folder is `src` (`lib.rs` there),
/// with the modules it depends on.
pub fn graph(src: &Path) -> Result<BTreeMap<ModulePath, BTreeSet<ModulePath>>> {
    let mut sources = BTreeMap::new();
    collect(src, src, &mut sources)?;
    let modules: BTreeSet<ModulePath> = sources.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &sources {
        let mut depends = BTreeSet::new();
        for path in use_paths(text) {
            let Some(absolute) = resolve(module, &path) else {
                continue;
            };
            let target = (0..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|prefix| modules.contains(prefix));
            if let Some(target) = target
                && !target.starts_with(module)
                && !module.starts_with(&target)
            {
                depends.insert(target);
            }
        }
        graph.insert(module.clone(), depends);
    }
    Ok(graph)
}

fn collect(src: &Path, dir: &Path, sources: &mut BTreeMap<ModulePath, String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(src, &path, sources)?;
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src)?.with_extension("");
        let mut module: ModulePath = relative
            .iter()
            .map(|part| part.to_string_lossy().into_owned())
            .collect();
        if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
            module.pop();
        }
        if module.as_slice() == ["main"] {
            continue;
        }
        sources.insert(module, std::fs::read_to_string(&path)?);
    }
    Ok(())
}

/// The paths that the `use` declarations of `text` name, groups expanded
/// (`use a::{b, c::d}` names `a::b` and `a::c::d`).
fn use_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = find_use(rest) {
        let statement = &rest[at..];
        let end = statement.find(';').unwrap_or(statement.len());
        let body = statement[..end].trim_start_matches("use").trim();
        expand(&[], body, &mut paths);
        rest = &statement[end..];
    }
    paths
}

/// Where the next `use` declaration starts (at the start of a line, after
/// an optional visibility).
fn find_use(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let after_visibility = ["pub(crate) ", "pub(super) ", "pub "]
            .iter()
            .find_map(|v| trimmed.strip_prefix(v))
            .unwrap_or(trimmed);
        if after_visibility.starts_with("use ") {
            return Some(offset + line.len() - after_visibility.len());
        }
        offset += line.len();
    }
    None
}

fn expand(prefix: &[String], body: &str, paths: &mut Vec<Vec<String>>) {
    let body = body.trim();
    if let Some(open) = body.find('{') {
        let mut base = prefix.to_vec();
        base.extend(segments(&body[..open]));
        let inner = &body[open + 1..body.rfind('}').unwrap_or(body.len())];
        for item in split_top_level(inner) {
            expand(&base, item, paths);
        }
    } else {
        let mut path = prefix.to_vec();
        path.extend(segments(body.split(" as ").next().unwrap_or(body)));
        if !path.is_empty() {
            paths.push(path);
        }
    }
}

fn segments(text: &str) -> Vec<String> {
    text.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "*")
        .map(str::to_string)
        .collect()
}

/// The comma-separated items of a group, nested groups kept whole.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items.into_iter().filter(|i| !i.trim().is_empty()).collect()
}

/// `path` as seen from `module`, from the crate root; `None` for another crate.
fn resolve(module: &[String], path: &[String]) -> Option<ModulePath> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some([module, rest].concat()),
        "super" => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            Some([base.as_slice(), rest].concat())
        }
        _ => None,
    }
}

/// Every circle of the graph, each once, as `a -> b -> a`.
pub fn circles(graph: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<String> {
    let name = |m: &ModulePath| {
        if m.is_empty() {
            "crate".to_string()
        } else {
            m.join("::")
        }
    };
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        // Depth-first from `start`, back to `start`: the shortest such loop.
        let mut queue = std::collections::VecDeque::from([vec![start.clone()]]);
        let mut seen = BTreeSet::new();
        while let Some(path) = queue.pop_front() {
            let Some(last) = path.last() else { continue };
            for next in graph.get(last).into_iter().flatten() {
                if next == start {
                    let mut loop_ = path.clone();
                    let smallest = loop_.iter().min().cloned();
                    // One spelling per loop: rotate it to its smallest module.
                    if let Some(at) = loop_.iter().position(|m| Some(m) == smallest.as_ref()) {
                        loop_.rotate_left(at);
                    }
                    let mut text: Vec<String> = loop_.iter().map(name).collect();
                    text.push(name(&loop_[0]));
                    found.insert(text.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    queue.push_back(longer);
                }
            }
        }
    }
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tree(files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("imports-{}", shared::ids::new_id()));
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_loop_between_siblings_is_a_circle() {
        let dir = tree(&[
            ("lib.rs", "pub mod jobs;\n"),
            ("jobs/mod.rs", "pub mod queue;\npub mod records;\n"),
            ("jobs/queue.rs", "use super::records::JobRecord;\n"),
            (
                "jobs/records.rs",
                "use std::fmt;\npub(crate) use crate::jobs::{queue::{JobMessage}, other};\n",
            ),
        ]);
        let circles = circles(&graph(&dir).unwrap());
        assert_eq!(circles, ["jobs::queue -> jobs::records -> jobs::queue"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn parents_and_children_and_other_crates_are_no_circle() {
        let dir = tree(&[
            (
                "lib.rs",
                "pub mod a;\npub mod b;\nuse std::fmt;\npub use a::Thing;\n",
            ),
            (
                "a/mod.rs",
                "mod child;\npub use child::Thing;\nuse self::child::Other;\n",
            ),
            (
                "a/child.rs",
                "use super::Parent;\nuse crate::a::Other;\nuse super::super::b::B;\n",
            ),
            (
                "b.rs",
                "use serde::Serialize;\nuse crate::a::child::{Thing as T, self};\n",
            ),
        ]);
        let graph = graph(&dir).unwrap();
        let module = |m: &str| m.split("::").map(str::to_string).collect::<Vec<_>>();
        assert!(graph[&module("a")].is_empty(), "{graph:?}");
        assert_eq!(graph[&module("a::child")], [module("b")].into());
        assert_eq!(graph[&module("b")], [module("a::child")].into());
        assert_eq!(circles(&graph), ["a::child -> b -> a::child"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
