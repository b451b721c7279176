//! OVER aggregation ordered by event time: `agg(x) OVER (PARTITION BY k ORDER BY ts
//! ROWS BETWEEN n PRECEDING AND CURRENT ROW)`, `RANGE BETWEEN INTERVAL ... PRECEDING AND
//! CURRENT ROW`, or `UNBOUNDED PRECEDING`. Every input row is emitted once, with the
//! aggregates over its frame: an append-only stream.
//!
//! As in Flink, rows wait until the watermark passes their time and are then processed
//! per key in time order (ties in arrival order). A row whose time is not after the last
//! time already processed for its key is late: dropped and counted. In a `RANGE` frame,
//! rows with the same time are peers: each sees all of them. Bounded frames keep the
//! frame's rows and retract the oldest from DataFusion's sliding accumulators as the
//! frame moves (rows leave in the order they came, which is what those accumulators
//! are built for); unbounded frames only accumulate.
//!
//! Checkpoints: see [`snapshot`] (rows waiting for the watermark, each key's
//! accumulators and frame, the watermark). A watermark below the current one (as
//! sources send after a restore) does not move it back.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt64Array};
use arrow::compute::{
    cast, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch, SortColumn,
};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use weir_runtime::{
    JobMetrics, LateRowsWriter, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext,
};
use weir_types::{EngineError, EngineResult, Watermark};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Which rows before the current one are in its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: unbounded preceding).
    Rows(Option<usize>),
    /// `RANGE BETWEEN <ms> PRECEDING AND CURRENT ROW` (`None`: unbounded preceding).
    Range(Option<i64>),
}

/// An OVER aggregation, as the planner builds it.
#[derive(Debug, Clone)]
pub struct OverAggregate {
    /// `PARTITION BY` columns (indices in the input).
    pub partition_columns: Vec<usize>,
    /// The event-time `ORDER BY` column (a timestamp).
    pub time_column: usize,
    /// The frame shared by all aggregates.
    pub frame: OverFrame,
    /// The aggregates, over the input schema.
    pub aggregates: Vec<Arc<AggregateFunctionExpr>>,
    /// The input columns, then one column per aggregate.
    pub output_schema: SchemaRef,
}

impl OverAggregate {
    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(OverAggregateOperator::new(Arc::clone(&def), ctx)?))
            },
        )
    }

    /// Fails, naming the function, when a checkpoint could not hold some aggregate's
    /// state exactly (what [`Operator::snapshot_state`] would fail with); for planning
    /// a job that takes checkpoints.
    pub fn check_checkpointable(&self) -> EngineResult<()> {
        for aggregate in &self.aggregates {
            snapshot::strategy(aggregate, self.bounded())?;
        }
        Ok(())
    }

    fn bounded(&self) -> bool {
        matches!(
            self.frame,
            OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_))
        )
    }
}

/// A processed row still inside some later row's frame: its time and argument values.
struct FrameRow {
    time: i64,
    /// One-row slices of each aggregate's arguments.
    args: Vec<Vec<ArrayRef>>,
}

/// The state of one key.
struct KeyState {
    accumulators: Vec<Box<dyn Accumulator>>,
    frame: VecDeque<FrameRow>,
    last_time: i64,
}

/// One subtask of an OVER aggregation.
pub struct OverAggregateOperator {
    def: Arc<OverAggregate>,
    /// Number of key groups, for checkpoints.
    max_parallelism: usize,
    keys: RowConverter,
    states: Map<Box<[u8]>, KeyState>,
    pending: Vec<RecordBatch>,
    metrics: Arc<JobMetrics>,
    /// Where dropped late rows go, when the job has a late-data table.
    late_rows: Option<Arc<LateRowsWriter>>,
    /// The watermark before the one being processed (for the late-data table: the one in
    /// force when the rows being fired arrived); `i64::MIN` before the first.
    watermark: i64,
}

/// Event times of a batch's time column in milliseconds.
fn times(batch: &RecordBatch, column: usize) -> EngineResult<ArrayRef> {
    let array = batch
        .columns()
        .get(column)
        .ok_or_else(|| EngineError::Internal(format!("OVER time column {column} is missing")))?;
    let millis = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    Ok(cast(&millis, &DataType::Int64)?)
}

impl OverAggregateOperator {
    /// Creates a subtask of `def`.
    pub fn new(def: Arc<OverAggregate>, ctx: &SubtaskContext) -> EngineResult<Self> {
        let fields = def.output_schema.fields();
        let key_fields = def
            .partition_columns
            .iter()
            .map(|&i| {
                fields
                    .get(i)
                    .map(|f| SortField::new(f.data_type().clone()))
                    .ok_or_else(|| EngineError::Internal(format!("OVER key column {i} is missing")))
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(OverAggregateOperator {
            keys: RowConverter::new(key_fields)?,
            max_parallelism: ctx.max_parallelism,
            def,
            states: Map::default(),
            pending: Vec::new(),
            metrics: Arc::clone(&ctx.metrics),
            late_rows: ctx.late_rows.clone(),
            watermark: i64::MIN,
        })
    }

    fn new_state(&self) -> EngineResult<KeyState> {
        let accumulators = self
            .def
            .aggregates
            .iter()
            .map(|a| {
                if self.def.bounded() {
                    a.create_sliding_accumulator()
                } else {
                    a.create_accumulator()
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyState {
            accumulators,
            frame: VecDeque::new(),
            last_time: i64::MIN,
        })
    }

    /// Processes the pending rows at or before `watermark` (all with `None`).
    fn fire(&mut self, watermark: Option<i64>, out: &mut Output) -> EngineResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let schema = self.pending[0].schema();
        let all = concat_batches(&schema, &self.pending)?;
        self.pending.clear();
        let all_times = times(&all, self.def.time_column)?;
        let ready_mask: BooleanArray = all_times
            .as_primitive::<Int64Type>()
            .iter()
            .map(|t| Some(t.is_some_and(|t| watermark.is_none_or(|w| t <= w))))
            .collect();
        let waiting_mask = arrow::compute::not(&ready_mask)?;
        let waiting = filter_record_batch(&all, &waiting_mask)?;
        if waiting.num_rows() > 0 {
            self.pending.push(waiting);
        }
        let ready = filter_record_batch(&all, &ready_mask)?;
        if ready.num_rows() == 0 {
            return Ok(());
        }
        // Per key, in time order, ties in arrival order.
        let arrival: ArrayRef = Arc::new(UInt64Array::from_iter_values(0..ready.num_rows() as u64));
        let mut sort: Vec<SortColumn> = self
            .def
            .partition_columns
            .iter()
            .map(|&i| SortColumn {
                values: Arc::clone(ready.column(i)),
                options: None,
            })
            .collect();
        sort.push(SortColumn {
            values: times(&ready, self.def.time_column)?,
            options: None,
        });
        sort.push(SortColumn {
            values: arrival,
            options: None,
        });
        let order = lexsort_to_indices(&sort, None)?;
        let sorted = take_record_batch(&ready, &order)?;
        let output = self.aggregate(&sorted)?;
        out.batch(output);
        Ok(())
    }

    /// Computes the aggregates of sorted rows; late rows are left out of the result.
    fn aggregate(&mut self, sorted: &RecordBatch) -> EngineResult<RecordBatch> {
        let rows = sorted.num_rows();
        let key_columns: Vec<ArrayRef> = self
            .def
            .partition_columns
            .iter()
            .map(|&i| Arc::clone(sorted.column(i)))
            .collect();
        let keys = PartitionKeys::encode(&self.keys, &key_columns)?;
        let time_array = times(sorted, self.def.time_column)?;
        let time_values = time_array.as_primitive::<Int64Type>();
        let args: Vec<Vec<ArrayRef>> = self
            .def
            .aggregates
            .iter()
            .map(|a| {
                a.expressions()
                    .iter()
                    .map(|e| e.evaluate(sorted)?.into_array(rows))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let mut keep = vec![false; rows];
        let mut late_rows: Vec<u32> = Vec::new();
        let mut values: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(rows); args.len()];
        let frame = self.def.frame;
        let bounded = self.def.bounded();
        let mut row = 0;
        while row < rows {
            let key = keys.key(row);
            let mut end = row + 1;
            while end < rows && keys.key(end) == key {
                end += 1;
            }
            if !self.states.contains_key(key) {
                let state = self.new_state()?;
                self.states.insert(key.into(), state);
            }
            let Some(state) = self.states.get_mut(key) else {
                return Err(EngineError::Internal("OVER key state vanished".into()));
            };
            // Rows of one key, in time order; peers (same time) together.
            let mut start = row;
            while start < end {
                let time = time_values.value(start);
                let mut peers_end = start + 1;
                while peers_end < end && time_values.value(peers_end) == time {
                    peers_end += 1;
                }
                if time <= state.last_time {
                    JobMetrics::add(&self.metrics.late_records_dropped, peers_end - start);
                    if self.late_rows.is_some() {
                        late_rows.extend(start as u32..peers_end as u32);
                    }
                    start = peers_end;
                    continue;
                }
                match frame {
                    OverFrame::Rows(preceding) => {
                        for r in start..peers_end {
                            add_rows(state, &args, (r, 1), time, bounded)?;
                            if let Some(n) = preceding {
                                while state.frame.len() > n + 1 {
                                    retract_oldest(state)?;
                                }
                            }
                            push_values(state, &mut values)?;
                        }
                    }
                    OverFrame::Range(preceding) => {
                        add_rows(state, &args, (start, peers_end - start), time, bounded)?;
                        if let Some(ms) = preceding {
                            while state.frame.front().is_some_and(|f| f.time < time - ms) {
                                retract_oldest(state)?;
                            }
                        }
                        for _ in start..peers_end {
                            push_values(state, &mut values)?;
                        }
                    }
                }
                keep[start..peers_end].fill(true);
                state.last_time = time;
                start = peers_end;
            }
            row = end;
        }
        if let Some(writer) = &self.late_rows {
            writer.write(sorted, &late_rows, self.def.time_column, self.watermark)?;
        }
        let kept = filter_record_batch(sorted, &BooleanArray::from(keep))?;
        let mut columns = kept.columns().to_vec();
        let fields = self.def.output_schema.fields();
        for column in values {
            let array = if column.is_empty() {
                arrow::array::new_empty_array(fields[columns.len()].data_type())
            } else {
                ScalarValue::iter_to_array(column)?
            };
            let to = fields[columns.len()].data_type();
            columns.push(if array.data_type() == to {
                array
            } else {
                cast(&array, to)?
            });
        }
        Ok(RecordBatch::try_new(
            Arc::clone(&self.def.output_schema),
            columns,
        )?)
    }
}

/// The encoded `PARTITION BY` values of a batch's rows: all the empty key without
/// `PARTITION BY` (the row format has no rows without columns).
pub(crate) struct PartitionKeys(Option<arrow::row::Rows>);

impl PartitionKeys {
    /// Encodes `columns` (the partition columns, possibly none).
    pub(crate) fn encode(converter: &RowConverter, columns: &[ArrayRef]) -> EngineResult<Self> {
        if columns.is_empty() {
            return Ok(PartitionKeys(None));
        }
        Ok(PartitionKeys(Some(converter.convert_columns(columns)?)))
    }

    /// The key of row `row`.
    pub(crate) fn key(&self, row: usize) -> &[u8] {
        match &self.0 {
            Some(rows) => rows.row(row).data(),
            None => &[],
        }
    }
}

/// Adds rows `start..start + len` (one time) to the accumulators, and to the frame when
/// the frame is `bounded`.
fn add_rows(
    state: &mut KeyState,
    args: &[Vec<ArrayRef>],
    (start, len): (usize, usize),
    time: i64,
    bounded: bool,
) -> EngineResult<()> {
    for (accumulator, columns) in state.accumulators.iter_mut().zip(args) {
        let slices: Vec<ArrayRef> = columns.iter().map(|c| c.slice(start, len)).collect();
        accumulator.update_batch(&slices)?;
    }
    if !bounded {
        return Ok(());
    }
    for r in start..start + len {
        state.frame.push_back(FrameRow {
            time,
            args: args
                .iter()
                .map(|cols| cols.iter().map(|c| c.slice(r, 1)).collect())
                .collect(),
        });
    }
    Ok(())
}

fn retract_oldest(state: &mut KeyState) -> EngineResult<()> {
    if let Some(oldest) = state.frame.pop_front() {
        for (accumulator, args) in state.accumulators.iter_mut().zip(&oldest.args) {
            accumulator.retract_batch(args)?;
        }
    }
    Ok(())
}

fn push_values(state: &mut KeyState, values: &mut [Vec<ScalarValue>]) -> EngineResult<()> {
    for (accumulator, column) in state.accumulators.iter_mut().zip(values.iter_mut()) {
        column.push(accumulator.evaluate()?);
    }
    Ok(())
}

impl Operator for OverAggregateOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        if batch.num_rows() > 0 {
            self.pending.push(batch);
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        // After a restore, the sources' first watermarks may be below the restored one:
        // the watermark never goes back.
        let watermark = watermark.0.max(self.watermark);
        // Rows fired now arrived under the previous watermark: that is the one recorded
        // with the rows dropped as late.
        self.fire(Some(watermark), out)?;
        self.watermark = watermark;
        out.watermark(Watermark(watermark));
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> EngineResult<()> {
        self.fire(None, out)
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.snapshot()
    }

    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        self.restore(snapshot)
    }
}

#[cfg(test)]
#[path = "over_checkpoint_tests.rs"]
mod checkpoint_tests;
#[path = "over_snapshot.rs"]
mod snapshot;
#[cfg(test)]
#[path = "over_tests.rs"]
mod tests;
