//! Window Top-N: `ROW_NUMBER() OVER (PARTITION BY window_start, window_end[, keys] ORDER BY
//! ...) <= N` over the result of a window aggregation (or any stream with a window end
//! column). Rows wait until the watermark passes their window's end (by then every row of
//! the window has arrived), are sorted per partition, and the first N of each partition are
//! emitted with their row number. State is the rows of windows not yet complete.
//!
//! Checkpoint tables (a stored format: names and columns must stay stable):
//! - `rows` (keyed): the buffered rows of the windows not yet complete, in arrival
//!   order: `__weir_key_group` (UInt16, over the `PARTITION BY` columns, which the hash
//!   exchange into the operator hashes), then the input columns `col0`, `col1`..
//!   (types of the input, nullable);
//! - `watermark` and `definition` (union): see [`crate::window::checkpoint`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::kernels::partition::partition;
use arrow::compute::{
    cast, concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use weir_runtime::{
    JobMetrics, LateRowsWriter, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext,
};

use crate::window::checkpoint::{
    add_common, restore_common, rows_by_window_end, rows_table_batch, state_err, table_rows,
};

/// Keyed checkpoint table of buffered rows.
const ROWS: &str = "rows";
/// What checkpoint errors call this operator.
const OPERATOR: &str = "window Top-N";
use weir_types::{EngineError, EngineResult, Watermark};

use crate::window::TimeShift;

/// The definition of a window Top-N.
#[derive(Debug, Clone)]
pub struct WindowTopN {
    /// Index of the window end column (a timestamp).
    pub window_end_column: usize,
    /// The `PARTITION BY` columns (the window columns included).
    pub partition_columns: Vec<usize>,
    /// The `ORDER BY` columns and directions.
    pub order: Vec<(usize, SortOptions)>,
    /// Rows kept per partition: row numbers 1 to `limit`.
    pub limit: usize,
    /// The input columns followed by the row number (BIGINT).
    pub output_schema: SchemaRef,
    /// The session time zone of windows over a `TIMESTAMP_LTZ` attribute when it is not
    /// UTC: the window bounds are then local times, and each watermark is converted to
    /// local time before windows fire (see `crate::window::TimeShift`).
    pub shift: Option<TimeShift>,
}

impl WindowTopN {
    /// A factory creating the operator for every subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(WindowTopNOperator {
                    def: def.clone(),
                    pending: BTreeMap::new(),
                    watermark: i64::MIN,
                    metrics: ctx.metrics.clone(),
                    late_rows: ctx.late_rows.clone(),
                    max_parallelism: ctx.max_parallelism,
                }))
            },
        )
    }

    /// Ranks the rows of one complete window: the first `limit` rows of each partition,
    /// with their row numbers.
    pub fn rank(&self, batch: &RecordBatch) -> EngineResult<RecordBatch> {
        let mut sort_columns: Vec<SortColumn> = self
            .partition_columns
            .iter()
            .map(|&c| SortColumn {
                values: batch.column(c).clone(),
                options: None,
            })
            .collect();
        sort_columns.extend(self.order.iter().map(|(c, options)| SortColumn {
            values: batch.column(*c).clone(),
            options: Some(*options),
        }));
        let sorted = take_record_batch(batch, &lexsort_to_indices(&sort_columns, None)?)?;
        let keys: Vec<ArrayRef> = self
            .partition_columns
            .iter()
            .map(|&c| sorted.column(c).clone())
            .collect();
        let ranges: Vec<std::ops::Range<usize>> = if keys.is_empty() {
            std::iter::once(0..sorted.num_rows()).collect()
        } else {
            partition(&keys)?.ranges()
        };
        let mut keep = Vec::new();
        let mut numbers = Vec::new();
        for range in ranges {
            for (i, row) in range.take(self.limit).enumerate() {
                keep.push(row as u32);
                numbers.push(i as i64 + 1);
            }
        }
        let kept = take_record_batch(&sorted, &UInt32Array::from(keep))?;
        let mut columns = kept.columns().to_vec();
        columns.push(Arc::new(Int64Array::from(numbers)));
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }
}

struct WindowTopNOperator {
    def: Arc<WindowTopN>,
    /// Rows of windows not yet complete, by window end (epoch ms).
    pending: BTreeMap<i64, Vec<RecordBatch>>,
    watermark: i64,
    metrics: Arc<JobMetrics>,
    /// Where dropped late rows go, when the job has a late-data table.
    late_rows: Option<Arc<LateRowsWriter>>,
    /// Number of key groups (`pipeline.max-parallelism`), for checkpoint state.
    max_parallelism: usize,
}

impl WindowTopNOperator {
    /// A description of the definition, stored to detect a changed SQL on restore.
    fn definition(&self) -> String {
        let order: Vec<String> = self
            .def
            .order
            .iter()
            .map(|(c, o)| {
                format!(
                    "{c} {} NULLS {}",
                    if o.descending { "DESC" } else { "ASC" },
                    if o.nulls_first { "FIRST" } else { "LAST" }
                )
            })
            .collect();
        format!(
            "window end column {}, partition by {:?}, order by [{}], limit {}, {} columns",
            self.def.window_end_column,
            self.def.partition_columns,
            order.join(", "),
            self.def.limit,
            self.def.output_schema.fields().len()
        )
    }
}

fn window_ends(column: &ArrayRef) -> EngineResult<Vec<Option<i64>>> {
    let DataType::Timestamp(_, tz) = column.data_type() else {
        return Err(EngineError::Internal(format!(
            "window end column is {}",
            column.data_type()
        )));
    };
    let millis = cast(
        column,
        &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
    )?;
    Ok(millis
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect())
}

impl Operator for WindowTopNOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        let ends = window_ends(batch.column(self.def.window_end_column))?;
        let mut rows_of: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let mut late = 0;
        let mut late_rows: Vec<u32> = Vec::new();
        for (row, end) in ends.iter().enumerate() {
            match end {
                Some(end) if end - 1 > self.watermark => {
                    rows_of.entry(*end).or_default().push(row as u32)
                }
                _ => {
                    late += 1;
                    if self.late_rows.is_some() {
                        late_rows.push(row as u32);
                    }
                }
            }
        }
        if late > 0 {
            JobMetrics::add(&self.metrics.late_records_dropped, late);
        }
        if let Some(writer) = &self.late_rows {
            // The event time of a ranked row is its window's end.
            writer.write(
                &batch,
                &late_rows,
                self.def.window_end_column,
                self.watermark,
            )?;
        }
        let whole = rows_of.len() == 1 && late == 0;
        for (end, rows) in rows_of {
            let part = if whole {
                batch.clone()
            } else {
                take_record_batch(&batch, &UInt32Array::from(rows))?
            };
            self.pending.entry(end).or_default().push(part);
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        // Never backwards (a restored subtask may see lower watermarks first).
        let millis = TimeShift::watermark_in(self.def.shift.as_ref(), watermark);
        self.watermark = self.watermark.max(millis);
        let still_open = self.pending.split_off(&self.watermark.saturating_add(2));
        let complete = std::mem::replace(&mut self.pending, still_open);
        for (_, batches) in complete {
            let Some(first) = batches.first() else {
                continue;
            };
            let window = concat_batches(first.schema_ref(), batches.iter())?;
            out.batch(self.def.rank(&window)?);
        }
        out.watermark(watermark);
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        for batch in self.pending.values().flatten() {
            let stored = rows_table_batch(
                batch,
                &self.def.partition_columns,
                None,
                self.max_parallelism,
            )?;
            snapshot.add_keyed(ROWS, stored).map_err(state_err)?;
        }
        let watermark = (self.watermark != i64::MIN).then_some(self.watermark);
        add_common(&mut snapshot, watermark, &self.definition())?;
        Ok(snapshot)
    }

    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let watermark = restore_common(&snapshot, &[ROWS], &self.definition(), OPERATOR)?;
        if let Some(watermark) = watermark {
            self.watermark = self.watermark.max(watermark);
        }
        if let Some(stored) = table_rows(&snapshot, ROWS)? {
            let width = self.def.output_schema.fields().len().saturating_sub(1);
            let windows = rows_by_window_end(ROWS, &stored, self.def.window_end_column, width)?;
            for (end, rows) in windows {
                self.pending.entry(end).or_default().push(rows);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "window_topn_tests.rs"]
mod checkpoint_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn keeps_the_top_rows_of_each_partition_once_the_window_is_complete() {
        let input = Arc::new(Schema::new(vec![
            Field::new(
                "window_end",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("rn", DataType::Int64, false));
        let def = WindowTopN {
            window_end_column: 0,
            partition_columns: vec![0, 1],
            order: vec![(
                2,
                SortOptions {
                    descending: true,
                    nulls_first: false,
                },
            )],
            limit: 2,
            output_schema: Arc::new(Schema::new(fields)),
            shift: None,
        };
        let ctx = SubtaskContext::single("topn");
        let mut op = def.into_factory().create(&ctx).unwrap();
        let batch = |ends: Vec<i64>, keys: Vec<&str>, values: Vec<i64>| {
            RecordBatch::try_new(
                input.clone(),
                vec![
                    Arc::new(TimestampMillisecondArray::from(ends)),
                    Arc::new(StringArray::from(keys)),
                    Arc::new(Int64Array::from(values)),
                ],
            )
            .unwrap()
        };
        let mut out = Output::default();
        op.process_batch(
            0,
            batch(
                vec![10, 10, 20, 10],
                vec!["a", "a", "a", "b"],
                vec![1, 5, 7, 2],
            ),
            &mut out,
        )
        .unwrap();
        op.process_batch(0, batch(vec![10], vec!["a"], vec![3]), &mut out)
            .unwrap();
        assert!(out.is_empty(), "nothing before the window is complete");
        op.process_watermark(Watermark(9), &mut out).unwrap();
        let emitted: Vec<_> = out.drain().collect();
        let weir_types::Message::Batch(result) = &emitted[0] else {
            panic!("expected rows first")
        };
        let keys = result.column(1).as_string::<i32>();
        let values = result
            .column(2)
            .as_primitive::<arrow::datatypes::Int64Type>();
        let numbers = result
            .column(3)
            .as_primitive::<arrow::datatypes::Int64Type>();
        let rows: Vec<(&str, i64, i64)> = (0..result.num_rows())
            .map(|i| (keys.value(i), values.value(i), numbers.value(i)))
            .collect();
        assert_eq!(rows, vec![("a", 5, 1), ("a", 3, 2), ("b", 2, 1)]);
        assert!(matches!(
            emitted[1],
            weir_types::Message::Watermark(Watermark(9))
        ));
        // A row of the fired window is late now.
        op.process_batch(0, batch(vec![10], vec!["c"], vec![100]), &mut out)
            .unwrap();
        assert_eq!(JobMetrics::get(&ctx.metrics.late_records_dropped), 1);
        op.process_watermark(Watermark::MAX, &mut out).unwrap();
        let emitted: Vec<_> = out.drain().collect();
        let weir_types::Message::Batch(last) = &emitted[0] else {
            panic!("expected the second window")
        };
        assert_eq!(last.num_rows(), 1);
    }
}
