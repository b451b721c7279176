//! Window attributes: which columns of a plan's output are the `window_start`,
//! `window_end` or `window_time` of a window, traced through projections, filters and
//! aliases (renames included) and window Top-N / deduplication (`ROW_NUMBER()`
//! partitioned by the window, see [`partitions_by_window`]) to the window functions of a
//! window table function, or to the `GROUP BY window_start, window_end` of a window
//! aggregation.
//!
//! As in Flink, a window aggregation keeps its window: its output's `window_start` and
//! `window_end` (whatever they are renamed to) still name the window each output row
//! belongs to. A `GROUP BY` of both over such rows is a window aggregation of the same
//! window ("window-attached", planned by [`super::window_attached`]), and a join
//! equating both bounds of two such inputs is a window join ([`super::window_join`]).

use arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Window};
use weir_operators::window::TimeShift;

use super::aggregate::{defining_expr, window_column};
use super::Planner;
use crate::windows::udf::{WindowArgs, WindowColumn, WINDOW_END, WINDOW_START, WINDOW_TIME};
use crate::windows::WindowKind;

/// A window column of a plan's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowAttr {
    /// Which bound.
    pub column: WindowColumn,
    /// The window.
    pub args: WindowArgs,
    /// The column holds the exact window (TUMBLE, or a window aggregation's output);
    /// else the row's slice of a HOP or CUMULATE window table function.
    pub exact: bool,
    /// The column is a window bound of a window aggregation's output (each row belongs
    /// to exactly that window), not a column of a window table function.
    pub attached: bool,
}

/// The window column `expr` is in the output of `plan`, if it is one.
pub(crate) fn resolve(expr: &Expr, plan: &LogicalPlan) -> Option<WindowAttr> {
    match expr {
        Expr::Alias(alias) => resolve(&alias.expr, plan),
        Expr::ScalarFunction(_) => {
            let (column, args) = window_column(expr, plan)?;
            Some(WindowAttr {
                column,
                args,
                exact: args.kind == WindowKind::Tumble,
                attached: false,
            })
        }
        Expr::Column(c) => resolve_column(plan, c),
        _ => None,
    }
}

/// The window column `c` is in the output of `plan`, if it is one.
pub(crate) fn resolve_column(plan: &LogicalPlan, c: &Column) -> Option<WindowAttr> {
    let LogicalPlan::Aggregate(agg) = plan else {
        let (expr, below) = defining_expr(plan, c)?;
        return resolve(&expr, &below);
    };
    // A window aggregation's window_start and window_end are its windows' bounds.
    let index = agg
        .schema
        .index_of_column_by_name(c.relation.as_ref(), &c.name)
        .or_else(|| agg.schema.fields().iter().position(|f| f.name() == &c.name))?;
    let resolved = resolve(agg.group_expr.get(index)?, &agg.input)?;
    let grouped = |kind: WindowColumn| {
        agg.group_expr
            .iter()
            .any(|g| resolve(g, &agg.input).is_some_and(|r| r.column == kind))
    };
    (resolved.column != WindowColumn::Time
        && grouped(WindowColumn::Start)
        && grouped(WindowColumn::End))
    .then_some(WindowAttr {
        exact: true,
        attached: true,
        ..resolved
    })
}

/// The time zone of the `TIMESTAMP_LTZ` time attribute of the window column `expr` in
/// the output of `plan`, when it is not UTC: that window's bounds are local times of
/// the zone (see `weir_operators::window::TimeShift`).
pub(crate) fn window_zone(p: &Planner, expr: &Expr, plan: &LogicalPlan) -> Option<TimeShift> {
    match expr {
        Expr::Alias(alias) => window_zone(p, &alias.expr, plan),
        Expr::ScalarFunction(f) if [WINDOW_START, WINDOW_END, WINDOW_TIME].contains(&f.name()) => {
            match f.args.first()?.get_type(plan.schema()).ok()? {
                DataType::Timestamp(_, Some(_)) => {
                    TimeShift::new(&p.options.time_zone()).ok().flatten()
                }
                _ => None,
            }
        }
        Expr::Column(c) => match plan {
            LogicalPlan::Aggregate(agg) => {
                let index = agg
                    .schema
                    .index_of_column_by_name(c.relation.as_ref(), &c.name)
                    .or_else(|| agg.schema.fields().iter().position(|f| f.name() == &c.name))?;
                window_zone(p, agg.group_expr.get(index)?, &agg.input)
            }
            _ => {
                let (expr, below) = defining_expr(plan, c)?;
                window_zone(p, &expr, &below)
            }
        },
        _ => None,
    }
}

/// What `explain` says of an operator whose windows follow the session zone's local time.
pub(crate) fn local_time_note(local: bool) -> &'static str {
    if local {
        ", aligned to the local time of the session time zone (TIMESTAMP_LTZ attribute)"
    } else {
        ""
    }
}

/// Whether every function of the window node `w` (a window Top-N's or deduplication's
/// `ROW_NUMBER() OVER (PARTITION BY window_start, window_end, ...)`) is partitioned by
/// both bounds of a window of its input: its rows then keep their window.
pub(crate) fn partitions_by_window(w: &Window) -> bool {
    !w.window_expr.is_empty()
        && w.window_expr.iter().all(|e| {
            let Expr::WindowFunction(f) = e else {
                return false;
            };
            let bounds: Vec<WindowColumn> = f
                .params
                .partition_by
                .iter()
                .filter_map(|p| resolve(p, &w.input))
                .filter(|r| r.exact)
                .map(|r| r.column)
                .collect();
            bounds.contains(&WindowColumn::Start) && bounds.contains(&WindowColumn::End)
        })
}
