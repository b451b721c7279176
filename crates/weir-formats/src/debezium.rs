//! The `debezium-json` format's encoder: a changelog as Debezium envelopes, one per line.
//!
//! Exactly what Flink's `DebeziumJsonSerializationSchema` writes: `+I` and `+U` become
//! `{"before":null,"after":{...},"op":"c"}`, `-U` and `-D` become
//! `{"before":{...},"after":null,"op":"d"}` (an update is a delete and a create; Flink
//! never writes `"op":"u"`). Values use the `json` format's text forms.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBufferBuilder, StringArray, StructArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::changelog::{kind_at, split_row_kind};
use crate::error::FormatError;
use crate::json_encode::{check_schema, write_json_lines};
use crate::options::{DebeziumJsonOptions, TimestampStandard};
use crate::RecordEncoder;

/// Encodes append-only or updating batches as Debezium JSON envelopes.
pub struct DebeziumJsonEncoder {
    standard: TimestampStandard,
}

impl DebeziumJsonEncoder {
    /// An encoder for batches with the columns of `schema` (plus, on an updating
    /// stream, the row-kind column). Fails if a column type cannot be written as JSON.
    pub fn new(
        schema: &Schema,
        options: &DebeziumJsonOptions,
    ) -> Result<DebeziumJsonEncoder, FormatError> {
        check_schema(schema, "debezium-json", options.timestamp_standard)?;
        Ok(DebeziumJsonEncoder {
            standard: options.timestamp_standard,
        })
    }
}

impl RecordEncoder for DebeziumJsonEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let (data, kinds) = split_row_kind(batch)?;
        let rows = data.num_rows();
        let mut accumulate = BooleanBufferBuilder::new(rows);
        for row in 0..rows {
            accumulate.append(kind_at(kinds.as_ref(), row)?.is_accumulate());
        }
        let accumulate = accumulate.finish();
        let retract = !&accumulate;
        let fields = data.schema().fields().clone();
        let image = |valid| -> Result<ArrayRef, FormatError> {
            let array = StructArray::try_new_with_length(
                fields.clone(),
                data.columns().to_vec(),
                Some(NullBuffer::new(valid)),
                rows,
            )?;
            Ok(Arc::new(array))
        };
        let before = image(retract)?;
        let after = image(accumulate.clone())?;
        let op: ArrayRef = Arc::new(StringArray::from_iter_values(accumulate.iter().map(|a| {
            if a {
                "c"
            } else {
                "d"
            }
        })));
        let envelope = Schema::new(vec![
            Field::new("before", DataType::Struct(fields.clone()), true),
            Field::new("after", DataType::Struct(fields), true),
            Field::new("op", DataType::Utf8, false),
        ]);
        let envelope = RecordBatch::try_new(Arc::new(envelope), vec![before, after, op])?;
        write_json_lines(&envelope, self.standard, true, out)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int32Array, Int8Array, StringArray};
    use weir_types::{RowKind, ROW_KIND_COLUMN};

    use super::*;

    #[test]
    fn writes_flink_envelopes() {
        let id: ArrayRef = Arc::new(Int32Array::from(vec![1, 1, 1, 2]));
        let name: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("a"),
            None,
            Some("b"),
        ]));
        let kinds = [
            RowKind::Insert,
            RowKind::UpdateBefore,
            RowKind::UpdateAfter,
            RowKind::Delete,
        ];
        let kind: ArrayRef = Arc::new(Int8Array::from_iter_values(kinds.iter().map(|k| *k as i8)));
        let batch =
            RecordBatch::try_from_iter(vec![("id", id), ("name", name), (ROW_KIND_COLUMN, kind)])
                .unwrap();
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        let mut enc = DebeziumJsonEncoder::new(&schema, &DebeziumJsonOptions::default()).unwrap();
        let mut out = Vec::new();
        enc.encode(&batch, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = [
            r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c"}"#,
            r#"{"before":{"id":1,"name":"a"},"after":null,"op":"d"}"#,
            r#"{"before":null,"after":{"id":1,"name":null},"op":"c"}"#,
            r#"{"before":{"id":2,"name":"b"},"after":null,"op":"d"}"#,
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);

        // An append-only input: every row is a create.
        let mut out = Vec::new();
        enc.encode(&batch.project(&[0, 1]).unwrap(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().all(|l| l.ends_with(r#""op":"c"}"#)), "{text}");
    }
}
