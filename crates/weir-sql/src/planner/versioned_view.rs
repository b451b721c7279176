//! Flink's *versioned views*: a view keeping the last row per key by event time,
//!
//! ```sql
//! CREATE VIEW rates AS SELECT currency, rate, ts FROM (
//!     SELECT *, ROW_NUMBER() OVER (PARTITION BY currency ORDER BY ts DESC) AS rn
//!     FROM rates_history)
//! WHERE rn = 1;
//! ```
//!
//! over an append-only input whose `ORDER BY` column is its event-time attribute, is a
//! versioned table: its primary key is inferred from `PARTITION BY`, its event time is
//! the `ORDER BY` column, and it can be read `FOR SYSTEM_TIME AS OF` the left input's
//! event time in a temporal join (Flink's "Versioned Views").
//!
//! In Flink the view's deduplication runs (keeping the last row per key: a row with a
//! time at least the current one's replaces it, an older one is dropped) and its
//! `+I`/`+U` changelog rows are the temporal join's versions. Weir gets the same versions
//! without the deduplication operator (whose output, diffed per batch, would fold
//! several versions of a key arriving in one batch into the last): the view's input
//! feeds the join, which drops a row older than its key's newest version
//! ([`weir_operators::join::temporal::TemporalJoin::right_keeps_last`]).
//!
//! This module recognises the shape in the optimised plan of the join's right input and
//! says, with the reason, when a view read that way is not a versioned view.

use std::sync::Arc;

use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Filter, LogicalPlan, Operator, Projection, Window,
};

use super::temporal_inputs::is_version_time;
use super::Planner;

/// What makes a view a versioned table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionedView {
    /// The inferred primary key: the `PARTITION BY` columns, as the right input of the
    /// join names them.
    pub primary_key: Vec<String>,
    /// The event-time attribute (the `ORDER BY` column), as the view's input names it.
    pub rowtime: String,
}

/// The versioned view read by `plan` (the right input of a temporal join: aliases,
/// projections and filters over the view's plan), or why the view is not one.
pub(crate) fn versioned_view(p: &Planner, plan: &LogicalPlan) -> Result<VersionedView, String> {
    let Some((filter, window)) = find_dedup(plan) else {
        return Err(
            "it does not keep one row per key with ROW_NUMBER() (no `WHERE rn = 1` over \
                    `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` was found in it)"
                .to_string(),
        );
    };
    let [Expr::WindowFunction(function)] = window.window_expr.as_slice() else {
        return Err("its window computes more than one function".to_string());
    };
    if function.fun.name() != "row_number" {
        return Err(format!(
            "it ranks with {}, not ROW_NUMBER()",
            function.fun.name().to_ascii_uppercase()
        ));
    }
    let rank = window
        .schema
        .fields()
        .last()
        .map(|f| f.name().clone())
        .unwrap_or_default();
    match rank_limit(&filter.predicate, &rank) {
        Some(1) => {}
        Some(n) => {
            return Err(format!(
                "its condition on ROW_NUMBER() keeps {n} rows per key, and a versioned view \
                 keeps one: `WHERE rn = 1`"
            ))
        }
        None => {
            return Err(
                "its condition on ROW_NUMBER() is not `rn = 1` (one row per key)".to_string(),
            )
        }
    }
    let column_name = |e: &Expr| match e {
        Expr::Column(c) => Some(c.name.clone()),
        _ => None,
    };
    let partition: Option<Vec<String>> = function
        .params
        .partition_by
        .iter()
        .map(column_name)
        .collect();
    let partition = match partition {
        Some(columns) if !columns.is_empty() => columns,
        Some(_) => {
            return Err(
                "its ROW_NUMBER() has no PARTITION BY, which is the key of the \
                        versioned table"
                    .to_string(),
            )
        }
        None => {
            return Err(
                "its PARTITION BY is not plain columns (compute them in the view's \
                        input first)"
                    .to_string(),
            )
        }
    };
    let [sort] = function.params.order_by.as_slice() else {
        return Err(
            "its ROW_NUMBER() must be ordered by the event-time attribute alone \
                    (`ORDER BY ts DESC`)"
                .to_string(),
        );
    };
    let rowtime = match column_name(&sort.expr) {
        Some(name) if is_version_time(p, &window.input, &name) => name,
        _ => {
            return Err(format!(
                "its ROW_NUMBER() is ordered by {}, which is not the event-time attribute (the \
                 WATERMARK FOR column) of its input: a versioned view orders by it, DESC",
                sort.expr
            ))
        }
    };
    if sort.asc {
        return Err(format!(
            "its ROW_NUMBER() is ordered by {rowtime} ASC, which keeps the first row per key; a \
             versioned view keeps the last one: ORDER BY {rowtime} DESC"
        ));
    }
    let mut primary_key = Vec::new();
    for column in &partition {
        match output_name(plan, column) {
            Some(name) => primary_key.push(name),
            None => {
                return Err(format!(
                    "its key column {column} (PARTITION BY) is not read by the join: the join \
                     must equate it with the left input"
                ))
            }
        }
    }
    Ok(VersionedView {
        primary_key,
        rowtime,
    })
}

/// Whether `filter` is the condition on a row number, right over the window computing it
/// (possibly with a projection between them).
pub(crate) fn is_rank_filter(filter: &Filter) -> bool {
    window_under(filter).is_some()
}

/// The name of the row number column under `filter`, if it is a row number filter.
pub(crate) fn rank_column(filter: &Filter) -> Option<String> {
    window_under(filter)?
        .schema
        .fields()
        .last()
        .map(|f| f.name().clone())
}

/// The input of the deduplication whose row number filter is `filter` (with the
/// projection between them, if any, without the row number).
pub(crate) fn dedup_input(filter: &Filter) -> Option<LogicalPlan> {
    let window = window_under(filter)?;
    let rank = rank_column(filter)?;
    match filter.input.as_ref() {
        LogicalPlan::Projection(projection) => {
            let exprs: Vec<Expr> = projection
                .expr
                .iter()
                .filter(|e| !e.column_refs().iter().any(|c| c.name == rank))
                .cloned()
                .collect();
            Projection::try_new(exprs, Arc::clone(&window.input))
                .ok()
                .map(LogicalPlan::Projection)
        }
        _ => Some(window.input.as_ref().clone()),
    }
}

fn window_under(filter: &Filter) -> Option<&Window> {
    match filter.input.as_ref() {
        LogicalPlan::Window(window) => Some(window),
        LogicalPlan::Projection(projection) => match projection.input.as_ref() {
            LogicalPlan::Window(window) => Some(window),
            _ => None,
        },
        _ => None,
    }
}

/// The filter on the row number and the window computing it, under aliases, projections
/// and other filters.
fn find_dedup(plan: &LogicalPlan) -> Option<(&Filter, &Window)> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => find_dedup(&a.input),
        LogicalPlan::Projection(projection) => find_dedup(&projection.input),
        LogicalPlan::Filter(filter) => match window_under(filter) {
            Some(window) => Some((filter, window)),
            None => find_dedup(&filter.input),
        },
        _ => None,
    }
}

/// The number of rows per key `predicate` keeps of row number column `rank`: from
/// `rank = 1`, `rank <= n` or `rank < n` among its conjuncts.
fn rank_limit(predicate: &Expr, rank: &str) -> Option<i128> {
    split_conjunction(predicate).into_iter().find_map(|c| {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = c else {
            return None;
        };
        let (Expr::Column(column), Expr::Literal(value, _)) = (left.as_ref(), right.as_ref())
        else {
            return None;
        };
        if column.name != rank {
            return None;
        }
        let n: i128 = value.to_string().parse().ok()?;
        match op {
            Operator::Eq if n == 1 => Some(1),
            Operator::LtEq => Some(n),
            Operator::Lt => Some(n - 1),
            _ => None,
        }
    })
}

/// The name in `plan`'s output of the column `name` of the deduplication's input (traced
/// through aliases, plain-column projections and filters), if `plan` outputs it.
fn output_name(plan: &LogicalPlan, name: &str) -> Option<String> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => output_name(&a.input, name),
        LogicalPlan::Filter(filter) => match window_under(filter) {
            Some(_) => filter
                .input
                .schema()
                .fields()
                .iter()
                .any(|f| f.name() == name)
                .then(|| name.to_string()),
            None => output_name(&filter.input, name),
        },
        LogicalPlan::Projection(projection) => {
            let below = output_name(&projection.input, name)?;
            projection
                .expr
                .iter()
                .zip(projection.schema.fields())
                .find_map(|(e, f)| match e.clone().unalias() {
                    Expr::Column(c) if c.name == below => Some(f.name().clone()),
                    _ => None,
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    #[test]
    fn the_row_number_condition_gives_the_rows_kept_per_key() {
        assert_eq!(rank_limit(&col("rn").eq(lit(1i64)), "rn"), Some(1));
        assert_eq!(rank_limit(&col("rn").lt_eq(lit(1i64)), "rn"), Some(1));
        assert_eq!(rank_limit(&col("rn").lt(lit(2i64)), "rn"), Some(1));
        assert_eq!(rank_limit(&col("rn").lt_eq(lit(2i64)), "rn"), Some(2));
        assert_eq!(
            rank_limit(&col("x").gt(lit(0)).and(col("rn").eq(lit(1u64))), "rn"),
            Some(1)
        );
        assert_eq!(rank_limit(&col("rn").gt(lit(1i64)), "rn"), None);
        assert_eq!(rank_limit(&col("other").eq(lit(1i64)), "rn"), None);
    }
}
