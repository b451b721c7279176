//! `upsert-kafka` records to rows (Flink's semantics): every record is about its key, the
//! table's PRIMARY KEY.
//!
//! - A record with a value is an upsert: a `+U` row, its key columns from the key and
//!   the others from the value.
//! - A record without a value (a tombstone) deletes its key: a `-D` row with the key
//!   columns set and the others null.
//! - A record without a key says nothing about any key: it is dropped and counted in
//!   `records_skipped` (Flink's source drops it silently: its key format gives no row),
//!   with a warning the first time.
//!
//! Rows keep the records' offset order (an upsert and a later tombstone of the same key in
//! one run must stay in that order). The planner puts a ChangelogNormalize after the
//! source, keyed by the PRIMARY KEY, which turns these rows into a changelog with full
//! retractions.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, Int8Array, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_formats::DecodedMessages;
use weir_types::{EngineError, EngineResult, RowKind, ROW_KIND_COLUMN};

use super::decode::{decode_keys, one_batch, Part, RunDecoder};
use super::metadata::Record;

impl RunDecoder {
    /// The rows of `records` (a run of one partition) of an `upsert-kafka` table, ending
    /// with the row kind; `None` when they give no row.
    pub(super) fn decode_upsert_run<R: Record>(
        &mut self,
        records: &[R],
    ) -> EngineResult<Option<RecordBatch>> {
        let Some(first) = records.first() else {
            return Ok(None);
        };
        let origin = format!("topic '{}' partition {}", first.topic(), first.partition());
        self.drop_keyless(records);
        // Values of the keyed records that have one.
        let with_value: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].key().is_some() && records[i].payload().is_some())
            .collect();
        let mut value_rows_of: Vec<Vec<u32>> = vec![Vec::new(); records.len()];
        let value = if with_value.is_empty() {
            RecordBatch::new_empty(self.value.decoder.schema().clone())
        } else {
            let payloads: Vec<&[u8]> = with_value
                .iter()
                .map(|&i| records[i].payload().unwrap_or_default())
                .collect();
            self.value.decoder.set_origin(&origin);
            let DecodedMessages {
                batches,
                row_messages,
                bad,
            } = self.value.decoder.decode_messages(&payloads).map_err(|e| {
                EngineError::BadData(format!("table '{}': {origin}: {e}", self.table))
            })?;
            for b in &bad {
                self.on_bad_record(Part::Value, &records[with_value[b.index]], &b.error)?;
            }
            for (row, &m) in row_messages.iter().enumerate() {
                value_rows_of[with_value[m as usize]].push(row as u32);
            }
            one_batch(self.value.decoder.schema(), batches)?
        };
        // The rows, in offset order: (record, its value row; `None` for a tombstone).
        let mut row_records: Vec<usize> = Vec::new();
        let mut value_rows: Vec<Option<u32>> = Vec::new();
        for (i, record) in records.iter().enumerate() {
            if record.key().is_none() {
                continue;
            }
            if record.payload().is_none() {
                row_records.push(i);
                value_rows.push(None);
            } else {
                for &row in &value_rows_of[i] {
                    row_records.push(i);
                    value_rows.push(Some(row));
                }
            }
        }
        if row_records.is_empty() {
            return Ok(None);
        }
        let key_decoder = self.key.as_mut().ok_or_else(|| {
            EngineError::Internal(format!(
                "table '{}': an upsert-kafka table without a key format",
                self.table
            ))
        })?;
        let keys = decode_keys(key_decoder, records, &row_records, &origin, &self.table)?;
        let mut bad_key = vec![false; records.len()];
        for (record, error) in &keys.bad {
            self.on_bad_record(Part::Key, &records[*record], error)?;
            bad_key[*record] = true;
        }
        // Rows whose record has a malformed key are dropped with it.
        let keep: Vec<usize> = (0..row_records.len())
            .filter(|&r| !bad_key[row_records[r]] && keys.rows[r].is_some())
            .collect();
        if keep.is_empty() {
            return Ok(None);
        }
        let key_indices: UInt32Array = keep.iter().map(|&r| keys.rows[r]).collect();
        let key_columns = keys
            .batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &key_indices, None))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let key = RecordBatch::try_new(keys.batch.schema(), key_columns)?;
        let value_indices: UInt32Array = keep.iter().map(|&r| value_rows[r]).collect();
        let kinds: Int8Array = keep
            .iter()
            .map(|&r| {
                Some(match value_rows[r] {
                    Some(_) => RowKind::UpdateAfter as i8,
                    None => RowKind::Delete as i8,
                })
            })
            .collect();
        let value = with_kinds(&value, &value_indices, kinds)?;
        let row_records: Vec<usize> = keep.iter().map(|&r| row_records[r]).collect();
        let batch = self
            .plan
            .assemble(&value, Some(&key), records, &row_records)?;
        Ok(Some(batch))
    }

    /// Drops and counts the records without a key; warns the first time.
    fn drop_keyless<R: Record>(&mut self, records: &[R]) {
        let keyless: Vec<&R> = records.iter().filter(|r| r.key().is_none()).collect();
        let Some(first) = keyless.first() else {
            return;
        };
        for _ in &keyless {
            self.dirty.skip();
        }
        if !self.warned_keyless {
            self.warned_keyless = true;
            tracing::warn!(
                "table '{}': topic '{}' partition {} offset {} has no key: an upsert-kafka \
                 table reads each record as the upsert or the deletion of its key, so records \
                 without a key are dropped (and counted in records_skipped), as in Flink; \
                 write the PRIMARY KEY as the message key",
                self.table,
                first.topic(),
                first.partition(),
                first.offset()
            );
        }
    }
}

/// The value rows `indices` (null for a tombstone: every value column null), nullable,
/// followed by the row-kind column `kinds`.
fn with_kinds(
    value: &RecordBatch,
    indices: &UInt32Array,
    kinds: Int8Array,
) -> EngineResult<RecordBatch> {
    let rows = indices.len();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in value.schema().fields().iter().zip(value.columns()) {
        fields.push(field.as_ref().clone().with_nullable(true));
        columns.push(if value.num_rows() == 0 {
            new_null_array(field.data_type(), rows)
        } else {
            take(column.as_ref(), indices, None)?
        });
    }
    fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    columns.push(Arc::new(kinds));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
