//! The operator interface: what every non-source node of a dataflow implements.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use weir_state::{StateBackend, StateSnapshot};
use weir_types::{EngineError, EngineResult, Message, Watermark};

use crate::late::LateRowsWriter;
use crate::metrics::JobMetrics;

/// Where a subtask runs: its index, the node's parallelism, and the job's shared metrics.
#[derive(Clone)]
pub struct SubtaskContext {
    /// Node name, for messages.
    pub node_name: String,
    /// 0-based subtask index.
    pub subtask: usize,
    /// Number of subtasks of this node.
    pub parallelism: usize,
    /// `pipeline.max-parallelism`: number of key groups.
    pub max_parallelism: usize,
    /// Counters shared by the whole job.
    pub metrics: Arc<JobMetrics>,
    /// Where this subtask writes the rows it drops as late, when the job has a late-data
    /// table (set by [`crate::late::RoutesLateRows`]); operators that drop late rows keep
    /// a clone for as long as they run.
    pub late_rows: Option<Arc<LateRowsWriter>>,
    /// Whether the job takes checkpoints (`execution.checkpointing.interval` set). A
    /// sink then stages its output in [`Operator::snapshot_state`] and commits it only in
    /// [`Operator::notify_checkpoint_complete`], even at the end of input: `finish`
    /// stages, and the job's final checkpoint commits.
    pub checkpointing: bool,
    /// `execution.checkpointing.interval` when the job takes checkpoints: a sink whose
    /// output waits for checkpoints (Kafka transactions) checks that what it opens
    /// outlives an interval.
    pub checkpoint_interval: Option<std::time::Duration>,
    /// `state.backend.type`: where operators that support it keep keyed state (the
    /// unbounded aggregation keeps it in RocksDB with [`StateBackend::RocksDb`]).
    pub state_backend: StateBackend,
}

impl SubtaskContext {
    /// A context for tests and tools: subtask 0 of 1.
    pub fn single(node_name: &str) -> SubtaskContext {
        SubtaskContext {
            node_name: node_name.to_string(),
            subtask: 0,
            parallelism: 1,
            max_parallelism: weir_types::keygroup::DEFAULT_MAX_PARALLELISM,
            metrics: Arc::new(JobMetrics::default()),
            late_rows: None,
            checkpointing: false,
            checkpoint_interval: None,
            state_backend: StateBackend::HashMap,
        }
    }
}

/// Collects what an operator emits while it handles one input message.
#[derive(Default, Debug)]
pub struct Output {
    messages: Vec<Message>,
}

impl Output {
    /// Emits a batch downstream (empty batches are dropped).
    pub fn batch(&mut self, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.messages.push(Message::Batch(batch));
        }
    }

    /// Emits a watermark downstream.
    pub fn watermark(&mut self, watermark: Watermark) {
        self.messages.push(Message::Watermark(watermark));
    }

    /// Emits any message downstream.
    pub fn message(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// Takes the collected messages, leaving the output empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Message> {
        self.messages.drain(..)
    }

    /// Whether nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// A dataflow operator subtask. Called by one task, never concurrently.
///
/// Operators work on whole Arrow batches. A sink is an operator that emits nothing and
/// makes its output durable in [`Operator::finish`].
pub trait Operator: Send {
    /// Handles a batch from input `input` (the index of the node's input edge).
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()>;

    /// Handles the combined watermark of all inputs; the default forwards it.
    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        out.watermark(watermark);
        Ok(())
    }

    /// Called once when every input has ended, before `End` is sent downstream:
    /// flush buffers, emit final results, commit output.
    fn finish(&mut self, _out: &mut Output) -> EngineResult<()> {
        Ok(())
    }

    /// Called when checkpoint `checkpoint_id`'s barrier reaches this operator, just before
    /// [`Operator::snapshot_state`]: an operator that buffers rows it will emit anyway
    /// (a local pre-aggregation, a mini-batch) emits them here, so they travel ahead of
    /// the barrier and need no state. Default: nothing.
    fn prepare_snapshot_pre_barrier(
        &mut self,
        _checkpoint_id: u64,
        _out: &mut Output,
    ) -> EngineResult<()> {
        Ok(())
    }

    /// Snapshots this subtask's state for checkpoint `checkpoint_id`. Called when the
    /// checkpoint's barrier has arrived on every input, before the barrier is passed on,
    /// so the snapshot holds exactly the effect of the rows before the barrier. It must
    /// copy (not move) what it needs: the operator keeps running. Keyed state goes into
    /// keyed tables (a key group per row, so it can be redistributed when the job is
    /// restored at another parallelism); anything else into union tables. A sink stages
    /// here what it wrote since the last checkpoint and makes it visible in
    /// [`Operator::notify_checkpoint_complete`] (two-phase commit).
    ///
    /// The default is for stateless operators: an empty snapshot.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        Ok(StateSnapshot::new())
    }

    /// Snapshots this subtask's state for a savepoint: in the canonical format, Arrow
    /// tables only (no native state), so a job on any state backend and at any
    /// parallelism can restore it. Operators that keep state in RocksDB override this;
    /// the default takes [`Operator::snapshot_state`].
    fn snapshot_savepoint(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.snapshot_state(checkpoint_id)
    }

    /// Restores the state a checkpoint holds for this subtask, before the first message:
    /// keyed tables hold the rows of the key groups this subtask owns, union tables every
    /// old subtask's rows. Called only with a non-empty snapshot; the default refuses it,
    /// which is right for operators that have no state.
    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let tables: Vec<&str> = snapshot.tables().iter().map(|t| t.name()).collect();
        Err(EngineError::Config(format!(
            "the checkpoint holds state ({}) for an operator that keeps none; \
             the job's SQL changed since the checkpoint was taken",
            tables.join(", ")
        )))
    }

    /// Checkpoint `checkpoint_id` is complete: every subtask snapshotted it and its
    /// metadata is stored. A sink commits what it staged up to that checkpoint.
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> EngineResult<()> {
        Ok(())
    }
}

/// Creates the operator subtasks of one node.
pub trait OperatorFactory: Send + Sync {
    /// Creates subtask `ctx.subtask` of the node.
    fn create(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn Operator>>;
}

impl<F> OperatorFactory for F
where
    F: Fn(&SubtaskContext) -> EngineResult<Box<dyn Operator>> + Send + Sync,
{
    fn create(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn Operator>> {
        self(ctx)
    }
}
