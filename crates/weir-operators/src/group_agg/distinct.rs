//! `COUNT(DISTINCT x)` and `SUM(DISTINCT x)` of an unbounded aggregation, over
//! append-only and updating inputs alike.
//!
//! [`DistinctValues`] keeps every distinct non-null value with the number of rows that
//! hold it, so a retraction removes a value only when its last row goes (Flink's
//! `MapView` of value counts). Its intermediate state (`state()` / `merge_batch`) is that
//! multiset: two lists per group, the values and their counts, which a checkpoint stores
//! and a restore merges back exactly. DataFusion's own distinct accumulators cannot be
//! used for checkpoints: their state drops the counts, and some consume their set when
//! asked for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, UInt64Type};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::retract::Ordered;

/// What a [`DistinctValues`] computes over its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DistinctResult {
    /// The number of distinct values.
    Count,
    /// The sum of the distinct values, in this type (the function's result type).
    Sum(DataType),
}

/// A multiset of the non-null values of one group's argument.
#[derive(Debug)]
pub(crate) struct DistinctValues {
    /// The type values are kept in (the argument's type as the function sees it).
    value_type: DataType,
    result: DistinctResult,
    counts: BTreeMap<Ordered, u64>,
}

impl DistinctValues {
    /// An empty multiset of values of `value_type`.
    pub fn new(value_type: DataType, result: DistinctResult) -> DistinctValues {
        DistinctValues {
            value_type,
            result,
            counts: BTreeMap::new(),
        }
    }

    fn values(&self, values: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
        let array = values.first().ok_or_else(|| {
            DataFusionError::Internal("DISTINCT aggregate without argument".into())
        })?;
        if array.data_type() == &self.value_type {
            Ok(Arc::clone(array))
        } else {
            Ok(cast(array, &self.value_type)?)
        }
    }

    fn add(&mut self, value: ScalarValue, count: u64) {
        *self.counts.entry(Ordered(value)).or_default() += count;
    }
}

impl Accumulator for DistinctValues {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let array = self.values(values)?;
        for i in 0..array.len() {
            if array.is_valid(i) {
                self.add(ScalarValue::try_from_array(&array, i)?, 1);
            }
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let array = self.values(values)?;
        for i in 0..array.len() {
            if array.is_valid(i) {
                let value = Ordered(ScalarValue::try_from_array(&array, i)?);
                if let Some(count) = self.counts.get_mut(&value) {
                    *count -= 1;
                    if *count == 0 {
                        self.counts.remove(&value);
                    }
                }
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        match &self.result {
            DistinctResult::Count => Ok(ScalarValue::Int64(Some(self.counts.len() as i64))),
            DistinctResult::Sum(to) => {
                // In value order, so the same set always sums the same way.
                let mut sum: Option<ScalarValue> = None;
                for value in self.counts.keys() {
                    let value = value.0.cast_to(to)?;
                    sum = Some(match sum {
                        None => value,
                        Some(s) => s.add(&value)?,
                    });
                }
                match sum {
                    Some(sum) => Ok(sum),
                    None => ScalarValue::try_from(to),
                }
            }
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.keys().map(|k| k.0.size() + 16).sum::<usize>()
    }

    /// The values and their counts, as two one-row lists.
    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self.counts.keys().map(|k| k.0.clone()).collect();
        let counts: Vec<ScalarValue> = self
            .counts
            .values()
            .map(|c| ScalarValue::UInt64(Some(*c)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &self.value_type)),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::UInt64)),
        ])
    }

    /// Merges this accumulator's own state (values and counts), or the state of
    /// DataFusion's distinct accumulators (a list of values, each counted once), which the
    /// local phase of a two-phase aggregation sends.
    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        if let [values] = states {
            let Some(lists) = values.as_list_opt::<i32>() else {
                return Err(DataFusionError::Internal(format!(
                    "DISTINCT partial state is {}",
                    values.data_type()
                )));
            };
            for row in 0..lists.len() {
                if lists.is_null(row) {
                    continue;
                }
                let row_values = self.values(&[lists.value(row)])?;
                for i in 0..row_values.len() {
                    if row_values.is_valid(i) {
                        let value = ScalarValue::try_from_array(&row_values, i)?;
                        self.counts.entry(Ordered(value)).or_insert(1);
                    }
                }
            }
            return Ok(());
        }
        merge_value_counts(states, |value, count| {
            self.add(value, count);
            Ok(())
        })
    }
}

/// Reads states made of a list of values and a list of their counts (one pair per row),
/// handing each value and count to `add`.
pub(crate) fn merge_value_counts(
    states: &[ArrayRef],
    mut add: impl FnMut(ScalarValue, u64) -> datafusion::common::Result<()>,
) -> datafusion::common::Result<()> {
    let [values, counts] = states else {
        return Err(DataFusionError::Internal(format!(
            "a value-count state has two columns, not {}",
            states.len()
        )));
    };
    let lists = |a: &ArrayRef| -> datafusion::common::Result<ListArray> {
        a.as_list_opt::<i32>().cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("value-count state column is {}", a.data_type()))
        })
    };
    let (values, counts) = (lists(values)?, lists(counts)?);
    for row in 0..values.len() {
        if values.is_null(row) || counts.is_null(row) {
            continue;
        }
        let row_values = values.value(row);
        let row_counts = counts.value(row);
        let row_counts: &UInt64Array = row_counts
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| DataFusionError::Internal("value counts are not UInt64".into()))?;
        if row_values.len() != row_counts.len() {
            return Err(DataFusionError::Internal(
                "a value-count state has as many counts as values".into(),
            ));
        }
        for i in 0..row_values.len() {
            add(
                ScalarValue::try_from_array(&row_values, i)?,
                row_counts.value(i),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int32Array, Int64Array};

    use super::*;

    fn column(values: &[Option<i32>]) -> Vec<ArrayRef> {
        vec![Arc::new(Int32Array::from(values.to_vec()))]
    }

    #[test]
    fn counts_and_sums_distinct_values_under_retraction() {
        let mut count = DistinctValues::new(DataType::Int64, DistinctResult::Count);
        let mut sum = DistinctValues::new(DataType::Int64, DistinctResult::Sum(DataType::Int32));
        for acc in [&mut count, &mut sum] {
            acc.update_batch(&column(&[Some(3), Some(3), None, Some(5)]))
                .unwrap();
            acc.retract_batch(&column(&[Some(3)])).unwrap();
        }
        assert_eq!(count.evaluate().unwrap(), ScalarValue::Int64(Some(2)));
        assert_eq!(sum.evaluate().unwrap(), ScalarValue::Int32(Some(8)));
        count.retract_batch(&column(&[Some(3)])).unwrap();
        assert_eq!(count.evaluate().unwrap(), ScalarValue::Int64(Some(1)));
    }

    #[test]
    fn state_round_trips_with_counts() {
        let mut acc = DistinctValues::new(DataType::Int64, DistinctResult::Count);
        acc.update_batch(&[Arc::new(Int64Array::from(vec![1, 1, 2]))])
            .unwrap();
        let state: Vec<ArrayRef> = acc
            .state()
            .unwrap()
            .iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        let mut restored = DistinctValues::new(DataType::Int64, DistinctResult::Count);
        restored.merge_batch(&state).unwrap();
        restored
            .retract_batch(&[Arc::new(Int64Array::from(vec![1]))])
            .unwrap();
        assert_eq!(restored.evaluate().unwrap(), ScalarValue::Int64(Some(2)));
        restored
            .retract_batch(&[Arc::new(Int64Array::from(vec![1]))])
            .unwrap();
        assert_eq!(restored.evaluate().unwrap(), ScalarValue::Int64(Some(1)));
    }
}
