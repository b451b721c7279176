//! Runs the SQL cases under `tests/cases/`. A case folder holds:
//!
//! - `job.sql`: the script, run with the case folder (copied to a temporary folder) as
//!   working directory and script folder;
//! - input files the script reads;
//! - `expected_stdout`: the multiset of lines the job prints (a `N> ` subtask prefix is
//!   removed, so parallelism 1 and 4 compare equal);
//! - `expected_table`: the final table of an updating result the job prints: the printed
//!   changelog (`+I`, `-U`, `+U`, `-D` lines) is applied, and the rows left must be these
//!   (written as `+I[...]` lines); a retraction of a row not in the table fails the case;
//! - `expected_output/<folder>`: the multiset of lines of all visible files the job
//!   writes into `<folder>` (and no in-progress file may be left there);
//! - `expected_error`: lines that must each appear in the error output of a job that
//!   fails (exit status not 0);
//! - `parallelism`: the parallelisms to run at, space separated (default `1 4`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Lines as a multiset (sorted), ignoring blank lines.
pub fn multiset<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = lines
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Removes Flink's `N> ` / `id:N> ` subtask prefix of print output.
pub fn strip_subtask(line: &str) -> &str {
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
pub fn diff(expected: &[String], actual: &[String]) -> Option<String> {
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

/// Applies a printed changelog: the rows left, as `+I[...]` lines (sorted).
pub fn final_table<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut table: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines.map(str::trim_end).filter(|l| !l.is_empty()) {
        let (kind, row) = line.split_at(line.len().min(2));
        match kind {
            "+I" | "+U" => *table.entry(row.to_string()).or_default() += 1,
            "-U" | "-D" => match table.get_mut(row) {
                Some(n) if *n > 0 => *n -= 1,
                _ => {
                    return Err(format!(
                        "the changelog retracts a row that is not in the table: {line}"
                    ))
                }
            },
            _ => return Err(format!("not a changelog line: {line}")),
        }
    }
    Ok(table
        .into_iter()
        .flat_map(|(row, n)| std::iter::repeat_n(format!("+I{row}"), n))
        .collect())
}

fn visible_lines(dir: &Path, hidden: &mut Vec<String>) -> Vec<String> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return lines;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.file_type().unwrap().is_dir() {
            lines.extend(visible_lines(&entry.path(), hidden));
        } else if name.starts_with('.') || name.starts_with('_') {
            hidden.push(name);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines
}

fn run_case(dir: &Path, parallelism: usize) -> Result<(), String> {
    let work = tempfile::tempdir().unwrap();
    copy_dir(dir, work.path());
    let output = weir()
        .current_dir(work.path())
        .args(["run", "--quiet", "job.sql", "--set"])
        .arg(format!("parallelism.default={parallelism}"))
        .output()
        .map_err(|e| format!("cannot start weir: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut problems = Vec::new();
    let expected_error = dir.join("expected_error");
    if expected_error.exists() {
        if output.status.success() {
            problems.push("the job succeeded but an error was expected".to_string());
        }
        for line in std::fs::read_to_string(&expected_error)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            if !stderr.contains(line.trim()) {
                problems.push(format!("the error output lacks: {}", line.trim()));
            }
        }
    } else if !output.status.success() {
        problems.push(format!("the job failed ({})", output.status));
    }
    let expected_stdout = dir.join("expected_stdout");
    if expected_stdout.exists() {
        let expected = multiset(std::fs::read_to_string(&expected_stdout).unwrap().lines());
        let actual = multiset(stdout.lines().map(strip_subtask));
        if let Some(d) = diff(&expected, &actual) {
            problems.push(format!("stdout differs:\n{d}"));
        }
    }
    let expected_table = dir.join("expected_table");
    if expected_table.exists() {
        let expected = multiset(std::fs::read_to_string(&expected_table).unwrap().lines());
        match final_table(stdout.lines().map(strip_subtask)) {
            Ok(actual) => {
                if let Some(d) = diff(&expected, &actual) {
                    problems.push(format!("final table differs:\n{d}"));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    let expected_output = dir.join("expected_output");
    if expected_output.exists() {
        for entry in std::fs::read_dir(&expected_output).unwrap() {
            let entry = entry.unwrap();
            let folder = entry.file_name().to_string_lossy().to_string();
            let expected = multiset(std::fs::read_to_string(entry.path()).unwrap().lines());
            let mut hidden = Vec::new();
            let lines = visible_lines(&work.path().join(&folder), &mut hidden);
            let actual = multiset(lines.iter().map(String::as_str));
            if let Some(d) = diff(&expected, &actual) {
                problems.push(format!("output folder '{folder}' differs:\n{d}"));
            }
            if !hidden.is_empty() {
                problems.push(format!("in-progress files left in '{folder}': {hidden:?}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n  --- stderr ---\n{stderr}",
            problems.join("\n")
        ))
    }
}

#[test]
fn sql_cases() {
    let root = repo_root().join("tests/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("job.sql").exists())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 30,
        "expected at least 30 cases, found {}",
        cases.len()
    );
    let filter = std::env::var("WEIR_CASE").ok();
    let jobs: Vec<(PathBuf, usize)> = cases
        .iter()
        .filter(|c| {
            filter
                .as_deref()
                .is_none_or(|f| c.to_string_lossy().contains(f))
        })
        .flat_map(|c| {
            let ps =
                std::fs::read_to_string(c.join("parallelism")).unwrap_or_else(|_| "1 4".into());
            ps.split_whitespace()
                .map(|p| (c.clone(), p.parse::<usize>().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    // Two at a time: the machine has two cores and each job runs its own threads.
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((case, p)) = jobs.get(i) else { break };
                let name = case.file_name().unwrap().to_string_lossy().to_string();
                match run_case(case, *p) {
                    Ok(()) => eprintln!("case {name} (parallelism {p}) ... ok"),
                    Err(e) => {
                        eprintln!("case {name} (parallelism {p}) ... FAILED");
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("case {name} at parallelism {p}:\n{e}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} case runs failed:\n\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n\n")
    );
}
