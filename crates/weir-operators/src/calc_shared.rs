//! Common subexpressions of a calc: an expression written several times in a filter and
//! its projection (`REGEXP_EXTRACT(url, ...)` in `WHERE` and again in a `CASE`,
//! `lower(channel)` in every `WHEN`, `0.908 * price` in a range test and the select
//! list) is evaluated once per batch, as an extra column the expressions then read.
//!
//! An expression is shared only where evaluating it for every row cannot change a
//! result or raise an error the query would not have raised: it must be deterministic
//! (no volatile function inside), and at least one of its occurrences must already be
//! evaluated for every row of the batch it is shared over. The branches of a `CASE`
//! after its first condition, the right side of `AND`/`OR` and the later arguments of
//! short-circuiting functions (`COALESCE`, `IF`, ...) run for some rows only, so an
//! expression found only there stays where it is. An expression evaluated for every
//! input row of the filter is shared before the filter (the filter keeps its column for
//! the projection); one evaluated for every row of the projection only is shared after
//! the filter, so rows the filter drops never evaluate it.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::Operator as BinaryOperator;
use datafusion::physical_expr::expressions::{BinaryExpr, CaseExpr, Column, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_expr_common::physical_expr::is_volatile;

/// Expressions evaluated once per batch, in order: the `i`-th reads the input columns and
/// the columns of the shared expressions before it, and its own result is column
/// `first_column + i`.
#[derive(Debug, Clone)]
pub(crate) struct SharedColumns {
    /// The column of the first shared expression: the batch they are added to keeps its
    /// columns before it.
    pub(crate) first_column: usize,
    pub(crate) exprs: Vec<Arc<dyn PhysicalExpr>>,
}

impl SharedColumns {
    /// Whether nothing is shared.
    pub(crate) fn is_empty(&self) -> bool {
        self.exprs.is_empty()
    }
}

/// How often an expression occurs, and whether one occurrence runs for every row.
#[derive(Default)]
struct Occurrences {
    count: usize,
    every_row: bool,
    size: usize,
}

/// Moves expressions occurring at least twice in `shared_over` (and evaluated for every
/// row in one of `every_row_in`'s positions) into new columns numbered from
/// `first_column`, rewriting every expression of `rewrite` that holds them.
///
/// `shared_over` and `every_row_in` are indexes into `rewrite`.
pub(crate) fn share(
    rewrite: &mut [&mut Arc<dyn PhysicalExpr>],
    shared_over: &[usize],
    every_row_in: &[usize],
    first_column: usize,
) -> SharedColumns {
    let mut shared = SharedColumns {
        first_column,
        exprs: Vec::new(),
    };
    loop {
        let mut seen: HashMap<Arc<dyn PhysicalExpr>, Occurrences> = HashMap::new();
        for &i in shared_over {
            count(rewrite[i], every_row_in.contains(&i), &mut seen);
        }
        let best = seen
            .into_iter()
            .filter(|(_, o)| o.count >= 2 && o.every_row)
            .max_by_key(|(_, o)| o.size);
        let Some((expr, _)) = best else {
            return shared;
        };
        let index = first_column + shared.exprs.len();
        let column: Arc<dyn PhysicalExpr> =
            Arc::new(Column::new(&format!("__shared_{index}"), index));
        for target in rewrite.iter_mut() {
            **target = replace(target, &expr, &column);
        }
        shared.exprs.push(expr);
    }
}

/// Counts the subexpressions of `expr` worth sharing; `every_row` tells whether `expr`
/// itself runs for every row.
fn count(
    expr: &Arc<dyn PhysicalExpr>,
    every_row: bool,
    seen: &mut HashMap<Arc<dyn PhysicalExpr>, Occurrences>,
) -> usize {
    let children = expr.children();
    let conditional = conditional_children(expr);
    let mut size = 1;
    for (i, child) in children.iter().enumerate() {
        size += count(child, every_row && !conditional.contains(&i), seen);
    }
    if worth_sharing(expr) {
        let entry = seen.entry(expr.clone()).or_default();
        entry.count += 1;
        entry.every_row |= every_row;
        entry.size = size;
    }
    size
}

/// Whether `expr` may be computed once in place of its occurrences.
fn worth_sharing(expr: &Arc<dyn PhysicalExpr>) -> bool {
    !(expr.is::<Column>()
        || expr.is::<Literal>()
        || expr.children().is_empty()
        || is_volatile(expr))
}

/// The positions in `expr.children()` that run for some rows only.
fn conditional_children(expr: &Arc<dyn PhysicalExpr>) -> Vec<usize> {
    let children = expr.children().len();
    if expr.is::<CaseExpr>() {
        // Children: [base], when, then, when, then, ..., [else]. The base expression, or
        // without one the first WHEN, runs for every row; the rest for some only.
        return (1..children).collect();
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        if matches!(binary.op(), BinaryOperator::And | BinaryOperator::Or) {
            return vec![1];
        }
    }
    if let Some(function) = expr.downcast_ref::<ScalarFunctionExpr>() {
        if function.fun().short_circuits() {
            return (1..children).collect();
        }
    }
    Vec::new()
}

/// `expr` with every occurrence of `target` replaced by `column`.
fn replace(
    expr: &Arc<dyn PhysicalExpr>,
    target: &Arc<dyn PhysicalExpr>,
    column: &Arc<dyn PhysicalExpr>,
) -> Arc<dyn PhysicalExpr> {
    let replaced = expr.clone().transform_down(|e| {
        Ok(if &e == target {
            Transformed::new(column.clone(), true, TreeNodeRecursion::Jump)
        } else {
            Transformed::no(e)
        })
    });
    match replaced {
        Ok(t) => t.data,
        // Rebuilding a node with new children of the same types cannot fail; keep the
        // expression as it was if it does.
        Err(_) => expr.clone(),
    }
}
