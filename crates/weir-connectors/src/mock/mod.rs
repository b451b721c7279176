//! Mock connectors for testing jobs (`weir test`): every source reads scripted rows from
//! memory and every sink collects what it receives, so nothing reaches a real system.
//!
//! A [`MockRun`] is one test run. The job is planned inside [`MockRun::scope`]: while
//! that future runs, [`crate::create_source`] and [`crate::create_sink`] hand out mocks
//! for every table whatever its `connector` option (bare `SELECT`s included: their sink
//! is `select_1`, `select_2`, ...). The planner still builds everything else from the
//! DDL, so a mocked table keeps its schema, computed columns and `WATERMARK FOR`.
//!
//! After planning, [`MockRun::load`] takes the script of the test: [`MockStep`]s that
//! send rows to a source table (decoded with the `json` or `csv` format against the
//! table's physical and metadata columns), advance a table's watermark, or pause. Then
//! [`MockRun::drive`] plays the steps one at a time against the started job: after each
//! step it waits until the source has sent the step's rows on and the whole job is
//! quiescent ([`weir_runtime::JobMetrics::in_flight`] is 0), so the order of steps across
//! several sources is the order the job sees, deterministically. Once the steps are done
//! the sources end (a bounded source's final watermark fires every open window).
//!
//! Event time: a table with at least one watermark step gets its watermarks only from
//! the script (its reader [controls watermarks](weir_runtime::SourceReader::controls_watermarks));
//! a table without one gets them from its `WATERMARK FOR` clause, as in production.
//!
//! Only subtask 0 of a mocked source reads rows; its other subtasks end at once.
//!
//! A mocked table's connector options are still checked (an unknown option, a missing
//! required one, a sink that cannot take updates), without touching files; a connector
//! this build lacks is only a [warning](MockRun::warnings).
//! Tables the run [declares](Declared) use their real connectors instead (see
//! [`declared`]).

mod declared;
mod sink;
mod source;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tokio::sync::Notify;
use weir_formats::{CsvDecoder, CsvOptions, FormatError, JsonDecoder, JsonOptions, RecordDecoder};
use weir_runtime::{JobMetrics, SourceEvent};
use weir_types::{ChangelogKind, Watermark};

use crate::descriptor::TableDescriptor;
use crate::{SinkBinding, SourceBinding};

pub use declared::{Declared, DeclaredOutput};

tokio::task_local! {
    static CURRENT: MockRun;
}

/// The run whose scope the caller is in, if any.
pub(crate) fn current() -> Option<MockRun> {
    CURRENT.try_with(MockRun::clone).ok()
}

/// The text format of mock rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockFormat {
    /// One JSON object per line, fields by column name (the `json` format).
    Json,
    /// One CSV record per line, fields in column order, no header (the `csv` format).
    Csv,
}

/// Rows for one table, as text: chunks of whole lines, each with the line it starts at
/// in `origin` (so that errors point at the right line of a test case file).
#[derive(Debug, Clone)]
pub struct MockRows {
    /// How the text is decoded.
    pub format: MockFormat,
    /// Where the rows were written (a file path), for error messages.
    pub origin: String,
    /// `(first line, text)` pairs.
    pub chunks: Vec<(u64, String)>,
}

/// One step of a test's script.
#[derive(Debug, Clone)]
pub enum MockStep {
    /// Source table `table` reads these rows (one batch).
    Rows {
        /// A table the job reads.
        table: String,
        /// The rows.
        rows: MockRows,
    },
    /// Source table `table`'s watermark advances to `millis` (epoch milliseconds).
    Watermark {
        /// A table the job reads.
        table: String,
        /// The watermark, epoch milliseconds.
        millis: i64,
    },
    /// Nothing happens for this long (processing time passes, e.g. for idleness).
    Pause(Duration),
}

/// What a test run can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// A step names a table the job does not read.
    #[error("the job does not read table '{table}' (it reads: {known})")]
    UnknownSource {
        /// The table named.
        table: String,
        /// The tables the job reads, comma separated.
        known: String,
    },
    /// A mock row cannot be decoded against the table's columns.
    #[error("{origin}:{line}: source '{table}': cannot read row: {reason} (row: {row})")]
    BadRow {
        /// The table.
        table: String,
        /// Where the row was written.
        origin: String,
        /// Its line.
        line: u64,
        /// Why.
        reason: String,
        /// The row's text.
        row: String,
    },
    /// The table's columns cannot be read from the format at all.
    #[error("source '{table}': {source}")]
    Format {
        /// The table.
        table: String,
        /// The format's error.
        #[source]
        source: Box<FormatError>,
    },
}

/// A table a mocked job reads.
#[derive(Debug, Clone)]
pub struct MockSource {
    /// Table name.
    pub name: String,
    /// The columns mock rows give: physical and metadata columns, no computed ones.
    pub schema: SchemaRef,
    /// The table as the planner described it, with its real `WITH` options (for
    /// `weir sample`, which reads the real source).
    pub descriptor: TableDescriptor,
}

/// What a mocked sink received.
#[derive(Debug, Clone)]
pub struct MockSinkOutput {
    /// Table name (`select_N` for a bare `SELECT`).
    pub name: String,
    /// Whether the stream into the sink is append-only or updating.
    pub changelog: ChangelogKind,
    /// The rows as Flink's print connector writes them (`+I[1, a]`), in arrival order
    /// (per sink subtask; subtasks interleave).
    pub rows: Vec<String>,
}

/// One test run: the tables its job reads and writes, its script, and the outputs.
#[derive(Clone, Default)]
pub struct MockRun {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Woken whenever `state.current` or `state.finished` changes.
    changed: Notify,
}

#[derive(Default)]
struct State {
    sources: Vec<MockSource>,
    sinks: Vec<MockSinkOutput>,
    steps: Vec<LoadedStep>,
    /// Tables with at least one watermark step: their readers control their watermarks.
    scripted_watermarks: BTreeSet<String>,
    current: Option<Current>,
    finished: bool,
    /// Tables that use their declared connectors.
    declared: Declared,
    /// Declared sources the job reads, in planning order.
    declared_read: Vec<String>,
    /// Declared sinks the job writes.
    declared_written: Vec<declared::DeclaredSink>,
    /// Warnings of planning (connectors this build lacks).
    warnings: Vec<String>,
}

enum LoadedStep {
    Events { table: String, events: Vec<Event> },
    Pause(Duration),
}

/// What a reader hands to its task (cloneable, unlike `SourceEvent`).
#[derive(Clone)]
enum Event {
    Batch(RecordBatch),
    Watermark(Watermark),
}

impl Event {
    fn into_source_event(self) -> SourceEvent {
        match self {
            Event::Batch(batch) => SourceEvent::Batch { split: 0, batch },
            Event::Watermark(w) => SourceEvent::Watermark(w),
        }
    }
}

/// The step being played: its events go to `table`'s reader one at a time; `done` once
/// the reader asked for more after handing out the last one.
struct Current {
    table: String,
    events: VecDeque<Event>,
    done: bool,
}

impl MockRun {
    /// A new run with no tables.
    pub fn new() -> MockRun {
        MockRun::default()
    }

    /// Runs `future` (planning a job) with every connector created inside it mocked.
    pub async fn scope<F: std::future::Future>(&self, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: keep going.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The tables the planned job reads, in the order the planner met them.
    pub fn sources(&self) -> Vec<MockSource> {
        self.state().sources.clone()
    }

    /// The sinks of the planned job and what each has received so far.
    pub fn sinks(&self) -> Vec<MockSinkOutput> {
        self.state().sinks.clone()
    }

    pub(crate) fn source_binding(&self, table: &TableDescriptor) -> SourceBinding {
        let mut state = self.state();
        if !state.sources.iter().any(|s| s.name == table.name) {
            state.sources.push(MockSource {
                name: table.name.clone(),
                schema: table.schema.clone(),
                descriptor: table.clone(),
            });
        }
        source::binding(self.clone(), &table.name)
    }

    pub(crate) fn sink_binding(
        &self,
        table: &TableDescriptor,
        changelog: ChangelogKind,
    ) -> SinkBinding {
        let mut state = self.state();
        let index = match state.sinks.iter().position(|s| s.name == table.name) {
            Some(index) => index,
            None => {
                state.sinks.push(MockSinkOutput {
                    name: table.name.clone(),
                    changelog,
                    rows: Vec::new(),
                });
                state.sinks.len() - 1
            }
        };
        sink::binding(self.clone(), index)
    }

    /// Decodes the steps' rows against the tables' columns and keeps them for
    /// [`MockRun::drive`]. Call after planning (the tables are known) and before the
    /// job starts (readers ask whether they control their watermarks when created).
    pub fn load(&self, steps: Vec<MockStep>) -> Result<(), MockError> {
        let sources = self.sources();
        let schema_of = |table: &str| {
            sources
                .iter()
                .find(|s| s.name == table)
                .map(|s| s.schema.clone())
                .ok_or_else(|| MockError::UnknownSource {
                    table: table.to_string(),
                    known: sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        };
        let mut loaded = Vec::with_capacity(steps.len());
        let mut scripted = BTreeSet::new();
        for step in steps {
            loaded.push(match step {
                MockStep::Rows { table, rows } => {
                    let schema = schema_of(&table)?;
                    let batches = decode(&table, schema, &rows)?;
                    LoadedStep::Events {
                        table,
                        events: batches.into_iter().map(Event::Batch).collect(),
                    }
                }
                MockStep::Watermark { table, millis } => {
                    schema_of(&table)?;
                    scripted.insert(table.clone());
                    LoadedStep::Events {
                        table,
                        events: vec![Event::Watermark(Watermark(millis))],
                    }
                }
                MockStep::Pause(duration) => LoadedStep::Pause(duration),
            });
        }
        let mut state = self.state();
        state.steps = loaded;
        state.scripted_watermarks = scripted;
        Ok(())
    }

    /// Plays the loaded steps against the running job whose counters are `metrics`,
    /// each one only once the job has processed the previous one; then ends the sources.
    /// Returns when the sources were told to end; wait for the job to finish after that.
    pub async fn drive(&self, metrics: &JobMetrics) {
        let steps = std::mem::take(&mut self.state().steps);
        for step in steps {
            match step {
                LoadedStep::Pause(duration) => tokio::time::sleep(duration).await,
                LoadedStep::Events { table, events } => {
                    if events.is_empty() {
                        continue;
                    }
                    self.state().current = Some(Current {
                        table,
                        events: events.into(),
                        done: false,
                    });
                    self.shared.changed.notify_waiters();
                    self.wait_until_processed(metrics).await;
                }
            }
        }
        let mut state = self.state();
        state.current = None;
        state.finished = true;
        drop(state);
        self.shared.changed.notify_waiters();
    }

    /// Waits until the reader handed out the current step and the job is quiescent.
    async fn wait_until_processed(&self, metrics: &JobMetrics) {
        loop {
            let handed_out = self.state().current.as_ref().is_none_or(|c| c.done);
            // The reader marks the step done only after its task sent the step's messages
            // on (and counted them): a zero read after that means they were processed.
            if handed_out && metrics.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Decodes `rows` into batches of `schema`.
fn decode(table: &str, schema: SchemaRef, rows: &MockRows) -> Result<Vec<RecordBatch>, MockError> {
    let format_error = |source| MockError::Format {
        table: table.to_string(),
        source: Box::new(source),
    };
    let mut decoder: Box<dyn RecordDecoder> = match rows.format {
        MockFormat::Json => Box::new(
            JsonDecoder::new(schema.clone(), JsonOptions::default()).map_err(format_error)?,
        ),
        MockFormat::Csv => {
            Box::new(CsvDecoder::new(schema.clone(), CsvOptions::default()).map_err(format_error)?)
        }
    };
    decoder.set_origin(&rows.origin);
    let mut batches = Vec::new();
    for (first_line, text) in &rows.chunks {
        let decoded = decoder
            .decode(text.as_bytes(), *first_line)
            .map_err(|e| match e {
                FormatError::BadRecord {
                    origin,
                    line,
                    reason,
                    record,
                    ..
                } => MockError::BadRow {
                    table: table.to_string(),
                    origin,
                    line,
                    reason,
                    row: record,
                },
                other => format_error(other),
            })?;
        batches.extend(decoded.batches);
    }
    if batches.len() <= 1 {
        return Ok(batches);
    }
    // One step is one batch: rows of a step arrive together, as one read would.
    let merged = arrow::compute::concat_batches(&schema, &batches).map_err(|e| {
        format_error(FormatError::Unsupported(format!(
            "cannot merge the rows: {e}"
        )))
    })?;
    Ok(vec![merged])
}
