//! Checkpoint state of a regular join subtask.
//!
//! Two keyed tables, **`left_rows`** and **`right_rows`**, one row per stored row of
//! that side (a row that arrived twice is two rows):
//!
//! | column | type | content |
//! |---|---|---|
//! | `__weir_key_group` | UInt16 | key group of the row's join key (as the hash exchange routes it) |
//! | the side's columns | the input's types | the row (computed key columns included) |
//! | `__weir_matches` | UInt32 | rows of the other side it joins with (outer sides; else 0) |
//! | `__weir_last_write_ms` | Int64 | processing time of its last write (state TTL) |
//!
//! With the RocksDB backend, checkpoints are the store's files instead and savepoints
//! these tables, scanned from the store ([`super::store`]).
//!
//! A restore re-encodes keys and rows from the stored columns, in stored order. Rows
//! with a NULL key are never stored (they cannot match), so every stored row has a key
//! group its key routes to.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, UInt32Type};
use arrow::record_batch::RecordBatch;
use weir_runtime::partition::key_groups;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult};

use super::state::Stored;
use super::JoinOperator;

/// Names of the keyed tables of the left and the right side.
const TABLES: [&str; 2] = ["left_rows", "right_rows"];
const MATCHES_COLUMN: &str = "__weir_matches";
const LAST_WRITE_COLUMN: &str = "__weir_last_write_ms";

impl JoinOperator {
    /// The schema of side `side`'s table.
    fn table_schema(&self, side: usize) -> Arc<Schema> {
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        fields.extend(
            self.def
                .side(side)
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        fields.push(Field::new(MATCHES_COLUMN, DataType::UInt32, false));
        fields.push(Field::new(LAST_WRITE_COLUMN, DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }

    /// Every stored row of both sides.
    pub(super) fn snapshot(&self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        for side in 0..2 {
            let stored: Vec<&Stored> = self.sides[side].table.values().flatten().collect();
            self.add_rows(&mut snapshot, side, &stored)?;
        }
        Ok(snapshot)
    }

    /// The same tables from the RocksDB store (a savepoint, which either backend
    /// restores).
    pub(super) fn canonical_snapshot(&mut self) -> EngineResult<StateSnapshot> {
        let Some(store) = &self.store else {
            return self.snapshot();
        };
        store.write_back(&mut self.sides)?;
        let mut snapshot = StateSnapshot::new();
        store.scan(|side, rows| {
            let stored: Vec<&Stored> = rows.iter().collect();
            self.add_rows(&mut snapshot, side, &stored)
        })?;
        Ok(snapshot)
    }

    /// Adds `stored` rows of side `side` to its table in `snapshot`.
    fn add_rows(
        &self,
        snapshot: &mut StateSnapshot,
        side: usize,
        stored: &[&Stored],
    ) -> EngineResult<()> {
        if stored.is_empty() {
            return Ok(());
        }
        let state = &self.sides[side];
        let parser = state.rows.parser();
        let data = state
            .rows
            .convert_rows(stored.iter().map(|s| parser.parse(&s.row)))?;
        let keys: Vec<ArrayRef> = self
            .def
            .side(side)
            .keys
            .iter()
            .map(|&k| Arc::clone(&data[k]))
            .collect();
        let groups = key_groups(&keys, self.max_parallelism)?;
        let mut columns: Vec<ArrayRef> = vec![Arc::new(groups)];
        columns.extend(data);
        columns.push(Arc::new(UInt32Array::from_iter_values(
            stored.iter().map(|s| s.matches),
        )));
        columns.push(Arc::new(Int64Array::from_iter_values(
            stored.iter().map(|s| s.last_write),
        )));
        let batch = RecordBatch::try_new(self.table_schema(side), columns)?;
        snapshot
            .add_keyed(TABLES[side], batch)
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// Rebuilds both sides from their tables.
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        for table in snapshot.into_tables() {
            let side = TABLES.iter().position(|&t| t == table.name());
            let expected = side.map(|s| self.table_schema(s));
            let same = expected.as_ref().is_some_and(|expected| {
                table.schema().fields().len() == expected.fields().len()
                    && table
                        .schema()
                        .fields()
                        .iter()
                        .zip(expected.fields())
                        .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
            });
            let (Some(side), true) = (side, same) else {
                return Err(EngineError::Config(format!(
                    "the checkpoint's join state (table {:?} with columns {:?}) does not match \
                     this join of columns {:?} and {:?}; the job's SQL changed since the \
                     checkpoint was taken",
                    table.name(),
                    table
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>(),
                    column_names(&self.def.left.schema),
                    column_names(&self.def.right.schema),
                )));
            };
            for batch in table.batches() {
                self.restore_batch(side, batch)?;
                // With RocksDB, restored rows go to the store as memory fills.
                if let Some(store) = &self.store {
                    if store.over_limit(&self.sides) {
                        store.spill(&mut self.sides)?;
                    }
                }
            }
        }
        if let Some(store) = &self.store {
            store.write_back(&mut self.sides)?;
        }
        Ok(())
    }

    fn restore_batch(&mut self, side: usize, batch: &RecordBatch) -> EngineResult<()> {
        let def = Arc::clone(&self.def);
        let width = def.side(side).schema.fields().len();
        let data = &batch.columns()[1..1 + width];
        let keys: Vec<ArrayRef> = def
            .side(side)
            .keys
            .iter()
            .map(|&k| Arc::clone(&data[k]))
            .collect();
        let state = &mut self.sides[side];
        let keys = state.keys.convert_columns(&keys)?;
        let rows = state.rows.convert_columns(data)?;
        let internal = |what: &str| EngineError::Internal(format!("join state {what} column type"));
        let matches = batch.columns()[1 + width]
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| internal("matches"))?;
        let last_writes = batch.columns()[2 + width]
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| internal("last write"))?;
        for row in 0..batch.num_rows() {
            state.insert(
                keys.row(row).as_ref(),
                rows.row(row).as_ref(),
                matches.value(row),
                last_writes.value(row),
            );
        }
        Ok(())
    }
}

fn column_names(schema: &Schema) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}
