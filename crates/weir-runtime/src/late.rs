//! The late-data table (`SET 'weir.late-data.table' = 'name'`): rows that operators drop
//! as late are written to a table the job declares, besides being counted.
//!
//! Operators that drop late rows (window aggregations, session windows, window Top-N
//! and deduplication, OVER) hold a [`LateRowsWriter`]; it turns the dropped rows of a
//! batch into one batch of the late-data schema ([`late_data_schema`]) and queues it on
//! the job's [`LateData`]. A source node ([`LateDataSource`], parallelism 1) reads the
//! queue and feeds an ordinary sink. The source ends when every writer is gone (each
//! producing subtask drops its writer when it ends), so a bounded job still ends.
//!
//! The queue is unbounded: late rows are few, and a bounded queue between operators and
//! a source of the same job could deadlock. It is outside the dataflow's channels, so the
//! late rows of a stopped job (stop, not end of input) may be left unwritten, and when
//! checkpoints come this path will need to become a side output of the operators.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, StringArray, TimestampMillisecondArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use tokio::sync::Notify;
use weir_state::StateSnapshot;
use weir_types::{EngineError, EngineResult, Watermark, ROW_KIND_COLUMN};

use crate::operator::{Operator, OperatorFactory, Output, SubtaskContext};
use crate::source::{SourceEvent, SourceFactory, SourceReader};

/// The columns of the late-data stream: the operator that dropped the row, the row's
/// event time, the operator's watermark when it dropped the row (both in the time
/// column's own time domain), and the row's columns as a JSON object.
pub fn late_data_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("operator", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new(
            "current_watermark",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("row", DataType::Utf8, false),
    ]))
}

/// The queue of late rows of one job, and how many producing subtasks are still alive.
#[derive(Default)]
pub struct LateData {
    queue: Mutex<VecDeque<RecordBatch>>,
    producers: AtomicUsize,
    notify: Notify,
}

impl LateData {
    /// An empty queue without producers.
    pub fn new() -> Arc<LateData> {
        Arc::new(LateData::default())
    }

    /// Declares `subtasks` more producing subtasks (at planning: each creates one writer,
    /// and the source ends once all of them have dropped theirs).
    pub fn expect_producers(&self, subtasks: usize) {
        self.producers.fetch_add(subtasks, Ordering::SeqCst);
    }

    /// A writer for one subtask of the operator called `operator`.
    pub fn writer(self: &Arc<Self>, operator: &str) -> LateRowsWriter {
        LateRowsWriter {
            data: Arc::clone(self),
            operator: operator.to_string(),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn push(&self, batch: RecordBatch) -> EngineResult<()> {
        self.queue
            .lock()
            .map_err(|_| EngineError::Internal("late-data queue poisoned".into()))?
            .push_back(batch);
        self.notify.notify_one();
        Ok(())
    }

    fn pop(&self) -> EngineResult<Option<RecordBatch>> {
        Ok(self
            .queue
            .lock()
            .map_err(|_| EngineError::Internal("late-data queue poisoned".into()))?
            .pop_front())
    }
}

/// Writes the late rows of one operator subtask to the job's [`LateData`].
pub struct LateRowsWriter {
    data: Arc<LateData>,
    operator: String,
    closed: std::sync::atomic::AtomicBool,
}

impl LateRowsWriter {
    /// Queues the rows `rows` of `batch`, dropped as late at `watermark`; their event
    /// times are in column `time_column` (a TIMESTAMP). The row kind column of an
    /// updating stream, if any, is left out of the JSON text.
    pub fn write(
        &self,
        batch: &RecordBatch,
        rows: &[u32],
        time_column: usize,
        watermark: i64,
    ) -> EngineResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let indices = UInt32Array::from(rows.to_vec());
        let mut columns = Vec::with_capacity(batch.num_columns());
        let mut fields = Vec::with_capacity(batch.num_columns());
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if field.name() != ROW_KIND_COLUMN {
                fields.push(Arc::clone(field));
                columns.push(take(column.as_ref(), &indices, None)?);
            }
        }
        let picked = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let time = batch.columns().get(time_column).ok_or_else(|| {
            EngineError::Internal(format!("late row time column {time_column} is missing"))
        })?;
        let event_time = event_time_millis(&take(time.as_ref(), &indices, None)?)?;
        let mut json = arrow::json::LineDelimitedWriter::new(Vec::new());
        json.write(&picked)?;
        json.finish()?;
        let text = String::from_utf8(json.into_inner())
            .map_err(|e| EngineError::Internal(format!("late row JSON is not UTF-8: {e}")))?;
        let rows_text: StringArray = text.lines().map(Some).collect();
        if rows_text.len() != rows.len() {
            return Err(EngineError::Internal(format!(
                "late rows: {} JSON lines for {} rows",
                rows_text.len(),
                rows.len()
            )));
        }
        let n = rows.len();
        let out = RecordBatch::try_new(
            late_data_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                    self.operator.as_str(),
                    n,
                ))) as ArrayRef,
                Arc::new(event_time),
                Arc::new(TimestampMillisecondArray::from_value(watermark, n)),
                Arc::new(rows_text),
            ],
        )?;
        self.data.push(out)
    }
}

impl LateRowsWriter {
    /// This producer writes no more rows (its operator finished): once every producer
    /// closed, the late-data source ends. Dropping the writer closes it too.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // Saturating: a writer created without a declared producer never underflows.
        let _ = self
            .data
            .producers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        self.data.notify.notify_one();
    }
}

impl Drop for LateRowsWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Epoch milliseconds of a TIMESTAMP column, as a timestamp without time zone.
fn event_time_millis(column: &ArrayRef) -> EngineResult<TimestampMillisecondArray> {
    let DataType::Timestamp(_, tz) = column.data_type() else {
        return Err(EngineError::Internal(format!(
            "late row time column is {}, not a TIMESTAMP",
            column.data_type()
        )));
    };
    let millis = cast(
        column,
        &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
    )?;
    let millis = millis.as_primitive::<TimestampMillisecondType>();
    Ok(TimestampMillisecondArray::new(
        millis.values().clone(),
        millis.nulls().cloned(),
    ))
}

/// Wraps the factory of an operator that drops late rows: each subtask it creates gets
/// a writer in [`SubtaskContext::late_rows`] (one declared producer per subtask).
pub struct RoutesLateRows {
    /// The operator's own factory.
    pub inner: Arc<dyn OperatorFactory>,
    /// The job's late-data queue.
    pub data: Arc<LateData>,
    /// The operator as the `operator` column names it.
    pub label: String,
}

impl OperatorFactory for RoutesLateRows {
    fn create(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn Operator>> {
        let mut ctx = ctx.clone();
        let writer = Arc::new(self.data.writer(&self.label));
        ctx.late_rows = Some(Arc::clone(&writer));
        Ok(Box::new(ClosesLateRows {
            inner: self.inner.create(&ctx)?,
            writer,
        }))
    }
}

/// An operator that writes late rows: closes its writer when it finishes, because with
/// checkpoints a finished operator stays alive (for the final checkpoint) and the
/// late-data source must still end.
struct ClosesLateRows {
    inner: Box<dyn Operator>,
    writer: Arc<LateRowsWriter>,
}

impl Operator for ClosesLateRows {
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        self.inner.process_batch(input, batch, out)
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        self.inner.process_watermark(watermark, out)
    }

    fn finish(&mut self, out: &mut Output) -> EngineResult<()> {
        self.inner.finish(out)?;
        self.writer.close();
        Ok(())
    }

    fn prepare_snapshot_pre_barrier(
        &mut self,
        checkpoint_id: u64,
        out: &mut Output,
    ) -> EngineResult<()> {
        self.inner.prepare_snapshot_pre_barrier(checkpoint_id, out)
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.inner.snapshot_state(checkpoint_id)
    }

    fn snapshot_savepoint(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.inner.snapshot_savepoint(checkpoint_id)
    }

    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        self.inner.restore_state(snapshot)
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        self.inner.notify_checkpoint_complete(checkpoint_id)
    }
}

/// The source node reading a job's late rows.
pub struct LateDataSource {
    /// The job's queue.
    pub data: Arc<LateData>,
}

impl SourceFactory for LateDataSource {
    fn is_bounded(&self) -> bool {
        true
    }

    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        Ok(Box::new(LateDataReader {
            data: Arc::clone(&self.data),
            active: ctx.subtask == 0,
        }))
    }
}

/// Reads the queue until every producer is gone (subtask 0 only).
struct LateDataReader {
    data: Arc<LateData>,
    active: bool,
}

#[async_trait]
impl SourceReader for LateDataReader {
    fn split_count(&self) -> usize {
        usize::from(self.active)
    }

    /// Late rows are not a position in an outside source: after a restore, the
    /// operators replaying their input drop (and write) the late rows again. Rows queued
    /// but not yet read when a checkpoint is taken are not in it, so the late-data table
    /// is best effort under checkpoints (docs/checkpoints.md).
    fn is_rewindable(&self) -> bool {
        true
    }

    async fn next(&mut self) -> EngineResult<SourceEvent> {
        if !self.active {
            return Ok(SourceEvent::Finished);
        }
        loop {
            if let Some(batch) = self.data.pop()? {
                return Ok(SourceEvent::Batch { split: 0, batch });
            }
            if self.data.producers.load(Ordering::SeqCst) == 0 {
                // Rows queued by the last producer before it dropped its writer.
                if let Some(batch) = self.data.pop()? {
                    return Ok(SourceEvent::Batch { split: 0, batch });
                }
                self.active = false;
                return Ok(SourceEvent::Finished);
            }
            // Cancel-safe: a notification sent while nobody waits is kept as a permit.
            self.data.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    #[tokio::test]
    async fn late_rows_reach_the_reader_which_ends_with_the_last_writer() {
        let data = LateData::new();
        data.expect_producers(2);
        let a = data.writer("WindowAggregate");
        let b = data.writer("OverAggregate");
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("v", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(
                    TimestampMillisecondArray::from(vec![Some(1_000), Some(2_000)])
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from(vec![Some(7), None])),
            ],
        )
        .unwrap();
        a.write(&batch, &[1], 0, 5_000).unwrap();
        drop(a);
        let source = LateDataSource {
            data: Arc::clone(&data),
        };
        let mut reader = source
            .create_reader(&SubtaskContext::single("late"))
            .unwrap();
        let SourceEvent::Batch { batch: out, .. } = reader.next().await.unwrap() else {
            panic!("expected a batch");
        };
        assert_eq!(out.num_rows(), 1);
        let text = out.column(3).as_string::<i32>().value(0).to_string();
        assert!(text.contains("\"ts\""), "{text}");
        assert!(!text.contains("\"v\""), "NULL columns are left out: {text}");
        let times = out.column(1).as_primitive::<TimestampMillisecondType>();
        assert_eq!(times.value(0), 2_000);
        assert_eq!(
            out.column(2)
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            5_000
        );
        b.write(&batch, &[0], 0, 6_000).unwrap();
        drop(b);
        assert!(matches!(
            reader.next().await.unwrap(),
            SourceEvent::Batch { .. }
        ));
        assert!(matches!(
            reader.next().await.unwrap(),
            SourceEvent::Finished
        ));
    }
}
