//! Aggregations. `GROUP BY window_start, window_end[, keys]` over a window table function
//! becomes a slicing window aggregate: rows are hashed by key to the subtask owning the
//! key, added to the accumulators of their slice, and each window is emitted when the
//! watermark passes its end. Other aggregations (unbounded `GROUP BY`) are planned by
//! [`group_agg`].

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, ScalarValue};
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan};
use datafusion::physical_expr::expressions::{Column as PhysicalColumn, Literal};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::ScalarFunctionExpr;
use weir_operators::window::{
    FilteredAggregate, LateRowColumns, TimeShift, WindowAggregate, WindowSpec,
};
use weir_operators::Calc;
use weir_runtime::{Edge, EdgeKind, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId, ROW_KIND_COLUMN};

use super::translate::{keyed_exchange, require_append_only, translate, with_row_kind, Stream};
use super::window_attrs::{resolve, window_zone, WindowAttr};
use super::{datafusion_error, group_agg, Planner};
use crate::error::{Position, SqlError, SqlResult};
use crate::windows::udf::{
    WindowArgs, WindowColumn, WindowTimeOfEnd, WINDOW_END, WINDOW_START, WINDOW_TIME,
};
use crate::windows::WindowKind;

/// The window column a group expression is, with the window's arguments.
pub(super) fn window_column(
    expr: &Expr,
    input: &LogicalPlan,
) -> Option<(WindowColumn, WindowArgs)> {
    match expr {
        Expr::Alias(alias) => window_column(&alias.expr, input),
        Expr::ScalarFunction(f) => {
            let column = match f.name() {
                WINDOW_START => WindowColumn::Start,
                WINDOW_END => WindowColumn::End,
                WINDOW_TIME => WindowColumn::Time,
                _ => return None,
            };
            let literal = |i: usize| match f.args.get(i) {
                Some(Expr::Literal(v, _)) => Some(v.clone()),
                _ => None,
            };
            let args =
                WindowArgs::from_scalars(&literal(1)?, &literal(2)?, &literal(3)?, &literal(4)?)?;
            Some((column, args))
        }
        Expr::Column(c) => defining_expr(input, c).and_then(|(e, below)| window_column(&e, &below)),
        _ => None,
    }
}

/// The expression that defines column `c` in `plan`'s output, and the plan it reads.
pub(super) fn defining_expr(plan: &LogicalPlan, c: &Column) -> Option<(Expr, LogicalPlan)> {
    match plan {
        LogicalPlan::Projection(p) => {
            let index = p
                .schema
                .index_of_column_by_name(c.relation.as_ref(), &c.name)
                .or_else(|| p.schema.fields().iter().position(|f| f.name() == &c.name))?;
            Some((p.expr[index].clone(), p.input.as_ref().clone()))
        }
        LogicalPlan::SubqueryAlias(a) => {
            let inner = a
                .input
                .schema()
                .columns()
                .into_iter()
                .find(|x| x.name == c.name)?;
            defining_expr(&a.input, &inner)
        }
        LogicalPlan::Filter(f) => defining_expr(&f.input, c),
        // The input columns of a window Top-N or deduplication (ROW_NUMBER partitioned
        // by the window) keep their window, as in Flink.
        LogicalPlan::Window(w) if super::window_attrs::partitions_by_window(w) => {
            let input = w.input.schema();
            let index = input
                .index_of_column_by_name(c.relation.as_ref(), &c.name)
                .or_else(|| input.fields().iter().position(|f| f.name() == &c.name))?;
            let (relation, field) = input.qualified_field(index);
            Some((
                Expr::Column(Column::new(relation.cloned(), field.name())),
                w.input.as_ref().clone(),
            ))
        }
        _ => None,
    }
}

/// Plans the aggregate expressions of an aggregation over `schema` as DataFusion
/// physical aggregates with their FILTER predicates.
pub(crate) fn physical_aggregates(
    p: &Planner,
    exprs: &[Expr],
    schema: &DFSchemaRef,
) -> SqlResult<Vec<FilteredAggregate>> {
    let arrow_schema = Arc::new(schema.as_arrow().clone());
    let state = p.ctx.state();
    let mut aggregates = Vec::new();
    for e in exprs {
        #[allow(deprecated)]
        let (aggregate, filter, order) =
            datafusion::physical_planner::create_aggregate_expr_and_maybe_filter(
                e,
                schema,
                &arrow_schema,
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
    Ok(aggregates)
}

/// Translates an aggregation.
pub(crate) fn translate_aggregate(p: &mut Planner, agg: &Aggregate) -> SqlResult<Stream> {
    let mut start = None;
    let mut end = None;
    let mut window: Option<WindowArgs> = None;
    let mut attached = [false, false];
    let mut time = None;
    let mut keys = Vec::new();
    for (i, g) in agg.group_expr.iter().enumerate() {
        match resolve(g, &agg.input) {
            Some(WindowAttr {
                column: WindowColumn::Start,
                args,
                attached: a,
                ..
            }) => {
                start = Some(i);
                window = Some(args);
                attached[0] = a;
            }
            Some(WindowAttr {
                column: WindowColumn::End,
                args,
                attached: a,
                ..
            }) => {
                end = Some(i);
                window = Some(args);
                attached[1] = a;
            }
            Some(WindowAttr {
                column: WindowColumn::Time,
                attached: false,
                ..
            }) => time = Some(i),
            // A window aggregation's grouped window_time: one value per window, a key.
            Some(WindowAttr {
                column: WindowColumn::Time,
                ..
            })
            | None => keys.push(i),
        }
    }
    let (Some(start), Some(end), Some(window)) = (start, end, window) else {
        if (start.is_some() || end.is_some() || time.is_some()) && !attached.contains(&true) {
            return Err(SqlError::new(
                "a window aggregation must GROUP BY both window_start and window_end",
            ));
        }
        // One bound of a window aggregation's output: a regular GROUP BY, as in Flink.
        return group_agg::translate_group_aggregate(p, agg);
    };
    if attached == [true, true] {
        if let Some(t) = time {
            // window_time of the window table function under the aggregation below:
            // grouped with the window there, a key here.
            keys.push(t);
            keys.sort_unstable();
        }
        return super::window_attached::translate_attached_aggregate(
            p, agg, start, end, keys, window,
        );
    }
    if window.kind == WindowKind::Session {
        return super::session::translate_session_aggregate(
            p,
            agg,
            [start, end],
            time,
            &keys,
            window.size_ms,
        );
    }
    // Late rows for a late-data table need the rows' own time, which the optimizer pruned.
    let with_time = if p.options.late_data_table().is_some() {
        super::late::with_row_time(&agg.input, &agg.group_expr[start])
    } else {
        None
    };
    let input_plan = with_time
        .as_ref()
        .map_or(agg.input.as_ref(), |(plan, _)| plan);
    p.window_aggregate_depth += 1;
    let input = translate(p, input_plan);
    p.window_aggregate_depth -= 1;
    let input = input?;
    require_append_only(p, &input, "a window aggregation")?;
    let time_column = group_column(&input, &agg.group_expr[start], "window_start")?;
    let end_column = group_column(&input, &agg.group_expr[end], "window_end")?;
    let late_row = with_time.and_then(|(_, name)| {
        let fields = input.schema.fields();
        let columns: Vec<usize> = (0..fields.len())
            .filter(|&i| i != time_column && i != end_column && fields[i].name() != "window_time")
            .collect();
        let time = columns.iter().position(|&i| fields[i].name() == &name)?;
        Some(LateRowColumns { columns, time })
    });
    let key_columns = keys
        .iter()
        .map(|&i| group_column(&input, &agg.group_expr[i], "keys"))
        .collect::<SqlResult<Vec<_>>>()?;
    let spec = match window.kind {
        WindowKind::Tumble => WindowSpec::Tumble {
            size_ms: window.size_ms,
            offset_ms: window.offset_ms,
        },
        WindowKind::Hop => WindowSpec::Hop {
            size_ms: window.size_ms,
            slide_ms: window.slide_ms,
            offset_ms: window.offset_ms,
        },
        WindowKind::Cumulate => WindowSpec::Cumulate {
            step_ms: window.slide_ms,
            max_size_ms: window.size_ms,
            offset_ms: window.offset_ms,
        },
        WindowKind::Session => {
            return Err(SqlError::new(
                "internal: SESSION windows are planned by planner/session.rs",
            ))
        }
    };
    let window_text = format!(
        "{} window (size {} ms, {} {} ms, offset {} ms)",
        window.kind.name(),
        window.size_ms,
        if window.kind == WindowKind::Cumulate {
            "step"
        } else {
            "slide"
        },
        window.slide_ms,
        window.offset_ms,
    );
    add_window_aggregate(
        p,
        agg,
        WindowNode {
            input,
            time_column,
            key_columns,
            keys,
            start,
            end,
            time,
            start_key: None,
            spec,
            window_text,
            late_row,
            route_late: true,
            shift: window_zone(p, &agg.group_expr[start], &agg.input),
        },
    )
}

/// The input column a group expression is (window aggregations group by columns).
pub(super) fn group_column(input: &Stream, e: &Expr, what: &str) -> SqlResult<usize> {
    match e {
        Expr::Column(c) => input
            .schema
            .index_of_column(c)
            .map_err(|err| datafusion_error(err, Position::default())),
        other => Err(SqlError::new(format!(
            "GROUP BY {what} must be a column in window aggregations for now, not '{other}'; compute it in a view first"
        ))),
    }
}

/// A slicing window aggregation to add to the graph, with the aggregation it plans.
pub(super) struct WindowNode {
    /// The translated input.
    pub input: Stream,
    /// The input column the operator assigns slices by.
    pub time_column: usize,
    /// Input columns of the grouping keys besides the window (those of `keys`, then
    /// `start_key` if any).
    pub key_columns: Vec<usize>,
    /// Positions in `GROUP BY` of the grouping keys besides the window.
    pub keys: Vec<usize>,
    /// Positions in `GROUP BY` of window_start and window_end.
    pub start: usize,
    /// See `start`.
    pub end: usize,
    /// Position in `GROUP BY` of window_time, if grouped.
    pub time: Option<usize>,
    /// Position in the operator's keys of the input's own window_start, when the output's
    /// window_start is that column rather than the operator's window start.
    pub start_key: Option<usize>,
    /// The operator's window.
    pub spec: WindowSpec,
    /// The window, for `EXPLAIN`.
    pub window_text: String,
    /// Columns of late rows for a late-data table.
    pub late_row: Option<LateRowColumns>,
    /// Whether late rows go to the job's late-data table.
    pub route_late: bool,
    /// The session time zone the windows are aligned in (a `TIMESTAMP_LTZ` attribute).
    pub shift: Option<TimeShift>,
}

/// Adds a window aggregation operator over `node.input`, and a projection of its output
/// to the aggregation's column order.
pub(super) fn add_window_aggregate(
    p: &mut Planner,
    agg: &Aggregate,
    node: WindowNode,
) -> SqlResult<Stream> {
    let WindowNode {
        input,
        time_column,
        key_columns,
        keys,
        start,
        end,
        time,
        start_key,
        spec,
        window_text,
        late_row,
        route_late,
        shift,
    } = node;
    let input_arrow = Arc::new(input.schema.as_arrow().clone());
    let aggregates = physical_aggregates(p, &agg.aggr_expr, &input.schema)?;
    let window_type = agg.schema.field(start).data_type().clone();
    let end_type = agg.schema.field(end).data_type().clone();
    let mut fields = vec![
        Field::new("window_start", window_type.clone(), false),
        Field::new("window_end", end_type, false),
    ];
    for &k in &key_columns {
        fields.push(input_arrow.field(k).clone());
    }
    for (a, _) in &aggregates {
        fields.push(a.field().as_ref().clone());
    }
    let output_schema = Arc::new(Schema::new(fields));
    let emit = p.options.emit_strategy().map_err(SqlError::new)?;
    let emit_detail = match (emit.allow_lateness_ms, emit.early_fire_delay_ms) {
        (0, None) => String::new(),
        (lateness, early) => format!(
            ", updating: allowed lateness {lateness} ms{}",
            early.map_or(String::new(), |d| format!(", early fire every {d} ms"))
        ),
    };
    let local = super::window_attrs::local_time_note(shift.is_some());
    let detail = format!(
        "{window_text}{local}, keys [{}], aggregates [{}]{emit_detail}; state: slices x keys, dropped as the watermark passes",
        keys.iter().map(|&i| agg.group_expr[i].to_string()).collect::<Vec<_>>().join(", "),
        agg.aggr_expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
    );
    let operator = WindowAggregate {
        window: spec,
        time_column,
        key_columns: key_columns.clone(),
        aggregates,
        output_schema: output_schema.clone(),
        emit,
        late_row,
        shift,
    };
    p.require_checkpointable(operator.check_checkpointable())?;
    let changelog = if emit.is_updating() {
        ChangelogKind::Updating
    } else {
        ChangelogKind::AppendOnly
    };
    let emitted_schema = operator.emitted_schema();
    let upstream = &p.graph.nodes[input.node];
    let (parallelism, edge) = keyed_exchange(p, input.node, &key_columns);
    let upstream_id = upstream.id;
    let window_node = p.graph.add(Node {
        id: OperatorId::derive(&format!("window-aggregate:{detail}"), &[upstream_id]),
        name: "WindowAggregate".into(),
        detail,
        parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: edge,
        }],
        kind: NodeKind::Operator(operator.into_factory()),
        changelog,
        is_sink: false,
        schema: emitted_schema,
    });
    if route_late {
        super::late::route_late_rows(p, window_node)?;
    }
    // Back to the aggregate's column order: group expressions, then aggregates.
    let mut projection: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    for i in 0..agg.group_expr.len() {
        if Some(i) == time {
            projection.push(window_time_expr(
                p,
                &output_schema,
                agg.schema.field(i).data_type(),
            )?);
            continue;
        }
        let source = if i == start {
            start_key.map_or(0, |k| 2 + k)
        } else if i == end {
            1
        } else {
            2 + keys.iter().position(|&k| k == i).unwrap_or_default()
        };
        projection.push(Arc::new(PhysicalColumn::new(
            output_schema.field(source).name(),
            source,
        )));
    }
    for j in 0..agg.aggr_expr.len() {
        let source = 2 + key_columns.len() + j;
        projection.push(Arc::new(PhysicalColumn::new(
            output_schema.field(source).name(),
            source,
        )));
    }
    let mut schema = Arc::new(agg.schema.as_arrow().clone());
    if changelog == ChangelogKind::Updating {
        // The row kind travels as the last column.
        schema = with_row_kind(&schema);
        projection.push(Arc::new(PhysicalColumn::new(
            ROW_KIND_COLUMN,
            output_schema.fields().len(),
        )));
    }
    let node = p.graph.add(Node {
        id: OperatorId::derive("window-aggregate-output", &[p.graph.nodes[window_node].id]),
        name: "Calc".into(),
        detail: "window aggregate columns in query order".into(),
        parallelism,
        inputs: vec![Edge {
            from: window_node,
            kind: EdgeKind::Forward,
        }],
        kind: NodeKind::Operator(Calc::new(None, Some(projection), schema.clone()).into_factory()),
        changelog,
        is_sink: false,
        schema,
    });
    Ok(Stream {
        node,
        schema: agg.schema.clone() as DFSchemaRef,
    })
}

/// `window_time` (of type `time_type`) of the rows of a window operator's output, whose
/// column 1 is window_end.
pub(super) fn window_time_expr(
    p: &Planner,
    output_schema: &SchemaRef,
    time_type: &DataType,
) -> SqlResult<Arc<dyn PhysicalExpr>> {
    let proto =
        ScalarValue::try_from(time_type).map_err(|e| datafusion_error(e, Position::default()))?;
    let args: Vec<Arc<dyn PhysicalExpr>> = vec![
        Arc::new(PhysicalColumn::new(output_schema.field(1).name(), 1)),
        Arc::new(Literal::new(proto)),
    ];
    let config = Arc::new(p.ctx.state().config_options().as_ref().clone());
    let expr = ScalarFunctionExpr::try_new(
        Arc::new(WindowTimeOfEnd::udf()),
        args,
        output_schema,
        config,
    )
    .map_err(|e| datafusion_error(e, Position::default()))?;
    Ok(Arc::new(expr))
}

/// Refuses hopping and cumulating window columns outside a window aggregation: there
/// they hold slices, not windows.
pub(crate) fn check_window_columns_usage(p: &Planner, exprs: &[Expr]) -> SqlResult<()> {
    if p.window_aggregate_depth > 0 {
        return Ok(());
    }
    for e in exprs {
        let mut bad = None;
        let _ = e.apply(|node| {
            if let Some((_, args)) = window_column(
                node,
                &LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
                    produce_one_row: false,
                    schema: Arc::new(datafusion::common::DFSchema::empty()),
                }),
            ) {
                if args.kind != WindowKind::Tumble {
                    bad = Some(args.kind);
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
        if let Some(kind) = bad {
            return Err(SqlError::new(format!(
                "the rows of a {} window table function can only be aggregated with GROUP BY window_start, window_end or joined in a window join (ON L.window_start = R.window_start AND L.window_end = R.window_end) in this version (window Top-N, deduplication and plain selects of HOP, CUMULATE and SESSION windows come later)",
                kind.name()
            )));
        }
    }
    Ok(())
}
