//! Event-time window aggregation: Flink's window TVFs (`TUMBLE`, `HOP`, `CUMULATE`)
//! followed by `GROUP BY window_start, window_end, keys...`, computed with *slicing*.
//!
//! Time is cut into disjoint slices (see `assign.rs`). Each row is added to exactly one
//! slice's accumulators, in bulk: slice ids are computed columnar over the time column,
//! rows are grouped by slice (one `take` per column when a batch spans several slices),
//! keys go through DataFusion's vectorised `GroupValues`, and every aggregate is a
//! DataFusion `GroupsAccumulator` (or per-group `Accumulator`s behind DataFusion's
//! adapter when the function has no groups accumulator). A window is produced by
//! combining the intermediate states of the slices it covers (see `state.rs`); rows are
//! never kept.
//!
//! Semantics follow Flink's window TVF aggregation in event time:
//! - a window fires when the watermark reaches `window_end - 1`; windows fire in order
//!   of their end, and their rows are emitted before the watermark is forwarded;
//! - one output row per key with at least one row in the window (a FILTER clause does
//!   not remove the key);
//! - a row is late, dropped and counted in `late_records_dropped`, when every window its
//!   slice belongs to has fired; a HOP/CUMULATE row whose slice still has an unfired
//!   window is added and counts for the unfired windows only. Before the first
//!   watermark nothing is late. Rows with a NULL time are dropped;
//! - a slice's state is dropped once its last window has fired;
//! - windows fire only by watermark: `finish` emits nothing (a bounded input ends with
//!   `Watermark::MAX`, which fires every window).
//!
//! With an [`EmitStrategy`] that allows lateness or fires early, the output is an
//! updating stream (row kind as the last column; see `changes.rs`):
//! - allowed lateness `L`: a window's slices are kept until the watermark reaches
//!   `end - 1 + L`; a row for a fired window within that time is added to its slice,
//!   and after the input batch every fired window covering that slice (and not past
//!   its lateness) is evaluated again and its changes emitted (`-U` old, `+U` new, or
//!   `+I` for a new key). A row is late (dropped, counted) only when every window of
//!   its slice is past its lateness;
//! - early fire with delay `d`: windows that received rows since their last emission
//!   are evaluated and their changes emitted when an input batch or watermark arrives
//!   at least `d` (processing time, the operator's clock) after the previous early
//!   emission; `d = 0` emits after every input batch. When the watermark passes a
//!   window's end its final result is emitted as changes too (nothing if unchanged).
//!
//! Session windows merge and have no slices: they have their own operator ([`session`]).
//! Window deduplication (first or last row per window and key) is [`dedup`].

mod assign;
mod changes;
pub(crate) mod checkpoint;
mod checkpoint_agg;
mod dedup;
mod session;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checkpoint;
#[cfg(test)]
mod tests_dedup;
#[cfg(test)]
mod tests_emit;
#[cfg(test)]
pub(crate) mod tests_harness;
#[cfg(test)]
mod tests_naive;
mod zone;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, TimestampMillisecondArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{
    JobMetrics, LateRowsWriter, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext,
};
use weir_types::{EngineError, EngineResult, Watermark, ROW_KIND_COLUMN};

pub use dedup::WindowDeduplicate;
pub use session::{SessionWindowAggregate, SessionWindowOperator};
pub use state::WindowState;
pub use zone::{is_utc, TimeShift};

use arrow::datatypes::{Field, Schema};
use assign::{partition_by_slice, EventTimes, SliceRows};
use changes::Changes;
use state::{cast_to, Aggregates, Evaluated};

/// Output batches of consecutive small windows are concatenated up to this many rows.
const TARGET_BATCH_ROWS: usize = 8192;

/// An aggregate with its optional `FILTER (WHERE ...)` predicate.
pub type FilteredAggregate = (Arc<AggregateFunctionExpr>, Option<Arc<dyn PhysicalExpr>>);

/// The window table-valued function, with sizes in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// TUMBLE(size [, offset])
    Tumble {
        /// Window length.
        size_ms: i64,
        /// Shift of window starts from the epoch.
        offset_ms: i64,
    },
    /// HOP(slide, size [, offset]) — slices of gcd(size, slide)
    Hop {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts.
        slide_ms: i64,
        /// Shift of window starts from the epoch.
        offset_ms: i64,
    },
    /// CUMULATE(step, max_size [, offset]) — slices of `step`; windows [start, start+step), [start, start+2*step) ... up to max_size
    Cumulate {
        /// Growth of the windows of one period.
        step_ms: i64,
        /// Length of a period (the largest window); a multiple of `step_ms`.
        max_size_ms: i64,
        /// Shift of period starts from the epoch.
        offset_ms: i64,
    },
}

/// When window results are emitted (Flink's `table.exec.emit.*` options). The default
/// emits each window once, when the watermark passes its end (append-only output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitStrategy {
    /// `table.exec.emit.allow-lateness` in ms: how long after firing a window's state is
    /// kept so that late rows update it (0 = none).
    pub allow_lateness_ms: i64,
    /// `table.exec.emit.early-fire.delay` in ms when early fire is enabled: how often an
    /// open window emits its current result (0 = after every input batch).
    pub early_fire_delay_ms: Option<i64>,
}

impl EmitStrategy {
    /// Whether results can change after their first emission (the output is updating).
    pub fn is_updating(&self) -> bool {
        self.allow_lateness_ms > 0 || self.early_fire_delay_ms.is_some()
    }
}

/// An event-time window aggregation, as the planner builds it.
#[derive(Debug, Clone)]
pub struct WindowAggregate {
    /// The window TVF.
    pub window: WindowSpec,
    /// Index in the input schema of the event-time column: Arrow Timestamp(Millisecond or Second, any tz); rows with NULL time are dropped.
    pub time_column: usize,
    /// Grouping keys besides the window (indices in the input schema).
    pub key_columns: Vec<usize>,
    /// DataFusion physical aggregates over the input schema, with their optional FILTER (WHERE ...) predicates
    pub aggregates: Vec<FilteredAggregate>,
    /// Output: window_start, window_end (Timestamp(Millisecond, same tz as the time column)), then the key columns, then one column per aggregate (types from `AggregateFunctionExpr::field()`).
    /// An updating aggregation ([`EmitStrategy::is_updating`]) adds the row kind column
    /// (`__weir_row_kind`, Int8) after these: see [`WindowAggregate::emitted_schema`].
    pub output_schema: SchemaRef,
    /// When results are emitted.
    pub emit: EmitStrategy,
    /// The columns written for a late row to a late-data table (`None`: every input
    /// column, with the window start as its time).
    pub late_row: Option<LateRowColumns>,
    /// The session time zone of a `TIMESTAMP_LTZ` time attribute when it is not UTC:
    /// the time column and the window bounds are then local wall-clock times, and each
    /// watermark is converted to the zone's local time before windows fire (see
    /// `zone.rs`).
    pub shift: Option<TimeShift>,
}

/// Which input columns make a late row for the late-data table: the row's own columns
/// without the window columns, and among them its event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRowColumns {
    /// Input column indices, in order.
    pub columns: Vec<usize>,
    /// Position of the event-time column in `columns`.
    pub time: usize,
}

impl WindowAggregate {
    /// Whether checkpoints can hold this aggregation's state exactly; else an error
    /// naming the aggregate function (for the planner, when checkpoints are on).
    pub fn check_checkpointable(&self) -> EngineResult<()> {
        checkpoint::check_exact(&self.aggregates, "window aggregation")
    }

    /// Checks the window sizes and that the output schema has one column per window
    /// bound, key and aggregate.
    pub fn validate(&self) -> EngineResult<()> {
        self.window.validate()?;
        let expected = 2 + self.key_columns.len() + self.aggregates.len();
        let actual = self.output_schema.fields().len();
        if actual != expected {
            return Err(EngineError::Config(format!(
                "window aggregation output has {actual} columns, expected {expected} \
                 (window_start, window_end, {} keys, {} aggregates)",
                self.key_columns.len(),
                self.aggregates.len()
            )));
        }
        Ok(())
    }

    /// The schema of emitted batches: the output schema, plus the row kind column when
    /// the emission is updating.
    pub fn emitted_schema(&self) -> SchemaRef {
        if !self.emit.is_updating() {
            return Arc::clone(&self.output_schema);
        }
        let mut fields: Vec<Field> = self
            .output_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
        Arc::new(Schema::new(fields))
    }

    /// A factory creating one [`WindowAggregateOperator`] per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(WindowAggregateOperator::new(
                    Arc::clone(&def),
                    ctx,
                )?))
            },
        )
    }
}

/// One subtask of a window aggregation.
pub struct WindowAggregateOperator {
    def: Arc<WindowAggregate>,
    aggs: Aggregates,
    state: WindowState,
    metrics: Arc<JobMetrics>,
    /// Reused buffer of group indices.
    groups: Vec<usize>,
    /// Updating emission: last emitted results, windows changed since, early-fire clock.
    updating: Option<Updating>,
    /// Where dropped late rows go, when the job has a late-data table.
    late_rows: Option<Arc<LateRowsWriter>>,
    /// Number of key groups (`pipeline.max-parallelism`), for checkpoint state.
    max_parallelism: usize,
    /// Types of the input's key columns (what the hash exchange hashes), once known.
    hash_key_types: Option<Vec<DataType>>,
}

/// The updating-emission part of a window aggregation subtask.
struct Updating {
    changes: Changes,
    /// Ends of windows (not past their lateness) that got rows since their last emission.
    dirty: BTreeSet<i64>,
    /// Early-fire delay, if early fire is on.
    early_delay: Option<Duration>,
    /// When windows last fired early.
    last_early: Instant,
}

impl WindowAggregateOperator {
    /// Creates the subtask `ctx.subtask` of `def` (which is validated).
    pub fn new(def: Arc<WindowAggregate>, ctx: &SubtaskContext) -> EngineResult<Self> {
        def.validate()?;
        let emit = def.emit;
        let updating = if emit.is_updating() {
            Some(Updating {
                changes: Changes::new(
                    &def.output_schema,
                    def.key_columns.len(),
                    def.emitted_schema(),
                )?,
                dirty: BTreeSet::new(),
                early_delay: emit
                    .early_fire_delay_ms
                    .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
                last_early: Instant::now(),
            })
        } else {
            None
        };
        Ok(WindowAggregateOperator {
            aggs: Aggregates::new(&def)?,
            state: WindowState::new(emit.allow_lateness_ms, emit.is_updating()),
            def,
            metrics: Arc::clone(&ctx.metrics),
            groups: Vec::new(),
            updating,
            late_rows: ctx.late_rows.clone(),
            max_parallelism: ctx.max_parallelism,
            hash_key_types: None,
        })
    }

    /// Marks the windows of slice `slice_end` that can still change as changed.
    fn touch(&mut self, slice_end: i64) {
        if let Some(u) = &mut self.updating {
            for end in self.def.window.window_ends(slice_end) {
                if !self.state.is_expired(end) {
                    u.dirty.insert(end);
                }
            }
        }
    }

    /// Number of windows whose last emitted result is kept (updating emission only).
    pub fn tracked_windows(&self) -> usize {
        self.updating.as_ref().map_or(0, |u| u.changes.tracked())
    }

    /// Number of slices holding state (0 once every window has fired).
    pub fn live_slices(&self) -> usize {
        self.state.live_slices()
    }

    /// The operator's whole state.
    pub fn state(&self) -> &WindowState {
        &self.state
    }

    /// Builds the output batch of one window.
    fn window_batch(&self, start: i64, end: i64, result: Evaluated) -> EngineResult<RecordBatch> {
        let schema = &self.def.output_schema;
        let fields = schema.fields();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        for value in [start, end] {
            let field = &fields[columns.len()];
            let bound = TimestampMillisecondArray::from_value(value, result.rows);
            let bound: ArrayRef = match field.data_type() {
                DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                    Arc::new(bound.with_timezone_opt(tz.clone()))
                }
                other => cast_to(Arc::new(bound), other)?,
            };
            columns.push(bound);
        }
        for array in result.keys.into_iter().chain(result.values) {
            let Some(field) = fields.get(columns.len()) else {
                return Err(EngineError::Internal(
                    "window aggregation produced more columns than its schema".into(),
                ));
            };
            columns.push(cast_to(array, field.data_type())?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(result.rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &options,
        )?)
    }

    /// Emits fired windows (as changes when the emission is updating).
    fn emit(&mut self, fired: Vec<(i64, i64, Evaluated)>, out: &mut Output) -> EngineResult<()> {
        let mut batches = Vec::with_capacity(fired.len());
        for (start, end, result) in fired {
            let batch = self.window_batch(start, end, result)?;
            match &mut self.updating {
                None => batches.push(batch),
                Some(u) => {
                    u.dirty.remove(&end);
                    batches.extend(u.changes.update(end, batch)?);
                }
            }
        }
        self.emit_batches(batches, out)
    }

    /// Evaluates and emits the changes of dirty windows: fired ones (late updates)
    /// always, unfired ones when early fire is due (`now` is a batch or watermark arrival).
    fn emit_dirty(&mut self, after_batch: bool, out: &mut Output) -> EngineResult<()> {
        let Some(u) = &mut self.updating else {
            return Ok(());
        };
        let fired_upto = self.state.fired_upto();
        let early_due = match u.early_delay {
            None => false,
            Some(d) if d.is_zero() => after_batch,
            Some(d) => u.last_early.elapsed() >= d,
        };
        let ends: Vec<i64> = u
            .dirty
            .iter()
            .copied()
            .filter(|&e| early_due || e <= fired_upto)
            .collect();
        if early_due {
            u.last_early = Instant::now();
        }
        let mut batches = Vec::new();
        for end in ends {
            let result =
                self.state
                    .evaluate(&self.aggs, &self.def.window, end, &mut self.groups)?;
            let Some(u) = &mut self.updating else {
                break;
            };
            u.dirty.remove(&end);
            if let Some(result) = result {
                let start = self.def.window.window_start(end);
                let batch = self.window_batch(start, end, result)?;
                if let Some(u) = &mut self.updating {
                    batches.extend(u.changes.update(end, batch)?);
                }
            }
        }
        self.emit_batches(batches, out)
    }

    /// Emits batches, concatenating consecutive small ones.
    fn emit_batches(&self, batches: Vec<RecordBatch>, out: &mut Output) -> EngineResult<()> {
        let schema = match &self.updating {
            Some(_) => self.def.emitted_schema(),
            None => Arc::clone(&self.def.output_schema),
        };
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut pending_rows = 0;
        let flush = |pending: &mut Vec<RecordBatch>, out: &mut Output| -> EngineResult<()> {
            match pending.len() {
                0 => {}
                1 => out.batch(pending.remove(0)),
                _ => out.batch(concat_batches(&schema, pending.iter())?),
            }
            pending.clear();
            Ok(())
        };
        for batch in batches {
            if pending_rows + batch.num_rows() > TARGET_BATCH_ROWS {
                flush(&mut pending, out)?;
                pending_rows = 0;
            }
            pending_rows += batch.num_rows();
            pending.push(batch);
        }
        flush(&mut pending, out)
    }
}

impl Operator for WindowAggregateOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let spec = self.def.window;
        let Some(time) = batch.columns().get(self.def.time_column) else {
            return Err(EngineError::Internal(format!(
                "window time column {} is not in the input",
                self.def.time_column
            )));
        };
        let times = EventTimes::try_new(time)?;
        let inputs = self.aggs.inputs(&batch)?;
        if self.hash_key_types.is_none() && !self.def.key_columns.is_empty() {
            let types = self
                .def
                .key_columns
                .iter()
                .filter_map(|&i| batch.columns().get(i).map(|c| c.data_type().clone()))
                .collect();
            self.hash_key_types = Some(types);
        }
        let mut late = 0;
        // Indices of late rows, collected only for a late-data table.
        let mut late_rows: Vec<u32> = Vec::new();
        let routed = self.late_rows.is_some();
        match partition_by_slice(&spec, &times) {
            SliceRows::All(slice_end) => {
                if self.state.is_late(&spec, slice_end) {
                    late = batch.num_rows();
                    if routed {
                        late_rows.extend(0..batch.num_rows() as u32);
                    }
                } else {
                    self.state
                        .add(&self.aggs, slice_end, &inputs, &mut self.groups)?;
                    self.touch(slice_end);
                }
            }
            SliceRows::Some(parts) => {
                for (slice_end, rows) in parts {
                    if self.state.is_late(&spec, slice_end) {
                        late += rows.len();
                        if routed {
                            late_rows.extend(rows);
                        }
                    } else {
                        let inputs = inputs.take(rows)?;
                        self.state
                            .add(&self.aggs, slice_end, &inputs, &mut self.groups)?;
                        self.touch(slice_end);
                    }
                }
            }
        }
        if late > 0 {
            JobMetrics::add(&self.metrics.late_records_dropped, late);
        }
        if let Some(writer) = &self.late_rows {
            let watermark = self.state.fired_upto().saturating_sub(1);
            match &self.def.late_row {
                Some(row) => {
                    let rows = batch.project(&row.columns)?;
                    writer.write(&rows, &late_rows, row.time, watermark)?;
                }
                None => writer.write(&batch, &late_rows, self.def.time_column, watermark)?,
            }
        }
        self.emit_dirty(true, out)
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        let millis = TimeShift::watermark_in(self.def.shift.as_ref(), watermark);
        let fired = self
            .state
            .advance(&self.def.window, &self.aggs, millis, &mut self.groups)?;
        self.emit(fired, out)?;
        if self.updating.is_some() {
            self.emit_dirty(false, out)?;
            let forget = self
                .state
                .fired_upto()
                .saturating_sub(self.def.emit.allow_lateness_ms);
            if let Some(u) = &mut self.updating {
                u.changes.forget_upto(forget);
            }
        }
        out.watermark(watermark);
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.take_snapshot()
    }

    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        self.restore(snapshot)
    }
}
