//! What both kinds of task share (a source chain, [`crate::source_task`], and an
//! operator chain, [`crate::operator_task`]). Each runs one subtask of a chain of
//! nodes: it reads (from a source reader or an input gate), pushes each message through
//! the chained operators by function call, and sends what the chain's last operator
//! emits to the next tasks' channels. With checkpoints, a barrier passing an operator
//! snapshots it, and a finished task keeps answering the coordinator
//! ([`serve_until_shutdown`]) until the job's final checkpoint is complete.
//!
//! Every message but `End` sent on a channel is counted in
//! [`JobMetrics::in_flight_messages`] until its receiver has handled it and sent what it
//! emitted in response; tools that script a job's input (`weir test`) wait for that count
//! to reach zero to know the job has processed everything so far.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use weir_state::{CompletedCheckpoint, StateBackend, StateSnapshot};
use weir_types::{EngineError, EngineResult, Message, OperatorId, Watermark};

use crate::channel::Sender;
use crate::checkpoint::{CheckpointingMode, Control, NodeSnapshot, TaskEvent};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, Output};
use crate::partition::Partitioner;

/// One output edge of a task: a partitioner and a sender per downstream subtask.
pub(crate) struct OutputEdge {
    pub partitioner: Partitioner,
    pub senders: Vec<Sender>,
}

/// The chained operators of a task and where their output goes.
pub(crate) struct ChainRunner {
    pub operators: Vec<Box<dyn Operator>>,
    /// The node id of each operator, for its snapshots.
    pub operator_ids: Vec<OperatorId>,
    /// The subtask index (every node of a chain has the same parallelism).
    pub subtask: usize,
    /// The chain's parallelism.
    pub parallelism: usize,
    pub outputs: Vec<OutputEdge>,
    pub emitted: Vec<Message>,
    /// Snapshots the operators took as a barrier passed them, in chain order.
    pub snapshots: Vec<StateSnapshot>,
    pub metrics: Arc<JobMetrics>,
    /// The job's state backend: where native (RocksDB) state is restored to.
    pub state_backend: StateBackend,
}

impl ChainRunner {
    /// Pushes `message` (from input edge `input` of the head) through the chain.
    pub fn push(&mut self, input: usize, message: Message) -> EngineResult<()> {
        let mut snapshotting = std::time::Duration::ZERO;
        push_through(
            &mut self.operators,
            input,
            message,
            &mut self.emitted,
            &mut Snapshots {
                taken: &mut self.snapshots,
                time: &mut snapshotting,
            },
        )?;
        if !snapshotting.is_zero() {
            JobMetrics::add(
                &self.metrics.checkpoint_sync_us_total,
                snapshotting.as_micros() as usize,
            );
        }
        Ok(())
    }

    /// The snapshots the last barrier took, one per operator.
    pub fn take_barrier_snapshots(&mut self) -> EngineResult<Vec<NodeSnapshot>> {
        let snapshots = std::mem::take(&mut self.snapshots);
        if snapshots.len() != self.operators.len() {
            return Err(EngineError::Internal(format!(
                "a barrier passed {} of {} chained operators",
                snapshots.len(),
                self.operators.len()
            )));
        }
        Ok(self.node_snapshots(snapshots))
    }

    /// Snapshots every operator directly (a finished task, where no barrier passes),
    /// in the canonical format for a savepoint.
    pub fn snapshot_all(
        &mut self,
        checkpoint_id: u64,
        savepoint: bool,
    ) -> EngineResult<Vec<NodeSnapshot>> {
        let snapshots = self
            .operators
            .iter_mut()
            .map(|op| {
                if savepoint {
                    op.snapshot_savepoint(checkpoint_id)
                } else {
                    op.snapshot_state(checkpoint_id)
                }
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(self.node_snapshots(snapshots))
    }

    fn node_snapshots(&self, snapshots: Vec<StateSnapshot>) -> Vec<NodeSnapshot> {
        self.operator_ids
            .iter()
            .zip(snapshots)
            .map(|(&operator_id, snapshot)| NodeSnapshot {
                operator_id,
                subtask: self.subtask,
                snapshot,
            })
            .collect()
    }

    /// Tells every operator that checkpoint `checkpoint_id` is complete.
    pub fn notify_complete(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        for op in &mut self.operators {
            op.notify_checkpoint_complete(checkpoint_id)?;
        }
        Ok(())
    }

    /// Gives every operator its state from `checkpoint` (before the first message).
    pub async fn restore(&mut self, checkpoint: &CompletedCheckpoint) -> EngineResult<()> {
        for (op, id) in self.operators.iter_mut().zip(&self.operator_ids) {
            let id = id.to_string();
            let mut snapshot = checkpoint
                .restore(&id, self.subtask, self.parallelism)
                .await
                .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
            if checkpoint.has_native(&id) {
                let Some(rocks) = self.state_backend.rocksdb() else {
                    return Err(EngineError::Config(format!(
                        "checkpoint {} keeps the state of operator {id} in RocksDB files, \
                         but this job runs with state.backend.type = '{}': run it with \
                         'rocksdb', or switch backends through a savepoint (savepoints hold \
                         portable Arrow tables)",
                        checkpoint.location(),
                        self.state_backend.name()
                    )));
                };
                for native in checkpoint
                    .restore_native(&id, self.subtask, self.parallelism, &rocks.local_dir)
                    .await
                    .map_err(|e| EngineError::Checkpoint(e.to_string()))?
                {
                    snapshot.add_native(native);
                }
            }
            if !snapshot.is_empty() {
                op.restore_state(snapshot)?;
            }
        }
        Ok(())
    }

    /// Sends everything the chain emitted downstream, waiting while channels are full.
    pub async fn flush(&mut self) -> EngineResult<()> {
        let emitted = std::mem::take(&mut self.emitted);
        for message in emitted {
            match message {
                Message::Batch(batch) => {
                    for edge in &mut self.outputs {
                        for (target, part) in edge.partitioner.partition(batch.clone())? {
                            send(&edge.senders[target], Message::Batch(part), &self.metrics)
                                .await?;
                        }
                    }
                }
                other => {
                    for edge in &self.outputs {
                        for sender in &edge.senders {
                            send(sender, other.clone(), &self.metrics).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn push_and_flush(&mut self, input: usize, message: Message) -> EngineResult<()> {
        self.push(input, message)?;
        self.flush().await
    }
}

/// Sends `message`, counting it in flight (unless it is `End`) before it can be received.
pub(crate) async fn send(
    sender: &Sender,
    message: Message,
    metrics: &JobMetrics,
) -> EngineResult<()> {
    let counted = !matches!(message, Message::End);
    if counted {
        metrics.message_sent();
    }
    if sender.send(message).await.is_err() {
        if counted {
            metrics.message_done();
        }
        return Err(EngineError::Cancelled);
    }
    Ok(())
}

/// Where a barrier's snapshots go as it passes a chain, and the time they took.
struct Snapshots<'a> {
    taken: &'a mut Vec<StateSnapshot>,
    time: &'a mut std::time::Duration,
}

/// Hands `message` to the first operator and what it emits to the rest, recursively. A
/// barrier snapshots each operator as it passes (after the operator emitted what it
/// flushes ahead of the barrier) into `snapshots`.
fn push_through(
    operators: &mut [Box<dyn Operator>],
    input: usize,
    message: Message,
    emitted: &mut Vec<Message>,
    snapshots: &mut Snapshots,
) -> EngineResult<()> {
    let Some((first, rest)) = operators.split_first_mut() else {
        emitted.push(message);
        return Ok(());
    };
    let mut out = Output::default();
    match message {
        Message::Batch(batch) => first.process_batch(input, batch, &mut out)?,
        Message::Watermark(w) => first.process_watermark(w, &mut out)?,
        Message::End => {
            first.finish(&mut out)?;
            out.message(Message::End);
        }
        Message::Barrier(barrier) => {
            first.prepare_snapshot_pre_barrier(barrier.checkpoint_id, &mut out)?;
            let started = std::time::Instant::now();
            snapshots.taken.push(if barrier.savepoint {
                first.snapshot_savepoint(barrier.checkpoint_id)?
            } else {
                first.snapshot_state(barrier.checkpoint_id)?
            });
            *snapshots.time += started.elapsed();
            out.message(Message::Barrier(barrier));
        }
        Message::Idle => out.message(Message::Idle),
    }
    for m in out.drain() {
        push_through(rest, 0, m, emitted, snapshots)?;
    }
    Ok(())
}

/// Wraps a sink to count the rows it receives and the watermark it reached.
pub(crate) struct CountingSink {
    pub inner: Box<dyn Operator>,
    pub metrics: Arc<JobMetrics>,
}

impl Operator for CountingSink {
    fn process_batch(
        &mut self,
        input: usize,
        batch: arrow::record_batch::RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        JobMetrics::add(&self.metrics.records_out, batch.num_rows());
        self.inner.process_batch(input, batch, out)
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        if watermark != Watermark::MAX {
            self.metrics
                .sink_watermark
                .fetch_max(watermark.0, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.process_watermark(watermark, out)
    }

    fn finish(&mut self, out: &mut Output) -> EngineResult<()> {
        self.inner.finish(out)
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

/// A task's link to the checkpoint coordinator.
pub(crate) struct CheckpointLink {
    /// The task's index in the coordinator's list.
    pub task: usize,
    pub control: mpsc::UnboundedReceiver<Control>,
    pub events: mpsc::UnboundedSender<TaskEvent>,
    pub mode: CheckpointingMode,
    /// The checkpoint to restore before the first message.
    pub restore: Option<Arc<CompletedCheckpoint>>,
    /// The newest checkpoint id triggered and the newest acknowledged.
    pub triggered: u64,
    pub acknowledged: u64,
    /// Whether the newest triggered checkpoint is also a savepoint.
    pub triggered_savepoint: bool,
    open: bool,
}

impl CheckpointLink {
    pub fn new(
        task: usize,
        control: mpsc::UnboundedReceiver<Control>,
        events: mpsc::UnboundedSender<TaskEvent>,
        mode: CheckpointingMode,
        restore: Option<Arc<CompletedCheckpoint>>,
    ) -> Self {
        CheckpointLink {
            task,
            control,
            events,
            mode,
            restore,
            triggered: 0,
            acknowledged: 0,
            triggered_savepoint: false,
            open: true,
        }
    }

    /// The next message from the coordinator; never resolves once the coordinator is
    /// gone (the job is being torn down: the task ends another way). Cancel-safe.
    pub async fn recv(&mut self) -> Control {
        if self.open {
            if let Some(control) = self.control.recv().await {
                if let Control::Trigger {
                    checkpoint_id,
                    savepoint,
                    ..
                } = control
                {
                    if checkpoint_id > self.triggered {
                        self.triggered = checkpoint_id;
                        self.triggered_savepoint = savepoint;
                    }
                }
                return control;
            }
            self.open = false;
        }
        std::future::pending().await
    }

    /// Acknowledges checkpoint `checkpoint_id` with the task's snapshots.
    pub fn ack(&mut self, checkpoint_id: u64, snapshots: Vec<NodeSnapshot>, alignment: Duration) {
        self.acknowledged = self.acknowledged.max(checkpoint_id);
        self.triggered = self.triggered.max(checkpoint_id);
        let _ = self.events.send(TaskEvent::Ack {
            checkpoint_id,
            task: self.task,
            snapshots,
            alignment,
        });
    }
}

/// What a finished task still does for checkpoints.
pub(crate) trait FinishedTask: Send {
    /// Snapshots of the task's nodes, in their final state (canonical for a savepoint).
    fn snapshot(&mut self, checkpoint_id: u64, savepoint: bool) -> EngineResult<Vec<NodeSnapshot>>;
    /// Checkpoint `checkpoint_id` is complete.
    fn notify(&mut self, checkpoint_id: u64) -> EngineResult<()>;
}

impl FinishedTask for ChainRunner {
    fn snapshot(&mut self, checkpoint_id: u64, savepoint: bool) -> EngineResult<Vec<NodeSnapshot>> {
        self.snapshot_all(checkpoint_id, savepoint)
    }

    fn notify(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        self.notify_complete(checkpoint_id)
    }
}

/// The checkpoint side of a task after it finished: acknowledges a checkpoint it was
/// told of but never saw a barrier for, reports itself finished, then answers triggers
/// with snapshots of its final state and completions with commits, until the
/// coordinator shuts the job down.
pub(crate) async fn serve_until_shutdown(
    link: &mut CheckpointLink,
    task: &mut (dyn FinishedTask + Send),
) -> EngineResult<()> {
    if link.triggered > link.acknowledged {
        let id = link.triggered;
        let snapshots = task.snapshot(id, link.triggered_savepoint)?;
        link.ack(id, snapshots, Duration::ZERO);
    }
    let _ = link.events.send(TaskEvent::Finished { task: link.task });
    loop {
        match link.recv().await {
            Control::Trigger {
                checkpoint_id,
                savepoint,
                ..
            } => {
                if checkpoint_id > link.acknowledged {
                    let snapshots = task.snapshot(checkpoint_id, savepoint)?;
                    link.ack(checkpoint_id, snapshots, Duration::ZERO);
                }
            }
            Control::Complete { checkpoint_id } => task.notify(checkpoint_id)?,
            Control::Shutdown => return Ok(()),
        }
    }
}

/// The next control message, or never when the task has no checkpoints.
pub(crate) async fn recv_control(link: &mut Option<CheckpointLink>) -> Control {
    match link {
        Some(link) => link.recv().await,
        None => std::future::pending().await,
    }
}
