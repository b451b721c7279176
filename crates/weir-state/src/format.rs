//! The bytes of a subtask file: its tables, each encoded as a complete Arrow IPC file
//! (magic, schema, batches, footer), laid one after another. The metadata records
//! each table's byte range, so cutting `offset..offset + length` out of the file gives
//! a file any Arrow IPC reader opens. The whole file's CRC32C is in the metadata.

use std::io::Cursor;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;

use crate::error::{StateError, StateResult};
use crate::metadata::TableEntry;
use crate::snapshot::{StateSnapshot, TableKind};

/// The checksum text stored in the metadata for `bytes`.
pub fn checksum(bytes: &[u8]) -> String {
    checksum_text(crc32c::crc32c(bytes))
}

/// The checksum text of a CRC32C value computed elsewhere (e.g. over a stream).
pub(crate) fn checksum_text(crc: u32) -> String {
    format!("crc32c:{crc:08x}")
}

/// A fingerprint of a schema, to check tables of one name agree within a checkpoint.
pub(crate) fn schema_fingerprint(schema: &SchemaRef) -> String {
    format!("{:08x}", crc32c::crc32c(format!("{schema:?}").as_bytes()))
}

/// Encodes a snapshot's non-empty tables; returns the file bytes and the table entries.
/// The bytes are encoded into a buffer from [`crate::buffers`]: hand them back with
/// `buffers::give_back` once written.
pub(crate) fn encode_snapshot(snapshot: &StateSnapshot) -> StateResult<(Vec<u8>, Vec<TableEntry>)> {
    let mut out = crate::buffers::take();
    let mut entries = Vec::new();
    for table in snapshot.tables() {
        if table.num_rows() == 0 {
            continue;
        }
        let offset = out.len() as u64;
        let context = || format!("encoding table {:?}", table.name());
        let mut writer = FileWriter::try_new(&mut out, table.schema())
            .map_err(|e| StateError::arrow(context(), e))?;
        for batch in table.batches() {
            writer
                .write(batch)
                .map_err(|e| StateError::arrow(context(), e))?;
        }
        writer
            .finish()
            .map_err(|e| StateError::arrow(context(), e))?;
        drop(writer);
        let key_groups = match table.kind() {
            TableKind::Keyed => table.key_group_bounds()?.map(|(lo, hi)| [lo, hi]),
            TableKind::Union => None,
        };
        entries.push(TableEntry {
            name: table.name().to_string(),
            kind: table.kind(),
            offset,
            length: out.len() as u64 - offset,
            rows: table.num_rows() as u64,
            key_groups,
            schema_fingerprint: schema_fingerprint(table.schema()),
        });
    }
    Ok((out, entries))
}

/// Decodes one table segment of a file.
pub(crate) fn decode_table(
    bytes: &[u8],
    entry: &TableEntry,
    file: &str,
) -> StateResult<(SchemaRef, Vec<RecordBatch>)> {
    let context = || format!("reading table {:?} of {file}", entry.name);
    let start = usize::try_from(entry.offset).ok();
    let end = entry
        .offset
        .checked_add(entry.length)
        .and_then(|e| usize::try_from(e).ok());
    let segment = match (start, end) {
        (Some(s), Some(e)) if s <= e && e <= bytes.len() => &bytes[s..e],
        _ => {
            return Err(StateError::InvalidSnapshot(format!(
                "{}: segment {}+{} lies outside the {} byte file",
                context(),
                entry.offset,
                entry.length,
                bytes.len()
            )))
        }
    };
    let reader = FileReader::try_new(Cursor::new(segment), None)
        .map_err(|e| StateError::arrow(context(), e))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StateError::arrow(context(), e))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows as u64 != entry.rows {
        return Err(StateError::InvalidSnapshot(format!(
            "{}: {rows} rows, metadata says {}",
            context(),
            entry.rows
        )));
    }
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::KEY_GROUP_COLUMN;
    use arrow::array::{StringArray, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn segments_decode_back_to_the_tables() {
        let keyed = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new(KEY_GROUP_COLUMN, DataType::UInt32, false),
                Field::new("k", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(UInt32Array::from(vec![7, 3, 100])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ],
        )
        .expect("batch");
        let union = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "split",
                DataType::Utf8,
                false,
            )])),
            vec![Arc::new(StringArray::from(vec!["p0"]))],
        )
        .expect("batch");
        let mut snapshot = StateSnapshot::new();
        snapshot.add_keyed("acc", keyed.clone()).expect("add");
        snapshot.add_union("pos", union.clone()).expect("add");
        snapshot.add_keyed("acc", keyed.clone()).expect("add");
        let (bytes, entries) = encode_snapshot(&snapshot).expect("encode");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].key_groups, Some([3, 100]));
        assert_eq!(entries[0].rows, 6);
        assert_eq!(entries[1].key_groups, None);
        assert_eq!(entries[1].offset, entries[0].length);
        let (_, batches) = decode_table(&bytes, &entries[0], "f").expect("decode");
        assert_eq!(batches, vec![keyed.clone(), keyed]);
        let (schema, batches) = decode_table(&bytes, &entries[1], "f").expect("decode");
        assert_eq!(schema, union.schema());
        assert_eq!(batches, vec![union]);

        let mut wrong = entries[1].clone();
        wrong.rows = 5;
        let err = decode_table(&bytes, &wrong, "f").unwrap_err();
        assert!(err.to_string().contains("1 rows, metadata says 5"), "{err}");
        wrong.length += 1;
        let err = decode_table(&bytes, &wrong, "f").unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert_ne!(checksum(&bytes), checksum(&bytes[1..]));
    }
}
