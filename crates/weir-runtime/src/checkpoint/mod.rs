//! Checkpointing in the runtime: the settings (`execution.checkpointing.*`,
//! `restart-strategy.*`), the messages between tasks and the coordinator, and the
//! coordinator itself ([`coordinator`]).
//!
//! The protocol is described in docs/checkpoints.md ("How a checkpoint is taken"): the
//! coordinator tells every task to checkpoint; source tasks record their positions and
//! send a barrier; operator tasks snapshot when the barrier has arrived on every input;
//! each task hands its snapshots to the coordinator, which writes them (off the data
//! path), writes `_metadata` last and then tells every task the checkpoint is complete,
//! which is when sinks commit.

pub(crate) mod coordinator;
pub(crate) mod restart;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use weir_state::{CompletedCheckpoint, StateSnapshot};
use weir_types::OperatorId;

pub use restart::RestartStrategy;

/// `execution.checkpointing.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointingMode {
    /// Barriers are aligned: an operator with several inputs holds the inputs that
    /// delivered the barrier until all did, so a restore replays each row exactly once.
    ExactlyOnce,
    /// Barriers are not aligned: inputs keep flowing, so rows that arrived after the
    /// barrier on one input may be in the snapshot and replayed again after a restore.
    AtLeastOnce,
}

/// The checkpoint settings of a job (`execution.checkpointing.*`).
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// `execution.checkpointing.dir`: a local folder or an object-store URL.
    pub dir: String,
    /// `execution.checkpointing.interval`.
    pub interval: Duration,
    /// `execution.checkpointing.mode`.
    pub mode: CheckpointingMode,
    /// `execution.checkpointing.timeout`: a checkpoint not complete after this long is
    /// abandoned (default 10 minutes).
    pub timeout: Duration,
    /// `execution.checkpointing.min-pause`: the least time between the end of one
    /// checkpoint and the start of the next.
    pub min_pause: Duration,
    /// `execution.checkpointing.tolerable-failed-checkpoints`: consecutive failed
    /// checkpoints the job tolerates; one more fails the job (default 0).
    pub tolerable_failures: u32,
    /// `execution.checkpointing.num-retained`: completed checkpoints kept (default 1).
    pub num_retained: usize,
    /// `execution.checkpointing.savepoint-dir`: where a stop with savepoint, or a
    /// savepoint requested while the job runs, is written.
    pub savepoint_dir: Option<String>,
    /// Whether a graceful stop writes a savepoint into `savepoint_dir`.
    pub savepoint_on_stop: bool,
}

impl CheckpointConfig {
    /// Flink's defaults for everything but the folder and the interval.
    pub fn new(dir: impl Into<String>, interval: Duration) -> Self {
        CheckpointConfig {
            dir: dir.into(),
            interval,
            mode: CheckpointingMode::ExactlyOnce,
            timeout: Duration::from_secs(600),
            min_pause: Duration::ZERO,
            tolerable_failures: 0,
            num_retained: 1,
            savepoint_dir: None,
            savepoint_on_stop: false,
        }
    }
}

/// The checkpoint or savepoint a job starts from.
#[derive(Debug, Clone)]
pub struct RestoreFrom {
    /// The validated checkpoint.
    pub checkpoint: Arc<CompletedCheckpoint>,
    /// `--allow-non-restored-state`: state of operators the job no longer has is
    /// ignored instead of refused.
    pub allow_non_restored_state: bool,
}

/// What the coordinator tells a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Take checkpoint `checkpoint_id`: a source task snapshots and sends the barrier
    /// at once; an operator task waits for the barrier, unless it has finished.
    Trigger {
        /// The checkpoint id.
        checkpoint_id: u64,
        /// When it was triggered, epoch millis.
        triggered_at_ms: i64,
        /// Whether it is (also) written as a savepoint.
        savepoint: bool,
    },
    /// Checkpoint `checkpoint_id` is complete: commit.
    Complete {
        /// The checkpoint id.
        checkpoint_id: u64,
    },
    /// Every task has finished and the final checkpoint is complete: exit.
    Shutdown,
}

/// The snapshot of one node's subtask, as a task reports it.
#[derive(Debug)]
pub(crate) struct NodeSnapshot {
    /// The node's operator id.
    pub operator_id: OperatorId,
    /// The subtask index.
    pub subtask: usize,
    /// Its state.
    pub snapshot: StateSnapshot,
}

/// What a task tells the coordinator.
#[derive(Debug)]
pub(crate) enum TaskEvent {
    /// The task took its snapshots of checkpoint `checkpoint_id`.
    Ack {
        /// The checkpoint id.
        checkpoint_id: u64,
        /// Index of the task in the coordinator's list.
        task: usize,
        /// One snapshot per node of the task's chain.
        snapshots: Vec<NodeSnapshot>,
        /// How long the task's inputs were held for the barrier to align.
        alignment: Duration,
    },
    /// The task has processed all its input (and sent `End`); it now waits for
    /// checkpoint triggers and completions until [`Control::Shutdown`].
    Finished {
        /// Index of the task in the coordinator's list.
        task: usize,
    },
}

/// Name of the union table a source node's snapshot keeps its splits' watermarks in
/// (columns `split_id` Utf8, `watermark` Int64), beside the reader's own tables.
pub const SPLIT_WATERMARKS_TABLE: &str = "__weir_split_watermarks";
