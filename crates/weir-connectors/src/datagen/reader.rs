//! One subtask of a datagen source: its shards, rate-limited, one batch per `next`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use async_trait::async_trait;
use tokio::time::Instant;
use weir_runtime::{SourceEvent, SourceReader, StateSnapshot, SubtaskContext};
use weir_types::EngineResult;

use super::fields::ColumnGen;
use super::generate::GenContext;
use super::position::{self, shard_id, ShardPosition};

/// A shard and whether its end was reported.
struct Shard {
    position: ShardPosition,
    reported: bool,
}

impl Shard {
    fn remaining(&self) -> u64 {
        self.position
            .limit
            .map_or(u64::MAX, |l| l - self.position.emitted.min(l))
    }
}

/// One subtask of a datagen source: one shard (the rows `subtask + k * parallelism`),
/// or after a restore at another parallelism, the old shards it now makes.
pub(crate) struct DatagenReader {
    schema: SchemaRef,
    columns: Arc<Vec<ColumnGen>>,
    /// The columns' definitions, to refuse a checkpoint of another table.
    fingerprint: String,
    subtask: u64,
    parallelism: u64,
    bounded: bool,
    shards: Vec<Shard>,
    /// Rows emitted by this reader (for the rate limit).
    sent: u64,
    /// Rows per second of this subtask.
    rate: f64,
    batch_rows: u64,
    /// When the first row was due; set on the first call of `next`.
    start: Option<Instant>,
}

impl DatagenReader {
    /// A reader of one shard.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        schema: SchemaRef,
        columns: Arc<Vec<ColumnGen>>,
        fingerprint: String,
        ctx: &SubtaskContext,
        shard: ShardPosition,
        rate: f64,
        batch_rows: u64,
        bounded: bool,
    ) -> DatagenReader {
        DatagenReader {
            schema,
            columns,
            fingerprint,
            subtask: ctx.subtask as u64,
            parallelism: ctx.parallelism.max(1) as u64,
            bounded,
            shards: vec![Shard {
                position: shard,
                reported: false,
            }],
            sent: 0,
            rate,
            batch_rows,
            start: None,
        }
    }

    /// The next `rows` rows of shard `split`.
    fn generate(&mut self, split: usize, rows: usize) -> EngineResult<RecordBatch> {
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let p = &self.shards[split].position;
        let numbers = (0..rows as u64)
            .map(|k| p.index + (p.emitted + k) * p.count)
            .collect();
        let mut ctx = GenContext::new(p.seed, numbers, now_ms);
        let owners = ctx.owners();
        let arrays = self
            .columns
            .iter()
            .map(|c| c.generate(&mut ctx, &owners))
            .collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &options,
        )?)
    }
}

#[async_trait]
impl SourceReader for DatagenReader {
    fn split_count(&self) -> usize {
        self.shards.len()
    }

    fn split_id(&self, split: usize) -> String {
        self.shards.get(split).map_or_else(
            || split.to_string(),
            |s| shard_id(s.position.index, s.position.count),
        )
    }

    async fn next(&mut self) -> EngineResult<SourceEvent> {
        for (i, shard) in self.shards.iter_mut().enumerate() {
            if shard.remaining() == 0 && !shard.reported {
                shard.reported = true;
                return Ok(SourceEvent::SplitFinished(i));
            }
        }
        // The shard with the fewest rows emitted goes first.
        let next = self
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.remaining() > 0)
            .min_by_key(|(_, s)| s.position.emitted)
            .map(|(i, _)| i);
        let Some(split) = next else {
            if !self.bounded {
                // No shard here (restored at a higher parallelism): idle.
                std::future::pending::<()>().await;
            }
            return Ok(SourceEvent::Finished);
        };
        // Setting the start is idempotent, so a cancelled call loses nothing; every
        // other change happens after the last await.
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = Duration::try_from_secs_f64(self.sent as f64 / self.rate)
            .ok()
            .and_then(|offset| start.checked_add(offset))
            .unwrap_or(start);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        } else {
            // Let the task's other branches (watermark ticks, stop) run between batches.
            tokio::task::yield_now().await;
        }
        let rows = self.shards[split].remaining().min(self.batch_rows) as usize;
        let batch = self.generate(split, rows)?;
        self.shards[split].position.emitted += rows as u64;
        self.sent += rows as u64;
        Ok(SourceEvent::Batch { split, batch })
    }

    fn is_rewindable(&self) -> bool {
        true
    }

    fn snapshot_position(&mut self) -> EngineResult<StateSnapshot> {
        let positions: Vec<ShardPosition> = self.shards.iter().map(|s| s.position).collect();
        position::snapshot(&positions, &self.fingerprint)
    }

    fn restore_position(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let positions = position::restore(snapshot, &self.fingerprint)?;
        self.shards = positions
            .into_iter()
            .filter(|p| p.index % self.parallelism == self.subtask)
            .map(|position| Shard {
                position,
                reported: false,
            })
            .collect();
        Ok(())
    }
}
