//! The `filesystem` connector: reads and writes files in a local folder, as Flink's
//! FileSystem SQL connector.
//!
//! ```sql
//! CREATE TABLE bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3),
//!                    src STRING METADATA FROM 'file.path' VIRTUAL)
//! WITH ('connector' = 'filesystem', 'path' = 'data/bids', 'format' = 'json',
//!       'json.ignore-parse-errors' = 'true');
//! ```
//!
//! Source options:
//! - `path` (required): a file, or a folder whose visible files are all read, recursively,
//!   in path order (names starting with `.` or `_` are skipped, as Flink does). A relative
//!   path is resolved against the script's folder; `file://` and `file:` are accepted.
//! - `format` (required): `json`, `csv` or `raw` (each line one value), with their
//!   options, or `debezium-json`, `canal-json`, `maxwell-json`: the file holds a
//!   changelog, and the source is an updating one (its batches carry the row kind).
//!   `avro` is refused (messages only).
//! - Metadata: `file.path` (STRING), `file.name` (STRING), `file.size` (BIGINT),
//!   `file.modification-time` (TIMESTAMP_LTZ(3)).
//!
//! - `weir.dirty-data.strategy` (`fail`, `skip`, `dead-letter`) and
//!   `weir.dirty-data.dead-letter.path`: what becomes of malformed lines (see
//!   [`crate::dirty`]).
//!
//! The source is bounded. File `i` goes to subtask `i % parallelism` and is one split of
//! it; files are read in chunks of whole lines, decoded columnar, and malformed records
//! are reported as `<path>:<line>: ...` (or skipped and counted in `records_skipped`, or
//! written with their line numbers to the dead-letter folder before any row of their
//! chunk is emitted, and counted in `records_dead_lettered`).
//!
//! Sink options:
//! - `path` (required): a folder, created if missing.
//! - `format` (required): `json`, `csv`, `raw` or `debezium-json` (the only one that can
//!   write an updating stream).
//! - `sink.rolling-policy.file-size` (default `128MB`), `sink.rolling-policy.rollover-interval`
//!   (default `30 min`): when a part file is closed and a new one started; checked after
//!   each batch. `sink.rolling-policy.check-interval` is accepted and has no effect.
//! - `sink.parallelism`.
//!
//! Each sink subtask writes part files `part-<uuid>-<subtask>-<n>` (no extension, as
//! Flink; `<uuid>` is random per subtask and run), first as hidden
//! `.part-<uuid>-<subtask>-<n>.inprogress.<lineage>` files that are renamed into place
//! when complete: only complete files are visible. Without checkpointing a file is
//! renamed when it rolls and at the end of the input. With checkpointing
//! (`execution.checkpointing.interval`), files are renamed when the checkpoint after
//! them completes (two-phase commit, see `commit.rs`): exactly once across crashes.
//!
//! Checkpoints: the source is rewindable (a byte offset per file, see `position.rs`).
//! Differences from Flink: no partitioned tables, no `source.monitor-interval`.

mod chunks;
mod commit;
mod listing;
mod metadata;
mod position;
mod sink;
mod source;
pub(crate) mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commit;
#[cfg(test)]
mod tests_dirty;
#[cfg(test)]
mod tests_rewind;

use std::path::{Path, PathBuf};

use weir_formats::{FormatConfig, FormatError};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::options::Options;

pub use sink::create_sink;
pub(crate) use sink::{refuse_written_metadata, sink_parallelism};
pub use source::{create_source, validate_source};

/// The connector's name.
const CONNECTOR: &str = "filesystem";

/// Resolves a `path` option against the table's base folder.
pub(crate) fn resolve_path(table: &TableDescriptor, path: &str) -> PathBuf {
    let path = path
        .strip_prefix("file://")
        .or_else(|| path.strip_prefix("file:"))
        .unwrap_or(path);
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        table.base_dir.join(path)
    }
}

/// Reads `format` and the format's options.
fn read_format(
    options: &mut Options<'_>,
    table: &TableDescriptor,
) -> Result<FormatConfig, ConnectorError> {
    let format = options.required(
        "format",
        "add 'format' = 'json' (or 'csv'; 'debezium-json' for a changelog)",
    )?;
    options.allow_prefix(&format!("{format}."));
    weir_formats::format_options(format, &table.options).map_err(|e| format_error(table, e))
}

/// A format error as a connector error naming the table.
pub(crate) fn format_error(table: &TableDescriptor, error: FormatError) -> ConnectorError {
    match error {
        FormatError::UnknownFormat { format, available } => ConnectorError::InvalidOption {
            table: table.name.clone(),
            option: "format".into(),
            value: format,
            reason: format!("available formats: {available}"),
        },
        FormatError::InvalidOption {
            option,
            value,
            reason,
        } => ConnectorError::InvalidOption {
            table: table.name.clone(),
            option,
            value,
            reason,
        },
        other => ConnectorError::Unsupported {
            table: table.name.clone(),
            message: other.to_string(),
        },
    }
}
