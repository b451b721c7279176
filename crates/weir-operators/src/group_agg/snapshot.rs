//! Checkpoint state of an unbounded aggregation subtask.
//!
//! One keyed table, **`groups`**, one row per live key:
//!
//! | column | type | content |
//! |---|---|---|
//! | `__weir_key_group` | UInt16 | the key's key group (as the hash exchange routes it) |
//! | `key_0` .. `key_{n-1}` | the key types | the grouping key |
//! | `rows` | Int64 | accumulated minus retracted rows of the key |
//! | `last_write_ms` | Int64 | processing time of the key's last write (state TTL) |
//! | `agg{i}_{function}_{kind}_{j}` | per function | field `j` of aggregate `i`'s accumulator state |
//!
//! `kind` is `acc` (DataFusion's accumulator over an append-only or partial input),
//! `retract` (DataFusion's retractable accumulator), `minmax` or `distinct` (Weir's
//! value-count accumulators: a list of values and a list of their counts). The state
//! fields are the accumulator's `state()`; a restore merges them into fresh
//! accumulators (`merge_batch`), which is exact for the functions
//! [`AccumulatorKind::checkpoint_refusal`] accepts; for the others the snapshot fails
//! with a message naming the function.
//!
//! The last emitted result of a key is not stored: a snapshot is taken after
//! [`GroupState::emit`] (mini-batch buffers are flushed before the barrier), when every
//! key's last emitted result is its accumulators' current value, which a restore
//! reproduces exactly. A global aggregate (no keys) stores its one group in key group 0:
//! it always runs as one subtask, which owns every key group.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt16Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult};

use super::state::{AccumulatorKind, GroupState, Slot};

/// Name of the keyed table holding the keys and their accumulators.
pub(crate) const GROUPS_TABLE: &str = "groups";

/// Name of the keyed table of an incremental snapshot holding the keys removed since
/// the previous one (key group and key columns; see `weir_state::changelog`).
pub(crate) const REMOVED_TABLE: &str = "groups.removed";

/// Column names of the `groups` table after the key group and keys.
const ROWS_COLUMN: &str = "rows";
const LAST_WRITE_COLUMN: &str = "last_write_ms";

impl GroupState {
    /// Names of the state columns of every aggregate, in table order.
    fn state_column_names(&self) -> Vec<Vec<String>> {
        self.aggregates
            .iter()
            .zip(&self.state_types)
            .enumerate()
            .map(|(i, ((aggregate, kind), types))| {
                let function = aggregate.fun().name().to_ascii_lowercase();
                let tag = match kind {
                    AccumulatorKind::Plain => "acc",
                    AccumulatorKind::Sliding => "retract",
                    AccumulatorKind::MinMax { .. } => "minmax",
                    AccumulatorKind::Distinct { .. } => "distinct",
                };
                (0..types.len())
                    .map(|j| format!("agg{i}_{function}_{tag}_{j}"))
                    .collect()
            })
            .collect()
    }

    /// Names and types of the state columns of the `groups` table, in order (those of
    /// the state of fresh DataFusion accumulators, whichever path keeps the state).
    pub(super) fn state_fields(&self) -> Vec<(String, DataType)> {
        self.state_column_names()
            .into_iter()
            .zip(&self.state_types)
            .flat_map(|(names, types)| names.into_iter().zip(types.iter().cloned()))
            .collect()
    }

    /// Fails when a checkpoint cannot hold some aggregate's state exactly.
    pub fn check_checkpointable(&self) -> EngineResult<()> {
        for (aggregate, kind) in &self.aggregates {
            if let Some(message) = kind.checkpoint_refusal(aggregate) {
                return Err(EngineError::Config(message));
            }
        }
        Ok(())
    }

    /// Fails if the aggregation cannot be checkpointed or still holds unemitted changes
    /// (`prepare_snapshot_pre_barrier` flushes them).
    fn ready_to_snapshot(&self) -> EngineResult<()> {
        self.check_checkpointable()?;
        if !self.pending.is_empty() {
            return Err(EngineError::Internal(
                "an aggregation was snapshotted with unemitted changes \
                 (prepare_snapshot_pre_barrier flushes them)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Adds the `groups` table to `snapshot`: every live key with its row count, last
    /// write and accumulator states. `key_groups` computes the key group column from the
    /// key columns. Nothing is added without keys. Fails while changes are held back.
    pub fn snapshot(
        &mut self,
        snapshot: &mut StateSnapshot,
        key_groups: impl Fn(&[ArrayRef], usize) -> EngineResult<UInt16Array>,
    ) -> EngineResult<()> {
        self.ready_to_snapshot()?;
        let ids: Vec<u32> = self.keys.live_ids().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let keys = self.keys.key_columns(&ids)?;
        let states = self.group_states(&ids)?;
        let key_group = key_groups(&keys, ids.len())?;
        let batch = self.groups_batch(Arc::new(key_group), keys, states)?;
        snapshot
            .add_keyed(GROUPS_TABLE, batch)
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// Adds an incremental snapshot to `snapshot` (see `weir_state::changelog`): the
    /// `groups` rows of the keys written since the previous snapshot, and the
    /// `groups.removed` table of the keys removed since (emptied, or expired by the
    /// state TTL); then starts tracking afresh. The work is proportional to the
    /// changes, not to the keys held.
    pub fn snapshot_changes(
        &mut self,
        snapshot: &mut StateSnapshot,
        key_groups: impl Fn(&[ArrayRef], usize) -> EngineResult<UInt16Array>,
    ) -> EngineResult<()> {
        self.ready_to_snapshot()?;
        let mut ids = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            if let Some(group) = self.groups[id as usize].as_mut() {
                if group.dirty {
                    group.dirty = false;
                    ids.push(id);
                }
            }
        }
        let as_state_error = |e: weir_state::StateError| EngineError::Internal(e.to_string());
        if !ids.is_empty() {
            let keys = self.keys.key_columns(&ids)?;
            let states = self.group_states(&ids)?;
            let key_group = key_groups(&keys, ids.len())?;
            let batch = self.groups_batch(Arc::new(key_group), keys, states)?;
            snapshot
                .add_keyed(GROUPS_TABLE, batch)
                .map_err(as_state_error)?;
        }
        let removed: Vec<Box<[u8]>> = self.removed_keys.drain().collect();
        if !removed.is_empty() {
            let refs: Vec<&[u8]> = removed.iter().map(|k| &**k).collect();
            let keys = self.keys.decode(&refs)?;
            let key_group = key_groups(&keys, refs.len())?;
            let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
            let mut columns: Vec<ArrayRef> = vec![Arc::new(key_group)];
            for (i, key) in keys.into_iter().enumerate() {
                fields.push(Field::new(
                    format!("key_{i}"),
                    key.data_type().clone(),
                    true,
                ));
                columns.push(key);
            }
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
            snapshot
                .add_keyed(REMOVED_TABLE, batch)
                .map_err(as_state_error)?;
        }
        Ok(())
    }

    /// Forgets the changes tracked since the previous snapshot (a full snapshot
    /// holds them all).
    pub fn clear_changes(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            if let Some(group) = self.groups[id as usize].as_mut() {
                group.dirty = false;
            }
        }
        self.removed_keys.clear();
    }

    /// The columns identifying a row of the `groups` table: the key group, then the
    /// keys (for an incremental snapshot's chain).
    pub fn groups_key_columns(key_count: usize) -> Vec<String> {
        let mut columns = vec![KEY_GROUP_COLUMN.to_string()];
        columns.extend((0..key_count).map(|i| format!("key_{i}")));
        columns
    }

    /// The row counts, last writes and accumulator states of groups `ids`.
    pub(super) fn group_states(&mut self, ids: &[u32]) -> EngineResult<GroupStates> {
        let names = self.state_column_names();
        let mut rows = Vec::with_capacity(ids.len());
        let mut last_writes = Vec::with_capacity(ids.len());
        // The per-key accumulators' states, by aggregate: one list of values per field.
        let mut states: Vec<Vec<Vec<ScalarValue>>> = names
            .iter()
            .zip(&self.slots)
            .map(|(n, slot)| match slot {
                Slot::Row(_) => vec![Vec::with_capacity(ids.len()); n.len()],
                Slot::Column(_) => Vec::new(),
            })
            .collect();
        for &id in ids {
            let Some(group) = self.groups[id as usize].as_mut() else {
                return Err(EngineError::Internal(format!("group {id} has no state")));
            };
            rows.push(group.rows);
            last_writes.push(group.last_write);
            for (((aggregate, kind), slot), columns) in self
                .aggregates
                .iter()
                .zip(&self.slots)
                .zip(states.iter_mut())
            {
                let Slot::Row(index) = *slot else {
                    continue;
                };
                let accumulator = &mut group.accumulators[index];
                let mut state = accumulator.state()?;
                if matches!(kind, AccumulatorKind::Sliding) {
                    sliding_sum_residue(aggregate, accumulator.as_mut(), &mut state)?;
                }
                if state.len() != columns.len() {
                    return Err(EngineError::Internal(format!(
                        "aggregate {} has {} state fields, expected {}",
                        aggregate.name(),
                        state.len(),
                        columns.len()
                    )));
                }
                for (column, value) in columns.iter_mut().zip(state) {
                    column.push(value);
                }
            }
        }
        let mut columns = Vec::new();
        for (index, (aggregate_names, aggregate_states)) in
            names.into_iter().zip(states).enumerate()
        {
            let arrays = match self.slots[index] {
                Slot::Row(_) => aggregate_states
                    .into_iter()
                    .map(|values| ScalarValue::iter_to_array(values).map_err(EngineError::from))
                    .collect::<EngineResult<Vec<_>>>()?,
                Slot::Column(c) => self.columns[c].state(ids)?,
            };
            let types = &self.state_types[index];
            if arrays.len() != types.len() {
                return Err(EngineError::Internal(format!(
                    "aggregate {} has {} state columns, expected {}",
                    self.aggregates[index].0.name(),
                    arrays.len(),
                    types.len()
                )));
            }
            for ((name, array), to) in aggregate_names.into_iter().zip(arrays).zip(types) {
                let array = if array.data_type() == to || ids.is_empty() {
                    array
                } else {
                    cast(&array, to)?
                };
                columns.push((name, array));
            }
        }
        Ok(GroupStates {
            rows: Int64Array::from(rows),
            last_writes: Int64Array::from(last_writes),
            columns,
        })
    }

    /// A `groups` table batch (see the module documentation).
    pub(super) fn groups_batch(
        &self,
        key_group: ArrayRef,
        keys: Vec<ArrayRef>,
        states: GroupStates,
    ) -> EngineResult<RecordBatch> {
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        let mut columns: Vec<ArrayRef> = vec![key_group];
        for (i, key) in keys.into_iter().enumerate() {
            fields.push(Field::new(
                format!("key_{i}"),
                key.data_type().clone(),
                true,
            ));
            columns.push(key);
        }
        fields.push(Field::new(ROWS_COLUMN, DataType::Int64, false));
        columns.push(Arc::new(states.rows));
        fields.push(Field::new(LAST_WRITE_COLUMN, DataType::Int64, false));
        columns.push(Arc::new(states.last_writes));
        for (name, array) in states.columns {
            fields.push(Field::new(name, array.data_type().clone(), true));
            columns.push(array);
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
    /// Checks that a `groups` table batch matches this aggregation (see the module
    /// documentation), with `key_types` the key columns' types, and splits it into key
    /// columns and group states.
    pub(super) fn split_groups_batch(
        &self,
        batch: &RecordBatch,
        key_types: &[DataType],
    ) -> EngineResult<(Vec<ArrayRef>, GroupStates)> {
        let names = self.state_column_names();
        let mut expected: Vec<String> = vec![KEY_GROUP_COLUMN.to_string()];
        expected.extend((0..key_types.len()).map(|i| format!("key_{i}")));
        expected.push(ROWS_COLUMN.into());
        expected.push(LAST_WRITE_COLUMN.into());
        expected.extend(names.iter().flatten().cloned());
        let schema = batch.schema();
        let found: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let key_types_found: Vec<&DataType> = schema
            .fields()
            .iter()
            .skip(1)
            .take(key_types.len())
            .map(|f| f.data_type())
            .collect();
        if found != expected || key_types_found != key_types.iter().collect::<Vec<_>>() {
            return Err(EngineError::Config(format!(
                "the checkpoint's aggregation state does not match this aggregation \
                 (the job's SQL changed since the checkpoint was taken): it has columns [{}], \
                 this aggregation keeps [{}]",
                describe(&schema),
                expected.join(", ")
            )));
        }
        let keys: Vec<ArrayRef> = batch.columns()[1..1 + key_types.len()].to_vec();
        let int64 = |i: usize| {
            batch
                .column(i)
                .as_primitive_opt::<Int64Type>()
                .cloned()
                .ok_or_else(|| {
                    EngineError::Config(format!(
                        "the checkpoint's aggregation column {} is not BIGINT",
                        schema.field(i).name()
                    ))
                })
        };
        let states = GroupStates {
            rows: int64(1 + key_types.len())?,
            last_writes: int64(2 + key_types.len())?,
            columns: schema
                .fields()
                .iter()
                .zip(batch.columns())
                .skip(3 + key_types.len())
                .map(|(f, c)| (f.name().clone(), Arc::clone(c)))
                .collect(),
        };
        Ok((keys, states))
    }

    /// Restores the keys of a `groups` table batch (see the module documentation),
    /// with `key_types` the key columns' types.
    pub fn restore(&mut self, batch: &RecordBatch, key_types: &[DataType]) -> EngineResult<()> {
        let (keys, states) = self.split_groups_batch(batch, key_types)?;
        let encoded = self.keys.encode(&keys)?;
        let keys: Vec<&[u8]> = (0..batch.num_rows())
            .map(|row| match &encoded {
                Some(encoded) => encoded.row(row).data(),
                None => &[],
            })
            .collect();
        self.insert_groups(&keys, &states)
    }

    /// Adds groups for encoded `keys` (none of them in memory) from their `states`.
    pub(super) fn insert_groups(
        &mut self,
        keys: &[&[u8]],
        states: &GroupStates,
    ) -> EngineResult<()> {
        let widths: Vec<usize> = self.state_types.iter().map(Vec::len).collect();
        let mut next = 0;
        let state_columns: Vec<Vec<ArrayRef>> = widths
            .iter()
            .map(|&width| {
                let columns = states
                    .columns
                    .get(next..next + width)
                    .map(|c| c.iter().map(|(_, c)| Arc::clone(c)).collect())
                    .unwrap_or_default();
                next += width;
                columns
            })
            .collect();
        if next != states.columns.len() {
            return Err(EngineError::Internal(format!(
                "{} aggregation state columns, expected {next}",
                states.columns.len()
            )));
        }
        let mut ids = Vec::with_capacity(keys.len());
        for (row, &key) in keys.iter().enumerate() {
            if self.keys.find(key).is_some() {
                return Err(EngineError::Internal(
                    "the restored state holds one aggregation key twice".into(),
                ));
            }
            let mut group = self.new_group(states.last_writes.value(row))?;
            group.rows = states.rows.value(row);
            for (slot, columns) in self.slots.iter().zip(&state_columns) {
                if let Slot::Row(index) = *slot {
                    let slices: Vec<ArrayRef> = columns.iter().map(|c| c.slice(row, 1)).collect();
                    group.accumulators[index].merge_batch(&slices)?;
                }
            }
            let id = self.keys.insert(key);
            self.install(id, group);
            ids.push(id);
        }
        for (slot, columns) in self.slots.iter().zip(&state_columns) {
            if let Slot::Column(c) = *slot {
                self.columns[c].restore(&ids, columns)?;
            }
        }
        Ok(())
    }
}

/// Row counts, last writes and accumulator states of some groups, as columns: the
/// `groups` table without its keys.
pub(super) struct GroupStates {
    pub rows: Int64Array,
    pub last_writes: Int64Array,
    /// Each state column with its name in the `groups` table.
    pub columns: Vec<(String, ArrayRef)>,
}

/// DataFusion's retractable `SUM` reports no sum when it counts no non-null value, but
/// in floating point its running sum may then hold a rounding residue that later sums
/// include. Adding and retracting a zero (both exact) reads that residue into the state.
pub(crate) fn sliding_sum_residue(
    aggregate: &datafusion::physical_expr::aggregate::AggregateFunctionExpr,
    accumulator: &mut dyn datafusion::logical_expr::Accumulator,
    state: &mut [ScalarValue],
) -> EngineResult<()> {
    let data_type = aggregate.field().data_type().clone();
    let is_float = matches!(
        data_type,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    );
    if !is_float || !aggregate.fun().name().eq_ignore_ascii_case("sum") || state.len() != 2 {
        return Ok(());
    }
    if state[1] != ScalarValue::UInt64(Some(0)) {
        return Ok(());
    }
    let zero = ScalarValue::new_zero(&data_type)?.to_array()?;
    accumulator.update_batch(std::slice::from_ref(&zero))?;
    let probed = accumulator.state()?;
    accumulator.retract_batch(std::slice::from_ref(&zero))?;
    if let Some(sum) = probed.into_iter().next() {
        state[0] = sum;
    }
    Ok(())
}

fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}
