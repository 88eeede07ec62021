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
/// None since issue 32 took core's model/transport circle apart; the list stays as the place
/// a circle found by a new reading would be named, and must stay empty.
const KNOWN_CIRCLES: &[(&str, &[&str])] = &[];

/// Core's pure model: data, with no runtime, no network and no files. What moves bytes or waits
/// (`http`, `pace`, `upload`, `download`, `stream`, `provider`'s waiting, `receiver`, `failover`,
/// `tap`, `journal`, `disk_jobs`) is a layer above and may use these; these use nothing of it.
const PURE_MODEL: &[&str] = &[
    "callback",
    "capabilities",
    "cost",
    "error",
    "handle",
    "model",
    "poll",
    "progress",
    "redact",
    "secret",
    "status",
];

/// What the pure model may name of the layer above: an input the application hands in as a
/// reader is carried by the model (`reader::ReaderSource`, built by `Input::reader` from a
/// `tokio::io::AsyncRead`, a trait) and read only by the transport.
const PURE_MODEL_MAY_NAME: &[(&str, &str)] = &[("model", "tokio::io::AsyncRead")];
const PURE_MODEL_MAY_USE: &[&str] = &["reader"];

/// What the pure model's code never holds.
const NOT_PURE: &[&str] = &[
    "tokio",
    "reqwest",
    "std::fs",
    "std::net",
    "std::process",
    ".await",
    "async fn",
];

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

/// The code of a source file as the house reads it: comments (doc links above all) are not
/// imports, and an inline test module (from `#[cfg(test)]` on, at the end of a file by
/// convention) is not part of the file's place in the house.
fn code_of(source: &str) -> String {
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    source
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a use tree names, each as its segments: `a::{b::C, d}` gives `a::b::C` and
/// `a::d`; `a::{self, B}` gives `a` and `a::B`.
fn use_tree(text: &str) -> Vec<Vec<String>> {
    let mut prefix: Vec<String> = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let name = ident(rest);
        if name.is_empty() {
            break;
        }
        rest = rest[name.len()..].trim_start();
        if name != "self" {
            prefix.push(name.to_owned());
        }
        match rest.strip_prefix("::") {
            Some(after) => rest = after.trim_start(),
            None => return vec![prefix],
        }
    }
    let Some(group) = rest.strip_prefix('{') else {
        return vec![prefix]; // `a::*`
    };
    let mut paths = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 0 => {
                for mut tail in use_tree(&group[start..i]) {
                    let mut path = prefix.clone();
                    path.append(&mut tail);
                    paths.push(path);
                }
                if c == '}' {
                    break;
                }
                start = i + 1;
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    paths
}

/// The paths in `source` that start at the crate root or a relative root (`crate::`,
/// `super::`, `self::`), each as segments from the crate root, for the file that is module
/// `module` (`["a", "b"]` for `src/a/b.rs`; `["a"]` for `src/a/mod.rs` or `src/a.rs`).
fn crate_references(source: &str, module: &[String]) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let code = code_of(source);
    let source = code.as_str();
    for root in ["crate::", "super::", "self::"] {
        for (at, _) in source.match_indices(root) {
            // `multiconvert_crate::`, `$crate::` or the `super::` of `super::super::` are not
            // roots.
            let before = source[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == ':')
            {
                continue;
            }
            let mut base: Vec<String> = match root {
                "crate::" => vec![],
                "self::" => module.to_vec(),
                _ => module[..module.len().saturating_sub(1)].to_vec(),
            };
            let mut rest = &source[at + root.len()..];
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
            for mut path in use_tree(rest) {
                let mut full = base.clone();
                full.append(&mut path);
                if !full.is_empty() {
                    found.insert(full);
                }
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

/// Every `.rs` file under `dir` by the module it is: `a/b.rs` is `a::b`, `a/mod.rs` is `a`, the
/// crate root (`lib.rs`, `main.rs`) the empty path.
fn source_files(src: &Path, dir: &Path, found: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("a source").path();
        if path.is_dir() {
            source_files(src, &path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap().with_extension("");
        let mut segments: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if segments.last().is_some_and(|s| s == "mod")
            || segments == ["lib"]
            || segments == ["main"]
        {
            segments.pop();
        }
        let source = std::fs::read_to_string(&path).expect("a source file");
        found.insert(segments.join("::"), source);
    }
}

/// The crate's files as modules and which other modules each imports: for every path it names,
/// the module holding it (the longest prefix that is a module, else the crate root's
/// re-export); and its child modules, since a module contains its children: a child that
/// imports its parent closes a circle (what children share lives in a sibling).
fn module_graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = dir.join("src");
    let mut sources = BTreeMap::new();
    source_files(&src, &src, &mut sources);
    let exported = reexports(sources.get("").map(String::as_str).unwrap_or_default());
    let modules: BTreeSet<String> = sources.keys().filter(|m| !m.is_empty()).cloned().collect();
    let module_of = |path: &[String]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|m| modules.contains(m))
            .or_else(|| exported.get(&path[0]).cloned())
    };
    let mut graph = BTreeMap::new();
    for module in &modules {
        let segments: Vec<String> = module.split("::").map(str::to_owned).collect();
        let mut edges: BTreeSet<String> = crate_references(&sources[module], &segments)
            .iter()
            .filter_map(|path| module_of(path))
            .collect();
        let children = modules.iter().filter(|m| {
            m.strip_prefix(module.as_str())
                .and_then(|rest| rest.strip_prefix("::"))
                .is_some_and(|rest| !rest.contains("::"))
        });
        edges.extend(children.cloned());
        edges.retain(|target| target != module);
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

/// The reader leaves out everything from `#[cfg(test)]` on: that holds while an inline test
/// module is a file's last item, which this checks.
#[test]
fn inline_test_modules_close_their_files() {
    let mut found = Vec::new();
    for (name, dir) in crates() {
        let mut sources = BTreeMap::new();
        source_files(&dir.join("src"), &dir.join("src"), &mut sources);
        for (module, source) in sources {
            let Some((_, tests)) = source.split_once("#[cfg(test)]") else {
                continue;
            };
            // Inside the module every line is indented; its closing brace is the last line.
            let top_level: Vec<&str> = tests
                .lines()
                .skip(1)
                .filter(|l| !l.is_empty() && !l.starts_with([' ', '\t']))
                .collect();
            if top_level.len() != 2 || !top_level[0].starts_with("mod ") || top_level[1] != "}" {
                found.push(format!("{name}: {module}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "code after an inline test module, which the house reader would not see: {found:?}"
    );
}

#[test]
fn the_model_is_data_under_the_transport() {
    let core = root().join("core").join("src");
    let graph = module_graph(&root().join("core"));
    let mut found = Vec::new();
    for module in PURE_MODEL {
        let source = std::fs::read_to_string(core.join(format!("{module}.rs"))).unwrap();
        let mut code = code_of(&source);
        for (allowed_in, name) in PURE_MODEL_MAY_NAME {
            if allowed_in == module {
                code = code.replace(name, "");
            }
        }
        for word in NOT_PURE {
            if code.contains(word) {
                found.push(format!("{module} holds `{word}`"));
            }
        }
        for target in &graph[*module] {
            if !PURE_MODEL.contains(&target.as_str())
                && !PURE_MODEL_MAY_USE.contains(&target.as_str())
            {
                found.push(format!(
                    "{module} imports {target}, a layer above the model"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the pure model (ARCHITECTURE.md) reaches into the transport: {found:?}"
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
        &[],
    );
    let joined: Vec<String> = refs.into_iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "Result",
            "error::Error",
            "http::x",
            "model::Input",
            "model::Job"
        ]
    );
    let nested = crate_references(
        "use super::api::{self, json};\nuse super::super::state::Shared;\nfn f() { self::inner::g() }\n#[cfg(test)]\nmod tests { use super::*; }",
        &["vendor".to_owned(), "jobs".to_owned()],
    );
    let joined: Vec<String> = nested.into_iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "state::Shared",
            "vendor::api",
            "vendor::api::json",
            "vendor::jobs::inner::g"
        ]
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
