//! Window aggregation over the output of a window aggregation of the same window
//! (Flink's "window-attached" windowing): `GROUP BY window_start, window_end[, keys]`
//! where both bounds (renamed or not) are the window of a window aggregation below, as
//! in Nexmark q5:
//!
//! ```sql
//! SELECT MAX(num) AS maxn, starttime, endtime FROM (
//!   SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
//!   FROM TABLE(HOP(TABLE bid, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//!   GROUP BY auction, window_start, window_end)
//! GROUP BY starttime, endtime
//! ```
//!
//! Each input row belongs to exactly its window `[window_start, window_end)`; no window
//! is assigned again. The rows of a window come out of the window aggregation below when
//! the watermark reaches `window_end - 1`, before that watermark is forwarded; this
//! aggregation fires the same window at the same watermark (its rowtime is
//! `window_time = window_end - 1 ms`, as in Flink), so it is append-only and no row is
//! late. It runs on the slicing window operator: a calc appends the row's window time
//! `window_end - 1 ms`, the operator's slices are 1 ms tumbling windows of that time
//! (the slice of a row ends at its `window_end`), and the input's `window_start` is a
//! grouping key, which gives the output its window start.
//!
//! [`reused_aggregate`] computes identical aggregations once (Flink's sub-plan reuse):
//! both sides of q5 read the same HOP aggregation.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{cast, lit, Aggregate, Expr, LogicalPlan};
use weir_operators::WindowSpec;

use super::aggregate::{add_window_aggregate, group_column, WindowNode};
use super::translate::{add_calc, require_append_only, translate, Stream};
use super::window_attrs::window_zone;
use super::window_join::describe;
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlResult};
use crate::windows::udf::WindowArgs;

/// Name of the window-time column the calc before the operator appends.
const ATTACHED_TIME: &str = "__weir_attached_window_time";

/// Translates the aggregation `agg` whose `GROUP BY` items `start` and `end` are the
/// window bounds of a window aggregation below (window `window`), and `keys` the others.
pub(super) fn translate_attached_aggregate(
    p: &mut Planner,
    agg: &Aggregate,
    start: usize,
    end: usize,
    keys: Vec<usize>,
    window: WindowArgs,
) -> SqlResult<Stream> {
    let input = translate(p, &agg.input)?;
    require_append_only(p, &input, "a window aggregation")?;
    let start_column = group_column(&input, &agg.group_expr[start], "window_start")?;
    let end_column = group_column(&input, &agg.group_expr[end], "window_end")?;
    let mut key_columns = keys
        .iter()
        .map(|&i| group_column(&input, &agg.group_expr[i], "keys"))
        .collect::<SqlResult<Vec<_>>>()?;
    let start_key = key_columns.len();
    key_columns.push(start_column);
    let (input, time_column) = with_window_time(p, &input, end_column)?;
    let window_text = format!(
        "{} window of the window aggregation below (window-attached: each row is in its \
         window [{}, {}), fired when the watermark passes its end)",
        describe(&window),
        input.schema.field(start_column).name(),
        input.schema.field(end_column).name(),
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
            time: None,
            start_key: Some(start_key),
            // The slice of `window_end - 1 ms` is `[window_end - 1 ms, window_end)`.
            spec: WindowSpec::Tumble {
                size_ms: 1,
                offset_ms: 0,
            },
            window_text,
            late_row: None,
            // Rows come from a window that fired at this watermark: none is late.
            route_late: false,
            shift: window_zone(p, &agg.group_expr[start], &agg.input),
        },
    )
}

/// `time - 1 ms`. For a timestamp column, as integer arithmetic on its values (a cast to
/// BIGINT and back only reinterprets them): subtracting an INTERVAL goes through a
/// calendar computation per row.
fn one_millisecond_before(time: Expr, time_type: &DataType) -> Expr {
    let per_millisecond = match time_type {
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1_000_000,
        _ => return time - lit(ScalarValue::new_interval_mdn(0, 0, 1_000_000)),
    };
    let values = cast(time, DataType::Int64) - lit(per_millisecond as i64);
    cast(values, time_type.clone())
}

/// `input` with one more column, `window_end - 1 ms` (the rows' window time), and its
/// index.
fn with_window_time(
    p: &mut Planner,
    input: &Stream,
    end_column: usize,
) -> SqlResult<(Stream, usize)> {
    let mut exprs: Vec<Expr> = input
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let end = Expr::Column(input.schema.columns()[end_column].clone());
    let time_type = input.schema.field(end_column).data_type().clone();
    exprs.push(one_millisecond_before(end, &time_type).alias(ATTACHED_TIME));
    let extra = DFSchema::from_unqualified_fields(
        vec![Field::new(ATTACHED_TIME, time_type, true)].into(),
        HashMap::new(),
    )
    .map_err(|e| datafusion_error(e, Position::default()))?;
    let schema = input
        .schema
        .join(&extra)
        .map_err(|e| datafusion_error(e, Position::default()))?;
    let time_column = exprs.len() - 1;
    let stream = add_calc(p, input, None, Some(exprs), Arc::new(schema))?;
    Ok((stream, time_column))
}

/// Translates the aggregation `agg` (the plan `plan`), or reuses the stream of an
/// identical aggregation translated before, as Flink's sub-plan reuse
/// (`table.optimizer.reuse-sub-plan-enabled`, on by default) does: in Nexmark q5 both
/// sides of the join read the same HOP aggregation, computed once. Aggregations over
/// joins are not shared (join hints are per statement).
pub(super) fn reused_aggregate(
    p: &mut Planner,
    plan: &LogicalPlan,
    agg: &Aggregate,
) -> SqlResult<Stream> {
    let shareable = !plan
        .exists(|n| Ok(matches!(n, LogicalPlan::Join(_))))
        .unwrap_or(true);
    if shareable {
        if let Some((_, stream)) = p.aggregates.iter().find(|(seen, _)| seen == plan) {
            return Ok(stream.clone());
        }
    }
    let stream = super::aggregate::translate_aggregate(p, agg)?;
    if shareable {
        p.aggregates.push((plan.clone(), stream.clone()));
    }
    Ok(stream)
}
