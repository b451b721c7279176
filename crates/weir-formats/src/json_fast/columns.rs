//! The column builders of the fast decoder: each reads one JSON value straight from the
//! scanner into its buffers, with arrow-json's rules for the column's type (numbers and
//! booleans as text for STRING, numeric strings for numbers, `null` as NULL), and gives
//! up (`None`) on anything arrow-json would reject or read with another rule.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBufferBuilder, NullBufferBuilder, PrimitiveArray,
    StringArray,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::cast_utils::{parse_decimal, string_to_datetime, Parser};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

use super::scanner::{Cursor, Number};
use super::timestamp::{in_unit, parse_utc};

/// How a column reads values.
#[derive(Debug, Clone)]
enum Kind {
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Decimal128(u8, i8),
    Utf8,
    Date32,
    /// The unit, the time zone naive texts are read in, and whether that zone is UTC
    /// (then the common forms are read without chrono).
    Timestamp(TimeUnit, Tz, bool),
}

/// The values of a column being built.
enum Values {
    I64(Vec<i64>),
    F64(Vec<f64>),
    I128(Vec<i128>),
    Str { offsets: Vec<i32>, bytes: Vec<u8> },
    Bool(BooleanBufferBuilder),
}

/// One column being decoded.
pub(crate) struct Column {
    kind: Kind,
    data_type: DataType,
    nulls: NullBufferBuilder,
    values: Values,
}

impl Column {
    /// A builder for `data_type`, or `None` when the fast decoder does not read it.
    pub(crate) fn new(data_type: &DataType) -> Option<Column> {
        let kind = match data_type {
            DataType::Boolean => Kind::Boolean,
            DataType::Int8 => Kind::Int8,
            DataType::Int16 => Kind::Int16,
            DataType::Int32 => Kind::Int32,
            DataType::Int64 => Kind::Int64,
            DataType::Float32 => Kind::Float32,
            DataType::Float64 => Kind::Float64,
            DataType::Decimal128(p, s) => Kind::Decimal128(*p, *s),
            DataType::Utf8 => Kind::Utf8,
            DataType::Date32 => Kind::Date32,
            DataType::Timestamp(unit, tz) => {
                let name = tz.as_deref().unwrap_or("+00:00");
                let utc = matches!(name, "UTC" | "+00:00");
                Kind::Timestamp(*unit, name.parse().ok()?, utc)
            }
            _ => return None,
        };
        let mut column = Column {
            kind,
            data_type: data_type.clone(),
            nulls: NullBufferBuilder::new(0),
            values: Values::I64(Vec::new()),
        };
        column.values = column.empty_values(0, 0);
        Some(column)
    }

    /// Empty buffers with room for `rows` values of `bytes` bytes (strings).
    fn empty_values(&self, rows: usize, bytes: usize) -> Values {
        match self.kind {
            Kind::Boolean => Values::Bool(BooleanBufferBuilder::new(rows)),
            Kind::Float32 | Kind::Float64 => Values::F64(Vec::with_capacity(rows)),
            Kind::Decimal128(..) => Values::I128(Vec::with_capacity(rows)),
            Kind::Utf8 => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Values::Str {
                    offsets,
                    bytes: Vec::with_capacity(bytes),
                }
            }
            _ => Values::I64(Vec::with_capacity(rows)),
        }
    }

    /// Appends a NULL (the field is `null` or missing).
    #[inline]
    pub(crate) fn append_null(&mut self) {
        self.nulls.append_null();
        match &mut self.values {
            Values::I64(v) => v.push(0),
            Values::F64(v) => v.push(0.0),
            Values::I128(v) => v.push(0),
            Values::Str { offsets, bytes } => offsets.push(bytes.len() as i32),
            Values::Bool(b) => b.append(false),
        }
    }

    /// Reads the value at the cursor (after whitespace) into the column.
    #[inline]
    pub(crate) fn read(&mut self, cursor: &mut Cursor<'_>, scratch: &mut Vec<u8>) -> Option<()> {
        match cursor.peek_token()? {
            b'"' => {
                cursor.pos += 1;
                if let Values::Str { offsets, bytes } = &mut self.values {
                    cursor.string_into(bytes)?;
                    offsets.push(i32::try_from(bytes.len()).ok()?);
                    self.nulls.append_non_null();
                    return Some(());
                }
                let text = cursor.string(scratch)?;
                let text = std::str::from_utf8(text.bytes()).ok()?;
                self.push_text(text)
            }
            b'-' | b'0'..=b'9' => {
                let number = cursor.number()?;
                self.push_number(&number)
            }
            b't' => {
                cursor.literal(b"true")?;
                self.push_bool(true)
            }
            b'f' => {
                cursor.literal(b"false")?;
                self.push_bool(false)
            }
            b'n' => {
                cursor.literal(b"null")?;
                self.append_null();
                Some(())
            }
            _ => None,
        }
    }

    #[inline]
    fn push_i64(&mut self, v: i64) -> Option<()> {
        let Values::I64(values) = &mut self.values else {
            return None;
        };
        values.push(v);
        self.nulls.append_non_null();
        Some(())
    }

    #[inline]
    fn push_f64(&mut self, v: f64) -> Option<()> {
        let Values::F64(values) = &mut self.values else {
            return None;
        };
        values.push(v);
        self.nulls.append_non_null();
        Some(())
    }

    fn push_i128(&mut self, v: i128) -> Option<()> {
        let Values::I128(values) = &mut self.values else {
            return None;
        };
        values.push(v);
        self.nulls.append_non_null();
        Some(())
    }

    fn push_str(&mut self, text: &[u8]) -> Option<()> {
        let Values::Str { offsets, bytes } = &mut self.values else {
            return None;
        };
        bytes.extend_from_slice(text);
        offsets.push(i32::try_from(bytes.len()).ok()?);
        self.nulls.append_non_null();
        Some(())
    }

    /// A JSON string given for the column (decoded), read as arrow-json reads it.
    fn push_text(&mut self, text: &str) -> Option<()> {
        match &self.kind {
            Kind::Int8 => self.push_i64(Int8Type::parse(text)?.into()),
            Kind::Int16 => self.push_i64(Int16Type::parse(text)?.into()),
            Kind::Int32 => self.push_i64(Int32Type::parse(text)?.into()),
            Kind::Int64 => self.push_i64(Int64Type::parse(text)?),
            Kind::Float32 => self.push_f64(Float32Type::parse(text)?.into()),
            Kind::Float64 => self.push_f64(Float64Type::parse(text)?),
            Kind::Decimal128(p, s) => {
                let v = parse_decimal::<Decimal128Type>(text, *p, *s).ok()?;
                self.push_i128(v)
            }
            Kind::Date32 => self.push_i64(Date32Type::parse(text)?.into()),
            Kind::Timestamp(unit, tz, utc) => {
                let value = match parse_utc(text.as_bytes()).filter(|_| *utc) {
                    Some((seconds, nanos)) => in_unit(seconds, nanos, *unit)?,
                    None => {
                        let t = string_to_datetime(tz, text).ok()?;
                        match unit {
                            TimeUnit::Second => t.timestamp(),
                            TimeUnit::Millisecond => t.timestamp_millis(),
                            TimeUnit::Microsecond => t.timestamp_micros(),
                            TimeUnit::Nanosecond => t.timestamp_nanos_opt()?,
                        }
                    }
                };
                self.push_i64(value)
            }
            // A BOOLEAN given as a string is read by the slower path (json_boolean).
            Kind::Boolean | Kind::Utf8 => None,
        }
    }

    /// A JSON number given for the column.
    #[inline]
    fn push_number(&mut self, number: &Number<'_>) -> Option<()> {
        match &self.kind {
            Kind::Int8 => self.push_i64(i8::try_from(number.int?).ok()?.into()),
            Kind::Int16 => self.push_i64(i16::try_from(number.int?).ok()?.into()),
            Kind::Int32 | Kind::Date32 => self.push_i64(i32::try_from(number.int?).ok()?.into()),
            Kind::Int64 | Kind::Timestamp(..) => self.push_i64(number.int?),
            Kind::Float32 => {
                let v: f32 = std::str::from_utf8(number.text).ok()?.parse().ok()?;
                self.push_f64(v.into())
            }
            Kind::Float64 => self.push_f64(std::str::from_utf8(number.text).ok()?.parse().ok()?),
            Kind::Decimal128(p, s) => {
                let text = std::str::from_utf8(number.text).ok()?;
                let v = parse_decimal::<Decimal128Type>(text, *p, *s).ok()?;
                self.push_i128(v)
            }
            Kind::Utf8 => self.push_str(number.text),
            Kind::Boolean => None,
        }
    }

    /// A JSON boolean given for the column.
    fn push_bool(&mut self, v: bool) -> Option<()> {
        match &mut self.values {
            Values::Bool(b) => {
                b.append(v);
                self.nulls.append_non_null();
                Some(())
            }
            Values::Str { .. } => self.push_str(if v { b"true" } else { b"false" }),
            _ => None,
        }
    }

    /// The array of the values appended since the last call (or [`Column::clear`]).
    pub(crate) fn finish(&mut self) -> Option<ArrayRef> {
        // The next batch is likely as large as this one: room for as many values.
        let (rows, bytes) = match &self.values {
            Values::I64(v) => (v.len(), 0),
            Values::F64(v) => (v.len(), 0),
            Values::I128(v) => (v.len(), 0),
            Values::Str { offsets, bytes } => (offsets.len() - 1, bytes.len()),
            Values::Bool(b) => (b.len(), 0),
        };
        let nulls = self.nulls.finish();
        self.nulls = NullBufferBuilder::new(rows);
        let empty = self.empty_values(rows, bytes);
        let values = std::mem::replace(&mut self.values, empty);
        let array: ArrayRef = match (values, &self.kind) {
            (Values::Bool(mut b), _) => Arc::new(BooleanArray::new(b.finish(), nulls)),
            (Values::F64(v), Kind::Float32) => {
                Arc::new(primitive::<Float32Type>(v.iter().map(|x| *x as f32), nulls))
            }
            (Values::F64(v), _) => Arc::new(PrimitiveArray::<Float64Type>::new(v.into(), nulls)),
            (Values::I128(v), Kind::Decimal128(p, s)) => Arc::new(
                PrimitiveArray::<Decimal128Type>::new(v.into(), nulls)
                    .with_precision_and_scale(*p, *s)
                    .ok()?,
            ),
            (Values::Str { offsets, bytes }, _) => Arc::new(
                StringArray::try_new(
                    OffsetBuffer::new(offsets.into()),
                    Buffer::from_vec(bytes),
                    nulls,
                )
                .ok()?,
            ),
            (Values::I64(v), kind) => match kind {
                Kind::Int8 => Arc::new(primitive::<Int8Type>(v.iter().map(|x| *x as i8), nulls)),
                Kind::Int16 => Arc::new(primitive::<Int16Type>(v.iter().map(|x| *x as i16), nulls)),
                Kind::Int32 => Arc::new(primitive::<Int32Type>(v.iter().map(|x| *x as i32), nulls)),
                Kind::Date32 => {
                    Arc::new(primitive::<Date32Type>(v.iter().map(|x| *x as i32), nulls))
                }
                Kind::Int64 => Arc::new(PrimitiveArray::<Int64Type>::new(v.into(), nulls)),
                Kind::Timestamp(unit, ..) => {
                    let values: ScalarBuffer<i64> = v.into();
                    let dt = self.data_type.clone();
                    match unit {
                        TimeUnit::Second => timestamps::<TimestampSecondType>(values, nulls, dt),
                        TimeUnit::Millisecond => {
                            timestamps::<TimestampMillisecondType>(values, nulls, dt)
                        }
                        TimeUnit::Microsecond => {
                            timestamps::<TimestampMicrosecondType>(values, nulls, dt)
                        }
                        TimeUnit::Nanosecond => {
                            timestamps::<TimestampNanosecondType>(values, nulls, dt)
                        }
                    }
                }
                _ => return None,
            },
            _ => return None,
        };
        debug_assert_eq!(array.data_type(), &self.data_type);
        Some(array)
    }

    /// Drops the values appended since the last [`Column::finish`].
    pub(crate) fn clear(&mut self) {
        self.nulls = NullBufferBuilder::new(0);
        self.values = self.empty_values(0, 0);
    }
}

fn primitive<T: ArrowPrimitiveType>(
    values: impl Iterator<Item = T::Native>,
    nulls: Option<arrow::buffer::NullBuffer>,
) -> PrimitiveArray<T> {
    PrimitiveArray::<T>::new(values.collect(), nulls)
}

fn timestamps<T: ArrowPrimitiveType<Native = i64>>(
    values: ScalarBuffer<i64>,
    nulls: Option<arrow::buffer::NullBuffer>,
    data_type: DataType,
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(values, nulls).with_data_type(data_type))
}
