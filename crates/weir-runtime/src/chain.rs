//! Operator chaining: nodes joined by a forward edge of equal parallelism run in one
//! task, handing batches over by function call instead of through a channel.

use crate::graph::{EdgeKind, JobGraph};

/// A run of nodes executed by one task per subtask; the first is the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Node indices, head first; each node's only input is the node before it.
    pub nodes: Vec<usize>,
}

impl Chain {
    /// The first node (a source, or the node that reads from channels).
    pub fn head(&self) -> usize {
        self.nodes[0]
    }

    /// The last node (whose output leaves the task).
    pub fn tail(&self) -> usize {
        self.nodes[self.nodes.len() - 1]
    }
}

/// Whether node `index` is chained onto its input: one forward input from a node of the
/// same parallelism that has no other consumer.
pub fn chains_to_input(graph: &JobGraph, index: usize) -> bool {
    let node = &graph.nodes[index];
    let [edge] = node.inputs.as_slice() else {
        return false;
    };
    let from = &graph.nodes[edge.from];
    edge.kind == EdgeKind::Forward
        && from.parallelism == node.parallelism
        && !from.is_sink
        && graph.consumers(edge.from).len() == 1
}

/// Splits the graph into chains, in topological order of their heads.
pub fn plan_chains(graph: &JobGraph) -> Vec<Chain> {
    let mut chain_of = vec![usize::MAX; graph.nodes.len()];
    let mut chains: Vec<Chain> = Vec::new();
    for index in 0..graph.nodes.len() {
        if chains_to_input(graph, index) {
            let upstream = graph.nodes[index].inputs[0].from;
            let chain = chain_of[upstream];
            chains[chain].nodes.push(index);
            chain_of[index] = chain;
        } else {
            chain_of[index] = chains.len();
            chains.push(Chain { nodes: vec![index] });
        }
    }
    chains
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Edge, Node, NodeKind};
    use crate::operator::{Operator, OperatorFactory, Output, SubtaskContext};
    use arrow::datatypes::Schema;
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;
    use weir_types::{ChangelogKind, EngineResult, OperatorId};

    struct Nop;
    impl Operator for Nop {
        fn process_batch(
            &mut self,
            _: usize,
            b: RecordBatch,
            out: &mut Output,
        ) -> EngineResult<()> {
            out.batch(b);
            Ok(())
        }
    }

    fn node(name: &str, parallelism: usize, inputs: Vec<Edge>) -> Node {
        let factory: Arc<dyn OperatorFactory> =
            Arc::new(|_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> { Ok(Box::new(Nop)) });
        Node {
            id: OperatorId::derive(name, &[]),
            name: name.into(),
            detail: String::new(),
            parallelism,
            inputs,
            kind: NodeKind::Operator(factory),
            changelog: ChangelogKind::AppendOnly,
            is_sink: false,
            schema: Arc::new(Schema::empty()),
        }
    }

    fn fwd(from: usize) -> Edge {
        Edge {
            from,
            kind: EdgeKind::Forward,
        }
    }

    #[test]
    fn forward_edges_of_equal_parallelism_chain() {
        let mut g = JobGraph::default();
        let a = g.add(node("a", 2, vec![]));
        let b = g.add(node("b", 2, vec![fwd(a)]));
        let c = g.add(node("c", 2, vec![fwd(b)]));
        assert_eq!(
            plan_chains(&g),
            vec![Chain {
                nodes: vec![a, b, c]
            }]
        );
    }

    #[test]
    fn exchanges_fan_out_and_fan_in_break_chains() {
        let mut g = JobGraph::default();
        let a = g.add(node("a", 2, vec![]));
        // b reads through a rebalance: new chain.
        let b = g.add(node(
            "b",
            2,
            vec![Edge {
                from: a,
                kind: EdgeKind::Rebalance,
            }],
        ));
        // b has two consumers: neither chains.
        let c = g.add(node("c", 2, vec![fwd(b)]));
        let d = g.add(node("d", 2, vec![fwd(b)]));
        // e unions c and d: two inputs, never chained.
        let e = g.add(node("e", 2, vec![fwd(c), fwd(d)]));
        // f has a different parallelism: not chained even on a forward-like edge.
        let f = g.add(node(
            "f",
            1,
            vec![Edge {
                from: e,
                kind: EdgeKind::Rebalance,
            }],
        ));
        let chains = plan_chains(&g);
        assert_eq!(
            chains.iter().map(|c| c.nodes.clone()).collect::<Vec<_>>(),
            vec![vec![a], vec![b], vec![c], vec![d], vec![e], vec![f]]
        );
    }
}
