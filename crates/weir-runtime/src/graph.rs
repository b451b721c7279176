//! The dataflow graph: nodes (sources, operators, sinks) joined by typed edges.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use weir_types::{ChangelogKind, EngineError, EngineResult, OperatorId};

use crate::operator::OperatorFactory;
use crate::source::SourceSpec;

/// How batches travel from the subtasks of one node to the subtasks of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeKind {
    /// Subtask i sends to subtask i (both nodes have the same parallelism). Chained into
    /// one task, without a channel, where the upstream node has no other consumer.
    Forward,
    /// Each row goes to the subtask owning its key's key group (columns by index).
    Hash {
        /// Indices of the key columns in the upstream node's output schema.
        keys: Vec<usize>,
    },
    /// Batches are spread round-robin over the downstream subtasks.
    Rebalance,
    /// Every batch goes to every downstream subtask.
    Broadcast,
}

impl fmt::Display for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdgeKind::Forward => f.write_str("forward"),
            EdgeKind::Hash { keys } => write!(f, "hash{keys:?}"),
            EdgeKind::Rebalance => f.write_str("rebalance"),
            EdgeKind::Broadcast => f.write_str("broadcast"),
        }
    }
}

/// An input edge of a node.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Index of the upstream node in [`JobGraph::nodes`].
    pub from: usize,
    /// How data is distributed.
    pub kind: EdgeKind,
}

/// What a node does.
#[derive(Clone)]
pub enum NodeKind {
    /// Reads from outside the job.
    Source(SourceSpec),
    /// Transforms its inputs (or, for a sink, writes them out).
    Operator(Arc<dyn OperatorFactory>),
}

/// One node of the dataflow graph.
#[derive(Clone)]
pub struct Node {
    /// Stable id, derived from the query (see [`OperatorId::derive`]).
    pub id: OperatorId,
    /// Short name, e.g. `Source: orders` or `Calc`.
    pub name: String,
    /// What the node computes, for `explain`, e.g. `project [a, b + 1 AS c]`.
    pub detail: String,
    /// Number of subtasks.
    pub parallelism: usize,
    /// Input edges; a source has none.
    pub inputs: Vec<Edge>,
    /// Behaviour.
    pub kind: NodeKind,
    /// Whether the node's output stream is append-only or updating.
    pub changelog: ChangelogKind,
    /// Whether the node is a sink (emits nothing).
    pub is_sink: bool,
    /// Output schema (for a sink: its input schema).
    pub schema: SchemaRef,
}

/// A job: nodes in topological order (every edge points to a lower index).
#[derive(Clone, Default)]
pub struct JobGraph {
    /// The nodes.
    pub nodes: Vec<Node>,
}

impl JobGraph {
    /// Adds a node and returns its index. Its inputs must already be in the graph.
    ///
    /// Operator ids are unique in a graph: a node whose id is already taken (the same
    /// computation twice, e.g. one projection of a table in two queries) gets an id
    /// derived from the taken one and how many came before, which is stable for the same
    /// SQL.
    pub fn add(&mut self, mut node: Node) -> usize {
        let mut copy = 0u64;
        let base = node.id;
        while self.nodes.iter().any(|n| n.id == node.id) {
            copy += 1;
            node.id = OperatorId::derive(&format!("copy {copy}"), &[base]);
        }
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The consumers of node `index`: (consumer index, position of the edge among its inputs).
    pub fn consumers(&self, index: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for (pos, edge) in node.inputs.iter().enumerate() {
                if edge.from == index {
                    out.push((i, pos));
                }
            }
        }
        out
    }

    /// Checks the graph's invariants: topological order, forward edges between equal
    /// parallelism, sinks without consumers, sources without inputs.
    pub fn validate(&self) -> EngineResult<()> {
        for (i, node) in self.nodes.iter().enumerate() {
            if node.parallelism == 0 {
                return Err(EngineError::Internal(format!(
                    "node {} has parallelism 0",
                    node.name
                )));
            }
            let is_source = matches!(node.kind, NodeKind::Source(_));
            if is_source != node.inputs.is_empty() {
                return Err(EngineError::Internal(format!(
                    "node {} must have inputs exactly when it is not a source",
                    node.name
                )));
            }
            for edge in &node.inputs {
                if edge.from >= i {
                    return Err(EngineError::Internal(format!(
                        "edge into {} is not in topological order",
                        node.name
                    )));
                }
                let from = &self.nodes[edge.from];
                if from.is_sink {
                    return Err(EngineError::Internal(format!(
                        "sink {} has a consumer",
                        from.name
                    )));
                }
                if edge.kind == EdgeKind::Forward && from.parallelism != node.parallelism {
                    return Err(EngineError::Internal(format!(
                        "forward edge {} -> {} joins different parallelism",
                        from.name, node.name
                    )));
                }
            }
        }
        Ok(())
    }
}
