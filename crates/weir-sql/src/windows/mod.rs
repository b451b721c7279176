//! Flink's window table functions: `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size [, offset]))`,
//! `HOP(..., slide, size [, offset])`, `CUMULATE(..., step, max_size [, offset])` and
//! `SESSION(TABLE t [PARTITION BY keys], DESCRIPTOR(ts), gap)`.
//!
//! The dialect parses `TABLE t` inside the call; [`rewrite_window_tvfs`] then replaces
//! the table function by a derived table, `SELECT *, <window columns> FROM t`, whose
//! window columns come from [`udf`] functions. For a tumbling window the columns are
//! exact. Hopping and cumulating windows put a row into several windows, so their columns
//! hold the row's *slice* (the finest unit the windows are made of) and are only valid
//! under a `GROUP BY window_start, window_end` aggregation, which the planner turns into
//! a slicing window aggregate and enforces. A session's bounds depend on the rows around
//! it, so `SESSION` columns hold the row's own window `[ts, ts + gap)` (and the partition
//! keys, as extra arguments); the planner turns the aggregation into a merging session
//! window aggregate.

mod group_window;
pub mod udf;

pub use group_window::rewrite_group_windows;

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DateTimeField, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query, TableAlias,
    TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;

use crate::dialect::{FlinkDialect, TABLE_ARGUMENT_FUNCTION};
use crate::error::{SqlError, SqlResult};

/// A window table function call, with its sizes in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLE(size [, offset])`.
    Tumble,
    /// `HOP(slide, size [, offset])`.
    Hop,
    /// `CUMULATE(step, max_size [, offset])`.
    Cumulate,
    /// `SESSION(gap)`, per partition key.
    Session,
}

impl WindowKind {
    /// The name used in the window functions' arguments.
    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Tumble => "TUMBLE",
            WindowKind::Hop => "HOP",
            WindowKind::Cumulate => "CUMULATE",
            WindowKind::Session => "SESSION",
        }
    }

    /// Parses [`WindowKind::name`].
    pub fn from_name(name: &str) -> Option<WindowKind> {
        match name.to_ascii_uppercase().as_str() {
            "TUMBLE" => Some(WindowKind::Tumble),
            "HOP" => Some(WindowKind::Hop),
            "CUMULATE" => Some(WindowKind::Cumulate),
            "SESSION" => Some(WindowKind::Session),
            _ => None,
        }
    }
}

/// Rewrites every window table function of `query` (and its subqueries) into a derived
/// table with `window_start`, `window_end` and `window_time` columns.
pub fn rewrite_window_tvfs(query: &mut Query) -> SqlResult<()> {
    struct Rewriter {
        error: Option<SqlError>,
    }
    impl VisitorMut for Rewriter {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::TableFunction { expr, alias } = factor {
                match derived_table(expr, alias.clone()) {
                    Ok(Some(derived)) => *factor = derived,
                    Ok(None) => {}
                    Err(e) => {
                        self.error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut rewriter = Rewriter { error: None };
    let _ = query.visit(&mut rewriter);
    rewriter.error.map_or(Ok(()), Err)
}

fn unnamed_args(expr: &Expr) -> Option<(String, Vec<Expr>)> {
    let Expr::Function(f) = expr else { return None };
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((f.name.to_string(), args))
}

fn derived_table(call: &Expr, alias: Option<TableAlias>) -> SqlResult<Option<TableFactor>> {
    let Some((name, args)) = unnamed_args(call) else {
        return Ok(None);
    };
    let Some(kind) = WindowKind::from_name(&name) else {
        return Ok(None);
    };
    let usage = usage(kind);
    if args.len() < 2 {
        return Err(SqlError::new(format!(
            "{} takes the arguments {usage}",
            kind.name()
        )));
    }
    let (table, partition) = match unnamed_args(&args[0]) {
        Some((f, inner)) if f == TABLE_ARGUMENT_FUNCTION && !inner.is_empty() => (
            inner[0].to_string(),
            inner[1..].iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        ),
        _ => {
            return Err(SqlError::new(format!(
                "the first argument of {} must be TABLE name: {usage}",
                kind.name()
            )))
        }
    };
    let time_column = match unnamed_args(&args[1]) {
        Some((f, inner)) if f.eq_ignore_ascii_case("DESCRIPTOR") && inner.len() == 1 => {
            inner[0].to_string()
        }
        _ => {
            let hint = if partition.is_empty() {
                ""
            } else {
                " (several PARTITION BY columns go in parentheses: PARTITION BY (k1, k2))"
            };
            return Err(SqlError::new(format!(
                "the second argument of {} must be DESCRIPTOR(time_column): {usage}{hint}",
                kind.name()
            )));
        }
    };
    window_table(kind, &table, &time_column, &args[2..], &partition, alias).map(Some)
}

fn usage(kind: WindowKind) -> &'static str {
    match kind {
        WindowKind::Tumble => "TUMBLE(TABLE t, DESCRIPTOR(time_column), size [, offset])",
        WindowKind::Hop => "HOP(TABLE t, DESCRIPTOR(time_column), slide, size [, offset])",
        WindowKind::Cumulate => {
            "CUMULATE(TABLE t, DESCRIPTOR(time_column), step, max_size [, offset])"
        }
        WindowKind::Session => {
            "SESSION(TABLE t [PARTITION BY k | PARTITION BY (k1, k2)], DESCRIPTOR(time_column), gap)"
        }
    }
}

/// The derived table `SELECT *, <window columns> FROM table` of a window over `table`
/// with the duration arguments `durations` (in the order of the table function) and,
/// for `SESSION`, the partition key columns `partition`.
pub(crate) fn window_table(
    kind: WindowKind,
    table: &str,
    time_column: &str,
    durations: &[Expr],
    partition: &[String],
    alias: Option<TableAlias>,
) -> SqlResult<TableFactor> {
    if kind != WindowKind::Session && !partition.is_empty() {
        return Err(SqlError::new(format!(
            "PARTITION BY in the table argument is only for SESSION windows; {} takes {}",
            kind.name(),
            usage(kind)
        )));
    }
    let expected = match kind {
        WindowKind::Tumble => 1..=2,
        WindowKind::Session => 1..=1,
        WindowKind::Hop | WindowKind::Cumulate => 2..=3,
    };
    if !expected.contains(&durations.len()) {
        return Err(SqlError::new(format!(
            "{} takes the arguments {}",
            kind.name(),
            usage(kind)
        )));
    }
    let durations = durations
        .iter()
        .map(interval_millis)
        .collect::<SqlResult<Vec<i64>>>()?;
    let (size, slide, offset) = match kind {
        // SESSION(gap): the gap is the size of a row's own window.
        WindowKind::Session => (durations[0], durations[0], 0),
        WindowKind::Tumble => (
            durations[0],
            durations[0],
            durations.get(1).copied().unwrap_or(0),
        ),
        // HOP(slide, size): stored as (size, slide).
        WindowKind::Hop => (
            durations[1],
            durations[0],
            durations.get(2).copied().unwrap_or(0),
        ),
        // CUMULATE(step, max_size): stored as (max_size, step).
        WindowKind::Cumulate => (
            durations[1],
            durations[0],
            durations.get(2).copied().unwrap_or(0),
        ),
    };
    if size <= 0 || slide <= 0 {
        return Err(SqlError::new(format!(
            "{} window sizes must be positive",
            kind.name()
        )));
    }
    if kind != WindowKind::Tumble && size % slide != 0 {
        return Err(SqlError::new(format!(
            "{}: the window size ({size} ms) must be a multiple of the {} ({slide} ms)",
            kind.name(),
            if kind == WindowKind::Hop {
                "slide"
            } else {
                "step"
            }
        )));
    }
    let window_args = std::iter::once(format!(
        "{time_column}, '{}', {size}, {slide}, {offset}",
        kind.name()
    ))
    .chain(partition.iter().cloned())
    .collect::<Vec<_>>()
    .join(", ");
    let sql = format!(
        "SELECT *, {start}({window_args}) AS window_start, {end}({window_args}) AS window_end, {time}({window_args}) AS window_time FROM {table}",
        start = udf::WINDOW_START,
        end = udf::WINDOW_END,
        time = udf::WINDOW_TIME,
    );
    let dialect = FlinkDialect;
    let subquery = Parser::new(&dialect)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| SqlError::new(format!("cannot expand {}: {e}", kind.name())))?;
    let alias = alias.or_else(|| {
        Some(TableAlias {
            explicit: false,
            name: Ident::new(table.trim_matches('`').to_string()),
            columns: vec![],
            at: None,
        })
    });
    Ok(TableFactor::Derived {
        lateral: false,
        subquery,
        alias,
        sample: None,
    })
}

/// Milliseconds of `INTERVAL 'n' UNIT` (SECOND, MINUTE, HOUR, DAY, MILLISECOND).
fn interval_millis(expr: &Expr) -> SqlResult<i64> {
    let Expr::Interval(interval) = expr else {
        return Err(SqlError::new(format!(
            "expected an interval such as INTERVAL '10' SECOND, found {expr}"
        )));
    };
    let text = match interval.value.as_ref() {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => s.trim().to_string(),
        Expr::Value(ValueWithSpan {
            value: Value::Number(n, _),
            ..
        }) => n.clone(),
        other => {
            return Err(SqlError::new(format!(
                "expected a constant interval, found {other}"
            )))
        }
    };
    let unit_ms: f64 = match interval.leading_field {
        Some(DateTimeField::Millisecond | DateTimeField::Milliseconds) => 1.0,
        Some(DateTimeField::Second | DateTimeField::Seconds) | None => 1e3,
        Some(DateTimeField::Minute | DateTimeField::Minutes) => 60e3,
        Some(DateTimeField::Hour | DateTimeField::Hours) => 3_600e3,
        Some(DateTimeField::Day | DateTimeField::Days) => 86_400e3,
        Some(ref other) => {
            return Err(SqlError::new(format!(
                "window sizes are given in MILLISECOND, SECOND, MINUTE, HOUR or DAY, not {other}"
            )))
        }
    };
    if interval.last_field.is_some() {
        return Err(SqlError::new(format!(
            "use a single unit for window sizes, e.g. INTERVAL '90' SECOND, not {expr}"
        )));
    }
    let value: f64 = text
        .parse()
        .map_err(|_| SqlError::new(format!("'{text}' is not a number in {expr}")))?;
    Ok((value * unit_ms).round() as i64)
}
