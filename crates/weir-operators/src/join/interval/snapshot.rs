//! Checkpoint state of an interval join subtask.
//!
//! | table | kind | columns |
//! |---|---|---|
//! | `left_rows`, `right_rows` | keyed | `__weir_key_group`, the side's columns, `__weir_emitted` (Boolean: the row joined) |
//! | `left_timers`, `right_timers` | keyed | `__weir_key_group`, `key_0` .. (the key), `__weir_timer` (Int64: the key's cleanup time) |
//! | `watermark` | union | `watermark` (Int64, NULL before the first); a restore takes the minimum |
//!
//! Key groups are computed from the key columns as the hash exchange routes rows.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use weir_runtime::partition::key_groups;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult};

use super::state::Cached;
use super::IntervalJoinOperator;

const ROWS: [&str; 2] = ["left_rows", "right_rows"];
const TIMERS: [&str; 2] = ["left_timers", "right_timers"];
const WATERMARK: &str = "watermark";
const EMITTED: &str = "__weir_emitted";
const TIMER: &str = "__weir_timer";

impl IntervalJoinOperator {
    fn rows_schema(&self, side: usize) -> Arc<Schema> {
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        fields.extend(
            self.def
                .side(side)
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        fields.push(Field::new(EMITTED, DataType::Boolean, false));
        Arc::new(Schema::new(fields))
    }

    fn timers_schema(&self, side: usize) -> Arc<Schema> {
        let def = self.def.side(side);
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        for (i, &k) in def.keys.iter().enumerate() {
            let t = def.schema.field(k).data_type().clone();
            fields.push(Field::new(format!("key_{i}"), t, true));
        }
        fields.push(Field::new(TIMER, DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }

    /// Both sides' cached rows and timers, and the watermark.
    pub(super) fn snapshot(&self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        let add = |snapshot: &mut StateSnapshot, name: &str, batch: RecordBatch, keyed: bool| {
            let added = if keyed {
                snapshot.add_keyed(name, batch)
            } else {
                snapshot.add_union(name, batch)
            };
            added.map_err(|e| EngineError::Internal(e.to_string()))
        };
        for side in 0..2 {
            let state = &self.sides[side];
            let keys = &self.def.side(side).keys;
            let cached: Vec<&Cached> = state.table.values().flatten().collect();
            if !cached.is_empty() {
                let parser = state.rows.parser();
                let data = state
                    .rows
                    .convert_rows(cached.iter().map(|c| parser.parse(&c.row)))?;
                let key_columns: Vec<ArrayRef> =
                    keys.iter().map(|&k| Arc::clone(&data[k])).collect();
                let mut columns: Vec<ArrayRef> =
                    vec![Arc::new(key_groups(&key_columns, self.max_parallelism)?)];
                columns.extend(data);
                columns.push(Arc::new(BooleanArray::from(
                    cached.iter().map(|c| c.emitted).collect::<Vec<_>>(),
                )));
                let batch = RecordBatch::try_new(self.rows_schema(side), columns)?;
                add(&mut snapshot, ROWS[side], batch, true)?;
            }
            if !state.timers.is_empty() {
                let parser = state.keys.parser();
                let (encoded, times): (Vec<&Box<[u8]>>, Vec<i64>) = state.timers.iter().unzip();
                let key_columns = state
                    .keys
                    .convert_rows(encoded.iter().map(|k| parser.parse(k)))?;
                let mut columns: Vec<ArrayRef> =
                    vec![Arc::new(key_groups(&key_columns, self.max_parallelism)?)];
                columns.extend(key_columns);
                columns.push(Arc::new(Int64Array::from(times)));
                let batch = RecordBatch::try_new(self.timers_schema(side), columns)?;
                add(&mut snapshot, TIMERS[side], batch, true)?;
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            WATERMARK,
            DataType::Int64,
            true,
        )]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![self.watermark]))],
        )?;
        add(&mut snapshot, WATERMARK, batch, false)?;
        Ok(snapshot)
    }

    /// Rebuilds both sides and the watermark.
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let mut watermarks: Vec<Option<i64>> = Vec::new();
        for table in snapshot.into_tables() {
            let name = table.name().to_string();
            let expected = if let Some(side) = ROWS.iter().position(|&t| t == name) {
                self.rows_schema(side)
            } else if let Some(side) = TIMERS.iter().position(|&t| t == name) {
                self.timers_schema(side)
            } else {
                Arc::new(Schema::new(vec![Field::new(
                    WATERMARK,
                    DataType::Int64,
                    true,
                )]))
            };
            let same = (name == WATERMARK
                || ROWS.contains(&name.as_str())
                || TIMERS.contains(&name.as_str()))
                && table.schema().fields().len() == expected.fields().len()
                && table
                    .schema()
                    .fields()
                    .iter()
                    .zip(expected.fields())
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if !same {
                return Err(EngineError::Config(format!(
                    "the checkpoint's interval join state (table {name:?}) does not match this \
                     interval join; the job's SQL changed since the checkpoint was taken"
                )));
            }
            for batch in table.batches() {
                if name == WATERMARK {
                    let column = batch.column(0).as_primitive::<Int64Type>();
                    watermarks.extend(column.iter());
                } else if let Some(side) = ROWS.iter().position(|&t| t == name) {
                    self.restore_rows(side, batch)?;
                } else if let Some(side) = TIMERS.iter().position(|&t| t == name) {
                    self.restore_timers(side, batch)?;
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

    fn restore_rows(&mut self, side: usize, batch: &RecordBatch) -> EngineResult<()> {
        let def = Arc::clone(&self.def);
        let width = def.side(side).schema.fields().len();
        let data = &batch.columns()[1..1 + width];
        let key_columns: Vec<ArrayRef> = def
            .side(side)
            .keys
            .iter()
            .map(|&k| Arc::clone(&data[k]))
            .collect();
        let state = &mut self.sides[side];
        let keys = state.keys.convert_columns(&key_columns)?;
        let rows = state.rows.convert_columns(data)?;
        let internal =
            |what: &str| EngineError::Internal(format!("interval join {what} column type"));
        let times = data[state.time_column]
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| internal("time"))?;
        let emitted = batch.columns()[1 + width]
            .as_boolean_opt()
            .ok_or_else(|| internal("emitted"))?;
        for row in 0..batch.num_rows() {
            let cached = Cached {
                time: times.value(row),
                row: rows.row(row).as_ref().into(),
                emitted: emitted.value(row),
            };
            state
                .table
                .entry(keys.row(row).as_ref().into())
                .or_default()
                .push(cached);
        }
        Ok(())
    }

    fn restore_timers(&mut self, side: usize, batch: &RecordBatch) -> EngineResult<()> {
        let count = self.def.side(side).keys.len();
        let state = &mut self.sides[side];
        let keys = state.keys.convert_columns(&batch.columns()[1..1 + count])?;
        let times = batch.columns()[1 + count]
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| EngineError::Internal("interval join timer column type".into()))?;
        for row in 0..batch.num_rows() {
            state.set_timer(keys.row(row).as_ref(), times.value(row));
        }
        Ok(())
    }
}
