//! `cargo xtask tidy`: checks that keep the house in order, each failing with what to fix.
//!
//! * every bench id the report expects (`bench.rs`) is still in the benches' sources, so a
//!   renamed bench fails here instead of showing "not run" in the report;
//! * the crates `README.md` and `docs/architecture.md` name are the workspace's, and every
//!   crate under `crates/` is named in both;
//! * `autonomic-core`'s normal dependency tree holds no async crate (the core promises none).

use std::collections::BTreeSet;
use std::path::Path;

use crate::bench;
use crate::cmd::{Cmd, Failed, root};

/// Crate names (or prefixes, ending in `-` or `*`) that mean an async runtime or async
/// plumbing in a dependency tree.
const ASYNC_CRATES: &[&str] =
    &["tokio*", "futures*", "async-*", "async_*", "mio", "smol*", "glommio", "actix*"];

/// The documents that must name every crate.
const CRATE_DOCS: &[&str] = &["README.md", "docs/architecture.md"];

pub fn run() -> Result<(), Failed> {
    let root = root();
    let mut problems = Vec::new();
    problems.extend(missing_bench_ids(&root)?);
    problems.extend(crate_names(&root)?);
    problems.extend(async_in_core()?);
    if problems.is_empty() {
        eprintln!("xtask tidy: ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    Err(Failed(format!("tidy: {} problem(s), listed above", problems.len())))
}

// ------------------------------------------------------------------------ bench ids -----

/// Expected bench ids none of whose name segments is missing from the benches' string
/// literals. An id is `group/function[/parameter]`; groups and functions may be built with
/// `format!` or `BenchmarkId::new`, so each non-numeric segment must appear as a segment of
/// some string literal (`"aggregate/{n}"` provides `aggregate`).
fn missing_bench_ids(root: &Path) -> Result<Vec<String>, Failed> {
    let dir = root.join("benches/benches");
    let mut segments = BTreeSet::new();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| Failed(format!("reading {}: {e}", dir.display())))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failed(format!("reading {}: {e}", path.display())))?;
            for literal in string_literals(&text) {
                segments.extend(literal.split('/').map(str::to_string));
            }
        }
    }
    Ok(missing_ids(bench::expected_ids(), &segments))
}

fn missing_ids<'a>(
    ids: impl IntoIterator<Item = &'a str>,
    segments: &BTreeSet<String>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for id in ids {
        let absent: Vec<&str> = id
            .split('/')
            .filter(|s| !s.chars().all(|c| c.is_ascii_digit()))
            .filter(|s| !segments.contains(*s))
            .collect();
        if !absent.is_empty() {
            missing.push(format!(
                "the bench report expects `{id}`, but no bench under benches/benches names {} \
                 (renamed? update xtask/src/bench.rs too)",
                absent.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    missing
}

/// The contents of the plain `"..."` string literals of Rust source, comments skipped.
fn string_literals(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            // A char literal such as '"' or '\'' (a lifetime's quote is skipped alone).
            '\'' => {
                let mut ahead = chars.clone();
                let first = ahead.next();
                let closes = match first {
                    Some('\\') => ahead.nth(1) == Some('\''),
                    Some(_) => ahead.next() == Some('\''),
                    None => false,
                };
                if closes {
                    let skip = if first == Some('\\') { 3 } else { 2 };
                    for _ in 0..skip {
                        chars.next();
                    }
                }
            }
            '"' => {
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        c => literal.push(c),
                    }
                }
                out.push(literal);
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------- crate names -----

/// Crates named in the docs that the workspace lacks, and crates under `crates/` that a doc
/// does not name.
fn crate_names(root: &Path) -> Result<Vec<String>, Failed> {
    let (under_crates, others) = workspace_packages()?;
    let mut problems = Vec::new();
    for doc in CRATE_DOCS {
        let path = root.join(doc);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Failed(format!("reading {}: {e}", path.display())))?;
        let named = crate_mentions(&text);
        for name in &named {
            if !under_crates.contains(name) && !others.contains(name) {
                problems.push(format!(
                    "{doc} names crate `{name}`, which is not a crate of the workspace"
                ));
            }
        }
        for name in &under_crates {
            if !named.contains(name) {
                problems.push(format!("crates/{name} exists but {doc} does not name it"));
            }
        }
    }
    Ok(problems)
}

/// `(packages under crates/, other workspace packages)`, by name.
fn workspace_packages() -> Result<(BTreeSet<String>, BTreeSet<String>), Failed> {
    let out =
        Cmd::cargo(["metadata", "--no-deps", "--format-version", "1", "--offline"]).stdout()?;
    let meta: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| Failed(format!("cargo metadata output: {e}")))?;
    let crates_dir = root().join("crates");
    let (mut under, mut others) = (BTreeSet::new(), BTreeSet::new());
    for package in meta["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) =
            (package["name"].as_str(), package["manifest_path"].as_str())
        else {
            continue;
        };
        if Path::new(manifest).starts_with(&crates_dir) {
            under.insert(name.to_string());
        } else {
            others.insert(name.to_string());
        }
    }
    Ok((under, others))
}

/// The crate names a document mentions: `autonomic` and `autonomic-<name>` as whole words
/// (also inside a path such as `crates/autonomic-table/`).
fn crate_mentions(text: &str) -> BTreeSet<String> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("autonomic") {
        let start = i + at;
        let mut end = start + "autonomic".len();
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'-') {
            end += 1;
        }
        let word = text[start..end].trim_end_matches('-');
        let in_word = text[..start].chars().next_back().is_some_and(is_word);
        // `autonomic_core` (a path in code) or `autonomic-core.md` (a file) is no crate name.
        let rest = &text[start + word.len()..];
        let joined = rest.starts_with('_')
            || rest.strip_prefix('.').is_some_and(|r| r.starts_with(char::is_alphabetic));
        if !in_word && !joined {
            found.insert(word.to_string());
        }
        i = end;
    }
    found
}

// ---------------------------------------------------------------------- async in core ---

/// Async crates in `autonomic-core`'s normal dependency tree.
fn async_in_core() -> Result<Vec<String>, Failed> {
    let args = ["tree", "-p", "autonomic-core", "-e", "normal", "--prefix", "none", "--offline"];
    let tree = Cmd::cargo(args).stdout()?;
    Ok(async_crates(&tree)
        .into_iter()
        .map(|name| {
            format!(
                "autonomic-core's dependency tree holds `{name}`, an async crate: the core \
                 promises no async dependency (`cargo tree -p autonomic-core -e normal -i {name}` \
                 shows who pulls it in)"
            )
        })
        .collect())
}

/// The async crates in `cargo tree --prefix none` output (`name vX.Y.Z ...` per line).
fn async_crates(tree: &str) -> BTreeSet<String> {
    tree.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| {
            ASYNC_CRATES.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            })
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_bench_is_reported() {
        let src = r#"
            // g.bench_function("commented_out", ..)
            let mut g = c.benchmark_group(format!("aggregate/{n}"));
            g.bench_function(BenchmarkId::new("aggregate_source", n), |b| b.iter(|| '"'));
            let mut g = c.benchmark_group("metric_update");
            g.bench_function("record_task_execution_renamed", |b| {});
        "#;
        let segments: BTreeSet<String> =
            string_literals(src).iter().flat_map(|l| l.split('/')).map(str::to_string).collect();
        let missing = missing_ids(
            [
                "aggregate/1000/aggregate_source/1000",
                "metric_update/record_task_execution",
                "metric_update/commented_out",
            ],
            &segments,
        );
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("`record_task_execution`"));
        assert!(missing[1].contains("`commented_out`"));
    }

    #[test]
    fn crate_mentions_are_whole_crate_names() {
        let text = "autonomic            facade\n| `autonomic-core` | x |\n\
                    use autonomic_core::X; see autonomic-table's docs, crates/autonomic-gone, \
                    the autonomic-ghost crate, autonomic-core.md";
        let found: Vec<String> = crate_mentions(text).into_iter().collect();
        assert_eq!(
            found,
            ["autonomic", "autonomic-core", "autonomic-ghost", "autonomic-gone", "autonomic-table"]
        );
    }

    #[test]
    fn async_crates_are_spotted_in_a_tree() {
        let tree = "autonomic-core v0.1.0 (/x)\narc-swap v1.7.1\ntokio v1.48.0\n\
                    futures-core v0.3.31\nserde v1.0.228\nasync-trait v0.1.89\nmio v1.1.0\n";
        let found: Vec<String> = async_crates(tree).into_iter().collect();
        assert_eq!(found, ["async-trait", "futures-core", "mio", "tokio"]);
        assert!(async_crates("autonomic-core v0.1.0\nuuid v1.18.1\n").is_empty());
    }
}
