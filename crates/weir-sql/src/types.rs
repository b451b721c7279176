//! Flink SQL data types and their Arrow representation.
//!
//! | Flink | Arrow |
//! | --- | --- |
//! | STRING, VARCHAR(n), CHAR(n) | Utf8 |
//! | BOOLEAN | Boolean |
//! | TINYINT, SMALLINT, INT, BIGINT | Int8, Int16, Int32, Int64 |
//! | FLOAT, DOUBLE | Float32, Float64 |
//! | DECIMAL(p, s) | Decimal128(p, s) (default DECIMAL(10, 0)) |
//! | DATE | Date32 |
//! | TIME(p) | Time32(ms) for p <= 3, Time64(us/ns) above |
//! | TIMESTAMP(p) | Timestamp(unit of p, no zone); default precision 6 |
//! | TIMESTAMP_LTZ(p), TIMESTAMP(p) WITH LOCAL TIME ZONE | Timestamp(unit of p, session zone) |
//! | BYTES, VARBINARY, BINARY | Binary |
//! | ARRAY<T>, T ARRAY | List(T) |
//! | MAP<K, V> | Map(K, V) |
//! | ROW<a T, ...>, ROW(a T, ...) | Struct |

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, NamedWindowDefinition, NamedWindowExpr,
    ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, TimezoneInfo, Value, ValueWithSpan,
    VisitMut, VisitorMut, WindowFrameBound, WindowSpec, WindowType,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::error::{SqlError, SqlResult};
use crate::parser::{position_of, word_is};

/// The Arrow time unit that holds a Flink precision (digits of fractional seconds).
pub fn time_unit_of_precision(precision: u64) -> TimeUnit {
    match precision {
        0 => TimeUnit::Second,
        1..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

/// Parses a Flink type at the parser's position; returns the Arrow type and nullability.
pub fn parse_flink_type(parser: &mut Parser<'_>, time_zone: &str) -> SqlResult<(DataType, bool)> {
    let mut state = TypeParser {
        parser,
        time_zone,
        pending_gt: 0,
    };
    let t = state.parse_type()?;
    let nullable = state.parse_nullability();
    Ok((t, nullable))
}

struct TypeParser<'p, 'a> {
    parser: &'p mut Parser<'a>,
    time_zone: &'p str,
    /// A `>>` token closes two type argument lists; the second `>` is kept here.
    pending_gt: u32,
}

impl TypeParser<'_, '_> {
    fn error(&self, message: String) -> SqlError {
        SqlError::at(position_of(&self.parser.peek_token()), message)
    }

    fn parse_nullability(&mut self) -> bool {
        if word_is(&self.parser.peek_token().token, "NOT")
            && word_is(&self.parser.peek_nth_token(1).token, "NULL")
        {
            self.parser.next_token();
            self.parser.next_token();
            return false;
        }
        if word_is(&self.parser.peek_token().token, "NULL") {
            self.parser.next_token();
        }
        true
    }

    fn optional_precision(&mut self) -> SqlResult<Option<Vec<u64>>> {
        if !self.parser.consume_token(&Token::LParen) {
            return Ok(None);
        }
        let mut values = Vec::new();
        loop {
            let tok = self.parser.next_token();
            match &tok.token {
                Token::Number(n, _) => values.push(n.parse::<u64>().map_err(|_| {
                    SqlError::at(
                        position_of(&tok),
                        format!("expected a whole number, found {n}"),
                    )
                })?),
                other => {
                    return Err(SqlError::at(
                        position_of(&tok),
                        format!("expected a number, found {other}"),
                    ))
                }
            }
            if self.parser.consume_token(&Token::RParen) {
                return Ok(Some(values));
            }
            if !self.parser.consume_token(&Token::Comma) {
                return Err(self.error("expected ',' or ')' in type parameters".into()));
            }
        }
    }

    fn expect_lt(&mut self) -> SqlResult<()> {
        if self.parser.consume_token(&Token::Lt) {
            Ok(())
        } else {
            Err(self.error("expected '<'".into()))
        }
    }

    fn expect_gt(&mut self) -> SqlResult<()> {
        if self.pending_gt > 0 {
            self.pending_gt -= 1;
            return Ok(());
        }
        if self.parser.consume_token(&Token::Gt) {
            return Ok(());
        }
        if self.parser.consume_token(&Token::ShiftRight) {
            self.pending_gt += 1;
            return Ok(());
        }
        Err(self.error("expected '>'".into()))
    }

    fn parse_type(&mut self) -> SqlResult<DataType> {
        let tok = self.parser.next_token();
        let position = position_of(&tok);
        let Token::Word(word) = &tok.token else {
            return Err(SqlError::at(
                position,
                format!("expected a data type, found {}", tok.token),
            ));
        };
        let name = word.value.to_ascii_uppercase();
        let t = match name.as_str() {
            "STRING" => DataType::Utf8,
            "VARCHAR" | "CHAR" | "CHARACTER" => {
                if word_is(&self.parser.peek_token().token, "VARYING") {
                    self.parser.next_token();
                }
                self.optional_precision()?;
                DataType::Utf8
            }
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "TINYINT" => DataType::Int8,
            "SMALLINT" => DataType::Int16,
            "INT" | "INTEGER" => DataType::Int32,
            "BIGINT" => DataType::Int64,
            "FLOAT" | "REAL" => DataType::Float32,
            "DOUBLE" => {
                if word_is(&self.parser.peek_token().token, "PRECISION") {
                    self.parser.next_token();
                }
                DataType::Float64
            }
            "DECIMAL" | "DEC" | "NUMERIC" => {
                let p = self.optional_precision()?.unwrap_or_default();
                let precision = p.first().copied().unwrap_or(10);
                let scale = p.get(1).copied().unwrap_or(0);
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(SqlError::at(
                        position,
                        format!("DECIMAL({precision}, {scale}) is out of range: precision 1 to 38, scale 0 to precision"),
                    ));
                }
                DataType::Decimal128(precision as u8, scale as i8)
            }
            "DATE" => DataType::Date32,
            "TIME" => {
                let p = self.optional_precision()?.and_then(|v| v.first().copied()).unwrap_or(0);
                self.skip_without_time_zone();
                match time_unit_of_precision(p) {
                    TimeUnit::Second | TimeUnit::Millisecond => DataType::Time32(TimeUnit::Millisecond),
                    unit => DataType::Time64(unit),
                }
            }
            "TIMESTAMP" => {
                let p = self.optional_precision()?.and_then(|v| v.first().copied()).unwrap_or(6);
                if self.eat_words(&["WITH", "LOCAL", "TIME", "ZONE"]) {
                    DataType::Timestamp(time_unit_of_precision(p), Some(self.time_zone.into()))
                } else {
                    self.skip_without_time_zone();
                    DataType::Timestamp(time_unit_of_precision(p), None)
                }
            }
            "TIMESTAMP_LTZ" => {
                let p = self.optional_precision()?.and_then(|v| v.first().copied()).unwrap_or(6);
                DataType::Timestamp(time_unit_of_precision(p), Some(self.time_zone.into()))
            }
            "BYTES" | "VARBINARY" | "BINARY" => {
                self.optional_precision()?;
                DataType::Binary
            }
            "ARRAY" => {
                self.expect_lt()?;
                let (element, nullable) = self.parse_element()?;
                self.expect_gt()?;
                DataType::List(Arc::new(Field::new_list_field(element, nullable)))
            }
            "MAP" => {
                self.expect_lt()?;
                let (key, _) = self.parse_element()?;
                if !self.parser.consume_token(&Token::Comma) {
                    return Err(self.error("expected ',' between MAP key and value types".into()));
                }
                let (value, value_nullable) = self.parse_element()?;
                self.expect_gt()?;
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", key, false),
                        Field::new("value", value, value_nullable),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            "ROW" => {
                let angle = if self.parser.consume_token(&Token::Lt) {
                    true
                } else if self.parser.consume_token(&Token::LParen) {
                    false
                } else {
                    return Err(self.error("expected '<' or '(' after ROW".into()));
                };
                let mut fields = Vec::new();
                loop {
                    let name_tok = self.parser.next_token();
                    let Token::Word(field_name) = &name_tok.token else {
                        return Err(SqlError::at(position_of(&name_tok), "expected a ROW field name"));
                    };
                    let (t, nullable) = self.parse_element()?;
                    if let Token::SingleQuotedString(_) = self.parser.peek_token().token {
                        self.parser.next_token(); // field description
                    }
                    fields.push(Field::new(field_name.value.clone(), t, nullable));
                    if self.parser.consume_token(&Token::Comma) {
                        continue;
                    }
                    if angle {
                        self.expect_gt()?;
                    } else if !self.parser.consume_token(&Token::RParen) {
                        return Err(self.error("expected ',' or ')' in ROW(...)".into()));
                    }
                    break;
                }
                DataType::Struct(Fields::from(fields))
            }
            "MULTISET" | "RAW" | "INTERVAL" | "STRUCTURED" => {
                return Err(SqlError::at(position, format!("data type {name} is not supported yet")))
            }
            _ => {
                return Err(SqlError::at(
                    position,
                    format!("unknown data type '{}'; Flink types are STRING, VARCHAR(n), CHAR(n), BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), DATE, TIME(p), TIMESTAMP(p), TIMESTAMP_LTZ(p), BYTES, ARRAY<T>, MAP<K, V>, ROW<...>", word.value),
                ))
            }
        };
        // Postfix `T ARRAY`.
        if word_is(&self.parser.peek_token().token, "ARRAY") && self.pending_gt == 0 {
            self.parser.next_token();
            return Ok(DataType::List(Arc::new(Field::new_list_field(t, true))));
        }
        Ok(t)
    }

    fn parse_element(&mut self) -> SqlResult<(DataType, bool)> {
        let t = self.parse_type()?;
        let nullable = if self.pending_gt == 0 {
            self.parse_nullability()
        } else {
            true
        };
        Ok((t, nullable))
    }

    fn skip_without_time_zone(&mut self) {
        self.eat_words(&["WITHOUT", "TIME", "ZONE"]);
    }

    fn eat_words(&mut self, words: &[&str]) -> bool {
        for (i, w) in words.iter().enumerate() {
            if !word_is(&self.parser.peek_nth_token(i).token, w) {
                return false;
            }
        }
        for _ in words {
            self.parser.next_token();
        }
        true
    }
}

/// Undoes the INT typing of integer literals in a window frame (`ROWS BETWEEN 2
/// PRECEDING ...`), where DataFusion expects a plain row count.
fn restore_frame_literals(spec: &mut WindowSpec) {
    let Some(frame) = spec.window_frame.as_mut() else {
        return;
    };
    for bound in std::iter::once(&mut frame.start_bound).chain(frame.end_bound.as_mut()) {
        if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) = bound {
            if let Expr::Cast { expr: inner, .. } = e.as_ref() {
                if matches!(
                    inner.as_ref(),
                    Expr::Value(ValueWithSpan {
                        value: Value::Number(..),
                        ..
                    })
                ) {
                    *e = inner.clone();
                }
            }
        }
    }
}

/// Rewrites what Flink types differently from DataFusion: integer literals that fit in
/// 32 bits are INT, and Flink type names that sqlparser does not know (inside CAST) become
/// types DataFusion understands: `TIMESTAMP_LTZ(p)` becomes `TIMESTAMP(p) WITH TIME ZONE`,
/// `BYTES` becomes `BYTEA`. CASTs to strings and between TIMESTAMP and TIMESTAMP_LTZ
/// get Flink's semantics through functions of `weir-functions` (see [`rewrite_cast`]).
pub fn rewrite_flink_types<T: VisitMut>(node: &mut T) -> SqlResult<()> {
    struct Rewriter {
        error: Option<SqlError>,
    }
    impl VisitorMut for Rewriter {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
            name_unaliased_expressions(&mut query.body);
            if let SetExpr::Select(select) = query.body.as_mut() {
                for NamedWindowDefinition(_, definition) in &mut select.named_window {
                    if let NamedWindowExpr::WindowSpec(spec) = definition {
                        restore_frame_literals(spec);
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        }

        fn post_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
            if let Expr::Function(function) = expr {
                if let Some(WindowType::WindowSpec(spec)) = &mut function.over {
                    restore_frame_literals(spec);
                }
            }
            if let Some((left, right)) = mod_call_arguments(expr) {
                // Flink's MOD(a, b) is the remainder operator.
                *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(left),
                    op: BinaryOperator::Modulo,
                    right: Box::new(right),
                }));
                return std::ops::ControlFlow::Continue(());
            }
            if let Expr::Value(ValueWithSpan {
                value: Value::Number(text, _),
                ..
            }) = expr
            {
                // Flink types an integer literal that fits as INT (DataFusion: BIGINT), so
                // that `int_col * 2` stays INT as in Flink.
                // A literal with an exponent is a DOUBLE (other fractional literals are
                // exact DECIMALs, see the planner's `parse_float_as_decimal`).
                let data_type = if text.parse::<i32>().is_ok() {
                    Some(SqlType::Int(None))
                } else if text.contains(['e', 'E']) {
                    Some(SqlType::Double(
                        datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
                    ))
                } else {
                    None
                };
                if let Some(data_type) = data_type {
                    let literal = expr.clone();
                    *expr = Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(literal),
                        data_type,
                        array: false,
                        format: None,
                    };
                }
                return std::ops::ControlFlow::Continue(());
            }
            let data_type = match expr {
                Expr::Cast { data_type, .. } => data_type,
                _ => return std::ops::ControlFlow::Continue(()),
            };
            if let SqlType::Custom(ObjectName(parts), modifiers) = data_type {
                let name = match parts.as_slice() {
                    [ObjectNamePart::Identifier(ident)] => ident.value.to_ascii_uppercase(),
                    _ => String::new(),
                };
                match name.as_str() {
                    "TIMESTAMP_LTZ" => {
                        let precision = modifiers
                            .first()
                            .and_then(|m| m.parse::<u64>().ok())
                            .unwrap_or(6);
                        *data_type =
                            SqlType::Timestamp(Some(precision), TimezoneInfo::WithTimeZone);
                    }
                    "BYTES" => *data_type = SqlType::Bytea,
                    "STRING" => *data_type = SqlType::String(None),
                    _ => {
                        self.error = Some(SqlError::new(format!(
                            "unknown data type '{data_type}' in CAST"
                        )));
                        return std::ops::ControlFlow::Break(());
                    }
                }
            }
            rewrite_cast(expr);
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut rewriter = Rewriter { error: None };
    let _ = node.visit(&mut rewriter);
    match rewriter.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What Flink's CAST to a type does differently from DataFusion's.
enum FlinkCast {
    /// STRING, VARCHAR: Flink's text of the value (`TRUE`, `1.0E10`, ...).
    String,
    /// VARCHAR(n): the text, truncated to n characters.
    Varchar(u64),
    /// CHAR(n) (CHAR alone is CHAR(1)): the text truncated, or padded with spaces, to n.
    Char(u64),
    /// TIMESTAMP, DATE, TIME: a TIMESTAMP_LTZ is first read in the session time zone.
    FromLtz,
    /// TIMESTAMP_LTZ: a TIMESTAMP or DATE is first read as a session wall-clock time.
    ToLtz,
}

fn flink_cast(data_type: &SqlType) -> Option<FlinkCast> {
    use datafusion::sql::sqlparser::ast::CharacterLength;
    let length = |l: &Option<CharacterLength>| match l {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
        _ => None,
    };
    Some(match data_type {
        SqlType::String(_) | SqlType::Text => FlinkCast::String,
        SqlType::Varchar(l)
        | SqlType::Nvarchar(l)
        | SqlType::CharVarying(l)
        | SqlType::CharacterVarying(l) => match length(l) {
            Some(n) => FlinkCast::Varchar(n),
            // Flink's VARCHAR without length is VARCHAR(2147483647), i.e. STRING.
            None => FlinkCast::String,
        },
        SqlType::Char(l) | SqlType::Character(l) => match l {
            Some(CharacterLength::Max) => FlinkCast::String,
            _ => FlinkCast::Char(length(l).unwrap_or(1)),
        },
        SqlType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => FlinkCast::ToLtz,
        SqlType::Timestamp(_, _) | SqlType::Date | SqlType::Time(_, _) => FlinkCast::FromLtz,
        _ => return None,
    })
}

/// Gives a CAST Flink's semantics with the functions of `weir-functions` (module
/// `cast`): `CAST(x AS STRING)` becomes `flink_cast_to_string(x)`, `CAST(x AS
/// VARCHAR(n))` `flink_cast_to_varchar(x, n)`, `CAST(x AS CHAR(n))`
/// `flink_cast_to_char(x, n)`; `CAST(x AS TIMESTAMP(p))` (or DATE, TIME) becomes
/// `CAST(flink_ltz_to_local(x) AS TIMESTAMP(p))` and `CAST(x AS TIMESTAMP_LTZ(p))`
/// becomes `CAST(flink_local_to_ltz(x) AS TIMESTAMP_LTZ(p))`.
fn rewrite_cast(expr: &mut Expr) {
    let Expr::Cast {
        expr: inner,
        data_type,
        format: None,
        array: false,
        ..
    } = expr
    else {
        return;
    };
    let number = |n: u64| Expr::value(Value::Number(n.to_string(), false));
    let call = |name: &str, args: Vec<Expr>| {
        Expr::Function(Function {
            name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: args
                    .into_iter()
                    .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                    .collect(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })
    };
    let value = inner.as_ref().clone();
    match flink_cast(data_type) {
        None => {}
        Some(FlinkCast::String) => *expr = call("flink_cast_to_string", vec![value]),
        Some(FlinkCast::Varchar(n)) => {
            *expr = call("flink_cast_to_varchar", vec![value, number(n)]);
        }
        Some(FlinkCast::Char(n)) => *expr = call("flink_cast_to_char", vec![value, number(n)]),
        Some(FlinkCast::FromLtz) => **inner = call("flink_ltz_to_local", vec![value]),
        Some(FlinkCast::ToLtz) => **inner = call("flink_local_to_ltz", vec![value]),
    }
}

/// The two arguments of a `MOD(a, b)` call.
fn mod_call_arguments(expr: &Expr) -> Option<(Expr, Expr)> {
    let Expr::Function(f) = expr else { return None };
    if f.name.0.len() != 1 || !f.name.to_string().eq_ignore_ascii_case("mod") {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(a)), FunctionArg::Unnamed(FunctionArgExpr::Expr(b))] => {
            Some((a.clone(), b.clone()))
        }
        _ => None,
    }
}

/// Names select items that are expressions without an alias `EXPR$<position>`, as Flink
/// does, so that two such items never clash (DataFusion would refuse duplicate names).
fn name_unaliased_expressions(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for (i, item) in select.projection.iter_mut().enumerate() {
                if let SelectItem::UnnamedExpr(expr) = item {
                    if !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                        *item = SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            alias: Ident::new(format!("EXPR${i}")),
                        };
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_unaliased_expressions(left);
            name_unaliased_expressions(right);
        }
        _ => {}
    }
}

/// Flink's name for an Arrow type, for messages.
pub fn flink_type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Date32 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(unit, tz) => {
            let p = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            if tz.is_some() {
                format!("TIMESTAMP_LTZ({p})")
            } else {
                format!("TIMESTAMP({p})")
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTES".into(),
        DataType::List(f) | DataType::LargeList(f) => {
            format!("ARRAY<{}>", flink_type_name(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "MAP<{}, {}>",
                flink_type_name(kv[0].data_type()),
                flink_type_name(kv[1].data_type())
            ),
            _ => "MAP".into(),
        },
        DataType::Struct(fields) => format!(
            "ROW<{}>",
            fields
                .iter()
                .map(|f| format!("{} {}", f.name(), flink_type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::Null => "NULL".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "types_tests.rs"]
mod tests;
