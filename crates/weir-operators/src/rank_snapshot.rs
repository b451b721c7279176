//! Checkpoint state of an unbounded Top-N subtask.
//!
//! One keyed table, **`rows`**, one row per row kept by a partition (the first N over an
//! append-only input, every live row over an updating one):
//!
//! | column | type | content |
//! |---|---|---|
//! | `__weir_key_group` | UInt16 | key group of the row's `PARTITION BY` values |
//! | the input's columns | the input's types | the row |
//! | `__weir_tie` | UInt64 | its arrival tie-break (rank among equal `ORDER BY` values) |
//! | `__weir_last_write_ms` | Int64 | processing time of the partition's last write (TTL) |
//!
//! A restore rebuilds each partition from its rows (the partition and sort keys are
//! computed from the row again) and continues arrival numbers after the largest
//! restored one, so later rows rank after every restored row of their partition, as
//! they would have without the restore.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, UInt16Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, UInt64Type};
use arrow::record_batch::RecordBatch;
use weir_runtime::partition::key_groups;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult};

use super::state::{Partition, Rows};
use super::RankOperator;

/// Name of the keyed table of kept rows.
const ROWS_TABLE: &str = "rows";
const TIE_COLUMN: &str = "__weir_tie";
const LAST_WRITE_COLUMN: &str = "__weir_last_write_ms";

impl RankOperator {
    /// The schema of the `rows` table.
    fn rows_schema(&self) -> Arc<Schema> {
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        fields.extend(
            self.def
                .input_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        fields.push(Field::new(TIE_COLUMN, DataType::UInt64, false));
        fields.push(Field::new(LAST_WRITE_COLUMN, DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }

    /// Every kept row of every partition, as the `rows` table.
    pub(super) fn snapshot(&self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        let mut contents: Vec<&[u8]> = Vec::new();
        let mut ties = Vec::new();
        let mut last_writes = Vec::new();
        for partition in self.partitions.iter() {
            for ((_, tie), row) in partition.rows.iter() {
                contents.push(row);
                ties.push(*tie);
                last_writes.push(partition.last_write);
            }
        }
        if contents.is_empty() {
            return Ok(snapshot);
        }
        let parser = self.full_rows.parser();
        let data = self
            .full_rows
            .convert_rows(contents.iter().map(|r| parser.parse(r)))?;
        let key_group = if self.def.partition_columns.is_empty() {
            UInt16Array::from(vec![0u16; contents.len()])
        } else {
            let keys: Vec<ArrayRef> = self
                .def
                .partition_columns
                .iter()
                .map(|&i| Arc::clone(&data[i]))
                .collect();
            key_groups(&keys, self.max_parallelism)?
        };
        let mut columns: Vec<ArrayRef> = vec![Arc::new(key_group)];
        columns.extend(data);
        columns.push(Arc::new(UInt64Array::from(ties)));
        columns.push(Arc::new(Int64Array::from(last_writes)));
        let batch = RecordBatch::try_new(self.rows_schema(), columns)?;
        snapshot
            .add_keyed(ROWS_TABLE, batch)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(snapshot)
    }

    /// Rebuilds the partitions from a `rows` table.
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let expected = self.rows_schema();
        for table in snapshot.into_tables() {
            let same = table.schema().fields().len() == expected.fields().len()
                && table
                    .schema()
                    .fields()
                    .iter()
                    .zip(expected.fields())
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if table.name() != ROWS_TABLE || !same {
                return Err(EngineError::Config(format!(
                    "the checkpoint's Top-N state (table {:?} with columns {:?}) does not match \
                     this Top-N over columns {:?}; the job's SQL changed since the checkpoint \
                     was taken",
                    table.name(),
                    table
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>(),
                    expected
                        .fields()
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                )));
            }
            for batch in table.batches() {
                self.restore_batch(batch)?;
            }
        }
        Ok(())
    }

    fn restore_batch(&mut self, batch: &RecordBatch) -> EngineResult<()> {
        let width = self.def.input_schema.fields().len();
        let data = &batch.columns()[1..1 + width];
        let pick = |columns: Vec<usize>| -> Vec<ArrayRef> {
            columns.into_iter().map(|i| Arc::clone(&data[i])).collect()
        };
        let keys = self
            .partition_rows
            .convert_columns(&pick(self.def.partition_columns.clone()))?;
        let sorts = self
            .sort_rows
            .convert_columns(&pick(self.def.order.iter().map(|(i, _)| *i).collect()))?;
        let rows = self.full_rows.convert_columns(data)?;
        let internal = |what: &str| EngineError::Internal(format!("Top-N {what} column type"));
        let ties = batch.columns()[1 + width]
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| internal("tie"))?;
        let last_writes = batch.columns()[2 + width]
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| internal("last write"))?;
        for row in 0..batch.num_rows() {
            let tie = ties.value(row);
            let arrival = if self.def.latest_first_on_ties {
                u64::MAX - tie
            } else {
                tie
            };
            self.arrivals = self.arrivals.max(arrival);
            let key = keys.row(row);
            let hash = self.partitions.hash(key.as_ref());
            let i = match self.partitions.find(hash, key.as_ref()) {
                Some(i) => i,
                None => self.partitions.insert(
                    hash,
                    Partition {
                        key: key.as_ref().into(),
                        rows: Rows::new(self.def.input_updating),
                        last_write: 0,
                        touched: false,
                    },
                ),
            };
            let partition = self.partitions.get_mut(i);
            partition.last_write = last_writes.value(row);
            partition.rows.insert(
                sorts.row(row).as_ref(),
                tie,
                rows.row(row).as_ref(),
                self.def.limit,
            );
        }
        Ok(())
    }
}
