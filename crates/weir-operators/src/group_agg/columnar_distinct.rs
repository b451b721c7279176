//! `COUNT(DISTINCT x)` of an append-only input in columnar state: one hash set of
//! (group id, value) pairs per aggregate and a count per group, instead of one set
//! object per key. Its state columns are those of DataFusion's distinct count
//! accumulator it replaces: one list of the group's distinct values.
//!
//! Removing a group (state TTL, the RocksDB cache dropping it) only marks its id; the
//! set drops the marked groups' pairs in one pass before it is next read or written.

use std::hash::Hash;
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
    counts: Vec<i64>,
    /// Groups removed since the set was last purged, by id.
    removed: Vec<bool>,
    any_removed: bool,
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
                counts: Vec::new(),
                removed: Vec::new(),
                any_removed: false,
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
        if !self.any_removed {
            return;
        }
        let removed = &self.removed;
        self.pairs.retain(|(id, _)| !removed[*id as usize]);
        self.removed.iter_mut().for_each(|r| *r = false);
        self.any_removed = false;
    }
}

impl<T: ArrowPrimitiveType> ColumnAggregate for DistinctCount<T>
where
    T::Native: Hash + Eq,
{
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

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        self.purge();
        let values = argument::<T>(rows.args, &self.value_type)?;
        let raw = values.values();
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        let (pairs, counts) = (&mut self.pairs, &mut self.counts);
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
            ids.iter().map(|&id| self.counts[id as usize]),
        )))
    }

    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        self.purge();
        // Where each requested group's values go: its offset in the list values.
        let mut position = vec![u32::MAX; self.counts.len()];
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        let mut total = 0usize;
        offsets.push(0i32);
        for (i, &id) in ids.iter().enumerate() {
            position[id as usize] = i as u32;
            total += self.counts[id as usize] as usize;
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
                    self.counts[id as usize] += 1;
                }
            }
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.pairs.capacity() * (std::mem::size_of::<(u32, T::Native)>() + 1)
            + self.counts.capacity() * 9
    }
}
