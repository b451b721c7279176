//! Grouping keys of an unbounded aggregation: each distinct key gets a dense group id.
//!
//! Keys are encoded with Arrow's row format (`RowConverter`), so a key of any types is
//! one byte string; a hash table of group ids looks them up without allocating. The key
//! bytes of each live group are kept to build the key columns of emitted rows, and the
//! ids of removed groups (all rows retracted, or expired by TTL) are reused.

use std::hash::BuildHasher;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashTable;
use weir_types::{EngineError, EngineResult};

/// Fixed-seed hasher: group ids need not be stable across runs, but determinism helps tests.
type Hasher = foldhash::fast::FixedState;

/// Dense group ids for keys.
pub(crate) struct KeyTable {
    /// `None` for an aggregation without keys: one group, id 0.
    converter: Option<RowConverter>,
    hasher: Hasher,
    table: HashTable<u32>,
    /// Key bytes by group id (empty for free ids).
    keys: Vec<Box<[u8]>>,
    live: Vec<bool>,
    free: Vec<u32>,
}

impl KeyTable {
    /// A table for keys of the types of `key_schema`'s fields.
    pub fn new(key_schema: &SchemaRef) -> EngineResult<KeyTable> {
        let converter = if key_schema.fields().is_empty() {
            None
        } else {
            Some(RowConverter::new(
                key_schema
                    .fields()
                    .iter()
                    .map(|f| SortField::new(f.data_type().clone()))
                    .collect(),
            )?)
        };
        Ok(KeyTable {
            converter,
            hasher: Hasher::with_seed(0x5745_4952),
            table: HashTable::new(),
            keys: Vec::new(),
            live: Vec::new(),
            free: Vec::new(),
        })
    }

    /// Encodes the key columns of a batch (`None` without keys).
    pub fn encode(&self, columns: &[ArrayRef]) -> EngineResult<Option<Rows>> {
        match &self.converter {
            None => Ok(None),
            Some(converter) => Ok(Some(converter.convert_columns(columns)?)),
        }
    }

    /// The group of an encoded key, if it is live.
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&id| &*self.keys[id as usize] == key)
            .copied()
    }

    /// Adds a key that [`KeyTable::find`] did not find, returning its new group id.
    pub fn insert(&mut self, key: &[u8]) -> u32 {
        let id = match self.free.pop() {
            Some(id) => {
                self.keys[id as usize] = key.into();
                self.live[id as usize] = true;
                id
            }
            None => {
                self.keys.push(key.into());
                self.live.push(true);
                (self.keys.len() - 1) as u32
            }
        };
        let hash = self.hasher.hash_one(key);
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.table
            .insert_unique(hash, id, |&other| hasher.hash_one(&*keys[other as usize]));
        id
    }

    /// Removes a live group; its id may be handed out again.
    pub fn remove(&mut self, id: u32) {
        let key = std::mem::take(&mut self.keys[id as usize]);
        let hash = self.hasher.hash_one(&*key);
        if let Ok(entry) = self.table.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        self.live[id as usize] = false;
        self.free.push(id);
    }

    /// The encoded key of a live group.
    pub fn key_bytes(&self, id: u32) -> &[u8] {
        &self.keys[id as usize]
    }

    /// The key columns of encoded keys, in order (nothing without keys).
    pub fn decode(&self, keys: &[&[u8]]) -> EngineResult<Vec<ArrayRef>> {
        let Some(converter) = &self.converter else {
            return Ok(Vec::new());
        };
        let parser = converter.parser();
        let rows = keys.iter().map(|k| parser.parse(k));
        converter.convert_rows(rows).map_err(EngineError::from)
    }

    /// Number of live groups.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Ids of all live groups.
    pub fn live_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.live
            .iter()
            .enumerate()
            .filter(|(_, &live)| live)
            .map(|(id, _)| id as u32)
    }

    /// The key columns of `ids`, in that order (nothing without keys).
    pub fn key_columns(&self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        let Some(converter) = &self.converter else {
            return Ok(Vec::new());
        };
        let parser = converter.parser();
        let rows = ids.iter().map(|&id| parser.parse(&self.keys[id as usize]));
        converter.convert_rows(rows).map_err(EngineError::from)
    }

    /// Bytes held by keys and the table, roughly.
    pub fn memory_size(&self) -> usize {
        self.keys.iter().map(|k| k.len() + 16).sum::<usize>() + self.table.capacity() * 12
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};

    use super::*;

    #[test]
    fn interns_removes_and_reuses_ids() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
        ]));
        let mut table = KeyTable::new(&schema).unwrap();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a"), None, Some("a")])),
            Arc::new(Int32Array::from(vec![1, 2, 1])),
        ];
        let rows = table.encode(&columns).unwrap().unwrap();
        let mut ids = Vec::new();
        for row in rows.iter() {
            let id = match table.find(row.as_ref()) {
                Some(id) => id,
                None => table.insert(row.as_ref()),
            };
            ids.push(id);
        }
        assert_eq!(ids, vec![0, 1, 0]);
        assert_eq!(table.len(), 2);
        let keys = table.key_columns(&[1, 0]).unwrap();
        assert_eq!(
            keys[0].as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![None, Some("a")]
        );
        assert_eq!(keys[1].as_primitive::<Int32Type>().values(), &[2, 1]);
        table.remove(0);
        assert_eq!(table.find(rows.row(0).as_ref()), None);
        assert_eq!(table.find(rows.row(1).as_ref()), Some(1));
        assert_eq!(table.insert(rows.row(0).as_ref()), 0);
        assert_eq!(table.live_ids().collect::<Vec<_>>(), vec![0, 1]);
    }
}
