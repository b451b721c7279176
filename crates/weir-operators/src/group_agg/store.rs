//! The unbounded aggregation's keys in the RocksDB state backend
//! (`state.backend.type = rocksdb`).
//!
//! The store holds every key as `key group ++ encoded key -> value`, where the value
//! is the key's last write time and row count (each an `i64`, big-endian: the TTL
//! compaction filter reads the first) followed by its accumulator states in Arrow's
//! row format. Memory holds a cache of keys ([`GroupState`]): a batch's keys not in
//! memory are read from the store first (one `multi_get` per batch); changed keys are
//! written back, and keys removed since deleted, before every checkpoint and whenever
//! the cache holds more than `cache_keys` keys, after which clean keys are dropped
//! from memory. So memory is bounded by the keys touched between write-backs, and the
//! state by the disk.
//!
//! A checkpoint snapshots the store's files ([`KeyedStore::snapshot`], incremental
//! when configured); a savepoint scans the store into the same `groups` table the
//! in-memory backend writes (see [`super::snapshot`]), so either backend restores it.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt16Array, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, UInt16Type};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use weir_runtime::partition::key_groups;
use weir_runtime::{KeyedStore, RocksConfig, StateSnapshot};
use weir_state::native::NativeState;
use weir_state::rocks::{split_store_key, store_key, StoreBatch, StoreTtl};
use weir_types::{EngineError, EngineResult};

use super::snapshot::{GroupStates, GROUPS_TABLE};
use super::state::GroupState;

/// Entries per batch of a savepoint's `groups` table.
const SCAN_BATCH: usize = 65_536;

/// Bytes before the accumulator states in a value: last write and row count.
const VALUE_HEADER: usize = 16;

/// Where a subtask's store lives and what it holds.
pub(crate) struct StoreSettings {
    pub config: RocksConfig,
    /// Names the store's local folder.
    pub label: String,
    /// The subtask's key groups, `[first, last]`.
    pub key_groups: [u32; 2],
    pub max_parallelism: usize,
    /// Whether the aggregation has keys (a global one stores its group in key group 0).
    pub keyed: bool,
    /// State TTL and the operator's clock.
    pub ttl: Option<StoreTtl>,
}

/// A subtask's aggregation state in RocksDB.
pub(crate) struct GroupStore {
    store: KeyedStore,
    settings: StoreSettings,
    /// Encodes the accumulator states of a value (`None` without aggregates).
    values: Option<RowConverter>,
    /// Names and types of the state columns, in `groups` table order.
    state_fields: Vec<(String, DataType)>,
}

impl GroupStore {
    /// Opens an empty store for `state`'s aggregates, and makes `state` track its
    /// changes.
    pub fn open(state: &mut GroupState, settings: StoreSettings) -> EngineResult<GroupStore> {
        let state_fields = state.state_fields();
        let sort_fields: Vec<SortField> = state_fields
            .iter()
            .map(|(_, t)| SortField::new(t.clone()))
            .collect();
        if !RowConverter::supports_fields(&sort_fields) {
            return Err(EngineError::Config(format!(
                "state.backend.type = 'rocksdb' cannot store this aggregation's state (types {}); \
                 use the 'hashmap' backend for it",
                state_fields
                    .iter()
                    .map(|(_, t)| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let values = if sort_fields.is_empty() {
            None
        } else {
            Some(RowConverter::new(sort_fields)?)
        };
        let store = open_store(&settings, Vec::new())?;
        state.track_changes = true;
        Ok(GroupStore {
            store,
            settings,
            values,
            state_fields,
        })
    }

    /// Replaces the store with one opened from a checkpoint's native state.
    pub fn restore_native(&mut self, restored: Vec<NativeState>) -> EngineResult<()> {
        self.store = open_store(&self.settings, restored)?;
        Ok(())
    }

    /// Keys memory may hold before a write-back drops clean ones.
    pub fn cache_keys(&self) -> usize {
        self.settings.config.cache_keys
    }

    /// Bytes of the store's files on disk.
    pub fn disk_size(&self) -> u64 {
        self.store.disk_size()
    }

    /// Reads into memory the keys of a batch (`encoded`, `rows` of them, with their
    /// `key_columns`) that memory does not hold and the store does.
    pub fn load(
        &self,
        state: &mut GroupState,
        key_columns: &[ArrayRef],
        encoded: Option<&Rows>,
        rows: usize,
    ) -> EngineResult<()> {
        let key_of = |row: usize| -> &[u8] {
            match encoded {
                Some(encoded) => encoded.row(row).data(),
                None => &[],
            }
        };
        let mut seen: HashSet<&[u8]> = HashSet::new();
        let missing: Vec<u32> = (0..rows)
            .filter(|&row| {
                let key = key_of(row);
                state.keys.find(key).is_none()
                    && !state.removed_keys.contains(key)
                    && seen.insert(key)
            })
            .map(|row| row as u32)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let groups = if self.settings.keyed {
            let indices = UInt32Array::from(missing.clone());
            let taken = key_columns
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?;
            key_groups(&taken, self.settings.max_parallelism)?
        } else {
            UInt16Array::from(vec![0u16; missing.len()])
        };
        let store_keys: Vec<Vec<u8>> = missing
            .iter()
            .zip(groups.values())
            .map(|(&row, &group)| store_key(u32::from(group), key_of(row as usize)))
            .collect();
        let values = self.store.get_many(&store_keys).map_err(state_error)?;
        let mut keys = Vec::new();
        let mut found = Vec::new();
        for (&row, value) in missing.iter().zip(&values) {
            if let Some(value) = value {
                keys.push(key_of(row as usize));
                found.push(value.as_slice());
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        let states = self.decode_values(&found)?;
        state.insert_groups(&keys, &states)
    }

    /// Writes the keys changed since the last write-back to the store, and deletes
    /// the keys removed since.
    pub fn write_back(&self, state: &mut GroupState) -> EngineResult<()> {
        let mut batch = StoreBatch::new();
        let removed: Vec<Box<[u8]>> = state.removed_keys.drain().collect();
        if !removed.is_empty() {
            let keys: Vec<&[u8]> = removed.iter().map(|k| &**k).collect();
            let groups = self.key_groups_of(state, &keys)?;
            for (key, group) in keys.iter().zip(groups.values()) {
                batch.delete(&store_key(u32::from(*group), key));
            }
        }
        let mut ids = Vec::new();
        for id in std::mem::take(&mut state.dirty) {
            if let Some(group) = state.groups[id as usize].as_mut() {
                if group.dirty {
                    group.dirty = false;
                    ids.push(id);
                }
            }
        }
        if !ids.is_empty() {
            let keys: Vec<Box<[u8]>> = ids
                .iter()
                .map(|&id| state.keys.key_bytes(id).into())
                .collect();
            let key_refs: Vec<&[u8]> = keys.iter().map(|k| &**k).collect();
            let groups = self.key_groups_of(state, &key_refs)?;
            let states = state.group_states(&ids)?;
            let encoded = self.encode_states(&states)?;
            for (row, (key, group)) in key_refs.iter().zip(groups.values()).enumerate() {
                let value = value_bytes(
                    &states,
                    row,
                    encoded.as_ref().map_or(&[], |e| e.row(row).data()),
                );
                batch.put(&store_key(u32::from(*group), key), &value);
            }
        }
        self.store.write(batch).map_err(state_error)
    }

    /// After a write-back, drops clean keys from memory while it holds more than the
    /// cache allows (down to half of it).
    pub fn shrink(&self, state: &mut GroupState) {
        let limit = self.settings.config.cache_keys;
        if state.keys.len() <= limit {
            return;
        }
        let clean: Vec<u32> = state
            .keys
            .live_ids()
            .filter(|&id| {
                state.groups[id as usize]
                    .as_ref()
                    .is_some_and(|g| !g.dirty && g.pending.is_none())
            })
            .collect();
        let excess = state.keys.len() - limit / 2;
        for id in clean.into_iter().take(excess) {
            state.evict(id);
        }
    }

    /// The checkpoint snapshot: the store's files, after a write-back.
    pub fn snapshot(
        &mut self,
        state: &mut GroupState,
        checkpoint_id: u64,
    ) -> EngineResult<StateSnapshot> {
        self.write_back(state)?;
        self.shrink(state);
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

    /// The savepoint snapshot: every key of the store as the `groups` table.
    pub fn canonical_snapshot(&self, state: &mut GroupState) -> EngineResult<StateSnapshot> {
        self.write_back(state)?;
        let mut snapshot = StateSnapshot::new();
        let mut groups: Vec<u16> = Vec::new();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut values: Vec<Vec<u8>> = Vec::new();
        let flush = |groups: &mut Vec<u16>,
                     keys: &mut Vec<Vec<u8>>,
                     values: &mut Vec<Vec<u8>>,
                     snapshot: &mut StateSnapshot|
         -> EngineResult<()> {
            if groups.is_empty() {
                return Ok(());
            }
            let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let key_columns = state.keys.decode(&key_refs)?;
            let value_refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let states = self.decode_values(&value_refs)?;
            let key_group: ArrayRef = Arc::new(UInt16Array::from(std::mem::take(groups)));
            let batch = state.groups_batch(key_group, key_columns, states)?;
            keys.clear();
            values.clear();
            snapshot
                .add_keyed(GROUPS_TABLE, batch)
                .map_err(|e| EngineError::Internal(e.to_string()))
        };
        let mut failure = None;
        self.store
            .scan(|key, value| {
                let Some((group, key)) = split_store_key(key) else {
                    return Ok(());
                };
                groups.push(group as u16);
                keys.push(key.to_vec());
                values.push(value.to_vec());
                if groups.len() >= SCAN_BATCH {
                    if let Err(e) = flush(&mut groups, &mut keys, &mut values, &mut snapshot) {
                        failure = Some(e);
                        return Err(weir_state::StateError::Task(
                            "savepoint scan stopped".into(),
                        ));
                    }
                }
                Ok(())
            })
            .map_err(|e| match failure.take() {
                Some(failure) => failure,
                None => EngineError::Checkpoint(e.to_string()),
            })?;
        flush(&mut groups, &mut keys, &mut values, &mut snapshot)?;
        Ok(snapshot)
    }

    /// Writes a restored `groups` table batch (from a savepoint, or a checkpoint of the
    /// in-memory backend) straight into the store.
    pub fn import(
        &self,
        state: &GroupState,
        batch: &RecordBatch,
        key_types: &[DataType],
    ) -> EngineResult<()> {
        let (keys, states) = state.split_groups_batch(batch, key_types)?;
        let groups = batch
            .column(0)
            .as_primitive_opt::<UInt16Type>()
            .ok_or_else(|| {
                EngineError::Config(
                    "the checkpoint's aggregation key groups are not SMALLINT UNSIGNED".into(),
                )
            })?;
        let encoded_keys = state.keys.encode(&keys)?;
        let encoded = self.encode_states(&states)?;
        let mut store_batch = StoreBatch::new();
        for row in 0..batch.num_rows() {
            let key: &[u8] = match &encoded_keys {
                Some(k) => k.row(row).data(),
                None => &[],
            };
            let value = value_bytes(
                &states,
                row,
                encoded.as_ref().map_or(&[], |e| e.row(row).data()),
            );
            store_batch.put(&store_key(u32::from(groups.value(row)), key), &value);
        }
        self.store.write(store_batch).map_err(state_error)
    }

    fn key_groups_of(&self, state: &GroupState, keys: &[&[u8]]) -> EngineResult<UInt16Array> {
        if !self.settings.keyed {
            return Ok(UInt16Array::from(vec![0u16; keys.len()]));
        }
        let columns = state.keys.decode(keys)?;
        key_groups(&columns, self.settings.max_parallelism)
    }

    /// The encoded accumulator states of each group (`None` without aggregates).
    fn encode_states(&self, states: &GroupStates) -> EngineResult<Option<Rows>> {
        let Some(converter) = &self.values else {
            return Ok(None);
        };
        let columns = states
            .columns
            .iter()
            .zip(&self.state_fields)
            .map(|((_, column), (_, to))| {
                if column.data_type() == to {
                    Ok(Arc::clone(column))
                } else {
                    cast(column, to).map_err(EngineError::from)
                }
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Some(converter.convert_columns(&columns)?))
    }

    fn decode_values(&self, values: &[&[u8]]) -> EngineResult<GroupStates> {
        let mut last_writes = Vec::with_capacity(values.len());
        let mut rows = Vec::with_capacity(values.len());
        for value in values {
            let header = value.first_chunk::<VALUE_HEADER>().ok_or_else(|| {
                EngineError::Checkpoint(format!(
                    "a stored aggregation value has {} bytes, fewer than its {VALUE_HEADER}-byte header",
                    value.len()
                ))
            })?;
            let (written, count) = header.split_at(8);
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(written);
            last_writes.push(i64::from_be_bytes(bytes));
            bytes.copy_from_slice(count);
            rows.push(i64::from_be_bytes(bytes));
        }
        let columns = match &self.values {
            None => Vec::new(),
            Some(converter) => {
                let parser = converter.parser();
                converter.convert_rows(values.iter().map(|v| parser.parse(&v[VALUE_HEADER..])))?
            }
        };
        Ok(GroupStates {
            rows: Int64Array::from(rows),
            last_writes: Int64Array::from(last_writes),
            columns: self
                .state_fields
                .iter()
                .map(|(name, _)| name.clone())
                .zip(columns)
                .collect(),
        })
    }
}

fn open_store(settings: &StoreSettings, restored: Vec<NativeState>) -> EngineResult<KeyedStore> {
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
    EngineError::Checkpoint(format!("aggregation state: {e}"))
}

/// A value: last write, row count, then the encoded accumulator states.
fn value_bytes(states: &GroupStates, row: usize, encoded: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(VALUE_HEADER + encoded.len());
    value.extend_from_slice(&states.last_writes.value(row).to_be_bytes());
    value.extend_from_slice(&states.rows.value(row).to_be_bytes());
    value.extend_from_slice(encoded);
    value
}
