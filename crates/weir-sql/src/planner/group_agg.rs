//! Unbounded aggregations: `GROUP BY` keys without a window, `SELECT DISTINCT`, and
//! global aggregates become a hash exchange by the keys and a `GroupAggregate` whose
//! output is an updating stream. Group expressions that are not plain columns are
//! computed by a calc before the exchange.

use std::sync::Arc;

use arrow::datatypes::Field;
use datafusion::common::DFSchemaRef;
use datafusion::logical_expr::{Aggregate, Expr, Projection};
use weir_operators::{GroupAggregate, LocalAggregate, MiniBatch};
use weir_runtime::{Edge, EdgeKind, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId};

use super::aggregate::physical_aggregates;
use super::translate::{add_calc, keyed_exchange, translate, Stream};
use super::{datafusion_error, Planner};
use crate::config::AggPhaseStrategy;
use crate::error::{Position, SqlError, SqlResult};

/// Translates an aggregation without window columns.
pub(crate) fn translate_group_aggregate(p: &mut Planner, agg: &Aggregate) -> SqlResult<Stream> {
    if let Some(two_levels) = super::split_distinct::split(p, agg)? {
        return translate(p, &two_levels);
    }
    let input = translate(p, &agg.input)?;
    let input_updating = p.graph.nodes[input.node].changelog == ChangelogKind::Updating;
    let (input, key_columns) = with_key_columns(p, agg, input)?;
    let aggregates = physical_aggregates(p, &agg.aggr_expr, &input.schema)?;
    let fields: Vec<Field> = agg
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let output_schema = GroupAggregate::output_schema_of(fields);
    let state_ttl_ms = p.options.state_ttl_ms();
    let mini_batch =
        p.options
            .mini_batch()
            .map_err(SqlError::new)?
            .map(|(allow_latency_ms, size)| MiniBatch {
                allow_latency_ms,
                size,
            });
    let keys_text = agg
        .group_expr
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let aggregates_text = agg
        .aggr_expr
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let retention = match state_ttl_ms {
        Some(ms) => format!("dropped {ms} ms after a key's last update (table.exec.state.ttl)"),
        None => "kept forever (set table.exec.state.ttl to bound it)".into(),
    };
    let emission = match mini_batch {
        Some(m) => format!(
            "mini-batch (up to {} ms or {} rows)",
            m.allow_latency_ms, m.size
        ),
        None => "after every input batch".into(),
    };
    let detail = format!(
        "keys [{keys_text}], aggregates [{aggregates_text}]; {} input; updates emitted {emission}; state: one entry per distinct key, {retention}",
        if input_updating { "updating" } else { "append-only" },
    );
    let two_phase = !input_updating
        && !key_columns.is_empty()
        && match p.options.agg_phase_strategy() {
            AggPhaseStrategy::TwoPhase => true,
            AggPhaseStrategy::Auto => mini_batch.is_some(),
            AggPhaseStrategy::OnePhase => false,
        }
        && aggregates.iter().all(|(a, _)| a.state_fields().is_ok());
    let (input, key_columns) = if two_phase {
        let key_fields: Vec<Field> = output_schema.fields()[..key_columns.len()]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let local_schema = LocalAggregate::output_schema_of(key_fields, &aggregates)
            .map_err(|e| SqlError::new(e.to_string()))?;
        let upstream = &p.graph.nodes[input.node];
        let local = p.graph.add(Node {
            id: OperatorId::derive(
                &format!("local-aggregate:[{keys_text}]:[{aggregates_text}]"),
                &[upstream.id],
            ),
            name: "LocalAggregate".into(),
            detail: format!(
                "pre-aggregates [{aggregates_text}] per [{keys_text}] before the exchange (two-phase aggregation); flushes {emission}"
            ),
            parallelism: upstream.parallelism,
            inputs: vec![Edge {
                from: input.node,
                kind: EdgeKind::Forward,
            }],
            kind: NodeKind::Operator(
                LocalAggregate {
                    key_columns: key_columns.clone(),
                    aggregates: aggregates.clone(),
                    mini_batch,
                    output_schema: local_schema.clone(),
                }
                .into_factory(),
            ),
            changelog: ChangelogKind::AppendOnly,
            is_sink: false,
            schema: local_schema,
        });
        let keys: Vec<usize> = (0..key_columns.len()).collect();
        (
            Stream {
                node: local,
                schema: input.schema,
            },
            keys,
        )
    } else {
        (input, key_columns)
    };
    let detail = if two_phase {
        format!("{detail}; global phase: merges the LocalAggregate's partial results")
    } else {
        detail
    };
    let operator = GroupAggregate {
        key_columns: key_columns.clone(),
        aggregates,
        output_schema: output_schema.clone(),
        input_updating,
        state_ttl_ms,
        mini_batch,
        input_partial: two_phase,
    };
    p.require_checkpointable(operator.check_checkpointable())?;
    operator
        .validate()
        .map_err(|e| SqlError::new(e.to_string()))?;
    let upstream = &p.graph.nodes[input.node];
    let (parallelism, edge) = keyed_exchange(p, input.node, &key_columns);
    let upstream_id = upstream.id;
    // Stable across runs: the id depends on what is computed, not on names of temporaries.
    let node = p.graph.add(Node {
        id: OperatorId::derive(
            &format!("group-aggregate:[{keys_text}]:[{aggregates_text}]"),
            &[upstream_id],
        ),
        name: "GroupAggregate".into(),
        detail,
        parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: edge,
        }],
        kind: NodeKind::Operator(operator.into_factory()),
        changelog: ChangelogKind::Updating,
        is_sink: false,
        schema: output_schema,
    });
    Ok(Stream {
        node,
        schema: agg.schema.clone() as DFSchemaRef,
    })
}

/// The input with every group expression available as a column, and those columns'
/// indices. Group expressions that are not columns are appended by a calc.
fn with_key_columns(
    p: &mut Planner,
    agg: &Aggregate,
    input: Stream,
) -> SqlResult<(Stream, Vec<usize>)> {
    let index_of = |schema: &DFSchemaRef, e: &Expr| match e {
        Expr::Column(c) => schema.index_of_column(c).ok(),
        _ => None,
    };
    if agg
        .group_expr
        .iter()
        .all(|e| index_of(&input.schema, e).is_some())
    {
        let keys = agg
            .group_expr
            .iter()
            .filter_map(|e| index_of(&input.schema, e))
            .collect();
        return Ok((input, keys));
    }
    let mut exprs: Vec<Expr> = input
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let mut keys = Vec::with_capacity(agg.group_expr.len());
    for (i, e) in agg.group_expr.iter().enumerate() {
        match index_of(&input.schema, e) {
            Some(index) => keys.push(index),
            None => {
                keys.push(exprs.len());
                exprs.push(e.clone().alias(format!("__weir_key_{i}")));
            }
        }
    }
    let projection = Projection::try_new(exprs.clone(), Arc::new(agg.input.as_ref().clone()))
        .map_err(|e| datafusion_error(e, Position::default()))?;
    // Aggregate arguments refer to the input's columns, which keep their names and places.
    let stream = add_calc(p, &input, None, Some(exprs), projection.schema.clone())?;
    Ok((stream, keys))
}
