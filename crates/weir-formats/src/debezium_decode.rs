//! The `debezium-json` format's decoder: Debezium change events, one JSON envelope per
//! line, read into a changelog (Flink's `DebeziumJsonDeserializationSchema`).
//!
//! An envelope is `{"before": {...}, "after": {...}, "op": "c"}`, or, with
//! `debezium-json.schema-include`, the same object under `"payload"` next to Debezium's
//! `"schema"`. As in Flink:
//!
//! | `op` | rows |
//! |---|---|
//! | `c` (create), `r` (snapshot read) | `after` as `+I` |
//! | `u` (update) | `before` as `-U`, then `after` as `+U` |
//! | `d` (delete) | `before` as `-D` |
//!
//! An update or delete without `before` (a Postgres table without `REPLICA IDENTITY
//! FULL`), a create without `after`, or another `op` is a malformed record: an error
//! naming the line, or skipped and counted with `debezium-json.ignore-parse-errors`.
//! Fields of `before` and `after` are read as the `json` format reads a row (by name,
//! unknown ones ignored, missing ones NULL); other fields of the envelope (`source`,
//! `ts_ms`, `transaction`) are ignored.
//!
//! The decoded batches carry [`ROW_KIND_COLUMN`] as their last column: the format
//! produces an updating stream. Envelopes are decoded columnar by arrow-json into
//! `before`/`after` struct columns; the rows are then picked with one `interleave` per
//! column.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, StructArray};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use weir_types::{RowKind, ROW_KIND_COLUMN};

use crate::error::FormatError;
use crate::json_decode::JsonDecoder;
use crate::lines::is_blank;
use crate::options::{DebeziumJsonOptions, JsonOptions};
use crate::recover::{BulkDecode, Reporting};
use crate::schema::{decode_schema, finish_batch, is_binary};

/// Decodes lines of Debezium JSON envelopes into changelog batches.
pub struct DebeziumJsonDecoder {
    /// The table's columns.
    data_schema: SchemaRef,
    /// The table's columns and the row kind: what `decode` produces.
    schema: SchemaRef,
    /// Decodes the envelopes.
    envelopes: JsonDecoder,
    schema_include: bool,
    lenient: bool,
    reporting: Reporting,
}

impl DebeziumJsonDecoder {
    /// A decoder producing batches of `schema` (the table's columns) followed by the
    /// row-kind column. Fails if a column type cannot be read from JSON.
    pub fn new(
        schema: SchemaRef,
        options: &DebeziumJsonOptions,
    ) -> Result<DebeziumJsonDecoder, FormatError> {
        if let Some(field) = schema.fields().iter().find(|f| f.name() == ROW_KIND_COLUMN) {
            return Err(FormatError::Unsupported(format!(
                "column '{}' is reserved for the row kind of a changelog",
                field.name()
            )));
        }
        // Row images: every field nullable (NOT NULL is checked on the rows picked),
        // BYTES as Base64 text.
        let image = DataType::Struct(
            decode_schema(&schema, |f| is_binary(f.data_type()))
                .fields()
                .clone(),
        );
        let change = Fields::from(vec![
            Field::new("before", image.clone(), true),
            Field::new("after", image, true),
            Field::new("op", DataType::Utf8, true),
        ]);
        let envelope = if options.schema_include {
            Schema::new(vec![Field::new("payload", DataType::Struct(change), true)])
        } else {
            Schema::new(change)
        };
        let json = JsonOptions {
            ignore_parse_errors: options.ignore_parse_errors,
            fail_on_missing_field: false,
            timestamp_standard: options.timestamp_standard,
            ignore_null_fields: false,
        };
        let envelopes = JsonDecoder::new(Arc::new(envelope), json).map_err(|e| match e {
            FormatError::UnsupportedType { .. } => unsupported_column(&schema),
            other => other,
        })?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
        Ok(DebeziumJsonDecoder {
            schema: Arc::new(Schema::new(fields)),
            data_schema: schema,
            envelopes,
            schema_include: options.schema_include,
            lenient: options.ignore_parse_errors,
            reporting: Reporting::new("Debezium JSON", options.ignore_parse_errors, hint),
        })
    }

    /// Sets the number of envelopes decoded per batch.
    pub fn with_batch_size(mut self, batch_size: usize) -> DebeziumJsonDecoder {
        self.envelopes = self.envelopes.with_batch_size(batch_size);
        self
    }

    /// The changelog rows of a batch of decoded envelopes.
    fn rows(&self, envelopes: &RecordBatch) -> Result<RecordBatch, String> {
        let (before, after, op) = if self.schema_include {
            let payload = envelopes.column(0).as_struct();
            if payload.null_count() > 0 {
                return Err(if payload.len() == 1 {
                    "the envelope has no \"payload\" (with 'debezium-json.schema-include' = \
                     'true' the change is expected under \"payload\")"
                        .to_string()
                } else {
                    "an envelope has no \"payload\"".to_string()
                });
            }
            (
                payload.column(0).as_struct(),
                payload.column(1).as_struct(),
                payload.column(2).as_string::<i32>(),
            )
        } else {
            (
                envelopes.column(0).as_struct(),
                envelopes.column(1).as_struct(),
                envelopes.column(2).as_string::<i32>(),
            )
        };
        let images: [&StructArray; 2] = [before, after];
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(op.len() + op.len() / 4);
        let mut kinds: Vec<i8> = Vec::with_capacity(picks.capacity());
        for row in 0..op.len() {
            let has = |image: usize| images[image].is_valid(row);
            let missing = |image: &str, what: &str| {
                format!(
                    "the \"{image}\" of {what} is null; a Debezium Postgres connector needs \
                     the table's REPLICA IDENTITY set to FULL"
                )
            };
            match op.is_valid(row).then(|| op.value(row)) {
                Some("c" | "r") => {
                    if !has(1) {
                        return Err("the \"after\" of a create (\"op\":\"c\") is null".into());
                    }
                    picks.push((1, row));
                    kinds.push(RowKind::Insert as i8);
                }
                Some("u") => {
                    if !has(0) {
                        return Err(missing("before", "an update (\"op\":\"u\")"));
                    }
                    if !has(1) {
                        return Err("the \"after\" of an update (\"op\":\"u\") is null".into());
                    }
                    picks.extend([(0, row), (1, row)]);
                    kinds.extend([RowKind::UpdateBefore as i8, RowKind::UpdateAfter as i8]);
                }
                Some("d") => {
                    if !has(0) {
                        return Err(missing("before", "a delete (\"op\":\"d\")"));
                    }
                    picks.push((0, row));
                    kinds.push(RowKind::Delete as i8);
                }
                Some(other) => {
                    return Err(format!(
                        "unknown \"op\" value \"{other}\" (expected c, r, u or d)"
                    ))
                }
                None if self.schema_include => {
                    return Err("the envelope has no \"payload\".\"op\"".into());
                }
                None => {
                    return Err("the envelope has no \"op\" (if the change is under \
                                \"payload\", set 'debezium-json.schema-include' = 'true')"
                        .into())
                }
            }
        }
        let mut columns = Vec::with_capacity(self.data_schema.fields().len());
        for field in 0..self.data_schema.fields().len() {
            let sources: [&dyn Array; 2] =
                [before.column(field).as_ref(), after.column(field).as_ref()];
            columns.push(interleave(&sources, &picks).map_err(|e| e.to_string())?);
        }
        let data = finish_batch(&self.data_schema, columns, self.lenient)?;
        let mut columns = data.columns().to_vec();
        columns.push(Arc::new(Int8Array::from(kinds)) as ArrayRef);
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| e.to_string())
    }
}

fn hint(_reason: &str) -> String {
    "set 'debezium-json.ignore-parse-errors' = 'true' to skip malformed records".to_string()
}

/// The error for a table with a column JSON cannot hold.
fn unsupported_column(schema: &Schema) -> FormatError {
    let column = schema
        .fields()
        .iter()
        .find(|f| {
            let single = Schema::new(vec![f.as_ref().clone().with_nullable(true)]);
            JsonDecoder::new(Arc::new(single), JsonOptions::default()).is_err()
        })
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .unwrap_or_default();
    FormatError::UnsupportedType {
        format: "debezium-json".into(),
        column: column.0,
        data_type: column.1,
    }
}

impl BulkDecode for DebeziumJsonDecoder {
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String> {
        let envelopes = self.envelopes.try_bulk(bytes, records)?;
        envelopes.iter().map(|b| self.rows(b)).collect()
    }

    fn is_record(&self, line: &[u8]) -> bool {
        !is_blank(line)
    }

    fn decoded_schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn reporting(&self) -> &Reporting {
        &self.reporting
    }

    fn reporting_mut(&mut self) -> &mut Reporting {
        &mut self.reporting
    }
}

#[cfg(test)]
mod tests;
