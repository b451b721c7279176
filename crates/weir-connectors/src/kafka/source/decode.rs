//! Decoding a run of records of one partition into one batch of the table: the values
//! (and keys) decoded columnar by the formats' message decoders, the metadata columns
//! built from the records, and what happens to a malformed record.
//!
//! A record without a value (a tombstone) gives no row, as in Flink's `kafka` source. A
//! record without a key gives null key columns. Until the dirty-data policy lands,
//! a malformed key or value fails the job with an error naming the table, topic,
//! partition, offset and parse error, or is skipped and counted in `records_skipped`
//! when the format's `ignore-parse-errors` is true ([`RunDecoder::on_bad_record`]).

use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use weir_formats::{DecodedMessages, FormatError, MessageDecoder};
use weir_runtime::JobMetrics;
use weir_types::{EngineError, EngineResult};

use super::metadata::{Record, RowPlan};
use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::filesystem::format_error;
use crate::kafka::config::KafkaConfig;

/// Which part of a record a decoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Key,
    Value,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
    }
}

/// A format's message decoder with what its malformed messages do.
struct PartDecoder {
    decoder: Box<dyn MessageDecoder>,
    /// `<format>.ignore-parse-errors` of this part.
    ignore_errors: bool,
    /// The option that says so, as the table writes it (for messages).
    ignore_option: String,
}

/// Decodes runs of records of a table's partitions.
pub(crate) struct RunDecoder {
    table: String,
    value: PartDecoder,
    key: Option<PartDecoder>,
    plan: RowPlan,
    metrics: Arc<JobMetrics>,
}

impl RunDecoder {
    /// The decoders of `table`'s key and value formats and its row plan.
    pub(crate) fn new(
        table: &TableDescriptor,
        config: &KafkaConfig,
        plan: RowPlan,
        metrics: Arc<JobMetrics>,
    ) -> Result<RunDecoder, ConnectorError> {
        let value_prefix = if table.options.contains_key("value.format") {
            "value."
        } else {
            ""
        };
        let value = PartDecoder {
            decoder: config
                .value
                .message_decoder(config.value_schema())
                .map_err(|e| format_error(table, e))?,
            ignore_errors: config.value.ignores_parse_errors(),
            ignore_option: format!("{value_prefix}{}.ignore-parse-errors", config.value.name()),
        };
        let key = match (&config.key, config.key_schema()) {
            (Some(key), Some(schema)) => {
                if key.format.produces_changelog() {
                    return Err(ConnectorError::InvalidOption {
                        table: table.name.clone(),
                        option: "key.format".into(),
                        value: key.format.name().into(),
                        reason: "a key format reads plain rows only (not a changelog), as in Flink"
                            .into(),
                    });
                }
                Some(PartDecoder {
                    decoder: key
                        .format
                        .message_decoder(schema)
                        .map_err(|e| format_error(table, e))?,
                    ignore_errors: key.format.ignores_parse_errors(),
                    ignore_option: format!("key.{}.ignore-parse-errors", key.format.name()),
                })
            }
            _ => None,
        };
        Ok(RunDecoder {
            table: table.name.clone(),
            value,
            key,
            plan,
            metrics,
        })
    }

    /// The table's rows of `records` (a run of one partition, in offset order); `None`
    /// when they give no row.
    pub(crate) fn decode<R: Record>(&mut self, records: &[R]) -> EngineResult<Option<RecordBatch>> {
        let Some(first) = records.first() else {
            return Ok(None);
        };
        let origin = format!("topic '{}' partition {}", first.topic(), first.partition());
        // Values: records without one (tombstones) give no row.
        let with_value: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].payload().is_some())
            .collect();
        if with_value.is_empty() {
            return Ok(None);
        }
        let payloads: Vec<&[u8]> = with_value
            .iter()
            .map(|&i| records[i].payload().unwrap_or_default())
            .collect();
        self.value.decoder.set_origin(&origin);
        let decoded =
            self.value.decoder.decode_messages(&payloads).map_err(|e| {
                EngineError::BadData(format!("table '{}': {origin}: {e}", self.table))
            })?;
        let DecodedMessages {
            batches,
            row_messages,
            bad,
        } = decoded;
        for b in &bad {
            self.on_bad_record(Part::Value, &records[with_value[b.index]], &b.error)?;
        }
        // Row r of the values comes from record `row_records[r]`.
        let mut row_records: Vec<usize> = row_messages
            .iter()
            .map(|&m| with_value[m as usize])
            .collect();
        if row_records.is_empty() {
            return Ok(None);
        }
        let mut value = one_batch(self.value.decoder.schema(), batches)?;
        let key = match self.key.as_mut() {
            None => None,
            Some(key_decoder) => {
                let keys = decode_keys(key_decoder, records, &row_records, &origin, &self.table)?;
                let mut bad_key = vec![false; records.len()];
                for (record, error) in &keys.bad {
                    self.on_bad_record(Part::Key, &records[*record], error)?;
                    bad_key[*record] = true;
                }
                let mut key_rows = keys.rows;
                if !keys.bad.is_empty() {
                    // Rows whose record has a malformed key are skipped with it.
                    let keep: Vec<u32> = (0..row_records.len())
                        .filter(|&r| !bad_key[row_records[r]])
                        .map(|r| r as u32)
                        .collect();
                    value = take_record_batch(&value, &UInt32Array::from(keep.clone()))?;
                    row_records = keep.iter().map(|&r| row_records[r as usize]).collect();
                    key_rows = keep.iter().map(|&r| key_rows[r as usize]).collect();
                }
                if row_records.is_empty() {
                    return Ok(None);
                }
                let indices: UInt32Array = key_rows.into_iter().collect();
                Some(take_record_batch(&keys.batch, &indices)?)
            }
        };
        let batch = self
            .plan
            .assemble(&value, key.as_ref(), records, &row_records)?;
        Ok(Some(batch))
    }

    /// A malformed key or value: fails the job, naming the table, topic, partition,
    /// offset and the parse error, or skips the record and counts it when the part's
    /// format ignores parse errors. The dirty-data policy module replaces this.
    fn on_bad_record<R: Record>(
        &self,
        part: Part,
        record: &R,
        error: &FormatError,
    ) -> EngineResult<()> {
        let decoder = match part {
            Part::Key => self.key.as_ref().unwrap_or(&self.value),
            Part::Value => &self.value,
        };
        if decoder.ignore_errors {
            JobMetrics::add(&self.metrics.records_skipped, 1);
            return Ok(());
        }
        let what = match error {
            FormatError::BadRecord {
                format,
                reason,
                record,
                ..
            } => format!("cannot parse it as {format}: {reason} (record: {record})"),
            other => other.to_string(),
        };
        Err(EngineError::BadData(format!(
            "table '{}': malformed {} in topic '{}' partition {} at offset {}: {what}; set '{}' = \
             'true' to skip malformed records",
            self.table,
            part.name(),
            record.topic(),
            record.partition(),
            record.offset(),
            decoder.ignore_option
        )))
    }
}

/// Keys decoded for the rows of a run.
struct DecodedKeys {
    /// The decoded keys.
    batch: RecordBatch,
    /// For each row, the index of its key in `batch`; `None` when the record has no key
    /// (its key columns are null).
    rows: Vec<Option<u32>>,
    /// The records whose key is malformed, with the error.
    bad: Vec<(usize, FormatError)>,
}

/// Decodes the keys of the records of `row_records`.
fn decode_keys<R: Record>(
    key: &mut PartDecoder,
    records: &[R],
    row_records: &[usize],
    origin: &str,
    table: &str,
) -> EngineResult<DecodedKeys> {
    // Each record with rows, once, in order (a changelog value may give a record 2 rows).
    let mut with_key: Vec<usize> = Vec::new();
    for &r in row_records {
        if records[r].key().is_some() && with_key.last() != Some(&r) {
            with_key.push(r);
        }
    }
    let payloads: Vec<&[u8]> = with_key
        .iter()
        .map(|&r| records[r].key().unwrap_or_default())
        .collect();
    key.decoder.set_origin(&format!("{origin} (key)"));
    let decoded = key
        .decoder
        .decode_messages(&payloads)
        .map_err(|e| EngineError::BadData(format!("table '{table}': {origin} (key): {e}")))?;
    let bad = decoded
        .bad
        .into_iter()
        .map(|b| (with_key[b.index], b.error))
        .collect();
    // The key row of each record (a key format gives one row per good message).
    let mut key_row_of = vec![None; records.len()];
    for (row, &m) in decoded.row_messages.iter().enumerate() {
        key_row_of[with_key[m as usize]] = Some(row as u32);
    }
    Ok(DecodedKeys {
        batch: one_batch(key.decoder.schema(), decoded.batches)?,
        rows: row_records.iter().map(|&r| key_row_of[r]).collect(),
        bad,
    })
}

/// The decoded batches as one batch of `schema`.
fn one_batch(schema: &SchemaRef, mut batches: Vec<RecordBatch>) -> EngineResult<RecordBatch> {
    if batches.len() == 1 {
        if let Some(batch) = batches.pop() {
            return Ok(batch);
        }
    }
    Ok(concat_batches(schema, &batches)?)
}
