//! What the planner tells a connector about a table, and the connector errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::datatypes::SchemaRef;

/// A metadata column: `col TYPE METADATA [FROM 'key'] [VIRTUAL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataColumn {
    /// Column name in the table.
    pub column: String,
    /// Metadata key the connector provides (e.g. `file.path`); the column name when no `FROM`.
    pub key: String,
    /// `VIRTUAL`: read-only, not written by sinks.
    pub is_virtual: bool,
}

/// A table as a connector sees it.
#[derive(Debug, Clone)]
pub struct TableDescriptor {
    /// Table name as written in SQL.
    pub name: String,
    /// The columns the connector reads or writes, in declaration order, without computed
    /// columns. Metadata columns are included; [`TableDescriptor::metadata`] names them.
    /// A source must produce batches with exactly this schema.
    pub schema: SchemaRef,
    /// The metadata columns among `schema`'s fields.
    pub metadata: Vec<MetadataColumn>,
    /// `PRIMARY KEY (...) NOT ENFORCED` columns.
    pub primary_key: Vec<String>,
    /// The `WITH (...)` options, keys as written.
    pub options: BTreeMap<String, String>,
    /// Folder that relative paths in options are resolved against (the script's folder).
    pub base_dir: PathBuf,
}

impl TableDescriptor {
    /// The `connector` option.
    pub fn connector(&self) -> Result<&str, ConnectorError> {
        self.options
            .get("connector")
            .map(String::as_str)
            .ok_or_else(|| ConnectorError::MissingOption {
                table: self.name.clone(),
                option: "connector".into(),
                hint: format!(
                    "add 'connector' = '...' to the WITH clause; available: {}",
                    crate::CONNECTORS.join(", ")
                ),
            })
    }

    /// Whether `column` is a metadata column.
    pub fn is_metadata(&self, column: &str) -> bool {
        self.metadata.iter().any(|m| m.column == column)
    }
}

/// Why a connector could not be created. Each message names the table and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// No connector of that name.
    #[error("table '{table}': unknown connector '{connector}'; available connectors: {available}")]
    UnknownConnector {
        /// Table name.
        table: String,
        /// The name asked for.
        connector: String,
        /// The names this build has.
        available: String,
    },
    /// A required option is missing.
    #[error("table '{table}': missing required option '{option}' ({hint})")]
    MissingOption {
        /// Table name.
        table: String,
        /// The option.
        option: String,
        /// What to set.
        hint: String,
    },
    /// Options the connector does not know.
    #[error("table '{table}': unsupported option(s) for connector '{connector}': {unknown}; supported options: {supported}")]
    UnsupportedOptions {
        /// Table name.
        table: String,
        /// Connector name.
        connector: String,
        /// The unknown keys, comma separated.
        unknown: String,
        /// The keys the connector knows, comma separated.
        supported: String,
    },
    /// An option has a value the connector cannot use.
    #[error("table '{table}': invalid value '{value}' for option '{option}': {reason}")]
    InvalidOption {
        /// Table name.
        table: String,
        /// The option.
        option: String,
        /// Its value.
        value: String,
        /// Why it is invalid and what is accepted.
        reason: String,
    },
    /// The table's schema or use does not fit the connector.
    #[error("table '{table}': {message}")]
    Unsupported {
        /// Table name.
        table: String,
        /// What is not supported.
        message: String,
    },
    /// A file or folder the table names cannot be used.
    #[error("table '{table}': {context}: {source}")]
    Io {
        /// Table name.
        table: String,
        /// What was tried, with the path.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl ConnectorError {
    /// The error for an unknown connector name.
    pub fn unknown_connector(table: &TableDescriptor, connector: &str) -> ConnectorError {
        ConnectorError::UnknownConnector {
            table: table.name.clone(),
            connector: connector.to_string(),
            available: crate::CONNECTORS.join(", "),
        }
    }
}
