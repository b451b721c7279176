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
//! Session windows merge and have no slices: they have their own operator ([`session`]).
//! Window deduplication (first or last row per window and key) is [`dedup`].

mod assign;
mod dedup;
mod session;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_naive;

use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMillisecondArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{JobMetrics, Operator, OperatorFactory, Output, SubtaskContext};
use weir_types::{EngineError, EngineResult, Watermark};

pub use dedup::WindowDeduplicate;
pub use session::{SessionWindowAggregate, SessionWindowOperator};
pub use state::WindowState;

use assign::{partition_by_slice, EventTimes, SliceRows};
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
    pub output_schema: SchemaRef,
}

impl WindowAggregate {
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
}

impl WindowAggregateOperator {
    /// Creates the subtask `ctx.subtask` of `def` (which is validated).
    pub fn new(def: Arc<WindowAggregate>, ctx: &SubtaskContext) -> EngineResult<Self> {
        def.validate()?;
        Ok(WindowAggregateOperator {
            aggs: Aggregates::new(&def)?,
            def,
            state: WindowState::default(),
            metrics: Arc::clone(&ctx.metrics),
            groups: Vec::new(),
        })
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

    /// Emits fired windows, concatenating consecutive small ones.
    fn emit(&self, fired: Vec<(i64, i64, Evaluated)>, out: &mut Output) -> EngineResult<()> {
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut pending_rows = 0;
        let flush = |pending: &mut Vec<RecordBatch>, out: &mut Output| -> EngineResult<()> {
            match pending.len() {
                0 => {}
                1 => out.batch(pending.remove(0)),
                _ => out.batch(concat_batches(&self.def.output_schema, pending.iter())?),
            }
            pending.clear();
            Ok(())
        };
        for (start, end, result) in fired {
            let batch = self.window_batch(start, end, result)?;
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
        _out: &mut Output,
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
        let mut late = 0;
        match partition_by_slice(&spec, &times) {
            SliceRows::All(slice_end) => {
                if self.state.is_late(&spec, slice_end) {
                    late = batch.num_rows();
                } else {
                    self.state
                        .add(&self.aggs, slice_end, &inputs, &mut self.groups)?;
                }
            }
            SliceRows::Some(parts) => {
                for (slice_end, rows) in parts {
                    if self.state.is_late(&spec, slice_end) {
                        late += rows.len();
                    } else {
                        let inputs = inputs.take(rows)?;
                        self.state
                            .add(&self.aggs, slice_end, &inputs, &mut self.groups)?;
                    }
                }
            }
        }
        if late > 0 {
            JobMetrics::add(&self.metrics.late_records_dropped, late);
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        let fired = self.state.advance(
            &self.def.window,
            &self.aggs,
            watermark.millis(),
            &mut self.groups,
        )?;
        self.emit(fired, out)?;
        out.watermark(watermark);
        Ok(())
    }
}
