//! `weir test JOB.sql [CASES...]`: runs a job against test cases with every source and
//! sink mocked, in-process, and reports pass or fail per case with a readable diff.
//!
//! Per case: the case file is read ([`case`]); per parallelism it lists, the job is
//! planned inside a [`MockRun`](weir_connectors::mock::MockRun)'s scope so that every
//! connector is a mock (or the table's declared connector where the case says so); the
//! case's rows, watermarks and pauses become the mock script ([`script`]); the job runs
//! while the script is played step by step (each step once the job has processed the
//! previous one); then each sink's output is compared with the case ([`diff`]), or the
//! job's error with the error the case expects ([`execute`]). `--junit` writes a JUnit
//! report ([`junit`]); `--update` rewrites failing cases' expectations ([`update`]).
//!
//! Runs are deterministic: `pipeline.auto-watermark-interval` is forced to 0 (a
//! watermark follows every row that raises it), so results do not depend on timing.

pub mod case;
mod diff;
mod execute;
mod junit;
mod script;
mod update;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use junit::{CaseResult, Outcome};

/// What `weir test` was asked to do.
pub struct TestOptions {
    /// The job's script.
    pub job: PathBuf,
    /// Case files or folders of them; empty: the folder `<job>.tests/` beside the job.
    pub cases: Vec<PathBuf>,
    /// Where to write a JUnit XML report.
    pub junit: Option<PathBuf>,
    /// Rewrite the expectations of failing cases with the actual output.
    pub update: bool,
    /// `--set KEY=VALUE` options.
    pub overrides: Vec<(String, String)>,
    /// Longest a case may run.
    pub timeout: Duration,
}

/// Runs the cases; exit status 0 when all pass, 1 when one fails or cannot run, 2 when
/// the job's script is invalid.
pub fn run(runtime: &tokio::runtime::Runtime, options: &TestOptions) -> Result<ExitCode> {
    let script = std::fs::read_to_string(&options.job)
        .with_context(|| format!("cannot read the script '{}'", options.job.display()))?;
    let cases = discover(&options.job, &options.cases)?;
    let mut results = Vec::new();
    let mut updated = 0;
    let mut warned = false;
    for path in &cases {
        let started = Instant::now();
        let mut case = match case::read_case(path) {
            Ok(case) => case,
            Err(error) => {
                let result = execute::error_result(path, started, error.to_string());
                print_result(&result);
                results.push(result);
                continue;
            }
        };
        let parallelisms: Vec<Option<usize>> = if case.parallelism.is_empty() {
            vec![None]
        } else {
            case.parallelism.iter().copied().map(Some).collect()
        };
        for parallelism in parallelisms {
            let (result, run, _output_dir) =
                match execute::run_case(runtime, options, &script, &case, parallelism, &mut warned)
                {
                    execute::Run::Done(result, run, dir) => (result, run, dir),
                    execute::Run::InvalidScript(message) => {
                        eprintln!("{message}");
                        return Ok(ExitCode::from(2));
                    }
                };
            print_result(&result);
            let failed = matches!(result.outcome, Outcome::Failed { .. });
            if options.update && failed && case.error.is_none() {
                let expectations = execute::new_expectations(&case, &run);
                let text = update::updated_text(&case.text, &expectations)
                    .map_err(|e| anyhow!("cannot update '{}': {e}", path.display()))?;
                std::fs::write(path, text)
                    .with_context(|| format!("cannot write '{}'", path.display()))?;
                println!("  updated {}", path.display());
                updated += 1;
                // The next parallelism is compared with what this one recorded.
                case = case::read_case(path).map_err(|e| anyhow!("{e}"))?;
            }
            results.push(result);
        }
    }
    let failed = count(&results, |o| matches!(o, Outcome::Failed { .. }));
    let errors = count(&results, |o| matches!(o, Outcome::Error(_)));
    let passed = results.len() - failed - errors;
    println!(
        "{} {}: {passed} passed, {failed} failed{}{}",
        results.len(),
        if results.len() == 1 { "case" } else { "cases" },
        if errors > 0 {
            format!(", {errors} could not run")
        } else {
            String::new()
        },
        if updated > 0 {
            format!(" ({updated} updated)")
        } else {
            String::new()
        }
    );
    if let Some(file) = &options.junit {
        let suite = options.job.display().to_string();
        std::fs::write(file, junit::report(&suite, &results))
            .with_context(|| format!("cannot write the JUnit report '{}'", file.display()))?;
    }
    let all_good = errors == 0 && failed == updated;
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The case files: those given (folders give their `*.toml`), else `<job>.tests/*.toml`.
fn discover(job: &Path, given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let default_dir = job.with_extension("tests");
    let roots: Vec<PathBuf> = if given.is_empty() {
        if !default_dir.is_dir() {
            return Err(anyhow!(
                "no test cases: put case files (NAME.toml) in '{}' or name them after the script (see docs/testing.md)",
                default_dir.display()
            ));
        }
        vec![default_dir]
    } else {
        given.to_vec()
    };
    let mut cases = Vec::new();
    for root in roots {
        if root.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
                .with_context(|| format!("cannot list '{}'", root.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(anyhow!("no case files (*.toml) in '{}'", root.display()));
            }
            cases.extend(found);
        } else if root.is_file() {
            cases.push(root);
        } else {
            return Err(anyhow!("no such case file or folder: '{}'", root.display()));
        }
    }
    Ok(cases)
}

fn print_result(result: &CaseResult) {
    match &result.outcome {
        Outcome::Passed => println!("PASS  {}", result.name),
        Outcome::Failed { details, .. } => {
            println!("FAIL  {}  ({})", result.name, result.file);
            print!("{details}");
        }
        Outcome::Error(message) => {
            println!("ERROR {}  ({})", result.name, result.file);
            for line in message.lines() {
                println!("  {line}");
            }
        }
    }
}

fn count(results: &[CaseResult], which: impl Fn(&Outcome) -> bool) -> usize {
    results.iter().filter(|r| which(&r.outcome)).count()
}
