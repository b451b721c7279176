//! The checkpoint coordinator of one run of a job: triggers checkpoints every
//! `execution.checkpointing.interval`, collects every task's snapshots and writes them
//! (concurrently, off the tasks' data path), writes `_metadata` last, then tells every
//! task the checkpoint is complete (sinks commit) and applies retention. When every
//! task has finished it takes the final checkpoint (a savepoint too on a stop with
//! savepoint), whose completion commits the last output, and shuts the tasks down.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinSet;
use tokio::time::sleep_until;
use weir_state::{CheckpointMetadata, CheckpointStorage, CheckpointWriter, StateHandle};
use weir_types::{EngineError, EngineResult, OperatorId};

use super::{CheckpointConfig, Control, NodeSnapshot, TaskEvent};
use crate::metrics::JobMetrics;

/// A request to write a savepoint of the running job.
pub(crate) struct SavepointRequest {
    /// Where to write it; the job's `savepoint_dir` when `None`.
    pub dir: Option<String>,
    /// Receives the savepoint's folder, or why it failed.
    pub reply: oneshot::Sender<EngineResult<String>>,
}

/// One task, as the coordinator sees it.
pub(crate) struct TaskEntry {
    pub control: mpsc::UnboundedSender<Control>,
    pub finished: bool,
}

/// The coordinator of one run (attempt) of a job.
pub(crate) struct Coordinator {
    pub config: CheckpointConfig,
    pub tasks: Vec<TaskEntry>,
    pub events: mpsc::UnboundedReceiver<TaskEvent>,
    /// Every node of the graph: its id and parallelism.
    pub nodes: Vec<(OperatorId, usize)>,
    pub max_parallelism: usize,
    /// Stored in `_metadata` as the job's description.
    pub job: serde_json::Value,
    pub metrics: Arc<JobMetrics>,
    pub stop: watch::Receiver<bool>,
    pub savepoints: Arc<Mutex<mpsc::UnboundedReceiver<SavepointRequest>>>,
    pub notices: mpsc::UnboundedSender<String>,
    /// The id of the checkpoint the run restored, if any: ids continue after it.
    pub restored_id: Option<u64>,
}

/// The checkpoint being taken.
struct InFlight {
    id: u64,
    trigger_ms: u64,
    started: Instant,
    deadline: tokio::time::Instant,
    /// The checkpoint's writer, then the savepoint's if one is taken too.
    writers: Vec<CheckpointWriter>,
    acked: Vec<bool>,
    /// Per writer, the handles of the files written so far.
    handles: Vec<Vec<StateHandle>>,
    writes: JoinSet<EngineResult<Vec<Vec<StateHandle>>>>,
    alignment: Duration,
    reply: Option<oneshot::Sender<EngineResult<String>>>,
    is_final: bool,
}

impl InFlight {
    fn is_done(&self) -> bool {
        self.acked.iter().all(|a| *a) && self.writes.is_empty()
    }
}

impl Coordinator {
    /// Runs until the final checkpoint completed (then every task was told to shut
    /// down), or fails after more than the tolerable number of failed checkpoints.
    pub async fn run(mut self) -> EngineResult<()> {
        let storage = CheckpointStorage::open(&self.config.dir)
            .await
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
        let mut next_id = storage
            .next_checkpoint_id()
            .await
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?
            .max(self.restored_id.map_or(1, |id| id + 1));
        let mut savepoint_requests = Arc::clone(&self.savepoints).lock_owned().await;
        let mut queued: VecDeque<SavepointRequest> = VecDeque::new();
        let mut in_flight: Option<InFlight> = None;
        let mut failures = 0u32;
        let mut next_trigger = tokio::time::Instant::now() + self.config.interval;
        loop {
            if in_flight.is_none() && self.tasks.iter().all(|t| t.finished) {
                let on_stop = *self.stop.borrow() && self.config.savepoint_on_stop;
                let dir = on_stop.then(|| self.config.savepoint_dir.clone()).flatten();
                in_flight = Some(self.trigger(&storage, next_id, dir, None, true).await?);
                next_id += 1;
            }
            let idle = in_flight.is_none();
            let deadline = in_flight
                .as_ref()
                .map_or_else(tokio::time::Instant::now, |f| f.deadline);
            tokio::select! {
                _ = sleep_until(next_trigger), if idle => {
                    let request = queued.pop_front();
                    let (dir, reply) = match request {
                        Some(r) => match r.dir.or_else(|| self.config.savepoint_dir.clone()) {
                            Some(dir) => (Some(dir), Some(r.reply)),
                            None => {
                                let _ = r.reply.send(Err(EngineError::Config(
                                    "no savepoint folder: run with --savepoint-dir DIR or set \
                                     'execution.checkpointing.savepoint-dir'".into(),
                                )));
                                (None, None)
                            }
                        },
                        None => (None, None),
                    };
                    in_flight = Some(self.trigger(&storage, next_id, dir, reply, false).await?);
                    next_id += 1;
                }
                event = self.events.recv() => match event {
                    Some(TaskEvent::Finished { task }) => {
                        if let Some(t) = self.tasks.get_mut(task) {
                            t.finished = true;
                        }
                    }
                    Some(TaskEvent::Ack { checkpoint_id, task, snapshots, alignment }) => {
                        if let Some(f) = in_flight.as_mut().filter(|f| f.id == checkpoint_id) {
                            accept_ack(f, task, snapshots, alignment);
                        }
                    }
                    // Every task is gone: the run is over (it failed or was aborted).
                    None => return Err(EngineError::Cancelled),
                },
                Some(request) = savepoint_requests.recv() => {
                    queued.push_back(request);
                    if idle {
                        next_trigger = tokio::time::Instant::now();
                    }
                }
                written = next_write(&mut in_flight) => {
                    let failed = match written {
                        Ok(per_writer) => {
                            if let Some(f) = in_flight.as_mut() {
                                for (all, new) in f.handles.iter_mut().zip(per_writer) {
                                    all.extend(new);
                                }
                            }
                            None
                        }
                        Err(e) => Some(e.to_string()),
                    };
                    if let Some(reason) = failed {
                        self.fail(in_flight.take(), &reason, &mut failures).await?;
                        next_trigger = self.next_trigger_after_failure();
                    }
                }
                _ = sleep_until(deadline), if !idle => {
                    let reason = format!("not complete after {:?} (execution.checkpointing.timeout)", self.config.timeout);
                    self.fail(in_flight.take(), &reason, &mut failures).await?;
                    next_trigger = self.next_trigger_after_failure();
                }
            }
            if in_flight.as_ref().is_some_and(InFlight::is_done) {
                let Some(done) = in_flight.take() else {
                    continue;
                };
                let is_final = done.is_final;
                let started = done.started;
                match self.complete(&storage, done).await {
                    Ok(()) => {
                        failures = 0;
                        if is_final {
                            for task in &self.tasks {
                                let _ = task.control.send(Control::Shutdown);
                            }
                            return Ok(());
                        }
                    }
                    Err(reason) => {
                        failures += 1;
                        self.metrics
                            .checkpoints_failed
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if is_final || failures > self.config.tolerable_failures {
                            return Err(EngineError::Checkpoint(reason));
                        }
                        let _ = self.notices.send(format!("checkpoint failed: {reason}"));
                    }
                }
                // The interval counts from the last trigger; min-pause from the completion.
                next_trigger = (tokio::time::Instant::from_std(started) + self.config.interval)
                    .max(tokio::time::Instant::now() + self.config.min_pause);
                if !queued.is_empty() {
                    next_trigger = tokio::time::Instant::now() + self.config.min_pause;
                }
            }
        }
    }

    fn next_trigger_after_failure(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.config.interval.max(self.config.min_pause)
    }

    /// Starts checkpoint `id` (also a savepoint into `savepoint_dir` when given).
    async fn trigger(
        &self,
        storage: &CheckpointStorage,
        id: u64,
        savepoint_dir: Option<String>,
        mut reply: Option<oneshot::Sender<EngineResult<String>>>,
        is_final: bool,
    ) -> EngineResult<InFlight> {
        let mut writers = vec![storage.checkpoint(id)];
        if let Some(dir) = &savepoint_dir {
            match CheckpointStorage::savepoint(dir, id).await {
                Ok(writer) => writers.push(writer),
                Err(e) => {
                    let error = EngineError::Checkpoint(format!("cannot write a savepoint: {e}"));
                    // A requested savepoint fails alone; a stop with savepoint fails the job.
                    match reply.take() {
                        Some(reply) => {
                            let _ = reply.send(Err(error));
                        }
                        None => return Err(error),
                    }
                }
            }
        }
        let trigger_ms = now_ms();
        for task in &self.tasks {
            let _ = task.control.send(Control::Trigger {
                checkpoint_id: id,
                triggered_at_ms: trigger_ms as i64,
                savepoint: writers.len() > 1,
            });
        }
        Ok(InFlight {
            id,
            trigger_ms,
            started: Instant::now(),
            deadline: tokio::time::Instant::now() + self.config.timeout,
            handles: vec![Vec::new(); writers.len()],
            writers,
            acked: vec![false; self.tasks.len()],
            writes: JoinSet::new(),
            alignment: Duration::ZERO,
            reply,
            is_final,
        })
    }

    /// Every task acknowledged and every file is written: write `_metadata` (the
    /// savepoint's first, then the checkpoint's), tell the tasks, apply retention.
    async fn complete(&self, storage: &CheckpointStorage, done: InFlight) -> Result<(), String> {
        let mut size = 0;
        let mut locations = Vec::new();
        let result: Result<(), String> = async {
            for (writer, handles) in done.writers.iter().zip(&done.handles).rev() {
                let mut metadata = CheckpointMetadata::new(
                    done.id,
                    done.trigger_ms,
                    self.max_parallelism,
                    self.job.clone(),
                );
                for (node, parallelism) in &self.nodes {
                    let id = node.to_string();
                    let mine: Vec<StateHandle> = handles
                        .iter()
                        .filter(|h| h.operator_id == id)
                        .cloned()
                        .collect();
                    metadata
                        .add_operator(&id, *parallelism, mine)
                        .map_err(|e| e.to_string())?;
                }
                size = metadata.total_size();
                let completed = writer.complete(metadata).await.map_err(|e| e.to_string())?;
                locations.push(completed.location().to_string());
            }
            Ok(())
        }
        .await;
        if let Err(reason) = result {
            for writer in &done.writers {
                let _ = writer.abort().await;
            }
            if let Some(reply) = done.reply {
                let _ = reply.send(Err(EngineError::Checkpoint(reason.clone())));
            }
            return Err(format!(
                "checkpoint {} could not be stored: {reason}",
                done.id
            ));
        }
        for task in &self.tasks {
            let _ = task.control.send(Control::Complete {
                checkpoint_id: done.id,
            });
        }
        let m = &self.metrics;
        m.checkpoints_completed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        JobMetrics::set(&m.last_checkpoint_id, done.id);
        JobMetrics::set(
            &m.last_checkpoint_duration_ms,
            done.started.elapsed().as_millis() as u64,
        );
        JobMetrics::set(&m.last_checkpoint_size_bytes, size);
        JobMetrics::add(&m.checkpoint_bytes_total, size as usize);
        JobMetrics::set(
            &m.last_checkpoint_alignment_ms,
            done.alignment.as_millis() as u64,
        );
        if done.writers.len() > 1 {
            // The savepoint was completed first, so it is the first location.
            let savepoint = locations.first().cloned().unwrap_or_default();
            let _ = self
                .notices
                .send(format!("savepoint written to {savepoint}"));
            if let Some(reply) = done.reply {
                let _ = reply.send(Ok(savepoint));
            }
        }
        if let Err(e) = storage.retain(self.config.num_retained).await {
            let _ = self
                .notices
                .send(format!("old checkpoints could not be deleted: {e}"));
        }
        Ok(())
    }

    /// Abandons `failed`; errors when the job tolerates no more failed checkpoints.
    async fn fail(
        &self,
        failed: Option<InFlight>,
        reason: &str,
        failures: &mut u32,
    ) -> EngineResult<()> {
        let Some(mut failed) = failed else {
            return Ok(());
        };
        failed.writes.abort_all();
        for writer in &failed.writers {
            let _ = writer.abort().await;
        }
        self.metrics
            .checkpoints_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let message = format!("checkpoint {} failed: {reason}", failed.id);
        if let Some(reply) = failed.reply.take() {
            let _ = reply.send(Err(EngineError::Checkpoint(message.clone())));
        }
        *failures += 1;
        if failed.is_final || *failures > self.config.tolerable_failures {
            return Err(EngineError::Checkpoint(format!(
                "{message} ({} consecutive failures; \
                 execution.checkpointing.tolerable-failed-checkpoints is {})",
                failures, self.config.tolerable_failures
            )));
        }
        let _ = self.notices.send(message);
        Ok(())
    }
}

/// Records a task's acknowledgement and starts writing its snapshots.
fn accept_ack(f: &mut InFlight, task: usize, snapshots: Vec<NodeSnapshot>, alignment: Duration) {
    let Some(acked) = f.acked.get_mut(task) else {
        return;
    };
    if *acked {
        return;
    }
    *acked = true;
    f.alignment = f.alignment.max(alignment);
    let writers = f.writers.clone();
    f.writes.spawn(async move {
        let mut per_writer = Vec::with_capacity(writers.len());
        for writer in &writers {
            let mut handles = Vec::with_capacity(snapshots.len());
            for node in &snapshots {
                let handle = writer
                    .write_snapshot(&node.operator_id.to_string(), node.subtask, &node.snapshot)
                    .await
                    .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
                handles.push(handle);
            }
            per_writer.push(handles);
        }
        Ok(per_writer)
    });
}

/// The next finished write of the checkpoint in flight; never resolves without one.
async fn next_write(in_flight: &mut Option<InFlight>) -> EngineResult<Vec<Vec<StateHandle>>> {
    match in_flight.as_mut() {
        Some(f) if !f.writes.is_empty() => match f.writes.join_next().await {
            Some(Ok(result)) => result,
            Some(Err(e)) => Err(EngineError::Checkpoint(format!(
                "writing a snapshot failed: {e}"
            ))),
            None => std::future::pending().await,
        },
        _ => std::future::pending().await,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
