//! Runs the SQL cases under `tests/cases/` with `weir test`, as a user would. A case
//! folder holds:
//!
//! - `job.sql`: the script; relative paths in its options resolve against the folder;
//! - the input files the script reads;
//! - `job.tests/*.toml`: its `weir test` cases (docs/testing.md), usually one named after
//!   the folder. The suite's cases read every source through its declared connector
//!   (`connector = "declared"`), check print sinks' rows (`expected`, or the `final`
//!   table of an updating result), declared filesystem, print and blackhole sinks' written
//!   lines (`output`), or the error of a job that must fail (`error`), and run at the
//!   parallelisms they list (`parallelism = [1, 4]`).
//!
//! `WEIR_CASE=text` runs only the folders whose path contains `text`. On a failure the
//! report shows `weir test`'s own output: the diff per sink, or the error.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `weir test job.sql` in `dir`; `Err` holds its output when a case failed.
fn run_case(dir: &Path) -> Result<String, String> {
    let output = weir()
        .current_dir(dir)
        .args(["test", "job.sql"])
        .output()
        .map_err(|e| format!("cannot start weir: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = stdout.lines().last().unwrap_or_default().to_string();
    if output.status.success() && summary.contains(" passed, 0 failed") {
        Ok(summary)
    } else {
        Err(format!(
            "weir test job.sql exited with {}:\n{stdout}{}",
            output.status,
            if stderr.is_empty() {
                String::new()
            } else {
                format!("--- stderr ---\n{stderr}")
            }
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
        cases.len() >= 94,
        "expected at least 94 cases, found {}",
        cases.len()
    );
    for case in &cases {
        assert!(
            case.join("job.tests").is_dir(),
            "{} has no job.tests/ folder of weir test cases",
            case.display()
        );
    }
    let filter = std::env::var("WEIR_CASE").ok();
    let jobs: Vec<&PathBuf> = cases
        .iter()
        .filter(|c| {
            filter
                .as_deref()
                .is_none_or(|f| c.to_string_lossy().contains(f))
        })
        .collect();
    // Two at a time: the machine has two cores and each job runs its own threads.
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(case) = jobs.get(i) else { break };
                let name = case.file_name().unwrap().to_string_lossy().to_string();
                match run_case(case) {
                    Ok(summary) => eprintln!("case {name} ... ok ({summary})"),
                    Err(e) => {
                        eprintln!("case {name} ... FAILED");
                        failures.lock().unwrap().push(format!("case {name}:\n{e}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n\n")
    );
}
