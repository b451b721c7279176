//! Runs the examples of `docs/*.md`: a fenced ```sql block followed by a fenced
//! ```text block is a script and the multiset of lines it prints.

use std::path::Path;

use super::cases::{diff, multiset, repo_root, strip_subtask, weir};

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
