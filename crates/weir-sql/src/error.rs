//! SQL errors that point at the line and column of the script they come from.

use std::fmt;

/// A position in a SQL script: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// An error in a SQL script: what is wrong, and where.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SqlError {
    /// What is wrong and, where it helps, what to do.
    pub message: String,
    /// Where, when known.
    pub position: Option<Position>,
    /// The script line at `position`, with a caret under the column (filled in by
    /// [`SqlError::with_source`]).
    pub excerpt: Option<String>,
}

impl SqlError {
    /// An error at `position`.
    pub fn at(position: Position, message: impl Into<String>) -> SqlError {
        SqlError {
            message: message.into(),
            position: Some(position),
            excerpt: None,
        }
    }

    /// An error without a position.
    pub fn new(message: impl Into<String>) -> SqlError {
        SqlError {
            message: message.into(),
            position: None,
            excerpt: None,
        }
    }

    /// Sets the position if the error has none.
    pub fn or_at(mut self, position: Position) -> SqlError {
        if self.position.is_none() {
            self.position = Some(position);
        }
        self
    }

    /// Adds an excerpt of `script` showing the position.
    pub fn with_source(mut self, script: &str) -> SqlError {
        if let Some(p) = self.position {
            if let Some(line) = script.lines().nth(p.line.saturating_sub(1) as usize) {
                let caret = " ".repeat(p.column.saturating_sub(1) as usize);
                self.excerpt = Some(format!("  | {line}\n  | {caret}^"));
            }
        }
        self
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "SQL error at {p}: {}", self.message)?,
            None => write!(f, "SQL error: {}", self.message)?,
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

/// Result with a [`SqlError`].
pub type SqlResult<T> = Result<T, SqlError>;
