//! The state of one unbounded aggregation subtask: per key, a row counter and the
//! state of each aggregate; the keys changed since the last emission with the result
//! they had before; and when each key was last written (for state TTL).
//!
//! An aggregate's state is either columnar ([`super::columnar`]: one column per
//! aggregate, indexed by group id, for the common aggregates) or one DataFusion
//! accumulator per key (the others). Rows are applied batch-wise. Columnar aggregates
//! take the whole batch with the group id of each row. For the per-key accumulators
//! the batch's rows are ordered by (group, accumulate or retract), each argument
//! column is gathered once in that order, and each group's run is handed to its
//! accumulator as a zero-copy slice.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::Rows;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use weir_types::{EngineError, EngineResult};

use super::columnar::{self, ColumnAggregate, ColumnRows, SKIPPED};
use super::distinct::DistinctValues;
use super::keys::KeyTable;
pub(crate) use super::kind::AccumulatorKind;
use super::retract::RetractableMinMax;

/// One key's state.
pub(super) struct Group {
    /// Accumulated minus retracted rows; the key is removed when it reaches 0.
    pub(super) rows: i64,
    /// The per-key accumulators of the aggregates without columnar state, in order.
    pub(super) accumulators: Vec<Box<dyn Accumulator>>,
    /// Processing time of the last write, in milliseconds.
    pub(super) last_write: i64,
    /// Set while the key has changes not yet emitted: the result emitted before them
    /// (`None` when nothing was emitted for the key).
    pub(super) pending: Option<Option<Previous>>,
    /// Written since it was last written back to the RocksDB store.
    pub(super) dirty: bool,
}

/// The result a key had before its pending changes.
pub(super) struct Previous {
    /// The values of the per-key accumulators.
    pub(super) row: Vec<ScalarValue>,
    /// Where the columnar aggregates' values are: a chunk of [`GroupState::previous`]
    /// and the row in it.
    pub(super) chunk: u32,
    pub(super) index: u32,
}

/// Where an aggregate's state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// [`Group::accumulators`]`[i]`.
    Row(usize),
    /// [`GroupState::columns`]`[i]`.
    Column(usize),
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
    /// Where each aggregate's state lives.
    pub(super) slots: Vec<Slot>,
    /// The columnar aggregates' states.
    pub(super) columns: Vec<Box<dyn ColumnAggregate>>,
    /// The types of each aggregate's state columns (those of DataFusion's accumulator).
    pub(super) state_types: Vec<Vec<DataType>>,
    /// The columnar aggregates' results before the pending changes, one chunk per
    /// batch that made keys pending (see [`Previous`]), until the next emission.
    pub(super) previous: Vec<Vec<ArrayRef>>,
    /// Keys made pending by the batch being applied, whose previous results are due.
    fresh: Vec<u32>,
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
    /// Empty state for keys of `key_schema` and the given aggregates; `columnar`
    /// lets the aggregates that have one keep columnar state (not for partial input).
    pub fn new(
        key_schema: &SchemaRef,
        aggregates: Vec<(Arc<AggregateFunctionExpr>, AccumulatorKind)>,
        ttl_ms: Option<i64>,
        columnar: bool,
    ) -> EngineResult<GroupState> {
        let mut slots = Vec::with_capacity(aggregates.len());
        let mut columns = Vec::new();
        let mut state_types = Vec::with_capacity(aggregates.len());
        let mut rows = 0;
        for (aggregate, kind) in &aggregates {
            let mut probe = fresh_accumulator(aggregate, kind)?;
            state_types.push(probe.state()?.iter().map(ScalarValue::data_type).collect());
            match columnar::choose(aggregate, kind, !columnar || per_key_only()) {
                Some(column) => {
                    slots.push(Slot::Column(columns.len()));
                    columns.push(column);
                }
                None => {
                    slots.push(Slot::Row(rows));
                    rows += 1;
                }
            }
        }
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
            slots,
            columns,
            state_types,
            previous: Vec::new(),
            fresh: Vec::new(),
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
        let columns: usize = self.columns.iter().map(|c| c.size()).sum();
        accumulators + columns + self.keys.memory_size()
    }

    /// A new group: its per-key accumulators (its columnar state is empty already).
    pub(super) fn new_group(&self, now: i64) -> EngineResult<Group> {
        let mut accumulators = Vec::new();
        for ((aggregate, kind), slot) in self.aggregates.iter().zip(&self.slots) {
            if let Slot::Row(_) = slot {
                accumulators.push(fresh_accumulator(aggregate, kind)?);
            }
        }
        Ok(Group {
            rows: 0,
            accumulators,
            last_write: now,
            pending: None,
            dirty: false,
        })
    }

    /// Puts `group` in slot `id` (just handed out by the key table).
    pub(super) fn install(&mut self, id: u32, group: Group) {
        let slot = id as usize;
        if slot == self.groups.len() {
            self.groups.push(Some(group));
        } else {
            self.groups[slot] = Some(group);
        }
        for column in &mut self.columns {
            column.grow(slot + 1);
        }
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
                    self.install(id, group);
                    id
                }
            };
            self.touch(id, now)?;
            ids.push(id);
        }
        self.capture_previous()?;
        for (row, &id) in ids.iter().enumerate() {
            if id == SKIPPED {
                continue;
            }
            let retract = inputs.retract.as_ref().is_some_and(|r| r[row]);
            let count = inputs.partial_rows.as_ref().map_or(1, |c| c.value(row));
            if let Some(group) = self.groups[id as usize].as_mut() {
                group.rows += if retract { -count } else { count };
            }
        }
        for (index, slot) in self.slots.iter().enumerate() {
            if let Slot::Column(c) = *slot {
                self.columns[c].update(&ColumnRows {
                    args: &inputs.args[index],
                    ids: &ids,
                    filter: inputs.filters[index].as_ref(),
                    retract: inputs.retract.as_deref(),
                })?;
            }
        }
        if self.slots.iter().any(|s| matches!(s, Slot::Row(_))) {
            self.apply_rows(inputs, &ids)?;
        }
        self.ids = ids;
        Ok(())
    }

    /// Applies a batch to the per-key accumulators, `ids` being each row's group.
    fn apply_rows(&mut self, inputs: &BatchInputs, ids: &[u32]) -> EngineResult<()> {
        // Rows ordered by group, accumulations before retractions.
        let sort_key = |row: u32| -> u64 {
            let retract = inputs.retract.as_ref().is_some_and(|r| r[row as usize]);
            (u64::from(ids[row as usize]) << 1) | u64::from(retract)
        };
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend((0..inputs.rows as u32).filter(|&r| ids[r as usize] != SKIPPED));
        order.sort_by_key(|&r| sort_key(r));
        for (index, args) in inputs.args.iter().enumerate() {
            let Slot::Row(slot) = self.slots[index] else {
                continue;
            };
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
                let accumulator = &mut group.accumulators[slot];
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
        self.order = order;
        Ok(())
    }

    /// Marks a group as written now; the first write since the last emission records
    /// the result emitted before (the columnar aggregates' part in
    /// [`GroupState::capture_previous`], before the batch is applied).
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
                let row = evaluate_rows(group)?;
                let index = self.fresh.len() as u32;
                self.fresh.push(id);
                Some(Previous {
                    row,
                    chunk: self.previous.len() as u32,
                    index,
                })
            } else {
                None
            };
            group.pending = Some(previous);
            self.pending.push(id);
        }
        Ok(())
    }

    /// Evaluates the columnar aggregates of the keys the batch made pending (their
    /// results before it) into a chunk of [`GroupState::previous`].
    fn capture_previous(&mut self) -> EngineResult<()> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let fresh = std::mem::take(&mut self.fresh);
        let chunk = self
            .columns
            .iter_mut()
            .map(|c| c.evaluate(&fresh))
            .collect::<EngineResult<Vec<_>>>()?;
        self.previous.push(chunk);
        self.fresh = fresh;
        self.fresh.clear();
        Ok(())
    }

    pub(super) fn remove(&mut self, id: u32) {
        if self.track_changes {
            self.removed_keys.insert(self.keys.key_bytes(id).into());
        }
        self.evict(id);
    }

    /// Drops a group from memory only (the store keeps what was written back).
    pub(super) fn evict(&mut self, id: u32) {
        self.groups[id as usize] = None;
        for column in &mut self.columns {
            column.clear(id);
        }
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

    /// Whether a result that did not change is emitted again (with state TTL).
    pub(super) fn emits_unchanged(&self) -> bool {
        self.ttl_ms.is_some()
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

/// The current values of a group's per-key accumulators.
pub(super) fn evaluate_rows(group: &mut Group) -> EngineResult<Vec<ScalarValue>> {
    group
        .accumulators
        .iter_mut()
        .map(|a| a.evaluate().map_err(EngineError::from))
        .collect()
}

#[cfg(test)]
thread_local! {
    /// Tests: aggregations created on this thread keep every aggregate per key (to
    /// compare the columnar path with the per-key one).
    pub(super) static PER_KEY_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn per_key_only() -> bool {
    PER_KEY_ONLY.with(|p| p.get())
}

#[cfg(not(test))]
fn per_key_only() -> bool {
    false
}

/// A fresh DataFusion (or Weir) accumulator for `aggregate` of `kind`.
pub(super) fn fresh_accumulator(
    aggregate: &AggregateFunctionExpr,
    kind: &AccumulatorKind,
) -> EngineResult<Box<dyn Accumulator>> {
    Ok(match kind {
        AccumulatorKind::Plain => aggregate.create_accumulator()?,
        AccumulatorKind::Sliding => aggregate.create_sliding_accumulator()?,
        AccumulatorKind::MinMax { max } => Box::new(RetractableMinMax::new(
            aggregate.field().data_type().clone(),
            *max,
        )),
        AccumulatorKind::Distinct { value_type, result } => {
            Box::new(DistinctValues::new(value_type.clone(), result.clone()))
        }
    })
}
