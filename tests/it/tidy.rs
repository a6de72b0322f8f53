//! Tidy: house rules about the source tree that the compiler does not check, read from the files
//! under `src/` (no build, no binary). Each failure says what to do.
//!
//! - Only `src/config/` reads environment variables (and `src/failpoint.rs`, a test-only crash
//!   hook); code under `crates/` is not checked.
//! - `src/reconcile/` is the pure core: no tokio, reqwest, rusqlite, csv, axum, `std::fs`,
//!   `std::net`, no clock (`Utc::now`), and no `crate::` module other than `crate::reconcile`.
//! - Only `src/inbox/` knows Inbox's wire format: no event-type strings and no JSON pointers
//!   in the product code of any other module.
//! - Every `.rs` file opens with a `//!` module header.
//! - No file is over [`MAX_LINES`] lines (the last exceptions, `store/mod.rs` and
//!   `reconcile/tests.rs`, were split by concern).

use std::path::{Path, PathBuf};

/// The house limit on the length of a source file.
const MAX_LINES: usize = 800;

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
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("src"), &mut files);
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

/// The lines of `source` that are product code: outside test files and before the first
/// `#[cfg(test)]` (test modules close a file).
fn product_lines(source: &Source) -> Vec<(usize, &str)> {
    let path = source.path.as_str();
    if path.ends_with("/tests.rs") || path.contains("/tests/") || path.ends_with("proptests.rs") {
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
    let problems: Vec<String> = sources()
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
        "every .rs file under src/ opens with a //! module header",
        &problems,
    );
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    let sources = sources();
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
