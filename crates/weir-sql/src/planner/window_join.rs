//! Recognises and plans window joins (Flink's "Window Join"): a join whose `ON` equates
//! `window_start` and `window_end` of two window table functions (or of two window
//! aggregations) of the same window, besides equality keys:
//!
//! ```sql
//! SELECT ... FROM (SELECT * FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '5' MINUTES))) L
//! FULL JOIN (SELECT * FROM TABLE(TUMBLE(TABLE r, DESCRIPTOR(ts), INTERVAL '5' MINUTES))) R
//! ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end
//! ```
//!
//! INNER, LEFT, RIGHT and FULL joins, and the semi and anti joins DataFusion makes of
//! `IN`, `EXISTS` and `NOT EXISTS` subqueries correlated on the window (or of an inner
//! join that reads only one side, whose other side is unique on the keys, as in Nexmark
//! q8), are supported.
//!
//! Each side's window columns are traced through projections, filters and aliases to the
//! window functions of the table function (then they hold the row's slice for HOP and
//! CUMULATE, and the operator assigns the windows), or to the `GROUP BY window_start,
//! window_end` of a window aggregation (then they hold the exact window). Both inputs
//! are hash-partitioned by the other equality keys; the operator is
//! [`weir_operators::join::window::WindowJoin`].

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::NullEquality;
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan};
use weir_operators::join::window::{WindowColumns, WindowJoin, WindowJoinKind};
use weir_operators::{JoinSide, WindowSpec};
use weir_types::ChangelogKind;

use super::aggregate::defining_expr;
use super::join::{add_keyed_join_node, KeyedJoinNode};
use super::join::{coerced_keys, human, keyed_side};
use super::translate::{physical, require_append_only, translate, Stream};
use super::window_attrs::{resolve, resolve_column, WindowAttr as Resolved};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlError, SqlResult};
use crate::windows::udf::{WindowArgs, WindowColumn, WINDOW_END, WINDOW_START, WINDOW_TIME};
use crate::windows::WindowKind;

/// Whether `expr` in the output of `plan` is computed from window columns.
fn mentions_window(expr: &Expr, plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = expr.apply(|node| {
        found = match node {
            Expr::ScalarFunction(f) => [WINDOW_START, WINDOW_END, WINDOW_TIME].contains(&f.name()),
            Expr::Column(c) => {
                defining_expr(plan, c).is_some_and(|(e, below)| mentions_window(&e, &below))
            }
            _ => false,
        };
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// The window equalities of a window join's `ON`.
pub(crate) struct WindowEqualities {
    /// Indices in `join.on` of `window_start = window_start` and `window_end =
    /// window_end`.
    window_pairs: Vec<usize>,
    left: Resolved,
    right: Resolved,
}

/// `TUMBLE(size 5 min)` and the like, for messages and `EXPLAIN`.
pub(super) fn describe(args: &WindowArgs) -> String {
    let offset = if args.offset_ms == 0 {
        String::new()
    } else {
        format!(", offset {}", human(args.offset_ms))
    };
    let sizes = match args.kind {
        WindowKind::Tumble | WindowKind::Session => format!("size {}", human(args.size_ms)),
        WindowKind::Hop => format!(
            "slide {}, size {}",
            human(args.slide_ms),
            human(args.size_ms)
        ),
        WindowKind::Cumulate => format!(
            "step {}, max size {}",
            human(args.slide_ms),
            human(args.size_ms)
        ),
    };
    format!("{}({sizes}{offset})", args.kind.name())
}

/// The window equalities of `join` when it is a window join (`None` when its `ON` equates
/// no window columns of both inputs); an error for a window join Weir cannot run.
pub(crate) fn window_equalities(join: &Join) -> SqlResult<Option<WindowEqualities>> {
    let mut starts = None;
    let mut ends = None;
    let mut window_pairs = Vec::new();
    for (i, (l, r)) in join.on.iter().enumerate() {
        let (Some(lr), Some(rr)) = (resolve(l, &join.left), resolve(r, &join.right)) else {
            continue;
        };
        if lr.column != rr.column {
            continue;
        }
        match lr.column {
            WindowColumn::Start => starts = Some((lr, rr)),
            WindowColumn::End => ends = Some((lr, rr)),
            WindowColumn::Time => continue,
        }
        window_pairs.push(i);
    }
    let (left, right) = match (starts, ends) {
        (None, None) => return Ok(None),
        (Some(pair), Some(_)) => pair,
        (Some(_), None) | (None, Some(_)) => {
            return Err(SqlError::new(
                "a window join needs both L.window_start = R.window_start and \
                 L.window_end = R.window_end in its ON clause (Flink's window join); only one \
                 of them is there",
            ))
        }
    };
    if left.args != right.args {
        return Err(SqlError::new(format!(
            "the inputs of a window join must use the same window: the left input has {} and \
             the right input {}",
            describe(&left.args),
            describe(&right.args)
        )));
    }
    if left.args.kind == WindowKind::Session {
        return Err(SqlError::new(
            "window joins of SESSION windows are not supported; window joins run on TUMBLE, \
             HOP and CUMULATE windows",
        ));
    }
    Ok(Some(WindowEqualities {
        window_pairs,
        left,
        right,
    }))
}

/// The operator's window.
fn spec(args: &WindowArgs) -> SqlResult<WindowSpec> {
    Ok(match args.kind {
        WindowKind::Tumble => WindowSpec::Tumble {
            size_ms: args.size_ms,
            offset_ms: args.offset_ms,
        },
        WindowKind::Hop => WindowSpec::Hop {
            size_ms: args.size_ms,
            slide_ms: args.slide_ms,
            offset_ms: args.offset_ms,
        },
        WindowKind::Cumulate => WindowSpec::Cumulate {
            step_ms: args.slide_ms,
            max_size_ms: args.size_ms,
            offset_ms: args.offset_ms,
        },
        WindowKind::Session => {
            return Err(SqlError::new(
                "window joins of SESSION windows are not supported",
            ))
        }
    })
}

/// The window columns of one input (`stream`, translated from `plan`): its window
/// columns by their position in the stream. Rows of a HOP or CUMULATE table function
/// get their windows' bounds written into these columns, so no other column may be
/// computed from them.
fn window_columns(
    stream: &Stream,
    plan: &LogicalPlan,
    resolved: &Resolved,
    side: &str,
) -> SqlResult<WindowColumns> {
    let assign = !resolved.exact;
    let (mut start, mut end, mut time) = (None, None, None);
    for (i, column) in stream.schema.columns().into_iter().enumerate() {
        let found = resolve_column(plan, &column);
        let slot = match found.map(|r| r.column) {
            Some(WindowColumn::Start) => &mut start,
            Some(WindowColumn::End) => &mut end,
            Some(WindowColumn::Time) => &mut time,
            None => {
                if assign && mentions_window(&Expr::Column(column.clone()), plan) {
                    return Err(SqlError::new(format!(
                        "the {side} input of this window join computes '{}' from the window \
                         columns of a {} table function; select window_start and window_end \
                         as they are and compute from them after the join",
                        column.name,
                        resolved.args.kind.name()
                    )));
                }
                continue;
            }
        };
        if slot.is_some() && assign {
            return Err(SqlError::new(format!(
                "the {side} input of this window join selects a window column twice ('{}'); \
                 select each of window_start, window_end and window_time once",
                column.name
            )));
        }
        slot.get_or_insert(i);
    }
    let end = end.ok_or_else(|| {
        SqlError::new(format!(
            "internal: the {side} input of a window join has no window_end column"
        ))
    })?;
    Ok(WindowColumns {
        end,
        start,
        time,
        assign,
    })
}

/// Translates the window join `join` whose window equalities are `windows`.
pub(crate) fn translate_window_join(
    p: &mut Planner,
    join: &Join,
    windows: WindowEqualities,
) -> SqlResult<Stream> {
    // Windows over a TIMESTAMP_LTZ attribute are aligned to the session zone's local
    // time; both sides' windows must be aligned alike.
    let shift = match windows.window_pairs.first() {
        Some(&i) => {
            let (l, r) = &join.on[i];
            let left = super::window_attrs::window_zone(p, l, &join.left);
            let right = super::window_attrs::window_zone(p, r, &join.right);
            if left.is_some() != right.is_some() {
                return Err(SqlError::new(
                    "a window join needs the windows of both inputs over time attributes of \
                     the same type: one side windows a TIMESTAMP_LTZ attribute (its windows \
                     follow the local time of 'table.local-time-zone') and the other a \
                     TIMESTAMP; CAST one of them in a view with its own WATERMARK",
                ));
            }
            left
        }
        None => None,
    };
    let kind = match join.join_type {
        JoinType::Inner => WindowJoinKind::Inner,
        JoinType::Left => WindowJoinKind::Left,
        JoinType::Right => WindowJoinKind::Right,
        JoinType::Full => WindowJoinKind::Full,
        JoinType::LeftSemi => WindowJoinKind::LeftSemi,
        JoinType::RightSemi => WindowJoinKind::RightSemi,
        JoinType::LeftAnti if join.null_aware => {
            return Err(SqlError::new(
                "NOT IN over the rows of a window is not supported in a window join (its NULL \
                 rules need all rows of the window in one place); write NOT EXISTS instead",
            ))
        }
        JoinType::LeftAnti => WindowJoinKind::LeftAnti,
        JoinType::RightAnti => WindowJoinKind::RightAnti,
        other => {
            return Err(SqlError::new(format!(
                "a {other} window join is not supported; window joins run as INNER, LEFT, \
                 RIGHT and FULL OUTER JOIN, and as IN / EXISTS / NOT EXISTS subqueries"
            )))
        }
    };
    let pairs: Vec<(Expr, Expr)> = join
        .on
        .iter()
        .enumerate()
        .filter(|(i, _)| !windows.window_pairs.contains(i))
        .map(|(_, pair)| pair.clone())
        .collect();
    let (left_keys, right_keys) = coerced_keys(join, &pairs)?;
    let mut translate_side = |plan: &LogicalPlan, resolved: &Resolved| {
        // HOP and CUMULATE window columns hold slices here, which the operator reads.
        let slices = !resolved.exact;
        p.window_aggregate_depth += usize::from(slices);
        let stream = translate(p, plan);
        p.window_aggregate_depth -= usize::from(slices);
        stream
    };
    let left_input = translate_side(&join.left, &windows.left)?;
    let right_input = translate_side(&join.right, &windows.right)?;
    require_append_only(p, &left_input, "a window join")?;
    require_append_only(p, &right_input, "a window join")?;
    let left_window = window_columns(&left_input, &join.left, &windows.left, "left")?;
    let right_window = window_columns(&right_input, &join.right, &windows.right, "right")?;
    let (left, (left_keys, left_width)) = keyed_side(p, &left_input, &join.left, &left_keys)?;
    let (right, (right_keys, right_width)) = keyed_side(p, &right_input, &join.right, &right_keys)?;
    // The condition reads both sides, also where the output has one (semi, anti).
    let both = join
        .left
        .schema()
        .join(join.right.schema())
        .map_err(|e| datafusion_error(e, Position::default()))?;
    let pair_schema = match kind.filtering() {
        Some(_) => Arc::new(both),
        None => Arc::clone(&join.schema),
    };
    let filter = join
        .filter
        .as_ref()
        .map(|f| physical(p, f, &pair_schema))
        .transpose()?;
    let side = |s: &Stream, keys: Vec<usize>, width: usize| JoinSide {
        schema: Arc::new(s.schema.as_arrow().clone()),
        updating: false,
        keys,
        output_columns: width,
        state_ttl_ms: None,
    };
    let args = windows.left.args;
    let local = super::window_attrs::local_time_note(shift.is_some());
    let def = WindowJoin {
        kind,
        left: side(&left, left_keys, left_width),
        right: side(&right, right_keys, right_width),
        window: spec(&args)?,
        left_window,
        right_window,
        filter,
        nulls_equal: join.null_equality == NullEquality::NullEqualsNull,
        output_schema: Arc::new(join.schema.as_arrow().clone()),
        shift,
    };
    def.validate().map_err(|e| SqlError::new(e.to_string()))?;
    let on_text = pairs
        .iter()
        .map(|(l, r)| format!("{l} = {r}"))
        .collect::<Vec<_>>()
        .join(", ");
    let filter_text = join
        .filter
        .as_ref()
        .map(|f| format!("; and {f}"))
        .unwrap_or_default();
    let assigned = if left_window.assign || right_window.assign {
        format!(
            " (a row of a {} table function waits in each window it belongs to)",
            args.kind.name()
        )
    } else {
        String::new()
    };
    let detail = format!(
        "window {} join on [{on_text}]{filter_text} in {} windows{}; append-only output; state: \
         the rows of both inputs per window{assigned}, held until the watermark passes \
         window_end, then joined, emitted and dropped; state size grows with the rows per \
         window; late rows (window already fired) are dropped and counted",
        kind.sql(),
        describe(&args),
        local,
    );
    let node = add_keyed_join_node(
        p,
        KeyedJoinNode {
            inputs: [
                (left.node, def.left.keys.clone()),
                (right.node, def.right.keys.clone()),
            ],
            id: format!(
                "window-join:{}:{}:[{on_text}]{filter_text}",
                kind.sql(),
                describe(&args)
            ),
            name: "WindowJoin",
            detail,
            schema: Arc::clone(&def.output_schema),
            factory: def.into_factory(),
            changelog: ChangelogKind::AppendOnly,
        },
    );
    super::late::route_late_rows(p, node)?;
    Ok(Stream {
        node,
        schema: join.schema.clone(),
    })
}
