//! The snapshot of one operator subtask: a list of named Arrow tables.
//!
//! Every stateful operator snapshots through this one mechanism. A table is either
//! *keyed* (each row carries its key group in [`KEY_GROUP_COLUMN`], and on restore a
//! subtask receives the rows of the key groups it owns) or *union* (on restore every
//! subtask receives all old subtasks' rows and picks what it owns: source positions per
//! split, a sink's pending files).

use std::ops::Range;

use arrow::array::{Array, ArrayRef, BooleanArray, UInt16Array, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::changelog::ChangelogSnapshot;
use crate::error::{StateError, StateResult};
use crate::native::NativeState;

/// Name of the key group column every keyed table carries (`UInt16` or `UInt32`, no
/// nulls). Compute it with `weir_types::keygroup::key_group_of_hash`.
pub const KEY_GROUP_COLUMN: &str = "__weir_key_group";

/// How a table's rows are redistributed on restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// Rows go to the subtask owning their key group.
    Keyed,
    /// Every subtask receives every old subtask's rows.
    Union,
}

/// One named table of a snapshot: a schema and its batches.
#[derive(Debug, Clone)]
pub struct StateTable {
    name: String,
    kind: TableKind,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl StateTable {
    /// An empty table; add rows with [`StateTable::push`]. A keyed table's schema must
    /// have a non-nullable-in-practice `UInt16`/`UInt32` [`KEY_GROUP_COLUMN`].
    pub fn new(name: impl Into<String>, kind: TableKind, schema: SchemaRef) -> StateResult<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(StateError::InvalidSnapshot("a table needs a name".into()));
        }
        if kind == TableKind::Keyed {
            key_group_column_index(&name, &schema)?;
        }
        Ok(StateTable {
            name,
            kind,
            schema,
            batches: Vec::new(),
        })
    }

    /// Appends a batch; its schema must equal the table's, and a keyed table's key
    /// group column must have no nulls.
    pub fn push(&mut self, batch: RecordBatch) -> StateResult<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(StateError::InvalidSnapshot(format!(
                "table {:?}: batch schema {:?} differs from the table's {:?}",
                self.name,
                batch.schema().fields(),
                self.schema.fields()
            )));
        }
        if self.kind == TableKind::Keyed {
            let index = key_group_column_index(&self.name, &self.schema)?;
            if batch.column(index).null_count() > 0 {
                return Err(StateError::InvalidSnapshot(format!(
                    "keyed table {:?} has rows without a key group",
                    self.name
                )));
            }
        }
        if batch.num_rows() > 0 {
            self.batches.push(batch);
        }
        Ok(())
    }

    /// The table's name, unique within a snapshot.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keyed or union.
    pub fn kind(&self) -> TableKind {
        self.kind
    }

    /// The table's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The table's batches (none of them empty).
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Takes the batches out.
    pub fn into_batches(self) -> Vec<RecordBatch> {
        self.batches
    }

    /// Number of rows over all batches.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// All rows as one batch (copies).
    pub fn concat(&self) -> StateResult<RecordBatch> {
        concat_batches(&self.schema, &self.batches)
            .map_err(|e| StateError::arrow(format!("concatenating table {:?}", self.name), e))
    }

    /// Smallest and largest key group of a keyed table with rows.
    pub(crate) fn key_group_bounds(&self) -> StateResult<Option<(u32, u32)>> {
        let index = key_group_column_index(&self.name, &self.schema)?;
        let mut bounds: Option<(u32, u32)> = None;
        for batch in &self.batches {
            if let Some((lo, hi)) = column_bounds(batch.column(index)) {
                bounds = Some(match bounds {
                    None => (lo, hi),
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                });
            }
        }
        Ok(bounds)
    }
}

/// The state of one operator subtask: tables with distinct names, and the native
/// state of an embedded store (see [`crate::native`]): on snapshot at most one, on
/// restore one per old subtask whose key groups overlap. A snapshot of an incremental
/// in-memory chain (see [`crate::changelog`]) carries where its tables go in it.
#[derive(Debug, Clone, Default)]
pub struct StateSnapshot {
    tables: Vec<StateTable>,
    native: Vec<NativeState>,
    changelog: Option<ChangelogSnapshot>,
}

impl StateSnapshot {
    /// An empty snapshot (a stateless subtask, or a fresh start).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds rows to the keyed table `name`, creating it with the batch's schema.
    pub fn add_keyed(&mut self, name: &str, batch: RecordBatch) -> StateResult<()> {
        self.add(name, TableKind::Keyed, batch)
    }

    /// Adds rows to the union table `name`, creating it with the batch's schema.
    pub fn add_union(&mut self, name: &str, batch: RecordBatch) -> StateResult<()> {
        self.add(name, TableKind::Union, batch)
    }

    fn add(&mut self, name: &str, kind: TableKind, batch: RecordBatch) -> StateResult<()> {
        if let Some(table) = self.tables.iter_mut().find(|t| t.name == name) {
            if table.kind != kind {
                return Err(StateError::InvalidSnapshot(format!(
                    "table {name:?} is both {:?} and {kind:?}",
                    table.kind
                )));
            }
            return table.push(batch);
        }
        let mut table = StateTable::new(name, kind, batch.schema())?;
        table.push(batch)?;
        self.tables.push(table);
        Ok(())
    }

    /// Adds a whole table; its name must be new in this snapshot.
    pub fn push_table(&mut self, table: StateTable) -> StateResult<()> {
        if self.table(&table.name).is_some() {
            return Err(StateError::InvalidSnapshot(format!(
                "two tables named {:?}",
                table.name
            )));
        }
        self.tables.push(table);
        Ok(())
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&StateTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// All tables, in the order they were added.
    pub fn tables(&self) -> &[StateTable] {
        &self.tables
    }

    /// Takes the tables out.
    pub fn into_tables(self) -> Vec<StateTable> {
        self.tables
    }

    /// Adds native state (an embedded store's files).
    pub fn add_native(&mut self, state: NativeState) {
        self.native.push(state);
    }

    /// The native states.
    pub fn native(&self) -> &[NativeState] {
        &self.native
    }

    /// Takes the native states out.
    pub fn take_native(&mut self) -> Vec<NativeState> {
        std::mem::take(&mut self.native)
    }

    /// Makes the tables part of an incremental chain (see [`crate::changelog`]).
    pub fn set_changelog(&mut self, changelog: ChangelogSnapshot) {
        self.changelog = Some(changelog);
    }

    /// The chain the tables belong to, for an incremental in-memory snapshot.
    pub fn changelog(&self) -> Option<&ChangelogSnapshot> {
        self.changelog.as_ref()
    }

    /// True when no table has a row and there is no native state nor chain: such a
    /// snapshot is stored as no file at all.
    pub fn is_empty(&self) -> bool {
        self.native.is_empty()
            && self.changelog.is_none()
            && self.tables.iter().all(|t| t.num_rows() == 0)
    }

    /// Rows over all tables.
    pub fn num_rows(&self) -> usize {
        self.tables.iter().map(StateTable::num_rows).sum()
    }
}

/// The state subtask `subtask` of `parallelism` receives from the snapshots of every old
/// subtask (`old[i]` from old subtask `i`), in memory: what
/// [`crate::CompletedCheckpoint::restore`] does with stored files. Keyed tables keep
/// the rows of the key groups the subtask owns, union tables all rows in old-subtask
/// order; tables left with no rows are absent. Used to restart in-process and by tests
/// of operators' snapshots at another parallelism.
pub fn redistribute(
    old: &[StateSnapshot],
    subtask: usize,
    parallelism: usize,
    max_parallelism: usize,
) -> StateResult<StateSnapshot> {
    let range = weir_types::keygroup::key_group_range(subtask, max_parallelism, parallelism);
    let mut tables: Vec<StateTable> = Vec::new();
    for snapshot in old {
        for table in snapshot.tables() {
            let position = match tables.iter().position(|t| t.name == table.name) {
                Some(i) => i,
                None => {
                    tables.push(StateTable::new(
                        table.name.clone(),
                        table.kind,
                        table.schema.clone(),
                    )?);
                    tables.len() - 1
                }
            };
            if tables[position].kind != table.kind {
                return Err(StateError::InvalidSnapshot(format!(
                    "table {:?} is keyed in one snapshot and union in another",
                    table.name
                )));
            }
            for batch in table.batches() {
                let batch = match table.kind {
                    TableKind::Keyed => {
                        filter_key_groups(&table.name, batch, &range, max_parallelism)?
                    }
                    TableKind::Union => batch.clone(),
                };
                tables[position].push(batch)?;
            }
        }
    }
    let mut snapshot = StateSnapshot::new();
    for table in tables.into_iter().filter(|t| t.num_rows() > 0) {
        snapshot.push_table(table)?;
    }
    Ok(snapshot)
}

/// Index of the key group column of a keyed table, checking its type.
pub(crate) fn key_group_column_index(table: &str, schema: &SchemaRef) -> StateResult<usize> {
    let index = schema.index_of(KEY_GROUP_COLUMN).map_err(|_| {
        StateError::InvalidSnapshot(format!(
            "keyed table {table:?} has no {KEY_GROUP_COLUMN} column"
        ))
    })?;
    match schema.field(index).data_type() {
        DataType::UInt16 | DataType::UInt32 => Ok(index),
        other => Err(StateError::InvalidSnapshot(format!(
            "keyed table {table:?}: {KEY_GROUP_COLUMN} is {other}, expected UInt16 or UInt32"
        ))),
    }
}

fn column_bounds(column: &ArrayRef) -> Option<(u32, u32)> {
    if let Some(a) = column.as_any().downcast_ref::<UInt16Array>() {
        let lo = arrow::compute::min(a)?;
        let hi = arrow::compute::max(a)?;
        return Some((u32::from(lo), u32::from(hi)));
    }
    let a = column.as_any().downcast_ref::<UInt32Array>()?;
    Some((arrow::compute::min(a)?, arrow::compute::max(a)?))
}

/// Keeps the rows of `batch` whose key group lies in `range`. Errors on a key group
/// at or beyond `max_parallelism` (state no subtask would own).
pub(crate) fn filter_key_groups(
    table: &str,
    batch: &RecordBatch,
    range: &Range<usize>,
    max_parallelism: usize,
) -> StateResult<RecordBatch> {
    let index = key_group_column_index(table, &batch.schema())?;
    let column = batch.column(index);
    let Some((lo, hi)) = column_bounds(column) else {
        return Ok(batch.clone());
    };
    if hi as usize >= max_parallelism {
        return Err(StateError::InvalidSnapshot(format!(
            "keyed table {table:?} has key group {hi}, but max parallelism is {max_parallelism}"
        )));
    }
    if range.contains(&(lo as usize)) && range.contains(&(hi as usize)) {
        return Ok(batch.clone());
    }
    let keep = |kg: u32| range.contains(&(kg as usize));
    let mask = if let Some(a) = column.as_any().downcast_ref::<UInt16Array>() {
        let values = a.values();
        BooleanBuffer::collect_bool(a.len(), |i| keep(u32::from(values[i])))
    } else if let Some(a) = column.as_any().downcast_ref::<UInt32Array>() {
        let values = a.values();
        BooleanBuffer::collect_bool(a.len(), |i| keep(values[i]))
    } else {
        return Err(StateError::InvalidSnapshot(format!(
            "keyed table {table:?}: {KEY_GROUP_COLUMN} is not UInt16 or UInt32"
        )));
    };
    filter_record_batch(batch, &BooleanArray::new(mask, None))
        .map_err(|e| StateError::arrow(format!("filtering keyed table {table:?}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn keyed(kgs: &[u16]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let values: Vec<i64> = kgs.iter().map(|k| i64::from(*k) * 10).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(UInt16Array::from(kgs.to_vec())),
                Arc::new(Int64Array::from(values)),
            ],
        )
        .expect("valid batch")
    }

    #[test]
    fn keyed_table_needs_a_key_group_column_of_an_unsigned_type() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1]))])
            .expect("valid batch");
        let mut snapshot = StateSnapshot::new();
        let err = snapshot.add_keyed("t", batch.clone()).unwrap_err();
        assert!(
            err.to_string().contains("no __weir_key_group column"),
            "{err}"
        );
        snapshot
            .add_union("t", batch)
            .expect("union tables need no key group");
        let err = snapshot.add_keyed("t", keyed(&[1])).unwrap_err();
        assert!(err.to_string().contains("is both"), "{err}");

        let schema = Arc::new(Schema::new(vec![Field::new(
            KEY_GROUP_COLUMN,
            DataType::Int64,
            false,
        )]));
        let err = StateTable::new("x", TableKind::Keyed, schema).unwrap_err();
        assert!(
            err.to_string().contains("expected UInt16 or UInt32"),
            "{err}"
        );
    }

    #[test]
    fn batches_of_one_table_share_a_schema_and_empty_ones_are_dropped() {
        let mut snapshot = StateSnapshot::new();
        snapshot
            .add_keyed("t", keyed(&[1, 2]))
            .expect("first batch");
        snapshot.add_keyed("t", keyed(&[])).expect("empty batch");
        snapshot.add_keyed("t", keyed(&[3])).expect("second batch");
        let table = snapshot.table("t").expect("table t");
        assert_eq!(table.batches().len(), 2);
        assert_eq!(table.num_rows(), 3);
        assert_eq!(table.key_group_bounds().expect("bounds"), Some((1, 3)));

        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                KEY_GROUP_COLUMN,
                DataType::UInt16,
                false,
            )])),
            vec![Arc::new(UInt16Array::from(vec![1u16]))],
        )
        .expect("valid batch");
        let err = snapshot.add_keyed("t", other).unwrap_err();
        assert!(err.to_string().contains("differs"), "{err}");
        assert!(StateSnapshot::new().is_empty());
        assert!(!snapshot.is_empty());
    }

    #[test]
    fn redistribute_splits_keyed_rows_by_owner_and_copies_union_rows() {
        let mut a = StateSnapshot::new();
        a.add_keyed("k", keyed(&[0, 7, 8])).unwrap();
        let union = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .unwrap();
        a.add_union("u", union.clone()).unwrap();
        let mut b = StateSnapshot::new();
        b.add_keyed("k", keyed(&[15, 3])).unwrap();
        b.add_union("u", union).unwrap();
        let old = [a, b];
        let first = redistribute(&old, 0, 2, 16).unwrap();
        let second = redistribute(&old, 1, 2, 16).unwrap();
        assert_eq!(first.table("k").unwrap().num_rows(), 3, "groups 0, 7, 3");
        assert_eq!(second.table("k").unwrap().num_rows(), 2, "groups 8, 15");
        assert_eq!(first.table("u").unwrap().num_rows(), 2);
        assert_eq!(second.table("u").unwrap().num_rows(), 2);
        let only = redistribute(&old, 0, 1, 16).unwrap();
        assert_eq!(only.num_rows(), 7);
    }

    #[test]
    fn filter_keeps_exactly_the_rows_in_range_and_rejects_out_of_range_groups() {
        let batch = keyed(&[0, 5, 9, 10, 3, 11]);
        let kept = filter_key_groups("t", &batch, &(3..10), 12).expect("filter");
        let kgs = kept
            .column(0)
            .as_any()
            .downcast_ref::<UInt16Array>()
            .expect("u16")
            .values()
            .to_vec();
        assert_eq!(kgs, vec![5, 9, 3]);
        let all = filter_key_groups("t", &batch, &(0..12), 12).expect("filter");
        assert_eq!(all.num_rows(), 6);
        let err = filter_key_groups("t", &batch, &(0..4), 11).unwrap_err();
        assert!(err.to_string().contains("key group 11"), "{err}");
    }
}
