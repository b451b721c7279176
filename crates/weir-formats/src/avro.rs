//! The `avro` format (Flink's `avro`): each message is one Avro binary datum (no
//! container file, no schema-registry magic byte) of a record schema derived from the
//! table's columns, as Flink's `AvroSchemaConverter` derives it.
//!
//! | column type | Avro type |
//! |---|---|
//! | BOOLEAN | `boolean` |
//! | TINYINT, SMALLINT, INT | `int` (a value out of range of the column is a bad message) |
//! | BIGINT | `long` |
//! | FLOAT, DOUBLE | `float`, `double` |
//! | STRING | `string` |
//! | BYTES | `bytes` |
//! | DECIMAL(p, s) | `bytes` with logical type `decimal` (precision p, scale s) |
//! | DATE | `int` with logical type `date` |
//! | TIME(p), p <= 3 | `int` with logical type `time-millis` |
//! | TIMESTAMP(p), TIMESTAMP_LTZ(p) | `long` with `timestamp-millis` (p <= 3) or `timestamp-micros` (p <= 6) |
//!
//! With `avro.timestamp_mapping.legacy` = `false`, TIMESTAMP (without time zone) is
//! `local-timestamp-millis` / `local-timestamp-micros` instead (Flink 1.19's option; the
//! default `true` maps both timestamp types to `timestamp-*`, as Flink does by default).
//! A nullable column is the union `["null", T]` with default `null`; the record is named
//! `record` in namespace `org.apache.flink.avro.generated`, its fields named and ordered
//! as the columns. ROW, ARRAY, MAP and higher precisions are refused.
//!
//! Decoding builds the Arrow columns directly from each datum; a message that is not a
//! datum of the schema (truncated, extra bytes, a bad union index) is a bad message.

use apache_avro::types::Value;
use apache_avro::{Decimal, Schema as AvroSchema};
use arrow::array::{
    make_builder, Array, ArrayBuilder, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder,
    Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, Int8Builder, StringBuilder, Time32MillisecondBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, Schema, SchemaRef, Time32MillisecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;
use serde_json::json;

use crate::changelog::insert_only;
use crate::error::FormatError;
use crate::lines::excerpt;
use crate::message::{BadMessage, DecodedMessages, MessageDecoder};
use crate::message_encode::MessageEncoder;

/// Options of the `avro` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroOptions {
    /// `avro.timestamp_mapping.legacy` (default true): TIMESTAMP as `timestamp-*`
    /// rather than `local-timestamp-*`.
    pub timestamp_legacy: bool,
}

impl Default for AvroOptions {
    fn default() -> Self {
        AvroOptions {
            timestamp_legacy: true,
        }
    }
}

/// How a column is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Text,
    Bytes,
    Decimal,
    Date,
    TimeMillis,
    TimestampMillis,
    TimestampMicros,
    LocalTimestampMillis,
    LocalTimestampMicros,
}

/// The Avro type (without the null union) of a column, and how it is handled.
fn column_type(
    field: &Field,
    options: &AvroOptions,
) -> Result<(Kind, serde_json::Value), FormatError> {
    let unsupported = || FormatError::UnsupportedType {
        format: "avro".into(),
        column: field.name().clone(),
        data_type: field.data_type().to_string(),
    };
    let logical = |base: &str, logical: &str| json!({"type": base, "logicalType": logical});
    Ok(match field.data_type() {
        DataType::Boolean => (Kind::Boolean, json!("boolean")),
        DataType::Int8 => (Kind::Int8, json!("int")),
        DataType::Int16 => (Kind::Int16, json!("int")),
        DataType::Int32 => (Kind::Int32, json!("int")),
        DataType::Int64 => (Kind::Int64, json!("long")),
        DataType::Float32 => (Kind::Float32, json!("float")),
        DataType::Float64 => (Kind::Float64, json!("double")),
        DataType::Utf8 => (Kind::Text, json!("string")),
        DataType::Binary => (Kind::Bytes, json!("bytes")),
        DataType::Decimal128(precision, scale) if *scale >= 0 => (
            Kind::Decimal,
            json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}),
        ),
        DataType::Date32 => (Kind::Date, logical("int", "date")),
        DataType::Time32(TimeUnit::Millisecond) => {
            (Kind::TimeMillis, logical("int", "time-millis"))
        }
        DataType::Timestamp(unit, zone) => {
            let local = zone.is_none() && !options.timestamp_legacy;
            match (unit, local) {
                (TimeUnit::Millisecond, false) => {
                    (Kind::TimestampMillis, logical("long", "timestamp-millis"))
                }
                (TimeUnit::Microsecond, false) => {
                    (Kind::TimestampMicros, logical("long", "timestamp-micros"))
                }
                (TimeUnit::Millisecond, true) => (
                    Kind::LocalTimestampMillis,
                    logical("long", "local-timestamp-millis"),
                ),
                (TimeUnit::Microsecond, true) => (
                    Kind::LocalTimestampMicros,
                    logical("long", "local-timestamp-micros"),
                ),
                _ => return Err(unsupported()),
            }
        }
        _ => return Err(unsupported()),
    })
}

/// The Avro schema (JSON text) of a table's columns, as Flink's `AvroSchemaConverter`
/// derives it (see the module documentation).
pub fn avro_schema(schema: &Schema, options: &AvroOptions) -> Result<String, FormatError> {
    Ok(derive(schema, options)?.0.to_string())
}

/// The schema as JSON, and the kind of each column.
fn derive(
    schema: &Schema,
    options: &AvroOptions,
) -> Result<(serde_json::Value, Vec<Kind>), FormatError> {
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut kinds = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(FormatError::Unsupported(format!(
                "format 'avro' cannot name a field '{name}': Avro names are letters, digits \
                 and '_', not starting with a digit; rename the column"
            )));
        }
        let (kind, avro) = column_type(field, options)?;
        kinds.push(kind);
        fields.push(if field.is_nullable() {
            json!({"name": name, "type": ["null", avro], "default": null})
        } else {
            json!({"name": name, "type": avro})
        });
    }
    let record = json!({
        "type": "record",
        "name": "record",
        "namespace": "org.apache.flink.avro.generated",
        "fields": fields,
    });
    Ok((record, kinds))
}

/// The parsed schema of a table.
fn parsed(schema: &Schema, options: &AvroOptions) -> Result<(AvroSchema, Vec<Kind>), FormatError> {
    let (text, kinds) = derive(schema, options)?;
    let avro = AvroSchema::parse_str(&text.to_string())
        .map_err(|e| FormatError::Unsupported(format!("format 'avro': {e}")))?;
    Ok((avro, kinds))
}

/// The error for a table read from or written to files.
pub(crate) fn no_files() -> FormatError {
    FormatError::Unsupported(
        "format 'avro' reads and writes single Avro datums in messages (Kafka); Avro container \
         files are not supported: use a 'json' or 'csv' file, or a Kafka table"
            .into(),
    )
}

/// Decodes messages, each one Avro datum of the table's record schema.
pub struct AvroMessageDecoder {
    schema: SchemaRef,
    avro: AvroSchema,
    kinds: Vec<Kind>,
    builders: Vec<Box<dyn ArrayBuilder>>,
    origin: String,
}

impl AvroMessageDecoder {
    /// A decoder producing batches of `schema`. Fails for a column type Avro cannot hold.
    pub fn new(
        schema: SchemaRef,
        options: &AvroOptions,
    ) -> Result<AvroMessageDecoder, FormatError> {
        let (avro, kinds) = parsed(&schema, options)?;
        let builders = schema
            .fields()
            .iter()
            .map(|f| make_builder(f.data_type(), 0))
            .collect();
        Ok(AvroMessageDecoder {
            schema,
            avro,
            kinds,
            builders,
            origin: "message".into(),
        })
    }

    /// The datum's field values, checked against the columns; a reason otherwise.
    fn fields(&self, message: &[u8]) -> Result<Vec<Value>, String> {
        let mut reader = message;
        let value = apache_avro::from_avro_datum(&self.avro, &mut reader, None)
            .map_err(|e| format!("not an Avro datum of the table's schema: {e}"))?;
        if !reader.is_empty() {
            return Err(format!(
                "{} bytes follow the Avro datum (a message holds exactly one datum, without \
                 a schema-registry header)",
                reader.len()
            ));
        }
        let Value::Record(fields) = value else {
            return Err("the datum is not a record".into());
        };
        let values: Vec<Value> = fields
            .into_iter()
            .map(|(_, v)| match v {
                Value::Union(_, inner) => *inner,
                other => other,
            })
            .collect();
        for ((value, kind), field) in values.iter().zip(&self.kinds).zip(self.schema.fields()) {
            check(value, *kind).map_err(|e| format!("field '{}': {e}", field.name()))?;
        }
        Ok(values)
    }
}

/// Checks that a decoded value fits its column (integers in range, decimal precision).
fn check(value: &Value, kind: Kind) -> Result<(), String> {
    match (kind, value) {
        (_, Value::Null) => Ok(()),
        (Kind::Int8, Value::Int(v)) if i8::try_from(*v).is_err() => {
            Err(format!("{v} is out of range of a TINYINT"))
        }
        (Kind::Int16, Value::Int(v)) if i16::try_from(*v).is_err() => {
            Err(format!("{v} is out of range of a SMALLINT"))
        }
        (Kind::Decimal, Value::Decimal(d)) => decimal_value(d).map(|_| ()),
        _ => Ok(()),
    }
}

/// The unscaled value of a decimal, if it fits 128 bits.
fn decimal_value(decimal: &Decimal) -> Result<i128, String> {
    let bytes = Vec::<u8>::try_from(decimal).map_err(|e| e.to_string())?;
    if bytes.len() > 16 {
        return Err(format!(
            "a decimal of {} bytes does not fit DECIMAL(38)",
            bytes.len()
        ));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut full = [if negative { 0xff } else { 0 }; 16];
    full[16 - bytes.len()..].copy_from_slice(&bytes);
    Ok(i128::from_be_bytes(full))
}

/// Appends a checked value (NULL for `Value::Null`) to a column's builder.
fn append(builder: &mut dyn ArrayBuilder, kind: Kind, value: &Value) {
    macro_rules! put {
        ($builder:ty, $value:expr) => {
            if let Some(b) = builder.as_any_mut().downcast_mut::<$builder>() {
                match $value {
                    Some(v) => b.append_value(v),
                    None => b.append_null(),
                }
            }
        };
    }
    match kind {
        Kind::Boolean => put!(
            BooleanBuilder,
            match value {
                Value::Boolean(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::Int8 => put!(
            Int8Builder,
            match value {
                Value::Int(v) => i8::try_from(*v).ok(),
                _ => None,
            }
        ),
        Kind::Int16 => put!(
            Int16Builder,
            match value {
                Value::Int(v) => i16::try_from(*v).ok(),
                _ => None,
            }
        ),
        Kind::Int32 => put!(
            Int32Builder,
            match value {
                Value::Int(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::Int64 => put!(
            Int64Builder,
            match value {
                Value::Long(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::Float32 => put!(
            Float32Builder,
            match value {
                Value::Float(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::Float64 => put!(
            Float64Builder,
            match value {
                Value::Double(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::Text => put!(
            StringBuilder,
            match value {
                Value::String(v) => Some(v.as_str()),
                _ => None,
            }
        ),
        Kind::Bytes => put!(
            BinaryBuilder,
            match value {
                Value::Bytes(v) => Some(v.as_slice()),
                _ => None,
            }
        ),
        Kind::Decimal => put!(
            Decimal128Builder,
            match value {
                Value::Decimal(d) => decimal_value(d).ok(),
                _ => None,
            }
        ),
        Kind::Date => put!(
            Date32Builder,
            match value {
                Value::Date(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::TimeMillis => put!(
            Time32MillisecondBuilder,
            match value {
                Value::TimeMillis(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::TimestampMillis | Kind::LocalTimestampMillis => put!(
            TimestampMillisecondBuilder,
            match value {
                Value::TimestampMillis(v) | Value::LocalTimestampMillis(v) => Some(*v),
                _ => None,
            }
        ),
        Kind::TimestampMicros | Kind::LocalTimestampMicros => put!(
            TimestampMicrosecondBuilder,
            match value {
                Value::TimestampMicros(v) | Value::LocalTimestampMicros(v) => Some(*v),
                _ => None,
            }
        ),
    }
}

impl MessageDecoder for AvroMessageDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn set_origin(&mut self, origin: &str) {
        self.origin = origin.to_string();
    }

    fn decode_messages(&mut self, messages: &[&[u8]]) -> Result<DecodedMessages, FormatError> {
        let mut out = DecodedMessages::default();
        for (index, message) in messages.iter().enumerate() {
            match self.fields(message) {
                Ok(values) => {
                    for ((builder, kind), value) in
                        self.builders.iter_mut().zip(&self.kinds).zip(&values)
                    {
                        append(builder.as_mut(), *kind, value);
                    }
                    out.row_messages.push(index as u32);
                }
                Err(reason) => out.bad.push(BadMessage {
                    index,
                    error: FormatError::BadRecord {
                        origin: self.origin.clone(),
                        line: index as u64 + 1,
                        format: "Avro",
                        reason,
                        record: format!("{} bytes: {}", message.len(), excerpt(message)),
                        hint: "check that the producer writes plain Avro datums of the \
                               table's schema (no Confluent header)"
                            .into(),
                    },
                }),
            }
        }
        // The builders have the declared types (decimal precision, time zone).
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        if !out.row_messages.is_empty() {
            out.batches
                .push(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        Ok(out)
    }
}

/// Encodes each row as one Avro datum of the table's record schema.
pub struct AvroMessageEncoder {
    avro: AvroSchema,
    kinds: Vec<Kind>,
    names: Vec<String>,
    nullable: Vec<bool>,
}

impl AvroMessageEncoder {
    /// An encoder for batches of `schema`. Fails for a column type Avro cannot hold.
    pub fn new(schema: &Schema, options: &AvroOptions) -> Result<AvroMessageEncoder, FormatError> {
        let (avro, kinds) = parsed(schema, options)?;
        Ok(AvroMessageEncoder {
            avro,
            kinds,
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            nullable: schema.fields().iter().map(|f| f.is_nullable()).collect(),
        })
    }
}

/// The Avro value of row `row` of a column (`Value::Null` for NULL).
fn value_at(column: &dyn Array, kind: Kind, row: usize) -> Result<Value, FormatError> {
    if column.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Kind::Boolean => Value::Boolean(column.as_boolean().value(row)),
        Kind::Int8 => Value::Int(column.as_primitive::<Int8Type>().value(row).into()),
        Kind::Int16 => Value::Int(column.as_primitive::<Int16Type>().value(row).into()),
        Kind::Int32 => Value::Int(column.as_primitive::<Int32Type>().value(row)),
        Kind::Int64 => Value::Long(column.as_primitive::<Int64Type>().value(row)),
        Kind::Float32 => Value::Float(column.as_primitive::<Float32Type>().value(row)),
        Kind::Float64 => Value::Double(column.as_primitive::<Float64Type>().value(row)),
        Kind::Text => Value::String(column.as_string::<i32>().value(row).to_string()),
        Kind::Bytes => Value::Bytes(column.as_binary::<i32>().value(row).to_vec()),
        Kind::Decimal => {
            let unscaled = column.as_primitive::<Decimal128Type>().value(row);
            Value::Decimal(Decimal::from(minimal_bytes(unscaled)))
        }
        Kind::Date => Value::Date(column.as_primitive::<Date32Type>().value(row)),
        Kind::TimeMillis => {
            Value::TimeMillis(column.as_primitive::<Time32MillisecondType>().value(row))
        }
        Kind::TimestampMillis => {
            Value::TimestampMillis(column.as_primitive::<TimestampMillisecondType>().value(row))
        }
        Kind::TimestampMicros => {
            Value::TimestampMicros(column.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        Kind::LocalTimestampMillis => Value::LocalTimestampMillis(
            column.as_primitive::<TimestampMillisecondType>().value(row),
        ),
        Kind::LocalTimestampMicros => Value::LocalTimestampMicros(
            column.as_primitive::<TimestampMicrosecondType>().value(row),
        ),
    })
}

/// The shortest big-endian two's complement bytes of `value` (Avro's decimal bytes).
fn minimal_bytes(value: i128) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let sign = if value < 0 { 0xff } else { 0 };
    let mut start = 0;
    while start < 15 && bytes[start] == sign && (bytes[start + 1] & 0x80) == (sign & 0x80) {
        start += 1;
    }
    bytes[start..].to_vec()
}

impl MessageEncoder for AvroMessageEncoder {
    fn encode_messages(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<Option<Vec<u8>>>,
    ) -> Result<(), FormatError> {
        let data = insert_only(batch, "avro")?;
        for row in 0..data.num_rows() {
            let mut fields = Vec::with_capacity(self.kinds.len());
            for (i, kind) in self.kinds.iter().enumerate() {
                let value = value_at(data.column(i).as_ref(), *kind, row)?;
                let value = match (self.nullable[i], value) {
                    (true, Value::Null) => Value::Union(0, Box::new(Value::Null)),
                    (true, v) => Value::Union(1, Box::new(v)),
                    (false, Value::Null) => {
                        return Err(FormatError::Unsupported(format!(
                            "format 'avro': column '{}' is NOT NULL but row {row} has NULL",
                            self.names[i]
                        )))
                    }
                    (false, v) => v,
                };
                fields.push((self.names[i].clone(), value));
            }
            let datum = apache_avro::to_avro_datum(&self.avro, Value::Record(fields))
                .map_err(|e| FormatError::Unsupported(format!("format 'avro': {e}")))?;
            out.push(Some(datum));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
