//! The `raw` format (Flink's `raw`): a table of exactly one physical column whose value
//! is the whole message, as is.
//!
//! | column type | a message value is |
//! |---|---|
//! | STRING (CHAR, VARCHAR) | its UTF-8 text (`raw.charset` accepts only UTF-8) |
//! | BYTES (BINARY, VARBINARY) | its bytes |
//! | BOOLEAN | one byte: 0 false, 1 true |
//! | TINYINT | one byte, signed |
//! | SMALLINT, INT, BIGINT | 2, 4, 8 bytes, two's complement, in `raw.endianness` order (default `big-endian`) |
//! | FLOAT, DOUBLE | 4, 8 bytes, IEEE 754, in `raw.endianness` order |
//!
//! An empty message (Kafka's null value included: a [`MessageDecoder`] cannot tell the
//! two apart) is NULL; Flink reads an empty value of a STRING column as `''`. A value
//! of the wrong length for a numeric column, text that is not UTF-8, or NULL for a NOT
//! NULL column is a bad message. Messages are taken whole: line breaks stay in the
//! value.
//!
//! In files ([`RawDecoder`], [`RawEncoder`]) only STRING and BYTES columns can be used:
//! each line (without its `\n` or `\r\n`) is one value, an empty line is NULL, and a
//! written value is followed by `\n` (a NULL is an empty line; a value holding a line
//! break reads back as two values).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, PrimitiveBuilder, StringBuilder,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, Schema, SchemaRef,
};
use arrow::record_batch::RecordBatch;

use crate::changelog::insert_only;
use crate::error::FormatError;
use crate::lines::{excerpt, line_spans};
use crate::message::{BadMessage, DecodedMessages, MessageDecoder};
use crate::message_encode::MessageEncoder;
use crate::recover::{BulkDecode, Reporting};
use crate::RecordEncoder;

/// `raw.endianness`: the byte order of numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endianness {
    /// `big-endian` (Flink's default, network order).
    #[default]
    Big,
    /// `little-endian`.
    Little,
}

/// Options of the `raw` format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    /// `raw.endianness`.
    pub endianness: Endianness,
}

/// The column type, as the format reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Bytes,
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
}

impl Kind {
    fn of(data_type: &DataType) -> Option<Kind> {
        Some(match data_type {
            DataType::Utf8 => Kind::Text,
            DataType::Binary => Kind::Bytes,
            DataType::Boolean => Kind::Boolean,
            DataType::Int8 => Kind::Int8,
            DataType::Int16 => Kind::Int16,
            DataType::Int32 => Kind::Int32,
            DataType::Int64 => Kind::Int64,
            DataType::Float32 => Kind::Float32,
            DataType::Float64 => Kind::Float64,
            _ => return None,
        })
    }

    fn is_numeric(self) -> bool {
        !matches!(self, Kind::Text | Kind::Bytes)
    }
}

/// The single column of a `raw` table, checked. `lines` is true for files, which hold
/// only text or bytes.
fn column_kind(schema: &Schema, lines: bool) -> Result<Kind, FormatError> {
    let [field] = schema.fields().iter().collect::<Vec<_>>()[..] else {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(FormatError::Unsupported(format!(
            "format 'raw' reads and writes exactly one physical column, but the table has {} \
             ({}); declare one STRING or BYTES column, or use another format",
            names.len(),
            names.join(", ")
        )));
    };
    let unsupported = || FormatError::UnsupportedType {
        format: "raw".into(),
        column: field.name().clone(),
        data_type: field.data_type().to_string(),
    };
    let kind = Kind::of(field.data_type()).ok_or_else(unsupported)?;
    if lines && kind.is_numeric() {
        return Err(FormatError::Unsupported(format!(
            "format 'raw' reads a {} column (binary numbers) only from messages (Kafka); in \
             files each line is one value: declare column '{}' as STRING or BYTES",
            field.data_type(),
            field.name()
        )));
    }
    Ok(kind)
}

/// Builds the one column of a batch from values; `Err` is a reason for the user.
struct ColumnBuilder {
    kind: Kind,
    endianness: Endianness,
    nullable: bool,
    column: String,
    builder: Builder,
}

enum Builder {
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Boolean(BooleanBuilder),
    Int8(PrimitiveBuilder<Int8Type>),
    Int16(PrimitiveBuilder<Int16Type>),
    Int32(PrimitiveBuilder<Int32Type>),
    Int64(PrimitiveBuilder<Int64Type>),
    Float32(PrimitiveBuilder<Float32Type>),
    Float64(PrimitiveBuilder<Float64Type>),
}

impl ColumnBuilder {
    fn new(schema: &Schema, kind: Kind, endianness: Endianness) -> ColumnBuilder {
        let field = schema.field(0);
        let builder = match kind {
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::Bytes => Builder::Bytes(BinaryBuilder::new()),
            Kind::Boolean => Builder::Boolean(BooleanBuilder::new()),
            Kind::Int8 => Builder::Int8(PrimitiveBuilder::new()),
            Kind::Int16 => Builder::Int16(PrimitiveBuilder::new()),
            Kind::Int32 => Builder::Int32(PrimitiveBuilder::new()),
            Kind::Int64 => Builder::Int64(PrimitiveBuilder::new()),
            Kind::Float32 => Builder::Float32(PrimitiveBuilder::new()),
            Kind::Float64 => Builder::Float64(PrimitiveBuilder::new()),
        };
        ColumnBuilder {
            kind,
            endianness,
            nullable: field.is_nullable(),
            column: field.name().clone(),
            builder,
        }
    }

    /// Checks a value and appends it (empty is NULL); nothing is appended on an error.
    fn append(&mut self, value: &[u8]) -> Result<(), String> {
        if value.is_empty() {
            if !self.nullable {
                return Err(format!(
                    "the value is empty (NULL) but column '{}' is declared NOT NULL",
                    self.column
                ));
            }
            match &mut self.builder {
                Builder::Text(b) => b.append_null(),
                Builder::Bytes(b) => b.append_null(),
                Builder::Boolean(b) => b.append_null(),
                Builder::Int8(b) => b.append_null(),
                Builder::Int16(b) => b.append_null(),
                Builder::Int32(b) => b.append_null(),
                Builder::Int64(b) => b.append_null(),
                Builder::Float32(b) => b.append_null(),
                Builder::Float64(b) => b.append_null(),
            }
            return Ok(());
        }
        let big = self.endianness == Endianness::Big;
        let kind = self.kind;
        match &mut self.builder {
            Builder::Text(b) => {
                let text = std::str::from_utf8(value)
                    .map_err(|e| format!("the value is not UTF-8 text: {e}"))?;
                b.append_value(text);
            }
            Builder::Bytes(b) => b.append_value(value),
            Builder::Boolean(b) => match fixed::<1>(value, kind)? {
                [0] => b.append_value(false),
                [1] => b.append_value(true),
                [other] => return Err(format!("a BOOLEAN is one byte, 0 or 1; found {other}")),
            },
            Builder::Int8(b) => b.append_value(i8::from_be_bytes(fixed(value, kind)?)),
            Builder::Int16(b) => b.append_value(number(
                value,
                kind,
                big,
                i16::from_be_bytes,
                i16::from_le_bytes,
            )?),
            Builder::Int32(b) => b.append_value(number(
                value,
                kind,
                big,
                i32::from_be_bytes,
                i32::from_le_bytes,
            )?),
            Builder::Int64(b) => b.append_value(number(
                value,
                kind,
                big,
                i64::from_be_bytes,
                i64::from_le_bytes,
            )?),
            Builder::Float32(b) => b.append_value(number(
                value,
                kind,
                big,
                f32::from_be_bytes,
                f32::from_le_bytes,
            )?),
            Builder::Float64(b) => b.append_value(number(
                value,
                kind,
                big,
                f64::from_be_bytes,
                f64::from_le_bytes,
            )?),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        fn done<T: ArrowPrimitiveType>(b: &mut PrimitiveBuilder<T>) -> ArrayRef {
            Arc::new(b.finish())
        }
        match &mut self.builder {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Bytes(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Int8(b) => done(b),
            Builder::Int16(b) => done(b),
            Builder::Int32(b) => done(b),
            Builder::Int64(b) => done(b),
            Builder::Float32(b) => done(b),
            Builder::Float64(b) => done(b),
        }
    }
}

/// The `N` bytes of a numeric value, or why it has another length.
fn fixed<const N: usize>(value: &[u8], kind: Kind) -> Result<[u8; N], String> {
    value.try_into().map_err(|_| {
        let name = match kind {
            Kind::Boolean => "BOOLEAN",
            Kind::Int8 => "TINYINT",
            Kind::Int16 => "SMALLINT",
            Kind::Int32 => "INT",
            Kind::Int64 => "BIGINT",
            Kind::Float32 => "FLOAT",
            _ => "DOUBLE",
        };
        format!(
            "a {name} is {N} byte{}, the value has {}",
            if N == 1 { "" } else { "s" },
            value.len()
        )
    })
}

fn number<const N: usize, T>(
    value: &[u8],
    kind: Kind,
    big: bool,
    from_be: fn([u8; N]) -> T,
    from_le: fn([u8; N]) -> T,
) -> Result<T, String> {
    let bytes = fixed::<N>(value, kind)?;
    Ok(if big { from_be(bytes) } else { from_le(bytes) })
}

/// Decodes messages, each one value of the single column.
pub struct RawMessageDecoder {
    schema: SchemaRef,
    column: ColumnBuilder,
    origin: String,
}

impl RawMessageDecoder {
    /// A decoder for a table of one column (see the module's types).
    pub fn new(schema: SchemaRef, options: &RawOptions) -> Result<RawMessageDecoder, FormatError> {
        let kind = column_kind(&schema, false)?;
        Ok(RawMessageDecoder {
            column: ColumnBuilder::new(&schema, kind, options.endianness),
            schema,
            origin: "message".into(),
        })
    }
}

impl MessageDecoder for RawMessageDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn set_origin(&mut self, origin: &str) {
        self.origin = origin.to_string();
    }

    fn decode_messages(&mut self, messages: &[&[u8]]) -> Result<DecodedMessages, FormatError> {
        let mut out = DecodedMessages::default();
        for (index, message) in messages.iter().enumerate() {
            match self.column.append(message) {
                Ok(()) => out.row_messages.push(index as u32),
                Err(reason) => out.bad.push(BadMessage {
                    index,
                    error: bad_record(&self.origin, index as u64 + 1, reason, message),
                }),
            }
        }
        if !out.row_messages.is_empty() {
            out.batches.push(RecordBatch::try_new(
                self.schema.clone(),
                vec![self.column.finish()],
            )?);
        } else {
            self.column.finish();
        }
        Ok(out)
    }
}

fn bad_record(origin: &str, line: u64, reason: String, raw: &[u8]) -> FormatError {
    FormatError::BadRecord {
        origin: origin.to_string(),
        line,
        format: "raw",
        reason,
        record: excerpt(raw),
        hint: "check what writes the data, or declare the column as BYTES to read any value".into(),
    }
}

/// Decodes lines of a file, each one value of a STRING or BYTES column.
pub struct RawDecoder {
    schema: SchemaRef,
    column: ColumnBuilder,
    reporting: Reporting,
}

impl RawDecoder {
    /// A decoder for a table of one STRING or BYTES column.
    pub fn new(schema: SchemaRef) -> Result<RawDecoder, FormatError> {
        let kind = column_kind(&schema, true)?;
        Ok(RawDecoder {
            column: ColumnBuilder::new(&schema, kind, Endianness::Big),
            schema,
            reporting: Reporting::new("raw", false, |_| {
                "check what writes the file, or declare the column as BYTES to read any line".into()
            }),
        })
    }
}

impl BulkDecode for RawDecoder {
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String> {
        let mut rows = 0;
        for span in line_spans(bytes, 1) {
            if let Err(reason) = self.column.append(&bytes[span.start..span.end]) {
                self.column.finish();
                return Err(reason);
            }
            rows += 1;
        }
        let column = self.column.finish();
        if rows != records {
            return Err(format!("expected {records} lines, found {rows}"));
        }
        let batch =
            RecordBatch::try_new(self.schema.clone(), vec![column]).map_err(|e| e.to_string())?;
        Ok(vec![batch])
    }

    fn is_record(&self, _line: &[u8]) -> bool {
        true
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

/// The value of row `row` of a raw column as bytes, `None` for NULL.
pub(crate) fn value_bytes(
    column: &dyn Array,
    row: usize,
    endianness: Endianness,
) -> Option<Vec<u8>> {
    if column.is_null(row) {
        return None;
    }
    let big = endianness == Endianness::Big;
    macro_rules! num {
        ($t:ty) => {{
            let v = column.as_primitive::<$t>().value(row);
            if big {
                v.to_be_bytes().to_vec()
            } else {
                v.to_le_bytes().to_vec()
            }
        }};
    }
    Some(match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(row).as_bytes().to_vec(),
        DataType::Binary => column.as_binary::<i32>().value(row).to_vec(),
        DataType::Boolean => vec![u8::from(column.as_boolean().value(row))],
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::Float32 => num!(Float32Type),
        DataType::Float64 => num!(Float64Type),
        _ => return None,
    })
}

/// Writes a STRING or BYTES column's values as lines.
pub struct RawEncoder {}

impl RawEncoder {
    /// An encoder for a table of one STRING or BYTES column.
    pub fn new(schema: &Schema) -> Result<RawEncoder, FormatError> {
        column_kind(schema, true)?;
        Ok(RawEncoder {})
    }
}

/// Writes each row's value as one message, as is (a NULL is a message without value).
pub struct RawMessageEncoder {
    endianness: Endianness,
}

impl RawMessageEncoder {
    /// An encoder for a table of one column (see the module's types).
    pub fn new(schema: &Schema, options: &RawOptions) -> Result<RawMessageEncoder, FormatError> {
        column_kind(schema, false)?;
        Ok(RawMessageEncoder {
            endianness: options.endianness,
        })
    }
}

impl MessageEncoder for RawMessageEncoder {
    fn encode_messages(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<Option<Vec<u8>>>,
    ) -> Result<(), FormatError> {
        let data = insert_only(batch, "raw")?;
        let column = data.column(0);
        out.extend(
            (0..data.num_rows()).map(|row| value_bytes(column.as_ref(), row, self.endianness)),
        );
        Ok(())
    }
}

impl RecordEncoder for RawEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let data = insert_only(batch, "raw")?;
        let column = data.column(0);
        for row in 0..data.num_rows() {
            if let Some(value) = value_bytes(column.as_ref(), row, Endianness::Big) {
                out.extend_from_slice(&value);
            }
            out.push(b'\n');
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
