//! Incremental checkpoints of in-memory keyed state: `state.backend.type = hashmap`
//! with `execution.checkpointing.incremental = true` (Flink's hashmap backend has no
//! incremental mode; this is Weir's, in the spirit of Flink's changelog checkpoints).
//!
//! A subtask stores its keyed tables as a *chain* of files in the location's
//! `shared/` folder: a *base* holding every key, then *deltas*, each holding the rows
//! of the keys changed since the previous checkpoint (table `T`, same schema as the
//! base's `T`) and the keys removed since (table `T.removed`: the key group column and
//! the key columns). Each file is written once; a checkpoint's metadata lists its
//! subtask's whole chain, base first ([`ChangelogHandle`]), so any retained
//! checkpoint restores on its own and cleanup keeps every file it references.
//!
//! A restore replays each old subtask's chain ([`replay`]: per file, removals, then
//! upserts, the last write of a key winning) and then hands the rows of the key
//! groups the new subtask owns to the operator as ordinary tables, so a job may come
//! back at another parallelism or on the other backend.
//!
//! When a snapshot is a new base ([`Changelog::wants_full`]): there is no chain yet
//! (first checkpoint, or the first after a restore); the previous snapshot's checkpoint
//! did not complete (its delta may be lost, so the next cannot build on it); the
//! chain's files hold more than twice as many rows as the subtask has keys (and more
//! than [`MIN_BASE_BYTES`]), so a restore never reads more than about twice the state;
//! or the chain already has [`MAX_DELTAS`] deltas. Rows are what is compared, not the
//! deltas against the base: a state that mostly gains new keys (auctions, sessions,
//! orders) writes each key about once until the chain is full, instead of a new base
//! whenever the new keys outgrow the old.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{filter_record_batch, interleave_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::error::{StateError, StateResult};
use crate::format::{checksum, decode_table, encode_snapshot};
use crate::layout::operator_dir_name;
use crate::metadata::StoredFile;
use crate::native::SHARED_DIR;
use crate::snapshot::{filter_key_groups, StateSnapshot, TableKind, KEY_GROUP_COLUMN};
use crate::storage::{Location, IO_CONCURRENCY};

/// Suffix of the table holding a delta's removed keys: `groups.removed` for `groups`.
pub const REMOVED_SUFFIX: &str = ".removed";

/// A chain holds at most this many deltas after its base.
pub const MAX_DELTAS: usize = 100;

/// A chain may grow to this many bytes before a new base is written, however few of
/// its rows are live.
pub const MIN_BASE_BYTES: u64 = 4 << 20;

/// One file of a chain, as the metadata records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangelogFile {
    /// The checkpoint that wrote it.
    pub checkpoint_id: u64,
    /// A base (every key) rather than a delta.
    pub full: bool,
    /// The file: its path is relative to the checkpoint location (under `shared/`).
    pub file: StoredFile,
}

/// A subtask's chain in a checkpoint's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangelogHandle {
    /// The key groups the subtask owned, `[first, last]`.
    pub key_groups: [u32; 2],
    /// Per keyed table, the columns identifying a row (the key group column first).
    pub keys: BTreeMap<String, Vec<String>>,
    /// The chain: a base, then deltas in checkpoint order. Empty for a subtask that
    /// never held a key.
    pub files: Vec<ChangelogFile>,
    /// Bytes this checkpoint wrote for it (the rest was written by earlier ones).
    #[serde(default)]
    pub uploaded: u64,
}

impl ChangelogHandle {
    /// Bytes of the whole chain.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.file.size).sum()
    }
}

/// Files written by checkpoint writers, by checkpoint id, with the location they went
/// to: how a [`Changelog`] learns what its snapshots stored.
type Written = Arc<Mutex<HashMap<u64, (String, ChangelogFile)>>>;

/// What a writer needs to store a snapshot as part of a chain (set by
/// [`Changelog::snapshot`]).
#[derive(Debug, Clone)]
pub struct ChangelogSnapshot {
    /// A new base, or a delta continuing `previous`.
    pub full: bool,
    /// The completed files this delta continues, and their location.
    pub previous: Vec<ChangelogFile>,
    location: Option<String>,
    keys: BTreeMap<String, Vec<String>>,
    key_groups: [u32; 2],
    written: Written,
}

/// The chain of one operator subtask: decides whether a snapshot is a base or a
/// delta, and follows which files completed checkpoints stored.
#[derive(Debug)]
pub struct Changelog {
    key_groups: [u32; 2],
    keys: BTreeMap<String, Vec<String>>,
    /// The chain of the newest completed checkpoint of this subtask: its id, the
    /// files and their location.
    completed: Option<(u64, Vec<ChangelogFile>, Option<String>)>,
    /// The newest snapshot taken: its id, and the chain it continued (empty for a base).
    last: Option<(u64, Vec<ChangelogFile>, Option<String>)>,
    written: Written,
}

impl Changelog {
    /// A chain for a subtask owning `key_groups` (`[first, last]`), whose keyed tables
    /// are identified by `keys` (table name to key columns, the key group column
    /// first). It starts with a base.
    pub fn new(key_groups: [u32; 2], keys: BTreeMap<String, Vec<String>>) -> Self {
        Changelog {
            key_groups,
            keys,
            completed: None,
            last: None,
            written: Arc::default(),
        }
    }

    /// Whether the next snapshot must be a base (see the module documentation), for a
    /// subtask now holding `live_rows` rows (keys) in its keyed tables. The caller
    /// snapshots every key when it is, else the changes since its previous snapshot.
    pub fn wants_full(&self, live_rows: u64) -> bool {
        let (Some((completed, files, _)), Some((last, _, _))) = (&self.completed, &self.last)
        else {
            return true;
        };
        if completed != last {
            return true;
        }
        let deltas = files.iter().filter(|f| !f.full).count();
        let bytes: u64 = files.iter().map(|f| f.file.size).sum();
        let rows: u64 = files
            .iter()
            .flat_map(|f| &f.file.tables)
            .map(|t| t.rows)
            .sum();
        deltas >= MAX_DELTAS || (bytes > MIN_BASE_BYTES && rows > live_rows.saturating_mul(2))
    }

    /// Marks `tables` (every key when `full`, else the changes since the previous
    /// snapshot, with `T.removed` tables) as checkpoint `checkpoint_id`'s part of the
    /// chain. Every table must be keyed and named in the chain's keys.
    pub fn snapshot(
        &mut self,
        checkpoint_id: u64,
        full: bool,
        mut tables: StateSnapshot,
    ) -> StateResult<StateSnapshot> {
        for table in tables.tables() {
            let base = table
                .name()
                .strip_suffix(REMOVED_SUFFIX)
                .unwrap_or(table.name());
            if table.kind() != TableKind::Keyed || !self.keys.contains_key(base) {
                return Err(StateError::InvalidSnapshot(format!(
                    "table {:?} is not a keyed table of this incremental snapshot \
                     (declared: {:?})",
                    table.name(),
                    self.keys.keys().collect::<Vec<_>>()
                )));
            }
            if full && table.name() != base {
                return Err(StateError::InvalidSnapshot(format!(
                    "a full snapshot has no removed keys (table {:?})",
                    table.name()
                )));
            }
        }
        let (previous, location) = match (&self.completed, full) {
            (Some((_, files, location)), false) => (files.clone(), location.clone()),
            (None, false) => {
                return Err(StateError::InvalidSnapshot(
                    "an incremental snapshot needs a completed base (ask wants_full)".into(),
                ))
            }
            (_, true) => (Vec::new(), None),
        };
        self.last = Some((checkpoint_id, previous.clone(), location.clone()));
        tables.set_changelog(ChangelogSnapshot {
            full,
            previous,
            location,
            keys: self.keys.clone(),
            key_groups: self.key_groups,
            written: Arc::clone(&self.written),
        });
        Ok(tables)
    }

    /// Checkpoint `checkpoint_id` completed: when it holds this subtask's newest
    /// snapshot, the next snapshot may be a delta on its chain.
    pub fn checkpoint_complete(&mut self, checkpoint_id: u64) {
        let written = self
            .written
            .lock()
            .map(|mut w| {
                let file = w.remove(&checkpoint_id);
                w.retain(|id, _| *id > checkpoint_id);
                file
            })
            .unwrap_or(None);
        let Some((last, previous, location)) = &self.last else {
            return;
        };
        if *last != checkpoint_id {
            return;
        }
        let mut files = previous.clone();
        let mut location = location.clone();
        if let Some((at, file)) = written {
            files.push(file);
            location = Some(at);
        }
        self.completed = Some((checkpoint_id, files, location));
    }
}

/// Writes the tables of `snapshot` (which carries `log`) as a new file of its chain
/// under `shared` (the checkpoint location; `None` for a savepoint, which refuses
/// chains), and returns the chain.
pub(crate) async fn write_changelog(
    shared: Option<&Location>,
    operator_id: &str,
    subtask: usize,
    checkpoint_id: u64,
    snapshot: &StateSnapshot,
    log: &ChangelogSnapshot,
) -> StateResult<ChangelogHandle> {
    let Some(shared) = shared else {
        return Err(StateError::InvalidSnapshot(format!(
            "operator {operator_id:?} snapshotted an incremental chain for a \
             savepoint; savepoints hold full Arrow tables only"
        )));
    };
    if !snapshot.native().is_empty() {
        return Err(StateError::InvalidSnapshot(format!(
            "operator {operator_id:?} subtask {subtask} snapshotted both native \
             state and an incremental chain"
        )));
    }
    if let Some(location) = &log.location {
        if *location != shared.display {
            return Err(StateError::InvalidSnapshot(format!(
                "operator {operator_id:?} subtask {subtask}: an incremental snapshot continues \
                 files in {location}, but checkpoints now go to {}",
                shared.display
            )));
        }
    }
    let mut files = log.previous.clone();
    let mut uploaded = 0;
    if snapshot.num_rows() > 0 {
        let owned = snapshot.clone();
        let (bytes, tables, sum) = tokio::task::spawn_blocking(move || {
            encode_snapshot(&owned).map(|(bytes, tables)| {
                let sum = checksum(&bytes);
                (bytes, tables, sum)
            })
        })
        .await
        .map_err(|e| StateError::Task(e.to_string()))??;
        let path = format!(
            "{SHARED_DIR}/{}/{subtask}-{checkpoint_id}-{:08x}.arrow",
            operator_dir_name(operator_id),
            rand::random::<u32>()
        );
        let size = bytes.len() as u64;
        shared.put_buffer(&path, bytes).await?;
        let file = ChangelogFile {
            checkpoint_id,
            full: log.full,
            file: StoredFile {
                path,
                size,
                checksum: sum,
                tables,
            },
        };
        if let Ok(mut written) = log.written.lock() {
            written.insert(checkpoint_id, (shared.display.clone(), file.clone()));
        }
        files.push(file);
        uploaded = size;
    }
    Ok(ChangelogHandle {
        key_groups: log.key_groups,
        keys: log.keys.clone(),
        files,
        uploaded,
    })
}

/// Reads the chains of `handles` (old subtasks whose key groups overlap `range`),
/// checking every file's checksum, and replays each, keeping the rows of `range`.
pub(crate) async fn restore_chains(
    shared: &Location,
    label: &str,
    handles: Vec<ChangelogHandle>,
    range: std::ops::Range<usize>,
    max_parallelism: usize,
) -> StateResult<Vec<StateSnapshot>> {
    let mut out = Vec::new();
    for handle in handles {
        let fetched: Vec<(StoredFile, Bytes)> = stream::iter(handle.files.clone())
            .map(|f| {
                let shared = shared.clone();
                let label = label.to_string();
                async move {
                    let bytes = crate::checkpoint::read_verified(&shared, &label, &f.file).await?;
                    Ok::<_, StateError>((f.file, bytes))
                }
            })
            .buffered(IO_CONCURRENCY)
            .try_collect()
            .await?;
        let range = range.clone();
        let replayed = tokio::task::spawn_blocking(move || {
            let mut chain = Vec::with_capacity(fetched.len());
            for (file, bytes) in &fetched {
                let mut snapshot = StateSnapshot::new();
                for entry in &file.tables {
                    let (_, batches) = decode_table(bytes, entry, &file.path)?;
                    for batch in batches {
                        snapshot.add_keyed(&entry.name, batch)?;
                    }
                }
                chain.push(snapshot);
            }
            let with_base = handle.files.first().is_some_and(|f| f.full);
            let replayed = if with_base {
                replay(
                    chain.first(),
                    chain.get(1..).unwrap_or_default(),
                    &handle.keys,
                )?
            } else {
                replay(None, &chain, &handle.keys)?
            };
            let mut kept = StateSnapshot::new();
            for table in replayed.tables() {
                for batch in table.batches() {
                    let batch = filter_key_groups(table.name(), batch, &range, max_parallelism)?;
                    kept.add_keyed(table.name(), batch)?;
                }
            }
            Ok::<_, StateError>(kept)
        })
        .await
        .map_err(|e| StateError::Task(e.to_string()))??;
        out.push(replayed);
    }
    Ok(out)
}

/// The tables a chain stands for: a base (none when the base held no key), then
/// deltas in order. For each table of `keys`, a key's row is its last upsert, unless a
/// later delta removed it; base rows no delta touched keep their order, the others
/// follow.
pub fn replay(
    base: Option<&StateSnapshot>,
    deltas: &[StateSnapshot],
    keys: &BTreeMap<String, Vec<String>>,
) -> StateResult<StateSnapshot> {
    let mut out = StateSnapshot::new();
    for (name, key_columns) in keys {
        let removed_name = format!("{name}{REMOVED_SUFFIX}");
        let schema = base
            .into_iter()
            .chain(deltas)
            .find_map(|s| s.table(name).map(|t| t.schema().clone()));
        let Some(schema) = schema else {
            continue;
        };
        let converter = key_converter(name, &schema, key_columns)?;
        // Per key, the newest change of the deltas: removed, or (delta batch, row).
        let mut latest: HashMap<Box<[u8]>, Option<(usize, usize)>> = HashMap::new();
        let mut delta_batches: Vec<&RecordBatch> = Vec::new();
        for delta in deltas {
            if let Some(table) = delta.table(&removed_name) {
                for batch in table.batches() {
                    let rows = encode_keys(&converter, name, batch, key_columns)?;
                    for row in rows.iter() {
                        latest.insert(row.as_ref().into(), None);
                    }
                }
            }
            if let Some(table) = delta.table(name) {
                for batch in table.batches() {
                    check_schema(name, &schema, batch)?;
                    let rows = encode_keys(&converter, name, batch, key_columns)?;
                    let index = delta_batches.len();
                    delta_batches.push(batch);
                    for (i, row) in rows.iter().enumerate() {
                        latest.insert(row.as_ref().into(), Some((index, i)));
                    }
                }
            }
        }
        if let Some(table) = base.and_then(|b| b.table(name)) {
            for batch in table.batches() {
                check_schema(name, &schema, batch)?;
                if latest.is_empty() {
                    out.add_keyed(name, batch.clone())?;
                    continue;
                }
                let rows = encode_keys(&converter, name, batch, key_columns)?;
                let keep: BooleanArray = rows
                    .iter()
                    .map(|row| Some(!latest.contains_key(row.as_ref())))
                    .collect();
                let kept = filter_record_batch(batch, &keep)
                    .map_err(|e| StateError::arrow(format!("replaying table {name:?}"), e))?;
                out.add_keyed(name, kept)?;
            }
        }
        let mut upserts: Vec<(usize, usize)> = latest.into_values().flatten().collect();
        upserts.sort_unstable();
        if !upserts.is_empty() {
            let batch = interleave_record_batch(&delta_batches, &upserts)
                .map_err(|e| StateError::arrow(format!("replaying table {name:?}"), e))?;
            out.add_keyed(name, batch)?;
        }
    }
    Ok(out)
}

fn key_converter(table: &str, schema: &SchemaRef, columns: &[String]) -> StateResult<RowConverter> {
    let mut fields = Vec::with_capacity(columns.len());
    for column in columns {
        let field = schema.field_with_name(column).map_err(|_| {
            StateError::InvalidSnapshot(format!("table {table:?} has no key column {column:?}"))
        })?;
        fields.push(SortField::new(field.data_type().clone()));
    }
    if columns.first().map(String::as_str) != Some(KEY_GROUP_COLUMN) {
        return Err(StateError::InvalidSnapshot(format!(
            "the key columns of table {table:?} must start with {KEY_GROUP_COLUMN}"
        )));
    }
    RowConverter::new(fields).map_err(|e| StateError::arrow(format!("keys of table {table:?}"), e))
}

fn encode_keys(
    converter: &RowConverter,
    table: &str,
    batch: &RecordBatch,
    columns: &[String],
) -> StateResult<Rows> {
    let arrays = columns
        .iter()
        .map(|c| {
            batch.column_by_name(c).cloned().ok_or_else(|| {
                StateError::InvalidSnapshot(format!("table {table:?} has no key column {c:?}"))
            })
        })
        .collect::<StateResult<Vec<ArrayRef>>>()?;
    converter
        .convert_columns(&arrays)
        .map_err(|e| StateError::arrow(format!("keys of table {table:?}"), e))
}

fn check_schema(table: &str, schema: &SchemaRef, batch: &RecordBatch) -> StateResult<()> {
    if batch.schema().fields() != schema.fields() {
        return Err(StateError::InvalidSnapshot(format!(
            "table {table:?} changed schema within an incremental chain"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "changelog_tests.rs"]
mod tests;
