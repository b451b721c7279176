//! Running a job: turns a [`JobGraph`] into tasks joined by channels, runs them on
//! tokio, restarts it from its latest checkpoint when it fails (with checkpoints and a
//! restart strategy), and reports how the job ended.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::{JoinHandle, JoinSet};
use weir_state::{CheckpointStorage, CompletedCheckpoint, StateBackend};
use weir_types::keygroup::DEFAULT_MAX_PARALLELISM;
use weir_types::{EngineError, EngineResult};

use crate::checkpoint::coordinator::SavepointRequest;
use crate::checkpoint::{CheckpointConfig, RestartStrategy, RestoreFrom};
use crate::graph::JobGraph;
use crate::launch::{launch, Run};
use crate::metrics::JobMetrics;

/// Runtime settings of a job (from `SET` statements and the command line).
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Messages a channel holds before its producer waits (backpressure).
    pub channel_capacity: usize,
    /// `pipeline.auto-watermark-interval`: how often sources emit watermarks; 0 means
    /// after every batch.
    pub auto_watermark_interval: Duration,
    /// `table.exec.source.idle-timeout`: a split without rows for this long stops
    /// holding the watermark back. `None` (Flink's default 0) disables idleness.
    pub idle_timeout: Option<Duration>,
    /// `pipeline.max-parallelism`: number of key groups.
    pub max_parallelism: usize,
    /// `execution.checkpointing.*`: `None` when the job takes no checkpoints.
    pub checkpoints: Option<CheckpointConfig>,
    /// `restart-strategy.*`: applies only to a job with checkpoints (without them a
    /// restart would repeat output the sinks already committed).
    pub restart: RestartStrategy,
    /// The checkpoint or savepoint to start from.
    pub restore: Option<RestoreFrom>,
    /// `state.backend.type` and its settings.
    pub state_backend: StateBackend,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            channel_capacity: 16,
            auto_watermark_interval: Duration::from_millis(200),
            idle_timeout: None,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
            checkpoints: None,
            restart: RestartStrategy::default(),
            restore: None,
            state_backend: StateBackend::HashMap,
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Every source was exhausted and every sink committed.
    Finished,
    /// Stopped on request (Ctrl-C, SIGTERM): sources stopped, sinks flushed and committed.
    Stopped,
}

/// What every run (attempt) of a job shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub metrics: Arc<JobMetrics>,
    pub stop: watch::Receiver<bool>,
    pub savepoints: Arc<Mutex<mpsc::UnboundedReceiver<SavepointRequest>>>,
    pub notices: mpsc::UnboundedSender<String>,
}

/// A running job.
pub struct JobHandle {
    stop: watch::Sender<bool>,
    supervisor: JoinHandle<EngineResult<JobOutcome>>,
    metrics: Arc<JobMetrics>,
    savepoints: mpsc::UnboundedSender<SavepointRequest>,
    notices: Option<mpsc::UnboundedReceiver<String>>,
}

impl JobHandle {
    /// The job's counters.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        self.metrics.clone()
    }

    /// Asks the sources to stop; the job then drains, commits and ends.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// A handle that can stop the job from elsewhere (a signal handler).
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let stop = self.stop.clone();
        move || {
            let _ = stop.send(true);
        }
    }

    /// A function that asks the running job for a savepoint (into `dir`, or the job's
    /// `execution.checkpointing.savepoint-dir`); the receiver gets its folder. Fails for
    /// a job without checkpoints.
    pub fn savepoint_trigger(
        &self,
    ) -> impl Fn(Option<String>) -> oneshot::Receiver<EngineResult<String>> + Send + Sync + 'static
    {
        let requests = self.savepoints.clone();
        move |dir| {
            let (reply, receiver) = oneshot::channel();
            if let Err(mpsc::error::SendError(request)) =
                requests.send(SavepointRequest { dir, reply })
            {
                let _ = request.reply.send(Err(EngineError::Config(
                    "the job has ended; no savepoint was taken".into(),
                )));
            }
            receiver
        }
    }

    /// Messages for the user while the job runs (a checkpoint restored or skipped, a
    /// failed checkpoint, a restart, a savepoint written). Taken once.
    pub fn notices(&mut self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.notices.take()
    }

    /// Waits for the job to end. A task failure restarts the job from its latest
    /// checkpoint when the restart strategy allows, and fails the job otherwise.
    pub async fn wait(self) -> EngineResult<JobOutcome> {
        match self.supervisor.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(EngineError::Internal(format!(
                "the job supervisor panicked: {e}"
            ))),
            Err(_) => Err(EngineError::Cancelled),
        }
    }
}

/// Starts `graph` on the current tokio runtime. Errors that the first run finds while
/// creating its tasks (a missing file, state the job cannot take) are returned here.
pub fn start(graph: &JobGraph, config: &JobConfig) -> EngineResult<JobHandle> {
    graph.validate()?;
    let metrics = Arc::new(JobMetrics::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (savepoint_tx, savepoint_rx) = mpsc::unbounded_channel();
    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let shared = Shared {
        metrics: metrics.clone(),
        stop: stop_rx,
        savepoints: Arc::new(Mutex::new(savepoint_rx)),
        notices: notice_tx,
    };
    if let Some(rocks) = config.state_backend.rocksdb() {
        std::fs::create_dir_all(&rocks.local_dir).map_err(|e| {
            EngineError::Config(format!(
                "state.backend.rocksdb.localdir {}: {e}",
                rocks.local_dir.display()
            ))
        })?;
        weir_state::rocks::remove_stale_folders(&rocks.local_dir);
    }
    let restore = config.restore.as_ref().map(|r| r.checkpoint.clone());
    if let Some(from) = &config.restore {
        check_restorable(graph, config, from)?;
    }
    let run = launch(graph, config, &shared, restore)?;
    let supervisor = tokio::spawn(supervise(graph.clone(), config.clone(), shared, run));
    Ok(JobHandle {
        stop: stop_tx,
        supervisor,
        metrics,
        savepoints: savepoint_tx,
        notices: Some(notice_rx),
    })
}

/// Refuses a checkpoint this job cannot take: another number of key groups, or state
/// of operators the job no longer has (unless `--allow-non-restored-state`).
fn check_restorable(graph: &JobGraph, config: &JobConfig, from: &RestoreFrom) -> EngineResult<()> {
    let checkpoint = &from.checkpoint;
    let stored = checkpoint.metadata().max_parallelism;
    if stored != config.max_parallelism {
        return Err(EngineError::Checkpoint(format!(
            "{} was taken with pipeline.max-parallelism {stored}, but the job now has {}; \
             keyed state can only be restored with the same number of key groups: set \
             'pipeline.max-parallelism' = '{stored}'",
            checkpoint.location(),
            config.max_parallelism
        )));
    }
    let mut orphans: Vec<String> = Vec::new();
    for (id, state) in &checkpoint.metadata().operators {
        let has_state = state.subtasks.iter().any(Option::is_some);
        if has_state && !graph.nodes.iter().any(|n| n.id.to_string() == *id) {
            orphans.push(id.clone());
        }
    }
    if !orphans.is_empty() && !from.allow_non_restored_state {
        return Err(EngineError::Checkpoint(format!(
            "{} holds state of operators this job does not have ({}): the SQL changed in a \
             way that drops state. Run with --allow-non-restored-state to start without it, \
             or with --fresh to ignore the checkpoint",
            checkpoint.location(),
            orphans.join(", ")
        )));
    }
    Ok(())
}

/// Waits for each run of the job; restarts failed runs as the strategy allows.
async fn supervise(
    graph: JobGraph,
    config: JobConfig,
    shared: Shared,
    run: Run,
) -> EngineResult<JobOutcome> {
    let mut restarts = 0u32;
    let Run {
        mut tasks,
        mut first_error,
    } = run;
    while let Err(error) = wait_for_run(&mut tasks, &first_error).await {
        let stopping = *shared.stop.borrow();
        let Some(checkpoints) = config.checkpoints.as_ref().filter(|_| !stopping) else {
            return Err(error);
        };
        restarts += 1;
        let Some(delay) = config.restart.delay_before(restarts) else {
            return Err(error);
        };
        shared
            .metrics
            .restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let restore = latest_checkpoint(checkpoints, &shared)
            .await?
            .or_else(|| config.restore.as_ref().map(|r| r.checkpoint.clone()));
        let _ = shared.notices.send(format!(
            "the job failed: {error}\nrestart {restarts} in {delay:?}, from {}",
            restore.as_ref().map_or(
                "the beginning (no checkpoint completed yet)".to_string(),
                |c| c.location().to_string()
            )
        ));
        tokio::time::sleep(delay).await;
        Run { tasks, first_error } = launch(&graph, &config, &shared, restore)?;
    }
    let stopped = *shared.stop.borrow();
    if let (Some(checkpoints), false) = (&config.checkpoints, stopped) {
        // A job that ended normally leaves no checkpoint behind: running its script again
        // starts afresh rather than restoring a finished job.
        let storage = CheckpointStorage::open(&checkpoints.dir)
            .await
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
        storage
            .discard_all()
            .await
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
    }
    Ok(if stopped {
        JobOutcome::Stopped
    } else {
        JobOutcome::Finished
    })
}

/// The newest valid checkpoint in the job's folder; skipped ones are reported.
async fn latest_checkpoint(
    config: &CheckpointConfig,
    shared: &Shared,
) -> EngineResult<Option<Arc<CompletedCheckpoint>>> {
    let storage = CheckpointStorage::open(&config.dir)
        .await
        .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
    let latest = storage
        .latest_completed()
        .await
        .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
    for skipped in latest.skipped {
        let _ = shared.notices.send(format!("skipped {skipped}"));
    }
    Ok(latest.checkpoint.map(Arc::new))
}

/// Where the tasks of one run put the first real error (not `Cancelled`) they fail with,
/// so the run reports the cause rather than its consequences in other tasks.
pub(crate) type FirstError = Arc<std::sync::Mutex<Option<EngineError>>>;

/// Waits for every task of a run; the first failure aborts the others.
async fn wait_for_run(
    tasks: &mut JoinSet<EngineResult<()>>,
    first_error: &FirstError,
) -> EngineResult<()> {
    while let Some(joined) = tasks.join_next().await {
        let error = match joined {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(e) if e.is_panic() => EngineError::Internal(format!("a task panicked: {e}")),
            Err(_) => EngineError::Cancelled,
        };
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let recorded = first_error.lock().ok().and_then(|mut slot| slot.take());
        return Err(recorded.unwrap_or(error));
    }
    Ok(())
}

/// Runs a task's future, recording its error as the run's first real one.
pub(crate) async fn record_failure(
    run: impl std::future::Future<Output = EngineResult<()>>,
    first_error: FirstError,
) -> EngineResult<()> {
    match run.await {
        Err(EngineError::Cancelled) => Err(EngineError::Cancelled),
        Err(error) => {
            if let Ok(mut slot) = first_error.lock() {
                if slot.is_none() {
                    *slot = Some(error);
                    return Err(EngineError::Cancelled);
                }
            }
            Err(error)
        }
        Ok(()) => Ok(()),
    }
}
