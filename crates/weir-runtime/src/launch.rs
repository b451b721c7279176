//! Building and spawning the tasks of one run of a job: chains, the channels between
//! them, each subtask's operators and, with checkpoints, the coordinator and every
//! task's link to it (with the checkpoint the run restores).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use weir_state::CompletedCheckpoint;
use weir_types::{EngineError, EngineResult};

use crate::chain::{plan_chains, Chain};
use crate::channel::{channel, InputGate, Receiver, Sender};
use crate::checkpoint::coordinator::{Coordinator, TaskEntry};
use crate::graph::{EdgeKind, JobGraph, NodeKind};
use crate::job::{record_failure, FirstError, JobConfig, Shared};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, SubtaskContext};
use crate::operator_task::OperatorTask;
use crate::partition::Partitioner;
use crate::source_task::SourceTask;
use crate::task::{ChainRunner, CheckpointLink, CountingSink, OutputEdge};

/// The tasks of one run, and where they record the first real error.
pub(crate) struct Run {
    pub tasks: JoinSet<EngineResult<()>>,
    pub first_error: FirstError,
}

/// Per chain, per subtask: the receivers of its head and the output edges of its tail.
type Wiring = (Vec<Vec<Vec<(Receiver, usize)>>>, Vec<Vec<Vec<OutputEdge>>>);

/// Creates the channels: for every edge into a chain head, one channel per (upstream
/// subtask, downstream subtask) pair that exchanges data (only equal indices on forward
/// edges).
fn wire(graph: &JobGraph, chains: &[Chain], config: &JobConfig) -> EngineResult<Wiring> {
    let mut receivers: Vec<Vec<Vec<(Receiver, usize)>>> = chains
        .iter()
        .map(|c| {
            (0..graph.nodes[c.head()].parallelism)
                .map(|_| Vec::new())
                .collect()
        })
        .collect();
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
    Ok((receivers, outputs))
}

/// Creates and spawns every task of a run (and its coordinator, with checkpoints),
/// restoring `restore` when given.
pub(crate) fn launch(
    graph: &JobGraph,
    config: &JobConfig,
    shared: &Shared,
    restore: Option<Arc<CompletedCheckpoint>>,
) -> EngineResult<Run> {
    let metrics = &shared.metrics;
    let chains = plan_chains(graph);
    let (mut receivers, mut outputs) = wire(graph, &chains, config)?;
    let first_error: FirstError = Arc::default();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let mut entries: Vec<TaskEntry> = Vec::new();
    let mut tasks = JoinSet::new();
    let checkpointing = config.checkpoints.is_some();
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
                checkpointing,
                checkpoint_interval: config.checkpoints.as_ref().map(|c| c.interval),
                state_backend: config.state_backend.clone(),
            };
            let (operators, operator_ids) = create_chain_operators(graph, chain, &ctx_of, metrics)?;
            let runner = ChainRunner {
                operators,
                operator_ids,
                subtask,
                parallelism: head.parallelism,
                outputs: outs,
                emitted: Vec::new(),
                snapshots: Vec::new(),
                metrics: metrics.clone(),
                state_backend: config.state_backend.clone(),
            };
            let link = config.checkpoints.as_ref().map(|c| {
                let (control_tx, control_rx) = mpsc::unbounded_channel();
                entries.push(TaskEntry {
                    control: control_tx,
                    finished: false,
                });
                CheckpointLink::new(
                    entries.len() - 1,
                    control_rx,
                    event_tx.clone(),
                    c.mode,
                    restore.clone(),
                )
            });
            let name = chain
                .nodes
                .iter()
                .map(|&n| graph.nodes[n].name.as_str())
                .collect::<Vec<_>>()
                .join(" -> ");
            let first_error = first_error.clone();
            match &head.kind {
                NodeKind::Source(spec) => {
                    let ctx = ctx_of(chain.head());
                    let reader = spec.factory.create_reader(&ctx)?;
                    if checkpointing && !reader.is_rewindable() {
                        return Err(EngineError::Config(format!(
                            "{} cannot rewind to a checkpointed position, so this job cannot \
                             take checkpoints; remove 'execution.checkpointing.interval' to run \
                             it without them",
                            head.name
                        )));
                    }
                    let task = SourceTask {
                        source_id: head.id,
                        reader,
                        prepare: spec.prepare.as_ref().map(|f| f.create(&ctx)).transpose()?,
                        event_time: spec.event_time.clone(),
                        chain: runner,
                        metrics: metrics.clone(),
                        watermark_interval: config.auto_watermark_interval,
                        idle_timeout: config.idle_timeout,
                        stop: shared.stop.clone(),
                        checkpoints: link,
                    };
                    let run = async move { task.run().await.map_err(|e| wrap(e, &name, subtask)) };
                    tasks.spawn(record_failure(run, first_error));
                }
                NodeKind::Operator(_) => {
                    let task = OperatorTask {
                        gate: InputGate::new(ins),
                        chain: runner,
                        checkpoints: link,
                    };
                    let run = async move { task.run().await.map_err(|e| wrap(e, &name, subtask)) };
                    tasks.spawn(record_failure(run, first_error));
                }
            }
        }
    }
    if let Some(config_checkpoints) = &config.checkpoints {
        let coordinator = Coordinator {
            config: config_checkpoints.clone(),
            tasks: entries,
            events: event_rx,
            nodes: graph.nodes.iter().map(|n| (n.id, n.parallelism)).collect(),
            max_parallelism: config.max_parallelism,
            job: job_description(graph),
            metrics: metrics.clone(),
            stop: shared.stop.clone(),
            savepoints: shared.savepoints.clone(),
            notices: shared.notices.clone(),
            restored_id: restore.as_ref().map(|c| c.id()),
        };
        let run = async move {
            coordinator.run().await.map_err(|e| match e {
                EngineError::Cancelled => e,
                other => EngineError::Task {
                    operator: "checkpoint coordinator".into(),
                    subtask: 1,
                    source: Box::new(other),
                },
            })
        };
        tasks.spawn(record_failure(run, first_error.clone()));
    }
    Ok(Run { tasks, first_error })
}

/// What `_metadata` records about the job: its nodes, for people reading it.
fn job_description(graph: &JobGraph) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = graph
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "id": n.id.to_string(),
                "name": n.name,
                "parallelism": n.parallelism,
            })
        })
        .collect();
    serde_json::json!({ "weir_version": env!("CARGO_PKG_VERSION"), "nodes": nodes })
}

/// A chain subtask's operators and their node ids.
type ChainOperators = (Vec<Box<dyn Operator>>, Vec<weir_types::OperatorId>);

/// The operators of a chain's subtask and their node ids; a source head contributes
/// none (it is the reader).
fn create_chain_operators(
    graph: &JobGraph,
    chain: &Chain,
    ctx_of: &dyn Fn(usize) -> SubtaskContext,
    metrics: &Arc<JobMetrics>,
) -> EngineResult<ChainOperators> {
    let mut operators = Vec::new();
    let mut ids = Vec::new();
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
            ids.push(node.id);
        }
    }
    Ok((operators, ids))
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
