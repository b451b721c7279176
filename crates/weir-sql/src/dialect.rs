//! The Flink SQL dialect for sqlparser: backtick-quoted identifiers, `FILTER (WHERE ...)`
//! on aggregates, and the lexical rules Flink uses.

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

/// The function a `TABLE name` argument of a window table function becomes:
/// `TUMBLE(TABLE t, ...)` parses as `TUMBLE(__weir_table(t), ...)`.
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

    /// `TABLE name` as an expression: the table argument of Flink's window table
    /// functions (`TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE)`).
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
        Some(Ok(Expr::Function(Function {
            name: ObjectName::from(vec![Ident::new(TABLE_ARGUMENT_FUNCTION)]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(
                    Expr::Identifier(name.into_ident(parser.peek_token().span)),
                ))],
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })))
    }
}
