//! Recognises interval joins: a join of two append-only inputs whose condition bounds
//! `l.ts - r.ts` on both sides, where `l.ts` and `r.ts` are the event-time attributes
//! (the `WATERMARK FOR` columns) of the two inputs: `l.ts BETWEEN r.ts - INTERVAL a AND
//! r.ts + INTERVAL b`, or the same with `>=`/`>`/`<=`/`<`, in either order.

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, ExprSchema, NullEquality, ScalarValue};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Join, LogicalPlan, Operator};
use weir_operators::join::interval::IntervalJoin;
use weir_operators::{JoinKind, JoinSide};
use weir_types::ChangelogKind;

use super::join::{add_keyed_join_node, KeyedJoinNode};
use super::join::{human, KeyedSide};
use super::translate::{physical, Stream};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlResult};

/// Adds the interval join node of `join` over its keyed inputs.
pub(crate) fn add_interval_join(
    p: &mut Planner,
    join: &Join,
    kind: JoinKind,
    bounds: IntervalBounds,
    sides: [KeyedSide; 2],
) -> SqlResult<Stream> {
    let [(left, (left_keys, left_width)), (right, (right_keys, right_width))] = sides;
    let time_index = |s: &Stream, c: &Column| {
        s.schema
            .index_of_column(c)
            .map_err(|e| datafusion_error(e, Position::default()))
    };
    let left_time = time_index(&left, &bounds.left_time)?;
    let right_time = time_index(&right, &bounds.right_time)?;
    let filter = bounds
        .rest
        .as_ref()
        .map(|f| physical(p, f, &join.schema))
        .transpose()?;
    let side = |s: &Stream, keys: Vec<usize>, width: usize| JoinSide {
        schema: Arc::new(s.schema.as_arrow().clone()),
        updating: false,
        keys,
        output_columns: width,
        state_ttl_ms: None,
    };
    let def = IntervalJoin {
        kind,
        left: side(&left, left_keys, left_width),
        right: side(&right, right_keys, right_width),
        left_time,
        right_time,
        lower_ms: bounds.lower_ms,
        upper_ms: bounds.upper_ms,
        filter,
        nulls_equal: join.null_equality == NullEquality::NullEqualsNull,
        output_schema: Arc::new(join.schema.as_arrow().clone()),
    };
    let on_text = join
        .on
        .iter()
        .map(|(l, r)| format!("{l} = {r}"))
        .collect::<Vec<_>>()
        .join(", ");
    let range = format!(
        "{} - {} in [{}, {}]",
        bounds.left_time,
        bounds.right_time,
        signed(bounds.lower_ms),
        signed(bounds.upper_ms)
    );
    let rest = bounds
        .rest
        .as_ref()
        .map(|f| format!("; and {f}"))
        .unwrap_or_default();
    let detail = format!(
        "interval {} join on [{on_text}] and {range}{rest}; append-only output; state: the rows of each input until the watermark passes the end of the range they can still join ({} keeps its rows {} behind the watermark, {} {}; cleanup timers add up to {}); state size grows with the input rate times the interval length, not with time; output watermark held back {}",
        kind.sql(),
        bounds.left_time,
        human(def.relative_size(0).max(0)),
        bounds.right_time,
        human(def.relative_size(1).max(0)),
        human(((def.relative_size(0) + def.relative_size(1)) / 2).max(0)),
        human(def.output_delay_ms()),
    );
    let node = add_keyed_join_node(
        p,
        KeyedJoinNode {
            inputs: [
                (left.node, def.left.keys.clone()),
                (right.node, def.right.keys.clone()),
            ],
            id: format!("interval-join:{}:[{on_text}]:{range}{rest}", kind.sql()),
            name: "IntervalJoin",
            detail,
            schema: Arc::clone(&def.output_schema),
            factory: def.into_factory(),
            changelog: ChangelogKind::AppendOnly,
        },
    );
    Ok(Stream {
        node,
        schema: join.schema.clone(),
    })
}

/// `-10 s`, `0 ms`, `5 min`.
fn signed(ms: i64) -> String {
    if ms < 0 {
        format!("-{}", human(ms.saturating_neg()))
    } else {
        human(ms)
    }
}

/// The time bounds of an interval join.
pub(crate) struct IntervalBounds {
    /// The left event-time column.
    pub left_time: Column,
    /// The right event-time column.
    pub right_time: Column,
    /// Smallest `l.ts - r.ts` that joins, in milliseconds.
    pub lower_ms: i64,
    /// Largest `l.ts - r.ts` that joins, in milliseconds.
    pub upper_ms: i64,
    /// The other conditions of the join's filter.
    pub rest: Option<Expr>,
}

/// The interval bounds of `join`'s condition, when it is an interval join.
pub(crate) fn interval_bounds(p: &Planner, join: &Join) -> Option<IntervalBounds> {
    let filter = join.filter.as_ref()?;
    let mut times: Option<(Column, Column)> = None;
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    let mut rest = Vec::new();
    for conjunct in split_conjunction(filter) {
        let comparisons = match conjunct {
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => vec![
                (expr.as_ref(), Operator::GtEq, low.as_ref()),
                (expr.as_ref(), Operator::LtEq, high.as_ref()),
            ],
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                vec![(left.as_ref(), *op, right.as_ref())]
            }
            _ => Vec::new(),
        };
        let bounds: Option<Vec<_>> = comparisons
            .iter()
            .map(|(a, op, b)| time_bound(join, a, *op, b))
            .collect();
        match bounds {
            Some(bounds) if !bounds.is_empty() => {
                for (pair, op, c) in bounds {
                    if times.as_ref().is_some_and(|t| *t != pair) {
                        return None;
                    }
                    times = Some(pair);
                    match op {
                        Operator::GtEq => lower = Some(lower.map_or(c, |l| l.max(c))),
                        Operator::LtEq => upper = Some(upper.map_or(c, |u| u.min(c))),
                        _ => return None,
                    }
                }
            }
            _ => rest.push(conjunct.clone()),
        }
    }
    let (left_time, right_time) = times?;
    let (lower_ms, upper_ms) = (lower?, upper?);
    let rowtime = |plan: &LogicalPlan, c: &Column| {
        is_rowtime(p, plan, &c.name)
            && plan.schema().field_from_column(c).is_ok_and(|f| {
                matches!(f.data_type(), DataType::Timestamp(TimeUnit::Millisecond, _))
            })
    };
    if !rowtime(&join.left, &left_time) || !rowtime(&join.right, &right_time) {
        return None;
    }
    Some(IntervalBounds {
        left_time,
        right_time,
        lower_ms,
        upper_ms,
        rest: conjunction(rest),
    })
}

/// `a op b` as a bound on `l.ts - r.ts`: the (left, right) columns, `>=` or `<=`, and
/// the constant.
fn time_bound(
    join: &Join,
    a: &Expr,
    op: Operator,
    b: &Expr,
) -> Option<((Column, Column), Operator, i64)> {
    let (ca, da) = column_plus(a)?;
    let (cb, db) = column_plus(b)?;
    let in_left = |c: &Column| join.left.schema().has_column(c);
    let in_right = |c: &Column| join.right.schema().has_column(c);
    // (l + da) op (r + db)  =>  l - r op db - da; mirrored when a is the right column.
    let (pair, op, c) = if in_left(&ca) && in_right(&cb) {
        ((ca, cb), op, db - da)
    } else if in_right(&ca) && in_left(&cb) {
        ((cb, ca), op.swap()?, da - db)
    } else {
        return None;
    };
    match op {
        Operator::GtEq => Some((pair, Operator::GtEq, c)),
        Operator::Gt => Some((pair, Operator::GtEq, c.checked_add(1)?)),
        Operator::LtEq => Some((pair, Operator::LtEq, c)),
        Operator::Lt => Some((pair, Operator::LtEq, c.checked_sub(1)?)),
        _ => None,
    }
}

/// `column`, `column + INTERVAL` or `column - INTERVAL`: the column and the offset in
/// milliseconds.
fn column_plus(expr: &Expr) -> Option<(Column, i64)> {
    match expr {
        Expr::Column(c) => Some((c.clone(), 0)),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (column, base) = column_plus(left)?;
            let offset = interval_ms(right)?;
            match op {
                Operator::Plus => Some((column, base.checked_add(offset)?)),
                Operator::Minus => Some((column, base.checked_sub(offset)?)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A day-time interval literal in milliseconds (month intervals have no fixed length).
fn interval_ms(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
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

/// Whether column `name` of `plan`'s output is the event-time attribute (the
/// `WATERMARK FOR` column) of the table it comes from, read through aliases,
/// plain-column projections and filters.
pub(crate) fn is_rowtime(p: &Planner, plan: &LogicalPlan, name: &str) -> bool {
    traces_to_rowtime(p, plan, name, false)
}

/// [`is_rowtime`], also through window operators (`ROW_NUMBER()` and other OVER
/// windows pass their input's columns through unchanged) when `through_windows`.
pub(crate) fn traces_to_rowtime(
    p: &Planner,
    plan: &LogicalPlan,
    name: &str,
    through_windows: bool,
) -> bool {
    let next = |input: &LogicalPlan, name: &str| traces_to_rowtime(p, input, name, through_windows);
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
                Expr::Column(c) => next(&projection.input, &c.name),
                _ => false,
            }
        }
        LogicalPlan::Filter(f) => next(&f.input, name),
        LogicalPlan::SubqueryAlias(a) => next(&a.input, name),
        LogicalPlan::Window(w) if through_windows => {
            w.input.schema().fields().iter().any(|f| f.name() == name) && next(&w.input, name)
        }
        LogicalPlan::TableScan(scan) => p
            .tables
            .get(scan.table_name.table())
            .and_then(|t| t.watermark.as_ref())
            .is_some_and(|w| w.column == name),
        _ => false,
    }
}
