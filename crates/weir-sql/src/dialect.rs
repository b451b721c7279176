//! The Flink SQL dialect for sqlparser: backtick-quoted identifiers, `FILTER (WHERE ...)`
//! on aggregates, and the lexical rules Flink uses.

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

/// The function a `TABLE name` argument of a window table function becomes:
/// `TUMBLE(TABLE t, ...)` parses as `TUMBLE(__weir_table(t), ...)`, and
/// `SESSION(TABLE t PARTITION BY (k1, k2), ...)` as `SESSION(__weir_table(t, k1, k2), ...)`.
pub const TABLE_ARGUMENT_FUNCTION: &str = "__weir_table";

/// Flink's SQL dialect.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlinkDialect;

impl Dialect for FlinkDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_' || ch == '$'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    fn supports_window_function_null_treatment_arg(&self) -> bool {
        true
    }

    /// `JOIN dim FOR SYSTEM_TIME AS OF o.ts AS d`: temporal and lookup joins.
    fn supports_table_versioning(&self) -> bool {
        true
    }

    /// `SELECT /*+ STATE_TTL('orders' = '1d') */ ...`: Flink's query hints.
    fn supports_comment_optimizer_hint(&self) -> bool {
        true
    }

    /// `TABLE name [PARTITION BY k | PARTITION BY (k1, k2, ...)]` as an expression: the
    /// table argument of Flink's window table functions
    /// (`TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE)`, `SESSION(TABLE bids
    /// PARTITION BY item, DESCRIPTOR(ts), INTERVAL '5' MINUTE)`).
    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let is_table = |t: &Token| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("TABLE"));
        if !is_table(&parser.peek_token().token) {
            return None;
        }
        let Token::Word(name) = parser.peek_nth_token(1).token else {
            return None;
        };
        parser.next_token();
        parser.next_token();
        let mut args = vec![Expr::Identifier(name.into_ident(parser.peek_token().span))];
        match partition_by(parser) {
            Ok(keys) => args.extend(keys.into_iter().map(Expr::Identifier)),
            Err(e) => return Some(Err(e)),
        }
        Some(Ok(Expr::Function(Function {
            name: ObjectName::from(vec![Ident::new(TABLE_ARGUMENT_FUNCTION)]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: args
                    .into_iter()
                    .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                    .collect(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })))
    }
}

/// The optional `PARTITION BY k` or `PARTITION BY (k1, k2, ...)` of a table argument (the
/// forms Flink's parser takes: several columns go in parentheses).
fn partition_by(parser: &mut Parser) -> Result<Vec<Ident>, ParserError> {
    if !parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
        return Ok(Vec::new());
    }
    if parser.consume_token(&Token::LParen) {
        let keys = parser.parse_comma_separated(|p| p.parse_identifier())?;
        parser.expect_token(&Token::RParen)?;
        Ok(keys)
    } else {
        Ok(vec![parser.parse_identifier()?])
    }
}
