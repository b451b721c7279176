//! One run of one case at one parallelism: plan the job with its tables mocked (or
//! declared), play the case's script, and judge the outcome: each sink's output against
//! the case, or the job's error against the `error` lines the case expects.

use std::path::Path;
use std::time::{Duration, Instant};

use weir_connectors::mock::{Declared, MockRun, MockSinkOutput};
use weir_types::ChangelogKind;

use super::case::{Case, Check};
use super::diff::{self, Problem};
use super::junit::{CaseResult, Outcome};
use super::{script, TestOptions};

/// How a run ended.
pub enum Run {
    /// The case ran (or could not): its result, the run and the folder its declared
    /// sinks wrote to (both for `--update`; the folder is removed when dropped).
    Done(CaseResult, MockRun, Option<tempfile::TempDir>),
    /// The script is invalid and the case expected no error: the message, as `weir
    /// validate` prints it.
    InvalidScript(String),
}

/// Runs `case` once, at `parallelism` (`None`: the job's own).
pub fn run_case(
    runtime: &tokio::runtime::Runtime,
    options: &TestOptions,
    script_text: &str,
    case: &Case,
    parallelism: Option<usize>,
    warned: &mut bool,
) -> Run {
    let started = Instant::now();
    let name = match parallelism {
        Some(p) => format!("{} (parallelism {p})", case.name),
        None => case.name.clone(),
    };
    let result = |outcome, run, dir| {
        Run::Done(
            CaseResult {
                name: name.clone(),
                file: case.path.display().to_string(),
                time: started.elapsed(),
                outcome,
            },
            run,
            dir,
        )
    };
    // Declared sinks write here; the folder goes when the run is over.
    let output_dir = match tempfile::Builder::new().prefix("weir-test-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            let message = format!("cannot create a temporary folder: {e}");
            return result(Outcome::Error(message), MockRun::new(), None);
        }
    };
    let run = MockRun::with_declared(Declared {
        sources: case
            .declared_sources
            .iter()
            .map(|(t, _)| t.clone())
            .collect(),
        sinks: case
            .sinks
            .iter()
            .filter(|s| s.declared)
            .map(|s| s.table.clone())
            .collect(),
        output_dir: output_dir.path().to_path_buf(),
    });
    let mut overrides = options.overrides.clone();
    if let Some(p) = parallelism {
        overrides.push(("parallelism.default".into(), p.to_string()));
    }
    let base_dir = crate::script_dir(&options.job);
    let planned =
        runtime.block_on(run.scope(weir_sql::plan_script(script_text, &base_dir, &overrides)));
    let mut job = match planned {
        Ok(job) => job,
        Err(error) => {
            let message = format!("{}: {error}", options.job.display());
            return match &case.error {
                Some(lines) => result(expected_error(lines, &message), run, Some(output_dir)),
                None => Run::InvalidScript(message),
            };
        }
    };
    if !std::mem::replace(warned, true) {
        for warning in job.warnings.iter().chain(&run.warnings()) {
            eprintln!("warning: {warning}");
        }
    }
    if let Err(message) = check_declared_tables(case, &run) {
        return result(Outcome::Error(message), run, Some(output_dir));
    }
    // Deterministic event time: a watermark after every row that raises it.
    job.config.auto_watermark_interval = Duration::ZERO;
    // Mock sources do not rewind and a case runs once: no checkpoints, whatever the
    // script sets.
    job.config.checkpoints = None;
    let outcome = match (prepare_and_run(runtime, &run, case, &job, options.timeout), &case.error) {
        (Ok(sinks), None) => check(case, &sinks, &run),
        (Err(message), None) => Outcome::Error(message),
        (Err(message), Some(lines)) => expected_error(lines, &message),
        (Ok(_), Some(lines)) => Outcome::Failed {
            summary: "the job succeeded but was expected to fail".into(),
            details: format!(
                "  the job succeeded, but the case expects it to fail with an error containing:\n{}",
                lines
                    .iter()
                    .map(|l| format!("    {l}\n"))
                    .collect::<String>()
            ),
        },
    };
    result(outcome, run, Some(output_dir))
}

/// Passed when `message` contains every line of `lines`, else what it lacks.
fn expected_error(lines: &[String], message: &str) -> Outcome {
    let lacking: Vec<&String> = lines
        .iter()
        .filter(|l| !message.contains(l.trim()))
        .collect();
    if lacking.is_empty() {
        return Outcome::Passed;
    }
    let mut details = String::from("  the job failed, but not with the expected error\n");
    for line in &lacking {
        details.push_str(&format!("    lacking:     {line}\n"));
    }
    for line in message.lines() {
        details.push_str(&format!("    error:       {line}\n"));
    }
    Outcome::Failed {
        summary: "the error differs".into(),
        details,
    }
}

/// The declared tables the case names must be tables the job reads or writes.
fn check_declared_tables(case: &Case, run: &MockRun) -> Result<(), String> {
    let read = run.declared_sources_read();
    for (table, line) in &case.declared_sources {
        if !read.contains(table) {
            return Err(format!(
                "{}:{line}: the job does not read table '{table}'",
                case.path.display()
            ));
        }
    }
    let written = run.declared_sinks_written();
    for sink in case.sinks.iter().filter(|s| s.declared) {
        if !written.contains(&sink.table) {
            return Err(format!(
                "{}:{}: the job does not write table '{}'",
                case.path.display(),
                sink.line,
                sink.table
            ));
        }
    }
    Ok(())
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

/// What a sink of the case produced: a mocked sink's rows, or a declared sink's lines
/// (and the in-progress files it left).
fn actual_of(
    table: &str,
    declared: bool,
    sinks: &[MockSinkOutput],
    run: &MockRun,
) -> Result<(Vec<String>, Vec<String>), String> {
    if !declared {
        let rows = sinks
            .iter()
            .find(|s| s.name == table)
            .map(|s| s.rows.clone())
            .unwrap_or_default();
        return Ok((rows, Vec::new()));
    }
    match run.declared_output(table) {
        Some(Ok(output)) => Ok((output.lines, output.in_progress)),
        Some(Err(e)) => Err(format!("cannot read what sink '{table}' wrote: {e}")),
        None => Ok((Vec::new(), Vec::new())),
    }
}

/// Compares every sink the case names with what it received.
fn check(case: &Case, sinks: &[MockSinkOutput], run: &MockRun) -> Outcome {
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
        let (actual, in_progress) =
            match actual_of(&expectation.table, expectation.declared, sinks, run) {
                Ok(actual) => actual,
                Err(message) => return Outcome::Error(message),
            };
        let mut problems = diff::compare(&expectation.check, expectation.ordered, &actual);
        problems.extend(in_progress.into_iter().map(Problem::InProgress));
        if !problems.is_empty() {
            failing.push(format!("'{}'", expectation.table));
            details.push_str(&diff::describe(
                &expectation.table,
                &expectation.check,
                &actual,
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
/// in the case's form; every mocked sink of the job when the case names none. Rows are
/// sorted (so that files do not change with the arrival order of parallel subtasks)
/// unless the sink is compared in order.
pub fn new_expectations(case: &Case, run: &MockRun) -> Vec<(String, Check)> {
    let sinks = run.sinks();
    let ordered = |table: &str| case.sinks.iter().any(|e| e.table == table && e.ordered);
    let sorted = |mut rows: Vec<String>, table: &str| {
        if !ordered(table) {
            rows.sort();
        }
        rows
    };
    let mocked_check = |sink: &MockSinkOutput, final_form: bool| {
        if final_form {
            Check::Final(sorted(diff::final_table(&sink.rows).0, &sink.name))
        } else {
            Check::Changelog(sorted(sink.rows.clone(), &sink.name))
        }
    };
    if case.sinks.is_empty() {
        return sinks
            .iter()
            .map(|s| {
                let updating = s.changelog == ChangelogKind::Updating;
                (s.name.clone(), mocked_check(s, updating))
            })
            .collect();
    }
    case.sinks
        .iter()
        .filter_map(|e| {
            if e.declared {
                let (lines, _) = actual_of(&e.table, true, &sinks, run).ok()?;
                return Some((e.table.clone(), Check::Output(sorted(lines, &e.table))));
            }
            let sink = sinks.iter().find(|s| s.name == e.table)?;
            let final_form = matches!(e.check, Check::Final(_));
            Some((e.table.clone(), mocked_check(sink, final_form)))
        })
        .collect()
}

/// A result for a case file that cannot be read.
pub fn error_result(path: &Path, started: Instant, message: String) -> CaseResult {
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
