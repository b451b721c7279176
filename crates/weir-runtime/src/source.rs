//! The source interface: readers that produce batches per split, and event-time
//! extraction for watermarks.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use weir_state::StateSnapshot;
use weir_types::{EngineError, EngineResult, Watermark};

use crate::operator::{OperatorFactory, SubtaskContext};

/// What a source reader produced.
#[derive(Debug)]
pub enum SourceEvent {
    /// Rows read from split `split` (an index below [`SourceReader::split_count`]).
    Batch {
        /// Split the rows came from; watermarks are tracked per split.
        split: usize,
        /// The rows, with the table's source schema.
        batch: RecordBatch,
    },
    /// Split `split` has no more rows: it no longer holds the watermark back.
    SplitFinished(usize),
    /// Every split of this reader is finished (a bounded source ended).
    Finished,
    /// Event time of this subtask has advanced to the watermark: emitted as is (if it
    /// is above the last one emitted). Only readers whose
    /// [`SourceReader::controls_watermarks`] is true produce it (test mocks that script
    /// event time); the runtime then derives no watermarks from the rows.
    Watermark(Watermark),
}

/// One subtask of a source.
#[async_trait]
pub trait SourceReader: Send {
    /// Number of splits this subtask reads (files, partitions, generator shards).
    /// May be 0: the subtask then finishes at once, or idles if the source is unbounded.
    /// It may grow between two events (partitions discovered while running): new splits
    /// take the next indices, and a split keeps its index for as long as the reader lives.
    fn split_count(&self) -> usize;

    /// A stable name of split `split` (a file path, a partition, a generator shard),
    /// the same in every run of the job. The runtime keeps each split's watermark in
    /// checkpoints under this name, so a restored job resumes event time where it was.
    /// Default: the split's index.
    fn split_id(&self, split: usize) -> String {
        split.to_string()
    }

    /// Produces the next event, waiting if none is available yet (an unbounded source).
    ///
    /// Must be cancel-safe: the runtime may drop the future at an `.await` point (to emit
    /// a periodic watermark, or to stop) and call `next` again; no row may be lost or
    /// read twice when that happens.
    async fn next(&mut self) -> EngineResult<SourceEvent>;

    /// Whether this reader decides the subtask's watermarks itself, with
    /// [`SourceEvent::Watermark`], instead of the table's `WATERMARK FOR` clause. Asked
    /// once, when the subtask starts. Default: false.
    fn controls_watermarks(&self) -> bool {
        false
    }

    /// Whether the reader can rewind to a position taken by
    /// [`SourceReader::snapshot_position`] (file offsets, generator positions), which
    /// exactly-once checkpoints need. Default: false.
    fn is_rewindable(&self) -> bool {
        false
    }

    /// The position of every split after the last event returned by `next`, as union
    /// tables (one row per split, named by something stable such as its path), so a job
    /// restored at another parallelism finds each split's position wherever the split
    /// goes.
    fn snapshot_position(&mut self) -> EngineResult<StateSnapshot> {
        Ok(StateSnapshot::new())
    }

    /// Continues from positions [`SourceReader::snapshot_position`] took (every old
    /// subtask's rows; the reader picks those of its own splits). Called before the
    /// first `next`, only with a non-empty snapshot.
    fn restore_position(&mut self, _snapshot: StateSnapshot) -> EngineResult<()> {
        Err(EngineError::Config(
            "this source cannot rewind to a checkpointed position".into(),
        ))
    }

    /// Checkpoint `checkpoint_id` is complete (e.g. a Kafka reader commits its offsets
    /// to the consumer group). Default: nothing.
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> EngineResult<()> {
        Ok(())
    }
}

/// Creates the subtasks of a source node.
pub trait SourceFactory: Send + Sync {
    /// Whether the source ends by itself (files, `number-of-rows`); unbounded otherwise.
    fn is_bounded(&self) -> bool;

    /// Creates subtask `ctx.subtask` of `ctx.parallelism`.
    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>>;

    /// Projection pushdown: a factory whose readers may leave the columns of the rows
    /// they produce that `read` does not mark (`read[i]` for column `i`) all NULL, to save
    /// decoding them; the rows keep their schema. `None` (the default) when the source
    /// would not read less.
    fn reading_only(&self, _read: &[bool]) -> Option<Arc<dyn SourceFactory>> {
        None
    }
}

/// Computes the event-time watermark candidate of a batch: the maximum of the table's
/// `WATERMARK FOR col AS expr` expression over its rows, in epoch milliseconds.
pub trait EventTimeExtractor: Send + Sync {
    /// `None` when the batch has no non-null event time.
    fn max_watermark(&self, batch: &RecordBatch) -> EngineResult<Option<i64>>;

    /// The watermark candidate of every row (for `pipeline.auto-watermark-interval` 0,
    /// where a watermark follows every row that raises it).
    fn row_watermarks(&self, batch: &RecordBatch) -> EngineResult<Vec<Option<i64>>>;
}

/// A source node: the reader, an optional operator that turns read rows into table rows
/// (computed columns), and the table's watermark definition.
#[derive(Clone)]
pub struct SourceSpec {
    /// Creates the readers.
    pub factory: Arc<dyn SourceFactory>,
    /// Computes computed columns from the read rows, chained into the source task so
    /// that watermarks can be taken per split.
    pub prepare: Option<Arc<dyn OperatorFactory>>,
    /// The table's watermark strategy; `None` for tables without `WATERMARK FOR`.
    pub event_time: Option<Arc<dyn EventTimeExtractor>>,
}
