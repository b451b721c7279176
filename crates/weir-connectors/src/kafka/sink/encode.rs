//! Rows to Kafka records: the key (the `key.fields` or PRIMARY KEY columns, in
//! `key.format`), the value (the `value.fields-include` columns, in `value.format`), the
//! timestamp and the headers (writable metadata columns).
//!
//! A batch is encoded into two buffers, one for all keys and one for all values, and each
//! record points at its slices: no allocation per row. The formats write one line per
//! row; a message is a line without its newline, as Flink's formats write messages. When
//! the lines do not match the rows one to one (a CSV field holding a newline), the batch
//! is encoded again row by row. `raw` and `avro`, whose bytes may hold newlines
//! anywhere, go through their message encoders (one message per row; a NULL `raw` value
//! is a record without a value) and are copied into the same buffers.
//!
//! `upsert-kafka`: `+I` and `+U` rows become records with a value, `-D` rows tombstones
//! (the key and no value). A `-U` row followed in its batch by another row of the same
//! key writes nothing (the `+U` that follows it carries the new value); a `-U` without
//! one (a filter after an aggregation dropped its `+U`, as in `HAVING`) is a tombstone.
//! Flink does the same in two steps: its planner keeps `-U` away from upsert sinks
//! unless a later operator needs it, and its serializer writes any `-U` it gets as a
//! tombstone. `kafka` with a changelog value format (`debezium-json`) gives the format
//! each row's kind.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, MapArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow::record_batch::RecordBatch;
use rdkafka::message::{Header, OwnedHeaders};
use weir_formats::{split_row_kind, FormatConfig, FormatError, RecordEncoder};
use weir_types::{EngineError, EngineResult, RowKind, ROW_KIND_COLUMN};

use super::options::SinkOptions;

/// Where one encoded key or value lies in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// One record to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// The row of the batch it comes from.
    pub row: usize,
    key: Option<Span>,
    value: Option<Span>,
    /// The record timestamp in milliseconds since the epoch (`None`: the time of
    /// sending).
    pub timestamp: Option<i64>,
}

/// The records of one batch, with the buffers their keys and values point into.
/// Reused from batch to batch.
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    keys: Vec<u8>,
    values: Vec<u8>,
    records: Vec<Record>,
    headers: Option<MapArray>,
}

impl Encoded {
    /// The records, in row order.
    pub(crate) fn records(&self) -> &[Record] {
        &self.records
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The key bytes of `record`, if the sink writes keys.
    pub(crate) fn key(&self, record: &Record) -> Option<&[u8]> {
        record.key.map(|s| &self.keys[s.start..s.end])
    }

    /// The value bytes of `record`; `None` for a tombstone.
    pub(crate) fn value(&self, record: &Record) -> Option<&[u8]> {
        record.value.map(|s| &self.values[s.start..s.end])
    }

    /// The headers of `record`, if the sink writes headers and the row has some.
    pub(crate) fn headers(&self, record: &Record) -> Option<OwnedHeaders> {
        let map = self.headers.as_ref()?;
        if map.is_null(record.row) {
            return None;
        }
        let offsets = map.value_offsets();
        let (from, to) = (
            offsets[record.row] as usize,
            offsets[record.row + 1] as usize,
        );
        let keys = map.keys().as_string::<i32>();
        let values = map.values().as_binary::<i32>();
        let mut headers = OwnedHeaders::new_with_capacity(to - from);
        for i in from..to {
            headers = headers.insert(Header {
                key: keys.value(i),
                value: (!values.is_null(i)).then(|| values.value(i)),
            });
        }
        Some(headers)
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.values.clear();
        self.records.clear();
        self.headers = None;
    }
}

/// How one part (key or value) of the records is encoded.
enum PartEncoder {
    /// A text format: the batch is written as lines, one per row.
    Lines(Box<dyn RecordEncoder>),
    /// A format whose messages are not lines (`raw`, `avro`): one message per row.
    Messages {
        encoder: Box<dyn weir_formats::MessageEncoder>,
        /// Reused from batch to batch.
        scratch: Vec<Option<Vec<u8>>>,
    },
}

impl PartEncoder {
    /// The encoder of `format` for rows of `schema`.
    fn new(format: &FormatConfig, schema: &Schema) -> Result<PartEncoder, FormatError> {
        Ok(match format {
            FormatConfig::Raw(_) | FormatConfig::Avro(_) => PartEncoder::Messages {
                encoder: format.message_encoder(schema)?,
                scratch: Vec::new(),
            },
            _ => PartEncoder::Lines(format.encoder(schema)?),
        })
    }

    /// Encodes `batch`, appending to `buffer`, and sets `spans` to one span per row
    /// (`None`: the row's message has no value).
    fn encode(
        &mut self,
        batch: &RecordBatch,
        buffer: &mut Vec<u8>,
        spans: &mut Vec<Option<Span>>,
    ) -> Result<(), FormatError> {
        match self {
            PartEncoder::Lines(encoder) => encode_lines(encoder.as_mut(), batch, buffer, spans),
            PartEncoder::Messages { encoder, scratch } => {
                scratch.clear();
                encoder.encode_messages(batch, scratch)?;
                if scratch.len() != batch.num_rows() {
                    return Err(FormatError::Unsupported(format!(
                        "the format wrote {} messages for {} rows",
                        scratch.len(),
                        batch.num_rows()
                    )));
                }
                spans.clear();
                for message in scratch.drain(..) {
                    spans.push(message.map(|bytes| {
                        let start = buffer.len();
                        buffer.extend_from_slice(&bytes);
                        Span {
                            start,
                            end: buffer.len(),
                        }
                    }));
                }
                Ok(())
            }
        }
    }
}

/// The key format's encoder and the columns it writes.
struct KeyEncoder {
    encoder: PartEncoder,
    schema: SchemaRef,
    columns: Vec<String>,
}

/// Encodes sink batches into records.
pub(crate) struct MessageEncoder {
    table: String,
    upsert: bool,
    key: Option<KeyEncoder>,
    value: PartEncoder,
    value_schema: SchemaRef,
    value_columns: Vec<String>,
    /// The value format writes row kinds (`debezium-json`).
    value_changelog: bool,
    timestamp: Option<String>,
    headers: Option<String>,
    spans: Vec<Option<Span>>,
}

impl MessageEncoder {
    /// The encoder of a sink's records.
    pub(crate) fn new(options: &SinkOptions) -> EngineResult<MessageEncoder> {
        let config = &options.kafka;
        let error = |e: FormatError| EngineError::Config(format!("table '{}': {e}", options.table));
        let key = match (&config.key, config.key_schema()) {
            (Some(key), Some(schema)) => Some(KeyEncoder {
                encoder: PartEncoder::new(&key.format, &schema).map_err(error)?,
                schema,
                columns: key.columns.clone(),
            }),
            _ => None,
        };
        let value_schema = config.value_schema();
        Ok(MessageEncoder {
            table: options.table.clone(),
            upsert: options.upsert,
            key,
            value: PartEncoder::new(&config.value, &value_schema).map_err(error)?,
            value_changelog: config.value.accepts_updates(),
            value_schema,
            value_columns: config.value_columns.clone(),
            timestamp: options.columns.timestamp.clone(),
            headers: options.columns.headers.clone(),
            spans: Vec::new(),
        })
    }

    /// Encodes `batch` (the sink's columns, then the row kind on an updating stream)
    /// into `out`, replacing what it held.
    pub(crate) fn encode(&mut self, batch: &RecordBatch, out: &mut Encoded) -> EngineResult<()> {
        out.clear();
        let (data, kinds) = split_row_kind(batch).map_err(|e| self.error(e))?;
        let rows = data.num_rows();
        let kind_of = |row: usize| -> RowKind {
            match &kinds {
                Some(k) if !k.is_null(row) => {
                    RowKind::from_i8(k.value(row)).unwrap_or(RowKind::Insert)
                }
                _ => RowKind::Insert,
            }
        };
        let upsert = self.upsert;
        let has_value = |kind: RowKind| !upsert || kind.is_accumulate();

        let mut key_spans = Vec::new();
        if let Some(key) = &mut self.key {
            let key_batch = project(&data, &key.columns, &key.schema)?;
            key.encoder
                .encode(&key_batch, &mut out.keys, &mut self.spans)
                .map_err(|e| EngineError::Config(format!("table '{}': key: {e}", self.table)))?;
            std::mem::swap(&mut key_spans, &mut self.spans);
        }

        // `-U` rows a later row of the same key supersedes (upsert only).
        let mut superseded = Vec::new();
        if upsert && (0..rows).any(|r| kind_of(r) == RowKind::UpdateBefore) {
            superseded = vec![false; rows];
            let mut later = HashSet::new();
            for row in (0..rows).rev() {
                let key = key_spans
                    .get(row)
                    .map(|s| s.map(|s| &out.keys[s.start..s.end]));
                if kind_of(row) == RowKind::UpdateBefore {
                    superseded[row] = later.contains(&key);
                }
                later.insert(key);
            }
        }

        let mut value_batch = project(&data, &self.value_columns, &self.value_schema)?;
        if upsert {
            let mask: BooleanArray = (0..rows).map(|r| Some(has_value(kind_of(r)))).collect();
            if mask.true_count() < rows {
                value_batch = filter_record_batch(&value_batch, &mask)?;
            }
        } else if let (true, Some(k)) = (self.value_changelog, &kinds) {
            value_batch = with_kinds(&value_batch, Arc::new(k.clone()))?;
        }
        self.value
            .encode(&value_batch, &mut out.values, &mut self.spans)
            .map_err(|e| EngineError::Config(format!("table '{}': value: {e}", self.table)))?;

        let timestamps = match &self.timestamp {
            Some(name) => Some(column(&data, name)?),
            None => None,
        };
        if let Some(name) = &self.headers {
            let headers = column(&data, name)?;
            out.headers =
                Some(headers.as_map_opt().cloned().ok_or_else(|| {
                    EngineError::Internal(format!("column '{name}' is not a MAP"))
                })?);
        }
        let mut values = self.spans.iter();
        for row in 0..rows {
            let kind = kind_of(row);
            let value = if has_value(kind) {
                values.next().copied().flatten()
            } else {
                None
            };
            if superseded.get(row).copied().unwrap_or(false) {
                continue;
            }
            out.records.push(Record {
                row,
                key: key_spans.get(row).copied().flatten(),
                value,
                timestamp: timestamps.as_ref().and_then(|t| timestamp_millis(t, row)),
            });
        }
        // Reuse the key spans' allocation next time.
        if key_spans.capacity() > self.spans.capacity() {
            std::mem::swap(&mut key_spans, &mut self.spans);
        }
        Ok(())
    }

    fn error(&self, e: FormatError) -> EngineError {
        EngineError::Config(format!("table '{}': {e}", self.table))
    }
}

/// Encodes `batch` with the line encoder `encoder`, appending to `buffer`, and sets
/// `spans` to one span per row: its line, without the newline.
fn encode_lines(
    encoder: &mut dyn RecordEncoder,
    batch: &RecordBatch,
    buffer: &mut Vec<u8>,
    spans: &mut Vec<Option<Span>>,
) -> Result<(), FormatError> {
    spans.clear();
    let start = buffer.len();
    encoder.encode(batch, buffer)?;
    let mut line_start = start;
    for newline in memchr::memchr_iter(b'\n', &buffer[start..]) {
        let end = start + newline;
        spans.push(Some(Span {
            start: line_start,
            end,
        }));
        line_start = end + 1;
    }
    if spans.len() == batch.num_rows() && line_start == buffer.len() {
        return Ok(());
    }
    // A value spans several lines: one row at a time.
    buffer.truncate(start);
    spans.clear();
    for row in 0..batch.num_rows() {
        let from = buffer.len();
        encoder.encode(&batch.slice(row, 1), buffer)?;
        let mut end = buffer.len();
        if end > from && buffer[end - 1] == b'\n' {
            end -= 1;
        }
        spans.push(Some(Span { start: from, end }));
    }
    Ok(())
}

/// Columns `names` of `data`, as a batch of `schema` (same types, maybe other names).
fn project(data: &RecordBatch, names: &[String], schema: &SchemaRef) -> EngineResult<RecordBatch> {
    let columns = names
        .iter()
        .map(|name| column(data, name))
        .collect::<EngineResult<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Column `name` of a sink batch.
fn column(data: &RecordBatch, name: &str) -> EngineResult<ArrayRef> {
    data.column_by_name(name).cloned().ok_or_else(|| {
        EngineError::Internal(format!(
            "the Kafka sink's input has no column '{name}' (columns: {:?})",
            data.schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
        ))
    })
}

/// `batch` followed by the row-kind column `kinds`.
fn with_kinds(batch: &RecordBatch, kinds: ArrayRef) -> EngineResult<RecordBatch> {
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(ROW_KIND_COLUMN, DataType::Int8, true)));
    let mut columns = batch.columns().to_vec();
    columns.push(kinds);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// A TIMESTAMP or TIMESTAMP_LTZ value in milliseconds since the epoch (a TIMESTAMP
/// without zone is taken as UTC).
fn timestamp_millis(array: &ArrayRef, row: usize) -> Option<i64> {
    if array.is_null(row) {
        return None;
    }
    let DataType::Timestamp(unit, _) = array.data_type() else {
        return None;
    };
    Some(match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row) * 1000,
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(row),
        TimeUnit::Microsecond => array
            .as_primitive::<TimestampMicrosecondType>()
            .value(row)
            .div_euclid(1000),
        TimeUnit::Nanosecond => array
            .as_primitive::<TimestampNanosecondType>()
            .value(row)
            .div_euclid(1_000_000),
    })
}
