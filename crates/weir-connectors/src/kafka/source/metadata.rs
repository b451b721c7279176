//! The `kafka` source's columns: where each column of the table comes from (the decoded
//! value, the decoded key, or a metadata key of the record) and how the metadata
//! columns are built from the records, in Flink's keys and types:
//!
//! | key              | type                       | value                                   |
//! |------------------|----------------------------|-----------------------------------------|
//! | `topic`          | STRING NOT NULL            | the record's topic                      |
//! | `partition`      | INT NOT NULL               | its partition                           |
//! | `offset`         | BIGINT NOT NULL            | its offset                              |
//! | `timestamp`      | TIMESTAMP_LTZ(3) NOT NULL  | its timestamp                           |
//! | `timestamp-type` | STRING NOT NULL            | `NoTimestampType`, `CreateTime` or `LogAppendTime` |
//! | `headers`        | MAP<STRING, BYTES> NOT NULL| its headers (the last value of a key repeated) |
//! | `leader-epoch`   | INT NULL                   | the partition leader's epoch, if known  |
//!
//! A column may be declared with another type the metadata type casts to (e.g.
//! `TIMESTAMP(3)` for `timestamp`), as Flink allows.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, BinaryBuilder, Int32Array, Int64Array, MapArray, StringArray,
    StringBuilder, StructArray, TimestampMillisecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedMessage};
use rdkafka::Timestamp;
use weir_types::{EngineError, EngineResult, ROW_KIND_COLUMN};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::kafka::config::KafkaConfig;

/// A record as the source reads it: rdkafka's message and its leader epoch.
pub(crate) trait Record: Message {
    /// The epoch of the partition leader that wrote the record, when known.
    fn leader_epoch(&self) -> Option<i32>;
}

impl Record for BorrowedMessage<'_> {
    fn leader_epoch(&self) -> Option<i32> {
        // SAFETY: `ptr` is the valid message this `BorrowedMessage` owns while it lives,
        // and librdkafka's accessor only reads it (rdkafka 0.39 has no safe wrapper).
        let epoch = unsafe { rdkafka::bindings::rd_kafka_message_leader_epoch(self.ptr()) };
        (epoch >= 0).then_some(epoch)
    }
}

impl Record for OwnedMessage {
    fn leader_epoch(&self) -> Option<i32> {
        None
    }
}

/// A metadata key of the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Topic,
    Partition,
    Offset,
    Timestamp,
    TimestampType,
    Headers,
    LeaderEpoch,
}

const KEYS: [(&str, Key); 7] = [
    ("topic", Key::Topic),
    ("partition", Key::Partition),
    ("offset", Key::Offset),
    ("timestamp", Key::Timestamp),
    ("timestamp-type", Key::TimestampType),
    ("headers", Key::Headers),
    ("leader-epoch", Key::LeaderEpoch),
];

impl Key {
    fn flink_type(self) -> &'static str {
        match self {
            Key::Topic | Key::TimestampType => "STRING",
            Key::Partition | Key::LeaderEpoch => "INT",
            Key::Offset => "BIGINT",
            Key::Timestamp => "TIMESTAMP_LTZ(3)",
            Key::Headers => "MAP<STRING, BYTES>",
        }
    }

    /// The type values are built in before the cast to the declared type.
    fn data_type(self) -> DataType {
        match self {
            Key::Topic | Key::TimestampType => DataType::Utf8,
            Key::Partition | Key::LeaderEpoch => DataType::Int32,
            Key::Offset => DataType::Int64,
            Key::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Key::Headers => DataType::Binary, // checked apart: built in the declared type
        }
    }

    /// Whether a column of `declared` type can hold this key's values.
    fn fits(self, declared: &DataType) -> bool {
        match self {
            Key::Headers => header_fields(declared).is_some(),
            _ => can_cast_types(&self.data_type(), declared),
        }
    }
}

/// The key and value fields of a `MAP<STRING, BYTES>` type.
fn header_fields(declared: &DataType) -> Option<(&Field, &Field)> {
    let DataType::Map(entries, _) = declared else {
        return None;
    };
    let DataType::Struct(fields) = entries.data_type() else {
        return None;
    };
    let [key, value] = fields.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    (key.data_type() == &DataType::Utf8 && value.data_type() == &DataType::Binary)
        .then_some((key.as_ref(), value.as_ref()))
}

/// Where a column of the table comes from.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Column `n` of the decoded value.
    Value(usize),
    /// Column `n` of the decoded key.
    Key(usize),
    /// A metadata key.
    Metadata(Key),
}

/// How the source builds the table's batches from decoded values and keys and the
/// records they came from.
#[derive(Debug, Clone)]
pub(crate) struct RowPlan {
    /// The table's columns, then the row kind when the value format reads a changelog.
    schema: SchemaRef,
    slots: Vec<Slot>,
    changelog: bool,
}

impl RowPlan {
    /// Checks the table's metadata columns and places every column. With `ALL`, a key
    /// column the value also carries is taken from the value, as Flink does, except for
    /// `upsert-kafka` (`upsert`), whose key columns always come from the key (a
    /// tombstone has no value) and whose batches end with the row kind (`+U` for a
    /// value, `-D` for a tombstone, its columns other than the key null, so nullable).
    pub(crate) fn new(
        table: &TableDescriptor,
        config: &KafkaConfig,
        upsert: bool,
    ) -> Result<RowPlan, ConnectorError> {
        let changelog = config.value.produces_changelog() || upsert;
        let key_columns: &[String] = config.key.as_ref().map_or(&[], |k| &k.columns);
        let mut slots = Vec::new();
        for field in table.schema.fields() {
            let name = field.name();
            let key_slot = key_columns.iter().position(|c| c == name);
            if let Some(meta) = table.metadata.iter().find(|m| &m.column == name) {
                slots.push(Slot::Metadata(metadata_key(table, &meta.key, name, field)?));
            } else if let (true, Some(i)) = (upsert, key_slot) {
                slots.push(Slot::Key(i));
            } else if let Some(i) = config.value_columns.iter().position(|c| c == name) {
                slots.push(Slot::Value(i));
            } else if let Some(i) = key_columns.iter().position(|c| c == name) {
                slots.push(Slot::Key(i));
            } else {
                return Err(ConnectorError::Unsupported {
                    table: table.name.clone(),
                    message: format!(
                        "column '{name}' is neither in the message value nor in its key; \
                         list it in 'key.fields' or set 'value.fields-include' = 'ALL'"
                    ),
                });
            }
        }
        let schema = if changelog {
            let mut fields: Vec<Field> = table
                .schema
                .fields()
                .iter()
                .map(|f| {
                    let nullable = f.is_nullable() || (upsert && !key_columns.contains(f.name()));
                    f.as_ref().clone().with_nullable(nullable)
                })
                .collect();
            fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
            Arc::new(Schema::new(fields))
        } else {
            table.schema.clone()
        };
        Ok(RowPlan {
            schema,
            slots,
            changelog,
        })
    }

    /// Which of the value's `value_columns` columns are read, given which of the
    /// table's columns are (`read`, by table column): those the table takes from the
    /// value.
    pub(crate) fn value_read(&self, read: &[bool], value_columns: usize) -> Vec<bool> {
        let mut value_read = vec![false; value_columns];
        for (column, slot) in self.slots.iter().enumerate() {
            if let Slot::Value(i) = slot {
                if let Some(r) = value_read.get_mut(*i) {
                    *r |= read.get(column).copied().unwrap_or(true);
                }
            }
        }
        value_read
    }

    /// The table's batch of `rows` rows: `value` (decoded values, one row each, ending
    /// with the row kind for a changelog format), `key` (the decoded keys of the same
    /// rows, when the table has key columns) and the metadata of `records[row_records[r]]`
    /// for row `r`.
    pub(crate) fn assemble<R: Record>(
        &self,
        value: &arrow::record_batch::RecordBatch,
        key: Option<&arrow::record_batch::RecordBatch>,
        records: &[R],
        row_records: &[usize],
    ) -> EngineResult<arrow::record_batch::RecordBatch> {
        let rows = row_records.len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (slot, field) in self.slots.iter().zip(self.schema.fields()) {
            let column = match *slot {
                Slot::Value(i) => value.column(i).clone(),
                Slot::Key(i) => match key {
                    Some(k) => k.column(i).clone(),
                    None => new_null_array(field.data_type(), rows),
                },
                Slot::Metadata(k) => metadata_column(k, field, records, row_records)?,
            };
            columns.push(column);
        }
        if self.changelog {
            let kinds = value.columns().last().ok_or_else(|| {
                EngineError::Internal("a changelog batch has no row-kind column".into())
            })?;
            columns.push(kinds.clone());
        }
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(arrow::record_batch::RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}

/// The metadata key of column `column` declared `METADATA FROM '<key>'`, checked against
/// its declared type.
fn metadata_key(
    table: &TableDescriptor,
    key: &str,
    column: &str,
    field: &Field,
) -> Result<Key, ConnectorError> {
    let Some(&(_, k)) = KEYS.iter().find(|(name, _)| *name == key) else {
        let available: Vec<&str> = KEYS.iter().map(|(name, _)| *name).collect();
        return Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "connector 'kafka' has no metadata key '{key}' (column '{column}'); available \
                 keys: {}",
                available.join(", ")
            ),
        });
    };
    if !k.fits(field.data_type()) {
        return Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "metadata column '{column}' ('{key}') cannot be of type {}; declare it as {}",
                field.data_type(),
                k.flink_type()
            ),
        });
    }
    Ok(k)
}

/// Flink's name of a record's timestamp type.
fn timestamp_type(timestamp: Timestamp) -> &'static str {
    match timestamp {
        Timestamp::NotAvailable => "NoTimestampType",
        Timestamp::CreateTime(_) => "CreateTime",
        Timestamp::LogAppendTime(_) => "LogAppendTime",
    }
}

/// Metadata `key` of the records of every row, in the column's declared type.
fn metadata_column<R: Record>(
    key: Key,
    field: &Field,
    records: &[R],
    row_records: &[usize],
) -> EngineResult<ArrayRef> {
    let each = || row_records.iter().map(|&r| &records[r]);
    let built: ArrayRef = match key {
        Key::Topic => Arc::new(StringArray::from_iter_values(each().map(|m| m.topic()))),
        Key::Partition => Arc::new(Int32Array::from_iter_values(each().map(|m| m.partition()))),
        Key::Offset => Arc::new(Int64Array::from_iter_values(each().map(|m| m.offset()))),
        Key::Timestamp => Arc::new(
            TimestampMillisecondArray::from_iter_values(
                each().map(|m| m.timestamp().to_millis().unwrap_or(-1)),
            )
            .with_timezone("UTC"),
        ),
        Key::TimestampType => Arc::new(StringArray::from_iter_values(
            each().map(|m| timestamp_type(m.timestamp())),
        )),
        Key::LeaderEpoch => Arc::new(each().map(|m| m.leader_epoch()).collect::<Int32Array>()),
        Key::Headers => return headers_column(field, records, row_records),
    };
    if built.data_type() == field.data_type() {
        Ok(built)
    } else {
        Ok(cast(&built, field.data_type())?)
    }
}

/// The `headers` column: one map per row, a key repeated in a record keeping its last
/// value (Flink reads headers into a map).
fn headers_column<R: Record>(
    field: &Field,
    records: &[R],
    row_records: &[usize],
) -> EngineResult<ArrayRef> {
    let DataType::Map(entries, sorted) = field.data_type() else {
        return Err(EngineError::Internal("headers column is not a map".into()));
    };
    let Some((key_field, value_field)) = header_fields(field.data_type()) else {
        return Err(EngineError::Internal(
            "headers column is not MAP<STRING, BYTES>".into(),
        ));
    };
    let mut keys = StringBuilder::new();
    let mut values = BinaryBuilder::new();
    let mut offsets = Vec::with_capacity(row_records.len() + 1);
    offsets.push(0i32);
    let mut count = 0i32;
    let mut position: HashMap<&str, usize> = HashMap::new();
    let mut entries_of_row: Vec<(&str, Option<&[u8]>)> = Vec::new();
    for &r in row_records {
        entries_of_row.clear();
        position.clear();
        if let Some(headers) = records[r].headers() {
            for header in headers.iter() {
                match position.get(header.key) {
                    Some(&i) => entries_of_row[i].1 = header.value,
                    None => {
                        position.insert(header.key, entries_of_row.len());
                        entries_of_row.push((header.key, header.value));
                    }
                }
            }
        }
        for (k, v) in &entries_of_row {
            keys.append_value(k);
            values.append_option(*v);
        }
        count += i32::try_from(entries_of_row.len())
            .map_err(|_| EngineError::Internal("too many headers".into()))?;
        offsets.push(count);
    }
    let struct_fields = Fields::from(vec![key_field.clone(), value_field.clone()]);
    let entries_array = StructArray::try_new(
        struct_fields,
        vec![Arc::new(keys.finish()), Arc::new(values.finish())],
        None,
    )?;
    let map = MapArray::try_new(
        entries.clone(),
        OffsetBuffer::new(offsets.into()),
        entries_array,
        None,
        *sorted,
    )?;
    Ok(Arc::new(map))
}
