//! The `filesystem` source's checkpointed positions.
//!
//! One union table, `file_positions`, one row per file of the subtask (every old
//! subtask's rows reach every restoring subtask, which keeps those of its own files):
//!
//! | column     | type    | meaning                                                    |
//! |------------|---------|------------------------------------------------------------|
//! | `split_id` | Utf8    | the file's path as the `path` option names it ([`split_id`])|
//! | `offset`   | UInt64  | byte offset of the first line not fully emitted            |
//! | `line`     | UInt64  | number (1-based) of the line at `offset`, for messages     |
//! | `rows`     | UInt64  | rows decoded from `offset` on that were already emitted    |
//! | `finished` | Boolean | the whole file was read                                    |
//!
//! Restoring seeks to `offset`, decodes from there and drops the first `rows` rows, so
//! the rest of the file is read exactly once whatever the chunk size.
//!
//! [`split_id`]: weir_runtime::SourceReader::split_id

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanArray, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use super::listing::FileInfo;
use super::state::{column, union_tables};

/// Name of the positions table.
pub(crate) const TABLE: &str = "file_positions";

static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("split_id", DataType::Utf8, false),
        Field::new("offset", DataType::UInt64, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("finished", DataType::Boolean, false),
    ]))
});

/// Where reading a file stands: the next event starts there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilePosition {
    /// Byte offset of a line start.
    pub offset: u64,
    /// Number of the line at `offset`.
    pub line: u64,
    /// Rows decoded from `offset` on that were emitted already.
    pub rows: u64,
    /// Whether the file was read to its end.
    pub finished: bool,
}

impl FilePosition {
    /// A file not read yet.
    pub(crate) const START: FilePosition = FilePosition {
        offset: 0,
        line: 1,
        rows: 0,
        finished: false,
    };
}

/// The positions of a subtask's files as a snapshot.
pub(crate) fn snapshot(
    files: &[FileInfo],
    positions: &[FilePosition],
) -> EngineResult<StateSnapshot> {
    let ids = StringArray::from_iter_values(files.iter().map(|f| f.display.as_str()));
    let u64s = |f: fn(&FilePosition) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(positions.iter().map(f)))
    };
    let finished: BooleanArray = positions.iter().map(|p| Some(p.finished)).collect();
    let batch = RecordBatch::try_new(
        SCHEMA.clone(),
        vec![
            Arc::new(ids),
            u64s(|p| p.offset),
            u64s(|p| p.line),
            u64s(|p| p.rows),
            Arc::new(finished),
        ],
    )?;
    let mut snapshot = StateSnapshot::new();
    snapshot
        .add_union(TABLE, batch)
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(snapshot)
}

/// The positions of `files` (this subtask's) that `snapshot` (every old subtask's rows)
/// holds; files it does not name (new since the checkpoint) start at the beginning.
/// Errors when the checkpoint names files of which none is in the source's `listing`:
/// its `path` changed since the checkpoint.
pub(crate) fn restore(
    snapshot: StateSnapshot,
    files: &[FileInfo],
    listing: &[FileInfo],
) -> EngineResult<Vec<FilePosition>> {
    let tables = union_tables(snapshot, &[(TABLE, &SCHEMA)], "the filesystem source")?;
    let mut saved: HashMap<String, FilePosition> = HashMap::new();
    for batch in tables.into_iter().flatten() {
        let ids = column::<StringArray>(&batch, "split_id")?;
        let offsets = column::<UInt64Array>(&batch, "offset")?;
        let lines = column::<UInt64Array>(&batch, "line")?;
        let rows = column::<UInt64Array>(&batch, "rows")?;
        let finished = column::<BooleanArray>(&batch, "finished")?;
        for i in 0..batch.num_rows() {
            let position = FilePosition {
                offset: offsets.value(i),
                line: lines.value(i),
                rows: rows.value(i),
                finished: finished.value(i),
            };
            if saved.insert(ids.value(i).to_string(), position).is_some() {
                return Err(EngineError::Config(format!(
                    "the checkpoint holds two positions of file '{}'",
                    ids.value(i)
                )));
            }
        }
    }
    if !saved.is_empty() && !listing.iter().any(|f| saved.contains_key(&f.display)) {
        let mut names: Vec<&str> = saved.keys().map(String::as_str).collect();
        names.sort_unstable();
        names.truncate(3);
        return Err(EngineError::Config(format!(
            "the checkpoint holds positions of files ({}, ...) none of which this filesystem \
             source reads; its 'path' changed since the checkpoint was taken",
            names.join(", ")
        )));
    }
    let unknown = saved
        .keys()
        .filter(|id| !listing.iter().any(|f| &f.display == *id))
        .count();
    if unknown > 0 {
        tracing::warn!(
            "{unknown} file(s) read before the checkpoint no longer exist; they are skipped"
        );
    }
    Ok(files
        .iter()
        .map(|f| {
            saved
                .get(&f.display)
                .copied()
                .unwrap_or(FilePosition::START)
        })
        .collect())
}
