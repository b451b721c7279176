//! Runs the examples of `docs/*.md`: a fenced ```sql block followed by a fenced
//! ```text block is a script and the multiset of lines it prints.

use std::collections::BTreeMap;
use std::path::Path;

use super::cases::{repo_root, weir};

/// Lines as a multiset (sorted), ignoring blank lines.
fn multiset<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = lines
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Removes Flink's `N> ` / `id:N> ` subtask prefix of print output.
fn strip_subtask(line: &str) -> &str {
    if let Some(idx) = line.find("> ") {
        let prefix = &line[..idx];
        let digits = prefix.rsplit(':').next().unwrap_or("");
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            return &line[idx + 2..];
        }
    }
    line
}

/// Describes the difference of two multisets, or `None` when equal.
fn diff(expected: &[String], actual: &[String]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for e in expected {
        *counts.entry(e).or_default() += 1;
    }
    for a in actual {
        *counts.entry(a).or_default() -= 1;
    }
    let mut out = String::new();
    for (line, n) in counts {
        if n > 0 {
            out.push_str(&format!("    missing ({n}x): {line}\n"));
        } else if n < 0 {
            out.push_str(&format!("    unexpected ({}x): {line}\n", -n));
        }
    }
    Some(out)
}

fn examples(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().peekable();
    let mut pending_sql: Option<String> = None;
    while let Some(line) = lines.next() {
        let fence = line.trim();
        if fence == "```sql" || fence == "```text" {
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            if fence == "```sql" {
                pending_sql = Some(body);
            } else if let Some(sql) = pending_sql.take() {
                out.push((sql, body));
            }
        } else if !fence.is_empty() && !fence.starts_with("```") {
            // Prose between a SQL block and a text block is fine; another SQL block resets.
        }
    }
    out
}

fn run_examples_of(doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let mut failures = Vec::new();
    for (i, (sql, expected)) in examples(&text).into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("example.sql");
        std::fs::write(&script, &sql).unwrap();
        let out = weir()
            .current_dir(dir.path())
            .args(["run", "--quiet", "example.sql"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let actual = multiset(stdout.lines().map(strip_subtask));
        let expected = multiset(expected.lines());
        if !out.status.success() {
            failures.push(format!(
                "{} example {}: failed:\n{stderr}\n{sql}",
                doc.display(),
                i + 1
            ));
        } else if let Some(d) = diff(&expected, &actual) {
            failures.push(format!(
                "{} example {}: output differs:\n{d}\n{sql}",
                doc.display(),
                i + 1
            ));
        }
    }
    failures
}

#[test]
fn docs_examples_print_what_the_docs_show() {
    let docs = repo_root().join("docs");
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            count += examples(&std::fs::read_to_string(&path).unwrap()).len();
            failures.extend(run_examples_of(&path));
        }
    }
    assert!(
        count >= 5,
        "the docs should have runnable examples, found {count}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
