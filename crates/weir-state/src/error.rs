//! The crate's error type, [`StateError`].
//!
//! Every message says which checkpoint (by id and location) and which file is
//! concerned, so an operator reading a log knows what was skipped and why.

use arrow::error::ArrowError;

/// Result alias of this crate.
pub type StateResult<T> = Result<T, StateError>;

/// Everything that can go wrong while writing, validating or restoring state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// `execution.checkpointing.dir` (or a savepoint path) cannot be used.
    #[error("invalid checkpoint location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A snapshot handed to the storage breaks the snapshot rules (for example a keyed
    /// table without a key group column, or two tables of one name with two schemas).
    #[error("invalid state snapshot: {0}")]
    InvalidSnapshot(String),

    /// The metadata the coordinator asked to write does not describe a whole checkpoint.
    #[error("invalid checkpoint metadata for checkpoint {checkpoint_id}: {reason}")]
    InvalidMetadata {
        /// The checkpoint concerned.
        checkpoint_id: u64,
        /// What is wrong.
        reason: String,
    },

    /// A restore was asked with arguments that cannot be satisfied.
    #[error("cannot restore operator {operator_id:?}: {reason}")]
    InvalidRestore {
        /// The operator concerned.
        operator_id: String,
        /// Why.
        reason: String,
    },

    /// A checkpoint folder without `_metadata`: it was never completed.
    #[error(
        "checkpoint {checkpoint_id} at {location} is incomplete: no _metadata \
         (the process probably died while writing it, or the checkpoint was declined)"
    )]
    Incomplete {
        /// The id from the folder name.
        checkpoint_id: u64,
        /// Where the folder is.
        location: String,
    },

    /// A checkpoint whose `_metadata` exists but cannot be trusted.
    #[error("checkpoint {checkpoint} at {location} is corrupt: {reason}")]
    Corrupt {
        /// The checkpoint's id, or `?` when even that is unknown.
        checkpoint: String,
        /// Where the checkpoint is.
        location: String,
        /// What is wrong: unparsable metadata, a missing, short or changed file.
        reason: String,
    },

    /// A checkpoint written by a newer Weir (or an unknown format).
    #[error(
        "checkpoint {checkpoint} at {location} has format version {found}, \
         this Weir reads versions up to {supported}"
    )]
    UnsupportedVersion {
        /// The checkpoint's id, as text.
        checkpoint: String,
        /// Where the checkpoint is.
        location: String,
        /// The version found in `_metadata`.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },

    /// The object store failed.
    #[error("{context}: {source}")]
    Store {
        /// What was being done, with the path.
        context: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },

    /// Arrow failed to encode or decode a table.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// Arrow's error.
        #[source]
        source: ArrowError,
    },

    /// Local file system failure outside the object store (creating the folder).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },

    /// A background task (encoding, decoding) panicked or was cancelled.
    #[error("state task failed: {0}")]
    Task(String),

    /// The embedded state store (RocksDB) failed.
    #[error("{context}: {reason}")]
    Backend {
        /// What was being done.
        context: String,
        /// The store's message.
        reason: String,
    },
}

impl StateError {
    pub(crate) fn store(context: impl Into<String>, source: object_store::Error) -> Self {
        StateError::Store {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn arrow(context: impl Into<String>, source: ArrowError) -> Self {
        StateError::Arrow {
            context: context.into(),
            source,
        }
    }
}
