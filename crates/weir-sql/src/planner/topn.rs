//! Window Top-N: `WHERE rn <= N` over `ROW_NUMBER() OVER (PARTITION BY window_start,
//! window_end[, keys] ORDER BY ...)` becomes a hash exchange by the partition columns and a
//! `WindowTopN` that ranks each window once the watermark has passed its end.
//!
//! With N = 1 and a single TIMESTAMP ordering column it is Flink's window deduplication
//! (keep the first row per window and key with `ASC`, the last with `DESC`), planned as a
//! `WindowDeduplicate`: it keeps one row per key instead of every row of the window, and
//! breaks ties by arrival as Flink does (first arrival for ASC, last for DESC).

use std::sync::Arc;

use arrow::compute::SortOptions;
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Filter, LogicalPlan, Operator};
use weir_operators::window::WindowDeduplicate;
use weir_operators::WindowTopN;
use weir_runtime::{Edge, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId};

use super::translate::{add_calc, keyed_exchange, require_append_only, translate, Stream};
use super::{datafusion_error, rank, Planner};
use crate::error::{Position, SqlError, SqlResult};

/// The largest row number kept by `predicate` on column `rank`, if it has that shape.
fn limit_of(predicate: &Expr, rank: &str) -> Option<usize> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = predicate else {
        return None;
    };
    let (Expr::Column(c), Expr::Literal(value, _)) = (left.as_ref(), right.as_ref()) else {
        return None;
    };
    if c.name != rank {
        return None;
    }
    let n = match value {
        ScalarValue::UInt64(Some(n)) => *n as i128,
        ScalarValue::Int64(Some(n)) => *n as i128,
        ScalarValue::Int32(Some(n)) => *n as i128,
        _ => return None,
    };
    let limit = match op {
        Operator::LtEq => n,
        Operator::Lt => n - 1,
        Operator::Eq if n == 1 => 1,
        _ => return None,
    };
    (limit >= 1).then_some(limit as usize)
}

/// The name of the row-number column under `filter`, when a window function is there.
pub(crate) fn rank_column_name(filter: &Filter) -> Option<String> {
    let window = match filter.input.as_ref() {
        LogicalPlan::Window(window) => window,
        LogicalPlan::Projection(projection) => match projection.input.as_ref() {
            LogicalPlan::Window(window) => window,
            _ => return None,
        },
        _ => return None,
    };
    window.schema.fields().last().map(|f| f.name().clone())
}

/// Translates `filter` as a window Top-N when it is one; `None` when it is not.
/// `rank_used`: whether the query reads the row number (else only which rows are in the
/// top N matters).
pub(crate) fn try_window_topn(
    p: &mut Planner,
    filter: &Filter,
    rank_used: bool,
) -> SqlResult<Option<Stream>> {
    // Projection pushdown may put a projection between the filter and the window.
    let (window, between) = match filter.input.as_ref() {
        LogicalPlan::Window(window) => (window, None),
        LogicalPlan::Projection(projection) => match projection.input.as_ref() {
            LogicalPlan::Window(window) => (window, Some(projection)),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let [Expr::WindowFunction(function)] = window.window_expr.as_slice() else {
        return Ok(None);
    };
    if function.fun.name() != "row_number" {
        return Ok(None);
    }
    let rank_field = window.schema.field(window.schema.fields().len() - 1);
    let Some(limit) = limit_of(&filter.predicate, rank_field.name()) else {
        return Ok(None);
    };
    let input_schema = window.input.schema();
    let column_index = |e: &Expr| -> SqlResult<usize> {
        match e {
            Expr::Column(c) => input_schema
                .index_of_column(c)
                .map_err(|err| datafusion_error(err, Position::default())),
            other => Err(SqlError::new(format!(
                "window Top-N needs plain columns in PARTITION BY and ORDER BY, not '{other}'"
            ))),
        }
    };
    let partition_columns = function
        .params
        .partition_by
        .iter()
        .map(&column_index)
        .collect::<SqlResult<Vec<_>>>()?;
    let names: Vec<&str> = partition_columns
        .iter()
        .map(|&i| input_schema.field(i).name().as_str())
        .collect();
    let Some(window_end_column) = partition_columns
        .iter()
        .copied()
        .find(|&i| input_schema.field(i).name() == "window_end")
    else {
        return rank::translate_rank(p, window, between, limit, rank_used).map(Some);
    };
    let end_expr = function
        .params
        .partition_by
        .iter()
        .zip(&partition_columns)
        .find_map(|(e, &i)| (i == window_end_column).then_some(e));
    // Windows over a TIMESTAMP_LTZ attribute are aligned to the session zone's local time.
    let shift = end_expr.and_then(|end| super::window_attrs::window_zone(p, end, &window.input));
    let local = super::window_attrs::local_time_note(shift.is_some());
    if !names.contains(&"window_start") {
        return Err(SqlError::new(
            "a window Top-N partitions by both window_start and window_end",
        ));
    }
    let order = function
        .params
        .order_by
        .iter()
        .map(|sort| {
            Ok((
                column_index(&sort.expr)?,
                SortOptions {
                    descending: !sort.asc,
                    nulls_first: sort.nulls_first,
                },
            ))
        })
        .collect::<SqlResult<Vec<_>>>()?;
    // Window deduplication: first or last row by a time column.
    let dedup = match order[..] {
        [(column, options)]
            if limit == 1
                && matches!(
                    input_schema.field(column).data_type(),
                    DataType::Timestamp(..)
                ) =>
        {
            Some((column, options))
        }
        _ => None,
    };
    let input = translate(p, &window.input)?;
    require_append_only(p, &input, "a window Top-N")?;
    let output_schema = Arc::new(window.schema.as_arrow().clone());
    let upstream = &p.graph.nodes[input.node];
    let (parallelism, edge) = keyed_exchange(p, input.node, &partition_columns);
    let order_names = function
        .params
        .order_by
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (name, id_seed, factory) = match dedup {
        Some((order_column, options)) => {
            let detail = format!(
                "keep the {} row per [{}] by [{order_names}]{local}; state: one row per key of windows not yet complete",
                if options.descending { "last" } else { "first" },
                names.join(", "),
            );
            let factory = WindowDeduplicate {
                window_end_column,
                partition_columns,
                order_column,
                keep_last: options.descending,
                nulls_first: options.nulls_first,
                output_schema: output_schema.clone(),
                shift,
            }
            .into_factory();
            (
                "WindowDeduplicate",
                format!("window-dedup:{detail}"),
                factory,
            )
        }
        None => {
            let detail = format!(
                "top {limit} per [{}] ordered by [{order_names}]{local}; state: rows of windows not yet complete",
                names.join(", "),
            );
            let factory = WindowTopN {
                window_end_column,
                partition_columns,
                order,
                limit,
                output_schema: output_schema.clone(),
                shift,
            }
            .into_factory();
            ("WindowTopN", format!("window-topn:{detail}"), factory)
        }
    };
    let upstream_id = upstream.id;
    let node = p.graph.add(Node {
        id: OperatorId::derive(&id_seed, &[upstream_id]),
        name: name.into(),
        detail: id_seed
            .split_once(':')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default(),
        parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: edge,
        }],
        kind: NodeKind::Operator(factory),
        changelog: ChangelogKind::AppendOnly,
        is_sink: false,
        schema: output_schema,
    });
    super::late::route_late_rows(p, node)?;
    let ranked = Stream {
        node,
        schema: window.schema.clone(),
    };
    match between {
        None => Ok(Some(ranked)),
        Some(projection) => add_calc(
            p,
            &ranked,
            None,
            Some(projection.expr.clone()),
            projection.schema.clone(),
        )
        .map(Some),
    }
}
