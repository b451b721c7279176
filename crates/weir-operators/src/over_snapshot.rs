//! Checkpoint state of an OVER aggregation subtask. Four tables:
//!
//! - **`pending`** (keyed): the rows waiting for the watermark, in arrival order:
//!   `__weir_key_group` (UInt16, of the `PARTITION BY` values) then the input columns
//!   (named and typed as in the output schema).
//! - **`keys`** (keyed), one row per partition key with state: `__weir_key_group`,
//!   `key_0` .. `key_{n-1}` (the `PARTITION BY` values), `last_time` (Int64, the last
//!   event time processed, in ms), then `agg{i}_{function}_{j}`: field `j` of aggregate
//!   `i`'s accumulator state (`state()`, merged back on restore) for the aggregates
//!   restored that way.
//! - **`frame`** (keyed, bounded frames only), the rows still inside a later row's
//!   frame, oldest first per key: `__weir_key_group`, `key_*`, `time` (Int64 ms), then
//!   `agg{i}_arg{j}`: argument `j` of aggregate `i` for that row.
//! - **`watermark`** (union): `watermark` (Int64), the subtask's current watermark;
//!   a restore takes the smallest over the old subtasks.
//!
//! How each aggregate's accumulator is restored exactly:
//! - over an unbounded frame, `COUNT`, `SUM`, `AVG`, `MIN`, `MAX`, `FIRST_VALUE`,
//!   `LAST_VALUE` merge their stored state;
//! - over a bounded frame, `COUNT`, `SUM`, `AVG` merge their stored state (a running sum
//!   with retractions differs in floating point from a sum of the frame's rows, so the
//!   frame is not replayed for them), and `MIN`, `MAX` are rebuilt by adding the frame's
//!   rows again (their value depends only on the rows in the frame);
//! - any other function makes the snapshot fail, naming it.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt16Array};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use weir_runtime::partition::key_groups;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult};

use super::{FrameRow, OverAggregateOperator, PartitionKeys};
use crate::group_agg::snapshot::sliding_sum_residue;

const PENDING_TABLE: &str = "pending";
const KEYS_TABLE: &str = "keys";
const FRAME_TABLE: &str = "frame";
const WATERMARK_TABLE: &str = "watermark";

/// How an aggregate's accumulator is restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Restore {
    /// Its `state()` is stored and merged into a fresh accumulator.
    State,
    /// The frame's rows are added to a fresh accumulator again.
    Replay,
}

/// How `aggregate` is restored, or why it cannot be.
pub(super) fn strategy(aggregate: &AggregateFunctionExpr, bounded: bool) -> EngineResult<Restore> {
    let name = aggregate.fun().name().to_ascii_lowercase();
    let restore = match (name.as_str(), bounded) {
        _ if aggregate.is_distinct() => None,
        ("count" | "sum" | "avg" | "mean", _) => Some(Restore::State),
        ("min" | "max" | "first_value" | "last_value", false) => Some(Restore::State),
        ("min" | "max", true) => Some(Restore::Replay),
        _ => None,
    };
    restore.ok_or_else(|| {
        EngineError::Config(format!(
            "checkpoints are not supported for aggregate function {} in an OVER aggregation \
             {} frame: its accumulator's state cannot be restored exactly",
            aggregate.name(),
            if bounded {
                "with a bounded"
            } else {
                "with an unbounded"
            }
        ))
    })
}

impl OverAggregateOperator {
    fn strategies(&self) -> EngineResult<Vec<Restore>> {
        let bounded = self.def.bounded();
        self.def
            .aggregates
            .iter()
            .map(|a| strategy(a, bounded))
            .collect()
    }

    fn key_fields(&self) -> Vec<Field> {
        let fields = self.def.output_schema.fields();
        self.def
            .partition_columns
            .iter()
            .enumerate()
            .map(|(i, &c)| Field::new(format!("key_{i}"), fields[c].data_type().clone(), true))
            .collect()
    }

    fn state_names(&self, strategies: &[Restore]) -> EngineResult<Vec<Vec<String>>> {
        let probe = self.new_state()?;
        let mut names = Vec::new();
        for (i, ((aggregate, strategy), mut accumulator)) in self
            .def
            .aggregates
            .iter()
            .zip(strategies)
            .zip(probe.accumulators)
            .enumerate()
        {
            let function = aggregate.fun().name().to_ascii_lowercase();
            names.push(match strategy {
                Restore::Replay => Vec::new(),
                Restore::State => (0..accumulator.state()?.len())
                    .map(|j| format!("agg{i}_{function}_{j}"))
                    .collect(),
            });
        }
        Ok(names)
    }

    fn key_group_column(&self, keys: &[ArrayRef], rows: usize) -> EngineResult<ArrayRef> {
        Ok(Arc::new(if keys.is_empty() {
            UInt16Array::from(vec![0u16; rows])
        } else {
            key_groups(keys, self.max_parallelism)?
        }))
    }

    fn input_schema(&self) -> SchemaRef {
        let width = self.def.output_schema.fields().len() - self.def.aggregates.len();
        Arc::new(Schema::new(
            self.def.output_schema.fields()[..width].to_vec(),
        ))
    }

    /// The subtask's state as the tables described in the module documentation.
    pub(super) fn snapshot(&mut self) -> EngineResult<StateSnapshot> {
        let strategies = self.strategies()?;
        let mut snapshot = StateSnapshot::new();
        let add = |snapshot: &mut StateSnapshot, name: &str, batch: RecordBatch, keyed: bool| {
            let result = if keyed {
                snapshot.add_keyed(name, batch)
            } else {
                snapshot.add_union(name, batch)
            };
            result.map_err(|e| EngineError::Internal(e.to_string()))
        };
        // Watermark.
        let schema = Arc::new(Schema::new(vec![Field::new(
            "watermark",
            DataType::Int64,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![self.watermark]))],
        )?;
        add(&mut snapshot, WATERMARK_TABLE, batch, false)?;
        // Pending rows.
        let input_schema = self.input_schema();
        for pending in &self.pending {
            let keys: Vec<ArrayRef> = self
                .def
                .partition_columns
                .iter()
                .map(|&c| Arc::clone(pending.column(c)))
                .collect();
            let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
            fields.extend(input_schema.fields().iter().map(|f| f.as_ref().clone()));
            let mut columns = vec![self.key_group_column(&keys, pending.num_rows())?];
            columns.extend(pending.columns().iter().cloned());
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
            add(&mut snapshot, PENDING_TABLE, batch, true)?;
        }
        if self.states.is_empty() {
            return Ok(snapshot);
        }
        // Keys, their accumulators and frames.
        let names = self.state_names(&strategies)?;
        let key_fields = self.key_fields();
        let mut key_bytes: Vec<&[u8]> = Vec::with_capacity(self.states.len());
        let mut last_times = Vec::with_capacity(self.states.len());
        let mut states: Vec<Vec<Vec<ScalarValue>>> =
            names.iter().map(|n| vec![Vec::new(); n.len()]).collect();
        let mut frame_keys: Vec<u32> = Vec::new();
        let mut frame_times = Vec::new();
        let mut frame_args: Vec<Vec<Vec<ArrayRef>>> = self
            .def
            .aggregates
            .iter()
            .map(|a| vec![Vec::new(); a.expressions().len()])
            .collect();
        for (key, state) in self.states.iter_mut() {
            let index = key_bytes.len() as u32;
            key_bytes.push(key);
            last_times.push(state.last_time);
            for ((((aggregate, strategy), accumulator), columns), _) in self
                .def
                .aggregates
                .iter()
                .zip(&strategies)
                .zip(state.accumulators.iter_mut())
                .zip(states.iter_mut())
                .zip(&names)
            {
                if *strategy != Restore::State {
                    continue;
                }
                let mut values = accumulator.state()?;
                if self.def.bounded() {
                    sliding_sum_residue(aggregate, accumulator.as_mut(), &mut values)?;
                }
                for (column, value) in columns.iter_mut().zip(values) {
                    column.push(value);
                }
            }
            for row in &state.frame {
                frame_keys.push(index);
                frame_times.push(row.time);
                for (aggregate_args, row_args) in frame_args.iter_mut().zip(&row.args) {
                    for (column, value) in aggregate_args.iter_mut().zip(row_args) {
                        column.push(Arc::clone(value));
                    }
                }
            }
        }
        let parser = self.keys.parser();
        let key_columns = self
            .keys
            .convert_rows(key_bytes.iter().map(|k| parser.parse(k)))?;
        let rows = key_bytes.len();
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        fields.extend(key_fields.iter().cloned());
        fields.push(Field::new("last_time", DataType::Int64, false));
        let mut columns = vec![self.key_group_column(&key_columns, rows)?];
        columns.extend(key_columns.iter().cloned());
        columns.push(Arc::new(Int64Array::from(last_times)));
        for (aggregate_names, values) in names.iter().zip(states) {
            for (name, values) in aggregate_names.iter().zip(values) {
                let array = ScalarValue::iter_to_array(values)?;
                fields.push(Field::new(name, array.data_type().clone(), true));
                columns.push(array);
            }
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        add(&mut snapshot, KEYS_TABLE, batch, true)?;
        if frame_keys.is_empty() {
            return Ok(snapshot);
        }
        let take = arrow::array::UInt32Array::from(frame_keys);
        let frame_key_columns = key_columns
            .iter()
            .map(|c| arrow::compute::take(c.as_ref(), &take, None))
            .collect::<Result<Vec<_>, _>>()?;
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        fields.extend(key_fields);
        fields.push(Field::new("time", DataType::Int64, false));
        let mut columns = vec![self.key_group_column(&frame_key_columns, take.len())?];
        columns.extend(frame_key_columns);
        columns.push(Arc::new(Int64Array::from(frame_times)));
        for (i, aggregate_args) in frame_args.into_iter().enumerate() {
            for (j, values) in aggregate_args.into_iter().enumerate() {
                let slices: Vec<&dyn Array> = values.iter().map(|a| a.as_ref()).collect();
                let array = concat(&slices)?;
                fields.push(Field::new(
                    format!("agg{i}_arg{j}"),
                    array.data_type().clone(),
                    true,
                ));
                columns.push(array);
            }
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        add(&mut snapshot, FRAME_TABLE, batch, true)?;
        Ok(snapshot)
    }

    /// Restores the tables of [`OverAggregateOperator::snapshot`].
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let strategies = self.strategies()?;
        let names = self.state_names(&strategies)?;
        let changed = |what: String| {
            EngineError::Config(format!(
                "the checkpoint's OVER aggregation state does not match this OVER aggregation \
                 ({what}); the job's SQL changed since the checkpoint was taken"
            ))
        };
        for table in snapshot.tables() {
            if ![PENDING_TABLE, KEYS_TABLE, FRAME_TABLE, WATERMARK_TABLE].contains(&table.name()) {
                return Err(changed(format!("unknown table {:?}", table.name())));
            }
        }
        if let Some(table) = snapshot.table(WATERMARK_TABLE) {
            let mut watermark: Option<i64> = None;
            for batch in table.batches() {
                let values = batch
                    .column(0)
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| changed("watermark is not BIGINT".into()))?;
                for w in values.values().iter() {
                    watermark = Some(watermark.map_or(*w, |m| m.min(*w)));
                }
            }
            self.watermark = watermark.unwrap_or(i64::MIN);
        }
        let input_schema = self.input_schema();
        if let Some(table) = snapshot.table(PENDING_TABLE) {
            for batch in table.batches() {
                let columns = batch.columns()[1..].to_vec();
                let same = columns.len() == input_schema.fields().len()
                    && columns
                        .iter()
                        .zip(input_schema.fields())
                        .all(|(c, f)| c.data_type() == f.data_type());
                if !same {
                    return Err(changed("its waiting rows have other columns".into()));
                }
                self.pending
                    .push(RecordBatch::try_new(Arc::clone(&input_schema), columns)?);
            }
        }
        let width = self.def.partition_columns.len();
        if let Some(table) = snapshot.table(KEYS_TABLE) {
            let mut expected: Vec<String> = vec![KEY_GROUP_COLUMN.into()];
            expected.extend(self.key_fields().iter().map(|f| f.name().clone()));
            expected.push("last_time".into());
            expected.extend(names.iter().flatten().cloned());
            let found: Vec<String> = table
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            if found != expected {
                return Err(changed(format!("columns {found:?}, expected {expected:?}")));
            }
            for batch in table.batches() {
                let keys = PartitionKeys::encode(&self.keys, &batch.columns()[1..1 + width])?;
                let last_times = batch.columns()[1 + width]
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| changed("last_time is not BIGINT".into()))?;
                for row in 0..batch.num_rows() {
                    let mut state = self.new_state()?;
                    state.last_time = last_times.value(row);
                    let mut next = 2 + width;
                    for (accumulator, aggregate_names) in state.accumulators.iter_mut().zip(&names)
                    {
                        if aggregate_names.is_empty() {
                            continue;
                        }
                        let slices: Vec<ArrayRef> = batch.columns()
                            [next..next + aggregate_names.len()]
                            .iter()
                            .map(|c| c.slice(row, 1))
                            .collect();
                        next += aggregate_names.len();
                        accumulator.merge_batch(&slices)?;
                    }
                    self.states.insert(keys.key(row).into(), state);
                }
            }
        }
        if let Some(table) = snapshot.table(FRAME_TABLE) {
            let widths: Vec<usize> = self
                .def
                .aggregates
                .iter()
                .map(|a| a.expressions().len())
                .collect();
            if table.schema().fields().len() != 2 + width + widths.iter().sum::<usize>() {
                return Err(changed("its frame rows have other columns".into()));
            }
            for batch in table.batches() {
                let keys = PartitionKeys::encode(&self.keys, &batch.columns()[1..1 + width])?;
                let times = batch.columns()[1 + width]
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| changed("frame time is not BIGINT".into()))?;
                for row in 0..batch.num_rows() {
                    let mut next = 2 + width;
                    let args = widths
                        .iter()
                        .map(|&n| {
                            let args = batch.columns()[next..next + n]
                                .iter()
                                .map(|c| c.slice(row, 1))
                                .collect();
                            next += n;
                            args
                        })
                        .collect();
                    let state = self.states.get_mut(keys.key(row)).ok_or_else(|| {
                        EngineError::Internal(
                            "the checkpoint has frame rows of a key without state".into(),
                        )
                    })?;
                    state.frame.push_back(FrameRow {
                        time: times.value(row),
                        args,
                    });
                }
            }
            // Accumulators whose value depends only on the frame's rows: add them again.
            for state in self.states.values_mut() {
                for ((accumulator, strategy), index) in
                    state.accumulators.iter_mut().zip(&strategies).zip(0..)
                {
                    if *strategy != Restore::Replay {
                        continue;
                    }
                    for row in &state.frame {
                        accumulator.update_batch(&row.args[index])?;
                    }
                }
            }
        }
        Ok(())
    }
}
