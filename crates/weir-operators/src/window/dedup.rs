//! Window deduplication: `ROW_NUMBER() OVER (PARTITION BY window_start, window_end[,
//! keys] ORDER BY time ASC|DESC) = 1` over a window table function, as Flink defines it
//! (its `RowTimeWindowDeduplicateOperator`): per window and key, keep the first row (ASC)
//! or the last row (DESC) by the time column. Ties keep the row that arrived first for
//! ASC and the row that arrived last for DESC, as Flink's `isDuplicate` does. Each
//! window's rows are emitted, with row number 1, once the watermark passes its end; rows
//! of a window that has fired are late: dropped and counted.
//!
//! State is bounded by the distinct keys of the open windows: a window's buffered rows
//! are reduced to one row per key (a sort over whole batches, never row by row) whenever
//! they outgrow twice the rows kept by the previous reduction.
//!
//! Checkpoint tables (a stored format: names and columns must stay stable):
//! - `rows` (keyed): the buffered rows of the windows not yet complete:
//!   `__weir_key_group` (UInt16, over the `PARTITION BY` columns, which the hash
//!   exchange into the operator hashes), the input columns `col0`, `col1`.. (types of
//!   the input, nullable), and `arrival` (UInt64: the row's arrival number, which breaks
//!   ties of the order time);
//! - `arrivals` (union): `next_arrival` (UInt64), the arrival number of the next row; a
//!   restored subtask takes the largest, so its new rows arrive after every restored
//!   row;
//! - `watermark` and `definition` (union): see [`super::checkpoint`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array, UInt64Array};
use arrow::compute::kernels::partition::partition;
use arrow::compute::{
    cast, concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use weir_runtime::{
    JobMetrics, LateRowsWriter, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext,
};

use super::checkpoint::{
    add_common, column, restore_common, rows_by_window_end, rows_table_batch, state_err, table_rows,
};

/// Keyed checkpoint table of buffered rows.
const ROWS: &str = "rows";
/// Union checkpoint table of the next arrival number.
const ARRIVALS: &str = "arrivals";
/// What checkpoint errors call this operator.
const OPERATOR: &str = "window deduplication";
use weir_types::{EngineError, EngineResult, Watermark};

/// Buffered rows of a window are reduced once they exceed twice the previous size plus this.
const REDUCE_SLACK: usize = 1024;

/// The definition of a window deduplication.
#[derive(Debug, Clone)]
pub struct WindowDeduplicate {
    /// Index of the window end column (a timestamp).
    pub window_end_column: usize,
    /// The `PARTITION BY` columns (the window columns included).
    pub partition_columns: Vec<usize>,
    /// The `ORDER BY` time column and its NULL placement.
    pub order_column: usize,
    /// `ORDER BY ... DESC`: keep the last row; else the first.
    pub keep_last: bool,
    /// Where rows with a NULL order time sort (they are kept only when no other row is).
    pub nulls_first: bool,
    /// The input columns followed by the row number (BIGINT, always 1).
    pub output_schema: SchemaRef,
    /// The session time zone of windows over a `TIMESTAMP_LTZ` attribute when it is not
    /// UTC: the window bounds are then local times, and each watermark is converted to
    /// local time before windows fire (see [`super::TimeShift`]).
    pub shift: Option<super::TimeShift>,
}

impl WindowDeduplicate {
    /// A factory creating the operator for every subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(WindowDeduplicateOperator {
                    def: def.clone(),
                    pending: BTreeMap::new(),
                    watermark: i64::MIN,
                    arrivals: 0,
                    metrics: ctx.metrics.clone(),
                    late_rows: ctx.late_rows.clone(),
                    max_parallelism: ctx.max_parallelism,
                }))
            },
        )
    }

    /// Keeps one row per partition of `batch`, whose last column is the arrival number.
    fn reduce(&self, batch: &RecordBatch) -> EngineResult<RecordBatch> {
        let arrival = batch.num_columns() - 1;
        let mut sort: Vec<SortColumn> = self
            .partition_columns
            .iter()
            .map(|&c| SortColumn {
                values: batch.column(c).clone(),
                options: None,
            })
            .collect();
        let direction = SortOptions {
            descending: self.keep_last,
            nulls_first: self.nulls_first,
        };
        sort.push(SortColumn {
            values: batch.column(self.order_column).clone(),
            options: Some(direction),
        });
        sort.push(SortColumn {
            values: batch.column(arrival).clone(),
            options: Some(direction),
        });
        let sorted = take_record_batch(batch, &lexsort_to_indices(&sort, None)?)?;
        let keys: Vec<ArrayRef> = self
            .partition_columns
            .iter()
            .map(|&c| sorted.column(c).clone())
            .collect();
        let firsts: Vec<u32> = if keys.is_empty() {
            vec![0]
        } else {
            partition(&keys)?
                .ranges()
                .into_iter()
                .map(|r| r.start as u32)
                .collect()
        };
        Ok(take_record_batch(&sorted, &UInt32Array::from(firsts))?)
    }
}

/// The buffered rows of one window, each batch ending with an arrival number column.
#[derive(Default)]
struct Pending {
    batches: Vec<RecordBatch>,
    rows: usize,
    /// Rows left by the last reduction.
    reduced: usize,
}

struct WindowDeduplicateOperator {
    def: Arc<WindowDeduplicate>,
    /// Rows of windows not yet complete, by window end (epoch ms).
    pending: BTreeMap<i64, Pending>,
    watermark: i64,
    /// Rows received so far: the arrival number of the next row.
    arrivals: u64,
    metrics: Arc<JobMetrics>,
    /// Where dropped late rows go, when the job has a late-data table.
    late_rows: Option<Arc<LateRowsWriter>>,
    /// Number of key groups (`pipeline.max-parallelism`), for checkpoint state.
    max_parallelism: usize,
}

impl WindowDeduplicateOperator {
    /// A description of the definition, stored to detect a changed SQL on restore.
    fn definition(&self) -> String {
        format!(
            "window end column {}, partition by {:?}, order column {}, keep the {} row, \
             NULLS {}, {} columns",
            self.def.window_end_column,
            self.def.partition_columns,
            self.def.order_column,
            if self.def.keep_last { "last" } else { "first" },
            if self.def.nulls_first {
                "FIRST"
            } else {
                "LAST"
            },
            self.def.output_schema.fields().len()
        )
    }

    /// One row per key of a window's buffered rows.
    fn reduce(&self, pending: &mut Pending) -> EngineResult<()> {
        let Some(first) = pending.batches.first() else {
            return Ok(());
        };
        let all = concat_batches(first.schema_ref(), pending.batches.iter())?;
        let reduced = self.def.reduce(&all)?;
        pending.rows = reduced.num_rows();
        pending.reduced = reduced.num_rows();
        pending.batches = vec![reduced];
        Ok(())
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

impl Operator for WindowDeduplicateOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        let input = batch;
        let batch = input.clone();
        let rows = batch.num_rows();
        let first = self.arrivals;
        self.arrivals += rows as u64;
        let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new("__arrival", DataType::UInt64, false)));
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(UInt64Array::from_iter_values(
            first..first + rows as u64,
        )));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let ends = window_ends(batch.column(self.def.window_end_column))?;
        let mut rows_of: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let mut late = 0;
        let mut late_rows: Vec<u32> = Vec::new();
        for (row, end) in ends.iter().enumerate() {
            match end {
                Some(end) if end.saturating_sub(1) > self.watermark => {
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
            writer.write(&input, &late_rows, self.def.order_column, self.watermark)?;
        }
        let whole = rows_of.len() == 1 && late == 0;
        for (end, rows) in rows_of {
            let part = if whole {
                batch.clone()
            } else {
                take_record_batch(&batch, &UInt32Array::from(rows))?
            };
            let mut pending = self.pending.remove(&end).unwrap_or_default();
            pending.rows += part.num_rows();
            pending.batches.push(part);
            if pending.rows > 2 * pending.reduced + REDUCE_SLACK {
                self.reduce(&mut pending)?;
            }
            self.pending.insert(end, pending);
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        let millis = super::TimeShift::watermark_in(self.def.shift.as_ref(), watermark);
        self.watermark = self.watermark.max(millis);
        let still_open = self.pending.split_off(&self.watermark.saturating_add(2));
        let complete = std::mem::replace(&mut self.pending, still_open);
        for (_, mut pending) in complete {
            self.reduce(&mut pending)?;
            let Some(kept) = pending.batches.pop() else {
                continue;
            };
            let mut columns = kept.columns().to_vec();
            columns.pop();
            columns.push(Arc::new(Int64Array::from_value(1, kept.num_rows())));
            out.batch(RecordBatch::try_new(
                self.def.output_schema.clone(),
                columns,
            )?);
        }
        out.watermark(watermark);
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        for batch in self.pending.values().flat_map(|p| p.batches.iter()) {
            let stored = rows_table_batch(
                batch,
                &self.def.partition_columns,
                Some("arrival"),
                self.max_parallelism,
            )?;
            snapshot.add_keyed(ROWS, stored).map_err(state_err)?;
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "next_arrival",
            DataType::UInt64,
            false,
        )]));
        let arrivals = RecordBatch::try_new(
            schema,
            vec![Arc::new(UInt64Array::from(vec![self.arrivals]))],
        )?;
        snapshot.add_union(ARRIVALS, arrivals).map_err(state_err)?;
        let watermark = (self.watermark != i64::MIN).then_some(self.watermark);
        add_common(&mut snapshot, watermark, &self.definition())?;
        Ok(snapshot)
    }

    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let watermark = restore_common(&snapshot, &[ROWS, ARRIVALS], &self.definition(), OPERATOR)?;
        if let Some(watermark) = watermark {
            self.watermark = self.watermark.max(watermark);
        }
        if let Some(stored) = table_rows(&snapshot, ARRIVALS)? {
            let next = column(&stored, ARRIVALS, "next_arrival", &DataType::UInt64)?;
            let next = next.as_primitive::<arrow::datatypes::UInt64Type>();
            if let Some(max) = arrow::compute::max(next) {
                self.arrivals = self.arrivals.max(max);
            }
        }
        if let Some(stored) = table_rows(&snapshot, ROWS)? {
            // The input columns and the arrival number.
            let width = self.def.output_schema.fields().len();
            let windows = rows_by_window_end(ROWS, &stored, self.def.window_end_column, width)?;
            for (end, rows) in windows {
                let pending = self.pending.entry(end).or_default();
                pending.rows += rows.num_rows();
                pending.batches.push(rows);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::Int64Type;
    use weir_types::Message;

    use super::*;

    fn input() -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        Arc::new(Schema::new(vec![
            Field::new("window_end", ts.clone(), false),
            Field::new("k", DataType::Utf8, true),
            Field::new("ts", ts, true),
            Field::new("v", DataType::Int64, false),
        ]))
    }

    fn dedup(keep_last: bool) -> WindowDeduplicate {
        let mut fields: Vec<Field> = input()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("rn", DataType::Int64, false));
        WindowDeduplicate {
            window_end_column: 0,
            partition_columns: vec![0, 1],
            order_column: 2,
            keep_last,
            nulls_first: false,
            output_schema: Arc::new(Schema::new(fields)),
            shift: None,
        }
    }

    fn batch(rows: &[(i64, &str, i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            input(),
            vec![
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.0),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.2),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            ],
        )
        .unwrap()
    }

    /// (key, value, row number) of every row emitted, sorted.
    fn emitted(out: &mut Output) -> Vec<(String, i64, i64)> {
        let mut rows = Vec::new();
        for m in out.drain() {
            if let Message::Batch(b) = m {
                for i in 0..b.num_rows() {
                    rows.push((
                        b.column(1).as_string::<i32>().value(i).to_string(),
                        b.column(3).as_primitive::<Int64Type>().value(i),
                        b.column(4).as_primitive::<Int64Type>().value(i),
                    ));
                }
            }
        }
        rows.sort();
        rows
    }

    fn run(keep_last: bool) -> (Vec<(String, i64, i64)>, u64) {
        let ctx = SubtaskContext::single("dedup");
        let mut op = dedup(keep_last).into_factory().create(&ctx).unwrap();
        let mut out = Output::default();
        // Window ending at 10: key a at times 3, 1, 1 (tie), 7, 7 (tie); key b at 5.
        op.process_batch(
            0,
            batch(&[(10, "a", 3, 1), (10, "a", 1, 2), (10, "b", 5, 3)]),
            &mut out,
        )
        .unwrap();
        op.process_batch(
            0,
            batch(&[(10, "a", 1, 4), (10, "a", 7, 5), (20, "a", 12, 6)]),
            &mut out,
        )
        .unwrap();
        op.process_batch(0, batch(&[(10, "a", 7, 7)]), &mut out)
            .unwrap();
        assert!(out.is_empty());
        op.process_watermark(Watermark(9), &mut out).unwrap();
        let first = emitted(&mut out);
        // Late for the fired window.
        op.process_batch(0, batch(&[(10, "c", 2, 8)]), &mut out)
            .unwrap();
        op.process_watermark(Watermark::MAX, &mut out).unwrap();
        let mut rows = first;
        rows.extend(emitted(&mut out));
        (rows, JobMetrics::get(&ctx.metrics.late_records_dropped))
    }

    #[test]
    fn keeps_the_first_row_and_the_earliest_arrival_among_ties() {
        let (mut rows, late) = run(false);
        rows.sort();
        assert_eq!(
            rows,
            vec![("a".into(), 2, 1), ("a".into(), 6, 1), ("b".into(), 3, 1)]
        );
        assert_eq!(late, 1);
    }

    #[test]
    fn keeps_the_last_row_and_the_latest_arrival_among_ties() {
        let (mut rows, late) = run(true);
        rows.sort();
        assert_eq!(
            rows,
            vec![("a".into(), 6, 1), ("a".into(), 7, 1), ("b".into(), 3, 1)]
        );
        assert_eq!(late, 1);
    }

    #[test]
    fn state_is_reduced_to_one_row_per_key() {
        let def = dedup(false);
        let many: Vec<(i64, &str, i64, i64)> = (0..5000).map(|i| (10, "a", i % 7, i)).collect();
        let reduced = {
            let b = batch(&many);
            let mut columns = b.columns().to_vec();
            columns.push(Arc::new(UInt64Array::from_iter_values(0..5000)));
            let mut fields: Vec<Arc<Field>> = b.schema().fields().iter().cloned().collect();
            fields.push(Arc::new(Field::new("__arrival", DataType::UInt64, false)));
            def.reduce(&RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap())
                .unwrap()
        };
        assert_eq!(reduced.num_rows(), 1);
        // Time 0 first reached at value 0.
        assert_eq!(reduced.column(3).as_primitive::<Int64Type>().value(0), 0);
    }
}
