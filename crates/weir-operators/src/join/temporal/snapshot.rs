//! Checkpoint state of a temporal join subtask.
//!
//! | table | kind | columns |
//! |---|---|---|
//! | `left_rows` | keyed | `__weir_key_group`, the left input's columns, and `__weir_row_kind` when it is updating (rows waiting for the watermark) |
//! | `right_versions` | keyed | `__weir_key_group`, the right input's columns, `__weir_delete` (Boolean: a delete), `__weir_last_write` (Int64: processing time of the key's last write, for the TTL) |
//! | `watermark` | union | `watermark` (Int64, NULL before the first); a restore takes the minimum |
//!
//! Key groups are computed from the key columns as the hash exchange routes rows; the
//! cleanup timers follow from the versions and are rebuilt on restore. Savepoints use the
//! same tables.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::partition::key_groups;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult, ROW_KIND_COLUMN};

use super::state::{millis, Version};
use super::{left_input_schema, TemporalJoinOperator};

const LEFT: &str = "left_rows";
const RIGHT: &str = "right_versions";
const WATERMARK: &str = "watermark";
const DELETE: &str = "__weir_delete";
const LAST_WRITE: &str = "__weir_last_write";

impl TemporalJoinOperator {
    fn table_schema(&self, name: &str) -> Arc<Schema> {
        if name == WATERMARK {
            return Arc::new(Schema::new(vec![Field::new(
                WATERMARK,
                DataType::Int64,
                true,
            )]));
        }
        let side = if name == LEFT {
            &self.def.left
        } else {
            &self.def.right
        };
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        fields.extend(
            side.schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        if name == LEFT && side.updating {
            fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
        }
        if name == RIGHT {
            fields.push(Field::new(DELETE, DataType::Boolean, false));
            fields.push(Field::new(LAST_WRITE, DataType::Int64, false));
        }
        Arc::new(Schema::new(fields))
    }

    /// `data` (columns of one input) with its key groups first, as table `name`.
    fn keyed_batch(
        &self,
        name: &str,
        data: Vec<ArrayRef>,
        keys: &[usize],
        extra: Vec<ArrayRef>,
    ) -> EngineResult<RecordBatch> {
        let key_columns: Vec<ArrayRef> = keys.iter().map(|&k| Arc::clone(&data[k])).collect();
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(key_groups(&key_columns, self.max_parallelism)?)];
        columns.extend(data);
        columns.extend(extra);
        Ok(RecordBatch::try_new(self.table_schema(name), columns)?)
    }

    /// The waiting left rows, the versions and the watermark.
    pub(super) fn snapshot(&self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        let internal = |e: weir_state::StateError| EngineError::Internal(e.to_string());
        let waiting: Vec<&RecordBatch> = self.pending.batches().collect();
        if !waiting.is_empty() {
            let left = concat_batches(&left_input_schema(&self.def.left), waiting)?;
            let batch =
                self.keyed_batch(LEFT, left.columns().to_vec(), &self.def.left.keys, vec![])?;
            snapshot.add_keyed(LEFT, batch).map_err(internal)?;
        }
        let mut rows = Vec::new();
        let mut deletes = Vec::new();
        let mut writes = Vec::new();
        for entry in self.versions.table.values() {
            for version in &entry.versions {
                rows.push(version.row.as_ref());
                deletes.push(version.retract);
                writes.push(entry.last_write);
            }
        }
        if !rows.is_empty() {
            let parser = self.right_rows.parser();
            let data = self
                .right_rows
                .convert_rows(rows.iter().map(|r| parser.parse(r)))?;
            let extra: Vec<ArrayRef> = vec![
                Arc::new(BooleanArray::from(deletes)),
                Arc::new(Int64Array::from(writes)),
            ];
            let batch = self.keyed_batch(RIGHT, data, &self.def.right.keys, extra)?;
            snapshot.add_keyed(RIGHT, batch).map_err(internal)?;
        }
        let batch = RecordBatch::try_new(
            self.table_schema(WATERMARK),
            vec![Arc::new(Int64Array::from(vec![self.watermark]))],
        )?;
        snapshot.add_union(WATERMARK, batch).map_err(internal)?;
        Ok(snapshot)
    }

    /// Rebuilds the waiting left rows, the versions (and their timers) and the watermark.
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let mut watermarks: Vec<Option<i64>> = Vec::new();
        for table in snapshot.into_tables() {
            let name = table.name().to_string();
            let known = [LEFT, RIGHT, WATERMARK].contains(&name.as_str());
            let expected = self.table_schema(&name);
            let same = known
                && table.schema().fields().len() == expected.fields().len()
                && table
                    .schema()
                    .fields()
                    .iter()
                    .zip(expected.fields())
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if !same {
                return Err(EngineError::Config(format!(
                    "the checkpoint's temporal join state (table {name:?}) does not match this \
                     temporal join; the job's SQL changed since the checkpoint was taken"
                )));
            }
            for batch in table.batches() {
                match name.as_str() {
                    WATERMARK => {
                        watermarks.extend(batch.column(0).as_primitive::<Int64Type>().iter());
                    }
                    LEFT => {
                        let data = batch.columns()[1..].to_vec();
                        let rows = RecordBatch::try_new(left_input_schema(&self.def.left), data)?;
                        self.pending.push(rows)?;
                    }
                    _ => self.restore_versions(batch)?,
                }
            }
        }
        // At an aligned barrier every subtask has the same watermark; NULL (none) wins.
        self.watermark = if watermarks.iter().any(Option::is_none) {
            None
        } else {
            watermarks.into_iter().flatten().min()
        };
        Ok(())
    }

    fn restore_versions(&mut self, batch: &RecordBatch) -> EngineResult<()> {
        let width = self.def.right.schema.fields().len();
        let data = &batch.columns()[1..1 + width];
        let key_columns: Vec<ArrayRef> = self
            .def
            .right
            .keys
            .iter()
            .map(|&k| Arc::clone(&data[k]))
            .collect();
        let keys = self.keys.convert_columns(&key_columns)?;
        let rows = self.right_rows.convert_columns(data)?;
        let times = millis(&data[self.def.right_time])?;
        let internal = |what: &str| EngineError::Internal(format!("temporal join {what} column"));
        let deletes = batch.columns()[1 + width]
            .as_boolean_opt()
            .ok_or_else(|| internal("delete"))?;
        let writes = batch.columns()[2 + width]
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| internal("last write"))?;
        for row in 0..batch.num_rows() {
            let version = Version {
                time: times.value(row),
                row: rows.row(row).as_ref().into(),
                retract: deletes.value(row),
            };
            self.versions
                .upsert(keys.row(row).as_ref(), version, writes.value(row));
        }
        Ok(())
    }
}
