//! `weir explain`: the dataflow graph as text, task by task.

use std::fmt::Write;

use weir_runtime::chain::{chains_to_input, plan_chains};
use weir_runtime::{JobGraph, NodeKind};

/// Describes `graph`: tasks (chains of nodes), each node's id, parallelism, changelog
/// kind, what it computes, and the edges joining it to its inputs.
pub fn explain(graph: &JobGraph) -> String {
    let chains = plan_chains(graph);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Dataflow: {} operators in {} tasks (operators joined by a chained forward edge share a task)",
        graph.nodes.len(),
        chains.len()
    );
    for (t, chain) in chains.iter().enumerate() {
        let head = &graph.nodes[chain.head()];
        let _ = writeln!(out, "\nTask {} (parallelism {})", t + 1, head.parallelism);
        for &index in &chain.nodes {
            let node = &graph.nodes[index];
            let kind = match (&node.kind, node.is_sink) {
                (NodeKind::Source(_), _) => "source",
                (_, true) => "sink",
                _ => "operator",
            };
            let _ = writeln!(
                out,
                "  [{index}] {}  id={}  parallelism={}  {kind}, {}",
                node.name, node.id, node.parallelism, node.changelog
            );
            for edge in &node.inputs {
                let from = &graph.nodes[edge.from];
                let how = if chains_to_input(graph, index) {
                    " (chained)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "      input: [{}] {} via {}{how}",
                    edge.from, from.name, edge.kind
                );
            }
            if !node.detail.is_empty() {
                let _ = writeln!(out, "      {}", node.detail);
            }
        }
    }
    out
}
