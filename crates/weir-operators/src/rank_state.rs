//! The partitions of an unbounded Top-N subtask and the rows each keeps.
//!
//! Partitions live in one dense vector, found by their encoded `PARTITION BY` values
//! through a hash table of indices into it: a row costs one hash lookup, and the
//! partitions a batch touched are remembered by index (no copy of their keys).
//!
//! A partition keeps its rows, encoded in Arrow's row format and shared (`Arc`) so the
//! rows a batch's changes are compared against are not copied, in rank order:
//! - over an append-only input at most N rows, in a short sorted vector grown only as
//!   far as N (deduplication keeps one row per partition, with no tree node around it);
//!   a row that would not be among the first N is dropped before anything is allocated;
//! - over an updating input every live row, in a B-tree (a retracted leader is replaced
//!   by the next row).

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::inline_bytes::Bytes;

/// A kept row, in Arrow's row format.
pub(super) type Row = Arc<[u8]>;

/// Where a row ranks: its encoded `ORDER BY` values, then its arrival tie-break.
pub(super) type RankKey = (Bytes, u64);

/// The rows of one partition, in rank order.
pub(super) enum Rows {
    /// Over an append-only input: the first N rows, sorted.
    Bounded(Vec<(RankKey, Row)>),
    /// Over an updating input: every live row.
    All(BTreeMap<RankKey, Row>),
}

/// The rows of a partition in rank order.
pub(super) enum RowsIter<'a> {
    Bounded(std::slice::Iter<'a, (RankKey, Row)>),
    All(std::collections::btree_map::Iter<'a, RankKey, Row>),
}

impl<'a> Iterator for RowsIter<'a> {
    type Item = (&'a RankKey, &'a Row);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            RowsIter::Bounded(it) => it.next().map(|(k, r)| (k, r)),
            RowsIter::All(it) => it.next(),
        }
    }
}

impl Rows {
    /// No rows: bounded over an append-only input, else unbounded.
    pub(super) fn new(input_updating: bool) -> Rows {
        if input_updating {
            Rows::All(BTreeMap::new())
        } else {
            Rows::Bounded(Vec::new())
        }
    }

    /// Number of rows kept.
    pub(super) fn len(&self) -> usize {
        match self {
            Rows::Bounded(v) => v.len(),
            Rows::All(m) => m.len(),
        }
    }

    /// Whether no row is kept.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows in rank order.
    pub(super) fn iter(&self) -> RowsIter<'_> {
        match self {
            Rows::Bounded(v) => RowsIter::Bounded(v.iter()),
            Rows::All(m) => RowsIter::All(m.iter()),
        }
    }

    /// Adds a row ranked at `(sort, tie)`. Bounded rows keep only the first `limit`:
    /// a row ranking after them is dropped without allocating, and a row entering a
    /// full partition pushes out its last row (whose sort key buffer it reuses).
    pub(super) fn insert(&mut self, sort: &[u8], tie: u64, row: &[u8], limit: usize) {
        match self {
            Rows::All(m) => {
                m.insert((sort.into(), tie), row.into());
            }
            Rows::Bounded(v) => {
                let at = v.partition_point(|((s, t), _)| (s.as_ref(), *t) < (sort, tie));
                if at >= limit {
                    return;
                }
                let pushed_out = if v.len() >= limit { v.pop() } else { None };
                let sort_key = match pushed_out {
                    Some(((mut old, _), _)) => {
                        old.set(sort);
                        old
                    }
                    None => sort.into(),
                };
                if v.len() == v.capacity() {
                    // Grow by doubling, but never past N.
                    let want = (v.capacity() * 2).clamp(1, limit.max(1));
                    v.reserve_exact(want.saturating_sub(v.len()).max(1));
                }
                v.insert(at, ((sort_key, tie), row.into()));
            }
        }
    }

    /// Removes one row ranked at `sort` with content `row`, if kept.
    pub(super) fn retract(&mut self, sort: &[u8], row: &[u8]) {
        match self {
            Rows::All(m) => {
                let range = (Bytes::from(sort), 0)..=(Bytes::from(sort), u64::MAX);
                let found = m
                    .range(range)
                    .find(|(_, r)| r.as_ref() == row)
                    .map(|(k, _)| k.clone());
                if let Some(found) = found {
                    m.remove(&found);
                }
            }
            Rows::Bounded(v) => {
                if let Some(i) = v
                    .iter()
                    .position(|((s, _), r)| s.as_ref() == sort && r.as_ref() == row)
                {
                    v.remove(i);
                }
            }
        }
    }

    /// Drops every row.
    pub(super) fn clear(&mut self) {
        match self {
            Rows::Bounded(v) => *v = Vec::new(),
            Rows::All(m) => m.clear(),
        }
    }
}

/// One partition of a Top-N.
pub(super) struct Partition {
    /// Its encoded `PARTITION BY` values.
    pub(super) key: Bytes,
    pub(super) rows: Rows,
    /// Processing time of the last row, in milliseconds (for state TTL).
    pub(super) last_write: i64,
    /// Changed by the current batch (its rows before the batch are remembered).
    pub(super) touched: bool,
}

/// Every partition of a subtask, by encoded `PARTITION BY` values.
pub(super) struct Partitions {
    hasher: foldhash::fast::FixedState,
    /// Indices into `slots`, hashed by their partition's key.
    index: HashTable<u32>,
    slots: Vec<Partition>,
}

impl Default for Partitions {
    fn default() -> Self {
        Partitions {
            hasher: foldhash::fast::FixedState::default(),
            index: HashTable::new(),
            slots: Vec::new(),
        }
    }
}

impl Partitions {
    /// Number of partitions.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The hash of a partition key.
    pub(super) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The index of the partition with `key` (whose hash is `hash`).
    pub(super) fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slots[i as usize].key.as_ref() == key)
            .map(|&i| i as usize)
    }

    /// Adds `partition` (whose key hashes to `hash` and is not present); its index.
    pub(super) fn insert(&mut self, hash: u64, partition: Partition) -> usize {
        let i = self.slots.len();
        self.slots.push(partition);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, i as u32, |&j| {
            hasher.hash_one(slots[j as usize].key.as_ref())
        });
        i
    }

    /// The partition at `i`.
    pub(super) fn get(&self, i: usize) -> &Partition {
        &self.slots[i]
    }

    /// The partition at `i`, to change.
    pub(super) fn get_mut(&mut self, i: usize) -> &mut Partition {
        &mut self.slots[i]
    }

    /// Every partition.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Partition> {
        self.slots.iter()
    }

    /// Removes the partition at `i`; the last partition takes its index.
    pub(super) fn remove(&mut self, i: usize) {
        let hash = self.hash(&self.slots[i].key);
        if let Ok(entry) = self.index.find_entry(hash, |&j| j as usize == i) {
            entry.remove();
        }
        let last = self.slots.len() - 1;
        self.slots.swap_remove(i);
        if i != last {
            let hash = self.hash(&self.slots[i].key);
            if let Some(j) = self.index.find_mut(hash, |&j| j as usize == last) {
                *j = i as u32;
            }
        }
    }

    /// Removes the partitions at `indices` (in any order, repeats allowed).
    pub(super) fn remove_all(&mut self, mut indices: Vec<usize>) {
        indices.sort_unstable_by(|a, b| b.cmp(a));
        indices.dedup();
        // From the highest index down, a removal moves only a partition not removed.
        for i in indices {
            self.remove(i);
        }
    }

    /// Keeps the partitions `keep` accepts; the number dropped.
    pub(super) fn retain(&mut self, keep: impl FnMut(&Partition) -> bool) -> usize {
        let before = self.slots.len();
        self.slots.retain(keep);
        let dropped = before - self.slots.len();
        if dropped > 0 {
            self.index.clear();
            let (slots, hasher) = (&self.slots, &self.hasher);
            for (i, p) in slots.iter().enumerate() {
                self.index
                    .insert_unique(hasher.hash_one(p.key.as_ref()), i as u32, |&j| {
                        hasher.hash_one(slots[j as usize].key.as_ref())
                    });
            }
            self.index
                .shrink_to_fit(|&j| hasher.hash_one(slots[j as usize].key.as_ref()));
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(rows: &[(&[u8], u64, &[u8])], limit: usize) -> Rows {
        let mut r = Rows::new(false);
        for (sort, tie, row) in rows {
            r.insert(sort, *tie, row, limit);
        }
        r
    }

    fn contents(rows: &Rows) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        rows.iter()
            .map(|((s, t), r)| (s.to_vec(), *t, r.to_vec()))
            .collect()
    }

    #[test]
    fn bounded_rows_keep_the_first_n_in_rank_order() {
        let rows = bounded(
            &[
                (b"c", 1, b"r1"),
                (b"a", 2, b"r2"),
                (b"b", 3, b"r3"),
                (b"a", 4, b"r4"),
            ],
            3,
        );
        // (a,2) < (a,4) < (b,3); (c,1) was pushed out by (a,4).
        assert_eq!(
            contents(&rows),
            vec![
                (b"a".to_vec(), 2, b"r2".to_vec()),
                (b"a".to_vec(), 4, b"r4".to_vec()),
                (b"b".to_vec(), 3, b"r3".to_vec()),
            ]
        );
        let Rows::Bounded(v) = &rows else {
            panic!("append-only rows are bounded")
        };
        assert!(v.capacity() <= 3, "grew past N: {}", v.capacity());
    }

    #[test]
    fn bounded_rows_drop_a_row_ranking_after_the_first_n() {
        let mut rows = bounded(&[(b"b", 1, b"x")], 1);
        rows.insert(b"c", 2, b"y", 1);
        rows.insert(b"b", 3, b"z", 1); // tie ranks after the kept row
        assert_eq!(contents(&rows), vec![(b"b".to_vec(), 1, b"x".to_vec())]);
        rows.insert(b"b", 0, b"w", 1); // tie ranks before: replaces it
        assert_eq!(contents(&rows), vec![(b"b".to_vec(), 0, b"w".to_vec())]);
        rows.insert(b"aa", 9, b"v", 1); // a longer sort key replaces it too
        assert_eq!(contents(&rows), vec![(b"aa".to_vec(), 9, b"v".to_vec())]);
    }

    #[test]
    fn unbounded_rows_retract_one_row_of_equal_content() {
        let mut rows = Rows::new(true);
        rows.insert(b"a", 1, b"x", 1);
        rows.insert(b"a", 2, b"x", 1);
        rows.insert(b"b", 3, b"y", 1);
        assert_eq!(rows.len(), 3);
        rows.retract(b"a", b"x");
        assert_eq!(
            contents(&rows),
            vec![
                (b"a".to_vec(), 2, b"x".to_vec()),
                (b"b".to_vec(), 3, b"y".to_vec())
            ]
        );
        rows.retract(b"a", b"y"); // no such row
        rows.retract(b"b", b"y");
        assert_eq!(contents(&rows), vec![(b"a".to_vec(), 2, b"x".to_vec())]);
    }

    fn partition(key: &[u8]) -> Partition {
        Partition {
            key: key.into(),
            rows: Rows::new(false),
            last_write: 0,
            touched: false,
        }
    }

    fn keys(p: &Partitions) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = p.iter().map(|p| p.key.to_vec()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn partitions_are_found_after_removals_move_them() {
        let mut parts = Partitions::default();
        for key in [b"a", b"b", b"c", b"d", b"e"] {
            let hash = parts.hash(key);
            assert_eq!(parts.find(hash, key), None);
            parts.insert(hash, partition(key));
        }
        parts.remove_all(vec![1, 4, 1, 0]);
        assert_eq!(keys(&parts), vec![b"c".to_vec(), b"d".to_vec()]);
        for key in [b"a", b"b", b"e"] {
            assert_eq!(parts.find(parts.hash(key), key), None);
        }
        for key in [b"c", b"d"] {
            let i = parts.find(parts.hash(key), key).unwrap();
            assert_eq!(parts.get(i).key.as_ref(), key);
        }
        assert_eq!(parts.retain(|p| p.key.as_ref() != b"c"), 1);
        assert_eq!(keys(&parts), vec![b"d".to_vec()]);
        let i = parts.find(parts.hash(b"d"), b"d").unwrap();
        assert_eq!(parts.get(i).key.as_ref(), b"d");
        assert_eq!(parts.find(parts.hash(b"c"), b"c"), None);
    }
}
