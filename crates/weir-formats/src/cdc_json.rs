//! The `canal-json` and `maxwell-json` formats' decoders: change events of Alibaba Canal
//! and Maxwell, one JSON message per line (or per Kafka message), read into a changelog
//! as Flink's `CanalJsonDeserializationSchema` and `MaxwellJsonDeserializationSchema`
//! do.
//!
//! Canal: `{"data": [{...}, ...], "old": [{...}, ...], "type": "UPDATE", "database":
//! "inventory", "table": "products", "isDdl": false, ...}`.
//!
//! | `type` | rows |
//! |---|---|
//! | `INSERT` | each row of `data` as `+I` |
//! | `UPDATE` | for each `data[i]`: `old[i]` completed as below as `-U`, then `data[i]` as `+U` |
//! | `DELETE` | each row of `data` as `-D` |
//! | `CREATE`, or any message with `"isDdl": true` | nothing (a DDL event) |
//!
//! Maxwell: `{"database": "test", "table": "e", "type": "update", "data": {...}, "old":
//! {...}, ...}`: `insert` gives `data` as `+I`, `update` gives `old` completed as `-U` then
//! `data` as `+U`, `delete` gives `data` as `-D`.
//!
//! `old` holds only the fields an update changed: the before image is `old` with every
//! field it lacks taken from the after image (a field present in `old` with `null` stays
//! NULL). Another `type`, a missing `data` (or `old` of an update), or `data` and `old` of
//! different lengths is a malformed record. With `canal-json.database.include` /
//! `canal-json.table.include` (Java regular expressions matching the whole name),
//! messages of other databases or tables give no rows.
//!
//! Rows are read as the `json` format reads a row (by name, unknown fields ignored,
//! missing ones NULL, numbers given as strings accepted, as Canal writes them): each
//! message is parsed, its row images are written as JSON lines, and those are decoded
//! columnar by a [`JsonDecoder`]. Batches end with [`ROW_KIND_COLUMN`]. A JSON *number*
//! with more than 15 significant digits (Maxwell writes DECIMAL values as numbers) goes
//! through a double on the way and may lose its last digits; Canal writes values as
//! strings, which are exact.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use weir_types::{RowKind, ROW_KIND_COLUMN};

use crate::error::FormatError;
use crate::json_decode::JsonDecoder;
use crate::lines::{is_blank, line_spans};
use crate::options::{JsonOptions, TimestampStandard};
use crate::recover::{BulkDecode, Reporting};

/// Options of the `canal-json` format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanalJsonOptions {
    /// `canal-json.ignore-parse-errors`: skip malformed messages (and count them).
    pub ignore_parse_errors: bool,
    /// `canal-json.timestamp-format.standard`.
    pub timestamp_standard: TimestampStandard,
    /// `canal-json.database.include`: only messages of matching databases.
    pub database_include: Option<String>,
    /// `canal-json.table.include`: only messages of matching tables.
    pub table_include: Option<String>,
}

/// Options of the `maxwell-json` format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaxwellJsonOptions {
    /// `maxwell-json.ignore-parse-errors`: skip malformed messages (and count them).
    pub ignore_parse_errors: bool,
    /// `maxwell-json.timestamp-format.standard`.
    pub timestamp_standard: TimestampStandard,
}

/// Which tool wrote the messages.
enum Flavor {
    Canal {
        database: Option<Regex>,
        table: Option<Regex>,
    },
    Maxwell,
}

/// Compiles an include option as Java's `Pattern.matches` reads it: the whole name.
pub(crate) fn include_regex(option: &str, pattern: &str) -> Result<Regex, FormatError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| FormatError::InvalidOption {
        option: option.into(),
        value: pattern.into(),
        reason: format!("not a regular expression: {e}"),
    })
}

/// Decodes lines of Canal or Maxwell JSON messages into changelog batches.
pub struct CdcJsonDecoder {
    flavor: Flavor,
    /// The table's columns and the row kind: what `decode` produces.
    schema: SchemaRef,
    /// Decodes the row images.
    rows: JsonDecoder,
    reporting: Reporting,
    /// Row images of a chunk, one JSON object per line.
    images: Vec<u8>,
}

impl CdcJsonDecoder {
    /// A `canal-json` decoder producing batches of `schema` (the table's columns)
    /// followed by the row-kind column.
    pub fn canal(
        schema: SchemaRef,
        options: &CanalJsonOptions,
    ) -> Result<CdcJsonDecoder, FormatError> {
        let database = options
            .database_include
            .as_deref()
            .map(|p| include_regex("canal-json.database.include", p))
            .transpose()?;
        let table = options
            .table_include
            .as_deref()
            .map(|p| include_regex("canal-json.table.include", p))
            .transpose()?;
        CdcJsonDecoder::new(
            schema,
            Flavor::Canal { database, table },
            options.ignore_parse_errors,
            options.timestamp_standard,
        )
    }

    /// A `maxwell-json` decoder producing batches of `schema` (the table's columns)
    /// followed by the row-kind column.
    pub fn maxwell(
        schema: SchemaRef,
        options: &MaxwellJsonOptions,
    ) -> Result<CdcJsonDecoder, FormatError> {
        CdcJsonDecoder::new(
            schema,
            Flavor::Maxwell,
            options.ignore_parse_errors,
            options.timestamp_standard,
        )
    }

    fn new(
        schema: SchemaRef,
        flavor: Flavor,
        ignore_parse_errors: bool,
        timestamp_standard: TimestampStandard,
    ) -> Result<CdcJsonDecoder, FormatError> {
        let format = match flavor {
            Flavor::Canal { .. } => "canal-json",
            Flavor::Maxwell => "maxwell-json",
        };
        if let Some(field) = schema.fields().iter().find(|f| f.name() == ROW_KIND_COLUMN) {
            return Err(FormatError::Unsupported(format!(
                "column '{}' is reserved for the row kind of a changelog",
                field.name()
            )));
        }
        let json = JsonOptions {
            ignore_parse_errors,
            fail_on_missing_field: false,
            timestamp_standard,
            ignore_null_fields: false,
        };
        let rows = JsonDecoder::new(schema.clone(), json).map_err(|e| match e {
            FormatError::UnsupportedType {
                column, data_type, ..
            } => FormatError::UnsupportedType {
                format: format.into(),
                column,
                data_type,
            },
            other => other,
        })?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
        let (label, hint): (&'static str, fn(&str) -> String) = match flavor {
            Flavor::Canal { .. } => ("Canal JSON", |_| {
                "set 'canal-json.ignore-parse-errors' = 'true' to skip malformed records".into()
            }),
            Flavor::Maxwell => ("Maxwell JSON", |_| {
                "set 'maxwell-json.ignore-parse-errors' = 'true' to skip malformed records".into()
            }),
        };
        Ok(CdcJsonDecoder {
            flavor,
            schema: Arc::new(Schema::new(fields)),
            rows,
            reporting: Reporting::new(label, ignore_parse_errors, hint),
            images: Vec::new(),
        })
    }

    /// Appends the row images of one message to `images` and their kinds to `kinds`.
    fn message(&mut self, line: &[u8], kinds: &mut Vec<i8>) -> Result<(), String> {
        let message: Message = serde_json::from_slice(line).map_err(|e| {
            if e.is_data() {
                format!("not a change message: {e}")
            } else {
                format!("not JSON: {e}")
            }
        })?;
        let images = match &self.flavor {
            Flavor::Canal { database, table } => {
                let excluded = |pattern: &Option<Regex>, name: &Option<String>| {
                    pattern
                        .as_ref()
                        .is_some_and(|p| !p.is_match(name.as_deref().unwrap_or("")))
                };
                if excluded(database, &message.database) || excluded(table, &message.table) {
                    return Ok(());
                }
                canal_rows(&message)?
            }
            Flavor::Maxwell => maxwell_rows(&message)?,
        };
        for (kind, image) in images {
            write_image(&image, &mut self.images);
            kinds.push(kind as i8);
        }
        Ok(())
    }
}

/// The fields of a change message Weir reads; the others (`ts`, `es`, `xid`, `sql`,
/// `mysqlType`, ...) are ignored.
#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: Option<String>,
    database: Option<String>,
    table: Option<String>,
    #[serde(rename = "isDdl")]
    is_ddl: Option<bool>,
    data: Option<Value>,
    old: Option<Value>,
}

/// A row image: field names and their JSON values.
type Image = Map<String, Value>;

/// Writes an image as one line of JSON.
fn write_image(image: &Image, out: &mut Vec<u8>) {
    // Serializing a map of JSON values cannot fail.
    let _ = serde_json::to_writer(&mut *out, image);
    out.push(b'\n');
}

/// The change of a Canal message: row images with their kinds (none for DDL).
fn canal_rows(message: &Message) -> Result<Vec<(RowKind, Image)>, String> {
    if message.is_ddl == Some(true) {
        return Ok(Vec::new());
    }
    let kind = match message.kind.as_deref() {
        Some("INSERT") => RowKind::Insert,
        Some("UPDATE") => RowKind::UpdateAfter,
        Some("DELETE") => RowKind::Delete,
        Some("CREATE") => return Ok(Vec::new()),
        Some(other) => {
            return Err(format!(
                "unknown \"type\" value \"{other}\" (expected INSERT, UPDATE, DELETE or CREATE)"
            ))
        }
        None => return Err("the message has no \"type\"".into()),
    };
    let data = images(message.data.as_ref(), "data", "an array of rows")?;
    if kind != RowKind::UpdateAfter {
        return Ok(data.into_iter().map(|row| (kind, row)).collect());
    }
    let old = images(
        message.old.as_ref(),
        "old",
        "an array of the rows' changed fields",
    )?;
    if old.len() != data.len() {
        return Err(format!(
            "\"old\" has {} rows and \"data\" {}; an UPDATE has one old row per row",
            old.len(),
            data.len()
        ));
    }
    let mut rows = Vec::with_capacity(2 * data.len());
    for (after, old) in data.into_iter().zip(old) {
        rows.push((RowKind::UpdateBefore, before_image(old, &after)));
        rows.push((RowKind::UpdateAfter, after));
    }
    Ok(rows)
}

/// The change of a Maxwell message: row images with their kinds.
fn maxwell_rows(message: &Message) -> Result<Vec<(RowKind, Image)>, String> {
    match message.kind.as_deref() {
        Some("insert") => Ok(vec![(
            RowKind::Insert,
            image(message.data.as_ref(), "data")?,
        )]),
        Some("update") => {
            let after = image(message.data.as_ref(), "data")?;
            let before = before_image(image(message.old.as_ref(), "old")?, &after);
            Ok(vec![
                (RowKind::UpdateBefore, before),
                (RowKind::UpdateAfter, after),
            ])
        }
        Some("delete") => Ok(vec![(
            RowKind::Delete,
            image(message.data.as_ref(), "data")?,
        )]),
        Some(other) => Err(format!(
            "unknown \"type\" value \"{other}\" (expected insert, update or delete)"
        )),
        None => Err("the message has no \"type\"".into()),
    }
}

/// A Maxwell row (`data`, `old`): a JSON object.
fn image(value: Option<&Value>, key: &str) -> Result<Image, String> {
    match value {
        Some(Value::Object(row)) => Ok(row.clone()),
        _ => Err(format!("the message has no \"{key}\" object")),
    }
}

/// The rows of a Canal array field (`data`, `old`).
fn images(value: Option<&Value>, key: &str, what: &str) -> Result<Vec<Image>, String> {
    let missing = || format!("the message has no \"{key}\" ({what} of JSON objects)");
    let Some(Value::Array(items)) = value else {
        return Err(missing());
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(row) => Ok(row.clone()),
            _ => Err(missing()),
        })
        .collect()
}

/// `old` completed with the fields it lacks (unchanged ones) from the after image.
fn before_image(mut old: Image, after: &Image) -> Image {
    for (name, value) in after {
        if !old.contains_key(name) {
            old.insert(name.clone(), value.clone());
        }
    }
    old
}

impl BulkDecode for CdcJsonDecoder {
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String> {
        self.images.clear();
        let mut kinds = Vec::with_capacity(records);
        let mut messages = 0;
        for span in line_spans(bytes, 1) {
            let line = &bytes[span.start..span.end];
            if is_blank(line) {
                continue;
            }
            messages += 1;
            self.message(line, &mut kinds)?;
        }
        if messages != records {
            return Err(format!("expected {records} messages, found {messages}"));
        }
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let images = std::mem::take(&mut self.images);
        let batches = self.rows.try_bulk(&images, kinds.len());
        self.images = images;
        let mut offset = 0;
        batches?
            .into_iter()
            .map(|batch| {
                let n = batch.num_rows();
                let kind: ArrayRef = Arc::new(Int8Array::from(kinds[offset..offset + n].to_vec()));
                offset += n;
                let mut columns = batch.columns().to_vec();
                columns.push(kind);
                RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())
            })
            .collect()
    }

    fn is_record(&self, line: &[u8]) -> bool {
        !is_blank(line)
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

#[cfg(test)]
mod tests;
