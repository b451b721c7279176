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
//! Other types are written with Arrow's display formatter.

use std::io::Write;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{ArrowNativeType, DataType, Decimal128Type, Decimal256Type};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::changelog::{kind_at, split_row_kind};
use crate::error::FormatError;
use crate::java;
use crate::temporal::{Style, TemporalColumn};

/// Appends one line per row of `batch` (`<prefix>+I[...]\n`) to `out`.
pub fn print_rows(batch: &RecordBatch, prefix: &str, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let (data, kinds) = split_row_kind(batch)?;
    let printers = data
        .columns()
        .iter()
        .map(|c| Printer::new(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..data.num_rows() {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(kind_at(kinds.as_ref(), row)?.short_string().as_bytes());
        write_fields(&printers, row, out);
        out.push(b'\n');
    }
    Ok(())
}

/// `[f1, f2, ...]`
fn write_fields(printers: &[Printer<'_>], row: usize, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, p) in printers.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        p.write(row, out);
    }
    out.push(b']');
}

type WriteFn<'a> = Box<dyn Fn(usize, &mut Vec<u8>) + 'a>;

/// Writes the values of one column.
struct Printer<'a> {
    array: &'a dyn Array,
    write: WriteFn<'a>,
}

impl<'a> Printer<'a> {
    fn new(array: &'a dyn Array) -> Result<Printer<'a>, FormatError> {
        Ok(Printer {
            array,
            write: value_writer(array)?,
        })
    }

    fn write(&self, row: usize, out: &mut Vec<u8>) {
        if self.array.is_null(row) {
            out.extend_from_slice(b"null");
        } else {
            (self.write)(row, out);
        }
    }
}

fn value_writer<'a>(array: &'a dyn Array) -> Result<WriteFn<'a>, FormatError> {
    if let Some(column) = TemporalColumn::new(array, Style::Java) {
        return Ok(Box::new(move |i, out| column.write(i, out)));
    }
    let write: WriteFn<'a> = match array.data_type() {
        DataType::Null => Box::new(|_, out| out.extend_from_slice(b"null")),
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Box::new(move |i, out| out.extend_from_slice(a.value(i).as_bytes()))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Box::new(move |i, out| out.extend_from_slice(a.value(i).as_bytes()))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            Box::new(move |i, out| out.extend_from_slice(a.value(i).as_bytes()))
        }
        DataType::Boolean => {
            let a = array.as_boolean();
            Box::new(move |i, out| {
                out.extend_from_slice(if a.value(i) { b"true" } else { b"false" })
            })
        }
        DataType::Float64 => {
            let a = array.as_primitive::<arrow::datatypes::Float64Type>();
            Box::new(move |i, out| java::push_double(out, a.value(i)))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<arrow::datatypes::Float32Type>();
            Box::new(move |i, out| java::push_float(out, a.value(i)))
        }
        DataType::Decimal128(_, scale) => {
            let (a, scale) = (array.as_primitive::<Decimal128Type>(), *scale);
            Box::new(move |i, out| java::push_big_decimal(out, &a.value(i).to_string(), scale))
        }
        DataType::Decimal256(_, scale) => {
            let (a, scale) = (array.as_primitive::<Decimal256Type>(), *scale);
            Box::new(move |i, out| java::push_big_decimal(out, &a.value(i).to_string(), scale))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            Box::new(move |i, out| push_bytes(out, a.value(i)))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            Box::new(move |i, out| push_bytes(out, a.value(i)))
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            Box::new(move |i, out| push_bytes(out, a.value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            Box::new(move |i, out| push_bytes(out, a.value(i)))
        }
        DataType::List(_) => {
            let a = array.as_list::<i32>();
            let values = Printer::new(a.values().as_ref())?;
            let offsets = a.value_offsets();
            Box::new(move |i, out| {
                push_list(
                    out,
                    &values,
                    offsets[i].as_usize(),
                    offsets[i + 1].as_usize(),
                )
            })
        }
        DataType::LargeList(_) => {
            let a = array.as_list::<i64>();
            let values = Printer::new(a.values().as_ref())?;
            let offsets = a.value_offsets();
            Box::new(move |i, out| {
                push_list(
                    out,
                    &values,
                    offsets[i].as_usize(),
                    offsets[i + 1].as_usize(),
                )
            })
        }
        DataType::FixedSizeList(_, len) => {
            let a = array.as_fixed_size_list();
            let values = Printer::new(a.values().as_ref())?;
            let len = usize::try_from(*len).unwrap_or(0);
            Box::new(move |i, out| push_list(out, &values, i * len, (i + 1) * len))
        }
        DataType::Map(_, _) => {
            let a = array.as_map();
            let keys = Printer::new(a.keys().as_ref())?;
            let values = Printer::new(a.values().as_ref())?;
            let offsets = a.value_offsets();
            Box::new(move |i, out| {
                out.push(b'{');
                for j in offsets[i].as_usize()..offsets[i + 1].as_usize() {
                    if j > offsets[i].as_usize() {
                        out.extend_from_slice(b", ");
                    }
                    keys.write(j, out);
                    out.push(b'=');
                    values.write(j, out);
                }
                out.push(b'}');
            })
        }
        DataType::Struct(_) => {
            let a = array.as_struct();
            let fields = a
                .columns()
                .iter()
                .map(|c| Printer::new(c.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(move |i, out| {
                out.extend_from_slice(b"+I");
                write_fields(&fields, i, out);
            })
        }
        _ => {
            // Integers and anything else: Arrow's display matches Java's for integers.
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
            Box::new(move |i, out| {
                // Writing to a Vec cannot fail; a value Arrow cannot display is left out.
                let _ = write!(out, "{}", formatter.value(i));
            })
        }
    };
    Ok(write)
}

fn push_list(out: &mut Vec<u8>, values: &Printer<'_>, start: usize, end: usize) {
    out.push(b'[');
    for j in start..end {
        if j > start {
            out.extend_from_slice(b", ");
        }
        values.write(j, out);
    }
    out.push(b']');
}

/// Java's `Arrays.toString(byte[])`: signed bytes.
fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'[');
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        let _ = write!(out, "{}", *b as i8);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
        Int32Array, Int32Builder, Int64Array, Int8Array, ListArray, MapBuilder, StringArray,
        StringBuilder, StructArray, Time32SecondArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::{Field, Int32Type};
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
