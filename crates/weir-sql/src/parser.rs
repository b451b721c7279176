//! The script parser: splits a FlinkSQL script into statements and parses what
//! sqlparser does not know (`CREATE TABLE` with computed, metadata and watermark
//! clauses, Flink types, `SET`, statement sets) on top of sqlparser's tokens, handing
//! expressions and queries to sqlparser itself.

use datafusion::sql::sqlparser::ast::Query;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::dialect::FlinkDialect;
use crate::error::{Position, SqlError, SqlResult};
use crate::statement::{
    ColumnDef, ColumnKind, CreateTable, CreateView, Insert, Located, Statement, WatermarkDef,
};
use crate::types::{parse_flink_type, rewrite_flink_types};
use crate::windows::{rewrite_group_windows, rewrite_window_tvfs};

static DIALECT: FlinkDialect = FlinkDialect;

/// The position of a token.
pub fn position_of(token: &TokenWithSpan) -> Position {
    Position {
        line: token.span.start.line,
        column: token.span.start.column,
    }
}

/// Whether `token` is the unquoted word `word` (any case).
pub fn word_is(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Converts a sqlparser error (which embeds "at Line: x, Column: y") into a [`SqlError`].
pub fn parser_error(error: ParserError, fallback: Position) -> SqlError {
    let text = match error {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
        ParserError::RecursionLimitExceeded => "the statement nests too deeply".to_string(),
    };
    if let Some(idx) = text.rfind(" at Line: ") {
        let tail = &text[idx + " at Line: ".len()..];
        let mut parts = tail.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| c.trim().parse().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return SqlError::at(Position { line, column }, text[..idx].to_string());
        }
    }
    SqlError::at(fallback, text)
}

/// Reads statements from a script one at a time, so that `SET` statements (such as the
/// local time zone) apply to the statements after them.
pub struct ScriptParser<'a> {
    parser: Parser<'a>,
}

impl<'a> ScriptParser<'a> {
    /// Tokenizes `script`.
    pub fn new(script: &'a str) -> SqlResult<ScriptParser<'a>> {
        let tokens = Tokenizer::new(&DIALECT, script)
            .tokenize_with_location()
            .map_err(|e| {
                SqlError::at(
                    Position {
                        line: e.location.line,
                        column: e.location.column,
                    },
                    e.message,
                )
            })?;
        Ok(ScriptParser {
            parser: Parser::new(&DIALECT).with_tokens_with_locations(tokens),
        })
    }

    fn peek(&self) -> TokenWithSpan {
        self.parser.peek_token()
    }

    fn peek_is(&self, word: &str) -> bool {
        word_is(&self.peek().token, word)
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek_is(word) {
            self.parser.next_token();
            true
        } else {
            false
        }
    }

    fn eat_all(&mut self, words: &[&str]) -> bool {
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

    fn expect(&mut self, word: &str) -> SqlResult<()> {
        if self.eat(word) {
            Ok(())
        } else {
            let t = self.peek();
            Err(SqlError::at(
                position_of(&t),
                format!("expected {word}, found {}", describe(&t.token)),
            ))
        }
    }

    fn expect_token(&mut self, token: Token) -> SqlResult<()> {
        if self.parser.consume_token(&token) {
            Ok(())
        } else {
            let t = self.peek();
            Err(SqlError::at(
                position_of(&t),
                format!("expected '{token}', found {}", describe(&t.token)),
            ))
        }
    }

    fn identifier(&mut self, what: &str) -> SqlResult<String> {
        let t = self.parser.next_token();
        match &t.token {
            Token::Word(w) => {
                let mut name = w.value.clone();
                // Qualified names (catalog.db.table) keep only the last part: one catalog.
                while self.parser.consume_token(&Token::Period) {
                    let part = self.parser.next_token();
                    match &part.token {
                        Token::Word(p) => name = p.value.clone(),
                        other => {
                            return Err(SqlError::at(
                                position_of(&part),
                                format!("expected a name after '.', found {}", describe(other)),
                            ))
                        }
                    }
                }
                Ok(name)
            }
            other => Err(SqlError::at(
                position_of(&t),
                format!("expected {what}, found {}", describe(other)),
            )),
        }
    }

    fn string_literal(&mut self, what: &str) -> SqlResult<String> {
        let t = self.parser.next_token();
        match &t.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s.clone()),
            other => Err(SqlError::at(
                position_of(&t),
                format!(
                    "expected {what} as a quoted string, found {}",
                    describe(other)
                ),
            )),
        }
    }

    fn query(&mut self) -> SqlResult<Box<Query>> {
        let start = position_of(&self.peek());
        let mut query = self
            .parser
            .parse_query()
            .map_err(|e| parser_error(e, start))?;
        rewrite_group_windows(&mut query).map_err(|e| e.or_at(start))?;
        rewrite_window_tvfs(&mut query).map_err(|e| e.or_at(start))?;
        rewrite_flink_types(&mut query).map_err(|e| e.or_at(start))?;
        Ok(query)
    }

    fn end_of_statement(&mut self) -> SqlResult<()> {
        let t = self.peek();
        match t.token {
            Token::SemiColon => {
                self.parser.next_token();
                Ok(())
            }
            Token::EOF => Ok(()),
            ref other => Err(SqlError::at(
                position_of(&t),
                format!(
                    "expected ';' at the end of the statement, found {}",
                    describe(other)
                ),
            )),
        }
    }

    /// The next statement, or `None` at the end of the script. `time_zone` is the
    /// session time zone that `TIMESTAMP_LTZ` columns get.
    pub fn next_statement(&mut self, time_zone: &str) -> Option<SqlResult<Located<Statement>>> {
        while self.parser.consume_token(&Token::SemiColon) {}
        let first = self.peek();
        if first.token == Token::EOF {
            return None;
        }
        let position = position_of(&first);
        let result = self
            .statement(time_zone)
            .map(|node| Located { node, position });
        if result.is_err() {
            // Skip to the end of the statement so a caller collecting errors can go on.
            loop {
                let t = self.parser.next_token();
                if matches!(t.token, Token::SemiColon | Token::EOF) {
                    break;
                }
            }
        }
        Some(result)
    }

    fn statement(&mut self, time_zone: &str) -> SqlResult<Statement> {
        let first = self.peek();
        let position = position_of(&first);
        let statement = if self.eat("SET") {
            self.set()?
        } else if self.eat("RESET") {
            let key = match self.peek().token {
                Token::SemiColon | Token::EOF => None,
                _ => Some(self.string_literal("the option name")?),
            };
            Statement::Reset { key }
        } else if self.eat("CREATE") {
            self.eat("TEMPORARY");
            if self.eat("TABLE") {
                Statement::CreateTable(Box::new(self.create_table(time_zone)?))
            } else if self.eat("VIEW") {
                Statement::CreateView(self.create_view()?)
            } else {
                let t = self.peek();
                return Err(SqlError::at(
                    position_of(&t),
                    format!("unsupported statement CREATE {}: Weir supports CREATE TABLE and CREATE VIEW", describe(&t.token)),
                ));
            }
        } else if self.peek_is("INSERT") {
            Statement::Insert(self.insert()?)
        } else if self.eat_all(&["EXECUTE", "STATEMENT", "SET"]) {
            self.expect("BEGIN")?;
            Statement::StatementSet(self.statement_set_body()?)
        } else if self.eat_all(&["BEGIN", "STATEMENT", "SET"]) {
            self.expect_token(Token::SemiColon)?;
            Statement::StatementSet(self.statement_set_body()?)
        } else if self.peek_is("SELECT")
            || self.peek_is("WITH")
            || self.peek_is("VALUES")
            || first.token == Token::LParen
        {
            Statement::Select(self.query()?)
        } else {
            return Err(SqlError::at(
                position,
                format!(
                    "unsupported statement starting with {}; Weir runs SET, RESET, CREATE TABLE, CREATE VIEW, INSERT INTO, EXECUTE STATEMENT SET and SELECT",
                    describe(&first.token)
                ),
            ));
        };
        self.end_of_statement()?;
        Ok(statement)
    }

    fn set(&mut self) -> SqlResult<Statement> {
        let start = self.peek();
        let key = match &start.token {
            Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                self.string_literal("the option name")?
            }
            _ => self.raw_text_until(&[Token::Eq])?,
        };
        if !self.parser.consume_token(&Token::Eq) {
            let t = self.peek();
            return Err(SqlError::at(
                position_of(&t),
                "expected '=' in SET 'key' = 'value'",
            ));
        }
        let value = match &self.peek().token {
            Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                self.string_literal("the option value")?
            }
            _ => self.raw_text_until(&[Token::SemiColon, Token::EOF])?,
        };
        Ok(Statement::Set { key, value })
    }

    /// Concatenates the text of tokens up to (not including) one of `stop`.
    fn raw_text_until(&mut self, stop: &[Token]) -> SqlResult<String> {
        let mut text = String::new();
        loop {
            let t = self.peek();
            if stop.contains(&t.token) || t.token == Token::EOF {
                break;
            }
            self.parser.next_token();
            text.push_str(&t.token.to_string());
        }
        if text.trim().is_empty() {
            let t = self.peek();
            return Err(SqlError::at(
                position_of(&t),
                "expected an option name or value",
            ));
        }
        Ok(text.trim().to_string())
    }

    fn statement_set_body(&mut self) -> SqlResult<Vec<Located<Insert>>> {
        let mut inserts = Vec::new();
        loop {
            while self.parser.consume_token(&Token::SemiColon) {}
            if self.eat("END") {
                break;
            }
            let t = self.peek();
            if t.token == Token::EOF {
                return Err(SqlError::at(
                    position_of(&t),
                    "statement set is missing its END",
                ));
            }
            if !self.peek_is("INSERT") {
                return Err(SqlError::at(
                    position_of(&t),
                    format!(
                        "a statement set holds only INSERT statements, found {}",
                        describe(&t.token)
                    ),
                ));
            }
            let position = position_of(&t);
            inserts.push(Located {
                node: self.insert()?,
                position,
            });
            if !self.parser.consume_token(&Token::SemiColon) && !self.peek_is("END") {
                let t = self.peek();
                return Err(SqlError::at(
                    position_of(&t),
                    "expected ';' after INSERT in the statement set",
                ));
            }
        }
        if inserts.is_empty() {
            return Err(SqlError::new("the statement set has no INSERT statements"));
        }
        Ok(inserts)
    }

    fn insert(&mut self) -> SqlResult<Insert> {
        self.expect("INSERT")?;
        if self.peek_is("OVERWRITE") {
            let t = self.peek();
            return Err(SqlError::at(
                position_of(&t),
                "INSERT OVERWRITE is not supported in streaming jobs; use INSERT INTO",
            ));
        }
        self.expect("INTO")?;
        let table_position = position_of(&self.peek());
        let table = self.identifier("a table name")?;
        let mut columns = Vec::new();
        // A column list, unless the parenthesis opens the query itself.
        if self.peek().token == Token::LParen
            && !word_is(&self.parser.peek_nth_token(1).token, "SELECT")
            && !word_is(&self.parser.peek_nth_token(1).token, "WITH")
        {
            self.parser.next_token();
            loop {
                columns.push(self.identifier("a column name")?);
                if self.parser.consume_token(&Token::Comma) {
                    continue;
                }
                self.expect_token(Token::RParen)?;
                break;
            }
        }
        let query = self.query()?;
        Ok(Insert {
            table,
            table_position,
            columns,
            query,
        })
    }

    fn create_view(&mut self) -> SqlResult<CreateView> {
        let if_not_exists = self.eat_all(&["IF", "NOT", "EXISTS"]);
        let name = self.identifier("a view name")?;
        let mut columns = Vec::new();
        if self.parser.consume_token(&Token::LParen) {
            loop {
                columns.push(self.identifier("a column name")?);
                if self.parser.consume_token(&Token::Comma) {
                    continue;
                }
                self.expect_token(Token::RParen)?;
                break;
            }
        }
        if self.peek_is("COMMENT") {
            self.parser.next_token();
            self.string_literal("the comment")?;
        }
        self.expect("AS")?;
        let query = self.query()?;
        Ok(CreateView {
            name,
            if_not_exists,
            columns,
            query,
        })
    }

    fn create_table(&mut self, time_zone: &str) -> SqlResult<CreateTable> {
        let if_not_exists = self.eat_all(&["IF", "NOT", "EXISTS"]);
        let name = self.identifier("a table name")?;
        let mut table = CreateTable {
            name,
            if_not_exists,
            columns: Vec::new(),
            watermark: None,
            primary_key: Vec::new(),
            options: Vec::new(),
        };
        self.expect_token(Token::LParen)?;
        loop {
            let t = self.peek();
            let position = position_of(&t);
            if self.eat("WATERMARK") {
                self.expect("FOR")?;
                let column = self.identifier("the event-time column")?;
                self.expect("AS")?;
                let mut expr = self
                    .parser
                    .parse_expr()
                    .map_err(|e| parser_error(e, position))?;
                rewrite_flink_types(&mut expr)?;
                if table.watermark.is_some() {
                    return Err(SqlError::at(
                        position,
                        "a table has at most one WATERMARK clause",
                    ));
                }
                table.watermark = Some(WatermarkDef {
                    column,
                    expr,
                    position,
                });
            } else if self.peek_is("PRIMARY") || self.peek_is("CONSTRAINT") {
                if self.eat("CONSTRAINT") {
                    self.identifier("a constraint name")?;
                }
                self.expect("PRIMARY")?;
                self.expect("KEY")?;
                self.expect_token(Token::LParen)?;
                loop {
                    table.primary_key.push(self.identifier("a column name")?);
                    if self.parser.consume_token(&Token::Comma) {
                        continue;
                    }
                    self.expect_token(Token::RParen)?;
                    break;
                }
                self.not_enforced(position)?;
            } else {
                let column = self.column(time_zone, position)?;
                if self.peek_is("PRIMARY") {
                    let p = position_of(&self.peek());
                    self.parser.next_token();
                    self.expect("KEY")?;
                    self.not_enforced(p)?;
                    table.primary_key.push(column.name.clone());
                }
                if self.eat("COMMENT") {
                    self.string_literal("the comment")?;
                }
                table.columns.push(column);
            }
            if self.parser.consume_token(&Token::Comma) {
                continue;
            }
            self.expect_token(Token::RParen)?;
            break;
        }
        if self.eat("COMMENT") {
            self.string_literal("the comment")?;
        }
        if self.peek_is("PARTITIONED") || self.peek_is("LIKE") {
            let t = self.peek();
            return Err(SqlError::at(
                position_of(&t),
                format!(
                    "CREATE TABLE ... {} is not supported yet",
                    describe(&t.token)
                ),
            ));
        }
        if self.eat("WITH") {
            self.expect_token(Token::LParen)?;
            loop {
                if self.parser.consume_token(&Token::RParen) {
                    break;
                }
                let key = self.string_literal("an option name")?;
                self.expect_token(Token::Eq)?;
                let value = self.string_literal("an option value")?;
                table.options.push((key, value));
                if self.parser.consume_token(&Token::Comma) {
                    continue;
                }
                self.expect_token(Token::RParen)?;
                break;
            }
        }
        Ok(table)
    }

    fn not_enforced(&mut self, position: Position) -> SqlResult<()> {
        if self.eat_all(&["NOT", "ENFORCED"]) {
            Ok(())
        } else {
            Err(SqlError::at(
                position,
                "a primary key must be declared NOT ENFORCED: Weir, like Flink, does not check it; write PRIMARY KEY (...) NOT ENFORCED",
            ))
        }
    }

    fn column(&mut self, time_zone: &str, position: Position) -> SqlResult<ColumnDef> {
        let name = self.identifier("a column name")?;
        if self.eat("AS") {
            let start = position_of(&self.peek());
            let mut expr = self
                .parser
                .parse_expr()
                .map_err(|e| parser_error(e, start))?;
            rewrite_flink_types(&mut expr)?;
            return Ok(ColumnDef {
                name,
                data_type: None,
                nullable: true,
                kind: ColumnKind::Computed(Box::new(expr)),
                position,
            });
        }
        let (data_type, nullable) = parse_flink_type(&mut self.parser, time_zone)?;
        let kind = if self.eat("METADATA") {
            let key = if self.eat("FROM") {
                Some(self.string_literal("the metadata key")?)
            } else {
                None
            };
            let is_virtual = self.eat("VIRTUAL");
            ColumnKind::Metadata { key, is_virtual }
        } else {
            ColumnKind::Physical
        };
        Ok(ColumnDef {
            name,
            data_type: Some(data_type),
            nullable,
            kind,
            position,
        })
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::EOF => "the end of the script".to_string(),
        other => format!("'{other}'"),
    }
}

/// Parses a whole script (with the time zone fixed), for tools and tests.
pub fn parse_script(script: &str, time_zone: &str) -> SqlResult<Vec<Located<Statement>>> {
    let mut parser = ScriptParser::new(script)?;
    let mut statements = Vec::new();
    while let Some(statement) = parser.next_statement(time_zone) {
        statements.push(statement?);
    }
    Ok(statements)
}

#[cfg(test)]
mod tests;
