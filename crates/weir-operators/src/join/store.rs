//! The regular join's rows in the RocksDB state backend (`state.backend.type = rocksdb`).
//!
//! One store per subtask holds both sides: the store key is `key group ++ side (0 left,
//! 1 right) ++ encoded join key`, and the value is the key's whole list of rows:
//!
//! | bytes | content |
//! |---|---|
//! | 8, big-endian | the latest last-write time of the list (read by the TTL compaction filter) |
//! | 4 | number of rows |
//! | per row: 4 + 8 + 4 + n | matches, last write, length, the row in Arrow's row format |
//!
//! Memory holds a cache of keys: the [`SideState`] tables. Before a batch is joined, its
//! keys that memory holds on neither side are read from the store (one `multi_get` per
//! batch); keys changed since (inserted, retracted, expired, a match counted) are marked
//! dirty and written back, empty ones deleted, before every checkpoint and whenever the
//! cache holds more than `cache_keys` keys, after which memory drops keys down to half
//! of that. So memory holds the keys touched between write-backs and the state lives on
//! disk; a hot key stays in memory and costs one write per write-back, not per row.
//!
//! A checkpoint snapshots the store's files (incremental when configured); a savepoint
//! scans the store into the `left_rows` / `right_rows` tables the in-memory backend
//! writes ([`super::snapshot`]), so either backend restores it.

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::take;
use arrow::row::Rows;
use weir_runtime::partition::key_groups;
use weir_runtime::{KeyedStore, RocksConfig, StateSnapshot};
use weir_state::native::NativeState;
use weir_state::rocks::{split_store_key, store_key, StoreBatch, StoreTtl};
use weir_types::{EngineError, EngineResult};

use super::state::{SideState, Stored};

/// Rows per table batch of a savepoint scan.
const SCAN_BATCH: usize = 65_536;

/// Bytes before a value's rows: latest last write and row count.
const VALUE_HEADER: usize = 12;

/// Bytes before each row's content: matches, last write, length.
const ROW_HEADER: usize = 16;

/// Where a subtask's join store lives.
pub(crate) struct JoinStoreSettings {
    pub config: RocksConfig,
    /// Names the store's local folder.
    pub label: String,
    /// The subtask's key groups, `[first, last]`.
    pub key_groups: [u32; 2],
    pub max_parallelism: usize,
    /// The TTL compaction filter: the longer of the two sides' TTLs (rows are expired
    /// exactly, per side, when read), `None` when either side keeps rows forever.
    pub ttl: Option<StoreTtl>,
}

/// A subtask's join rows in RocksDB.
pub(crate) struct JoinStore {
    store: KeyedStore,
    settings: JoinStoreSettings,
}

impl JoinStore {
    /// Opens an empty store, and makes both sides track their changed keys.
    pub fn open(
        sides: &mut [SideState; 2],
        settings: JoinStoreSettings,
    ) -> EngineResult<JoinStore> {
        let store = open_store(&settings, Vec::new())?;
        for side in sides {
            side.dirty = Some(Default::default());
        }
        Ok(JoinStore { store, settings })
    }

    /// Replaces the store with one opened from a checkpoint's native state.
    pub fn restore_native(&mut self, restored: Vec<NativeState>) -> EngineResult<()> {
        self.store = open_store(&self.settings, restored)?;
        Ok(())
    }

    /// Reads into memory, on both sides, the keys of a batch (`keys`, encoded, with
    /// their `key_columns`; rows where `valid` is false have a NULL key and are skipped)
    /// that memory does not hold and has not changed since the last write-back.
    pub fn load(
        &self,
        sides: &mut [SideState; 2],
        keys: &Rows,
        key_columns: &[ArrayRef],
        valid: impl Fn(usize) -> bool,
    ) -> EngineResult<()> {
        let mut wanted: Vec<(usize, u32)> = Vec::new();
        for (side, state) in sides.iter().enumerate() {
            let mut seen = std::collections::HashSet::new();
            for row in 0..keys.num_rows() {
                let key = keys.row(row).data();
                if valid(row) && !state.holds(key) && seen.insert(key) {
                    wanted.push((side, row as u32));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let indices = UInt32Array::from_iter_values(wanted.iter().map(|&(_, row)| row));
        let taken = key_columns
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        let groups = key_groups(&taken, self.settings.max_parallelism)?;
        let store_keys: Vec<Vec<u8>> = wanted
            .iter()
            .zip(groups.values())
            .map(|(&(side, row), &group)| {
                side_key(u32::from(group), side, keys.row(row as usize).data())
            })
            .collect();
        let values = self.store.get_many(&store_keys).map_err(state_error)?;
        for (&(side, row), value) in wanted.iter().zip(values) {
            if let Some(value) = value {
                let list = decode_list(&value)?;
                sides[side]
                    .table
                    .insert(keys.row(row as usize).data().into(), list);
            }
        }
        Ok(())
    }

    /// Writes the keys changed since the last write-back to the store (deleting those
    /// left without rows).
    pub fn write_back(&self, sides: &mut [SideState; 2]) -> EngineResult<()> {
        let mut batch = StoreBatch::new();
        for (side, state) in sides.iter_mut().enumerate() {
            let Some(dirty) = state.dirty.as_mut() else {
                continue;
            };
            if dirty.is_empty() {
                continue;
            }
            let changed: Vec<Box<[u8]>> = dirty.drain().collect();
            let parser = state.keys.parser();
            let columns = state
                .keys
                .convert_rows(changed.iter().map(|k| parser.parse(k)))?;
            let groups = key_groups(&columns, self.settings.max_parallelism)?;
            for (key, group) in changed.iter().zip(groups.values()) {
                let store_key = side_key(u32::from(*group), side, key);
                match state.table.get(key.as_ref()) {
                    Some(list) if !list.is_empty() => batch.put(&store_key, &encode_list(list)),
                    _ => batch.delete(&store_key),
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store.write(batch).map_err(state_error)
    }

    /// Whether memory holds more keys than the cache allows.
    pub fn over_limit(&self, sides: &[SideState; 2]) -> bool {
        sides.iter().map(|s| s.table.len()).sum::<usize>() > self.settings.config.cache_keys
    }

    /// Writes back, then drops keys from memory down to half the cache.
    pub fn spill(&self, sides: &mut [SideState; 2]) -> EngineResult<()> {
        self.write_back(sides)?;
        let keep = self.settings.config.cache_keys / 4;
        for state in sides.iter_mut() {
            let mut kept = 0;
            state.table.retain(|_, _| {
                kept += 1;
                kept <= keep
            });
        }
        Ok(())
    }

    /// The checkpoint snapshot: the store's files, after a write-back.
    pub fn snapshot(
        &mut self,
        sides: &mut [SideState; 2],
        checkpoint_id: u64,
    ) -> EngineResult<StateSnapshot> {
        self.write_back(sides)?;
        if self.over_limit(sides) {
            self.spill(sides)?;
        }
        let mut snapshot = StateSnapshot::new();
        snapshot.add_native(
            self.store
                .snapshot(checkpoint_id)
                .map_err(|e| EngineError::Checkpoint(e.to_string()))?,
        );
        Ok(snapshot)
    }

    /// Checkpoint `checkpoint_id` completed: its files may be referenced by later
    /// (incremental) checkpoints.
    pub fn checkpoint_complete(&mut self, checkpoint_id: u64) {
        self.store.checkpoint_complete(checkpoint_id);
    }

    /// Every stored row of the store (write back first), handed to `emit` per side in
    /// chunks of at most [`SCAN_BATCH`] rows (for the savepoint tables).
    pub fn scan(
        &self,
        mut emit: impl FnMut(usize, &[Stored]) -> EngineResult<()>,
    ) -> EngineResult<()> {
        let mut chunks: [Vec<Stored>; 2] = [Vec::new(), Vec::new()];
        let mut failure = None;
        self.store
            .scan(|key, value| {
                let decoded = split_store_key(key)
                    .and_then(|(_, rest)| rest.first().map(|&side| side as usize))
                    .filter(|&side| side < 2)
                    .ok_or_else(|| EngineError::Checkpoint("a join store key has no side".into()))
                    .and_then(|side| Ok((side, decode_list(value)?)));
                let result = decoded.and_then(|(side, list)| {
                    chunks[side].extend(list);
                    if chunks[side].len() >= SCAN_BATCH {
                        emit(side, &chunks[side])?;
                        chunks[side].clear();
                    }
                    Ok(())
                });
                result.map_err(|e| {
                    failure = Some(e);
                    weir_state::StateError::Task("savepoint scan stopped".into())
                })
            })
            .map_err(|e| match failure.take() {
                Some(failure) => failure,
                None => EngineError::Checkpoint(e.to_string()),
            })?;
        for (side, chunk) in chunks.iter().enumerate() {
            if !chunk.is_empty() {
                emit(side, chunk)?;
            }
        }
        Ok(())
    }
}

/// The store key of `key` on side `side` in key group `group`.
fn side_key(group: u32, side: usize, key: &[u8]) -> Vec<u8> {
    let mut tagged = Vec::with_capacity(1 + key.len());
    tagged.push(side as u8);
    tagged.extend_from_slice(key);
    store_key(group, &tagged)
}

/// A key's list of rows as a store value.
fn encode_list(list: &[Stored]) -> Vec<u8> {
    let latest = list.iter().map(|s| s.last_write).max().unwrap_or(0);
    let size: usize = list.iter().map(|s| ROW_HEADER + s.row.len()).sum();
    let mut value = Vec::with_capacity(VALUE_HEADER + size);
    value.extend_from_slice(&latest.to_be_bytes());
    value.extend_from_slice(&(list.len() as u32).to_le_bytes());
    for stored in list {
        value.extend_from_slice(&stored.matches.to_le_bytes());
        value.extend_from_slice(&stored.last_write.to_le_bytes());
        value.extend_from_slice(&(stored.row.len() as u32).to_le_bytes());
        value.extend_from_slice(&stored.row);
    }
    value
}

/// A store value back as a key's list of rows.
fn decode_list(value: &[u8]) -> EngineResult<Vec<Stored>> {
    let corrupt = || {
        EngineError::Checkpoint(format!(
            "a stored join value of {} bytes is cut short or corrupt",
            value.len()
        ))
    };
    let count = value
        .get(8..VALUE_HEADER)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(corrupt)?;
    let mut list = Vec::with_capacity(count as usize);
    let mut at = VALUE_HEADER;
    for _ in 0..count {
        let header = value.get(at..at + ROW_HEADER).ok_or_else(corrupt)?;
        let (matches, rest) = header.split_at(4);
        let (last_write, len) = rest.split_at(8);
        let matches = u32::from_le_bytes(matches.try_into().map_err(|_| corrupt())?);
        let last_write = i64::from_le_bytes(last_write.try_into().map_err(|_| corrupt())?);
        let len = u32::from_le_bytes(len.try_into().map_err(|_| corrupt())?) as usize;
        at += ROW_HEADER;
        let row = value.get(at..at + len).ok_or_else(corrupt)?;
        at += len;
        list.push(Stored {
            row: row.into(),
            matches,
            last_write,
        });
    }
    Ok(list)
}

fn open_store(
    settings: &JoinStoreSettings,
    restored: Vec<NativeState>,
) -> EngineResult<KeyedStore> {
    KeyedStore::open(
        &settings.config,
        &settings.label,
        settings.key_groups,
        settings.ttl.clone(),
        restored,
    )
    .map_err(|e| EngineError::Config(format!("state backend rocksdb: {e}")))
}

/// The state store failed: reading or writing RocksDB (disk full, a corrupt file).
fn state_error(e: weir_state::StateError) -> EngineError {
    EngineError::Checkpoint(format!("join state: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inline_bytes::Bytes;

    #[test]
    fn lists_round_trip_and_corrupt_values_fail() {
        let list = vec![
            Stored {
                row: Bytes::from(&[1u8, 2, 3][..]),
                matches: 2,
                last_write: 7,
            },
            Stored {
                row: Bytes::from(&[][..]),
                matches: 0,
                last_write: 9,
            },
        ];
        let value = encode_list(&list);
        assert_eq!(
            &value[..8],
            &9i64.to_be_bytes(),
            "the TTL filter reads the latest write"
        );
        let back = decode_list(&value).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(
            (&*back[0].row, back[0].matches, back[0].last_write),
            (&[1u8, 2, 3][..], 2, 7)
        );
        assert_eq!((back[1].row.len(), back[1].last_write), (0, 9));
        let err = decode_list(&value[..value.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
