//! `weir sample TABLE --from JOB.sql --limit N`: reads N records of a table from its
//! real source (a file, a generator, a topic) and writes them as JSON lines, the mock
//! input of a test case (`file = "..."` in `weir test`).
//!
//! The job is planned with mocked connectors only to learn how the table is declared
//! (its columns and `WITH` options, as the job's planner resolves them); the table's own
//! connector is then opened directly and read by one reader until N rows arrived. The
//! rows hold the table's physical and metadata columns (computed columns are computed
//! from them in the test, as in production).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use arrow::record_batch::RecordBatch;
use weir_connectors::mock::MockRun;
use weir_formats::{JsonEncoder, JsonOptions, RecordEncoder};
use weir_runtime::{SourceEvent, SubtaskContext};

/// What `weir sample` was asked to do.
pub struct SampleOptions {
    /// The table to read.
    pub table: String,
    /// The script declaring it.
    pub job: PathBuf,
    /// How many rows.
    pub limit: usize,
    /// Where to write them (stdout when `None`).
    pub output: Option<PathBuf>,
    /// `--set KEY=VALUE` options.
    pub overrides: Vec<(String, String)>,
    /// How long to wait for rows (an unbounded source may have fewer than `limit`).
    pub timeout: Duration,
}

/// Samples the table; exit status 2 when the script is invalid.
pub fn run(runtime: &tokio::runtime::Runtime, options: &SampleOptions) -> Result<ExitCode> {
    let script = std::fs::read_to_string(&options.job)
        .with_context(|| format!("cannot read the script '{}'", options.job.display()))?;
    let mock = MockRun::new();
    let base_dir = crate::script_dir(&options.job);
    let planned = runtime.block_on(mock.scope(weir_sql::plan_script(
        &script,
        &base_dir,
        &options.overrides,
    )));
    if let Err(error) = planned {
        eprintln!("{}: {error}", options.job.display());
        return Ok(ExitCode::from(2));
    }
    let sources = mock.sources();
    let source = sources
        .iter()
        .find(|s| s.name == options.table)
        .ok_or_else(|| {
            anyhow!(
                "the job does not read table '{}' (it reads: {})",
                options.table,
                sources
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let binding = weir_connectors::create_source(&source.descriptor)?;
    let batches = runtime.block_on(async {
        let ctx = SubtaskContext::single(&format!("Source: {}", source.name));
        let mut reader = binding.factory.create_reader(&ctx)?;
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut rows = 0;
        let read = async {
            while rows < options.limit {
                match reader.next().await? {
                    SourceEvent::Batch { batch, .. } => {
                        let take = batch.num_rows().min(options.limit - rows);
                        rows += take;
                        batches.push(batch.slice(0, take));
                    }
                    SourceEvent::Finished => break,
                    SourceEvent::SplitFinished(_) | SourceEvent::Watermark(_) => {}
                }
            }
            Ok::<_, weir_types::EngineError>(())
        };
        match tokio::time::timeout(options.timeout, read).await {
            Ok(result) => result?,
            Err(_) => eprintln!(
                "warning: no more rows of '{}' within {} s; keeping the {rows} read",
                source.name,
                options.timeout.as_secs()
            ),
        }
        Ok::<_, anyhow::Error>(batches)
    })?;
    let mut encoder = JsonEncoder::new(&source.schema, &JsonOptions::default())?;
    let mut out = Vec::new();
    let mut rows = 0;
    for batch in &batches {
        encoder.encode(batch, &mut out)?;
        rows += batch.num_rows();
    }
    match &options.output {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create '{}'", dir.display()))?;
            }
            std::fs::write(path, &out)
                .with_context(|| format!("cannot write '{}'", path.display()))?;
            eprintln!(
                "wrote {rows} rows of table '{}' to {}",
                source.name,
                path.display()
            );
        }
        None => std::io::stdout()
            .write_all(&out)
            .context("cannot write to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}
