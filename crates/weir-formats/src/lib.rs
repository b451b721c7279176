//! Weir's formats: bytes to Arrow batches and back, with Flink's format names, options
//! and text representations ([`FORMATS`]: `avro`, `canal-json`, `csv`, `debezium-json`,
//! `json`, `maxwell-json`, `raw`).
//!
//! - Decoding lines (files): [`JsonDecoder`] (its own decoder of flat schemas, else
//!   arrow-json) and [`CsvDecoder`] (arrow-csv)
//!   turn chunks of whole lines into [`RecordBatch`]es of a given schema;
//!   [`DebeziumJsonDecoder`] and [`CdcJsonDecoder`] (`canal-json`, `maxwell-json`) turn
//!   change events into a changelog (batches with the row-kind column); [`RawDecoder`]
//!   reads each line as one value. They decode a chunk in one columnar pass; when that
//!   fails they narrow the failure down to the bad lines, so that errors name the origin
//!   (a file path) and the line, `<format>.ignore-parse-errors` keeps every good line of
//!   the chunk, and [`RecordDecoder::decode_reporting`] lists the bad lines with their
//!   bytes (for a connector's dead-letter policy).
//! - Encoding lines: [`JsonEncoder`], [`CsvEncoder`], [`DebeziumJsonEncoder`] and
//!   [`RawEncoder`] write batches as lines of text, with Flink's text forms for temporal
//!   and binary values.
//! - Messages (Kafka keys and values): [`MessageDecoder`] decodes one record per message
//!   and reports each malformed message with its index, for the connector's dirty-data
//!   policy; [`MessageEncoder`] writes one message per row. The line formats serve
//!   messages through [`LineMessageDecoder`] and [`LineMessageEncoder`]; `raw`
//!   ([`RawMessageDecoder`]: the whole value as is) and `avro` ([`AvroMessageDecoder`],
//!   [`AvroMessageEncoder`]: one binary datum per message, schema derived from the
//!   columns as Flink does) have their own. `avro` is for messages only.
//! - [`print_rows`] writes rows the way Flink's `print` connector does
//!   (`+I[1, Alice, 2024-01-01T10:00]`).
//! - [`format_options`] reads a table's `<format>.*` options into a [`FormatConfig`], which
//!   creates decoders and encoders.
//!
//! This crate does no I/O and knows nothing of the runtime: connectors feed it bytes.

#![warn(missing_docs)]

pub mod avro;
pub mod cdc_json;
pub mod changelog;
pub mod csv_decode;
pub mod csv_encode;
pub mod debezium;
pub mod debezium_decode;
pub mod error;
pub mod java;
mod json_boolean;
pub mod json_decode;
pub mod json_encode;
mod json_fast;
pub mod lines;
pub mod message;
pub mod message_encode;
pub mod options;
pub mod print;
mod projected;
pub mod raw;
mod recover;
pub mod render;
mod schema;
mod temporal;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

pub use avro::{avro_schema, AvroMessageDecoder, AvroMessageEncoder, AvroOptions};
pub use cdc_json::{CanalJsonOptions, CdcJsonDecoder, MaxwellJsonOptions};
pub use changelog::split_row_kind;
pub use csv_decode::CsvDecoder;
pub use csv_encode::CsvEncoder;
pub use debezium::DebeziumJsonEncoder;
pub use debezium_decode::DebeziumJsonDecoder;
pub use error::FormatError;
pub use json_decode::JsonDecoder;
pub use json_encode::JsonEncoder;
pub use message::{BadMessage, DecodedMessages, LineMessageDecoder, MessageDecoder};
pub use message_encode::{LineMessageEncoder, MessageEncoder};
pub use options::{
    format_options, CsvOptions, DebeziumJsonOptions, FormatConfig, JsonOptions, TimestampStandard,
    FORMATS,
};
pub use print::print_rows;
pub use projected::ReadColumns;
pub use raw::{
    Endianness, RawDecoder, RawEncoder, RawMessageDecoder, RawMessageEncoder, RawOptions,
};

/// Rows per batch that decoders produce by default.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// What a decoder made of a chunk of input.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The decoded rows, in input order, with the decoder's schema.
    pub batches: Vec<RecordBatch>,
    /// Malformed records skipped because `<format>.ignore-parse-errors` is set.
    pub skipped: u64,
    /// The malformed records of the chunk, in input order, when decoded with
    /// [`RecordDecoder::decode_reporting`] (always empty otherwise).
    pub bad: Vec<BadLine>,
    /// The number of line ends (`\n`) in the chunk, when the decoder counted them on
    /// its way (a reader of lines counts them itself otherwise).
    pub newlines: Option<u64>,
}

/// A malformed record found by [`RecordDecoder::decode_reporting`].
#[derive(Debug)]
pub struct BadLine {
    /// Its 1-based line number in the origin.
    pub line: u64,
    /// Its bytes in the decoded chunk, without the line terminator.
    pub range: std::ops::Range<usize>,
    /// Why it could not be decoded (a [`FormatError::BadRecord`] naming origin and line).
    pub error: FormatError,
}

impl Decoded {
    /// Number of decoded rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Turns text records, one per line, into Arrow batches.
pub trait RecordDecoder: Send {
    /// The schema of the batches this decoder produces.
    fn schema(&self) -> &SchemaRef;

    /// Names where the next chunks come from (a file path); error messages start with it.
    fn set_origin(&mut self, origin: &str);

    /// Decodes `bytes`, a run of whole lines (the last one may lack its newline), whose
    /// first line is line `first_line` (1-based) of the origin. Blank lines are skipped.
    /// A malformed record is an error naming origin and line, unless the format ignores
    /// parse errors: then it is skipped and counted in [`Decoded::skipped`].
    fn decode(&mut self, bytes: &[u8], first_line: u64) -> Result<Decoded, FormatError>;

    /// Decodes `bytes` as [`RecordDecoder::decode`] does, but lists every malformed
    /// record in [`Decoded::bad`] (with its line and bytes) instead of failing or
    /// skipping it: for a connector whose dirty-data policy keeps bad records aside. Good
    /// records around bad ones are decoded as usual. A decoder of a format that ignores
    /// parse errors still reads a bad *value* of a well-formed record as NULL: use a
    /// strict one.
    fn decode_reporting(&mut self, bytes: &[u8], first_line: u64) -> Result<Decoded, FormatError>;
}

/// Turns Arrow batches into text records, one per line.
pub trait RecordEncoder: Send {
    /// Appends the lines of `batch` to `out`. An updating input carries
    /// [`weir_types::ROW_KIND_COLUMN`] as its last column.
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError>;
}
