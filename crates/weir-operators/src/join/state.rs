//! The state of one side of a regular join: its live rows by join key.
//!
//! Keys and rows are Arrow row-format encodings (a key's bytes are equal exactly when
//! its values are). A key holds its rows in arrival order, one entry per row (a row that
//! arrived twice is two entries), each with the number of rows of the other side it
//! currently joins with (kept for outer sides, whose padded row depends on it) and the
//! processing time it was last written (state TTL).

use std::collections::{HashMap, HashSet};

use arrow::row::{RowConverter, SortField};
use weir_types::{EngineError, EngineResult};

use super::JoinSide;
use crate::inline_bytes::Bytes;

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Keys changed since the state store last saw them.
pub(super) type DirtyKeys = HashSet<Box<[u8]>, foldhash::fast::FixedState>;

/// One stored row.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    /// The row's data columns, row-encoded (inline when short).
    pub row: Bytes,
    /// Rows of the other side it joins with (outer sides only; 0 otherwise).
    pub matches: u32,
    /// Processing time of its last write, in milliseconds.
    pub last_write: i64,
}

/// The rows of one join input.
pub(super) struct SideState {
    /// Encodes the key columns.
    pub keys: RowConverter,
    /// Encodes and decodes whole rows (the data columns).
    pub rows: RowConverter,
    /// Live rows by encoded key (inline when short: no allocation, and a lookup reads
    /// no other cache line to compare keys).
    pub table: Map<Bytes, Vec<Stored>>,
    /// Whether this side is outer (its unmatched rows are output padded).
    pub outer: bool,
    /// State TTL of this side, in milliseconds.
    pub ttl: Option<i64>,
    /// With the RocksDB backend, the keys changed since the last write-back (`table`
    /// is then a cache of the store, see [`super::store`]); `None` in memory.
    pub dirty: Option<DirtyKeys>,
}

impl SideState {
    /// Empty state for `side`.
    pub fn new(side: &JoinSide, outer: bool) -> EngineResult<SideState> {
        let fields = side.schema.fields();
        let key_fields = side
            .keys
            .iter()
            .map(|&k| {
                fields
                    .get(k)
                    .map(|f| SortField::new(f.data_type().clone()))
                    .ok_or_else(|| EngineError::Internal(format!("join key {k} is not a column")))
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let row_fields = fields
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(SideState {
            keys: RowConverter::new(key_fields)?,
            rows: RowConverter::new(row_fields)?,
            table: Map::default(),
            outer,
            ttl: side.state_ttl_ms,
            dirty: None,
        })
    }

    /// Whether memory is authoritative for `key`: it holds the key, or changed it
    /// (possibly removing it) since the last write-back.
    pub fn holds(&self, key: &[u8]) -> bool {
        self.table.contains_key(key) || self.dirty.as_ref().is_some_and(|d| d.contains(key))
    }

    /// Marks `key` changed, for the state store's next write-back.
    pub fn touch(&mut self, key: &[u8]) {
        if let Some(dirty) = self.dirty.as_mut() {
            if !dirty.contains(key) {
                dirty.insert(key.into());
            }
        }
    }

    /// Number of stored rows.
    pub fn rows(&self) -> usize {
        self.table.values().map(Vec::len).sum()
    }

    /// Drops the expired rows of `key` (and the key when none is left); returns how many.
    pub fn expire_key(&mut self, key: &[u8], now: i64) -> usize {
        let Some(ttl) = self.ttl else {
            return 0;
        };
        let Some(list) = self.table.get_mut(key) else {
            return 0;
        };
        let before = list.len();
        list.retain(|s| s.last_write + ttl > now);
        let dropped = before - list.len();
        if list.is_empty() {
            self.table.remove(key);
        }
        if dropped > 0 {
            self.touch(key);
        }
        dropped
    }

    /// Drops every expired row; returns how many.
    pub fn expire_all(&mut self, now: i64) -> usize {
        let Some(ttl) = self.ttl else {
            return 0;
        };
        let mut dropped = 0;
        let dirty = &mut self.dirty;
        self.table.retain(|key, list| {
            let before = list.len();
            list.retain(|s| s.last_write + ttl > now);
            if list.len() < before {
                dropped += before - list.len();
                if let Some(dirty) = dirty.as_mut() {
                    dirty.insert((**key).into());
                }
            }
            !list.is_empty()
        });
        dropped
    }

    /// Stores `row` under `key`.
    pub fn insert(&mut self, key: &[u8], row: &[u8], matches: u32, now: i64) {
        let stored = Stored {
            row: row.into(),
            matches,
            last_write: now,
        };
        match self.table.get_mut(key) {
            Some(list) => list.push(stored),
            None => {
                self.table.insert(key.into(), vec![stored]);
            }
        }
        self.touch(key);
    }

    /// Removes one stored row equal to `row` under `key`; false when there is none (it
    /// expired, or its insert was never seen).
    pub fn retract(&mut self, key: &[u8], row: &[u8]) -> bool {
        let Some(list) = self.table.get_mut(key) else {
            return false;
        };
        let Some(i) = list.iter().position(|s| s.row.as_ref() == row) else {
            return false;
        };
        list.remove(i);
        if list.is_empty() {
            self.table.remove(key);
        }
        self.touch(key);
        true
    }
}
