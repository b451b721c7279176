//! Query hints: Flink's `/*+ STATE_TTL('orders' = '1d', 'refunds' = '30d') */` after a
//! `SELECT`, which sets the state retention of the join inputs named (by table name or
//! alias). sqlparser reads hints as comments after `SELECT` (the Flink dialect turns that
//! on); they are collected from the statement's query, its subqueries and the views it
//! may read, before DataFusion plans it (DataFusion ignores them).
//!
//! The same walk finds tables read `FOR SYSTEM_TIME AS OF` (temporal and lookup joins),
//! which DataFusion would plan as plain tables: they are refused at their position until
//! Weir runs such joins.

use std::collections::BTreeMap;

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{
    ObjectNamePart, OptimizerHint, Query, SetExpr, TableFactor, TableVersion, TableWithJoins,
};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use weir_connectors::options::parse_duration;

use crate::dialect::FlinkDialect;
use crate::error::{Position, SqlError, SqlResult};

/// State TTLs in milliseconds by input name (table name or alias); 0 keeps state forever.
pub(crate) type StateTtlHints = BTreeMap<String, i64>;

/// The `STATE_TTL` hints of `query` and of every query nested in it. Other hints are
/// returned as warnings (Weir ignores them).
pub(crate) fn state_ttl_hints(
    query: &Query,
    position: Position,
) -> SqlResult<(StateTtlHints, Vec<String>)> {
    let mut found = Found::default();
    collect_query(query, &mut found);
    if let Some((table, at)) = found.versioned.first() {
        let at = if at.line > 0 { *at } else { position };
        return Err(SqlError::at(
            at,
            format!(
                "{table} is read FOR SYSTEM_TIME AS OF: temporal and lookup joins are not \
                 supported yet; {}",
                super::join::SUPPORTED
            ),
        ));
    }
    let hints = found.hints;
    let mut ttls = StateTtlHints::new();
    let mut warnings = Vec::new();
    for hint in hints.iter().filter(|h| h.prefix.is_empty()) {
        parse_hint(&hint.text, position, &mut ttls, &mut warnings)?;
    }
    Ok((ttls, warnings))
}

/// What the walk over a query finds.
#[derive(Default)]
struct Found {
    hints: Vec<OptimizerHint>,
    /// Tables read `FOR SYSTEM_TIME AS OF`, with their position.
    versioned: Vec<(String, Position)>,
}

fn collect_query(query: &Query, out: &mut Found) {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            collect_query(&cte.query, out);
        }
    }
    collect_set_expr(&query.body, out);
}

fn collect_set_expr(set: &SetExpr, out: &mut Found) {
    match set {
        SetExpr::Select(select) => {
            out.hints.extend(select.optimizer_hints.iter().cloned());
            for table in &select.from {
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

fn collect_tables(tables: &TableWithJoins, out: &mut Found) {
    collect_factor(&tables.relation, out);
    for join in &tables.joins {
        collect_factor(&join.relation, out);
    }
}

fn collect_factor(factor: &TableFactor, out: &mut Found) {
    match factor {
        TableFactor::Table {
            name,
            version: Some(TableVersion::ForSystemTimeAsOf(_)),
            ..
        } => {
            let at = name
                .0
                .first()
                .and_then(|part| match part {
                    ObjectNamePart::Identifier(ident) => Some(Position {
                        line: ident.span.start.line,
                        column: ident.span.start.column,
                    }),
                    _ => None,
                })
                .unwrap_or_default();
            out.versioned.push((name.to_string(), at));
        }
        TableFactor::Derived { subquery, .. } => collect_query(subquery, out),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => collect_tables(table_with_joins, out),
        _ => {}
    }
}

/// Parses the hints of one comment: `STATE_TTL('name' = 'duration', ...)`, possibly
/// several hints separated by spaces or commas.
fn parse_hint(
    text: &str,
    position: Position,
    ttls: &mut StateTtlHints,
    warnings: &mut Vec<String>,
) -> SqlResult<()> {
    let bad = |why: &str| {
        SqlError::at(
            position,
            format!(
                "invalid hint /*+{text}*/: {why}; write STATE_TTL('table or alias' = '1 d', ...)"
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
        if !name.eq_ignore_ascii_case("STATE_TTL") {
            warnings.push(format!(
                "hint {name} is ignored: Weir reads only the STATE_TTL hint"
            ));
            continue;
        }
        for pair in args.split(|t| *t == Token::Comma) {
            let [Token::SingleQuotedString(input), Token::Eq, Token::SingleQuotedString(ttl)] =
                pair
            else {
                return Err(bad("STATE_TTL takes 'name' = 'duration' pairs"));
            };
            let duration = parse_duration(ttl).ok_or_else(|| {
                bad(&format!(
                    "'{ttl}' is not a duration such as '1 d' or '12 h'"
                ))
            })?;
            ttls.insert(input.clone(), duration.as_millis() as i64);
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
    fn reads_state_ttl_pairs_and_ignores_other_hints() {
        let mut ttls = StateTtlHints::new();
        let mut warnings = Vec::new();
        parse_hint(
            " STATE_TTL('orders' = '1d', 'r' = '30 s') BROADCAST(x) ",
            Position::default(),
            &mut ttls,
            &mut warnings,
        )
        .unwrap();
        assert_eq!(ttls["orders"], 86_400_000);
        assert_eq!(ttls["r"], 30_000);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let err = parse_hint(
            "STATE_TTL('orders' = 'soon')",
            Position::default(),
            &mut ttls,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
