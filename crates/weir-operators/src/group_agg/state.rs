//! The state of one unbounded aggregation subtask: per key, a row counter and one
//! accumulator per aggregate; the keys changed since the last emission with the result
//! they had before; and when each key was last written (for state TTL).
//!
//! Rows are applied batch-wise: the batch's rows are ordered by (group, accumulate or
//! retract), each argument column is gathered once in that order, and each group's run
//! is handed to its accumulator as a zero-copy slice.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, Int8Array, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::Rows;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use weir_types::{EngineError, EngineResult, RowKind};

use super::distinct::{DistinctResult, DistinctValues};
use super::keys::KeyTable;
use super::retract::{sliding_accumulator_is_exact, RetractableMinMax};

/// Marks a row that changes nothing: a retraction of a key without state.
const SKIPPED: u32 = u32::MAX;

/// How the accumulators of one aggregate are created.
#[derive(Debug, Clone)]
pub(crate) enum AccumulatorKind {
    /// DataFusion's accumulator (append-only input).
    Plain,
    /// DataFusion's sliding accumulator, exact under any retraction order.
    Sliding,
    /// [`RetractableMinMax`].
    MinMax { max: bool },
    /// [`DistinctValues`]: `COUNT(DISTINCT x)`, `SUM(DISTINCT x)`, keeping values of this type.
    Distinct {
        value_type: DataType,
        result: DistinctResult,
    },
}

impl AccumulatorKind {
    /// The kind for `aggregate`, or an error when it cannot consume retractions.
    pub fn choose(aggregate: &AggregateFunctionExpr, updating: bool) -> EngineResult<Self> {
        let name = aggregate.fun().name().to_ascii_lowercase();
        if let Some(kind) = Self::distinct(aggregate, &name, updating) {
            return Ok(kind);
        }
        if !updating {
            return Ok(AccumulatorKind::Plain);
        }
        let refuse = || {
            EngineError::Config(format!(
                "aggregate function {} cannot consume an updating input (its rows can be retracted) in this version; \
                 aggregate the append-only stream instead, or use COUNT, SUM, AVG, MIN, MAX, COUNT(DISTINCT ...) or STDDEV/VAR",
                aggregate.name()
            ))
        };
        if name == "min" || name == "max" {
            return Ok(AccumulatorKind::MinMax { max: name == "max" });
        }
        let exact = sliding_accumulator_is_exact(&name)
            && (!aggregate.is_distinct() || name == "count" || name == "sum");
        if !exact {
            return Err(refuse());
        }
        // Fails here, at planning, for the combinations DataFusion lacks (SUM(DISTINCT) of decimals).
        aggregate
            .create_sliding_accumulator()
            .map_err(|_| refuse())?;
        Ok(AccumulatorKind::Sliding)
    }
}

impl AccumulatorKind {
    /// The kind for `COUNT(DISTINCT x)` and `SUM(DISTINCT x)`: [`AccumulatorKind::Distinct`],
    /// except DataFusion's own (faster) accumulator for a `COUNT(DISTINCT x)` of a
    /// primitive type over an append-only input, whose state is exact for checkpoints.
    fn distinct(aggregate: &AggregateFunctionExpr, name: &str, updating: bool) -> Option<Self> {
        let value_type = distinct_value_type(aggregate)?;
        let result = match name {
            "count" if !updating && value_type.is_primitive() => {
                return Some(AccumulatorKind::Plain)
            }
            "count" => DistinctResult::Count,
            "sum" => DistinctResult::Sum(aggregate.field().data_type().clone()),
            _ => return None,
        };
        Some(AccumulatorKind::Distinct { value_type, result })
    }

    /// Why a checkpoint cannot hold this aggregate's accumulators exactly, if it cannot.
    /// A checkpoint stores an accumulator's intermediate state (`state()`) and a restore
    /// merges it into a fresh accumulator (`merge_batch`); this is exact only for the
    /// functions listed here (checked against DataFusion 55's accumulators: their
    /// `state()` does not consume them, and merging into an empty one reproduces them).
    pub fn checkpoint_refusal(&self, aggregate: &AggregateFunctionExpr) -> Option<String> {
        let name = aggregate.fun().name().to_ascii_lowercase();
        let exact = match self {
            AccumulatorKind::MinMax { .. } | AccumulatorKind::Distinct { .. } => true,
            // DataFusion's COUNT(DISTINCT) of a primitive type keeps a set of the values,
            // which its state copies.
            AccumulatorKind::Plain if aggregate.is_distinct() => {
                name == "count" && distinct_value_type(aggregate).is_some_and(|t| t.is_primitive())
            }
            AccumulatorKind::Plain => {
                !aggregate.is_distinct()
                    && matches!(
                        name.as_str(),
                        "count"
                            | "sum"
                            | "avg"
                            | "mean"
                            | "min"
                            | "max"
                            | "first_value"
                            | "last_value"
                    )
            }
            AccumulatorKind::Sliding => {
                !aggregate.is_distinct()
                    && matches!(name.as_str(), "count" | "sum" | "avg" | "mean")
            }
        };
        (!exact).then(|| {
            format!(
                "checkpoints are not supported for aggregate function {} in an unbounded GROUP BY: \
                 its accumulator's state cannot be restored exactly{}",
                aggregate.name(),
                if name.contains("std") || name.contains("var") {
                    " (merging its mean is not exact in floating point)"
                } else if aggregate.is_distinct() {
                    " (its DISTINCT values are not kept with their counts)"
                } else {
                    ""
                }
            )
        })
    }
}

/// The type of the values a one-argument `DISTINCT` aggregate keeps (its state is a
/// list of them in DataFusion).
fn distinct_value_type(aggregate: &AggregateFunctionExpr) -> Option<DataType> {
    if !aggregate.is_distinct() || aggregate.expressions().len() != 1 {
        return None;
    }
    let state = aggregate.state_fields().ok()?;
    match state.first()?.data_type() {
        DataType::List(item) => Some(item.data_type().clone()),
        _ => None,
    }
}

/// One key's state.
pub(super) struct Group {
    /// Accumulated minus retracted rows; the key is removed when it reaches 0.
    pub(super) rows: i64,
    pub(super) accumulators: Vec<Box<dyn Accumulator>>,
    /// Processing time of the last write, in milliseconds.
    pub(super) last_write: i64,
    /// Set while the key has changes not yet emitted: the result emitted before them
    /// (`None` when nothing was emitted for the key).
    pub(super) pending: Option<Option<Vec<ScalarValue>>>,
    /// Written since it was last written back to the RocksDB store.
    pub(super) dirty: bool,
}

/// Keys, their accumulators and the changes waiting to be emitted.
pub(crate) struct GroupState {
    pub(super) keys: KeyTable,
    pub(super) groups: Vec<Option<Group>>,
    pub(super) pending: Vec<u32>,
    pub(super) aggregates: Vec<(Arc<AggregateFunctionExpr>, AccumulatorKind)>,
    /// `table.exec.state.ttl`: with it, `-U`/`+U` are emitted even when a key's result did
    /// not change (as Flink does, so downstream state is refreshed), and a key not written
    /// for the TTL is expired when it is next read, whether or not a sweep dropped it yet
    /// (so what is emitted does not depend on when sweeps run).
    ttl_ms: Option<i64>,
    /// Keys found expired when read, not yet counted in the metrics.
    expired_on_read: usize,
    /// With the RocksDB backend: the groups written since the last write-back (may
    /// hold an id twice, or an id removed since; [`Group::dirty`] decides), and the
    /// keys removed since, to delete from the store (and not to read back from it:
    /// the store still has their old state until the write-back).
    pub(super) track_changes: bool,
    pub(super) dirty: Vec<u32>,
    pub(super) removed_keys: hashbrown::HashSet<Box<[u8]>>,
    /// Reused buffers.
    ids: Vec<u32>,
    order: Vec<u32>,
}

/// The rows of a batch the aggregation reads.
pub(crate) struct BatchInputs {
    /// Key columns, cast to the key types.
    pub keys: Vec<ArrayRef>,
    /// Argument columns of each aggregate.
    pub args: Vec<Vec<ArrayRef>>,
    /// FILTER (WHERE ...) of each aggregate (NULL already counted as false).
    pub filters: Vec<Option<BooleanArray>>,
    /// Rows that retract (`-U`, `-D`); `None` when all accumulate.
    pub retract: Option<Vec<bool>>,
    /// Number of rows.
    pub rows: usize,
    /// Partial input (two-phase aggregation): `args` are intermediate states to merge,
    /// and each row stands for this many input rows.
    pub partial_rows: Option<Int64Array>,
}

impl GroupState {
    /// Empty state for keys of `key_schema` and the given aggregates.
    pub fn new(
        key_schema: &SchemaRef,
        aggregates: Vec<(Arc<AggregateFunctionExpr>, AccumulatorKind)>,
        ttl_ms: Option<i64>,
    ) -> EngineResult<GroupState> {
        Ok(GroupState {
            keys: KeyTable::new(key_schema)?,
            groups: Vec::new(),
            pending: Vec::new(),
            aggregates,
            ttl_ms,
            expired_on_read: 0,
            track_changes: false,
            dirty: Vec::new(),
            removed_keys: hashbrown::HashSet::new(),
            ids: Vec::new(),
            order: Vec::new(),
        })
    }

    /// Number of keys with state.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Number of keys with changes not yet emitted.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Approximate bytes of state.
    pub fn memory_size(&self) -> usize {
        let accumulators: usize = self
            .groups
            .iter()
            .flatten()
            .map(|g| g.accumulators.iter().map(|a| a.size()).sum::<usize>() + 64)
            .sum();
        accumulators + self.keys.memory_size()
    }

    pub(super) fn new_group(&self, now: i64) -> EngineResult<Group> {
        let mut accumulators = Vec::with_capacity(self.aggregates.len());
        for (aggregate, kind) in &self.aggregates {
            accumulators.push(match kind {
                AccumulatorKind::Plain => aggregate.create_accumulator()?,
                AccumulatorKind::Sliding => aggregate.create_sliding_accumulator()?,
                AccumulatorKind::MinMax { max } => Box::new(RetractableMinMax::new(
                    aggregate.field().data_type().clone(),
                    *max,
                )),
                AccumulatorKind::Distinct { value_type, result } => {
                    Box::new(DistinctValues::new(value_type.clone(), result.clone()))
                }
            });
        }
        Ok(Group {
            rows: 0,
            accumulators,
            last_write: now,
            pending: None,
            dirty: false,
        })
    }

    /// Adds and retracts the rows of a batch; their keys become pending.
    pub fn apply(&mut self, inputs: &BatchInputs, now: i64) -> EngineResult<()> {
        let encoded = self.keys.encode(&inputs.keys)?;
        self.apply_encoded(inputs, encoded.as_ref(), now)
    }

    /// [`GroupState::apply`] with the batch's keys already encoded.
    pub fn apply_encoded(
        &mut self,
        inputs: &BatchInputs,
        encoded: Option<&Rows>,
        now: i64,
    ) -> EngineResult<()> {
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        for row in 0..inputs.rows {
            let key: &[u8] = match encoded {
                Some(rows) => rows.row(row).data(),
                None => &[],
            };
            let retract = inputs.retract.as_ref().is_some_and(|r| r[row]);
            let found = match self.keys.find(key) {
                Some(id) if self.expired(id, now) => {
                    self.remove(id);
                    self.expired_on_read += 1;
                    None
                }
                found => found,
            };
            let id = match found {
                Some(id) => id,
                // Flink ignores a retraction of a key it has no state for (expired).
                None if retract => {
                    ids.push(SKIPPED);
                    continue;
                }
                None => {
                    let id = self.keys.insert(key);
                    let group = self.new_group(now)?;
                    let slot = id as usize;
                    if slot == self.groups.len() {
                        self.groups.push(Some(group));
                    } else {
                        self.groups[slot] = Some(group);
                    }
                    id
                }
            };
            self.touch(id, now)?;
            ids.push(id);
        }
        // Rows ordered by group, accumulations before retractions.
        let sort_key = |row: u32| -> u64 {
            let retract = inputs.retract.as_ref().is_some_and(|r| r[row as usize]);
            (u64::from(ids[row as usize]) << 1) | u64::from(retract)
        };
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend((0..inputs.rows as u32).filter(|&r| ids[r as usize] != SKIPPED));
        order.sort_by_key(|&r| sort_key(r));
        for &row in &order {
            let retract = inputs.retract.as_ref().is_some_and(|r| r[row as usize]);
            let count = inputs
                .partial_rows
                .as_ref()
                .map_or(1, |counts| counts.value(row as usize));
            if let Some(group) = self.groups[ids[row as usize] as usize].as_mut() {
                group.rows += if retract { -count } else { count };
            }
        }
        for (index, args) in inputs.args.iter().enumerate() {
            let selected: Vec<u32> = match &inputs.filters[index] {
                Some(mask) => order
                    .iter()
                    .copied()
                    .filter(|&r| mask.value(r as usize))
                    .collect(),
                None => order.clone(),
            };
            if selected.is_empty() {
                continue;
            }
            let indices = UInt32Array::from(selected.clone());
            let gathered = args
                .iter()
                .map(|a| take(a.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?;
            let mut start = 0;
            while start < selected.len() {
                let run_key = sort_key(selected[start]);
                let mut end = start + 1;
                while end < selected.len() && sort_key(selected[end]) == run_key {
                    end += 1;
                }
                let slices: Vec<ArrayRef> = gathered
                    .iter()
                    .map(|a| a.slice(start, end - start))
                    .collect();
                let id = (run_key >> 1) as usize;
                let Some(group) = self.groups[id].as_mut() else {
                    return Err(EngineError::Internal(format!("group {id} has no state")));
                };
                let accumulator = &mut group.accumulators[index];
                if inputs.partial_rows.is_some() {
                    accumulator.merge_batch(&slices)?;
                } else if run_key & 1 == 1 {
                    accumulator.retract_batch(&slices)?;
                } else {
                    accumulator.update_batch(&slices)?;
                }
                start = end;
            }
        }
        self.ids = ids;
        self.order = order;
        Ok(())
    }

    /// Marks a group as written now; the first write since the last emission records
    /// the result emitted before.
    fn touch(&mut self, id: u32, now: i64) -> EngineResult<()> {
        let Some(group) = self.groups[id as usize].as_mut() else {
            return Err(EngineError::Internal(format!("group {id} has no state")));
        };
        group.last_write = now;
        if self.track_changes && !group.dirty {
            group.dirty = true;
            self.dirty.push(id);
        }
        if group.pending.is_none() {
            let previous = if group.rows > 0 {
                Some(evaluate(group)?)
            } else {
                None
            };
            group.pending = Some(previous);
            self.pending.push(id);
        }
        Ok(())
    }

    /// The changes of the pending keys as one batch of `schema` (keys, aggregate values,
    /// row kind), or `None` when nothing changed. Keys whose rows were all retracted are
    /// removed.
    pub fn emit(&mut self, schema: &SchemaRef) -> EngineResult<Option<RecordBatch>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let mut ids = Vec::new();
        let mut kinds = Vec::new();
        let mut values: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.aggregates.len()];
        let mut removed = Vec::new();
        let mut push = |ids: &mut Vec<u32>, id: u32, kind: RowKind, row: Vec<ScalarValue>| {
            ids.push(id);
            kinds.push(kind as i8);
            for (column, value) in values.iter_mut().zip(row) {
                column.push(value);
            }
        };
        for id in std::mem::take(&mut self.pending) {
            let Some(group) = self.groups[id as usize].as_mut() else {
                continue;
            };
            let previous = group.pending.take().flatten();
            if group.rows <= 0 {
                if let Some(previous) = previous {
                    push(&mut ids, id, RowKind::Delete, previous);
                }
                removed.push(id);
                continue;
            }
            let current = evaluate(group)?;
            match previous {
                None => push(&mut ids, id, RowKind::Insert, current),
                Some(previous) if previous == current && self.ttl_ms.is_none() => {}
                Some(previous) => {
                    push(&mut ids, id, RowKind::UpdateBefore, previous);
                    push(&mut ids, id, RowKind::UpdateAfter, current);
                }
            }
        }
        let batch = if ids.is_empty() {
            None
        } else {
            Some(self.build_batch(schema, &ids, values, kinds)?)
        };
        for id in removed {
            self.remove(id);
        }
        Ok(batch)
    }

    fn build_batch(
        &self,
        schema: &SchemaRef,
        ids: &[u32],
        values: Vec<Vec<ScalarValue>>,
        kinds: Vec<i8>,
    ) -> EngineResult<RecordBatch> {
        let fields = schema.fields();
        let mut columns = self.keys.key_columns(ids)?;
        for column in values {
            columns.push(ScalarValue::iter_to_array(column)?);
        }
        columns.push(Arc::new(Int8Array::from(kinds)));
        if columns.len() != fields.len() {
            return Err(EngineError::Internal(format!(
                "aggregation produced {} columns for a schema of {}",
                columns.len(),
                fields.len()
            )));
        }
        let columns = columns
            .into_iter()
            .zip(fields.iter())
            .map(|(c, f)| cast_to(c, f.data_type()))
            .collect::<EngineResult<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(ids.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &options,
        )?)
    }

    fn remove(&mut self, id: u32) {
        if self.track_changes {
            self.removed_keys.insert(self.keys.key_bytes(id).into());
        }
        self.evict(id);
    }

    /// Drops a group from memory only (the store keeps what was written back).
    pub(super) fn evict(&mut self, id: u32) {
        self.groups[id as usize] = None;
        self.keys.remove(id);
    }

    /// Whether group `id` outlived the state TTL: not written for the TTL, and without
    /// changes waiting to be emitted.
    fn expired(&self, id: u32, now: i64) -> bool {
        let Some(ttl) = self.ttl_ms else {
            return false;
        };
        self.groups[id as usize]
            .as_ref()
            .is_some_and(|g| g.pending.is_none() && g.last_write + ttl <= now)
    }

    /// Keys found expired when read since the last call (for the expiry metric).
    pub fn take_expired_on_read(&mut self) -> usize {
        std::mem::take(&mut self.expired_on_read)
    }

    /// Drops the state of keys not written for `ttl_ms` (and without pending changes),
    /// as Flink's state TTL does: their results are not retracted, and a later row for
    /// the key starts from scratch. Returns the number of keys dropped.
    pub fn expire(&mut self, now: i64, ttl_ms: i64) -> usize {
        let expired: Vec<u32> = self
            .keys
            .live_ids()
            .filter(|&id| {
                self.groups[id as usize]
                    .as_ref()
                    .is_some_and(|g| g.pending.is_none() && g.last_write + ttl_ms <= now)
            })
            .collect();
        for &id in &expired {
            self.remove(id);
        }
        expired.len()
    }
}

fn evaluate(group: &mut Group) -> EngineResult<Vec<ScalarValue>> {
    group
        .accumulators
        .iter_mut()
        .map(|a| a.evaluate().map_err(EngineError::from))
        .collect()
}

fn cast_to(array: ArrayRef, to: &DataType) -> EngineResult<ArrayRef> {
    if array.data_type() == to {
        Ok(array)
    } else {
        Ok(cast(&array, to)?)
    }
}
