//! The formats' error type. Each message says where and what to do.

use arrow::error::ArrowError;

/// What can go wrong while configuring a format, decoding or encoding.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A malformed input record.
    #[error("{origin}:{line}: cannot parse {format} record: {reason} (record: {record}); {hint}")]
    BadRecord {
        /// Where the input came from (a file path).
        origin: String,
        /// 1-based line number of the record.
        line: u64,
        /// `JSON` or `CSV`.
        format: &'static str,
        /// Why the record could not be parsed.
        reason: String,
        /// The first 200 characters of the record.
        record: String,
        /// What to do, e.g. set `json.ignore-parse-errors`.
        hint: String,
    },
    /// No format of that name.
    #[error("unknown format '{format}'; available formats: {available}")]
    UnknownFormat {
        /// The name asked for.
        format: String,
        /// The formats this build has.
        available: String,
    },
    /// `<format>.*` options the format does not know.
    #[error(
        "unsupported option(s) for format '{format}': {unknown}; supported options: {supported}"
    )]
    UnknownOptions {
        /// The format.
        format: String,
        /// The unknown keys, comma separated.
        unknown: String,
        /// The keys the format knows, comma separated.
        supported: String,
    },
    /// An option has a value the format cannot use.
    #[error("invalid value '{value}' for option '{option}': {reason}")]
    InvalidOption {
        /// The option key.
        option: String,
        /// Its value.
        value: String,
        /// Why, and what is accepted.
        reason: String,
    },
    /// Two options that cannot be used together.
    #[error("{0}")]
    ConflictingOptions(String),
    /// An encoder that writes only inserts received an update or a delete.
    #[error("sink format '{format}' cannot write an updating stream (rows with -U/+U/-D); use 'debezium-json' or an upsert sink")]
    UpdatingInput {
        /// The format.
        format: String,
    },
    /// A column type the format cannot read or write.
    #[error("format '{format}' does not support column '{column}' of type {data_type}")]
    UnsupportedType {
        /// The format.
        format: String,
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// Something the format cannot do (e.g. `debezium-json` as a source format).
    #[error("{0}")]
    Unsupported(String),
    /// An Arrow kernel failed while encoding.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

impl FormatError {
    /// Why a record could not be parsed, without where it was nor what to do: the
    /// `reason` of a [`FormatError::BadRecord`], the whole message of other errors.
    pub fn reason(&self) -> String {
        match self {
            FormatError::BadRecord { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// The message of an Arrow error without the variant prefix ("Json error: ...").
pub(crate) fn arrow_reason(error: &ArrowError) -> String {
    match error {
        ArrowError::JsonError(m)
        | ArrowError::CsvError(m)
        | ArrowError::ParseError(m)
        | ArrowError::CastError(m)
        | ArrowError::InvalidArgumentError(m)
        | ArrowError::ComputeError(m) => m.clone(),
        other => other.to_string(),
    }
}
