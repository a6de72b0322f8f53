//! Tidy: house rules about the source tree that the compiler does not check, read from the files
//! under `src/` and `crates/crmsync-fake/src/` (no build, no binary). Each failure says what to
//! do.
//!
//! - Only `src/config/` reads environment variables (and `src/failpoint.rs`, a test-only crash
//!   hook); code under `crates/` is not checked.
//! - `src/reconcile/` is the pure core: no tokio, reqwest, rusqlite, csv, axum, `std::fs`,
//!   `std::net`, no clock (`Utc::now`), and no `crate::` module other than `crate::reconcile`.
//! - Only `src/inbox/` knows Inbox's wire format: no event-type strings and no JSON pointers
//!   in the product code of any other module.
//! - No two sibling modules of `src/engine/` use each other, directly or around a circle (a
//!   module using its parent's items is fine: that is what a parent is for); nor do two modules
//!   of one fake (`inbox_v1`, `inbox_v2`, `hubspot` in the fakes' crate).
//! - Every `.rs` file opens with a `//!` module header.
//! - No file is over [`MAX_LINES`] lines (the last exceptions, `store/mod.rs` and
//!   `reconcile/tests.rs`, were split by concern).
//! - No product function is over [`MAX_ENGINE_FN_LINES`] lines under `src/engine/` or over
//!   [`MAX_FN_LINES`] elsewhere (no allow-list: the last long ones were split).
//! - The last three rules hold for the fakes' crate (`crates/crmsync-fake/src/`) too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod fn_length;

use fn_length::function_lengths;

/// How the engine's modules are named from the crate root.
const ENGINE: &str = "crate::engine::";

/// The fakes' API modules (each a tree of sibling modules), as directories and as paths from
/// the fakes' crate root.
const FAKE_TREES: &[(&str, &str)] = &[
    ("crates/crmsync-fake/src/inbox_v1/", "crate::inbox_v1::"),
    ("crates/crmsync-fake/src/inbox_v2/", "crate::inbox_v2::"),
    ("crates/crmsync-fake/src/hubspot/", "crate::hubspot::"),
];

/// The house limit on the length of a source file.
const MAX_LINES: usize = 800;

/// The house limit on the length of a product function under `src/engine/`, from its `fn` line
/// to its closing brace.
const MAX_ENGINE_FN_LINES: usize = 80;

/// The house limit on the length of a product function elsewhere in `src/`.
const MAX_FN_LINES: usize = 120;

/// Files outside `src/config/` allowed to read environment variables, with why.
const ENV_READERS: &[&str] = &[
    // The crash matrix's failpoint switch: test-only, read before any config exists.
    "src/failpoint.rs",
];

/// What reading an environment variable looks like, directly or through `tracing-subscriber`.
const ENV_READS: &[&str] = &["env::var", "try_from_env(", "from_default_env("];

/// Paths the pure core must not use.
const IMPURE: &[&str] = &[
    "tokio",
    "reqwest",
    "rusqlite",
    "csv",
    "axum",
    "std::fs",
    "std::net",
    "chrono::Utc::now",
];

/// A source file: its path relative to the crate root (with `/`) and its text.
struct Source {
    path: String,
    text: String,
}

impl Source {
    /// `(1-based line, line)` of the lines that are not `//` comments (doc comments included).
    fn code_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .map(|(idx, line)| (idx + 1, line))
            .filter(|(_, line)| !line.trim_start().starts_with("//"))
    }
}

/// Every `.rs` file under `src/`, sorted by path.
fn sources() -> Vec<Source> {
    sources_under(&["src"])
}

/// Every `.rs` file of the workspace's product code: `src/` and the fakes' crate
/// (`crates/crmsync-fake/src/`), for the rules that hold for every crate (headers, file and
/// function length).
fn workspace_sources() -> Vec<Source> {
    sources_under(&["src", "crates/crmsync-fake/src"])
}

/// Every `.rs` file under the directories `dirs` (relative to the root), sorted by path.
fn sources_under(dirs: &[&str]) -> Vec<Source> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in dirs {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|file| Source {
            path: file
                .strip_prefix(&root)
                .expect("under the crate root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
            text: std::fs::read_to_string(&file).expect("a readable source file"),
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Fails with one line per problem, under a heading that says what the rule is.
fn report(rule: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "tidy: {rule}\n{}\n",
        problems
            .iter()
            .map(|p| format!("  {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn only_config_reads_environment_variables() {
    let mut problems = Vec::new();
    for source in sources() {
        if source.path.starts_with("src/config/") || ENV_READERS.contains(&source.path.as_str()) {
            continue;
        }
        for (line, code) in source.code_lines() {
            for read in ENV_READS.iter().filter(|read| code.contains(**read)) {
                problems.push(format!(
                    "{}:{line}: `{read}`: add a named function to src/config/env.rs and call it",
                    source.path
                ));
            }
        }
    }
    report(
        "environment variables are read in src/config/ only (src/config/env.rs has one function per variable)",
        &problems,
    );
}

#[test]
fn the_reconcile_core_is_pure() {
    let mut problems = Vec::new();
    for source in sources() {
        let Some(inside) = source.path.strip_prefix("src/reconcile/") else {
            continue;
        };
        let module = module_path(inside);
        for (line, path) in use_paths(&source) {
            let resolved = resolve(&module, &path);
            if let Some(bad) = impure(&resolved) {
                problems.push(format!("{}:{line}: `use {path}` ({bad})", source.path));
            }
        }
        for (line, code) in source.code_lines() {
            if !code.trim_start().starts_with("use ") && !code.contains(" use ") {
                for bad in inline_impure(code) {
                    problems.push(format!("{}:{line}: {bad}", source.path));
                }
            }
        }
    }
    report(
        "src/reconcile/ is the pure core: it takes values and returns plans, with no I/O, no clock \
         and no other crate module. Do the I/O or read the clock in src/engine/ and pass the \
         result in; move a type the core needs into src/reconcile/",
        &problems,
    );
}

/// Event-type prefixes of Inbox's wire format (v1 and v2): `"thread.archived"`, ...
const EVENT_PREFIXES: &[&str] = &[
    "thread.",
    "prospect.",
    "contact.",
    "message.",
    "target.",
    "campaign.",
    "tag.",
    "status.",
];

/// Whether the file at `path` is test code as a whole: a `tests.rs` or `proptests.rs`, or a
/// file under a `tests` directory.
fn is_test_file(path: &str) -> bool {
    path.ends_with("/tests.rs") || path.contains("/tests/") || path.ends_with("proptests.rs")
}

/// The lines of `source` that are product code: outside test files and before the first
/// `#[cfg(test)]` (test modules close a file).
fn product_lines(source: &Source) -> Vec<(usize, &str)> {
    if is_test_file(&source.path) {
        return Vec::new();
    }
    source
        .code_lines()
        .take_while(|(_, code)| !code.contains("#[cfg(test)]"))
        .collect()
}

/// What in `code` reads Inbox's wire format: a quoted event type, or a JSON pointer.
fn wire_knowledge(code: &str) -> Option<String> {
    if code.contains(".pointer(") {
        return Some("a JSON pointer into a payload".into());
    }
    code.split('"').skip(1).step_by(2).find_map(|quoted| {
        let event = EVENT_PREFIXES.iter().any(|prefix| {
            quoted
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()))
        });
        event.then(|| format!("the event type \"{quoted}\""))
    })
}

#[test]
fn only_inbox_knows_the_wire_format() {
    let mut problems = Vec::new();
    for source in sources() {
        if source.path.starts_with("src/inbox/") {
            continue;
        }
        for (line, code) in product_lines(&source) {
            if let Some(what) = wire_knowledge(code) {
                problems.push(format!(
                    "{}:{line}: {what}: give `inbox::Event` (or `inbox::v2::Change`) a typed \
                     answer and use that",
                    source.path
                ));
            }
        }
    }
    report(
        "only src/inbox/ knows Inbox's wire format (event types, payload paths)",
        &problems,
    );
}

#[test]
fn the_wire_format_reader_finds_event_types_and_pointers() {
    assert!(wire_knowledge(r#"    "thread.typing" | "message.edited" => {}"#).is_some());
    assert!(wire_knowledge(r#"let id = data.pointer("/thread/id");"#).is_some());
    assert!(wire_knowledge(r#"kind == "prospect.assigneeChanged""#).is_some());
    assert!(wire_knowledge(r#"format!("status.{x}")"#).is_none());
    assert!(wire_knowledge(r#"say!("thread. Done")"#).is_none());
    assert!(wire_knowledge("let thread = status.name;").is_none());
}

#[test]
fn every_source_file_opens_with_a_module_header() {
    let problems: Vec<String> = workspace_sources()
        .into_iter()
        .filter(|s| {
            !s.text
                .lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with("//!"))
        })
        .map(|s| {
            format!(
                "{}: the first non-empty line is not a `//!` comment; say what the module is for \
                 and what it must not do",
                s.path
            )
        })
        .collect();
    report(
        "every .rs file under src/ and crates/crmsync-fake/src/ opens with a //! module header",
        &problems,
    );
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    let sources = workspace_sources();
    let mut problems = Vec::new();
    for source in &sources {
        let lines = source.text.lines().count();
        if lines <= MAX_LINES {
            continue;
        }
        problems.push(format!(
            "{}: {lines} lines, over {MAX_LINES}: split it by concern (e.g. src/config/, src/store/)",
            source.path
        ));
    }
    report(
        &format!("source files are at most {MAX_LINES} lines"),
        &problems,
    );
}

/// The length limit of a product function in the file at `path`.
fn fn_line_limit(path: &str) -> usize {
    if path.starts_with("src/engine/") {
        MAX_ENGINE_FN_LINES
    } else {
        MAX_FN_LINES
    }
}

#[test]
fn no_function_is_over_the_length_limit() {
    let mut problems = Vec::new();
    for source in workspace_sources() {
        if is_test_file(&source.path) {
            continue;
        }
        let limit = fn_line_limit(&source.path);
        for f in function_lengths(&source.text) {
            if f.lines > limit {
                problems.push(format!(
                    "{}:{}: `{}` is {} lines, over {limit}: split it into helpers named for \
                     the steps it performs",
                    source.path, f.line, f.name, f.lines
                ));
            }
        }
    }
    report(
        &format!(
            "product functions are at most {MAX_ENGINE_FN_LINES} lines under src/engine/ and \
             {MAX_FN_LINES} elsewhere in src/ and crates/crmsync-fake/src/ (from the `fn` line to \
             the closing brace)"
        ),
        &problems,
    );
}

/// The module a file under `src/reconcile/` is, as path segments from the crate root:
/// `link.rs` is `reconcile::link`, `mod.rs` is `reconcile`, `tests/props.rs` is
/// `reconcile::tests::props`.
fn module_path(inside: &str) -> Vec<String> {
    let mut segments = vec!["reconcile".to_owned()];
    let stem = inside.strip_suffix(".rs").unwrap_or(inside);
    segments.extend(stem.split('/').map(str::to_owned));
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    segments
}

/// `path` from a `use` in `module`, with `self::` and `super::` resolved to a `crate::` path;
/// other paths are returned as they are.
fn resolve(module: &[String], path: &str) -> String {
    let mut current = module.to_vec();
    let mut rest = path;
    let mut relative = false;
    loop {
        if let Some(tail) = rest.strip_prefix("super::") {
            current.pop();
            rest = tail;
            relative = true;
        } else if let Some(tail) = rest.strip_prefix("self::") {
            rest = tail;
            relative = true;
        } else {
            break;
        }
    }
    if !relative {
        return path.to_owned();
    }
    let mut full = vec!["crate".to_owned()];
    full.extend(current);
    full.push(rest.to_owned());
    full.join("::")
}

/// Why a `use` path is not allowed in the core, if it is not.
fn impure(path: &str) -> Option<String> {
    let path = path.trim_start_matches("::");
    let under = |root: &str| path == root || path.starts_with(&format!("{root}::"));
    if let Some(root) = IMPURE.iter().find(|root| under(root)) {
        return Some(format!("{root} is not for the pure core"));
    }
    if under("crate") && !under("crate::reconcile") {
        return Some("only crate::reconcile is in the core".to_owned());
    }
    None
}

/// Impure paths written out in code without a `use` (`tokio::spawn`, `crate::store::Store`,
/// `Utc::now()`).
fn inline_impure(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    if code.contains("Utc::now") {
        found.push("`Utc::now` (the core takes the time as a value)".to_owned());
    }
    for (start, _) in code.match_indices("::") {
        // The path that ends just before this `::`, if it starts here (not `a::b::` inside).
        let before = &code[..start];
        let word_start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        let path: String = code[word_start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let root_len = start - word_start;
        if root_len != path.find("::").unwrap_or(path.len()) {
            continue; // not the first `::` of this path
        }
        if let Some(why) = impure(path.trim_end_matches(':'))
            && !path.starts_with("chrono::")
        {
            found.push(format!("`{}` ({why})", path.trim_end_matches(':')));
        }
    }
    found
}

/// `(line, path)` for every path a `use` item brings in, braces expanded (`use a::{b, c::d}` is
/// `a::b` and `a::c::d`; `self` in braces is the prefix).
fn use_paths(source: &Source) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let lines: Vec<(usize, &str)> = source.code_lines().collect();
    let mut idx = 0;
    while idx < lines.len() {
        let (line, code) = lines[idx];
        let trimmed = code.trim_start();
        let after_vis = trimmed
            .strip_prefix("pub(crate) ")
            .or_else(|| trimmed.strip_prefix("pub(super) "))
            .or_else(|| trimmed.strip_prefix("pub "))
            .unwrap_or(trimmed);
        let Some(tree) = after_vis.strip_prefix("use ") else {
            idx += 1;
            continue;
        };
        let mut statement = tree.to_owned();
        while !statement.contains(';') && idx + 1 < lines.len() {
            idx += 1;
            statement.push(' ');
            statement.push_str(lines[idx].1);
        }
        let tree = statement.split(';').next().unwrap_or_default();
        out.extend(expand(tree).into_iter().map(|path| (line, path)));
        idx += 1;
    }
    out
}

/// The paths of one use tree.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        return vec![path.replace(' ', "")];
    };
    let prefix = tree[..open].replace(' ', "");
    let close = tree.rfind('}').unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(expand)
        .map(|path| {
            if path == "self" {
                prefix.trim_end_matches("::").to_owned()
            } else {
                format!("{prefix}{path}")
            }
        })
        .collect()
}

#[test]
fn the_use_tree_reader_expands_braces_and_resolves_super() {
    assert_eq!(
        expand("std::{fs, collections::{BTreeMap, self}, net::TcpStream as T}"),
        [
            "std::fs",
            "std::collections::BTreeMap",
            "std::collections",
            "std::net::TcpStream"
        ]
    );
    let link = module_path("link.rs");
    assert_eq!(resolve(&link, "super::Field"), "crate::reconcile::Field");
    assert_eq!(
        resolve(&module_path("mod.rs"), "super::store"),
        "crate::store"
    );
    assert_eq!(
        resolve(&module_path("tests/props.rs"), "super::super::model"),
        "crate::reconcile::model"
    );
    assert!(impure("crate::store::Store").is_some());
    assert!(impure("crate::reconcile::Field").is_none());
    assert!(impure("tokio::fs").is_some());
    assert!(impure("csv_like::X").is_none());
    assert_eq!(inline_impure("let t = chrono::Utc::now();").len(), 1);
    assert_eq!(inline_impure("crate::crm::csv::read(x)").len(), 1);
    assert!(inline_impure("let x = crate::reconcile::Field::Tags;").is_empty());
    assert!(inline_impure("let v: Vec<u8> = Vec::new();").is_empty());
}

/// A module under `src/engine/` as segments below `engine`: `pull/v1/walk.rs` is
/// `pull::v1::walk`, `pull/mod.rs` is `pull`, `mod.rs` is the engine itself (no segment).
fn engine_module(inside: &str) -> Vec<String> {
    let stem = inside.strip_suffix(".rs").unwrap_or(inside);
    let mut segments: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    segments
}

/// Paths written out in code without a `use` that start with `super::`, `self::` or the tree's
/// `crate_path` (`super::crm_write::write_crm(..)`).
fn inline_tree_paths(code: &str, crate_path: &str) -> Vec<String> {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|token| {
            ["super::", "self::", crate_path]
                .iter()
                .any(|root| token.starts_with(root))
        })
        .map(|token| token.trim_end_matches(':').to_owned())
        .collect()
}

/// `path` as written in module `module` of the tree `crate_path` names, as segments below the
/// tree's root; `None` for a path outside it (`crate::store::Store`, `std::..`, `anyhow::..`).
fn tree_target(module: &[String], path: &str, crate_path: &str) -> Option<Vec<String>> {
    let mut current = module.to_vec();
    let mut rest = path;
    if let Some(tail) = rest.strip_prefix(crate_path) {
        current.clear();
        rest = tail;
    } else if !rest.starts_with("super::") && !rest.starts_with("self::") {
        return None;
    }
    loop {
        if let Some(tail) = rest.strip_prefix("super::") {
            current.pop()?;
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix("self::") {
            rest = tail;
        } else {
            break;
        }
    }
    current.extend(
        rest.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    Some(current)
}

/// The engine modules that the product code of each engine module names, by `use` or written
/// out. A name a module imports or re-exports (`pub use run::RunOptions` in `engine/mod.rs`)
/// counts as the module it comes from, so `use super::RunOptions` is a use of `run`. Test
/// modules (after the first `#[cfg(test)]`, and test files) are left out.
fn engine_uses() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    tree_uses(sources(), "src/engine/", ENGINE)
}

/// What each module of the tree under `dir` (whose modules `crate_path` names from the crate
/// root, e.g. `crate::engine::`) uses of the others, as module paths below the tree's root.
fn tree_uses(
    sources: Vec<Source>,
    dir: &str,
    crate_path: &str,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let sources: Vec<Source> = sources
        .into_iter()
        .filter(|s| s.path.starts_with(dir))
        .collect();
    let modules: BTreeSet<Vec<String>> = sources
        .iter()
        .map(|s| engine_module(&s.path[dir.len()..]))
        .collect();
    // Per module: what it names, raw, and what each name it imports stands for.
    let mut named: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
    let mut imports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for source in &sources {
        let module = engine_module(&source.path[dir.len()..]);
        let product: BTreeSet<usize> = product_lines(source).iter().map(|(l, _)| *l).collect();
        let mut paths: Vec<String> = use_paths(source)
            .into_iter()
            .filter(|(line, _)| product.contains(line))
            .map(|(_, path)| path)
            .collect();
        for (_, code) in product_lines(source) {
            if !code.trim_start().starts_with("use ") && !code.contains(" use ") {
                paths.extend(inline_tree_paths(code, crate_path));
            }
        }
        for path in &paths {
            let Some(target) = tree_target(&module, path, crate_path) else {
                continue;
            };
            if let Some(name) = target.last().filter(|n| n.as_str() != "*") {
                imports
                    .entry(module.clone())
                    .or_default()
                    .insert(name.clone(), target.clone());
            }
            named.entry(module.clone()).or_default().push(target);
        }
    }
    // The module a path names: its longest prefix that is a module, followed through the
    // imports of that module when the next segment is a name it imported.
    let owner = |path: &[String]| -> Vec<String> {
        let mut path = path.to_vec();
        for _ in 0..8 {
            let len = (0..=path.len())
                .rev()
                .find(|len| modules.contains(&path[..*len]))
                .unwrap_or(0);
            let module = path[..len].to_vec();
            let imported = path
                .get(len)
                .and_then(|name| imports.get(&module).and_then(|i| i.get(name)))
                .filter(|target| **target != path);
            match imported {
                Some(target) => path = target.clone(),
                None => return module,
            }
        }
        path
    };
    named
        .into_iter()
        .map(|(module, paths)| {
            let targets = paths
                .iter()
                .map(|p| owner(p))
                .filter(|t| *t != module)
                .collect();
            (module, targets)
        })
        .collect()
}

/// The uses between siblings: a use of `b::..` from inside `a` (or a module below `a`), where
/// `a` and `b` have the same parent, is the edge `a -> b`. A module using its parent's (or any
/// ancestor's) items, or a parent dispatching into its children, is no edge: that is how a
/// module tree is meant to be used.
fn sibling_edges(
    uses: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in uses {
        for to in targets {
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue; // an ancestor or a descendant
            }
            let name = |m: &[String]| m[..=common].join("::");
            edges.entry(name(from)).or_default().insert(name(to));
        }
    }
    edges
}

/// The circles of `edges`: each set of two or more modules that all reach each other (a
/// strongly connected component), smallest module first, with the edges inside it.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<(String, String)>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(next) = todo.pop() {
            for to in edges.get(&next).into_iter().flatten() {
                if seen.insert(to.clone()) {
                    todo.push(to.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|m| (m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for (module, reaches) in &reached {
        if done.contains(*module) || !reaches.contains(*module) {
            continue;
        }
        let circle: BTreeSet<&String> = reaches
            .iter()
            .filter(|other| reached.get(other).is_some_and(|r| r.contains(*module)))
            .collect();
        done.extend(circle.iter().map(|m| (*m).clone()));
        found.push(
            circle
                .iter()
                .flat_map(|from| {
                    edges[*from]
                        .iter()
                        .filter(|to| circle.contains(to))
                        .map(|to| ((*from).clone(), to.clone()))
                })
                .collect(),
        );
    }
    found
}

#[test]
fn no_engine_modules_import_each_other_in_a_circle() {
    let problems: Vec<String> = cycles(&sibling_edges(&engine_uses()))
        .into_iter()
        .map(|circle| {
            let uses: Vec<String> = circle.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
            format!("a circle: {}", uses.join(", "))
        })
        .collect();
    report(
        "no two src/engine modules with the same parent use each other, directly or around a \
         circle (a child using its parent's items is fine). Move what both need into a module \
         below them both (e.g. pull/v1/rows.rs, receipts.rs) or into their parent",
        &problems,
    );
}

#[test]
fn no_fake_modules_import_each_other_in_a_circle() {
    let mut problems = Vec::new();
    for (dir, crate_path) in FAKE_TREES {
        let uses = tree_uses(workspace_sources(), dir, crate_path);
        assert!(!uses.is_empty(), "no modules read under {dir}");
        for circle in cycles(&sibling_edges(&uses)) {
            let uses: Vec<String> = circle.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
            problems.push(format!("{dir}: a circle: {}", uses.join(", ")));
        }
    }
    report(
        "no two modules of one fake (inbox_v1, inbox_v2, hubspot) use each other, directly or \
         around a circle: the model (state) knows nothing of its rendering (wire) or routes",
        &problems,
    );
}

#[test]
fn the_cycle_finder_finds_circles_between_siblings_only() {
    let module = |m: &str| m.split("::").map(str::to_owned).collect::<Vec<_>>();
    let uses = |pairs: &[(&str, &str)]| {
        let mut uses: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (from, to) in pairs {
            uses.entry(module(from)).or_default().insert(module(to));
        }
        uses
    };
    let found = |pairs: &[(&str, &str)]| -> Vec<Vec<String>> {
        cycles(&sibling_edges(&uses(pairs)))
            .into_iter()
            .map(|circle| circle.iter().map(|(a, b)| format!("{a}>{b}")).collect())
            .collect()
    };
    assert_eq!(found(&[("a", "b"), ("b", "a")]), [["a>b", "b>a"]]);
    assert_eq!(
        found(&[("c", "a"), ("a", "b"), ("b", "c"), ("b", "d"), ("d", "e")]),
        [["a>b", "b>c", "c>a"]]
    );
    // Two circles apart, one joined to the other by a one-way use.
    assert_eq!(
        found(&[("a", "b"), ("b", "a"), ("b", "x"), ("x", "y"), ("y", "x")]),
        [vec!["a>b", "b>a"], vec!["x>y", "y>x"]]
    );
    assert!(found(&[("a", "b"), ("b", "c"), ("a", "c")]).is_empty());
    // A child using its parent, a parent its child: no circle.
    assert!(found(&[("pull::v1::replay", "pull"), ("pull", "pull::v1::replay")]).is_empty());
    // A use from below a module counts for the module: push -> crm_write -> push::v2.
    assert_eq!(
        found(&[("push", "crm_write"), ("crm_write", "push::v2")]),
        [["crm_write>push", "push>crm_write"]]
    );
    assert!(found(&[("push::v1", "push::v2"), ("push::v2", "receipts")]).is_empty());
    assert_eq!(
        tree_target(
            &module("pull::v2::replay"),
            "super::super::PullReport",
            ENGINE
        ),
        Some(module("pull::PullReport"))
    );
    assert_eq!(
        tree_target(&module("push"), "crate::engine::receipts::Receipts", ENGINE),
        Some(module("receipts::Receipts"))
    );
    assert_eq!(
        tree_target(&module("push"), "crate::store::Store", ENGINE),
        None
    );
    assert_eq!(
        inline_tree_paths(
            "let x = super::crm_write::write_crm(a, crate::store::X);",
            ENGINE
        ),
        ["super::crm_write::write_crm"]
    );
}
