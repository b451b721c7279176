//! A source task: reads a source subtask's splits, computes computed columns, generates
//! watermarks per split (every `pipeline.auto-watermark-interval`, or after every row
//! that raises one when it is 0), pushes rows through its chain and, with checkpoints,
//! records its read positions and injects barriers when the coordinator says so.
//!
//! A reader's split count may grow while it runs (Kafka partitions discovered): after
//! every event the task tracks the new splits, each with the watermark a restored
//! checkpoint holds for it, if any (see [`SplitWatermarks::grow`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use tokio::sync::watch;
use weir_state::StateSnapshot;
use weir_types::{Barrier, EngineError, EngineResult, Message, OperatorId, Watermark};

use crate::checkpoint::{Control, NodeSnapshot, SPLIT_WATERMARKS_TABLE};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, Output};
use crate::source::{EventTimeExtractor, SourceEvent, SourceReader};
use crate::task::{recv_control, serve_until_shutdown, ChainRunner, CheckpointLink, FinishedTask};
use crate::watermark::{SplitWatermarks, WatermarkStatus};

/// A source subtask: reader, optional preparation (computed columns), watermarks.
pub(crate) struct SourceTask {
    pub source_id: OperatorId,
    pub reader: Box<dyn SourceReader>,
    pub prepare: Option<Box<dyn Operator>>,
    pub event_time: Option<Arc<dyn EventTimeExtractor>>,
    pub chain: ChainRunner,
    pub metrics: Arc<JobMetrics>,
    pub watermark_interval: Duration,
    pub idle_timeout: Option<Duration>,
    pub stop: watch::Receiver<bool>,
    pub checkpoints: Option<CheckpointLink>,
}

/// A finished source task: its reader's final positions and its chain.
struct FinishedSource<'a> {
    source_id: OperatorId,
    reader: &'a mut dyn SourceReader,
    chain: &'a mut ChainRunner,
    splits: &'a SplitWatermarks,
}

impl FinishedTask for FinishedSource<'_> {
    fn snapshot(&mut self, checkpoint_id: u64, savepoint: bool) -> EngineResult<Vec<NodeSnapshot>> {
        let mut snapshots = vec![snapshot_source(
            self.source_id,
            self.chain.subtask,
            self.reader,
            self.splits,
        )?];
        snapshots.extend(self.chain.snapshot_all(checkpoint_id, savepoint)?);
        Ok(snapshots)
    }

    fn notify(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        self.reader.notify_checkpoint_complete(checkpoint_id)?;
        self.chain.notify_complete(checkpoint_id)
    }
}

/// Event-time bookkeeping of a running source task.
struct EventClock {
    splits: SplitWatermarks,
    last_emitted: Watermark,
    idle_announced: bool,
    /// The split watermarks of the restored checkpoint, for splits that appear later.
    restored: Vec<RecordBatch>,
}

impl SourceTask {
    pub async fn run(mut self) -> EngineResult<()> {
        if self.reader.controls_watermarks() {
            // The reader scripts event time: the table's WATERMARK FOR does not apply.
            self.event_time = None;
        }
        // Restored first: a reader may take over other splits (another parallelism).
        let mut split_watermarks = Vec::new();
        if let Some(checkpoint) = self.checkpoints.as_ref().and_then(|l| l.restore.clone()) {
            split_watermarks = self.restore(&checkpoint).await?;
            self.chain.restore(&checkpoint).await?;
        }
        let mut clock = EventClock {
            splits: SplitWatermarks::new(
                self.reader.split_count(),
                self.idle_timeout,
                Instant::now(),
            ),
            last_emitted: Watermark::MIN,
            idle_announced: false,
            restored: split_watermarks,
        };
        for batch in &clock.restored {
            restore_split_watermarks(self.reader.as_ref(), &mut clock.splits, batch, 0)?;
        }
        self.read(&mut clock).await?;
        let Some(mut link) = self.checkpoints.take() else {
            return Ok(());
        };
        let mut finished = FinishedSource {
            source_id: self.source_id,
            reader: self.reader.as_mut(),
            chain: &mut self.chain,
            splits: &clock.splits,
        };
        serve_until_shutdown(&mut link, &mut finished).await
    }

    /// Reads until the source ends or is stopped; `End` has been sent when it returns.
    async fn read(&mut self, clock: &mut EventClock) -> EngineResult<()> {
        // Periodic watermarks; an interval of 0 means after every batch.
        let per_batch = self.watermark_interval.is_zero();
        let mut ticker = tokio::time::interval(if per_batch {
            Duration::from_millis(200)
        } else {
            self.watermark_interval
        });
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_periodic = Instant::now() + self.watermark_interval;
        loop {
            if *self.stop.borrow() {
                // Graceful stop: no final watermark (windows stay open, as in Flink's stop).
                return self.chain.push_and_flush(0, Message::End).await;
            }
            tokio::select! {
                biased;
                _ = self.stop.changed() => {
                    if self.stop.has_changed().is_err() {
                        // The job handle went away: stop as well.
                        return self.chain.push_and_flush(0, Message::End).await;
                    }
                }
                control = recv_control(&mut self.checkpoints) => {
                    self.on_control(control, clock).await?;
                }
                event = self.reader.next() => match event.and_then(|e| {
                    self.track_new_splits(clock)?;
                    Ok(e)
                })? {
                    SourceEvent::Batch { split, batch } => {
                        JobMetrics::add(&self.metrics.records_in, batch.num_rows());
                        self.on_batch(split, batch, per_batch, clock)?;
                        // A reader that is always ready would starve the ticker (the select
                        // is biased towards data): emit periodic watermarks here too.
                        if per_batch || Instant::now() >= next_periodic {
                            self.emit_status(clock)?;
                            next_periodic = Instant::now() + self.watermark_interval;
                        }
                        self.chain.flush().await?;
                    }
                    SourceEvent::SplitFinished(split) => clock.splits.finish(split),
                    SourceEvent::Watermark(w) => {
                        if w > clock.last_emitted || (clock.idle_announced && w >= clock.last_emitted) {
                            clock.last_emitted = w;
                            clock.idle_announced = false;
                            self.chain.push(0, Message::Watermark(w))?;
                            self.chain.flush().await?;
                        }
                    }
                    SourceEvent::Finished => {
                        self.chain.push(0, Message::Watermark(Watermark::MAX))?;
                        return self.chain.push_and_flush(0, Message::End).await;
                    }
                },
                _ = ticker.tick() => {
                    next_periodic = Instant::now() + self.watermark_interval;
                    self.emit_status(clock)?;
                    self.chain.flush().await?;
                }
            }
        }
    }

    /// Tracks the splits the reader added since the last event, with the watermarks the
    /// restored checkpoint holds for them.
    fn track_new_splits(&mut self, clock: &mut EventClock) -> EngineResult<()> {
        let known = clock.splits.len();
        let count = self.reader.split_count();
        if count <= known {
            return Ok(());
        }
        clock.splits.grow(count, Instant::now());
        for batch in &clock.restored {
            restore_split_watermarks(self.reader.as_ref(), &mut clock.splits, batch, known)?;
        }
        Ok(())
    }

    /// Rows read from `split`: computed columns, watermarks, the chain.
    fn on_batch(
        &mut self,
        split: usize,
        batch: RecordBatch,
        per_batch: bool,
        clock: &mut EventClock,
    ) -> EngineResult<()> {
        let batches = match self.prepare.as_mut() {
            None => vec![batch],
            Some(op) => {
                let mut out = Output::default();
                op.process_batch(0, batch, &mut out)?;
                out.drain()
                    .filter_map(|m| match m {
                        Message::Batch(b) => Some(b),
                        _ => None,
                    })
                    .collect()
            }
        };
        for batch in batches {
            match self.event_time.clone() {
                // Interval 0: a watermark after every row that raises it, as Flink does;
                // rows after it in the batch can then be late.
                Some(extractor) if per_batch => {
                    let rows = extractor.row_watermarks(&batch)?;
                    let mut running = i64::MIN;
                    let mut segment_start = 0;
                    for (row, candidate) in rows.iter().enumerate() {
                        let Some(candidate) = *candidate else {
                            continue;
                        };
                        if candidate > running {
                            running = candidate;
                            let segment = batch.slice(segment_start, row + 1 - segment_start);
                            self.chain.push(0, Message::Batch(segment))?;
                            segment_start = row + 1;
                            clock.splits.observe(split, Some(candidate), Instant::now());
                            self.emit_status(clock)?;
                        }
                    }
                    clock.splits.observe(split, None, Instant::now());
                    if segment_start < batch.num_rows() {
                        let rest = batch.slice(segment_start, batch.num_rows() - segment_start);
                        self.chain.push(0, Message::Batch(rest))?;
                    }
                }
                Some(extractor) => {
                    let candidate = extractor.max_watermark(&batch)?;
                    clock.splits.observe(split, candidate, Instant::now());
                    self.chain.push(0, Message::Batch(batch))?;
                }
                None => {
                    clock.splits.observe(split, None, Instant::now());
                    self.chain.push(0, Message::Batch(batch))?;
                }
            }
        }
        Ok(())
    }

    /// A message from the checkpoint coordinator while reading.
    async fn on_control(&mut self, control: Control, clock: &mut EventClock) -> EngineResult<()> {
        match control {
            Control::Trigger {
                checkpoint_id,
                triggered_at_ms,
                savepoint,
            } => {
                // Between two events: the positions are after the last rows pushed.
                let source = snapshot_source(
                    self.source_id,
                    self.chain.subtask,
                    self.reader.as_mut(),
                    &clock.splits,
                )?;
                self.chain.push(
                    0,
                    Message::Barrier(Barrier {
                        checkpoint_id,
                        triggered_at_ms,
                        savepoint,
                    }),
                )?;
                let mut snapshots = vec![source];
                snapshots.extend(self.chain.take_barrier_snapshots()?);
                if let Some(link) = self.checkpoints.as_mut() {
                    link.ack(checkpoint_id, snapshots, Duration::ZERO);
                }
                self.chain.flush().await
            }
            Control::Complete { checkpoint_id } => {
                self.reader.notify_checkpoint_complete(checkpoint_id)?;
                self.chain.notify_complete(checkpoint_id)
            }
            Control::Shutdown => Err(EngineError::Internal(
                "the coordinator shut down a source that is still reading".into(),
            )),
        }
    }

    /// Positions the reader from `checkpoint`; returns the splits' watermarks it holds.
    async fn restore(
        &mut self,
        checkpoint: &weir_state::CompletedCheckpoint,
    ) -> EngineResult<Vec<RecordBatch>> {
        let snapshot = checkpoint
            .restore(
                &self.source_id.to_string(),
                self.chain.subtask,
                self.chain.parallelism,
            )
            .await
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
        let mut positions = StateSnapshot::new();
        let mut watermarks = Vec::new();
        for table in snapshot.into_tables() {
            if table.name() == SPLIT_WATERMARKS_TABLE {
                watermarks.extend(table.into_batches());
            } else {
                positions
                    .push_table(table)
                    .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
            }
        }
        if !positions.is_empty() {
            self.reader.restore_position(positions)?;
        }
        Ok(watermarks)
    }

    fn emit_status(&mut self, clock: &mut EventClock) -> EngineResult<()> {
        let now = Instant::now();
        if self.event_time.is_none() && clock.splits.status(now) != WatermarkStatus::Idle {
            return Ok(());
        }
        match clock.splits.status(now) {
            WatermarkStatus::Active(w) => {
                if w > clock.last_emitted || (clock.idle_announced && w >= clock.last_emitted) {
                    clock.last_emitted = w;
                    clock.idle_announced = false;
                    self.chain.push(0, Message::Watermark(w))?;
                }
            }
            WatermarkStatus::Idle => {
                if !clock.idle_announced {
                    clock.idle_announced = true;
                    self.chain.push(0, Message::Idle)?;
                }
            }
        }
        Ok(())
    }
}

/// The source node's snapshot: the reader's positions and each split's watermark.
fn snapshot_source(
    source_id: OperatorId,
    subtask: usize,
    reader: &mut dyn SourceReader,
    splits: &SplitWatermarks,
) -> EngineResult<NodeSnapshot> {
    let mut snapshot = reader.snapshot_position()?;
    let count = reader.split_count();
    if count > 0 {
        let ids: StringArray = (0..count).map(|s| Some(reader.split_id(s))).collect();
        let watermarks: Int64Array = (0..count).map(|s| splits.split_watermark(s)).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("split_id", DataType::Utf8, false),
            Field::new("watermark", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(watermarks)])?;
        snapshot
            .add_union(SPLIT_WATERMARKS_TABLE, batch)
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
    }
    Ok(NodeSnapshot {
        operator_id: source_id,
        subtask,
        snapshot,
    })
}

/// Sets the watermark of each of the reader's splits from index `from` on named in `batch`.
fn restore_split_watermarks(
    reader: &dyn SourceReader,
    splits: &mut SplitWatermarks,
    batch: &RecordBatch,
    from: usize,
) -> EngineResult<()> {
    let bad = || {
        EngineError::Checkpoint(format!(
            "the checkpoint's {SPLIT_WATERMARKS_TABLE} table does not have the expected columns"
        ))
    };
    let ids = batch
        .column_by_name("split_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(bad)?;
    let watermarks = batch
        .column_by_name("watermark")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(bad)?;
    for split in from..reader.split_count() {
        let id = reader.split_id(split);
        for row in 0..ids.len() {
            if ids.is_valid(row) && ids.value(row) == id {
                splits.restore(split, watermarks.value(row));
            }
        }
    }
    Ok(())
}
