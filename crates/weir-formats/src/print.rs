//! Rows as Flink's `print` connector writes them: `+I[1, Alice, 2024-01-01T10:00]`.
//!
//! Flink's print sink converts each row to an external `org.apache.flink.types.Row` and
//! prints its `toString()`; this module writes the same text:
//! - the row kind (`+I`, `-U`, `+U`, `-D`; from the row-kind column, else `+I`), then the
//!   fields in brackets, separated by `", "`;
//! - NULL as `null`, strings raw (no quotes), booleans `true` / `false`, integers in
//!   decimal, DOUBLE/FLOAT like Java (`1.0`, `1.0E7`), DECIMAL like `BigDecimal`
//!   (`123.45`, `1E-7`);
//! - TIMESTAMP like `LocalDateTime` (`2024-01-01T10:00`, `2024-01-01T10:00:00.123`),
//!   TIMESTAMP_LTZ like `Instant` (`2024-01-01T10:00:00Z`), DATE `2024-01-01`, TIME like
//!   `LocalTime` (`10:00`, `10:00:01`);
//! - BYTES like Java's `Arrays.toString(byte[])` (`[104, -1]`), ARRAY `[1, 2]`,
//!   MAP `{a=1, b=2}` (in stored order; Flink prints a `HashMap`, in hash order), and a
//!   nested ROW as a row, `+I[f1, f2]`, as `Row.toString()` does (not `(f1, f2)`, which is
//!   the SQL client's CAST-to-STRING form).
//!
//! Other types are written with Arrow's display formatter. The values are written by
//! [`crate::render`] in its [`TextStyle::Print`] style.

use arrow::record_batch::RecordBatch;

use crate::changelog::{kind_at, split_row_kind};
use crate::error::FormatError;
use crate::render::{write_fields, Renderer, TextStyle};

/// Appends one line per row of `batch` (`<prefix>+I[...]\n`) to `out`.
pub fn print_rows(batch: &RecordBatch, prefix: &str, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let (data, kinds) = split_row_kind(batch)?;
    let printers = Renderer::for_columns(data.columns(), TextStyle::Print)?;
    for row in 0..data.num_rows() {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(kind_at(kinds.as_ref(), row)?.short_string().as_bytes());
        write_fields(&printers, row, b"[", b"]", out);
        out.push(b'\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
        Int32Array, Int32Builder, Int64Array, Int8Array, ListArray, MapBuilder, StringArray,
        StringBuilder, StructArray, Time32SecondArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::{DataType, Field, Int32Type};
    use weir_types::{RowKind, ROW_KIND_COLUMN};

    use super::*;

    fn print(batch: &RecordBatch, prefix: &str) -> String {
        let mut out = Vec::new();
        print_rows(batch, prefix, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prints_every_type_like_flink() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from(vec![Some(1), None]))),
            (
                "name",
                Arc::new(StringArray::from(vec![Some("Alice"), Some("")])),
            ),
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from(vec![
                    1_704_103_200_000,
                    1_704_103_200_123,
                ])),
            ),
            (
                "ltz",
                Arc::new(
                    TimestampMillisecondArray::from(vec![1_704_103_200_000, 1_704_103_201_500])
                        .with_timezone("UTC"),
                ),
            ),
            ("d", Arc::new(Date32Array::from(vec![19_723, 0]))),
            ("t", Arc::new(Time32SecondArray::from(vec![36_000, 36_001]))),
            ("ok", Arc::new(BooleanArray::from(vec![Some(true), None]))),
            ("x", Arc::new(Float64Array::from(vec![1.0, 1e7]))),
            (
                "price",
                Arc::new(
                    Decimal128Array::from(vec![12_345, 100])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            (
                "b",
                Arc::new(BinaryArray::from(vec![&b"hi"[..], &[255u8][..]])),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        assert_eq!(
            print(&batch, ""),
            "+I[1, Alice, 2024-01-01T10:00, 2024-01-01T10:00:00Z, 2024-01-01, 10:00, true, 1.0, 123.45, [104, 105]]\n\
             +I[null, , 2024-01-01T10:00:00.123, 2024-01-01T10:00:01.500Z, 1970-01-01, 10:00:01, null, 1.0E7, 1.00, [-1]]\n"
        );
    }

    #[test]
    fn prints_nested_types_and_row_kinds() {
        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            Some(vec![]),
            None,
        ]));
        let mut map = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        map.keys().append_value("a");
        map.values().append_value(1);
        map.keys().append_value("b");
        map.values().append_null();
        map.append(true).unwrap();
        map.append(true).unwrap();
        map.append(false).unwrap();
        let map: ArrayRef = Arc::new(map.finish());
        let row: ArrayRef = Arc::new(StructArray::from(vec![
            (
                Arc::new(Field::new("x", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![Some(7), None, Some(9)])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("y", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec!["p", "q", "r"])) as ArrayRef,
            ),
        ]));
        let kinds = [RowKind::UpdateBefore, RowKind::UpdateAfter, RowKind::Delete];
        let kind: ArrayRef = Arc::new(Int8Array::from_iter_values(kinds.iter().map(|k| *k as i8)));
        let batch = RecordBatch::try_from_iter(vec![
            ("l", list),
            ("m", map),
            ("r", row),
            (ROW_KIND_COLUMN, kind),
        ])
        .unwrap();
        assert_eq!(
            print(&batch, "sink:2> "),
            "sink:2> -U[[1, null], {a=1, b=null}, +I[7, p]]\n\
             sink:2> +U[[], {}, +I[null, q]]\n\
             sink:2> -D[null, null, +I[9, r]]\n"
        );
    }
}
