//! How rows of a redis table map to Redis keys and values.
//!
//! - Key: `key-prefix` followed by the PRIMARY KEY columns' values as text, in the
//!   key's declared order, joined with [`KEY_SEPARATOR`] (`:`): a table with `PRIMARY
//!   KEY (country, id)` and `'key-prefix' = 'customer:'` stores the row `('DE', 7, ...)`
//!   under `customer:DE:7`. Values are written as Arrow casts them to text (integers in
//!   decimal, TIMESTAMP as `2024-01-01T10:00:00.123`, DATE as `2024-01-01`).
//! - Value, `value.layout` = `string` (default): the other columns as one JSON object
//!   (`format` = `json`, with the `json.*` options), stored with `SET`.
//! - Value, `value.layout` = `hash`: one hash field per other column (field name = column
//!   name, value = text as for keys), stored with `HSET`; a NULL column has no field.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, UInt32Array};
use arrow::compute::{cast, cast_with_options, concat_batches, take, CastOptions};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use weir_formats::RecordEncoder;
use weir_formats::{FormatConfig, JsonDecoder, JsonEncoder, JsonOptions, RecordDecoder};

/// Separates the key columns' values (and follows nothing: the prefix is written as is).
pub const KEY_SEPARATOR: &str = ":";

/// `value.layout`.
#[derive(Clone, Debug)]
pub(crate) enum Layout {
    /// One string per key, the value columns encoded as JSON.
    String(JsonOptions),
    /// One hash per key, a field per value column.
    Hash,
}

/// A value as Redis stores it.
pub(crate) enum Value {
    /// For `SET`.
    String(Vec<u8>),
    /// For `HSET`: field and text of every non-NULL value column.
    Hash(Vec<(String, String)>),
}

/// Encodes and decodes the rows of one redis table.
pub(crate) struct Codec {
    /// The table's columns.
    pub schema: SchemaRef,
    /// Indices of the PRIMARY KEY columns, in key order.
    pub key_columns: Vec<usize>,
    /// Indices of the other columns.
    pub value_columns: Vec<usize>,
    /// `key-prefix`.
    pub prefix: String,
    /// `value.layout`.
    pub layout: Layout,
    value_schema: SchemaRef,
}

impl Codec {
    /// A codec for `schema` keyed by `key_columns`.
    pub(crate) fn new(
        schema: SchemaRef,
        key_columns: Vec<usize>,
        prefix: String,
        layout: Layout,
    ) -> Result<Codec, String> {
        // Looked-up rows may have NULLs in any column (a hash without a field).
        let schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let value_columns: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !key_columns.contains(i))
            .collect();
        let value_schema = Arc::new(schema.project(&value_columns).map_err(|e| e.to_string())?);
        if let Layout::String(options) = &layout {
            // Checks that every column can be written and read as JSON.
            JsonEncoder::new(&value_schema, options).map_err(|e| e.to_string())?;
            JsonDecoder::new(value_schema.clone(), options.clone()).map_err(|e| e.to_string())?;
        }
        for &k in &key_columns {
            let field = schema.field(k);
            if !text_round_trips(field.data_type()) {
                return Err(format!(
                    "primary key column '{}' has type {}, which cannot form a Redis key",
                    field.name(),
                    field.data_type()
                ));
            }
        }
        if matches!(layout, Layout::Hash) {
            if let Some(&v) = value_columns
                .iter()
                .find(|&&v| !text_round_trips(schema.field(v).data_type()))
            {
                let field = schema.field(v);
                return Err(format!(
                    "column '{}' has type {}, which 'value.layout' = 'hash' cannot store; \
                     use 'value.layout' = 'string'",
                    field.name(),
                    field.data_type()
                ));
            }
        }
        Ok(Codec {
            schema,
            key_columns,
            value_columns,
            prefix,
            layout,
            value_schema,
        })
    }

    /// The Redis key of every row of `batch`, whose columns `key_columns` (indices into
    /// `batch`) hold the key values in key order. A NULL key value is an error.
    pub(crate) fn keys(
        &self,
        batch: &RecordBatch,
        key_columns: &[usize],
    ) -> Result<Vec<String>, String> {
        let texts = key_columns
            .iter()
            .map(|&c| as_text(batch.column(c)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let mut key = self.prefix.clone();
            for (i, text) in texts.iter().enumerate() {
                if text.is_null(row) {
                    let name = batch.schema().field(key_columns[i]).name().clone();
                    return Err(format!("primary key column '{name}' is NULL"));
                }
                if i > 0 {
                    key.push_str(KEY_SEPARATOR);
                }
                key.push_str(text.value(row));
            }
            keys.push(key);
        }
        Ok(keys)
    }

    /// The value of every row of `batch` (the table's columns).
    pub(crate) fn values(&self, batch: &RecordBatch) -> Result<Vec<Value>, String> {
        let values = batch
            .project(&self.value_columns)
            .map_err(|e| e.to_string())?;
        match &self.layout {
            Layout::String(options) => {
                let mut encoder =
                    JsonEncoder::new(&self.value_schema, options).map_err(|e| e.to_string())?;
                let mut lines = Vec::new();
                encoder
                    .encode(&values, &mut lines)
                    .map_err(|e| e.to_string())?;
                Ok(lines
                    .split(|b| *b == b'\n')
                    .take(batch.num_rows())
                    .map(|line| Value::String(line.to_vec()))
                    .collect())
            }
            Layout::Hash => {
                let texts = values
                    .columns()
                    .iter()
                    .map(as_text)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((0..batch.num_rows())
                    .map(|row| {
                        Value::Hash(
                            texts
                                .iter()
                                .zip(self.value_schema.fields())
                                .filter(|(t, _)| !t.is_null(row))
                                .map(|(t, f)| (f.name().clone(), t.value(row).to_string()))
                                .collect(),
                        )
                    })
                    .collect())
            }
        }
    }

    /// The rows found for some of `keys` (the key columns, in key order): `found` holds
    /// (row of `keys`, JSON value) pairs.
    pub(crate) fn decode_strings(
        &self,
        keys: &RecordBatch,
        found: Vec<(usize, Vec<u8>)>,
    ) -> Result<RecordBatch, String> {
        let Layout::String(options) = &self.layout else {
            return Err("decode_strings on a hash layout".into());
        };
        let mut decoder = JsonDecoder::new(self.value_schema.clone(), options.clone())
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        for (_, value) in &found {
            bytes.extend_from_slice(value);
            bytes.push(b'\n');
        }
        decoder.set_origin("redis value");
        let decoded = decoder.decode(&bytes, 1).map_err(|e| e.to_string())?;
        let values =
            concat_batches(&self.value_schema, &decoded.batches).map_err(|e| e.to_string())?;
        if values.num_rows() != found.len() {
            return Err(format!(
                "{} of {} values are not JSON objects of the table's columns",
                found.len() - values.num_rows(),
                found.len()
            ));
        }
        let rows: Vec<usize> = found.iter().map(|(row, _)| *row).collect();
        self.assemble(keys, &rows, values.columns().to_vec())
    }

    /// The rows found for some of `keys`: `found` holds (row of `keys`, hash fields).
    pub(crate) fn decode_hashes(
        &self,
        keys: &RecordBatch,
        found: Vec<(usize, HashMap<String, String>)>,
    ) -> Result<RecordBatch, String> {
        let strict = CastOptions {
            safe: false,
            ..Default::default()
        };
        let mut columns = Vec::new();
        for field in self.value_schema.fields() {
            let text: StringArray = found
                .iter()
                .map(|(_, fields)| fields.get(field.name()).map(String::as_str))
                .collect();
            let column = cast_with_options(&text, field.data_type(), &strict).map_err(|e| {
                format!(
                    "hash field '{}' does not hold a {}: {e}",
                    field.name(),
                    field.data_type()
                )
            })?;
            columns.push(column);
        }
        let rows: Vec<usize> = found.iter().map(|(row, _)| *row).collect();
        self.assemble(keys, &rows, columns)
    }

    /// Rows of the table's schema: key columns taken from `keys` at `rows`, value
    /// columns as given.
    fn assemble(
        &self,
        keys: &RecordBatch,
        rows: &[usize],
        values: Vec<ArrayRef>,
    ) -> Result<RecordBatch, String> {
        let indices = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
        let mut values = values.into_iter();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            let column = match self.key_columns.iter().position(|&k| k == i) {
                Some(k) => {
                    let taken =
                        take(keys.column(k).as_ref(), &indices, None).map_err(|e| e.to_string())?;
                    cast(&taken, field.data_type()).map_err(|e| e.to_string())?
                }
                None => values
                    .next()
                    .ok_or_else(|| "a value column is missing".to_string())?,
            };
            columns.push(column);
        }
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())
    }
}

/// A column as text, as keys and hash fields store it.
fn as_text(column: &ArrayRef) -> Result<StringArray, String> {
    let text = cast(column, &DataType::Utf8).map_err(|e| e.to_string())?;
    Ok(text.as_string::<i32>().clone())
}

/// Whether values of `data_type` survive a trip through text (a key or hash field).
fn text_round_trips(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float32
            | Float64
            | Decimal128(_, _)
            | Utf8
            | LargeUtf8
            | Utf8View
            | Date32
            | Timestamp(_, _)
            | Time32(_)
            | Time64(_)
    )
}

/// The `format` option's configuration, if it is one a string value can use.
pub(crate) fn json_options(format: &FormatConfig) -> Option<JsonOptions> {
    match format {
        FormatConfig::Json(options) => Some(options.clone()),
        _ => None,
    }
}
