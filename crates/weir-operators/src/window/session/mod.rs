//! Event-time session windows: Flink's `SESSION(TABLE t [PARTITION BY keys],
//! DESCRIPTOR(ts), gap)` table function followed by `GROUP BY window_start, window_end,
//! keys`, and the legacy `GROUP BY SESSION(ts, gap), keys`.
//!
//! Semantics follow Flink's session windows in event time (its `SessionWindowAssigner`
//! and merging window processing):
//! - a row at `ts` opens the window `[ts, ts + gap)`; windows of the same key that overlap
//!   or touch merge, so a session is a maximal run of rows of one key whose consecutive
//!   times are at most `gap` apart: `window_start` is its first row time, `window_end` its
//!   last row time + gap;
//! - a row arriving out of order may extend a session backwards, or bridge two open
//!   sessions, which then merge (their accumulator states are merged);
//! - a session fires when the watermark reaches `window_end - 1`, sessions fire in order
//!   of their end, and their rows are emitted before the watermark is forwarded;
//! - a row is late when it joins no open session and its own window `[ts, ts + gap)`
//!   would already have fired (`ts + gap - 1 <= watermark`): it is dropped and counted in
//!   `late_records_dropped`. Before the first watermark nothing is late. Rows with a NULL
//!   time are dropped;
//! - `finish` emits nothing: a bounded input ends with `Watermark::MAX`, which fires all.
//!
//! Rows are never kept. Keys are interned in bulk ([`keys`]); the row-by-row work is
//! integer bookkeeping of session bounds ([`sessions`]); rows are added to their
//! session's accumulators with one `update_batch` per aggregate and batch (DataFusion
//! `GroupsAccumulator`s, group = the session's slot). A merge only links slots; when
//! sessions fire, the intermediate state of every slot is taken once, the slots of fired
//! sessions are merged into the output (`merge_batch`) and the slots of each open session
//! into one fresh slot, so state stays one slot per open session. That step costs time
//! proportional to the open sessions, once per watermark that closes any.

mod checkpoint;
mod keys;
mod sessions;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checkpoint;
#[cfg(test)]
mod tests_naive;

use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use weir_runtime::{
    JobMetrics, LateRowsWriter, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext,
};
use weir_types::{EngineError, EngineResult, Watermark};

use super::assign::EventTimes;
use super::state::{cast_to, Aggregates};
use super::FilteredAggregate;
use keys::KeyStore;
use sessions::{Compaction, SessionTable};

/// A session window aggregation, as the planner builds it.
#[derive(Debug, Clone)]
pub struct SessionWindowAggregate {
    /// Inactivity gap closing a session, in milliseconds (positive).
    pub gap_ms: i64,
    /// Index in the input schema of the event-time column: Arrow Timestamp (any unit, any tz); rows with NULL time are dropped.
    pub time_column: usize,
    /// The partition keys (indices in the input schema): sessions are per key, and the
    /// output has one row per session. Empty: one session stream for all rows.
    pub key_columns: Vec<usize>,
    /// DataFusion physical aggregates over the input schema, with their optional FILTER (WHERE ...) predicates.
    pub aggregates: Vec<FilteredAggregate>,
    /// Output: window_start, window_end (Timestamp(Millisecond, same tz as the time column)), then the key columns, then one column per aggregate.
    pub output_schema: SchemaRef,
    /// The session time zone of a `TIMESTAMP_LTZ` attribute when it is not UTC: the time
    /// column (the SESSION function's `window_start`) then holds local times, and each
    /// watermark is converted to local time before sessions fire (see
    /// [`super::TimeShift`]).
    pub shift: Option<super::TimeShift>,
}

impl SessionWindowAggregate {
    /// Whether checkpoints can hold this aggregation's state exactly; else an error
    /// naming the aggregate function (for the planner, when checkpoints are on).
    pub fn check_checkpointable(&self) -> EngineResult<()> {
        super::checkpoint::check_exact(&self.aggregates, "session window aggregation")
    }

    /// Checks the gap and that the output schema has one column per window bound, key
    /// and aggregate.
    pub fn validate(&self) -> EngineResult<()> {
        if self.gap_ms <= 0 {
            return Err(EngineError::Config(format!(
                "SESSION gap must be positive, got {} ms",
                self.gap_ms
            )));
        }
        let expected = 2 + self.key_columns.len() + self.aggregates.len();
        let actual = self.output_schema.fields().len();
        if actual != expected {
            return Err(EngineError::Config(format!(
                "session window output has {actual} columns, expected {expected} \
                 (window_start, window_end, {} keys, {} aggregates)",
                self.key_columns.len(),
                self.aggregates.len()
            )));
        }
        Ok(())
    }

    /// A factory creating one [`SessionWindowOperator`] per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(SessionWindowOperator::new(Arc::clone(&def), ctx)?))
            },
        )
    }
}

/// One subtask of a session window aggregation.
pub struct SessionWindowOperator {
    def: Arc<SessionWindowAggregate>,
    aggs: Aggregates,
    /// One group per slot of `sessions`.
    accs: Vec<Box<dyn GroupsAccumulator>>,
    sessions: SessionTable,
    /// `None` without partition keys (every row has key id 0).
    keys: Option<KeyStore>,
    metrics: Arc<JobMetrics>,
    /// Where dropped late rows go, when the job has a late-data table.
    late_rows: Option<Arc<LateRowsWriter>>,
    /// The last watermark (for the late-data table); `i64::MIN` before the first.
    watermark: i64,
    /// Number of key groups (`pipeline.max-parallelism`), for checkpoint state.
    max_parallelism: usize,
    /// Types of the input's key columns (what the hash exchange hashes), once known.
    hash_key_types: Option<Vec<arrow::datatypes::DataType>>,
    /// Reused buffers: key ids, slots of the rows of a batch, sessions a row joins.
    key_ids: Vec<u32>,
    groups: Vec<usize>,
    found: Vec<u32>,
}

impl SessionWindowOperator {
    /// Creates the subtask `ctx.subtask` of `def` (which is validated).
    pub fn new(def: Arc<SessionWindowAggregate>, ctx: &SubtaskContext) -> EngineResult<Self> {
        def.validate()?;
        let aggs = Aggregates::from_parts(&def.aggregates, &def.key_columns, &def.output_schema)?;
        let keys = if def.key_columns.is_empty() {
            None
        } else {
            let fields = def.output_schema.fields()[2..2 + def.key_columns.len()].to_vec();
            Some(KeyStore::new(&Arc::new(arrow::datatypes::Schema::new(
                fields,
            )))?)
        };
        Ok(SessionWindowOperator {
            accs: aggs.accumulators()?,
            aggs,
            sessions: SessionTable::new(def.gap_ms),
            keys,
            metrics: Arc::clone(&ctx.metrics),
            late_rows: ctx.late_rows.clone(),
            watermark: i64::MIN,
            max_parallelism: ctx.max_parallelism,
            hash_key_types: None,
            def,
            key_ids: Vec::new(),
            groups: Vec::new(),
            found: Vec::new(),
        })
    }

    /// Number of open sessions (0 once every session has fired).
    pub fn open_sessions(&self) -> usize {
        self.sessions.open_sessions()
    }

    /// Number of accumulator groups held: open sessions, plus slots merged since the
    /// last firing.
    pub fn slots(&self) -> usize {
        self.sessions.slots()
    }

    /// Moves accumulator states as `plan` says; returns the final values of the fired
    /// sessions, one column per aggregate.
    fn compact(&mut self, plan: &Compaction) -> EngineResult<Vec<ArrayRef>> {
        let fired_idx = UInt32Array::from(plan.fired_slots.clone());
        let live_idx = UInt32Array::from(plan.live_slots.clone());
        let mut fresh = self.aggs.accumulators()?;
        let mut output = self.aggs.accumulators()?;
        let mut values = Vec::with_capacity(self.accs.len());
        let live_sessions = self.sessions.slots();
        for ((acc, new), out) in self.accs.iter_mut().zip(&mut fresh).zip(&mut output) {
            let state = acc.state(EmitTo::All)?;
            let pick = |idx: &UInt32Array| -> EngineResult<Vec<ArrayRef>> {
                state
                    .iter()
                    .map(|a| Ok(take(a.as_ref(), idx, None)?))
                    .collect()
            };
            out.merge_batch(&pick(&fired_idx)?, &plan.fired_groups, plan.fired.len())?;
            values.push(out.evaluate(EmitTo::All)?);
            if !plan.live_slots.is_empty() {
                new.merge_batch(&pick(&live_idx)?, &plan.live_groups, live_sessions)?;
            }
        }
        self.accs = fresh;
        Ok(values)
    }

    /// Builds the output batch of the fired sessions.
    fn output(&self, plan: &Compaction, values: Vec<ArrayRef>) -> EngineResult<RecordBatch> {
        let schema = &self.def.output_schema;
        let fields = schema.fields();
        let rows = plan.fired.len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        let starts = plan.fired.iter().map(|f| f.0).collect::<Vec<_>>();
        let ends = plan.fired.iter().map(|f| f.1).collect::<Vec<_>>();
        for bound in [starts, ends] {
            let field = &fields[columns.len()];
            let array = TimestampMillisecondArray::from(bound);
            columns.push(match field.data_type() {
                DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                    Arc::new(array.with_timezone_opt(tz.clone()))
                }
                other => cast_to(Arc::new(array), other)?,
            });
        }
        if let Some(keys) = &self.keys {
            let ids: Vec<u32> = plan.fired.iter().map(|f| f.2).collect();
            columns.extend(keys.columns(&ids)?);
        }
        for array in values {
            columns.push(array);
        }
        if columns.len() != fields.len() {
            return Err(EngineError::Internal(format!(
                "session window produced {} columns for a schema of {}",
                columns.len(),
                fields.len()
            )));
        }
        let columns = columns
            .into_iter()
            .zip(fields.iter())
            .map(|(c, f)| cast_to(c, f.data_type()))
            .collect::<EngineResult<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &options,
        )?)
    }

    /// Drops stored keys without open sessions once they outnumber the live ones.
    fn shrink_keys(&mut self) {
        let Some(keys) = &mut self.keys else { return };
        if keys.len() <= 1024 || keys.len() <= 2 * self.sessions.open_sessions() {
            return;
        }
        let live = self.sessions.live_keys();
        let mapping = keys.retain(&live);
        self.sessions.remap_keys(&mapping);
    }
}

impl Operator for SessionWindowOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let Some(time) = batch.columns().get(self.def.time_column) else {
            return Err(EngineError::Internal(format!(
                "session time column {} is not in the input",
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
        match &mut self.keys {
            Some(keys) => keys.intern(&inputs.keys, &mut self.key_ids)?,
            None => {
                self.key_ids.clear();
                self.key_ids.resize(rows, 0);
            }
        }
        self.groups.clear();
        // Indices of the rows kept, built only once a row is dropped.
        let mut kept: Option<Vec<u32>> = None;
        let mut late = 0;
        let mut late_rows: Vec<u32> = Vec::new();
        let routed = self.late_rows.is_some();
        for (i, (&ts, &key)) in times.millis.iter().zip(&self.key_ids).enumerate() {
            let valid = times.nulls.as_ref().is_none_or(|n| n.is_valid(i));
            let slot = if valid {
                let slot = self.sessions.assign(key, ts, &mut self.found);
                late += usize::from(slot.is_none());
                if routed && slot.is_none() {
                    late_rows.push(i as u32);
                }
                slot
            } else {
                None
            };
            match (slot, &mut kept) {
                (Some(slot), Some(kept)) => {
                    kept.push(i as u32);
                    self.groups.push(slot as usize);
                }
                (Some(slot), None) => self.groups.push(slot as usize),
                (None, Some(_)) => {}
                (None, None) => kept = Some((0..i as u32).collect()),
            }
        }
        if late > 0 {
            JobMetrics::add(&self.metrics.late_records_dropped, late);
        }
        if let Some(writer) = &self.late_rows {
            writer.write(&batch, &late_rows, self.def.time_column, self.watermark)?;
        }
        let inputs = match kept {
            None => inputs,
            Some(kept) if kept.is_empty() => return Ok(()),
            Some(kept) => inputs.take(kept)?,
        };
        let total = self.sessions.slots();
        for ((acc, args), filter) in self.accs.iter_mut().zip(&inputs.args).zip(&inputs.filters) {
            acc.update_batch(args, &self.groups, filter.as_ref(), total)?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        let millis = super::TimeShift::watermark_in(self.def.shift.as_ref(), watermark);
        self.watermark = self.watermark.max(millis);
        if let Some(plan) = self.sessions.advance(self.watermark) {
            let values = self.compact(&plan)?;
            let batch = self.output(&plan, values)?;
            self.shrink_keys();
            out.batch(batch);
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
