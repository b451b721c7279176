//! The statements of a FlinkSQL script, as parsed by [`crate::parser`].

use arrow::datatypes::DataType;
use datafusion::sql::sqlparser::ast::{Expr, Query};

use crate::error::Position;

/// A statement and where it starts.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The statement.
    pub node: T,
    /// Position of its first token.
    pub position: Position,
}

/// One statement of a script.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `SET 'key' = 'value'`.
    Set {
        /// Option name, e.g. `parallelism.default`.
        key: String,
        /// Option value.
        value: String,
    },
    /// `RESET 'key'` or `RESET`.
    Reset {
        /// The option, or every option.
        key: Option<String>,
    },
    /// `CREATE TABLE`.
    CreateTable(Box<CreateTable>),
    /// `CREATE VIEW`.
    CreateView(CreateView),
    /// `INSERT INTO ... SELECT ...`.
    Insert(Insert),
    /// `EXECUTE STATEMENT SET BEGIN ... END`.
    StatementSet(Vec<Located<Insert>>),
    /// A bare query: its rows are printed, as Flink's SQL client shows them.
    Select(Box<Query>),
}

/// How a column gets its values.
#[derive(Debug, Clone)]
pub enum ColumnKind {
    /// Read from and written to the connector.
    Physical,
    /// `name AS expr`: computed from other columns when read.
    Computed(Box<Expr>),
    /// `name TYPE METADATA [FROM 'key'] [VIRTUAL]`.
    Metadata {
        /// The connector's metadata key; the column name when absent.
        key: Option<String>,
        /// Read-only.
        is_virtual: bool,
    },
}

/// One column of a `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Name as written.
    pub name: String,
    /// Declared type; `None` for computed columns (their type comes from the expression).
    pub data_type: Option<DataType>,
    /// Whether NULL is allowed (`NOT NULL` makes it false).
    pub nullable: bool,
    /// Physical, computed or metadata.
    pub kind: ColumnKind,
    /// Where the column is declared.
    pub position: Position,
}

/// `WATERMARK FOR column AS expr`.
#[derive(Debug, Clone)]
pub struct WatermarkDef {
    /// The event-time column.
    pub column: String,
    /// The watermark expression, e.g. `ts - INTERVAL '5' SECOND`.
    pub expr: Expr,
    /// Where the clause starts.
    pub position: Position,
}

/// `CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name (...) WITH (...)`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// Table name.
    pub name: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// The watermark definition, if any.
    pub watermark: Option<WatermarkDef>,
    /// `PRIMARY KEY (...) NOT ENFORCED` columns.
    pub primary_key: Vec<String>,
    /// `WITH` options in declaration order.
    pub options: Vec<(String, String)>,
}

/// `CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name [(columns)] AS query`.
#[derive(Debug, Clone)]
pub struct CreateView {
    /// View name.
    pub name: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Column names given after the view name, if any.
    pub columns: Vec<String>,
    /// The query.
    pub query: Box<Query>,
}

/// `INSERT INTO table [(columns)] query`.
#[derive(Debug, Clone)]
pub struct Insert {
    /// Target table.
    pub table: String,
    /// Where the table name is.
    pub table_position: Position,
    /// Target columns, when listed.
    pub columns: Vec<String>,
    /// The query producing the rows.
    pub query: Box<Query>,
}
