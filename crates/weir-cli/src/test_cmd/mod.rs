//! `weir test JOB.sql [CASES...]`: runs a job against test cases with every source and
//! sink mocked, in-process, and reports pass or fail per case with a readable diff.
//!
//! Per case: the case file is read ([`case`]); the job is planned inside a
//! [`MockRun`]'s scope so that every connector is a mock; the case's rows, watermarks
//! and pauses become the mock script ([`script`]); the job runs while the script is
//! played step by step (each step once the job has processed the previous one); then
//! each sink's rows are compared with the case ([`diff`]). `--junit` writes a JUnit
//! report ([`junit`]); `--update` rewrites failing cases' expectations ([`update`]).
//!
//! Runs are deterministic: `pipeline.auto-watermark-interval` is forced to 0 (a
//! watermark follows every row that raises it), so results do not depend on timing.

pub mod case;
mod diff;
mod junit;
mod script;
mod update;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use weir_connectors::mock::{MockRun, MockSinkOutput};
use weir_types::ChangelogKind;

use case::{Case, Check};
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
        let case = match case::read_case(path) {
            Ok(case) => case,
            Err(error) => {
                let result = error_result(path, started, error.to_string());
                print_result(&result);
                results.push(result);
                continue;
            }
        };
        let run = MockRun::new();
        let base_dir = crate::script_dir(&options.job);
        let planned = runtime.block_on(run.scope(weir_sql::plan_script(
            &script,
            &base_dir,
            &options.overrides,
        )));
        let mut job = match planned {
            Ok(job) => job,
            Err(error) => {
                eprintln!("{}: {error}", options.job.display());
                return Ok(ExitCode::from(2));
            }
        };
        if !std::mem::replace(&mut warned, true) {
            for warning in &job.warnings {
                eprintln!("warning: {warning}");
            }
        }
        // Deterministic event time: a watermark after every row that raises it.
        job.config.auto_watermark_interval = Duration::ZERO;
        let outcome = match prepare_and_run(runtime, &run, &case, &job, options.timeout) {
            Ok(sinks) => check(&case, &sinks),
            Err(message) => Outcome::Error(message),
        };
        let result = CaseResult {
            name: case.name.clone(),
            file: path.display().to_string(),
            time: started.elapsed(),
            outcome,
        };
        print_result(&result);
        if options.update && matches!(result.outcome, Outcome::Failed { .. }) {
            let expectations = new_expectations(&case, &run.sinks());
            let text = update::updated_text(&case.text, &expectations)
                .map_err(|e| anyhow!("cannot update '{}': {e}", path.display()))?;
            std::fs::write(path, text)
                .with_context(|| format!("cannot write '{}'", path.display()))?;
            println!("  updated {}", path.display());
            updated += 1;
        }
        results.push(result);
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

/// Loads the case's script into the mocks, runs the job and returns what the sinks got.
fn prepare_and_run(
    runtime: &tokio::runtime::Runtime,
    run: &MockRun,
    case: &Case,
    job: &weir_sql::PlannedJob,
    timeout: Duration,
) -> Result<Vec<MockSinkOutput>, String> {
    let steps =
        script::mock_steps(case, &run.sources(), &run.sinks()).map_err(|e| e.to_string())?;
    run.load(steps).map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let handle = weir_runtime::job::start(&job.graph, &job.config)
            .map_err(|e| format!("the job cannot start: {e}"))?;
        let metrics = handle.metrics();
        let driver = {
            let run = run.clone();
            tokio::spawn(async move { run.drive(&metrics).await })
        };
        let ended = tokio::time::timeout(timeout, handle.wait()).await;
        driver.abort();
        match ended {
            Err(_) => Err(format!(
                "the job did not finish within {} s (raise it with --timeout)",
                timeout.as_secs()
            )),
            Ok(Err(error)) => Err(format!("the job failed: {error}")),
            Ok(Ok(_)) => Ok(run.sinks()),
        }
    })
}

/// Compares every sink the case names with what it received.
fn check(case: &Case, sinks: &[MockSinkOutput]) -> Outcome {
    if case.sinks.is_empty() {
        let mut details = String::from(
            "  the case names no sink: add [sinks.NAME] with expected = [...], or run with --update to record this output\n",
        );
        for sink in sinks {
            details.push_str(&format!(
                "  sink '{}' received {} rows\n",
                sink.name,
                sink.rows.len()
            ));
            for row in &sink.rows {
                details.push_str(&format!("    received:    {row}\n"));
            }
        }
        return Outcome::Failed {
            summary: "the case checks no sink".into(),
            details,
        };
    }
    let mut failing = Vec::new();
    let mut details = String::new();
    for expectation in &case.sinks {
        let actual = sinks
            .iter()
            .find(|s| s.name == expectation.table)
            .map(|s| s.rows.as_slice())
            .unwrap_or_default();
        let problems = diff::compare(&expectation.check, expectation.ordered, actual);
        if !problems.is_empty() {
            failing.push(format!("'{}'", expectation.table));
            details.push_str(&diff::describe(
                &expectation.table,
                &expectation.check,
                actual,
                &problems,
            ));
        }
    }
    if failing.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed {
            summary: format!(
                "sink{} {} differ{}",
                if failing.len() == 1 { "" } else { "s" },
                failing.join(", "),
                if failing.len() == 1 { "s" } else { "" }
            ),
            details,
        }
    }
}

/// The expectations `--update` writes: each sink of the case with its actual output,
/// in the case's form; every sink of the job when the case names none. Rows are sorted
/// (so that files do not change with the arrival order of parallel subtasks) unless the
/// sink is compared in order.
fn new_expectations(case: &Case, sinks: &[MockSinkOutput]) -> Vec<(String, Check)> {
    let actual_check = |sink: &MockSinkOutput, final_form: bool| {
        let ordered = case.sinks.iter().any(|e| e.table == sink.name && e.ordered);
        let mut rows = if final_form {
            diff::final_table(&sink.rows).0
        } else {
            sink.rows.clone()
        };
        if !ordered {
            rows.sort();
        }
        if final_form {
            Check::Final(rows)
        } else {
            Check::Changelog(rows)
        }
    };
    if case.sinks.is_empty() {
        return sinks
            .iter()
            .map(|s| {
                let updating = s.changelog == ChangelogKind::Updating;
                (s.name.clone(), actual_check(s, updating))
            })
            .collect();
    }
    case.sinks
        .iter()
        .filter_map(|e| {
            let sink = sinks.iter().find(|s| s.name == e.table)?;
            let final_form = matches!(e.check, Check::Final(_));
            Some((e.table.clone(), actual_check(sink, final_form)))
        })
        .collect()
}

fn error_result(path: &Path, started: Instant, message: String) -> CaseResult {
    CaseResult {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default(),
        file: path.display().to_string(),
        time: started.elapsed(),
        outcome: Outcome::Error(message),
    }
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
