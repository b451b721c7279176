//! Running a job: turns a [`JobGraph`] into tasks joined by channels, runs them on
//! tokio, and reports how the job ended.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use weir_types::keygroup::DEFAULT_MAX_PARALLELISM;
use weir_types::{EngineError, EngineResult};

use crate::chain::{plan_chains, Chain};
use crate::channel::{channel, InputGate, Receiver, Sender};
use crate::graph::{EdgeKind, JobGraph, NodeKind};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, SubtaskContext};
use crate::partition::Partitioner;
use crate::task::{ChainRunner, CountingSink, OperatorTask, OutputEdge, SourceTask};

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
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            channel_capacity: 16,
            auto_watermark_interval: Duration::from_millis(200),
            idle_timeout: None,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
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

/// A running job.
pub struct JobHandle {
    stop: watch::Sender<bool>,
    tasks: JoinSet<EngineResult<()>>,
    metrics: Arc<JobMetrics>,
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

    /// Waits for the job to end. The first task failure aborts every other task.
    pub async fn wait(mut self) -> EngineResult<JobOutcome> {
        while let Some(joined) = self.tasks.join_next().await {
            let result = match joined {
                Ok(result) => result,
                Err(e) if e.is_panic() => {
                    Err(EngineError::Internal(format!("a task panicked: {e}")))
                }
                Err(_) => Err(EngineError::Cancelled),
            };
            if let Err(error) = result {
                // Downstream tasks of a failed task see Cancelled; report the real cause.
                let error = match error {
                    EngineError::Cancelled => self
                        .first_real_error()
                        .await
                        .unwrap_or(EngineError::Cancelled),
                    other => other,
                };
                self.tasks.abort_all();
                return Err(error);
            }
        }
        Ok(if *self.stop.borrow() {
            JobOutcome::Stopped
        } else {
            JobOutcome::Finished
        })
    }

    async fn first_real_error(&mut self) -> Option<EngineError> {
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok(Err(e)) = joined {
                if !matches!(e, EngineError::Cancelled) {
                    return Some(e);
                }
            }
        }
        None
    }
}

/// Starts `graph` on the current tokio runtime.
pub fn start(graph: &JobGraph, config: &JobConfig) -> EngineResult<JobHandle> {
    graph.validate()?;
    let metrics = Arc::new(JobMetrics::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let chains = plan_chains(graph);

    // Channels: for every edge into a chain head, one channel per (upstream subtask,
    // downstream subtask) pair that exchanges data (only equal indices on forward edges).
    let mut receivers: Vec<Vec<Vec<(Receiver, usize)>>> = chains
        .iter()
        .map(|c| {
            (0..graph.nodes[c.head()].parallelism)
                .map(|_| Vec::new())
                .collect()
        })
        .collect();
    // senders[chain][upstream subtask] = output edges of that subtask
    let mut outputs: Vec<Vec<Vec<OutputEdge>>> = chains
        .iter()
        .map(|c| {
            (0..graph.nodes[c.tail()].parallelism)
                .map(|_| Vec::new())
                .collect()
        })
        .collect();
    for (ci, chain) in chains.iter().enumerate() {
        let head = &graph.nodes[chain.head()];
        for (input, edge) in head.inputs.iter().enumerate() {
            let upstream_chain = chains
                .iter()
                .position(|c| c.tail() == edge.from)
                .ok_or_else(|| {
                    EngineError::Internal(format!("no chain ends at the input of {}", head.name))
                })?;
            for (up, upstream_outputs) in outputs[upstream_chain].iter_mut().enumerate() {
                let targets: Vec<usize> = if edge.kind == EdgeKind::Forward {
                    vec![up]
                } else {
                    (0..head.parallelism).collect()
                };
                let mut senders: Vec<Sender> = Vec::with_capacity(targets.len());
                for &down in &targets {
                    let (tx, rx) = channel(config.channel_capacity);
                    senders.push(tx);
                    receivers[ci][down].push((rx, input));
                }
                upstream_outputs.push(OutputEdge {
                    partitioner: Partitioner::new(
                        edge.kind.clone(),
                        senders.len(),
                        config.max_parallelism,
                        up,
                    ),
                    senders,
                });
            }
        }
    }

    let mut tasks = JoinSet::new();
    for (ci, chain) in chains.iter().enumerate() {
        let head = &graph.nodes[chain.head()];
        let subtask_outputs = std::mem::take(&mut outputs[ci]);
        let subtask_inputs = std::mem::take(&mut receivers[ci]);
        for (subtask, (outs, ins)) in subtask_outputs.into_iter().zip(subtask_inputs).enumerate() {
            let ctx_of = |node: usize| SubtaskContext {
                node_name: graph.nodes[node].name.clone(),
                subtask,
                parallelism: graph.nodes[node].parallelism,
                max_parallelism: config.max_parallelism,
                metrics: metrics.clone(),
                late_rows: None,
                checkpointing: false,
            };
            let operators = create_chain_operators(graph, chain, &ctx_of, &metrics)?;
            let runner = ChainRunner {
                operators,
                outputs: outs,
                emitted: Vec::new(),
                metrics: metrics.clone(),
            };
            let name = chain
                .nodes
                .iter()
                .map(|&n| graph.nodes[n].name.as_str())
                .collect::<Vec<_>>()
                .join(" -> ");
            match &head.kind {
                NodeKind::Source(spec) => {
                    let ctx = ctx_of(chain.head());
                    let task = SourceTask {
                        reader: spec.factory.create_reader(&ctx)?,
                        prepare: spec.prepare.as_ref().map(|f| f.create(&ctx)).transpose()?,
                        event_time: spec.event_time.clone(),
                        chain: runner,
                        metrics: metrics.clone(),
                        watermark_interval: config.auto_watermark_interval,
                        idle_timeout: config.idle_timeout,
                        stop: stop_rx.clone(),
                    };
                    tasks.spawn(
                        async move { task.run().await.map_err(|e| wrap(e, &name, subtask)) },
                    );
                }
                NodeKind::Operator(_) => {
                    let task = OperatorTask {
                        gate: InputGate::new(ins),
                        chain: runner,
                    };
                    tasks.spawn(
                        async move { task.run().await.map_err(|e| wrap(e, &name, subtask)) },
                    );
                }
            }
        }
    }
    Ok(JobHandle {
        stop: stop_tx,
        tasks,
        metrics,
    })
}

/// The operators of a chain's subtask; a source head contributes none (it is the reader).
fn create_chain_operators(
    graph: &JobGraph,
    chain: &Chain,
    ctx_of: &dyn Fn(usize) -> SubtaskContext,
    metrics: &Arc<JobMetrics>,
) -> EngineResult<Vec<Box<dyn Operator>>> {
    let mut operators = Vec::new();
    for &index in &chain.nodes {
        let node = &graph.nodes[index];
        if let NodeKind::Operator(factory) = &node.kind {
            let op = factory.create(&ctx_of(index))?;
            operators.push(if node.is_sink {
                Box::new(CountingSink {
                    inner: op,
                    metrics: metrics.clone(),
                }) as Box<dyn Operator>
            } else {
                op
            });
        }
    }
    Ok(operators)
}

fn wrap(error: EngineError, operator: &str, subtask: usize) -> EngineError {
    match error {
        EngineError::Cancelled | EngineError::Task { .. } => error,
        other => EngineError::Task {
            operator: operator.to_string(),
            subtask: subtask + 1,
            source: Box::new(other),
        },
    }
}
