//! Checkpoint state of a window join subtask.
//!
//! | table | kind | columns |
//! |---|---|---|
//! | `left_rows`, `right_rows` | keyed | `__weir_key_group`, `__weir_window_end` (Int64: the window the row waits in), the side's columns as received |
//! | `watermark` | union | `watermark` (Int64, NULL before the first); a restore takes the minimum |
//!
//! Key groups are computed from the key columns as the hash exchange routes rows (a join
//! without keys runs in one subtask: key group 0).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, UInt16Array, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::partition::key_groups;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult};

use super::WindowJoinOperator;

const ROWS: [&str; 2] = ["left_rows", "right_rows"];
const WATERMARK: &str = "watermark";
const WINDOW_END: &str = "__weir_window_end";

fn watermark_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new(
        WATERMARK,
        DataType::Int64,
        true,
    )]))
}

impl WindowJoinOperator {
    fn rows_schema(&self, side: usize) -> Arc<Schema> {
        let mut fields = vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
            Field::new(WINDOW_END, DataType::Int64, false),
        ];
        fields.extend(
            self.def
                .side(side)
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        Arc::new(Schema::new(fields))
    }

    /// Both sides' buffered rows with their windows, and the watermark.
    pub(super) fn snapshot(&self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        let internal = |e: weir_state::StateError| EngineError::Internal(e.to_string());
        for (end, sides) in self.windows.iter() {
            for (side, batches) in sides.iter().enumerate() {
                let keys = &self.def.side(side).keys;
                for batch in batches.iter().filter(|b| b.num_rows() > 0) {
                    let rows = batch.num_rows();
                    let groups = if keys.is_empty() {
                        UInt16Array::from(vec![0u16; rows])
                    } else {
                        let columns: Vec<ArrayRef> =
                            keys.iter().map(|&k| Arc::clone(batch.column(k))).collect();
                        key_groups(&columns, self.max_parallelism)?
                    };
                    let mut columns: Vec<ArrayRef> = vec![
                        Arc::new(groups),
                        Arc::new(Int64Array::from_value(end, rows)),
                    ];
                    columns.extend(batch.columns().iter().cloned());
                    let table = RecordBatch::try_new(self.rows_schema(side), columns)?;
                    snapshot.add_keyed(ROWS[side], table).map_err(internal)?;
                }
            }
        }
        let watermark = (self.fired_upto != i64::MIN).then(|| self.fired_upto.saturating_sub(1));
        let batch = RecordBatch::try_new(
            watermark_schema(),
            vec![Arc::new(Int64Array::from(vec![watermark]))],
        )?;
        snapshot.add_union(WATERMARK, batch).map_err(internal)?;
        Ok(snapshot)
    }

    /// Rebuilds both sides' windows and the watermark.
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let mut watermarks: Vec<Option<i64>> = Vec::new();
        for table in snapshot.into_tables() {
            let name = table.name().to_string();
            let side = ROWS.iter().position(|&t| t == name);
            let expected = match side {
                Some(side) => self.rows_schema(side),
                None => watermark_schema(),
            };
            let same = (side.is_some() || name == WATERMARK)
                && table.schema().fields().len() == expected.fields().len()
                && table
                    .schema()
                    .fields()
                    .iter()
                    .zip(expected.fields())
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if !same {
                return Err(EngineError::Config(format!(
                    "the checkpoint's window join state (table {name:?}) does not match this \
                     window join; the job's SQL changed since the checkpoint was taken"
                )));
            }
            for batch in table.batches() {
                match side {
                    Some(side) => self.restore_rows(side, batch)?,
                    None => {
                        let column = batch.column(0).as_primitive::<Int64Type>();
                        watermarks.extend(column.iter());
                    }
                }
            }
        }
        // At an aligned barrier every subtask has the same watermark; NULL (none) wins.
        let watermark = if watermarks.iter().any(Option::is_none) {
            None
        } else {
            watermarks.into_iter().flatten().min()
        };
        self.fired_upto = watermark.map_or(i64::MIN, |w| w.saturating_add(1));
        Ok(())
    }

    fn restore_rows(&mut self, side: usize, batch: &RecordBatch) -> EngineResult<()> {
        let schema = Arc::clone(&self.def.side(side).schema);
        let ends = batch
            .column(1)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| EngineError::Internal("window join window end column type".into()))?;
        let data = &batch.columns()[2..];
        let mut groups: Vec<(i64, Vec<u32>)> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        for (row, &end) in ends.values().iter().enumerate() {
            let i = *index.entry(end).or_insert_with(|| {
                groups.push((end, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(row as u32);
        }
        for (end, rows) in groups {
            let part = if rows.len() == batch.num_rows() {
                data.to_vec()
            } else {
                let indices = UInt32Array::from(rows);
                data.iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let part = RecordBatch::try_new(Arc::clone(&schema), part)?;
            self.windows.push(end, side, part);
        }
        Ok(())
    }
}
