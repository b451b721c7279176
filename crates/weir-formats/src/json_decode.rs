//! The `json` format's decoder: one JSON object per line, decoded columnar by arrow-json.
//!
//! Like Flink's `json` format: fields are matched by name, case-sensitively; unknown
//! fields are ignored; a missing field is NULL unless `json.fail-on-missing-field` (which
//! checks top-level fields); numbers and booleans are accepted for STRING fields and
//! numeric strings for numeric fields; a value of the wrong type (`"abc"` for an INT) is
//! a parse error; BYTES are Base64 strings; a BOOLEAN may be given as a string, read as
//! Java's `Boolean.parseBoolean` does (module `json_boolean`; only chunks holding
//! such strings take that slower path). Timestamps are read whatever the
//! `json.timestamp-format.standard`: a space or a `T` between date and time, and an
//! optional `Z` or offset, are all accepted (Flink accepts only its standard's form).
//! A line must hold exactly one JSON object; blank lines are skipped.
//!
//! Chunks of flat schemas (no ROW, ARRAY, MAP or BYTES column) are first given to the
//! fast decoder of module `json_fast`, which reads only the columns of the schema and
//! gives up on anything it does not read exactly as arrow-json does; arrow-json then
//! decodes the chunk, so results and errors are arrow-json's either way.

use std::collections::HashMap;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::json::reader::{Decoder, ReaderBuilder};
use arrow::record_batch::RecordBatch;

use crate::error::{arrow_reason, FormatError};
use crate::json_boolean::{booleans_from_text, has_boolean_nulls, text_booleans};
use crate::json_fast::FastDecoder;
use crate::lines::{is_blank, line_spans};
use crate::options::JsonOptions;
use crate::recover::{BulkDecode, Reporting};
use crate::schema::{decode_schema, finish_batch, is_binary};
use crate::DEFAULT_BATCH_SIZE;

const MISSING_FIELD: &str = "could not find field with name";

/// Decodes lines of JSON objects into batches of a given schema.
pub struct JsonDecoder {
    schema: SchemaRef,
    decode_schema: SchemaRef,
    options: JsonOptions,
    reporting: Reporting,
    batch_size: usize,
    /// Reused between chunks; dropped after a failure (its state is then undefined).
    decoder: Option<Decoder>,
    /// `decode_schema` with BOOLEANs read as text, for chunks where a BOOLEAN field holds
    /// a string; `None` when the schema has no BOOLEAN.
    text_schema: Option<SchemaRef>,
    /// The decoder for `text_schema`, built when first needed.
    text_decoder: Option<Decoder>,
    /// The fast decoder tried first, when the schema is flat (`json_fast`).
    fast: Option<FastDecoder>,
    /// Set when [`BulkDecode::bulk_counting`] saw the fast decoder give up on a chunk:
    /// the [`JsonDecoder::try_bulk`] of the same chunk that follows goes straight to
    /// arrow-json instead of trying it again.
    fast_failed: bool,
}

impl JsonDecoder {
    /// A decoder producing batches of `schema`. Fails if a column type cannot be read
    /// from JSON.
    pub fn new(schema: SchemaRef, options: JsonOptions) -> Result<JsonDecoder, FormatError> {
        let decode_schema = decode_schema(&schema, |f| is_binary(f.data_type()));
        for field in decode_schema.fields() {
            if ReaderBuilder::new_with_field(field.clone())
                .build_decoder()
                .is_err()
            {
                return Err(FormatError::UnsupportedType {
                    format: "json".into(),
                    column: field.name().clone(),
                    data_type: field.data_type().to_string(),
                });
            }
        }
        let hint = |reason: &str| {
            if reason.starts_with(MISSING_FIELD) {
                "set 'json.fail-on-missing-field' = 'false' to read missing fields as NULL"
                    .to_string()
            } else {
                "set 'json.ignore-parse-errors' = 'true' to skip malformed records".to_string()
            }
        };
        let fast = if schema.fields().iter().any(|f| is_binary(f.data_type())) {
            None
        } else {
            FastDecoder::new(&decode_schema)
        };
        Ok(JsonDecoder {
            fast,
            fast_failed: false,
            reporting: Reporting::new("JSON", options.ignore_parse_errors, hint),
            schema,
            text_schema: text_booleans(&decode_schema),
            text_decoder: None,
            decode_schema,
            options,
            batch_size: DEFAULT_BATCH_SIZE,
            decoder: None,
        })
    }

    /// Sets the number of rows per produced batch (default [`DEFAULT_BATCH_SIZE`]).
    pub fn with_batch_size(mut self, batch_size: usize) -> JsonDecoder {
        self.batch_size = batch_size.max(1);
        self.decoder = None;
        self.text_decoder = None;
        self
    }

    /// Turns the fast decoder of flat schemas off (`false`) or back on: for comparisons
    /// with arrow-json alone (benchmarks, tests). Results are the same either way.
    pub fn with_fast_path(mut self, enabled: bool) -> JsonDecoder {
        self.fast = if enabled
            && !self
                .schema
                .fields()
                .iter()
                .any(|f| is_binary(f.data_type()))
        {
            FastDecoder::new(&self.decode_schema)
        } else {
            None
        };
        self
    }

    /// Decodes `bytes` with the fast decoder of flat schemas, when it reads the chunk as
    /// arrow-json would (with `records`, exactly that many objects); returns the batches
    /// and the number of line ends. `None` when arrow-json must decode it.
    fn try_fast(
        &mut self,
        bytes: &[u8],
        records: Option<usize>,
    ) -> Option<(Vec<RecordBatch>, u64)> {
        let fast = self.fast.as_mut()?;
        let require_all = self.options.fail_on_missing_field;
        let decoded = fast.decode(bytes, records, self.batch_size, require_all)?;
        let lenient = self.options.ignore_parse_errors;
        // A failure (a NULL in a NOT NULL column) is reported by the usual path.
        let batches = decoded
            .batches
            .into_iter()
            .map(|b| finish_batch(&self.schema, b, lenient))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Some((batches, decoded.newlines))
    }

    /// Decodes `bytes`, exactly `records` JSON objects (one per line), in one pass; any
    /// failure is a reason for the user.
    pub(crate) fn try_bulk(
        &mut self,
        bytes: &[u8],
        records: usize,
    ) -> Result<Vec<RecordBatch>, String> {
        let lenient = self.options.ignore_parse_errors;
        if !std::mem::take(&mut self.fast_failed) {
            if let Some((batches, _)) = self.try_fast(bytes, Some(records)) {
                return Ok(batches);
            }
        }
        if self.options.fail_on_missing_field {
            self.check_fields_present(bytes)?;
        }
        let fast = decode_lines(
            &mut self.decoder,
            &self.decode_schema,
            &self.options,
            self.batch_size,
            bytes,
            records,
        );
        let retry = match (&fast, &self.text_schema) {
            (_, None) => false,
            (Err(_), Some(_)) => true,
            // Leniently decoded, a string given for a BOOLEAN is NULL: look again.
            (Ok(raw), Some(_)) => {
                lenient && raw.iter().flatten().any(|c| has_boolean_nulls(c.as_ref()))
            }
        };
        let raw = match (&self.text_schema, retry) {
            (Some(text_schema), true) => {
                let text = decode_lines(
                    &mut self.text_decoder,
                    text_schema,
                    &self.options,
                    self.batch_size,
                    bytes,
                    records,
                );
                match text {
                    Ok(raw) => raw
                        .iter()
                        .map(|b| self.booleans_from_text(b))
                        .collect::<Result<Vec<_>, String>>()?,
                    Err(_) => fast?,
                }
            }
            _ => fast?,
        };
        raw.into_iter()
            .map(|b| finish_batch(&self.schema, b, lenient))
            .collect()
    }

    /// The columns of a batch decoded with `text_schema`, with the decoded types.
    fn booleans_from_text(&self, columns: &[ArrayRef]) -> Result<Vec<ArrayRef>, String> {
        columns
            .iter()
            .zip(self.decode_schema.fields())
            .map(|(c, f)| {
                booleans_from_text(c, f.data_type())
                    .map_err(|e| format!("whilst decoding field '{}': {e}", f.name()))
            })
            .collect()
    }

    /// `json.fail-on-missing-field`: every top-level field of the schema must be present
    /// (explicit nulls are fine). Lines that are not JSON objects are left to the decoder.
    fn check_fields_present(&self, bytes: &[u8]) -> Result<(), String> {
        for span in line_spans(bytes, 1) {
            let line = &bytes[span.start..span.end];
            if is_blank(line) {
                continue;
            }
            let Ok(keys) = serde_json::from_slice::<HashMap<String, serde::de::IgnoredAny>>(line)
            else {
                continue;
            };
            if let Some(missing) = self
                .schema
                .fields()
                .iter()
                .find(|f| !keys.contains_key(f.name()))
            {
                return Err(format!("{MISSING_FIELD} '{}'", missing.name()));
            }
        }
        Ok(())
    }
}

/// Decodes `bytes` (`records` JSON objects, one per line) with the decoder in `slot`,
/// built for `schema` when the slot is empty and dropped after a failure (its state is
/// then undefined). Returns the decoded columns of each batch.
fn decode_lines(
    slot: &mut Option<Decoder>,
    schema: &SchemaRef,
    options: &JsonOptions,
    batch_size: usize,
    bytes: &[u8],
    records: usize,
) -> Result<Vec<Vec<ArrayRef>>, String> {
    let result = decode_lines_with(slot, schema, options, batch_size, bytes, records);
    if result.is_err() {
        *slot = None;
    }
    result
}

fn decode_lines_with(
    slot: &mut Option<Decoder>,
    schema: &SchemaRef,
    options: &JsonOptions,
    batch_size: usize,
    bytes: &[u8],
    records: usize,
) -> Result<Vec<Vec<ArrayRef>>, String> {
    let decoder = match slot {
        Some(d) => d,
        None => slot.insert(
            ReaderBuilder::new(schema.clone())
                .with_batch_size(batch_size)
                .with_coerce_primitive(true)
                .with_ignore_type_conflicts(options.ignore_parse_errors)
                .build_decoder()
                .map_err(|e| arrow_reason(&e))?,
        ),
    };
    let mut raw = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let read = decoder.decode(rest).map_err(|e| arrow_reason(&e))?;
        rest = &rest[read..];
        if !rest.is_empty() {
            // The batch is full: flush it and go on.
            match decoder.flush().map_err(|e| arrow_reason(&e))? {
                Some(batch) => raw.push(batch),
                None if read == 0 => return Err("the JSON decoder made no progress".into()),
                None => {}
            }
        }
    }
    if decoder.has_partial_record() {
        return Err("incomplete JSON object: the line ends before the object does".into());
    }
    if let Some(batch) = decoder.flush().map_err(|e| arrow_reason(&e))? {
        raw.push(batch);
    }
    let rows: usize = raw.iter().map(RecordBatch::num_rows).sum();
    if rows != records {
        return Err(if records == 1 {
            format!("expected one JSON object on the line, found {rows}")
        } else {
            format!("expected one JSON object per line, found {rows} in {records} lines")
        });
    }
    Ok(raw.into_iter().map(|b| b.columns().to_vec()).collect())
}

impl BulkDecode for JsonDecoder {
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String> {
        self.try_bulk(bytes, records)
    }

    fn bulk_counting(&mut self, bytes: &[u8]) -> Option<(Vec<RecordBatch>, u64)> {
        let decoded = self.try_fast(bytes, None);
        self.fast_failed = decoded.is_none() && self.fast.is_some();
        decoded
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
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::datatypes::{Int32Type, TimestampMillisecondType};

    use super::*;
    use crate::{Decoded, RecordDecoder};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn decoder(options: JsonOptions) -> JsonDecoder {
        let mut d = JsonDecoder::new(schema(), options).unwrap();
        d.set_origin("data/people.json");
        d
    }

    fn ids(decoded: &Decoded) -> Vec<Option<i32>> {
        decoded
            .batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<Int32Type>()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn decodes_lines_ignoring_blank_lines_and_unknown_fields() {
        let input = b"{\"id\":1,\"name\":\"a\",\"extra\":[1]}\n\n  \r\n{\"name\":\"b\"}\n{\"id\":\"3\",\"name\":7}";
        let decoded = decoder(JsonOptions::default()).decode(input, 1).unwrap();
        assert_eq!(ids(&decoded), vec![Some(1), None, Some(3)]);
        let names: &StringArray = decoded.batches[0].column(1).as_string();
        assert_eq!(names.value(2), "7");
        assert_eq!(decoded.skipped, 0);
    }

    #[test]
    fn small_batches() {
        let input = "{\"id\":1}\n".repeat(25);
        let mut d = decoder(JsonOptions::default()).with_batch_size(10);
        let decoded = d.decode(input.as_bytes(), 1).unwrap();
        let sizes: Vec<usize> = decoded.batches.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
    }

    #[test]
    fn malformed_line_is_reported_with_origin_and_line() {
        let input = b"{\"id\":1}\n{\"id\":2}\n\n{\"id\":3,\n{\"id\":4}\n";
        let err = decoder(JsonOptions::default())
            .decode(input, 41)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("data/people.json:44: cannot parse JSON record: "),
            "{err}"
        );
        assert!(err.contains("(record: {\"id\":3,)"), "{err}");
        assert!(err.ends_with("set 'json.ignore-parse-errors' = 'true' to skip malformed records"));
    }

    #[test]
    fn wrong_type_is_a_parse_error() {
        let input = b"{\"id\":1}\n{\"id\":\"abc\"}\n";
        let err = decoder(JsonOptions::default())
            .decode(input, 1)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("data/people.json:2: "), "{err}");
        assert!(err.contains("abc"), "{err}");
    }

    #[test]
    fn two_objects_on_a_line_are_an_error() {
        let err = decoder(JsonOptions::default())
            .decode(b"{\"id\":1}\n{\"id\":2} {\"id\":3}\n", 1)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("data/people.json:2: "), "{err}");
    }

    #[test]
    fn ignore_parse_errors_nulls_bad_values_and_skips_bad_records() {
        let options = JsonOptions {
            ignore_parse_errors: true,
            ..JsonOptions::default()
        };
        let input = b"{\"id\":1}\nnot json\n{\"id\":2}\n{\"id\":\"x\"}\n{\"id\":3}\n[1]\n";
        let decoded = decoder(options).decode(input, 1).unwrap();
        assert_eq!(ids(&decoded), vec![Some(1), Some(2), None, Some(3)]);
        assert_eq!(decoded.skipped, 2);
    }

    #[test]
    fn decoder_recovers_after_an_error() {
        let options = JsonOptions {
            ignore_parse_errors: true,
            ..JsonOptions::default()
        };
        let mut d = decoder(options);
        assert_eq!(d.decode(b"{\"id\":1", 1).unwrap().skipped, 1);
        let decoded = d.decode(b"{\"id\":2}\n", 2).unwrap();
        assert_eq!(ids(&decoded), vec![Some(2)]);
    }

    #[test]
    fn fail_on_missing_field() {
        let input = b"{\"id\":1,\"name\":null}\n{\"id\":2}\n";
        let decoded = decoder(JsonOptions::default()).decode(input, 1).unwrap();
        assert_eq!(decoded.num_rows(), 2);
        let options = JsonOptions {
            fail_on_missing_field: true,
            ..JsonOptions::default()
        };
        let err = decoder(options).decode(input, 1).unwrap_err().to_string();
        assert!(err.starts_with("data/people.json:2: "), "{err}");
        assert!(
            err.contains("could not find field with name 'name'"),
            "{err}"
        );
        assert!(err.contains("json.fail-on-missing-field"), "{err}");
    }

    #[test]
    fn not_null_fields_are_checked() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false)]));
        let mut d = JsonDecoder::new(schema, JsonOptions::default()).unwrap();
        let err = d
            .decode(b"{\"id\":1}\n{\"id\":null}\n", 1)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("<input>:2: "), "{err}");
        assert!(err.contains("field 'id' is declared NOT NULL"), "{err}");
        let ok = d.decode(b"{\"id\":1}\n", 1).unwrap();
        assert!(!ok.batches[0].schema().field(0).is_nullable());
        let ids: &Int32Array = ok.batches[0].column(0).as_primitive();
        assert_eq!(ids.value(0), 1);
    }

    #[test]
    fn timestamps_in_both_standards_and_bytes_as_base64() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new(
                "ltz",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("b", DataType::Binary, true),
            Field::new("d", DataType::Date32, true),
        ]));
        let mut d = JsonDecoder::new(schema, JsonOptions::default()).unwrap();
        let input = br#"{"ts":"2024-01-01 10:00:00.123","ltz":"2024-01-01 10:00:00Z","b":"aGk=","d":"2024-01-02"}
{"ts":"2024-01-01T10:00:00.5","ltz":"2024-01-01T10:00:00.001Z","b":null,"d":null}"#;
        let decoded = d.decode(input, 1).unwrap();
        let b = &decoded.batches[0];
        let ts = b.column(0).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_704_103_200_123);
        assert_eq!(ts.value(1), 1_704_103_200_500);
        let ltz = b.column(1).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ltz.value(1), 1_704_103_200_001);
        assert_eq!(b.column(2).as_binary::<i32>().value(0), b"hi");
        assert!(b.column(2).is_null(1));
        let err = d.decode(b"{\"b\":\"%%%\"}", 7).unwrap_err().to_string();
        assert!(
            err.starts_with("<input>:7: ") && err.contains("Base64"),
            "{err}"
        );
    }

    fn booleans(decoded: &Decoded, column: usize) -> Vec<Option<bool>> {
        decoded
            .batches
            .iter()
            .flat_map(|b| b.column(column).as_boolean().iter().collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn booleans_given_as_strings() {
        let row = DataType::Struct(vec![Field::new("ok", DataType::Boolean, true)].into());
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("r", row, true),
        ]));
        let input = br#"{"id":1,"b":"true","r":{"ok":" TRUE "}}
{"id":2,"b":"FALSE","r":{"ok":false}}
{"id":3,"b":true,"r":null}
{"id":4,"b":"yes","r":{"ok":"true"}}
{"id":5,"b":null}"#;
        let expected = vec![Some(true), Some(false), Some(true), Some(false), None];
        for lenient in [false, true] {
            let options = JsonOptions {
                ignore_parse_errors: lenient,
                ..JsonOptions::default()
            };
            let mut d = JsonDecoder::new(schema.clone(), options).unwrap();
            let decoded = d.decode(input, 1).unwrap();
            assert_eq!(booleans(&decoded, 1), expected, "lenient: {lenient}");
            let rows = &decoded.batches[0];
            let ok = rows.column(2).as_struct().column(0).as_boolean();
            assert!(ok.value(0));
            assert!(ok.value(3));
            assert_eq!(decoded.skipped, 0);
            // The fast path still serves chunks of JSON booleans after the slow one.
            let again = d.decode(b"{\"id\":6,\"b\":false}\n", 6).unwrap();
            assert_eq!(booleans(&again, 1), vec![Some(false)]);
        }
        // A value of another type is still reported, on its own line.
        let mut d = JsonDecoder::new(schema, JsonOptions::default()).unwrap();
        let err = d
            .decode(b"{\"b\":\"true\"}\n{\"id\":\"x\"}\n", 1)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("<input>:2: "), "{err}");
    }

    #[test]
    fn unsupported_type_is_refused_at_creation() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "u",
            DataType::Interval(arrow::datatypes::IntervalUnit::YearMonth),
            true,
        )]));
        let err = JsonDecoder::new(schema, JsonOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("column 'u'"), "{err}");
    }
}
