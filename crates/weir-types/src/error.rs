//! The engine's error type, shared by runtime, operators and connectors.

use datafusion::error::DataFusionError;

/// Result with an [`EngineError`].
pub type EngineResult<T> = Result<T, EngineError>;

/// What can go wrong while a job runs. Messages say what, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Invalid input data (a malformed record): names the file/partition, position and reason.
    #[error("{0}")]
    BadData(String),
    /// Invalid configuration of a table, connector or option.
    #[error("{0}")]
    Config(String),
    /// An I/O failure, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. "cannot open 'data/orders.json'".
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An expression or kernel failed.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// An Arrow kernel failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A task of the job failed; names the operator and subtask.
    #[error("{operator} (subtask {subtask}): {source}")]
    Task {
        /// Operator name.
        operator: String,
        /// Subtask index, 1-based as shown to users.
        subtask: usize,
        /// What failed.
        #[source]
        source: Box<EngineError>,
    },
    /// Taking, storing or restoring a checkpoint failed (what, which checkpoint, why).
    #[error("{0}")]
    Checkpoint(String),
    /// The job was cancelled.
    #[error("job cancelled")]
    Cancelled,
    /// An internal invariant broke: a bug in Weir.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> EngineError {
        EngineError::Io {
            context: context.into(),
            source,
        }
    }
}
