//! OVER aggregations: `agg(x) OVER (PARTITION BY k ORDER BY <time attribute> ROWS|RANGE
//! BETWEEN ... PRECEDING AND CURRENT ROW)` becomes a hash exchange by the partition
//! columns and an `OverAggregate` (append-only output). As in Flink, every aggregate of a
//! query must use the same window, ordered ascending by an event-time column.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    Expr, Window, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
};
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use weir_operators::{OverAggregate, OverFrame};
use weir_runtime::{Edge, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId};

use super::translate::{keyed_exchange, physical, require_append_only, translate, Stream};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlError, SqlResult};

/// Milliseconds of a `RANGE` interval bound.
fn interval_ms(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds))
        }
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        _ => None,
    }
}

fn frame_of(
    units: WindowFrameUnits,
    start: &WindowFrameBound,
    end: &WindowFrameBound,
) -> SqlResult<OverFrame> {
    if !matches!(end, WindowFrameBound::CurrentRow) {
        return Err(SqlError::new(
            "an OVER window must end at CURRENT ROW in a stream (rows that have not arrived cannot be in a frame)",
        ));
    }
    let unbounded = |v: &ScalarValue| v.is_null();
    match (units, start) {
        (WindowFrameUnits::Rows, WindowFrameBound::Preceding(v)) if unbounded(v) => Ok(OverFrame::Rows(None)),
        (WindowFrameUnits::Rows, WindowFrameBound::Preceding(v)) => {
            let n = match v {
                ScalarValue::UInt64(Some(n)) => Some(*n as usize),
                ScalarValue::Int64(Some(n)) if *n >= 0 => Some(*n as usize),
                _ => None,
            };
            n.map(|n| OverFrame::Rows(Some(n))).ok_or_else(|| {
                SqlError::new(format!("ROWS BETWEEN {v} PRECEDING: expected a row count"))
            })
        }
        (WindowFrameUnits::Rows, WindowFrameBound::CurrentRow) => Ok(OverFrame::Rows(Some(0))),
        (WindowFrameUnits::Range, WindowFrameBound::Preceding(v)) if unbounded(v) => Ok(OverFrame::Range(None)),
        (WindowFrameUnits::Range, WindowFrameBound::Preceding(v)) => interval_ms(v)
            .map(|ms| OverFrame::Range(Some(ms)))
            .ok_or_else(|| {
                SqlError::new(format!(
                    "RANGE BETWEEN {v} PRECEDING: expected an INTERVAL of days, hours, minutes, seconds or milliseconds"
                ))
            }),
        (WindowFrameUnits::Range, WindowFrameBound::CurrentRow) => Ok(OverFrame::Range(Some(0))),
        _ => Err(SqlError::new(
            "OVER windows support ROWS or RANGE BETWEEN ... PRECEDING AND CURRENT ROW",
        )),
    }
}

/// Translates a window node of aggregate functions as an OVER aggregation.
pub(crate) fn translate_over(p: &mut Planner, window: &Window) -> SqlResult<Stream> {
    let input_schema = window.input.schema().clone();
    let mut spec = None;
    let mut functions = Vec::new();
    for e in &window.window_expr {
        let Expr::WindowFunction(f) = e.clone().unalias() else {
            return Err(SqlError::new(format!("'{e}' is not a window function")));
        };
        let WindowFunctionDefinition::AggregateUDF(udaf) = &f.fun else {
            return Err(SqlError::new(format!(
                "'{}' OVER (...) is not supported; aggregate functions are, and ROW_NUMBER() as a Top-N or deduplication (WHERE rn <= N)",
                f.fun
            )));
        };
        let params = &f.params;
        let key = (
            params.partition_by.clone(),
            params.order_by.clone(),
            params.window_frame.clone(),
        );
        match &spec {
            None => spec = Some(key),
            Some(existing) if *existing == key => {}
            Some(_) => {
                return Err(SqlError::new(
                    "all OVER aggregates of a query must use the same window (PARTITION BY, ORDER BY and frame), as in Flink",
                ))
            }
        }
        functions.push((
            udaf.clone(),
            f.params.args.clone(),
            f.params.distinct,
            e.schema_name().to_string(),
        ));
    }
    let Some((partition_by, order_by, frame)) = spec else {
        return Err(SqlError::new("an OVER window without functions"));
    };
    let column_index = |e: &Expr, what: &str| -> SqlResult<usize> {
        match e {
            Expr::Column(c) => input_schema
                .index_of_column(c)
                .map_err(|err| datafusion_error(err, Position::default())),
            other => Err(SqlError::new(format!(
                "OVER windows need a column in {what}, not '{other}'; compute it in a view first"
            ))),
        }
    };
    let partition_columns = partition_by
        .iter()
        .map(|e| column_index(e, "PARTITION BY"))
        .collect::<SqlResult<Vec<_>>>()?;
    let [order] = order_by.as_slice() else {
        return Err(SqlError::new(
            "an OVER window in a stream must be ordered by one event-time column (ORDER BY ts)",
        ));
    };
    let time_column = column_index(&order.expr, "ORDER BY")?;
    if !order.asc
        || !matches!(
            input_schema.field(time_column).data_type(),
            DataType::Timestamp(_, _)
        )
    {
        return Err(SqlError::new(format!(
            "an OVER window in a stream must be ordered ascending by a time attribute, not '{order}'"
        )));
    }
    let frame = frame_of(frame.units, &frame.start_bound, &frame.end_bound)?;
    let input = translate(p, &window.input)?;
    require_append_only(p, &input, "an OVER aggregation")?;
    let arrow_schema = Arc::new(input.schema.as_arrow().clone());
    let mut aggregates = Vec::new();
    for (udaf, args, distinct, name) in &functions {
        let args = args
            .iter()
            .map(|a| physical(p, a, &input.schema))
            .collect::<SqlResult<Vec<_>>>()?;
        let aggregate = AggregateExprBuilder::new(udaf.clone(), args)
            .schema(arrow_schema.clone())
            .alias(name)
            .with_distinct(*distinct)
            .build()
            .map_err(|e| datafusion_error(e, Position::default()))?;
        if !matches!(frame, OverFrame::Rows(None) | OverFrame::Range(None)) {
            aggregate.create_sliding_accumulator().map_err(|_| {
                SqlError::new(format!(
                    "{name} cannot be computed over a bounded OVER frame (it cannot remove rows leaving the frame); use UNBOUNDED PRECEDING"
                ))
            })?;
        }
        aggregates.push(Arc::new(aggregate));
    }
    let output_schema = Arc::new(window.schema.as_arrow().clone());
    let upstream = &p.graph.nodes[input.node];
    let (parallelism, edge) = keyed_exchange(p, input.node, &partition_columns);
    let frame_text = match frame {
        OverFrame::Rows(None) => "ROWS UNBOUNDED PRECEDING".to_string(),
        OverFrame::Rows(Some(n)) => format!("ROWS {n} PRECEDING"),
        OverFrame::Range(None) => "RANGE UNBOUNDED PRECEDING".to_string(),
        OverFrame::Range(Some(ms)) => format!("RANGE {ms} ms PRECEDING"),
    };
    let detail = format!(
        "[{}] over (partition by [{}] order by {} {frame_text}); rows wait for the watermark; state: per key the accumulators{}",
        functions.iter().map(|f| f.3.clone()).collect::<Vec<_>>().join(", "),
        partition_by.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
        order.expr,
        if matches!(frame, OverFrame::Rows(None) | OverFrame::Range(None)) { "" } else { " and the rows of the frame" },
    );
    let operator = OverAggregate {
        partition_columns,
        time_column,
        frame,
        aggregates,
        output_schema: output_schema.clone(),
    };
    p.require_checkpointable(operator.check_checkpointable())?;
    let upstream_id = upstream.id;
    let node = p.graph.add(Node {
        id: OperatorId::derive(&format!("over:{detail}"), &[upstream_id]),
        name: "OverAggregate".into(),
        detail,
        parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: edge,
        }],
        kind: NodeKind::Operator(operator.into_factory()),
        changelog: ChangelogKind::AppendOnly,
        is_sink: false,
        schema: output_schema,
    });
    super::late::route_late_rows(p, node)?;
    Ok(Stream {
        node,
        schema: window.schema.clone(),
    })
}
