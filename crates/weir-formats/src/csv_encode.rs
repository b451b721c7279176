//! The `csv` format's encoder: one record per line, no header, written by arrow-csv.
//!
//! As Flink's `csv` format: fields quoted only when needed, NULL written as
//! `csv.null-literal` (by default empty, like the empty string), TIMESTAMP as `2024-01-01 10:00:00.123` (the
//! fraction has as many digits as needed), TIMESTAMP_LTZ with a trailing `Z`, BYTES as
//! Base64, FLOAT and DOUBLE as Jackson writes them (Java's `toString`: `1.0E10`, `1.0E-5`,
//! `123.5`). Nested types cannot be written. Only inserts can be written.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::csv::writer::{QuoteStyle, WriterBuilder};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema};
use arrow::record_batch::RecordBatch;

use crate::changelog::insert_only;
use crate::error::FormatError;
use crate::java;
use crate::options::{CsvOptions, TimestampStandard};
use crate::schema::base64_strings;
use crate::temporal::{temporal_strings, Style};
use crate::RecordEncoder;

/// Encodes append-only batches as lines of delimited records.
pub struct CsvEncoder {
    options: CsvOptions,
}

impl CsvEncoder {
    /// An encoder for batches with the columns of `schema`. Fails on nested columns.
    pub fn new(schema: &Schema, options: CsvOptions) -> Result<CsvEncoder, FormatError> {
        for field in schema.fields() {
            if field.data_type().is_nested() {
                return Err(FormatError::UnsupportedType {
                    format: "csv".into(),
                    column: field.name().clone(),
                    data_type: field.data_type().to_string(),
                });
            }
        }
        Ok(CsvEncoder { options })
    }
}

impl RecordEncoder for CsvEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let data = insert_only(batch, "csv")?;
        let text = as_flink_text(&data)?;
        let o = &self.options;
        let mut builder = WriterBuilder::new()
            .with_header(false)
            .with_delimiter(o.field_delimiter)
            .with_null(o.null_literal.clone().unwrap_or_default());
        builder = match o.quote_character {
            Some(quote) => builder.with_quote(quote),
            None => builder.with_quote_style(QuoteStyle::Never),
        };
        if let Some(escape) = o.escape_character {
            builder = builder.with_escape(escape).with_double_quote(false);
        }
        let mut writer = builder.build(out);
        writer.write(&text)?;
        Ok(())
    }
}

/// FLOAT and DOUBLE columns as Java's `toString` writes them.
fn java_number_strings(array: &dyn Array) -> Option<StringArray> {
    match array.data_type() {
        DataType::Float64 => Some(
            array
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(java::double_to_string))
                .collect(),
        ),
        DataType::Float32 => Some(
            array
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(java::float_to_string))
                .collect(),
        ),
        _ => None,
    }
}

/// Replaces temporal, binary and floating-point columns by their Flink text forms.
fn as_flink_text(batch: &RecordBatch) -> Result<RecordBatch, FormatError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let style = Style::Flink(TimestampStandard::Sql);
        let text = temporal_strings(column.as_ref(), style)
            .or_else(|| base64_strings(column))
            .or_else(|| java_number_strings(column));
        match text {
            Some(text) => {
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(text) as ArrayRef);
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        BinaryArray, Float32Array, Float64Array, Int32Array, TimestampMillisecondArray,
    };

    use super::*;
    use crate::csv_decode::CsvDecoder;
    use crate::RecordDecoder;

    fn sample() -> RecordBatch {
        let id: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
        let name: ArrayRef = Arc::new(StringArray::from(vec![Some("a,b"), Some(""), None]));
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_704_103_200_500),
            None,
            Some(0),
        ]));
        let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![
            Some(&b"hi"[..]),
            None,
            Some(&b"\x00"[..]),
        ]));
        RecordBatch::try_from_iter(vec![("id", id), ("name", name), ("ts", ts), ("b", bytes)])
            .unwrap()
    }

    fn encode(options: CsvOptions, batch: &RecordBatch) -> String {
        let mut enc = CsvEncoder::new(&batch.schema(), options).unwrap();
        let mut out = Vec::new();
        enc.encode(batch, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_flink_csv() {
        let text = encode(CsvOptions::default(), &sample());
        assert_eq!(
            text,
            "1,\"a,b\",2024-01-01 10:00:00.5,aGk=\n,,,\n3,,1970-01-01 00:00:00,AA==\n"
        );
        let options = CsvOptions {
            field_delimiter: b';',
            null_literal: Some("NULL".into()),
            ..CsvOptions::default()
        };
        let text = encode(options, &sample());
        assert!(
            text.starts_with("1;a,b;2024-01-01 10:00:00.5;aGk=\nNULL;"),
            "{text}"
        );
    }

    #[test]
    fn writes_doubles_like_jackson() {
        let d: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1e10),
            Some(1e-5),
            Some(123.5),
            None,
        ]));
        let f: ArrayRef = Arc::new(Float32Array::from(vec![
            Some(0.1f32),
            Some(1e7),
            Some(2.0),
            Some(f32::NAN),
        ]));
        let batch = RecordBatch::try_from_iter(vec![("d", d), ("f", f)]).unwrap();
        let text = encode(CsvOptions::default(), &batch);
        assert_eq!(text, "1.0E10,0.1\n1.0E-5,1.0E7\n123.5,2.0\n,NaN\n");
        let mut decoder = CsvDecoder::new(batch.schema(), CsvOptions::default()).unwrap();
        let decoded = decoder.decode(text.as_bytes(), 1).unwrap();
        let back = decoded.batches[0].column(0).as_primitive::<Float64Type>();
        assert_eq!(back.value(0), 1e10);
        assert_eq!(back.value(1), 1e-5);
    }

    #[test]
    fn round_trips_with_a_null_literal() {
        let batch = sample();
        let options = CsvOptions {
            null_literal: Some("\\N".into()),
            ..CsvOptions::default()
        };
        let text = encode(options.clone(), &batch);
        let mut decoder = CsvDecoder::new(batch.schema(), options).unwrap();
        let decoded = decoder.decode(text.as_bytes(), 1).unwrap();
        assert_eq!(decoded.batches, vec![batch]);
    }
}
