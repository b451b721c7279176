//! The `json` format's encoder: one JSON object per line, written by arrow-json with
//! Flink's text forms for the types where arrow-json's differ.
//!
//! As Flink's `json` format writes them: NULL as `null` (left out with
//! `json.encode.ignore-null-fields`), decimals as plain numbers, TIMESTAMP as
//! `2024-01-01 10:00:00.123` (or `2024-01-01T10:00:00.123` with
//! `json.timestamp-format.standard` = `ISO-8601`; the fraction has as many digits as
//! needed), TIMESTAMP_LTZ the same with a trailing `Z`, DATE `2024-01-01`, TIME
//! `10:00:00`, BYTES as Base64, ROW as an object, ARRAY as an array, MAP as an object,
//! FLOAT and DOUBLE as Jackson writes them (Java's `toString`: `1.0E10`, `1.0E-5`,
//! `123.5`; NaN and infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`).
//! Only inserts can be written: an update or delete is an error.

use std::sync::Arc;

use arrow::array::{new_empty_array, Array, AsArray};
use arrow::datatypes::{DataType, FieldRef, Float32Type, Float64Type, Schema};
use arrow::error::ArrowError;
use arrow::json::writer::{
    make_encoder, Encoder, EncoderFactory, EncoderOptions, LineDelimited, NullableEncoder,
    WriterBuilder,
};
use arrow::record_batch::RecordBatch;
use base64::Engine;

use crate::changelog::insert_only;
use crate::error::FormatError;
use crate::java;
use crate::options::{JsonOptions, TimestampStandard};
use crate::temporal::{Style, TemporalColumn};
use crate::RecordEncoder;

/// Encodes append-only batches as lines of JSON objects.
pub struct JsonEncoder {
    standard: TimestampStandard,
    explicit_nulls: bool,
}

impl JsonEncoder {
    /// An encoder for batches with the columns of `schema`. Fails if a column type cannot
    /// be written as JSON.
    pub fn new(schema: &Schema, options: &JsonOptions) -> Result<JsonEncoder, FormatError> {
        check_schema(schema, "json", options.timestamp_standard)?;
        Ok(JsonEncoder {
            standard: options.timestamp_standard,
            explicit_nulls: !options.ignore_null_fields,
        })
    }
}

impl RecordEncoder for JsonEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let data = insert_only(batch, "json")?;
        write_json_lines(&data, self.standard, self.explicit_nulls, out)
    }
}

/// Appends the rows of `batch` to `out` as JSON objects, one per line.
pub(crate) fn write_json_lines(
    batch: &RecordBatch,
    standard: TimestampStandard,
    explicit_nulls: bool,
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(explicit_nulls)
        .with_encoder_factory(Arc::new(FlinkTypes { standard }))
        .build::<_, LineDelimited>(out);
    writer.write(batch)?;
    writer.finish()?;
    Ok(())
}

/// Fails if a column of `schema` cannot be written as JSON.
pub(crate) fn check_schema(
    schema: &Schema,
    format: &str,
    standard: TimestampStandard,
) -> Result<(), FormatError> {
    let options = EncoderOptions::default().with_encoder_factory(Arc::new(FlinkTypes { standard }));
    for field in schema.fields() {
        let array = new_empty_array(field.data_type());
        if make_encoder(field, array.as_ref(), &options).is_err() {
            return Err(FormatError::UnsupportedType {
                format: format.to_string(),
                column: field.name().clone(),
                data_type: field.data_type().to_string(),
            });
        }
    }
    Ok(())
}

/// Overrides arrow-json's encoders for temporal and binary values with Flink's forms.
#[derive(Debug)]
struct FlinkTypes {
    standard: TimestampStandard,
}

impl EncoderFactory for FlinkTypes {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let nulls = array.nulls().cloned();
        if let Some(column) = TemporalColumn::new(array, Style::Flink(self.standard)) {
            let encoder = Box::new(TemporalEncoder(column)) as Box<dyn Encoder + 'a>;
            return Ok(Some(NullableEncoder::new(encoder, nulls)));
        }
        let encoder: Box<dyn Encoder + 'a> = match array.data_type() {
            DataType::Binary => Box::new(Base64Encoder(move |i| array.as_binary::<i32>().value(i))),
            DataType::LargeBinary => {
                Box::new(Base64Encoder(move |i| array.as_binary::<i64>().value(i)))
            }
            DataType::BinaryView => {
                Box::new(Base64Encoder(move |i| array.as_binary_view().value(i)))
            }
            DataType::Float64 => {
                let a = array.as_primitive::<Float64Type>();
                Box::new(JavaNumberEncoder(move |i| {
                    let v = a.value(i);
                    (v.is_finite(), move |out: &mut Vec<u8>| {
                        java::push_double(out, v)
                    })
                }))
            }
            DataType::Float32 => {
                let a = array.as_primitive::<Float32Type>();
                Box::new(JavaNumberEncoder(move |i| {
                    let v = a.value(i);
                    (v.is_finite(), move |out: &mut Vec<u8>| {
                        java::push_float(out, v)
                    })
                }))
            }
            _ => return Ok(None),
        };
        Ok(Some(NullableEncoder::new(encoder, nulls)))
    }
}

struct TemporalEncoder<'a>(TemporalColumn<'a>);

impl Encoder for TemporalEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        out.push(b'"');
        self.0.write(idx, out);
        out.push(b'"');
    }
}

/// A FLOAT or DOUBLE as Jackson writes it: Java's `toString`, quoted when not finite.
/// The closure gives, for a row, whether the value is finite and how to write it.
struct JavaNumberEncoder<F>(F);

impl<F, W> Encoder for JavaNumberEncoder<F>
where
    F: Fn(usize) -> (bool, W),
    W: FnOnce(&mut Vec<u8>),
{
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let (finite, write) = (self.0)(idx);
        if finite {
            write(out);
        } else {
            out.push(b'"');
            write(out);
            out.push(b'"');
        }
    }
}

struct Base64Encoder<F>(F);

impl<'a, F: Fn(usize) -> &'a [u8]> Encoder for Base64Encoder<F> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        out.push(b'"');
        let text = base64::engine::general_purpose::STANDARD.encode((self.0)(idx));
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BinaryArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
        Int32Array, Int8Array, ListArray, StringArray, StructArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::{Field, Int32Type};
    use weir_types::ROW_KIND_COLUMN;

    use super::*;
    use crate::json_decode::JsonDecoder;
    use crate::RecordDecoder;

    fn sample() -> RecordBatch {
        let id: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None]));
        let name: ArrayRef = Arc::new(StringArray::from(vec![Some("a\"b"), Some("é")]));
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_704_103_200_123),
            None,
        ]));
        let ltz: ArrayRef = Arc::new(
            TimestampMillisecondArray::from(vec![1_704_103_200_000, 0]).with_timezone("UTC"),
        );
        let price: ArrayRef = Arc::new(
            Decimal128Array::from(vec![12_345, -5])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        let day: ArrayRef = Arc::new(Date32Array::from(vec![19_723, 0]));
        let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![&b"hi"[..], &b""[..]]));
        let tags: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]));
        let inner: ArrayRef = Arc::new(Int32Array::from(vec![7, 8]));
        let row: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int32, false)),
            inner,
        )]));
        RecordBatch::try_from_iter(vec![
            ("id", id),
            ("name", name),
            ("ts", ts),
            ("ltz", ltz),
            ("price", price),
            ("day", day),
            ("bytes", bytes),
            ("tags", tags),
            ("row", row),
        ])
        .unwrap()
    }

    fn encode(options: JsonOptions, batch: &RecordBatch) -> String {
        let mut enc = JsonEncoder::new(&batch.schema(), &options).unwrap();
        let mut out = Vec::new();
        enc.encode(batch, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_flink_json() {
        let text = encode(JsonOptions::default(), &sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"id":1,"name":"a\"b","ts":"2024-01-01 10:00:00.123","ltz":"2024-01-01 10:00:00Z","price":123.45,"day":"2024-01-01","bytes":"aGk=","tags":[1,2],"row":{"x":7}}"#
        );
        assert_eq!(
            lines[1],
            r#"{"id":null,"name":"é","ts":null,"ltz":"1970-01-01 00:00:00Z","price":-0.05,"day":"1970-01-01","bytes":"","tags":null,"row":{"x":8}}"#
        );
        let iso = JsonOptions {
            timestamp_standard: TimestampStandard::Iso8601,
            ignore_null_fields: true,
            ..JsonOptions::default()
        };
        let text = encode(iso, &sample());
        assert!(text.contains(r#""ts":"2024-01-01T10:00:00.123""#), "{text}");
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with(r#"{"name":"é","ltz":"1970-01-01T00:00:00Z""#));
    }

    #[test]
    fn round_trips_through_the_decoder() {
        let batch = sample();
        let text = encode(JsonOptions::default(), &batch);
        let mut decoder = JsonDecoder::new(batch.schema(), JsonOptions::default()).unwrap();
        let decoded = decoder.decode(text.as_bytes(), 1).unwrap();
        assert_eq!(decoded.batches, vec![batch]);
    }

    #[test]
    fn writes_doubles_like_jackson() {
        let d: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1e10),
            Some(1e-5),
            Some(123.5),
            Some(100.0),
            Some(f64::NAN),
            Some(f64::NEG_INFINITY),
            None,
        ]));
        let f: ArrayRef = Arc::new(Float32Array::from(vec![
            Some(0.1),
            Some(1e7),
            Some(2.5),
            Some(-0.0),
            Some(f32::INFINITY),
            None,
            Some(1e-4),
        ]));
        let batch = RecordBatch::try_from_iter(vec![("d", d), ("f", f)]).unwrap();
        let text = encode(JsonOptions::default(), &batch);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                r#"{"d":1.0E10,"f":0.1}"#,
                r#"{"d":1.0E-5,"f":1.0E7}"#,
                r#"{"d":123.5,"f":2.5}"#,
                r#"{"d":100.0,"f":-0.0}"#,
                r#"{"d":"NaN","f":"Infinity"}"#,
                r#"{"d":"-Infinity","f":null}"#,
                r#"{"d":null,"f":1.0E-4}"#,
            ]
        );
        let mut decoder = JsonDecoder::new(batch.schema(), JsonOptions::default()).unwrap();
        let decoded = decoder.decode(text.as_bytes(), 1).unwrap();
        let back = decoded.batches[0].column(0).as_primitive::<Float64Type>();
        assert_eq!(back.value(0), 1e10);
        assert!(back.value(4).is_nan());
    }

    #[test]
    fn refuses_updates() {
        let id: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        let kind: ArrayRef = Arc::new(Int8Array::from(vec![3]));
        let batch = RecordBatch::try_from_iter(vec![("id", id), (ROW_KIND_COLUMN, kind)]).unwrap();
        let schema = Schema::new(vec![Field::new("id", DataType::Int32, true)]);
        let mut enc = JsonEncoder::new(&schema, &JsonOptions::default()).unwrap();
        let err = enc.encode(&batch, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, FormatError::UpdatingInput { .. }));
    }
}
