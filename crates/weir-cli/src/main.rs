//! The `weir` command: runs, explains, validates and tests FlinkSQL jobs.
//!
//! This file parses the command line and runs `run`, `explain` and `validate`; `test`
//! lives in [`test_cmd`] and `sample` in [`sample`].

mod progress;
mod resume;
mod sample;
mod savepoint_cmd;
mod test_cmd;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use weir_runtime::JobOutcome;
use weir_sql::{plan_script, PlannedJob};

/// Weir runs FlinkSQL jobs: streaming SQL over Kafka, files and generators, in one process.
#[derive(Parser)]
#[command(name = "weir", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  weir run examples/nexmark_q1.sql                 run a job until its sources end (Ctrl-C stops it gracefully)
  weir run job.sql --set parallelism.default=4     override a SET option of the script
  weir explain job.sql                             show the dataflow graph without running it
  weir validate job.sql                            check a script (SQL, options, sinks) without running it
  weir test job.sql                                run the job's test cases (job.tests/*.toml) with mock data
  weir sample bids --from job.sql --limit 20       read 20 rows of table 'bids' as mock input for a test

Relative paths in table options ('path' = 'data/orders.json') are resolved against the
folder of the script. See docs/sql-reference.md for the supported SQL.";

const RUN_EXAMPLES: &str = "Examples:
  weir run job.sql                                        run; resume from the latest checkpoint if there is one
  weir run job.sql --fresh                                start over, ignoring checkpoints
  weir run job.sql --savepoint-dir sp/                    Ctrl-C stops with a savepoint in sp/
  weir savepoint job.sql --savepoint-dir sp/              write a savepoint of the running job into sp/
  weir run job.sql --from-savepoint sp/savepoint-7-1a2b3c4d --set parallelism.default=4
                                                          continue from a savepoint at another parallelism";

const SAVEPOINT_EXAMPLES: &str = "Examples:
  weir savepoint job.sql --savepoint-dir sp/     savepoint of the running `weir run job.sql` into sp/
  weir run job.sql --from-savepoint sp/savepoint-7-1a2b3c4d   later: continue from it

The running job must take checkpoints ('execution.checkpointing.interval'). `kill -USR1
<pid>` does the same without waiting, into the job's own savepoint folder.";

const TEST_EXAMPLES: &str = "Examples:
  weir test orders.sql                          run every case in orders.tests/
  weir test orders.sql orders.tests/late.toml   run one case
  weir test orders.sql --junit report.xml       also write a JUnit report for CI
  weir test orders.sql --update                 accept the actual output of failing cases

A case file (orders.tests/two_orders.toml):

  [sources.orders]
  rows = [
    { id = 1, amount = 25.0, ts = \"2024-01-01 10:00:01\" },
    { id = 2, amount = 5.0, ts = \"2024-01-01 10:00:02\" },
  ]

  [sinks.big_orders]
  expected = [\"+I[1, 2500]\"]";

const SAMPLE_EXAMPLES: &str = "Examples:
  weir sample orders --from job.sql --limit 20                           print 20 rows as JSON lines
  weir sample orders --from job.sql --limit 20 -o job.tests/orders.jsonl  then: file = \"orders.jsonl\" in a case";

#[derive(Subcommand)]
enum Command {
    /// Run a FlinkSQL script: SET, CREATE TABLE, CREATE VIEW, INSERT INTO, EXECUTE STATEMENT SET.
    ///
    /// All INSERTs of the script run as one job. The job ends when every bounded source is
    /// exhausted and the sinks have committed; Ctrl-C or SIGTERM stops it gracefully (sources
    /// stop, sinks flush and commit). A progress line is shown when stderr is a terminal.
    ///
    /// With `SET 'execution.checkpointing.interval' = '10 s'` the job takes exactly-once
    /// checkpoints: a failure restarts it from the latest one, and running the same script
    /// again after the process died resumes from it (see docs/checkpoints.md). SIGUSR1
    /// writes a savepoint while the job runs.
    #[command(after_help = RUN_EXAMPLES)]
    Run {
        /// The script to run.
        file: PathBuf,
        /// Set an option before the script runs, as `SET 'key' = 'value'` would
        /// (e.g. `--set parallelism.default=4`). Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// No progress line and no summary line at the end (the progress line is shown
        /// only when stderr is a terminal; the summary, e.g. "job finished in 2.1s: 10
        /// rows in, 4 rows out", also in logs).
        #[arg(long, short)]
        quiet: bool,
        /// Start from the beginning, ignoring the job's checkpoints.
        #[arg(long)]
        fresh: bool,
        /// Start from this checkpoint folder (a `chk-<id>` folder).
        #[arg(long, value_name = "PATH")]
        from_checkpoint: Option<PathBuf>,
        /// Start from this savepoint folder (a `savepoint-<id>-<hex>` folder), at any
        /// parallelism.
        #[arg(long, value_name = "PATH")]
        from_savepoint: Option<PathBuf>,
        /// Restore even if the checkpoint holds state of operators the job no longer has
        /// (that state is dropped).
        #[arg(long)]
        allow_non_restored_state: bool,
        /// Write a savepoint into DIR when the job is stopped (Ctrl-C, SIGTERM), and
        /// SIGUSR1 savepoints there too.
        #[arg(long, value_name = "DIR")]
        savepoint_dir: Option<PathBuf>,
    },
    /// Check a script without running it: parse, plan, check every table's connector and
    /// format options and that each sink accepts its stream. Exit status 0 when valid, 2
    /// on a SQL error (printed with its line and column): for CI.
    Validate {
        /// The script to check.
        file: PathBuf,
        /// Set an option before the script is planned. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Test a job with mock data: run it against test cases, in-process, with every source
    /// and sink replaced by an in-memory mock; report pass or fail per case with a diff.
    ///
    /// A case is a TOML file giving rows for source tables (inline, JSON lines, CSV or a
    /// file), the rows each sink must receive (`expected`, in Flink's print form, or the
    /// `final` table for updating results) and optionally `steps`: which source's rows
    /// arrive when, watermarks and pauses, to script out-of-order and late data. Nothing
    /// reaches a real connector unless a case declares it (`connector = "declared"`: the
    /// table's own connector, a sink's written lines checked with `output`). A case can
    /// also expect the job to fail (`error = [...]`) and run at several parallelisms
    /// (`parallelism = [1, 4]`). Exit status 0 when every case passes, 1 when one fails
    /// or cannot run, 2 when the script is invalid. See docs/testing.md.
    #[command(after_help = TEST_EXAMPLES)]
    Test {
        /// The job's script.
        file: PathBuf,
        /// Case files (NAME.toml) or folders of them [default: the folder JOB.tests/
        /// beside the script, e.g. orders.tests/ for orders.sql].
        cases: Vec<PathBuf>,
        /// Also write the results as a JUnit XML report, for CI systems.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Rewrite the expectations of failing cases with the actual output (after
        /// showing the diff); comments and the rest of the case file are kept.
        #[arg(long)]
        update: bool,
        /// Set an option before the script is planned. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Fail a case that runs longer than this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// Read rows of a table from its real source (a file, a generator, a topic) and write
    /// them as JSON lines: mock input for a test case, taken from real data.
    #[command(after_help = SAMPLE_EXAMPLES)]
    Sample {
        /// The table, as declared in the script (the job must read it).
        table: String,
        /// The script that declares the table.
        #[arg(long, value_name = "JOB.sql")]
        from: PathBuf,
        /// How many rows to read.
        #[arg(long, short = 'n', default_value_t = 10)]
        limit: usize,
        /// Write the rows to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Set an option before the script is planned. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Stop waiting for rows after this many seconds (for unbounded sources).
        #[arg(long, value_name = "SECONDS", default_value_t = 10)]
        timeout: u64,
    },
    /// Write a savepoint of a running job: asks the `weir run JOB.sql` running on this
    /// machine for one and waits until it is complete, then prints its folder. The job
    /// goes on running. Resume from it with `weir run JOB.sql --from-savepoint FOLDER`
    /// (at any parallelism, on either state backend).
    #[command(after_help = SAVEPOINT_EXAMPLES)]
    Savepoint {
        /// The running job's script.
        file: PathBuf,
        /// Where to write the savepoint [default: the job's --savepoint-dir or
        /// 'execution.checkpointing.savepoint-dir'].
        #[arg(long, value_name = "DIR")]
        savepoint_dir: Option<PathBuf>,
        /// Give up waiting after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
    },
    /// Print the dataflow graph of a script: operators, ids, parallelism, edges, changelog kinds.
    Explain {
        /// The script to explain.
        file: PathBuf,
        /// Set an option before the script is planned. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WEIR_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-worker")
        .build()
        .context("cannot start the runtime")?;
    match cli.command {
        Command::Explain { file, set } => {
            let Some(job) = runtime.block_on(plan(&file, &set))? else {
                return Ok(ExitCode::from(2));
            };
            print!("{}", weir_sql::explain(&job.graph));
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { file, set } => {
            let Some(job) = runtime.block_on(plan(&file, &set))? else {
                return Ok(ExitCode::from(2));
            };
            let sinks = job.graph.nodes.iter().filter(|n| n.is_sink).count();
            println!(
                "{}: valid ({} operators, {sinks} {})",
                file.display(),
                job.graph.nodes.len(),
                if sinks == 1 { "sink" } else { "sinks" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Test {
            file,
            cases,
            junit,
            update,
            set,
            timeout,
        } => {
            let options = test_cmd::TestOptions {
                job: file,
                cases,
                junit,
                update,
                overrides: parse_overrides(&set)?,
                timeout: std::time::Duration::from_secs(timeout),
            };
            test_cmd::run(&runtime, &options)
        }
        Command::Sample {
            table,
            from,
            limit,
            output,
            set,
            timeout,
        } => {
            let options = sample::SampleOptions {
                table,
                job: from,
                limit,
                output,
                overrides: parse_overrides(&set)?,
                timeout: std::time::Duration::from_secs(timeout),
            };
            sample::run(&runtime, &options)
        }
        Command::Run {
            file,
            set,
            quiet,
            fresh,
            from_checkpoint,
            from_savepoint,
            allow_non_restored_state,
            savepoint_dir,
        } => {
            let Some(mut job) = runtime.block_on(plan(&file, &set))? else {
                return Ok(ExitCode::from(2));
            };
            let resume = resume::ResumeOptions {
                fresh,
                from_checkpoint,
                from_savepoint,
                allow_non_restored_state,
                savepoint_dir,
            };
            for note in runtime.block_on(resume::prepare(&mut job.config, &file, &resume))? {
                eprintln!("{note}");
            }
            runtime.block_on(execute(job, &file, quiet))
        }
        Command::Savepoint {
            file,
            savepoint_dir,
            timeout,
        } => {
            let folder = savepoint_cmd::trigger(
                &file,
                savepoint_dir.as_deref(),
                std::time::Duration::from_secs(timeout),
            )?;
            println!("{folder}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads and plans a script; prints SQL errors and returns `None` on one.
async fn plan(file: &Path, set: &[String]) -> Result<Option<PlannedJob>> {
    let script = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the script '{}'", file.display()))?;
    let overrides = parse_overrides(set)?;
    let base_dir = script_dir(file);
    match plan_script(&script, &base_dir, &overrides).await {
        Ok(job) => {
            for warning in &job.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(Some(job))
        }
        Err(error) => {
            eprintln!("{}: {error}", file.display());
            Ok(None)
        }
    }
}

/// `--set KEY=VALUE` arguments as pairs.
fn parse_overrides(set: &[String]) -> Result<Vec<(String, String)>> {
    set.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow!("--set takes KEY=VALUE, got '{kv}'"))
        })
        .collect()
}

/// The folder relative paths in a script's options are resolved against: its own.
pub(crate) fn script_dir(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

async fn execute(job: PlannedJob, file: &Path, quiet: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let mut handle = weir_runtime::job::start(&job.graph, &job.config)?;
    let metrics = handle.metrics();
    if let Some(mut notices) = handle.notices() {
        tokio::spawn(async move {
            while let Some(notice) = notices.recv().await {
                eprintln!("{notice}");
            }
        });
    }
    // SIGUSR1 (from `weir savepoint`, or by hand) writes a savepoint.
    #[cfg(unix)]
    let _registration = if job.config.checkpoints.is_some() {
        let control = savepoint_cmd::ControlDir::of(file);
        let registration = control.register()?;
        let savepoint = handle.savepoint_trigger();
        if let Ok(mut usr1) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        {
            tokio::spawn(async move {
                while usr1.recv().await.is_some() {
                    let request = control.take_request();
                    let dir = request.as_ref().and_then(|r| r.dir.clone());
                    // The job reports where the savepoint went; failures are told here.
                    let result = match savepoint(dir).await {
                        Ok(Ok(folder)) => Ok(folder),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err("the job ended before the savepoint was taken".into()),
                    };
                    if let Err(error) = &result {
                        eprintln!("savepoint failed: {error}");
                    }
                    if let Some(request) = request {
                        control.reply(&request.id, &result);
                    }
                }
            });
        }
        Some(registration)
    } else {
        None
    };
    // The progress line redraws itself: only on a terminal. The summary line at the end
    // goes to logs too (unless --quiet).
    let progress = (!quiet && std::io::stderr().is_terminal())
        .then(|| progress::Progress::start(metrics.clone()));
    let stop = handle.stopper();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        eprintln!("\nstopping: sources stop, sinks flush and commit (press Ctrl-C again to abort)");
        stop();
        wait_for_stop_signal().await;
        eprintln!("aborted");
        std::process::exit(130);
    });
    let outcome = handle.wait().await;
    if let Some(p) = progress {
        p.finish();
    }
    match outcome {
        Ok(outcome) => {
            if !quiet {
                let verb = match outcome {
                    JobOutcome::Finished => "finished",
                    JobOutcome::Stopped => "stopped",
                };
                eprintln!(
                    "job {verb} in {:.1?}: {} rows in, {} rows out{}",
                    started.elapsed(),
                    weir_runtime::JobMetrics::get(&metrics.records_in),
                    weir_runtime::JobMetrics::get(&metrics.records_out),
                    match weir_runtime::JobMetrics::get(&metrics.records_skipped) {
                        0 => String::new(),
                        n => format!(", {n} malformed records skipped"),
                    } + &match weir_runtime::JobMetrics::get(&metrics.records_dead_lettered) {
                        0 => String::new(),
                        n => format!(", {n} malformed records dead-lettered"),
                    } + &match weir_runtime::JobMetrics::get(&metrics.late_records_dropped) {
                        0 => String::new(),
                        n => format!(", {n} late rows dropped"),
                    } + &lookup_summary(&metrics)
                        + &checkpoint_summary(&metrics)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: the job failed: {error}");
            Ok(ExitCode::from(1))
        }
    }
}

/// ", lookups: 40 cache hits, 60 misses in 3 requests (avg 1.2 ms, max 3.4 ms, 1 retry),
/// 52 cold rows fetched" for the summary line of a job with lookup joins or a cold table.
fn lookup_summary(metrics: &weir_runtime::JobMetrics) -> String {
    use weir_runtime::JobMetrics;
    let requests = JobMetrics::get(&metrics.lookup_requests);
    let hits = JobMetrics::get(&metrics.lookup_cache_hits);
    let cold = match JobMetrics::get(&metrics.cold_rows_fetched) {
        0 => String::new(),
        n => format!(", {n} cold rows fetched"),
    };
    if requests == 0 && hits == 0 {
        return cold;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let average = JobMetrics::get(&metrics.lookup_latency_us_total) / requests.max(1);
    let retries = match JobMetrics::get(&metrics.lookup_retries) {
        0 => String::new(),
        1 => ", 1 retry".into(),
        n => format!(", {n} retries"),
    };
    format!(
        ", lookups: {hits} cache hits, {} misses in {requests} requests (avg {:.1} ms, max {:.1} ms{retries}){cold}",
        JobMetrics::get(&metrics.lookup_cache_misses),
        ms(average),
        ms(JobMetrics::get(&metrics.lookup_latency_us_max)),
    )
}

/// ", 12 checkpoints (last: 40 ms, 1.2 MB), 1 restart" for the summary line.
fn checkpoint_summary(metrics: &weir_runtime::JobMetrics) -> String {
    use weir_runtime::JobMetrics;
    let completed = JobMetrics::get(&metrics.checkpoints_completed);
    let mut text = String::new();
    if completed > 0 {
        text += &format!(
            ", {completed} checkpoints (last: {} ms, {:.1} KB; in all {:.1} MB written, \
             {:.2} s snapshotting on tasks, {:.2} s aligning)",
            JobMetrics::get(&metrics.last_checkpoint_duration_ms),
            JobMetrics::get(&metrics.last_checkpoint_size_bytes) as f64 / 1024.0,
            JobMetrics::get(&metrics.checkpoint_bytes_total) as f64 / (1024.0 * 1024.0),
            JobMetrics::get(&metrics.checkpoint_sync_us_total) as f64 / 1e6,
            JobMetrics::get(&metrics.checkpoint_alignment_us_total) as f64 / 1e6,
        );
    }
    match JobMetrics::get(&metrics.checkpoints_failed) {
        0 => {}
        n => text += &format!(", {n} failed checkpoints"),
    }
    match JobMetrics::get(&metrics.restarts) {
        0 => {}
        1 => text += ", 1 restart",
        n => text += &format!(", {n} restarts"),
    }
    text
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
