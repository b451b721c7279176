//! Values as text, one renderer for Flink's two "value to string" forms:
//!
//! - [`TextStyle::Print`]: `Row.toString()`, as Flink's `print` connector writes it (see
//!   [`crate::print`]): `null`, `true`, DECIMAL like `BigDecimal`, temporal values like
//!   Java's `toString` (`2024-01-01T10:00`), BYTES as signed bytes (`[104, -1]`), a
//!   nested ROW as `+I[f1, f2]`;
//! - [`TextStyle::Cast`]: `CAST(x AS STRING)`: `NULL`, `TRUE`, DECIMAL in Arrow's display,
//!   temporal values written by the caller's [`TemporalText`] (it knows the session time
//!   zone), BYTES decoded as UTF-8 (invalid sequences replaced), a nested ROW as `(f1, f2)`.
//!
//! Both write strings raw, FLOAT / DOUBLE like Java, ARRAY `[1, 2]`, MAP `{a=1, b=2}` (in
//! stored order), and other types (integers, ...) with Arrow's display formatter.

use std::io::Write;

use arrow::array::{Array, AsArray, GenericListArray, OffsetSizeTrait};
use arrow::datatypes::{
    ArrowNativeType, DataType, Decimal128Type, Decimal256Type, Float32Type, Float64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::FormatError;
use crate::java;
use crate::temporal::{Style, TemporalColumn};

/// Writes the (non-null) value at a row of a column to a buffer.
pub type WriteFn<'a> = Box<dyn Fn(usize, &mut Vec<u8>) + 'a>;

/// The temporal values (TIMESTAMP, TIMESTAMP_LTZ, DATE, TIME) of [`TextStyle::Cast`].
pub trait TemporalText {
    /// A writer for `array`, or `None` when it is not a temporal column.
    fn writer<'a>(&self, array: &'a dyn Array) -> Option<WriteFn<'a>>;
}

/// Which of Flink's text forms a [`Renderer`] writes.
#[derive(Clone, Copy)]
pub enum TextStyle<'s> {
    /// The `print` connector's form (`Row.toString()`).
    Print,
    /// `CAST(x AS STRING)`, with the given temporal forms.
    Cast(&'s dyn TemporalText),
}

impl TextStyle<'_> {
    fn null(self) -> &'static [u8] {
        match self {
            TextStyle::Print => b"null",
            TextStyle::Cast(_) => b"NULL",
        }
    }

    fn is_print(self) -> bool {
        matches!(self, TextStyle::Print)
    }
}

/// Writes the values of one column, NULL included, in a [`TextStyle`].
pub struct Renderer<'a> {
    array: &'a dyn Array,
    write: WriteFn<'a>,
    null: &'static [u8],
}

impl<'a> Renderer<'a> {
    /// A renderer for `array`. Fails only for a type Arrow cannot display.
    pub fn new(array: &'a dyn Array, style: TextStyle<'_>) -> Result<Renderer<'a>, FormatError> {
        Ok(Renderer {
            array,
            write: value_writer(array, style)?,
            null: style.null(),
        })
    }

    /// Renderers for each of `columns`.
    pub fn for_columns<A: AsRef<dyn Array>>(
        columns: &'a [A],
        style: TextStyle<'_>,
    ) -> Result<Vec<Renderer<'a>>, FormatError> {
        columns
            .iter()
            .map(|c| Renderer::new(c.as_ref(), style))
            .collect()
    }

    /// Appends the value at `row` (`null` / `NULL` for a null).
    pub fn write(&self, row: usize, out: &mut Vec<u8>) {
        if self.array.is_null(row) {
            out.extend_from_slice(self.null);
        } else {
            (self.write)(row, out);
        }
    }
}

/// `<open>v1, v2, ...<close>`: the value at `row` of each renderer.
pub fn write_fields(
    renderers: &[Renderer<'_>],
    row: usize,
    open: &[u8],
    close: &[u8],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(open);
    for (i, r) in renderers.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        r.write(row, out);
    }
    out.extend_from_slice(close);
}

fn value_writer<'a>(
    array: &'a dyn Array,
    style: TextStyle<'_>,
) -> Result<WriteFn<'a>, FormatError> {
    let temporal = match style {
        TextStyle::Print => TemporalColumn::new(array, Style::Java)
            .map(|column| Box::new(move |i, out: &mut Vec<u8>| column.write(i, out)) as WriteFn),
        TextStyle::Cast(temporal) => temporal.writer(array),
    };
    if let Some(write) = temporal {
        return Ok(write);
    }
    let bytes: fn(&mut Vec<u8>, &[u8]) = if style.is_print() {
        push_signed_bytes
    } else {
        push_utf8_lossy
    };
    let write: WriteFn<'a> = match array.data_type() {
        DataType::Null => {
            let null = style.null();
            Box::new(move |_, out| out.extend_from_slice(null))
        }
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
            let [yes, no]: [&'static [u8]; 2] = if style.is_print() {
                [b"true", b"false"]
            } else {
                [b"TRUE", b"FALSE"]
            };
            Box::new(move |i, out| out.extend_from_slice(if a.value(i) { yes } else { no }))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Box::new(move |i, out| java::push_double(out, a.value(i)))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            Box::new(move |i, out| java::push_float(out, a.value(i)))
        }
        DataType::Decimal128(_, scale) if style.is_print() => {
            let (a, scale) = (array.as_primitive::<Decimal128Type>(), *scale);
            Box::new(move |i, out| java::push_big_decimal(out, &a.value(i).to_string(), scale))
        }
        DataType::Decimal256(_, scale) if style.is_print() => {
            let (a, scale) = (array.as_primitive::<Decimal256Type>(), *scale);
            Box::new(move |i, out| java::push_big_decimal(out, &a.value(i).to_string(), scale))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            Box::new(move |i, out| bytes(out, a.value(i)))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            Box::new(move |i, out| bytes(out, a.value(i)))
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            Box::new(move |i, out| bytes(out, a.value(i)))
        }
        DataType::FixedSizeBinary(_) if style.is_print() => {
            let a = array.as_fixed_size_binary();
            Box::new(move |i, out| push_signed_bytes(out, a.value(i)))
        }
        DataType::List(_) => list_writer(array.as_list::<i32>(), style)?,
        DataType::LargeList(_) => list_writer(array.as_list::<i64>(), style)?,
        DataType::FixedSizeList(_, len) => {
            let a = array.as_fixed_size_list();
            let values = Renderer::new(a.values().as_ref(), style)?;
            let len = usize::try_from(*len).unwrap_or(0);
            Box::new(move |i, out| push_list(&values, i * len, (i + 1) * len, out))
        }
        DataType::Map(_, _) => {
            let a = array.as_map();
            let keys = Renderer::new(a.keys().as_ref(), style)?;
            let values = Renderer::new(a.values().as_ref(), style)?;
            let offsets = a.value_offsets();
            Box::new(move |i, out| {
                let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
                out.push(b'{');
                for j in start..end {
                    if j > start {
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
            let fields = Renderer::for_columns(array.as_struct().columns(), style)?;
            let (open, close): (&[u8], &[u8]) = if style.is_print() {
                // `Row.toString()` of a nested row, not the SQL client's `(f1, f2)`.
                (b"+I[", b"]")
            } else {
                (b"(", b")")
            };
            Box::new(move |i, out| write_fields(&fields, i, open, close, out))
        }
        _ => {
            // Integers and anything else: Arrow's display (Java's form for integers).
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
            Box::new(move |i, out| {
                // Writing to a Vec cannot fail; a value Arrow cannot display is left out.
                let _ = write!(out, "{}", formatter.value(i));
            })
        }
    };
    Ok(write)
}

/// The raw values (offsets from the epoch in `unit`) of a timestamp column of `unit`.
pub fn timestamp_values(array: &dyn Array, unit: TimeUnit) -> &[i64] {
    match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().values(),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().values(),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().values(),
    }
}

/// Writes the lists of `a` as `[v1, v2, ...]`.
fn list_writer<'a, O: OffsetSizeTrait>(
    a: &'a GenericListArray<O>,
    style: TextStyle<'_>,
) -> Result<WriteFn<'a>, FormatError> {
    let values = Renderer::new(a.values().as_ref(), style)?;
    let offsets = a.value_offsets();
    Ok(Box::new(move |i, out| {
        push_list(
            &values,
            offsets[i].as_usize(),
            offsets[i + 1].as_usize(),
            out,
        )
    }))
}

/// `[v1, v2, ...]` of the rows `start..end`.
fn push_list(values: &Renderer<'_>, start: usize, end: usize, out: &mut Vec<u8>) {
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
fn push_signed_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'[');
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        let _ = write!(out, "{}", *b as i8);
    }
    out.push(b']');
}

fn push_utf8_lossy(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(String::from_utf8_lossy(bytes).as_bytes());
}
