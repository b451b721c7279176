//! Schema adjustments shared by the decoders: what is decoded first, and how decoded
//! columns become the declared ones (NOT NULL checks, Base64 binary like Flink).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use base64::Engine;

/// Whether a type holds bytes, which Flink's text formats write as Base64 strings.
pub(crate) fn is_binary(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

/// The schema to decode into: top-level fields nullable (NOT NULL is checked afterwards,
/// with a clear message), and `as_text(field)` fields read as strings first.
pub(crate) fn decode_schema(schema: &Schema, as_text: impl Fn(&Field) -> bool) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let data_type = if as_text(f) {
                DataType::Utf8
            } else {
                f.data_type().clone()
            };
            Field::new(f.name(), data_type, true).with_metadata(f.metadata().clone())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Builds a batch of `schema` from decoded columns: converts Base64 strings to binary
/// columns (invalid Base64 is an error, or NULL if `lenient`) and checks NOT NULL
/// columns. Errors are reasons for the user.
pub(crate) fn finish_batch(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    lenient: bool,
) -> Result<RecordBatch, String> {
    let mut out = Vec::with_capacity(columns.len());
    for (field, column) in schema.fields().iter().zip(columns) {
        let column = if is_binary(field.data_type()) && column.data_type() == &DataType::Utf8 {
            base64_column(column.as_string::<i32>(), field.data_type(), lenient)
                .map_err(|e| format!("field '{}': {e}", field.name()))?
        } else {
            column
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(format!(
                "field '{}' is declared NOT NULL but has no value",
                field.name()
            ));
        }
        out.push(column);
    }
    let options = arrow::record_batch::RecordBatchOptions::new()
        .with_row_count(Some(out.first().map_or(0, |c| c.len())));
    RecordBatch::try_new_with_options(schema.clone(), out, &options).map_err(|e| e.to_string())
}

/// Decodes Base64 strings (Flink's text form of BYTES) to a binary column.
fn base64_column(strings: &StringArray, to: &DataType, lenient: bool) -> Result<ArrayRef, String> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut builder = BinaryBuilder::with_capacity(strings.len(), strings.value_data().len());
    for value in strings.iter() {
        match value {
            None => builder.append_null(),
            Some(text) => match engine.decode(text.trim()) {
                Ok(bytes) => builder.append_value(bytes),
                Err(_) if lenient => builder.append_null(),
                Err(e) => return Err(format!("'{text}' is not Base64: {e}")),
            },
        }
    }
    let binary: ArrayRef = Arc::new(builder.finish());
    match to {
        DataType::Binary => Ok(binary),
        other => arrow::compute::cast(&binary, other).map_err(|e| e.to_string()),
    }
}

/// Encodes a binary column as Base64 strings (Flink's text form of BYTES).
pub(crate) fn base64_strings(array: &dyn Array) -> Option<StringArray> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let encode = |v: Option<&[u8]>| v.map(|b| engine.encode(b));
    match array.data_type() {
        DataType::Binary => Some(array.as_binary::<i32>().iter().map(encode).collect()),
        DataType::LargeBinary => Some(array.as_binary::<i64>().iter().map(encode).collect()),
        DataType::BinaryView => Some(array.as_binary_view().iter().map(encode).collect()),
        _ => None,
    }
}
