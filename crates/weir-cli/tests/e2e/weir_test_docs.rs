//! Runs the walkthrough of `docs/testing.md` as written: fenced blocks whose info
//! string names a file (```` ```toml file=job.tests/a.toml ````) are written to a fresh
//! folder (or, when a command already made that file, compared with it), and each
//! `$ weir ...` line of a ```` ```console ```` block runs there and must print the lines
//! that follow it (standard output, then standard error).

use std::path::Path;

use super::cases::{repo_root, weir};

enum Block {
    File { path: String, body: String },
    Console(String),
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.trim().strip_prefix("```") else {
            continue;
        };
        let mut body = String::new();
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        if let Some(path) = info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file="))
        {
            out.push(Block::File {
                path: path.to_string(),
                body,
            });
        } else if info.trim() == "console" {
            out.push(Block::Console(body));
        }
    }
    out
}

/// Runs one console block's commands in `dir`; returns the problems.
fn run_console(dir: &Path, block: &str, problems: &mut Vec<String>) {
    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            commands.push((command.to_string(), Vec::new()));
        } else if let Some((_, expected)) = commands.last_mut() {
            expected.push(line.trim_end().to_string());
        }
    }
    for (command, expected) in commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(
            words.first(),
            Some(&"weir"),
            "only weir commands: {command}"
        );
        let out = weir().current_dir(dir).args(&words[1..]).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let actual: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        if actual != expected {
            problems.push(format!(
                "`{command}` printed:\n{}\n--- but the doc shows:\n{}",
                actual.join("\n"),
                expected.join("\n")
            ));
        }
    }
}

#[test]
fn the_testing_walkthrough_runs_as_documented() {
    let doc = std::fs::read_to_string(repo_root().join("docs/testing.md")).unwrap();
    let blocks = blocks(&doc);
    let files = blocks
        .iter()
        .filter(|b| matches!(b, Block::File { .. }))
        .count();
    let consoles = blocks
        .iter()
        .filter(|b| matches!(b, Block::Console(b) if b.contains("$ weir")))
        .count();
    assert!(
        files >= 6 && consoles >= 5,
        "{files} files, {consoles} commands"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    // What this test wrote to each file: a file that is not (any more) what was written
    // was made or changed by a command, and is compared with the doc's block.
    let mut written = std::collections::BTreeMap::new();
    for block in blocks {
        match block {
            Block::File { path, body } => {
                let target = dir.path().join(&path);
                let current = std::fs::read_to_string(&target).ok();
                if current.is_some() && current.as_ref() != written.get(&path) {
                    // Made by a command (weir sample, weir test --update): compare.
                    let actual = std::fs::read_to_string(&target).unwrap();
                    if actual != body {
                        problems.push(format!(
                            "{path} is:\n{actual}\n--- but the doc shows:\n{body}"
                        ));
                    }
                } else {
                    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                    std::fs::write(&target, &body).unwrap();
                    written.insert(path, body);
                }
            }
            Block::Console(body) => run_console(dir.path(), &body, &mut problems),
        }
    }
    // The JUnit report the walkthrough asked for exists and parses.
    let report = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    let xml = roxmltree::Document::parse(&report).unwrap();
    assert_eq!(
        xml.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        3
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
