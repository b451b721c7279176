//! Query hints: Flink's `/*+ STATE_TTL('orders' = '1d', 'refunds' = '30d') */` after a
//! `SELECT`, which sets the state retention of the join inputs named (by table name or
//! alias). sqlparser reads hints as comments after `SELECT` (the Flink dialect turns that
//! on); they are collected from the statement's query, its subqueries and the views it
//! may read, before DataFusion plans it (DataFusion ignores them).
//!
//! The same walk finds tables read `FOR SYSTEM_TIME AS OF` (temporal and lookup joins),
//! which DataFusion plans as plain tables: the planner recognises them as the right
//! input of a join ([`super::versioned`]).

use std::collections::BTreeMap;

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr as SqlExpr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart,
    OptimizerHint, Query, SetExpr, TableFactor, TableVersion, TableWithJoins,
};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use weir_connectors::options::parse_duration;

use crate::dialect::FlinkDialect;
use crate::error::{Position, SqlError, SqlResult};

/// State TTLs in milliseconds by input name (table name or alias); 0 keeps state forever.
pub(crate) type StateTtlHints = BTreeMap<String, i64>;

/// Cold tables by join input name: `COLD_STATE('orders' = 'orders_cold')`.
pub(crate) type ColdStateHints = BTreeMap<String, String>;

/// A table read `FOR SYSTEM_TIME AS OF` in a query: the right input of a temporal or
/// lookup join.
#[derive(Clone, Debug)]
pub(crate) struct VersionedRead {
    /// The table's name as written (its last part when qualified).
    pub table: String,
    /// Its alias, if any: the name the join's columns are qualified with.
    pub alias: Option<String>,
    /// The time attribute of the other input it is read as of (`o.ts` in
    /// `FOR SYSTEM_TIME AS OF o.ts`), as written.
    pub as_of: SqlExpr,
    /// Where the table's name is in the SQL text (line 0 when unknown).
    pub position: Position,
}

impl VersionedRead {
    /// The name the read's columns are qualified with: the alias, else the table name.
    pub(crate) fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.table)
    }
}

/// What the walk over a statement's query finds for the planner.
#[derive(Default)]
pub(crate) struct QueryHints {
    /// `STATE_TTL` hints by join input name.
    pub ttls: StateTtlHints,
    /// `COLD_STATE` hints by join input name.
    pub cold: ColdStateHints,
    /// Hints Weir ignores, as warnings.
    pub warnings: Vec<String>,
    /// Tables read `FOR SYSTEM_TIME AS OF`.
    pub versioned: Vec<VersionedRead>,
}

/// The `STATE_TTL` hints and versioned reads of `query` and of every query nested in it.
/// Other hints are returned as warnings (Weir ignores them).
///
/// Each `JOIN t FOR SYSTEM_TIME AS OF l.ts AS d ON cond` is rewritten for DataFusion,
/// which has no notion of it, into `JOIN t AS d ON cond AND
/// __weir_system_time_as_of(l.ts, d.k)` (`d.k` the first column of `d` that `cond`
/// names): the marker keeps the time attribute in the plan and, naming both inputs, stays
/// in the join's condition, where [`super::versioned`] finds and removes it.
pub(crate) fn query_hints(query: &mut Query, position: Position) -> SqlResult<QueryHints> {
    let mut found = Found::default();
    collect_query(query, &mut found);
    if let Some(error) = found.error {
        return Err(error);
    }
    let mut hints = QueryHints {
        versioned: found.versioned,
        ..QueryHints::default()
    };
    for read in &mut hints.versioned {
        if read.position.line == 0 {
            read.position = position;
        }
    }
    for hint in found.hints.iter().filter(|h| h.prefix.is_empty()) {
        parse_hint(&hint.text, position, &mut hints)?;
    }
    Ok(hints)
}

/// What the walk over a query finds.
#[derive(Default)]
struct Found {
    hints: Vec<OptimizerHint>,
    /// Tables read `FOR SYSTEM_TIME AS OF`.
    versioned: Vec<VersionedRead>,
    /// A `FOR SYSTEM_TIME AS OF` that cannot be rewritten.
    error: Option<SqlError>,
}

fn collect_query(query: &mut Query, out: &mut Found) {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            collect_query(&mut cte.query, out);
        }
    }
    collect_set_expr(&mut query.body, out);
}

fn collect_set_expr(set: &mut SetExpr, out: &mut Found) {
    match set {
        SetExpr::Select(select) => {
            out.hints.extend(select.optimizer_hints.iter().cloned());
            for table in &mut select.from {
                collect_tables(table, out);
            }
        }
        SetExpr::Query(query) => collect_query(query, out),
        SetExpr::SetOperation { left, right, .. } => {
            collect_set_expr(left, out);
            collect_set_expr(right, out);
        }
        _ => {}
    }
}

fn collect_tables(tables: &mut TableWithJoins, out: &mut Found) {
    collect_factor(&mut tables.relation, out);
    for join in &mut tables.joins {
        let versioned = out.versioned.len();
        collect_factor(&mut join.relation, out);
        if let Some(read) = out.versioned.get(versioned) {
            let marker = as_of_marker(read, &join.join_operator);
            match (marker, join_condition(&mut join.join_operator)) {
                (Some(marker), Some(condition)) => {
                    let on = std::mem::replace(
                        condition,
                        SqlExpr::value(datafusion::sql::sqlparser::ast::Value::Boolean(true)),
                    );
                    *condition = SqlExpr::BinaryOp {
                        left: Box::new(on),
                        op: BinaryOperator::And,
                        right: Box::new(marker),
                    };
                }
                _ => {
                    out.error.get_or_insert_with(|| {
                        SqlError::at(
                            read.position,
                            format!(
                                "{} is read FOR SYSTEM_TIME AS OF: join it with ON and an \
                                 equality on a column qualified with its name, as in `JOIN {} \
                                 FOR SYSTEM_TIME AS OF o.ts AS d ON o.key = d.key`",
                                read.table, read.table
                            ),
                        )
                    });
                }
            }
        }
    }
}

/// The name of the marker function that stands for `FOR SYSTEM_TIME AS OF` in the plans
/// DataFusion makes.
pub(crate) const AS_OF_MARKER: &str = "__weir_system_time_as_of";

/// `__weir_system_time_as_of(<as of>, <read>.<column>)`, with the first column of the
/// versioned read that the join's `ON` condition names (`None` if it names none).
fn as_of_marker(read: &VersionedRead, operator: &JoinOperator) -> Option<SqlExpr> {
    let condition = match operator {
        JoinOperator::Join(JoinConstraint::On(c))
        | JoinOperator::Inner(JoinConstraint::On(c))
        | JoinOperator::Left(JoinConstraint::On(c))
        | JoinOperator::LeftOuter(JoinConstraint::On(c))
        | JoinOperator::Right(JoinConstraint::On(c))
        | JoinOperator::RightOuter(JoinConstraint::On(c))
        | JoinOperator::FullOuter(JoinConstraint::On(c)) => c,
        _ => return None,
    };
    let column = first_column_of(condition, read.name())?;
    let arg = |e: SqlExpr| FunctionArg::Unnamed(FunctionArgExpr::Expr(e));
    Some(SqlExpr::Function(Function {
        name: ObjectName::from(vec![Ident::new(AS_OF_MARKER)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![
                arg(read.as_of.clone()),
                arg(SqlExpr::CompoundIdentifier(vec![
                    Ident::new(read.name()),
                    Ident::new(column),
                ])),
            ],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

/// The `ON` condition of a join, for rewriting.
fn join_condition(operator: &mut JoinOperator) -> Option<&mut SqlExpr> {
    match operator {
        JoinOperator::Join(JoinConstraint::On(c))
        | JoinOperator::Inner(JoinConstraint::On(c))
        | JoinOperator::Left(JoinConstraint::On(c))
        | JoinOperator::LeftOuter(JoinConstraint::On(c))
        | JoinOperator::Right(JoinConstraint::On(c))
        | JoinOperator::RightOuter(JoinConstraint::On(c))
        | JoinOperator::FullOuter(JoinConstraint::On(c)) => Some(c),
        _ => None,
    }
}

/// The first column `qualifier.column` named in `expr`.
fn first_column_of(expr: &SqlExpr, qualifier: &str) -> Option<String> {
    match expr {
        SqlExpr::CompoundIdentifier(parts) if parts.len() == 2 && parts[0].value == qualifier => {
            Some(parts[1].value.clone())
        }
        SqlExpr::BinaryOp { left, right, .. } => {
            first_column_of(left, qualifier).or_else(|| first_column_of(right, qualifier))
        }
        SqlExpr::Nested(inner) | SqlExpr::UnaryOp { expr: inner, .. } => {
            first_column_of(inner, qualifier)
        }
        SqlExpr::Cast { expr: inner, .. } => first_column_of(inner, qualifier),
        _ => None,
    }
}

fn collect_factor(factor: &mut TableFactor, out: &mut Found) {
    match factor {
        TableFactor::Table {
            name,
            alias,
            version: version @ Some(TableVersion::ForSystemTimeAsOf(_)),
            ..
        } => {
            let Some(TableVersion::ForSystemTimeAsOf(as_of)) = version.take() else {
                return;
            };
            let ident = name.0.last().and_then(|part| match part {
                ObjectNamePart::Identifier(ident) => Some(ident),
                _ => None,
            });
            let position = ident
                .map(|ident| Position {
                    line: ident.span.start.line,
                    column: ident.span.start.column,
                })
                .unwrap_or_default();
            out.versioned.push(VersionedRead {
                table: ident.map_or_else(|| name.to_string(), |i| i.value.clone()),
                alias: alias.as_ref().map(|a| a.name.value.clone()),
                as_of,
                position,
            });
        }
        TableFactor::Derived { subquery, .. } => collect_query(subquery, out),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => collect_tables(table_with_joins, out),
        _ => {}
    }
}

/// Parses the hints of one comment: `STATE_TTL('name' = 'duration', ...)` and
/// `COLD_STATE('name' = 'table', ...)`, possibly several hints separated by spaces or
/// commas; other hints become warnings.
fn parse_hint(text: &str, position: Position, hints: &mut QueryHints) -> SqlResult<()> {
    let bad = |why: &str| {
        SqlError::at(
            position,
            format!(
                "invalid hint /*+{text}*/: {why}; write STATE_TTL('table or alias' = '1 d', ...) \
                 or COLD_STATE('table or alias' = 'cold table', ...)"
            ),
        )
    };
    let tokens = Tokenizer::new(&FlinkDialect, text)
        .tokenize()
        .map_err(|e| bad(&e.to_string()))?;
    let mut tokens = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .peekable();
    while let Some(token) = tokens.next() {
        let name = match token {
            Token::Word(w) => w.value,
            Token::Comma => continue,
            other => return Err(bad(&format!("unexpected '{other}'"))),
        };
        if tokens.next_if_eq(&Token::LParen).is_none() {
            return Err(bad(&format!("'{name}' needs arguments in parentheses")));
        }
        let mut args = Vec::new();
        loop {
            match tokens.next() {
                Some(Token::RParen) => break,
                Some(token) => args.push(token),
                None => return Err(bad("missing ')'")),
            }
        }
        let ttl = name.eq_ignore_ascii_case("STATE_TTL");
        if !ttl && !name.eq_ignore_ascii_case("COLD_STATE") {
            hints.warnings.push(format!(
                "hint {name} is ignored: Weir reads the STATE_TTL and COLD_STATE hints"
            ));
            continue;
        }
        for pair in args.split(|t| *t == Token::Comma) {
            let [Token::SingleQuotedString(input), Token::Eq, Token::SingleQuotedString(value)] =
                pair
            else {
                return Err(bad(&format!("{name} takes 'name' = 'value' pairs")));
            };
            if !ttl {
                hints.cold.insert(input.clone(), value.clone());
                continue;
            }
            let duration = parse_duration(value).ok_or_else(|| {
                bad(&format!(
                    "'{value}' is not a duration such as '1 d' or '12 h'"
                ))
            })?;
            hints
                .ttls
                .insert(input.clone(), duration.as_millis() as i64);
        }
    }
    Ok(())
}

/// The names a join input can be referred to by in a hint: its alias and the table it
/// reads, looking through projections and filters.
pub(crate) fn input_names(plan: &LogicalPlan) -> Vec<String> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => {
            let mut names = vec![alias.alias.table().to_string()];
            names.extend(input_names(&alias.input));
            names
        }
        LogicalPlan::TableScan(scan) => vec![scan.table_name.table().to_string()],
        LogicalPlan::Projection(p) => input_names(&p.input),
        LogicalPlan::Filter(f) => input_names(&f.input),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_state_ttl_and_cold_state_pairs_and_ignores_other_hints() {
        let mut hints = QueryHints::default();
        parse_hint(
            " STATE_TTL('orders' = '1d', 'r' = '30 s') BROADCAST(x), COLD_STATE('orders' = 'orders_cold') ",
            Position::default(),
            &mut hints,
        )
        .unwrap();
        assert_eq!(hints.ttls["orders"], 86_400_000);
        assert_eq!(hints.ttls["r"], 30_000);
        assert_eq!(hints.cold["orders"], "orders_cold");
        assert_eq!(hints.warnings.len(), 1, "{:?}", hints.warnings);
        let err = parse_hint(
            "STATE_TTL('orders' = 'soon')",
            Position::default(),
            &mut hints,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
        let err = parse_hint("COLD_STATE(orders)", Position::default(), &mut hints).unwrap_err();
        assert!(err.to_string().contains("COLD_STATE takes"), "{err}");
    }
}
