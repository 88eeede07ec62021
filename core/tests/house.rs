//! The house rules of ARCHITECTURE.md, read from the workspace's own sources: no circle of
//! files importing each other inside a crate, and no provider crate depending on another. The
//! circles and provider dependencies of today are listed below; the lists only shrink: an
//! entry that no longer holds fails too, so that whoever removes a circle removes its entry.
//!
//! It lives in core because every crate depends on core: `cargo test -p multiconvert-core`
//! checks the house.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Circles of files (modules) inside a crate that exist today: crate, its modules in order.
/// Core's is what issue 32's pure model takes apart (error → model → upload → http → error).
const KNOWN_CIRCLES: &[(&str, &[&str])] = &[(
    "multiconvert-core",
    &[
        "callback",
        "capabilities",
        "download",
        "error",
        "http",
        "model",
        "pace",
        "provider",
        "shared",
        "tap",
        "upload",
    ],
)];

/// Provider crates that depend on another provider crate today: (dependent, dependency).
/// None: the in-process providers share their job lifecycle through core (`disk_jobs`).
const KNOWN_PROVIDER_DEPENDENCIES: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The workspace's crates with a `src/`: (package name, directory).
fn crates() -> Vec<(String, PathBuf)> {
    let mut dirs = vec![];
    for top in [
        "core",
        "conformance",
        "emulator",
        "store",
        "cli",
        "bench",
        "fuzz",
    ] {
        dirs.push(root().join(top));
    }
    let providers = std::fs::read_dir(root().join("providers")).expect("providers/");
    for entry in providers {
        dirs.push(entry.expect("a provider directory").path());
    }
    dirs.into_iter()
        .filter(|d| d.join("src").is_dir())
        .map(|d| (package_name(&d), d))
        .collect()
}

fn package_name(dir: &Path) -> String {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("a manifest");
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a package name")
        .to_owned()
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first path segments named after `crate::` in `source`: `crate::a::B` gives `a`,
/// `crate::{a::B, c}` gives `a` and `c`.
fn crate_references(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    // Comments (doc links above all) are not imports.
    let code: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let source = code.as_str();
    for (at, _) in source.match_indices("crate::") {
        // `multiconvert_crate::` or `$crate::` are other paths.
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &source[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        let name = ident(&group[i..]);
                        if !name.is_empty() {
                            found.insert(name.to_owned());
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name.to_owned());
            }
        }
    }
    found
}

/// What the crate root re-exports, by name: `pub use model::{Job, Input}` maps `Job` and
/// `Input` to `model`.
fn reexports(root_source: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in root_source.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident(path);
        let names = match path.find('{') {
            Some(open) => path[open + 1..].trim_end_matches('}').to_owned(),
            None => path.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        for name in names.split(',') {
            let name = ident(name.trim().rsplit("::").next().unwrap_or_default());
            if !name.is_empty() {
                map.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    map
}

/// The crate's files as modules and which other modules each imports.
fn module_graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = dir.join("src");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src/") {
        let path = entry.expect("a source").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            sources.insert(stem, std::fs::read_to_string(&path).expect("a source file"));
        }
    }
    let root_source = sources
        .get("lib")
        .or_else(|| sources.get("main"))
        .cloned()
        .unwrap_or_default();
    let exported = reexports(&root_source);
    let modules: BTreeSet<String> = sources
        .keys()
        .filter(|m| *m != "lib" && *m != "main")
        .cloned()
        .collect();
    let mut graph = BTreeMap::new();
    for module in &modules {
        let edges = crate_references(&sources[module])
            .into_iter()
            .filter_map(|name| {
                if modules.contains(&name) {
                    Some(name)
                } else {
                    exported.get(&name).cloned()
                }
            })
            .filter(|target| target != module && modules.contains(target))
            .collect();
        graph.insert(module.clone(), edges);
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan), each sorted.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found.sort();
    state.found
}

#[test]
fn no_new_circle_of_files_inside_a_crate() {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for (name, dir) in crates() {
        for circle in circles(&module_graph(&dir)) {
            found.push((name.clone(), circle));
        }
    }
    let known: Vec<(String, Vec<String>)> = KNOWN_CIRCLES
        .iter()
        .map(|(c, ms)| (c.to_string(), ms.iter().map(|m| m.to_string()).collect()))
        .collect();
    let new: Vec<_> = found.iter().filter(|f| !known.contains(f)).collect();
    let gone: Vec<_> = known.iter().filter(|k| !found.contains(k)).collect();
    assert!(
        new.is_empty(),
        "files that import each other in a circle (ARCHITECTURE.md: one-way rooms): {new:?}"
    );
    assert!(
        gone.is_empty(),
        "these known circles are gone or changed: take them out of KNOWN_CIRCLES: {gone:?}"
    );
}

#[test]
fn no_provider_crate_depends_on_another() {
    let providers: Vec<(String, PathBuf)> = crates()
        .into_iter()
        .filter(|(_, d)| d.parent().is_some_and(|p| p.ends_with("providers")))
        .collect();
    let names: BTreeSet<&str> = providers.iter().map(|(n, _)| n.as_str()).collect();
    let mut found = Vec::new();
    for (name, dir) in &providers {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let dependencies = manifest
            .split("\n[dependencies]")
            .nth(1)
            .map(|rest| rest.split("\n[").next().unwrap_or_default())
            .unwrap_or_default();
        for line in dependencies.lines() {
            let dep = line.split(['.', ' ', '=']).next().unwrap_or_default();
            if dep != name && names.contains(dep) {
                found.push((name.clone(), dep.to_owned()));
            }
        }
    }
    let known: Vec<(String, String)> = KNOWN_PROVIDER_DEPENDENCIES
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = found.iter().filter(|f| !known.contains(f)).collect();
    let gone: Vec<_> = known.iter().filter(|k| !found.contains(k)).collect();
    assert!(
        new.is_empty(),
        "a provider crate depends on another: {new:?}"
    );
    assert!(
        gone.is_empty(),
        "these provider dependencies are gone: take them out of the list: {gone:?}"
    );
}

#[test]
fn the_reader_finds_circles_and_references() {
    let refs = crate_references(
        "use crate::{error::Error, model::{Job, Input}, Result};\n/// [`x`](crate::doc)\nfn f() { crate::http::x(); $crate::no; multiconvert_crate::no } // crate::comment",
    );
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["Result", "error", "http", "model"]
    );
    let exported = reexports("pub use model::{Job, Input};\npub use error::Result;\n");
    assert_eq!(exported["Input"], "model");
    assert_eq!(exported["Result"], "error");
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(circles(&graph), [vec!["a", "b", "c"]]);
}
