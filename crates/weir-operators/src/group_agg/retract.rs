//! Accumulators that take retractions, for aggregates over updating inputs.
//!
//! DataFusion's accumulators with `retract_batch` are built for sliding window frames,
//! where rows leave in the order they came. A retraction on an updating stream removes
//! any earlier row. That is harmless for sums and counts, but MIN and MAX need every
//! value with its multiplicity (Flink's `MinWithRetractAggFunction` keeps a map view for
//! the same reason): [`RetractableMinMax`] keeps an ordered map of value counts.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::Accumulator;

/// Which aggregate functions of DataFusion give correct results under arbitrary
/// retraction with their sliding accumulator (`create_sliding_accumulator`). MIN and MAX
/// are handled by [`RetractableMinMax`] instead.
pub(crate) fn sliding_accumulator_is_exact(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "sum"
            | "avg"
            | "mean"
            | "stddev"
            | "stddev_samp"
            | "stddev_pop"
            | "var"
            | "var_samp"
            | "var_pop"
            | "variance"
            | "variance_pop"
            | "bit_xor"
    )
}

/// A value ordered as its type orders it (values of one column share a type).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ordered(pub(crate) ScalarValue);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// MIN or MAX over a multiset of values that rows can be added to and removed from.
#[derive(Debug)]
pub(crate) struct RetractableMinMax {
    data_type: DataType,
    max: bool,
    counts: BTreeMap<Ordered, u64>,
}

impl RetractableMinMax {
    /// MIN (`max` false) or MAX over values of `data_type`.
    pub fn new(data_type: DataType, max: bool) -> RetractableMinMax {
        RetractableMinMax {
            data_type,
            max,
            counts: BTreeMap::new(),
        }
    }

    fn values(values: &[ArrayRef]) -> datafusion::common::Result<&ArrayRef> {
        values
            .first()
            .ok_or_else(|| DataFusionError::Internal("MIN/MAX without argument".into()))
    }
}

impl Accumulator for RetractableMinMax {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let array = Self::values(values)?;
        for i in 0..array.len() {
            if array.is_valid(i) {
                let value = ScalarValue::try_from_array(array, i)?;
                *self.counts.entry(Ordered(value)).or_default() += 1;
            }
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let array = Self::values(values)?;
        for i in 0..array.len() {
            if array.is_valid(i) {
                let value = Ordered(ScalarValue::try_from_array(array, i)?);
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
        let value = if self.max {
            self.counts.last_key_value()
        } else {
            self.counts.first_key_value()
        };
        match value {
            Some((value, _)) => Ok(value.0.clone()),
            None => ScalarValue::try_from(&self.data_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.keys().map(|k| k.0.size() + 16).sum::<usize>()
    }

    /// The values and their counts, as two one-row lists (a checkpoint stores them).
    /// Two-phase aggregation never uses this accumulator: its input is append-only.
    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self.counts.keys().map(|k| k.0.clone()).collect();
        let counts: Vec<ScalarValue> = self
            .counts
            .values()
            .map(|c| ScalarValue::UInt64(Some(*c)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &self.data_type)),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::UInt64)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        super::distinct::merge_value_counts(states, |value, count| {
            *self.counts.entry(Ordered(value)).or_default() += count;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;

    use super::*;

    fn column(values: &[Option<i64>]) -> Vec<ArrayRef> {
        vec![Arc::new(Int64Array::from(values.to_vec()))]
    }

    #[test]
    fn max_falls_back_to_the_next_value_when_the_largest_is_retracted() {
        let mut acc = RetractableMinMax::new(DataType::Int64, true);
        acc.update_batch(&column(&[Some(3), Some(9), None, Some(9), Some(5)]))
            .unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(9)));
        acc.retract_batch(&column(&[Some(9)])).unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(9)));
        acc.retract_batch(&column(&[Some(9), None])).unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(5)));
        acc.retract_batch(&column(&[Some(3), Some(5)])).unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(None));
    }

    #[test]
    fn min_takes_the_smallest_remaining_value() {
        let mut acc = RetractableMinMax::new(DataType::Int64, false);
        acc.update_batch(&column(&[Some(4), Some(2), Some(7)]))
            .unwrap();
        acc.retract_batch(&column(&[Some(2)])).unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(4)));
    }
}
