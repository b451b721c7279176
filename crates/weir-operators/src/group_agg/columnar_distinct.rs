//! `COUNT(DISTINCT x)` of an append-only input in columnar state: one hash set of
//! (group id, value) pairs per aggregate and a count per group, instead of one set
//! object per key. Its state columns are those of DataFusion's distinct count
//! accumulator it replaces: one list of the group's distinct values.
//!
//! Removing a group (state TTL, the RocksDB cache dropping it) only marks its id; the
//! set drops the marked groups' pairs in one pass before it is next read or written.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Int64Array, ListArray, PrimitiveArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, FieldRef, Int16Type, Int32Type, Int64Type,
    Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use hashbrown::HashSet;
use weir_types::{EngineError, EngineResult};

use super::columnar::{argument, ColumnAggregate, ColumnRows};

type Hasher = foldhash::fast::FixedState;

/// Distinct non-null values per group.
pub(super) struct DistinctCount<T: ArrowPrimitiveType>
where
    T::Native: Hash + Eq,
{
    value_type: DataType,
    /// The list item field of the state column.
    item: FieldRef,
    pairs: HashSet<(u32, T::Native), Hasher>,
    groups: DistinctGroups,
}

/// The per-group part of a distinct count: the number of distinct values of each group,
/// and the groups cleared since the value set was last purged (their entries are
/// dropped in one pass before the set is next read or written).
#[derive(Default)]
struct DistinctGroups {
    counts: Vec<i64>,
    removed: Vec<bool>,
    any_removed: bool,
}

impl DistinctGroups {
    fn grow(&mut self, groups: usize) {
        if self.counts.len() < groups {
            self.counts.resize(groups, 0);
            self.removed.resize(groups, false);
        }
    }

    fn clear(&mut self, id: u32) {
        let id = id as usize;
        if self.counts[id] != 0 {
            self.counts[id] = 0;
            self.removed[id] = true;
            self.any_removed = true;
        }
    }

    /// The cleared groups by id, when there are any to purge; resets them.
    fn take_removed(&mut self) -> Option<Vec<bool>> {
        if !self.any_removed {
            return None;
        }
        self.any_removed = false;
        let fresh = vec![false; self.removed.len()];
        Some(std::mem::replace(&mut self.removed, fresh))
    }
}

impl DistinctCount<Int64Type> {
    /// The columnar `COUNT(DISTINCT x)` for values of `item`'s type, when it has one
    /// (integers, dates, timestamps, decimals).
    pub(super) fn boxed(item: &FieldRef) -> Option<Box<dyn ColumnAggregate>> {
        fn of<T: ArrowPrimitiveType>(item: &FieldRef) -> Option<Box<dyn ColumnAggregate>>
        where
            T::Native: Hash + Eq,
        {
            Some(Box::new(DistinctCount::<T> {
                value_type: item.data_type().clone(),
                item: Arc::clone(item),
                pairs: HashSet::with_hasher(Hasher::with_seed(0x5745_4952)),
                groups: DistinctGroups::default(),
            }))
        }
        match item.data_type() {
            DataType::Int8 => of::<Int8Type>(item),
            DataType::Int16 => of::<Int16Type>(item),
            DataType::Int32 => of::<Int32Type>(item),
            DataType::Int64 => of::<Int64Type>(item),
            DataType::UInt8 => of::<UInt8Type>(item),
            DataType::UInt16 => of::<UInt16Type>(item),
            DataType::UInt32 => of::<UInt32Type>(item),
            DataType::UInt64 => of::<UInt64Type>(item),
            DataType::Date32 => of::<Date32Type>(item),
            DataType::Date64 => of::<Date64Type>(item),
            DataType::Decimal128(_, _) => of::<Decimal128Type>(item),
            DataType::Timestamp(TimeUnit::Second, _) => of::<TimestampSecondType>(item),
            DataType::Timestamp(TimeUnit::Millisecond, _) => of::<TimestampMillisecondType>(item),
            DataType::Timestamp(TimeUnit::Microsecond, _) => of::<TimestampMicrosecondType>(item),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => of::<TimestampNanosecondType>(item),
            _ => None,
        }
    }
}

impl<T: ArrowPrimitiveType> DistinctCount<T>
where
    T::Native: Hash + Eq,
{
    /// Drops the pairs of removed groups.
    fn purge(&mut self) {
        if let Some(removed) = self.groups.take_removed() {
            self.pairs.retain(|(id, _)| !removed[*id as usize]);
        }
    }
}

impl<T: ArrowPrimitiveType> ColumnAggregate for DistinctCount<T>
where
    T::Native: Hash + Eq,
{
    fn grow(&mut self, groups: usize) {
        self.groups.grow(groups);
    }

    fn clear(&mut self, id: u32) {
        self.groups.clear(id);
    }

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        self.purge();
        let values = argument::<T>(rows.args, &self.value_type)?;
        let raw = values.values();
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        let (pairs, counts) = (&mut self.pairs, &mut self.groups.counts);
        rows.for_each(|row, id, _| {
            if nulls.is_some_and(|n| n.is_null(row)) {
                return;
            }
            if pairs.insert((id as u32, raw[row])) {
                counts[id] += 1;
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, ids: &[u32]) -> EngineResult<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|&id| self.groups.counts[id as usize]),
        )))
    }

    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        self.purge();
        // Where each requested group's values go: its offset in the list values.
        let mut position = vec![u32::MAX; self.groups.counts.len()];
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        let mut total = 0usize;
        offsets.push(0i32);
        for (i, &id) in ids.iter().enumerate() {
            position[id as usize] = i as u32;
            total += self.groups.counts[id as usize] as usize;
            offsets.push(i32::try_from(total).map_err(|_| {
                EngineError::Internal("COUNT(DISTINCT) state exceeds 2^31 values".into())
            })?);
        }
        let mut next: Vec<usize> = offsets[..ids.len()].iter().map(|&o| o as usize).collect();
        let mut values = vec![T::Native::default(); total];
        if !ids.is_empty() {
            for (id, value) in &self.pairs {
                let at = position[*id as usize];
                if at != u32::MAX {
                    values[next[at as usize]] = *value;
                    next[at as usize] += 1;
                }
            }
        }
        let values =
            PrimitiveArray::<T>::new(values.into(), None).with_data_type(self.value_type.clone());
        let list = ListArray::try_new(
            Arc::clone(&self.item),
            OffsetBuffer::new(offsets.into()),
            Arc::new(values),
            None,
        )?;
        Ok(vec![Arc::new(list)])
    }

    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()> {
        self.purge();
        let lists = columns
            .first()
            .and_then(|c| c.as_list_opt::<i32>())
            .ok_or_else(|| {
                EngineError::Config(
                    "the checkpoint's COUNT(DISTINCT) state is not a list of values".into(),
                )
            })?;
        for (i, &id) in ids.iter().enumerate() {
            if lists.is_null(i) {
                continue;
            }
            let values = argument::<T>(&[lists.value(i)], &self.value_type)?;
            for value in values.iter().flatten() {
                if self.pairs.insert((id, value)) {
                    self.groups.counts[id as usize] += 1;
                }
            }
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.pairs.capacity() * (std::mem::size_of::<(u32, T::Native)>() + 1)
            + self.groups.counts.capacity() * 9
    }
}

/// One (group, string) pair with the number of rows holding it.
struct StringEntry {
    id: u32,
    value: Box<str>,
    rows: u64,
}

/// `COUNT(DISTINCT s)` of `STRING` (UTF-8), over append-only and updating inputs: per
/// aggregate one hash table of (group id, value) pairs with the number of rows holding
/// each, so a retraction removes a value only when its last row goes. Its state columns
/// are those of [`super::distinct::DistinctValues`] it replaces: per group the list of
/// its values (in order) and the list of their counts.
pub(super) struct StringDistinctCount {
    hasher: Hasher,
    entries: hashbrown::HashTable<StringEntry>,
    groups: DistinctGroups,
}

impl StringDistinctCount {
    /// An empty state.
    pub(super) fn new() -> StringDistinctCount {
        StringDistinctCount {
            hasher: Hasher::with_seed(0x5745_4952),
            entries: hashbrown::HashTable::new(),
            groups: DistinctGroups::default(),
        }
    }

    fn purge(&mut self) {
        if let Some(removed) = self.groups.take_removed() {
            self.entries.retain(|e| !removed[e.id as usize]);
        }
    }

    /// Adds `rows` rows of `value` to group `id` (negative: retracts them).
    fn add(&mut self, id: u32, value: &str, rows: i64) {
        let hash = self.hasher.hash_one((id, value));
        let found = self
            .entries
            .find_entry(hash, |e| e.id == id && &*e.value == value);
        match found {
            Ok(mut entry) => {
                let current = entry.get_mut();
                current.rows = current.rows.saturating_add_signed(rows);
                if current.rows == 0 {
                    entry.remove();
                    self.groups.counts[id as usize] -= 1;
                }
            }
            // Flink ignores the retraction of a value the key does not hold.
            Err(_) if rows <= 0 => {}
            Err(_) => {
                let hasher = &self.hasher;
                self.entries.insert_unique(
                    hash,
                    StringEntry {
                        id,
                        value: value.into(),
                        rows: rows as u64,
                    },
                    |e| hasher.hash_one((e.id, &*e.value)),
                );
                self.groups.counts[id as usize] += 1;
            }
        }
    }
}

impl ColumnAggregate for StringDistinctCount {
    fn grow(&mut self, groups: usize) {
        self.groups.grow(groups);
    }

    fn clear(&mut self, id: u32) {
        self.groups.clear(id);
    }

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        self.purge();
        let array = rows
            .args
            .first()
            .ok_or_else(|| EngineError::Internal("COUNT(DISTINCT) without an argument".into()))?;
        let strings = array.as_string_opt::<i32>().ok_or_else(|| {
            EngineError::Internal(format!(
                "COUNT(DISTINCT) of {} kept as STRING",
                array.data_type()
            ))
        })?;
        let mut applied = Vec::new();
        rows.for_each(|row, id, retract| {
            if strings.is_valid(row) {
                applied.push((row, id as u32, if retract { -1 } else { 1 }));
            }
        });
        // Accumulations before retractions, as the per-key accumulators see them.
        applied.sort_by_key(|&(_, _, rows)| -rows);
        for (row, id, rows) in applied {
            self.add(id, strings.value(row), rows);
        }
        Ok(())
    }

    fn evaluate(&mut self, ids: &[u32]) -> EngineResult<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|&id| self.groups.counts[id as usize]),
        )))
    }

    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        self.purge();
        let mut position = vec![u32::MAX; self.groups.counts.len()];
        for (i, &id) in ids.iter().enumerate() {
            position[id as usize] = i as u32;
        }
        let mut per_group: Vec<Vec<(&str, u64)>> = vec![Vec::new(); ids.len()];
        for e in self.entries.iter() {
            let at = position[e.id as usize];
            if at != u32::MAX {
                per_group[at as usize].push((&e.value, e.rows));
            }
        }
        let mut offsets = vec![0i32];
        let mut values = Vec::new();
        let mut counts = Vec::new();
        for mut group in per_group {
            group.sort_unstable();
            for (value, rows) in group {
                values.push(value);
                counts.push(rows);
            }
            offsets.push(i32::try_from(values.len()).map_err(|_| {
                EngineError::Internal("COUNT(DISTINCT) state exceeds 2^31 values".into())
            })?);
        }
        let offsets = OffsetBuffer::new(offsets.into());
        let item = |t: DataType| Arc::new(arrow::datatypes::Field::new_list_field(t, true));
        let values = ListArray::try_new(
            item(DataType::Utf8),
            offsets.clone(),
            Arc::new(arrow::array::StringArray::from(values)),
            None,
        )?;
        let counts = ListArray::try_new(
            item(DataType::UInt64),
            offsets,
            Arc::new(arrow::array::UInt64Array::from(counts)),
            None,
        )?;
        Ok(vec![Arc::new(values), Arc::new(counts)])
    }

    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()> {
        self.purge();
        let list = |i: usize| {
            columns
                .get(i)
                .and_then(|c| c.as_list_opt::<i32>())
                .ok_or_else(|| {
                    EngineError::Config(
                        "the checkpoint's COUNT(DISTINCT) state is not two lists (values, counts)"
                            .into(),
                    )
                })
        };
        let (values, counts) = (list(0)?, list(1)?);
        for (i, &id) in ids.iter().enumerate() {
            if values.is_null(i) || counts.is_null(i) {
                continue;
            }
            let row_values = arrow::compute::cast(&values.value(i), &DataType::Utf8)?;
            let row_values = row_values.as_string::<i32>();
            let row_counts = counts.value(i);
            let row_counts = row_counts
                .as_primitive_opt::<UInt64Type>()
                .filter(|c| c.len() == row_values.len())
                .ok_or_else(|| {
                    EngineError::Config(
                        "the checkpoint's COUNT(DISTINCT) value counts do not match its values"
                            .into(),
                    )
                })?;
            for (value, rows) in row_values.iter().zip(row_counts.values()) {
                if let Some(value) = value {
                    self.add(id, value, i64::try_from(*rows).unwrap_or(i64::MAX));
                }
            }
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.entries.capacity() * (std::mem::size_of::<StringEntry>() + 1)
            + self.entries.iter().map(|e| e.value.len()).sum::<usize>()
            + self.groups.counts.capacity() * 9
    }
}
