//! The local phase of two-phase (local-global) aggregation.
//!
//! Before the hash exchange, each upstream subtask pre-aggregates its rows per key with
//! DataFusion's vectorised `GroupsAccumulator`s and sends one row per key: the key, each
//! aggregate's intermediate state (`GroupsAccumulator::state`) and the number of rows. The
//! global [`GroupAggregate`](super::GroupAggregate) merges those states. A hot key then
//! costs the exchange and the global subtask one row per local flush instead of one per
//! input row. The local phase holds rows for one input batch, or, with mini-batch, until
//! the latency or size is reached (then at the next batch or watermark), at the end, and
//! when a checkpoint's barrier arrives (so it has no checkpoint state).

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array};
use arrow::compute::{cast, prep_null_mask_filter};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::GroupsAccumulatorAdapter;
use datafusion::physical_plan::aggregates::group_values::{new_group_values, GroupValues};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use weir_runtime::{Operator, OperatorFactory, Output, SubtaskContext};
use weir_types::{EngineError, EngineResult, Watermark};

use super::{system_clock, Clock, MiniBatch};
use crate::window::FilteredAggregate;

/// Name of the row-count column of partial aggregates.
pub const PARTIAL_ROWS_COLUMN: &str = "__weir_rows";

/// The local phase of a two-phase aggregation.
#[derive(Debug, Clone)]
pub struct LocalAggregate {
    /// Grouping keys (indices in the input); at least one.
    pub key_columns: Vec<usize>,
    /// The aggregates (over the input schema) with their FILTER predicates.
    pub aggregates: Vec<FilteredAggregate>,
    /// Mini-batch settings (`None`: flush after every input batch).
    pub mini_batch: Option<MiniBatch>,
    /// Output: keys, each aggregate's state fields, then [`PARTIAL_ROWS_COLUMN`].
    pub output_schema: SchemaRef,
}

impl LocalAggregate {
    /// The output schema for keys of `key_fields` and these aggregates.
    pub fn output_schema_of(
        key_fields: Vec<Field>,
        aggregates: &[FilteredAggregate],
    ) -> EngineResult<SchemaRef> {
        let mut fields: Vec<Field> = key_fields
            .into_iter()
            .map(|f| f.with_nullable(true))
            .collect();
        for (i, (aggregate, _)) in aggregates.iter().enumerate() {
            for (j, state) in aggregate.state_fields()?.iter().enumerate() {
                fields.push(Field::new(
                    format!("__weir_state_{i}_{j}"),
                    state.data_type().clone(),
                    true,
                ));
            }
        }
        fields.push(Field::new(PARTIAL_ROWS_COLUMN, DataType::Int64, false));
        Ok(Arc::new(Schema::new(fields)))
    }

    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(LocalAggregateOperator::new(
                    Arc::clone(&def),
                    system_clock(),
                )?))
            },
        )
    }
}

/// One subtask of the local phase.
pub struct LocalAggregateOperator {
    def: Arc<LocalAggregate>,
    key_schema: SchemaRef,
    groups: Box<dyn GroupValues>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    rows: Vec<i64>,
    group_indices: Vec<usize>,
    clock: Clock,
    held_since: Option<i64>,
    held_rows: usize,
}

impl LocalAggregateOperator {
    /// Creates a subtask of `def`.
    pub fn new(def: Arc<LocalAggregate>, clock: Clock) -> EngineResult<Self> {
        let key_schema = Arc::new(Schema::new(
            def.output_schema.fields()[..def.key_columns.len()].to_vec(),
        ));
        let groups = new_group_values(Arc::clone(&key_schema), &GroupOrdering::None)?;
        let accumulators = Self::accumulators(&def)?;
        Ok(LocalAggregateOperator {
            def,
            key_schema,
            groups,
            accumulators,
            rows: Vec::new(),
            group_indices: Vec::new(),
            clock,
            held_since: None,
            held_rows: 0,
        })
    }

    fn accumulators(def: &LocalAggregate) -> EngineResult<Vec<Box<dyn GroupsAccumulator>>> {
        def.aggregates
            .iter()
            .map(
                |(aggregate, _)| -> EngineResult<Box<dyn GroupsAccumulator>> {
                    if aggregate.groups_accumulator_supported() {
                        Ok(aggregate.create_groups_accumulator()?)
                    } else {
                        let aggregate = Arc::clone(aggregate);
                        Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
                            aggregate.create_accumulator()
                        })))
                    }
                },
            )
            .collect()
    }

    fn add(&mut self, batch: &RecordBatch) -> EngineResult<()> {
        let rows = batch.num_rows();
        let mut keys = Vec::with_capacity(self.def.key_columns.len());
        for (&i, field) in self.def.key_columns.iter().zip(self.key_schema.fields()) {
            let column = batch.columns().get(i).ok_or_else(|| {
                EngineError::Internal(format!("local aggregation key column {i} is missing"))
            })?;
            keys.push(if column.data_type() == field.data_type() {
                Arc::clone(column)
            } else {
                cast(column, field.data_type())?
            });
        }
        self.groups.intern(&keys, &mut self.group_indices)?;
        let total = self.groups.len();
        self.rows.resize(total, 0);
        for &g in &self.group_indices {
            self.rows[g] += 1;
        }
        for ((aggregate, filter), accumulator) in
            self.def.aggregates.iter().zip(self.accumulators.iter_mut())
        {
            let args = aggregate
                .expressions()
                .iter()
                .map(|e| e.evaluate(batch)?.into_array(rows))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            let mask = match filter {
                None => None,
                Some(predicate) => {
                    let mask = predicate.evaluate(batch)?.into_array(rows)?;
                    let mask = mask.as_boolean_opt().ok_or_else(|| {
                        EngineError::Internal("aggregate FILTER is not BOOLEAN".into())
                    })?;
                    Some(prep_null_mask_filter(mask))
                }
            };
            accumulator.update_batch(&args, &self.group_indices, mask.as_ref(), total)?;
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Output) -> EngineResult<()> {
        self.held_since = None;
        self.held_rows = 0;
        let groups = self.groups.len();
        if groups == 0 {
            return Ok(());
        }
        let mut columns = self.groups.emit(EmitTo::All)?;
        for accumulator in self.accumulators.iter_mut() {
            columns.extend(accumulator.state(EmitTo::All)?);
        }
        columns.push(Arc::new(Int64Array::from(std::mem::take(&mut self.rows))));
        self.groups.clear_shrink(0);
        self.accumulators = Self::accumulators(&self.def)?;
        let fields = self.def.output_schema.fields();
        let columns = columns
            .into_iter()
            .zip(fields.iter())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c)
                } else {
                    cast(&c, f.data_type()).map_err(EngineError::from)
                }
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(groups));
        out.batch(RecordBatch::try_new_with_options(
            Arc::clone(&self.def.output_schema),
            columns,
            &options,
        )?);
        Ok(())
    }

    fn maybe_flush(&mut self, out: &mut Output) -> EngineResult<()> {
        let due = match (self.def.mini_batch, self.held_since) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mini), Some(since)) => {
                self.held_rows >= mini.size || (self.clock)() - since >= mini.allow_latency_ms
            }
        };
        if due {
            self.flush(out)?;
        }
        Ok(())
    }
}

impl Operator for LocalAggregateOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.add(&batch)?;
        if self.held_since.is_none() {
            self.held_since = Some((self.clock)());
        }
        self.held_rows += batch.num_rows();
        self.maybe_flush(out)
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        self.maybe_flush(out)?;
        out.watermark(watermark);
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> EngineResult<()> {
        self.flush(out)
    }

    /// Emits the held partial aggregates ahead of the barrier: the local phase then
    /// holds nothing at a checkpoint and needs no state (the default empty snapshot).
    fn prepare_snapshot_pre_barrier(
        &mut self,
        _checkpoint_id: u64,
        out: &mut Output,
    ) -> EngineResult<()> {
        self.flush(out)
    }
}
