//! Flink's older group-window syntax, still in many jobs:
//! `SELECT TUMBLE_START(ts, INTERVAL '1' MINUTE), k, COUNT(*) FROM t
//!  GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), k` (and `HOP` and `SESSION`, with `*_START`,
//! `*_END`, `*_ROWTIME`). It is rewritten into the window table function form: the table
//! becomes the window's derived table, the group window becomes `window_start,
//! window_end`, and the auxiliary functions become those columns. A legacy session
//! window is per group key, so `GROUP BY SESSION(ts, gap), k1, k2` becomes
//! `SESSION(TABLE t PARTITION BY (k1, k2), DESCRIPTOR(ts), gap)`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, Query, Select, SetExpr, TableAlias, TableFactor, VisitMut, VisitorMut,
};

use super::{unnamed_args, window_table, WindowKind};
use crate::error::{SqlError, SqlResult};

/// Rewrites every `GROUP BY TUMBLE(...)` / `HOP(...)` / `SESSION(...)` of `query` and its
/// subqueries.
pub fn rewrite_group_windows(query: &mut Query) -> SqlResult<()> {
    struct Rewriter {
        error: Option<SqlError>,
    }
    impl VisitorMut for Rewriter {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if let Err(e) = rewrite_body(&mut query.body) {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut rewriter = Rewriter { error: None };
    let _ = query.visit(&mut rewriter);
    rewriter.error.map_or(Ok(()), Err)
}

fn rewrite_body(body: &mut SetExpr) -> SqlResult<()> {
    match body {
        SetExpr::Select(select) => rewrite_select(select),
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_body(left)?;
            rewrite_body(right)
        }
        _ => Ok(()),
    }
}

/// The group window of a GROUP BY item: its kind, time column and duration arguments.
fn group_window(expr: &Expr) -> SqlResult<Option<(WindowKind, Expr, Vec<Expr>)>> {
    let Some((name, args)) = unnamed_args(expr) else {
        return Ok(None);
    };
    let kind = match name.to_ascii_uppercase().as_str() {
        "TUMBLE" => WindowKind::Tumble,
        "HOP" => WindowKind::Hop,
        "SESSION" => WindowKind::Session,
        _ => return Ok(None),
    };
    let Some((time, durations)) = args.split_first() else {
        return Err(SqlError::new(format!(
            "GROUP BY {name}(...) needs the time column and the window size"
        )));
    };
    Ok(Some((kind, time.clone(), durations.to_vec())))
}

fn rewrite_select(select: &mut Select) -> SqlResult<()> {
    let GroupByExpr::Expressions(items, _) = &mut select.group_by else {
        return Ok(());
    };
    let mut found = None;
    for (i, item) in items.iter().enumerate() {
        if let Some(window) = group_window(item)? {
            if found.is_some() {
                return Err(SqlError::new("a query can group by one window only"));
            }
            found = Some((i, window));
        }
    }
    let Some((index, (kind, time, durations))) = found else {
        return Ok(());
    };
    // A legacy session window is per group key: the other GROUP BY columns partition it.
    let mut partition = Vec::new();
    if kind == WindowKind::Session {
        for (i, item) in items.iter().enumerate() {
            match item {
                _ if i == index => {}
                Expr::Identifier(column) => partition.push(column.to_string()),
                Expr::CompoundIdentifier(parts) => {
                    if let Some(column) = parts.last() {
                        partition.push(column.to_string());
                    }
                }
                other => {
                    return Err(SqlError::new(format!(
                        "GROUP BY SESSION(...) groups by columns only, not '{other}'; compute it in a view first"
                    )))
                }
            }
        }
    }
    let [from] = select.from.as_mut_slice() else {
        return Err(SqlError::new(
            "GROUP BY TUMBLE/HOP/SESSION needs exactly one table in FROM",
        ));
    };
    if !from.joins.is_empty() {
        return Err(SqlError::new(
            "GROUP BY TUMBLE/HOP/SESSION over a join is not supported yet",
        ));
    }
    let TableFactor::Table { name, alias, .. } = &from.relation else {
        return Err(SqlError::new(
            "GROUP BY TUMBLE/HOP/SESSION needs a table or view name in FROM; declare the subquery as a view",
        ));
    };
    let Expr::Identifier(time_column) = &time else {
        return Err(SqlError::new(format!(
            "the time argument of the group window must be a column, not {time}"
        )));
    };
    let alias: Option<TableAlias> = alias.clone();
    from.relation = window_table(
        kind,
        &name.to_string(),
        &time_column.to_string(),
        &durations,
        &partition,
        alias,
    )?;
    items.splice(
        index..=index,
        [
            Expr::Identifier(Ident::new("window_start")),
            Expr::Identifier(Ident::new("window_end")),
        ],
    );
    let mut auxiliary = Auxiliary { rowtime: false };
    if let ControlFlow::Break(e) = select.projection.visit(&mut auxiliary) {
        return Err(e);
    }
    if let Some(having) = select.having.as_mut() {
        if let ControlFlow::Break(e) = having.visit(&mut auxiliary) {
            return Err(e);
        }
    }
    if auxiliary.rowtime {
        // `*_ROWTIME` is the window's time attribute, window_time (of the time
        // attribute's type, as in Flink): grouped with the window.
        if let GroupByExpr::Expressions(items, _) = &mut select.group_by {
            items.insert(index + 2, Expr::Identifier(Ident::new("window_time")));
        }
    }
    Ok(())
}

/// Replaces `TUMBLE_START(...)` and friends by the window columns.
struct Auxiliary {
    /// Whether a `*_ROWTIME` was replaced.
    rowtime: bool,
}

impl VisitorMut for Auxiliary {
    type Break = SqlError;
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        let Some((name, _)) = unnamed_args(expr) else {
            return ControlFlow::Continue(());
        };
        let upper = name.to_ascii_uppercase();
        let Some((_, suffix)) = upper.split_once('_') else {
            return ControlFlow::Continue(());
        };
        let window = ["TUMBLE_", "HOP_", "SESSION_"]
            .into_iter()
            .find(|prefix| upper.starts_with(prefix));
        let Some(window) = window else {
            return ControlFlow::Continue(());
        };
        let column = |c: &str| Expr::Identifier(Ident::new(c));
        *expr = match suffix {
            "START" => column("window_start"),
            "END" => column("window_end"),
            // The rowtime of a window is its last millisecond: window_time.
            "ROWTIME" => {
                self.rowtime = true;
                column("window_time")
            }
            "PROCTIME" => {
                return ControlFlow::Break(SqlError::new(format!(
                    "{name} is for processing-time windows, which Weir does not run; group by an event-time column and use {window}ROWTIME or {window}END"
                )))
            }
            _ => return ControlFlow::Continue(()),
        };
        ControlFlow::Continue(())
    }
}
