//! Session window aggregation: `GROUP BY window_start, window_end[, keys]` over a
//! `SESSION(TABLE t [PARTITION BY keys], DESCRIPTOR(ts), gap)` table function (or the
//! legacy `GROUP BY SESSION(ts, gap), keys`, rewritten into it) becomes a hash exchange
//! by the partition keys and a `SessionWindowAggregate`, which merges each key's
//! sessions and emits a session when the watermark passes its end.
//!
//! As in Flink, the GROUP BY keys besides the window columns must be exactly the
//! session's PARTITION BY columns (Flink's `PullUpWindowTableFunctionIntoWindowAggregateRule`
//! refuses anything else): sessions are found per partition key, so grouping by fewer
//! or more columns has no meaning.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{Column, DFSchemaRef};
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::window::SessionWindowAggregate;
use weir_operators::Calc;
use weir_runtime::{Edge, EdgeKind, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId};

use super::aggregate::defining_expr;
use super::translate::{keyed_exchange, require_append_only, translate, Stream};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlError, SqlResult};
use crate::windows::udf::WINDOW_START;

/// The partition key arguments of the `SESSION` window function defining `expr`, with
/// the plan they read.
fn session_call(expr: &Expr, input: &LogicalPlan) -> Option<(Vec<Expr>, LogicalPlan)> {
    match expr {
        Expr::Alias(alias) => session_call(&alias.expr, input),
        Expr::ScalarFunction(f) if f.name() == WINDOW_START => {
            Some((f.args.get(5..).unwrap_or_default().to_vec(), input.clone()))
        }
        Expr::Column(c) => defining_expr(input, c).and_then(|(e, below)| session_call(&e, &below)),
        _ => None,
    }
}

/// The column `expr` passes through unchanged from the bottom of `plan` (through
/// projections, aliases and filters), or `None` when it is computed.
fn origin(expr: &Expr, plan: &LogicalPlan) -> Option<Column> {
    match expr {
        Expr::Alias(alias) => origin(&alias.expr, plan),
        Expr::Column(c) => match defining_expr(plan, c) {
            Some((defined, below)) => origin(&defined, &below),
            None => Some(c.clone()),
        },
        _ => None,
    }
}

/// Translates a session window aggregation: `start` is the index of `window_start` in
/// the group expressions, `keys` the indices of the other group keys.
pub(crate) fn translate_session_aggregate(
    p: &mut Planner,
    agg: &Aggregate,
    [start, end]: [usize; 2],
    time: Option<usize>,
    keys: &[usize],
    gap_ms: i64,
) -> SqlResult<Stream> {
    // Over a TIMESTAMP_LTZ attribute, sessions follow the session zone's local time.
    let shift = super::window_attrs::window_zone(p, &agg.group_expr[start], &agg.input);
    let (partition_args, below) = session_call(&agg.group_expr[start], &agg.input)
        .ok_or_else(|| SqlError::new("internal: the SESSION window function was not found"))?;
    let partition = partition_args
        .iter()
        .map(|e| origin(e, &below))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| SqlError::new("SESSION PARTITION BY takes columns of the table"))?;
    let group_keys: Vec<Option<Column>> = keys
        .iter()
        .map(|&i| origin(&agg.group_expr[i], &agg.input))
        .collect();
    let same = group_keys.len() == partition.len()
        && group_keys
            .iter()
            .all(|g| g.as_ref().is_some_and(|g| partition.contains(g)))
        && partition
            .iter()
            .all(|c| group_keys.contains(&Some(c.clone())));
    if !same {
        let partition_names: Vec<&str> = partition.iter().map(|c| c.name.as_str()).collect();
        let key_names: Vec<String> = keys
            .iter()
            .map(|&i| agg.group_expr[i].schema_name().to_string())
            .collect();
        return Err(SqlError::new(format!(
            "a SESSION window aggregation groups by window_start, window_end and exactly the \
             session's PARTITION BY columns (as in Flink): the session is partitioned by [{}] \
             but the query groups by [{}]; write SESSION(TABLE t PARTITION BY (k1, k2), \
             DESCRIPTOR(ts), gap) ... GROUP BY window_start, window_end, k1, k2",
            partition_names.join(", "),
            key_names.join(", ")
        )));
    }

    let emit = p.options.emit_strategy().map_err(SqlError::new)?;
    if emit.is_updating() {
        return Err(SqlError::new(
            "'table.exec.emit.allow-lateness' and 'table.exec.emit.early-fire.enabled' apply to \
             TUMBLE, HOP and CUMULATE window aggregations; SESSION windows do not support them \
             yet (a late row could merge sessions that have already been emitted): RESET them \
             before this statement",
        ));
    }
    p.window_aggregate_depth += 1;
    let input = translate(p, &agg.input);
    p.window_aggregate_depth -= 1;
    let input = input?;
    require_append_only(p, &input, "a session window aggregation")?;
    let input_arrow = Arc::new(input.schema.as_arrow().clone());
    let column_index = |e: &Expr| -> SqlResult<usize> {
        match e {
            Expr::Column(c) => input
                .schema
                .index_of_column(c)
                .map_err(|err| datafusion_error(err, Position::default())),
            other => Err(SqlError::new(format!(
                "GROUP BY of a SESSION window takes columns, not '{other}'; compute it in a view first"
            ))),
        }
    };
    // The SESSION window_start column of a row is its own time.
    let time_column = column_index(&agg.group_expr[start])?;
    let key_columns = keys
        .iter()
        .map(|&i| column_index(&agg.group_expr[i]))
        .collect::<SqlResult<Vec<_>>>()?;
    let state = p.ctx.state();
    let mut aggregates = Vec::new();
    for e in &agg.aggr_expr {
        #[allow(deprecated)]
        let (aggregate, filter, order) =
            datafusion::physical_planner::create_aggregate_expr_and_maybe_filter(
                e,
                &input.schema,
                &input_arrow,
                state.execution_props(),
            )
            .map_err(|err| datafusion_error(err, Position::default()))?;
        if !order.is_empty() {
            return Err(SqlError::new(format!(
                "ORDER BY inside aggregate '{e}' is not supported yet"
            )));
        }
        aggregates.push((aggregate, filter));
    }
    let tz = match input_arrow.field(time_column).data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    let window_type = DataType::Timestamp(TimeUnit::Millisecond, tz);
    let mut fields = vec![
        Field::new("window_start", window_type.clone(), false),
        Field::new("window_end", window_type, false),
    ];
    for &k in &key_columns {
        fields.push(input_arrow.field(k).clone());
    }
    for (a, _) in &aggregates {
        fields.push(a.field().as_ref().clone());
    }
    let output_schema = Arc::new(Schema::new(fields));
    let names = |cols: &[usize]| {
        cols.iter()
            .map(|&k| input_arrow.field(k).name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = format!(
        "SESSION window (gap {gap_ms} ms){}, partition keys [{}], aggregates [{}]; state: open sessions per key with their accumulators, dropped as sessions fire",
        super::window_attrs::local_time_note(shift.is_some()),
        names(&key_columns),
        agg.aggr_expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
    );
    let operator = SessionWindowAggregate {
        gap_ms,
        time_column,
        key_columns: key_columns.clone(),
        aggregates,
        output_schema: output_schema.clone(),
        shift,
    };
    p.require_checkpointable(operator.check_checkpointable())?;
    operator
        .validate()
        .map_err(|e| SqlError::new(e.to_string()))?;
    let upstream = &p.graph.nodes[input.node];
    let (parallelism, edge) = keyed_exchange(p, input.node, &key_columns);
    let upstream_id = upstream.id;
    let window_node = p.graph.add(Node {
        id: OperatorId::derive(&format!("session-window:{detail}"), &[upstream_id]),
        name: "SessionWindowAggregate".into(),
        detail,
        parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: edge,
        }],
        kind: NodeKind::Operator(operator.into_factory()),
        changelog: ChangelogKind::AppendOnly,
        is_sink: false,
        schema: output_schema.clone(),
    });
    super::late::route_late_rows(p, window_node)?;
    // Back to the aggregate's column order: group expressions, then aggregates.
    let mut projection: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    for i in 0..agg.group_expr.len() {
        if Some(i) == time {
            projection.push(super::aggregate::window_time_expr(
                p,
                &output_schema,
                agg.schema.field(i).data_type(),
            )?);
            continue;
        }
        let source = if i == start {
            0
        } else if i == end {
            1
        } else if let Some(k) = keys.iter().position(|&k| k == i) {
            2 + k
        } else {
            return Err(SqlError::new(format!(
                "internal: GROUP BY item {i} of a session window is no window column or key"
            )));
        };
        projection.push(Arc::new(PhysicalColumn::new(
            output_schema.field(source).name(),
            source,
        )));
    }
    for j in 0..agg.aggr_expr.len() {
        let source = 2 + keys.len() + j;
        projection.push(Arc::new(PhysicalColumn::new(
            output_schema.field(source).name(),
            source,
        )));
    }
    let schema = Arc::new(agg.schema.as_arrow().clone());
    let node = p.graph.add(Node {
        id: OperatorId::derive("session-window-output", &[p.graph.nodes[window_node].id]),
        name: "Calc".into(),
        detail: "session window columns in query order".into(),
        parallelism,
        inputs: vec![Edge {
            from: window_node,
            kind: EdgeKind::Forward,
        }],
        kind: NodeKind::Operator(Calc::new(None, Some(projection), schema.clone()).into_factory()),
        changelog: ChangelogKind::AppendOnly,
        is_sink: false,
        schema,
    });
    Ok(Stream {
        node,
        schema: agg.schema.clone() as DFSchemaRef,
    })
}
