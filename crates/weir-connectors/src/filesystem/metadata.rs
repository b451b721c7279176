//! The `filesystem` source's metadata columns, and how they join the decoded columns
//! (and, for a changelog format, the row kind after them).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray, UInt32Array};
use arrow::compute::{can_cast_types, cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use weir_types::{EngineError, EngineResult, ROW_KIND_COLUMN};

use super::listing::FileInfo;
use super::CONNECTOR;
use crate::descriptor::{ConnectorError, TableDescriptor};

/// A metadata key of the connector (Flink's keys and types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// `file.path`: the absolute path, STRING.
    Path,
    /// `file.name`: the file name, STRING.
    Name,
    /// `file.size`: bytes, BIGINT.
    Size,
    /// `file.modification-time`: TIMESTAMP_LTZ(3).
    ModificationTime,
}

const KEYS: [(&str, Key); 4] = [
    ("file.path", Key::Path),
    ("file.name", Key::Name),
    ("file.size", Key::Size),
    ("file.modification-time", Key::ModificationTime),
];

impl Key {
    fn data_type(self) -> DataType {
        match self {
            Key::Path | Key::Name => DataType::Utf8,
            Key::Size => DataType::Int64,
            Key::ModificationTime => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }

    fn flink_type(self) -> &'static str {
        match self {
            Key::Path | Key::Name => "STRING",
            Key::Size => "BIGINT",
            Key::ModificationTime => "TIMESTAMP_LTZ(3)",
        }
    }

    fn value(self, file: &FileInfo) -> ArrayRef {
        match self {
            Key::Path => Arc::new(StringArray::from(vec![file
                .path
                .to_string_lossy()
                .into_owned()])),
            Key::Name => {
                let name = file
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
                Arc::new(StringArray::from(vec![name.unwrap_or_default()]))
            }
            Key::Size => Arc::new(Int64Array::from(vec![
                i64::try_from(file.size).unwrap_or(i64::MAX)
            ])),
            Key::ModificationTime => Arc::new(
                TimestampMillisecondArray::from(vec![file.modified_ms]).with_timezone("UTC"),
            ),
        }
    }
}

/// Where each column of the table's schema comes from.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Column `n` of the decoded batch.
    Decoded(usize),
    /// A metadata key.
    Metadata(Key),
}

/// How to build the table's batches from decoded batches and a file's metadata.
#[derive(Debug, Clone)]
pub(crate) struct MetadataPlan {
    /// The table's columns, then the row kind when the format reads a changelog.
    schema: SchemaRef,
    /// Whether decoded batches end with the row-kind column, which is passed on.
    changelog: bool,
    physical: SchemaRef,
    slots: Vec<Slot>,
}

/// A file's metadata values, one-row arrays in the declared types (`None` for decoded
/// columns).
pub(crate) type FileValues = Vec<Option<ArrayRef>>;

impl MetadataPlan {
    /// Checks the table's metadata columns against the keys this connector has;
    /// `changelog`: the format's decoded batches end with the row-kind column.
    pub(crate) fn new(
        table: &TableDescriptor,
        changelog: bool,
    ) -> Result<MetadataPlan, ConnectorError> {
        let mut slots = Vec::new();
        let mut physical = Vec::new();
        for field in table.schema.fields() {
            let Some(meta) = table.metadata.iter().find(|m| &m.column == field.name()) else {
                slots.push(Slot::Decoded(physical.len()));
                physical.push(field.clone());
                continue;
            };
            let Some(&(_, key)) = KEYS.iter().find(|(k, _)| *k == meta.key) else {
                let available: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                return Err(ConnectorError::Unsupported {
                    table: table.name.clone(),
                    message: format!(
                        "connector '{CONNECTOR}' has no metadata key '{}' (column '{}'); \
                         available keys: {}",
                        meta.key,
                        meta.column,
                        available.join(", ")
                    ),
                });
            };
            if !can_cast_types(&key.data_type(), field.data_type()) {
                return Err(ConnectorError::Unsupported {
                    table: table.name.clone(),
                    message: format!(
                        "metadata column '{}' ('{}') cannot be of type {}; declare it as {}",
                        meta.column,
                        meta.key,
                        field.data_type(),
                        key.flink_type()
                    ),
                });
            }
            slots.push(Slot::Metadata(key));
        }
        let schema = if changelog {
            let mut fields: Vec<Field> = table
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
            Arc::new(Schema::new(fields))
        } else {
            table.schema.clone()
        };
        Ok(MetadataPlan {
            schema,
            changelog,
            physical: Arc::new(Schema::new(physical)),
            slots,
        })
    }

    /// The columns read from the files' content.
    pub(crate) fn physical_schema(&self) -> SchemaRef {
        self.physical.clone()
    }

    /// Which columns of [`MetadataPlan::physical_schema`] are read, given which of the
    /// table's columns are (`read`, by table column).
    pub(crate) fn physical_read(&self, read: &[bool]) -> Vec<bool> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| matches!(slot, Slot::Decoded(_)))
            .map(|(column, _)| read.get(column).copied().unwrap_or(true))
            .collect()
    }

    /// A file's metadata values.
    pub(crate) fn file_values(&self, file: &FileInfo) -> EngineResult<FileValues> {
        self.slots
            .iter()
            .zip(self.schema.fields())
            .take(self.slots.len())
            .map(|(slot, field)| match slot {
                Slot::Decoded(_) => Ok(None),
                Slot::Metadata(key) => Ok(Some(cast(&key.value(file), field.data_type())?)),
            })
            .collect()
    }

    /// The table's batch: decoded columns and metadata columns in declaration order.
    pub(crate) fn attach(
        &self,
        decoded: &RecordBatch,
        values: &FileValues,
    ) -> EngineResult<RecordBatch> {
        let rows = decoded.num_rows();
        let mut repeat: Option<UInt32Array> = None;
        let mut columns = Vec::with_capacity(self.slots.len());
        for (slot, value) in self.slots.iter().zip(values) {
            let column = match (slot, value) {
                (Slot::Decoded(i), _) => decoded.column(*i).clone(),
                (Slot::Metadata(_), Some(value)) => {
                    let indices = repeat.get_or_insert_with(|| UInt32Array::from(vec![0; rows]));
                    take(value.as_ref(), indices, None)?
                }
                (Slot::Metadata(key), None) => {
                    return Err(EngineError::Internal(format!(
                        "no value for metadata {key:?}"
                    )))
                }
            };
            columns.push(column);
        }
        if self.changelog {
            let kinds = decoded.columns().last().ok_or_else(|| {
                EngineError::Internal("a changelog batch has no row-kind column".into())
            })?;
            columns.push(Arc::clone(kinds));
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}
