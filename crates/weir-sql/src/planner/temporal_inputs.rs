//! Rewrites of the inputs of an event-time temporal join before they are translated.
//!
//! DataFusion optimises the join as a join of two tables, which a temporal join is not:
//! - it prunes the versioned table's event-time column when the query does not select
//!   it, but the versions are ordered by it: [`keep_column`] reads it again;
//! - it pushes conditions on the versioned table (from `ON` or `WHERE`) below the join,
//!   which would filter the versions before the one valid at a left row's time is
//!   chosen; Flink applies them to that version. [`pull_up_filters`] takes them back so
//!   that the join evaluates them on the chosen version (INNER drops the left row when
//!   it fails, LEFT pads it: the meaning of the condition in `WHERE` and in `ON`);
//! - it infers copies of the `FOR SYSTEM_TIME AS OF` marker predicate for the left
//!   input (through the key equality); [`strip_markers`] removes them.
//!
//! The right input may also be a versioned view ([`super::versioned_view`]): its
//! deduplication (the `rn = 1` filter over the `ROW_NUMBER()` window) is replaced by its
//! input, since the temporal join drops the rows it would drop.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, TableReference};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Expr, Filter, LogicalPlan, Projection, SubqueryAlias, TableScanBuilder,
};

use super::hints::AS_OF_MARKER;
use super::interval_join::traces_to_rowtime;
use super::versioned_view::{dedup_input, is_rank_filter, rank_column};
use super::Planner;

/// Whether column `name` of `plan`'s output is an event-time attribute that orders the
/// versions of a versioned table: a `WATERMARK FOR` column of a table, read through
/// aliases, plain-column projections, filters and the `ROW_NUMBER()` window of a
/// versioned view (which passes its input's columns through unchanged).
pub(crate) fn is_version_time(p: &Planner, plan: &LogicalPlan, name: &str) -> bool {
    traces_to_rowtime(p, plan, name, true)
}

/// `plan` (aliases, projections and filters over a table scan) with the event-time
/// attribute `column` in its output: appended after its columns when DataFusion pruned
/// it. `None` when that cannot be done.
pub(crate) fn keep_column(p: &Planner, plan: &LogicalPlan, column: &str) -> Option<LogicalPlan> {
    let present = plan.schema().fields().iter().any(|f| f.name() == column);
    if present {
        return is_version_time(p, plan, column).then(|| plan.clone());
    }
    let rebuilt = match plan {
        LogicalPlan::TableScan(scan) => {
            let index = scan.source.schema().index_of(column).ok()?;
            let mut projection = scan.projection.clone()?;
            projection.push(index);
            LogicalPlan::TableScan(
                TableScanBuilder::from(scan.clone())
                    .with_projection(Some(projection))
                    .build()
                    .ok()?,
            )
        }
        LogicalPlan::Projection(projection) => {
            let input = keep_column(p, &projection.input, column)?;
            let (qualifier, field) = input
                .schema()
                .qualified_field_with_unqualified_name(column)
                .ok()?;
            let mut exprs = projection.expr.clone();
            exprs.push(Expr::Column(Column::new(qualifier.cloned(), field.name())));
            LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input)).ok()?)
        }
        LogicalPlan::Filter(filter) => {
            let input = keep_column(p, &filter.input, column)?;
            LogicalPlan::Filter(Filter::try_new(filter.predicate.clone(), Arc::new(input)).ok()?)
        }
        LogicalPlan::SubqueryAlias(alias) => {
            let input = keep_column(p, &alias.input, column)?;
            LogicalPlan::SubqueryAlias(
                SubqueryAlias::try_new(Arc::new(input), alias.alias.clone()).ok()?,
            )
        }
        _ => return None,
    };
    is_version_time(p, &rebuilt, column).then_some(rebuilt)
}

fn is_marker(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.name() == AS_OF_MARKER)
}

/// `plan` without the `FOR SYSTEM_TIME AS OF` marker predicates DataFusion inferred in
/// its filters and table scans.
pub(crate) fn strip_markers(plan: &LogicalPlan) -> Option<LogicalPlan> {
    let rewritten = plan.clone().transform_up(|node| match node {
        LogicalPlan::Filter(filter) => {
            let conjuncts = split_conjunction(&filter.predicate);
            if !conjuncts.iter().any(|c| is_marker(c)) {
                return Ok(Transformed::no(LogicalPlan::Filter(filter)));
            }
            let rest: Vec<Expr> = conjuncts
                .into_iter()
                .filter(|c| !is_marker(c))
                .cloned()
                .collect();
            Ok(Transformed::yes(match conjunction(rest) {
                None => Arc::unwrap_or_clone(filter.input),
                Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, filter.input)?),
            }))
        }
        LogicalPlan::TableScan(scan) if scan.filters.iter().any(is_marker) => {
            let filters = scan
                .filters
                .iter()
                .filter(|f| !is_marker(f))
                .cloned()
                .collect();
            let scan = TableScanBuilder::from(scan).with_filters(filters).build()?;
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        }
        other => Ok(Transformed::no(other)),
    });
    rewritten.ok().map(|t| t.data)
}

/// The right input `plan` (aliases, projections and filters over a table scan) without
/// its filters, and their conditions with their columns qualified by `name` (the name
/// the join's schema gives the input). `None` when the plan cannot be rebuilt.
pub(crate) fn pull_up_filters(plan: &LogicalPlan, name: &str) -> Option<(LogicalPlan, Vec<Expr>)> {
    let mut conditions = Vec::new();
    let stripped = pull_up(plan, &mut conditions)?;
    let qualifier = TableReference::bare(name);
    let requalified = conditions
        .into_iter()
        .filter(|c| !is_marker(c))
        .map(|c| {
            c.transform_up(|e| match e {
                Expr::Column(column) => Ok(Transformed::yes(Expr::Column(Column::new(
                    Some(qualifier.clone()),
                    column.name,
                )))),
                other => Ok(Transformed::no(other)),
            })
            .map(|t| t.data)
            .ok()
        })
        .collect::<Option<Vec<_>>>()?;
    Some((stripped, requalified))
}

fn pull_up(plan: &LogicalPlan, conditions: &mut Vec<Expr>) -> Option<LogicalPlan> {
    Some(match plan {
        LogicalPlan::TableScan(scan) => {
            if scan.filters.is_empty() {
                return Some(plan.clone());
            }
            conditions.extend(scan.filters.iter().cloned());
            let scan = TableScanBuilder::from(scan.clone())
                .with_filters(Vec::new())
                .build()
                .ok()?;
            LogicalPlan::TableScan(scan)
        }
        // A versioned view's deduplication: the join drops what it would drop, so its
        // input takes its place; other conditions merged into its row number filter
        // (DataFusion merges those it pushes down) go up.
        LogicalPlan::Filter(filter) if is_rank_filter(filter) => {
            let rank = rank_column(filter)?;
            conditions.extend(
                split_conjunction(&filter.predicate)
                    .into_iter()
                    .filter(|c| !c.column_refs().iter().any(|r| r.name == rank))
                    .cloned(),
            );
            dedup_input(filter)?
        }
        LogicalPlan::Filter(filter) => {
            conditions.extend(split_conjunction(&filter.predicate).into_iter().cloned());
            pull_up(&filter.input, conditions)?
        }
        LogicalPlan::Projection(projection) => {
            let input = pull_up(&projection.input, conditions)?;
            LogicalPlan::Projection(
                Projection::try_new(projection.expr.clone(), Arc::new(input)).ok()?,
            )
        }
        LogicalPlan::SubqueryAlias(alias) => {
            let input = pull_up(&alias.input, conditions)?;
            LogicalPlan::SubqueryAlias(
                SubqueryAlias::try_new(Arc::new(input), alias.alias.clone()).ok()?,
            )
        }
        _ => return None,
    })
}
