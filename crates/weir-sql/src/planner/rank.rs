//! Unbounded Top-N and deduplication: `ROW_NUMBER() OVER (PARTITION BY k ORDER BY ...)`
//! filtered by `rn <= N` (or `= 1`) over a stream without windows becomes a hash exchange
//! by the partition columns and a `Rank` operator.
//!
//! - `ORDER BY <processing time> ASC` with N = 1 (keep the first row, Flink's
//!   first-row deduplication) is append-only: the first row of a key never changes.
//! - Everything else is updating: keep-last-row deduplication (`ORDER BY time DESC`),
//!   event-time first-row deduplication (an earlier row may arrive later), Top-N.

use std::sync::Arc;

use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Schema};
use datafusion::logical_expr::{Expr, LogicalPlan, Projection, Window};
use weir_operators::Rank;
use weir_runtime::{Edge, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId};

use super::translate::{add_calc, keyed_exchange, translate, with_row_kind, Stream};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlError, SqlResult};
use crate::statement::ColumnKind;

/// Whether column `name` of `plan`'s output is a `PROCTIME()` computed column of a table.
pub(crate) fn is_proctime(p: &Planner, plan: &LogicalPlan, name: &str) -> bool {
    match plan {
        LogicalPlan::Projection(projection) => {
            let Some(index) = projection
                .schema
                .fields()
                .iter()
                .position(|f| f.name() == name)
            else {
                return false;
            };
            match projection.expr[index].clone().unalias() {
                Expr::Column(c) => is_proctime(p, &projection.input, &c.name),
                Expr::ScalarFunction(f) => f.name().eq_ignore_ascii_case("proctime"),
                _ => false,
            }
        }
        LogicalPlan::Filter(f) => is_proctime(p, &f.input, name),
        LogicalPlan::SubqueryAlias(a) => is_proctime(p, &a.input, name),
        LogicalPlan::TableScan(scan) => p
            .tables
            .get(scan.table_name.table())
            .and_then(|t| t.columns.iter().find(|c| c.name == name))
            .is_some_and(|c| match &c.kind {
                ColumnKind::Computed(e) => {
                    e.to_string().to_ascii_uppercase().starts_with("PROCTIME(")
                }
                _ => false,
            }),
        _ => false,
    }
}

/// Translates an unbounded Top-N: `window` computes `ROW_NUMBER()` (its last column),
/// `between` is a projection pushed between it and the `rn <= limit` filter.
pub(crate) fn translate_rank(
    p: &mut Planner,
    window: &Window,
    between: Option<&Projection>,
    limit: usize,
    rank_used: bool,
) -> SqlResult<Stream> {
    let [Expr::WindowFunction(function)] = window.window_expr.as_slice() else {
        return Err(SqlError::new("Top-N needs exactly one ROW_NUMBER()"));
    };
    let input_schema = window.input.schema();
    let column_index = |e: &Expr| -> SqlResult<usize> {
        match e {
            Expr::Column(c) => input_schema
                .index_of_column(c)
                .map_err(|err| datafusion_error(err, Position::default())),
            other => Err(SqlError::new(format!(
                "Top-N needs plain columns in PARTITION BY and ORDER BY, not '{other}'; compute it in a view first"
            ))),
        }
    };
    let partition_columns = function
        .params
        .partition_by
        .iter()
        .map(&column_index)
        .collect::<SqlResult<Vec<_>>>()?;
    if function.params.order_by.is_empty() {
        return Err(SqlError::new(
            "ROW_NUMBER() needs an ORDER BY: a time attribute to deduplicate (ASC keeps the first row, DESC the last), or the ranking columns of a Top-N",
        ));
    }
    let mut order = Vec::new();
    for sort in &function.params.order_by {
        order.push((
            column_index(&sort.expr)?,
            SortOptions {
                descending: !sort.asc,
                nulls_first: sort.nulls_first,
            },
        ));
    }
    let (time_order, descending) = match order.as_slice() {
        [(column, options)] => {
            let is_time = matches!(
                input_schema.field(*column).data_type(),
                DataType::Timestamp(_, _)
            );
            (is_time.then_some(*column), options.descending)
        }
        _ => (None, false),
    };
    let first_row_on_proctime = limit == 1
        && !descending
        && time_order.is_some_and(|c| is_proctime(p, &window.input, input_schema.field(c).name()));
    let input = translate(p, &window.input)?;
    let input_updating = p.graph.nodes[input.node].changelog == ChangelogKind::Updating;
    let data_schema = Arc::new(input.schema.as_arrow().clone());
    let ranked_schema: Arc<Schema> = Arc::new(window.schema.as_arrow().clone());
    let append_only = first_row_on_proctime && !input_updating;
    let output_schema = if append_only {
        ranked_schema.clone()
    } else {
        with_row_kind(&ranked_schema)
    };
    let kind = if limit == 1 && time_order.is_some() {
        if descending {
            "deduplication keeping the last row"
        } else {
            "deduplication keeping the first row"
        }
    } else {
        "Top-N"
    };
    let names: Vec<String> = partition_columns
        .iter()
        .map(|&i| input_schema.field(i).name().clone())
        .collect();
    let order_text = function
        .params
        .order_by
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let state = if input_updating {
        "every row of each partition (the input is updating)".to_string()
    } else {
        format!("the first {limit} rows of each partition, forever")
    };
    let detail = format!(
        "{kind}: top {limit} per [{}] ordered by [{order_text}]; {} output; state: {state}",
        names.join(", "),
        if append_only {
            "append-only"
        } else {
            "updating"
        },
    );
    let operator = Rank {
        input_schema: data_schema,
        input_updating,
        partition_columns: partition_columns.clone(),
        order,
        limit,
        latest_first_on_ties: limit == 1 && time_order.is_some() && descending,
        emit_rank: rank_used,
        output_schema: output_schema.clone(),
        state_ttl_ms: p.options.state_ttl_ms(),
    };
    let upstream = &p.graph.nodes[input.node];
    let (parallelism, edge) = keyed_exchange(p, input.node, &partition_columns);
    let upstream_id = upstream.id;
    let node = p.graph.add(Node {
        id: OperatorId::derive(
            &format!("rank:{kind}:{limit}:[{}]:[{order_text}]", names.join(",")),
            &[upstream_id],
        ),
        name: if kind == "Top-N" {
            "TopN".into()
        } else {
            "Deduplicate".into()
        },
        detail,
        parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: edge,
        }],
        kind: NodeKind::Operator(operator.into_factory()),
        changelog: if append_only {
            ChangelogKind::AppendOnly
        } else {
            ChangelogKind::Updating
        },
        is_sink: false,
        schema: output_schema,
    });
    let ranked = Stream {
        node,
        schema: window.schema.clone(),
    };
    match between {
        None => Ok(ranked),
        Some(projection) => add_calc(
            p,
            &ranked,
            None,
            Some(projection.expr.clone()),
            projection.schema.clone(),
        ),
    }
}
