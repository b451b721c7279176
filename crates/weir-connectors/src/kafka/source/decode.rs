//! Decoding a run of records of one partition into one batch of the table: the values
//! (and keys) decoded columnar by the formats' message decoders, the metadata columns
//! built from the records, and what happens to a malformed record.
//!
//! A record without a value (a tombstone) gives no row, as in Flink's `kafka` source. A
//! record without a key gives null key columns. A malformed key or value goes to the
//! table's dirty-data policy ([`crate::dirty`]) with its topic, partition, offset, raw
//! bytes and parse error: the job fails, or the record is skipped or dead-lettered
//! (written before any later row of its partition is emitted). A part whose format has
//! `ignore-parse-errors` = `'true'` skips its malformed records whatever the policy
//! (which is then `skip` unless the other part fails, see
//! [`crate::dirty::DirtyDataPolicy::read_with`]).

use arrow::array::UInt32Array;
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use weir_formats::{DecodedMessages, FormatError, MessageDecoder, ReadColumns};
use weir_types::{EngineError, EngineResult};

use super::metadata::{Record, RowPlan};
use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::dirty::{BadRecord, DirtyDataHandler};
use crate::filesystem::format_error;
use crate::kafka::config::KafkaConfig;

/// Which part of a record a decoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Key,
    Value,
}

/// A format's message decoder with what its malformed messages do.
pub(super) struct PartDecoder {
    pub(super) decoder: Box<dyn MessageDecoder>,
    /// `<format>.ignore-parse-errors` of this part.
    ignore_errors: bool,
}

/// Decodes runs of records of a table's partitions.
pub(crate) struct RunDecoder {
    pub(super) table: String,
    pub(super) value: PartDecoder,
    pub(super) key: Option<PartDecoder>,
    pub(super) plan: RowPlan,
    pub(super) dirty: DirtyDataHandler,
    /// `upsert-kafka`: records are upserts and tombstones of their key
    /// ([`RunDecoder::decode_upsert_run`]).
    pub(super) upsert: bool,
    /// Records without a key were met (an `upsert-kafka` table drops them).
    pub(super) warned_keyless: bool,
}

impl RunDecoder {
    /// The decoders of `table`'s key and value formats and its row plan; `value_read`
    /// marks the value's columns a job reads (`None`: all of them; the others may be
    /// left NULL, see [`weir_formats::FormatConfig::decoder_reading`]).
    pub(crate) fn new(
        table: &TableDescriptor,
        config: &KafkaConfig,
        plan: RowPlan,
        dirty: DirtyDataHandler,
        value_read: Option<&ReadColumns>,
    ) -> Result<RunDecoder, ConnectorError> {
        let value = PartDecoder {
            decoder: config
                .value
                .message_decoder_reading(config.value_schema(), value_read)
                .map_err(|e| format_error(table, e))?,
            ignore_errors: config.value.ignores_parse_errors(),
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
                })
            }
            _ => None,
        };
        Ok(RunDecoder {
            table: table.name.clone(),
            value,
            key,
            plan,
            dirty,
            upsert: false,
            warned_keyless: false,
        })
    }

    /// The decoder of an `upsert-kafka` table.
    pub(crate) fn upsert(mut self) -> RunDecoder {
        self.upsert = true;
        self
    }

    /// Makes the dead-lettered records durable (before a checkpoint's snapshot).
    pub(crate) fn flush(&mut self) -> EngineResult<()> {
        self.dirty.flush()
    }

    /// The table's rows of `records` (a run of one partition, in offset order); `None`
    /// when they give no row.
    fn decode_run<R: Record>(&mut self, records: &[R]) -> EngineResult<Option<RecordBatch>> {
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

    /// Decodes `records` ([`RunDecoder::decode_run`]), then makes the records it
    /// dead-lettered durable before any row is emitted.
    pub(crate) fn decode<R: Record>(&mut self, records: &[R]) -> EngineResult<Option<RecordBatch>> {
        let batch = if self.upsert {
            self.decode_upsert_run(records)?
        } else {
            self.decode_run(records)?
        };
        self.dirty.flush()?;
        Ok(batch)
    }

    /// A malformed key or value, handed to the dirty-data policy (or skipped when its
    /// part's format ignores parse errors).
    pub(super) fn on_bad_record<R: Record>(
        &mut self,
        part: Part,
        record: &R,
        error: &FormatError,
    ) -> EngineResult<()> {
        let ignores = match part {
            Part::Key => self.key.as_ref().is_some_and(|k| k.ignore_errors),
            Part::Value => self.value.ignore_errors,
        };
        if ignores {
            self.dirty.skip();
            return Ok(());
        }
        let (raw, key_error) = match part {
            Part::Key => (record.key().unwrap_or_default(), Some(in_key(error))),
            Part::Value => (record.payload().unwrap_or_default(), None),
        };
        let bad = BadRecord {
            raw,
            source: record.topic(),
            partition: Some(record.partition()),
            offset: Some(record.offset()),
            line: None,
            error: key_error.as_ref().unwrap_or(error),
        };
        self.dirty.on_bad_message(&bad, record.key())
    }
}

/// A key's parse error, its reason saying that the key is malformed.
fn in_key(error: &FormatError) -> FormatError {
    match error {
        FormatError::BadRecord {
            origin,
            line,
            format,
            reason,
            record,
            hint,
        } => FormatError::BadRecord {
            origin: origin.clone(),
            line: *line,
            format,
            reason: format!("malformed key: {reason}"),
            record: record.clone(),
            hint: hint.clone(),
        },
        other => FormatError::BadRecord {
            origin: String::new(),
            line: 0,
            format: "key",
            reason: format!("malformed key: {}", other.reason()),
            record: String::new(),
            hint: String::new(),
        },
    }
}

/// Keys decoded for the rows of a run.
pub(super) struct DecodedKeys {
    /// The decoded keys.
    pub(super) batch: RecordBatch,
    /// For each row, the index of its key in `batch`; `None` when the record has no key
    /// (its key columns are null).
    pub(super) rows: Vec<Option<u32>>,
    /// The records whose key is malformed, with the error.
    pub(super) bad: Vec<(usize, FormatError)>,
}

/// Decodes the keys of the records of `row_records`.
pub(super) fn decode_keys<R: Record>(
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
pub(super) fn one_batch(
    schema: &SchemaRef,
    mut batches: Vec<RecordBatch>,
) -> EngineResult<RecordBatch> {
    if batches.len() == 1 {
        if let Some(batch) = batches.pop() {
            return Ok(batch);
        }
    }
    Ok(concat_batches(schema, &batches)?)
}
