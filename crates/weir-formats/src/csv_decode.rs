//! The `csv` format's decoder: one record per line, no header, split by arrow-csv.
//!
//! Fields are first read as text (arrow-csv), then converted column by column with
//! Arrow's cast kernels, which gives Flink's semantics for empty fields: an empty STRING
//! field is the empty string, and `csv.null-literal` (if set) is NULL. Other types are
//! trimmed, and an empty field is NULL (Flink fails on it). A value that does not parse
//! as its column's type, or a record with the wrong number of fields, is a parse error.
//! With `csv.ignore-parse-errors`, as in Flink, such a value becomes NULL and missing
//! trailing fields are NULL; a record with too many fields is skipped and counted (Flink
//! ignores the extra fields).
//! BYTES are Base64. Records cannot span lines (a quoted field cannot hold a line
//! break); empty lines, and with `csv.allow-comments` lines starting with `#`, are skipped.

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::compute::{can_cast_types, cast_with_options, CastOptions};
use arrow::csv::reader::ReaderBuilder;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use regex::Regex;

use crate::error::{arrow_reason, FormatError};
use crate::options::CsvOptions;
use crate::recover::{BulkDecode, Reporting};
use crate::schema::{decode_schema, finish_batch, is_binary};
use crate::DEFAULT_BATCH_SIZE;

/// Decodes lines of delimited records into batches of a given schema.
pub struct CsvDecoder {
    schema: SchemaRef,
    text_schema: SchemaRef,
    options: CsvOptions,
    null_regex: Regex,
    reporting: Reporting,
    batch_size: usize,
}

impl CsvDecoder {
    /// A decoder producing batches of `schema`. Fails if a column type cannot be read
    /// from CSV (nested types: ROW, ARRAY, MAP).
    pub fn new(schema: SchemaRef, options: CsvOptions) -> Result<CsvDecoder, FormatError> {
        for field in schema.fields() {
            let dt = field.data_type();
            if dt.is_nested() || !(is_binary(dt) || can_cast_types(&DataType::Utf8, dt)) {
                return Err(FormatError::UnsupportedType {
                    format: "csv".into(),
                    column: field.name().clone(),
                    data_type: dt.to_string(),
                });
            }
        }
        let pattern = match &options.null_literal {
            Some(literal) => format!("^{}$", regex::escape(literal)),
            // Matches nothing: without a null literal every field is a value.
            None => r".\A".to_string(),
        };
        let null_regex = Regex::new(&pattern).map_err(|e| FormatError::InvalidOption {
            option: "csv.null-literal".into(),
            value: options.null_literal.clone().unwrap_or_default(),
            reason: e.to_string(),
        })?;
        let hint = |_: &str| {
            "set 'csv.ignore-parse-errors' = 'true' to skip malformed records".to_string()
        };
        Ok(CsvDecoder {
            text_schema: decode_schema(&schema, |_| true),
            reporting: Reporting::new("CSV", options.ignore_parse_errors, hint),
            schema,
            options,
            null_regex,
            batch_size: DEFAULT_BATCH_SIZE,
        })
    }

    /// Sets the number of rows per produced batch (default [`DEFAULT_BATCH_SIZE`]).
    pub fn with_batch_size(mut self, batch_size: usize) -> CsvDecoder {
        self.batch_size = batch_size.max(1);
        self
    }

    fn text_batches(&self, bytes: &[u8]) -> Result<Vec<RecordBatch>, String> {
        let o = &self.options;
        let mut builder = ReaderBuilder::new(self.text_schema.clone())
            .with_header(false)
            .with_delimiter(o.field_delimiter)
            // arrow-csv cannot turn quoting off: a NUL byte never occurs in text.
            .with_quote(o.quote_character.unwrap_or(0))
            .with_batch_size(self.batch_size)
            .with_truncated_rows(o.ignore_parse_errors)
            .with_null_regex(self.null_regex.clone());
        if let Some(escape) = o.escape_character {
            builder = builder.with_escape(escape);
        }
        if o.allow_comments {
            builder = builder.with_comment(b'#');
        }
        let mut decoder = builder.build_decoder();
        let reason = |e: arrow::error::ArrowError| field_count_reason(arrow_reason(&e));
        let mut batches = Vec::new();
        let mut rest = bytes;
        loop {
            let read = decoder.decode(rest).map_err(reason)?;
            rest = &rest[read..];
            if rest.is_empty() {
                break;
            }
            match decoder.flush().map_err(reason)? {
                Some(batch) => batches.push(batch),
                None if read == 0 => return Err("the CSV decoder made no progress".into()),
                None => {}
            }
        }
        if decoder.capacity() == 0 {
            batches.extend(decoder.flush().map_err(reason)?);
        }
        // End of input: ends a last record that has no line break.
        decoder.decode(&[]).map_err(reason)?;
        batches.extend(decoder.flush().map_err(reason)?);
        Ok(batches)
    }

    /// Whether a line leaves a quoted field open (an odd number of quotes; doubled quotes
    /// inside a field count twice). Not checked with an escape character.
    fn has_open_quote(&self, line: &[u8]) -> bool {
        match (self.options.quote_character, self.options.escape_character) {
            (Some(quote), None) => line.iter().filter(|b| **b == quote).count() % 2 == 1,
            _ => false,
        }
    }

    fn convert(&self, text: &RecordBatch) -> Result<RecordBatch, String> {
        let mut columns = Vec::with_capacity(text.num_columns());
        let lenient = self.options.ignore_parse_errors;
        let cast_options = CastOptions {
            // Lenient: a value that does not parse becomes NULL, as in Flink.
            safe: lenient,
            ..CastOptions::default()
        };
        for (field, column) in self.schema.fields().iter().zip(text.columns()) {
            let target = field.data_type();
            let converted: ArrayRef = match target {
                DataType::Utf8 => column.clone(),
                t if is_binary(t) => column.clone(),
                DataType::LargeUtf8 | DataType::Utf8View => {
                    cast_with_options(column, target, &cast_options)
                        .map_err(|e| arrow_reason(&e))?
                }
                _ => {
                    let trimmed: StringArray = column
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.map(str::trim).filter(|s| !s.is_empty()))
                        .collect();
                    cast_with_options(&trimmed, target, &cast_options)
                        .map_err(|e| format!("field '{}': {}", field.name(), arrow_reason(&e)))?
                }
            };
            columns.push(converted);
        }
        finish_batch(&self.schema, columns, lenient)
    }
}

/// arrow-csv numbers lines from the start of what it was given, which is not the file:
/// keep only the counts.
fn field_count_reason(reason: String) -> String {
    match (
        reason.find("incorrect number of fields"),
        reason.find("expected "),
    ) {
        (Some(_), Some(at)) => format!("incorrect number of fields: {}", &reason[at..]),
        _ => reason,
    }
}

impl BulkDecode for CsvDecoder {
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String> {
        if records == 1 && self.has_open_quote(bytes) {
            return Err("unterminated quoted field: a record cannot span lines".into());
        }
        let text = self.text_batches(bytes)?;
        let rows: usize = text.iter().map(RecordBatch::num_rows).sum();
        if rows != records {
            return Err(format!(
                "expected {records} record(s), found {rows}: a record cannot span lines"
            ));
        }
        text.iter().map(|b| self.convert(b)).collect()
    }

    fn is_record(&self, line: &[u8]) -> bool {
        match line.first() {
            None => false,
            Some(b'#') => !self.options.allow_comments,
            Some(_) => true,
        }
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

    use arrow::array::{Array, BooleanArray, Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Int64Type, Schema, TimeUnit};

    use super::*;
    use crate::{Decoded, RecordDecoder};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ok", DataType::Boolean, true),
        ]))
    }

    fn decoder(options: CsvOptions) -> CsvDecoder {
        let mut d = CsvDecoder::new(schema(), options).unwrap();
        d.set_origin("in.csv");
        d
    }

    fn one_batch(decoded: &Decoded) -> RecordBatch {
        arrow::compute::concat_batches(&schema(), &decoded.batches).unwrap()
    }

    #[test]
    fn decodes_records_with_flink_empty_field_rules() {
        let input = b"1,Alice,true\n\n2,,false\r\n 3 ,\"x, \"\"y\"\"\",\n4,,";
        let batch = one_batch(&decoder(CsvOptions::default()).decode(input, 1).unwrap());
        let ids: &Int64Array = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![1, 2, 3, 4]);
        let names = batch.column(1).as_string::<i32>();
        assert_eq!(names.value(1), "");
        assert!(!names.is_null(1));
        assert_eq!(names.value(2), "x, \"y\"");
        let oks: &BooleanArray = batch.column(2).as_boolean();
        assert!(oks.value(0) && !oks.value(1) && oks.is_null(2));
    }

    #[test]
    fn options_delimiter_comments_and_null_literal() {
        let options = CsvOptions {
            field_delimiter: b'|',
            allow_comments: true,
            null_literal: Some("N/A".into()),
            ..CsvOptions::default()
        };
        let input = b"# header comment\n1|N/A|true\n2|b|N/A\n";
        let batch = one_batch(&decoder(options).decode(input, 1).unwrap());
        assert_eq!(batch.num_rows(), 2);
        assert!(batch.column(1).is_null(0));
        assert!(batch.column(2).is_null(1));
    }

    #[test]
    fn malformed_records_are_reported_with_line() {
        let input = b"1,a,true\n2,b\n3,c,true\n";
        let err = decoder(CsvOptions::default())
            .decode(input, 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("in.csv:11: cannot parse CSV record: incorrect number of fields"),
            "{err}"
        );
        assert!(err.contains("(record: 2,b)"), "{err}");
        assert!(err.ends_with("set 'csv.ignore-parse-errors' = 'true' to skip malformed records"));
        let err = decoder(CsvOptions::default())
            .decode(b"1,\"a\n b\",true\n", 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("in.csv:1: cannot parse CSV record: unterminated"),
            "{err}"
        );
        let err = decoder(CsvOptions::default())
            .decode(b"1,a,true\nx,b,true\n", 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("in.csv:2: cannot parse CSV record: field 'id': "),
            "{err}"
        );
    }

    #[test]
    fn ignore_parse_errors_nulls_bad_values_and_skips_bad_records() {
        let options = CsvOptions {
            ignore_parse_errors: true,
            ..CsvOptions::default()
        };
        let input = b"1,a,true\nx,b,true\n3,c\n4,d,false,extra\n5,e,maybe\n";
        let decoded = decoder(options).decode(input, 1).unwrap();
        assert_eq!(decoded.skipped, 1);
        let batch = one_batch(&decoded);
        let ids = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(
            ids.iter().collect::<Vec<_>>(),
            vec![Some(1), None, Some(3), Some(5)]
        );
        assert!(batch.column(2).is_null(2) && batch.column(2).is_null(3));
    }

    #[test]
    fn timestamps_in_both_standards() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        )]));
        let mut d = CsvDecoder::new(schema, CsvOptions::default()).unwrap();
        let decoded = d
            .decode(b"2024-01-01 10:00:00.123\n2024-01-01T10:00:00\n", 1)
            .unwrap();
        let ts: &TimestampMillisecondArray = decoded.batches[0].column(0).as_primitive();
        assert_eq!(
            ts.values().to_vec(),
            vec![1_704_103_200_123, 1_704_103_200_000]
        );
    }

    #[test]
    fn nested_types_are_refused() {
        let schema = Arc::new(Schema::new(vec![Field::new_list(
            "l",
            Field::new("item", DataType::Int32, true),
            true,
        )]));
        let err = CsvDecoder::new(schema, CsvOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("column 'l'"));
    }
}
