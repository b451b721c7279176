//! Columnar aggregate state: one column per aggregate, indexed by the key's group id.
//!
//! The common aggregates of an unbounded `GROUP BY` (`COUNT`, `SUM`, `AVG`, `MIN`/`MAX`
//! of an append-only input, `COUNT(DISTINCT x)` of an append-only input or of strings, see
//! [`choose`]) keep their state here instead of one DataFusion accumulator object per
//! key: a batch is applied row by row into plain vectors (no per-row or per-key
//! allocation), the changed groups are evaluated as one array, and a snapshot copies
//! the columns of the requested groups. The other aggregates keep DataFusion's
//! per-key accumulators ([`super::state`]); one operator mixes both.
//!
//! The state columns a snapshot holds are, for each aggregate, exactly those of the
//! DataFusion accumulator it replaces (`Accumulator::state()`, with the same nulls), so
//! checkpoints and savepoints taken before restore unchanged and either path reads the
//! other's state:
//!
//! | aggregate | kind | state columns |
//! |---|---|---|
//! | `COUNT` | append-only or retracting | `count` Int64 |
//! | `SUM` | append-only | `sum` (NULL before the first non-null value) |
//! | `SUM` | retracting | `sum` (NULL while no value counts, except floats: the running sum), `count` UInt64 |
//! | `AVG` (DOUBLE) | either | `count` UInt64, `sum` Float64 (NULL before the first value) |
//! | `MIN`, `MAX` | append-only | the value |
//! | `COUNT(DISTINCT x)`, `x` not a string | append-only | the list of distinct values (see [`super::columnar_distinct`]) |
//! | `COUNT(DISTINCT s)`, `s` a `STRING` | either | the list of distinct values, the list of their row counts |

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Int64Array, PrimitiveArray,
    StringArray, UInt64Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowNativeTypeOp, DataType, Date32Type, Date64Type, Decimal128Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use weir_types::{EngineError, EngineResult};

use super::columnar_distinct::{DistinctCount, StringDistinctCount};
use super::distinct::DistinctResult;
use super::state::AccumulatorKind;

/// Marks a row that changes nothing (a retraction of a key without state).
pub(super) const SKIPPED: u32 = u32::MAX;

/// The rows of a batch one columnar aggregate applies.
pub(super) struct ColumnRows<'a> {
    /// The aggregate's argument columns.
    pub args: &'a [ArrayRef],
    /// Group id of each row ([`SKIPPED`]: ignore the row).
    pub ids: &'a [u32],
    /// FILTER (WHERE ...): only rows where it is true (NULL already counted as false).
    pub filter: Option<&'a BooleanArray>,
    /// Rows that retract; `None` when all accumulate.
    pub retract: Option<&'a [bool]>,
}

impl ColumnRows<'_> {
    /// Calls `f(row, id, retract)` for every row the aggregate applies.
    #[inline]
    pub(super) fn for_each(&self, mut f: impl FnMut(usize, usize, bool)) {
        for (row, &id) in self.ids.iter().enumerate() {
            if id == SKIPPED || self.filter.is_some_and(|m| !m.value(row)) {
                continue;
            }
            let retract = self.retract.is_some_and(|r| r[row]);
            f(row, id as usize, retract);
        }
    }
}

/// One aggregate's state for all groups of a subtask.
pub(super) trait ColumnAggregate: Send {
    /// Makes room for group ids below `groups`; new slots are empty.
    fn grow(&mut self, groups: usize);
    /// Empties the slot of a removed group (its id may be handed out again).
    fn clear(&mut self, id: u32);
    /// Applies the rows of a batch.
    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()>;
    /// The current results of groups `ids`, in that order.
    fn evaluate(&mut self, ids: &[u32]) -> EngineResult<ArrayRef>;
    /// The state columns of groups `ids` (see the module documentation).
    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>>;
    /// Sets the state of empty groups `ids` from state columns (row `i` for `ids[i]`).
    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()>;
    /// Approximate bytes held.
    fn size(&self) -> usize;
}

/// The columnar state for `aggregate` of `kind`, when there is one (`None`: the
/// aggregate keeps DataFusion's per-key accumulators). Partial input (two-phase
/// aggregation) always takes the per-key path.
pub(super) fn choose(
    aggregate: &AggregateFunctionExpr,
    kind: &AccumulatorKind,
    input_partial: bool,
) -> Option<Box<dyn ColumnAggregate>> {
    if input_partial {
        return None;
    }
    let name = aggregate.fun().name().to_ascii_lowercase();
    let result = aggregate.field().data_type().clone();
    let retracting = match kind {
        AccumulatorKind::Plain => false,
        AccumulatorKind::Sliding => true,
        AccumulatorKind::Distinct {
            value_type: DataType::Utf8,
            result: DistinctResult::Count,
        } => return Some(Box::new(StringDistinctCount::new())),
        AccumulatorKind::MinMax { .. } | AccumulatorKind::Distinct { .. } => return None,
    };
    let args = aggregate.expressions();
    if aggregate.is_distinct() {
        if name != "count" || retracting || args.len() != 1 {
            return None;
        }
        let state = aggregate.state_fields().ok()?;
        let DataType::List(item) = state.first()?.data_type() else {
            return None;
        };
        return DistinctCount::boxed(item);
    }
    match name.as_str() {
        "count" => Some(Box::new(Count::default())),
        "sum" => sum_of(&result, retracting),
        "avg" | "mean" if result == DataType::Float64 => Some(Box::new(Avg::default())),
        // Weir's Flink-typed AVG of integers: DataFusion's DOUBLE state, an integer result.
        "avg" | "mean" if result.is_integer() && float_avg_state(aggregate) => {
            Some(Box::new(Avg {
                integer: Some(result),
                ..Avg::default()
            }))
        }
        "min" | "max" if !retracting && args.len() == 1 => min_max_of(&result, name == "max"),
        _ => None,
    }
}

fn sum_of(result: &DataType, retracting: bool) -> Option<Box<dyn ColumnAggregate>> {
    Some(match result {
        DataType::Int64 => Box::new(Sum::<Int64Type>::new(result.clone(), retracting)),
        DataType::UInt64 => Box::new(Sum::<UInt64Type>::new(result.clone(), retracting)),
        DataType::Float64 => Box::new(Sum::<Float64Type>::new(result.clone(), retracting)),
        DataType::Decimal128(_, _) => {
            Box::new(Sum::<Decimal128Type>::new(result.clone(), retracting))
        }
        _ => return None,
    })
}

fn min_max_of(result: &DataType, max: bool) -> Option<Box<dyn ColumnAggregate>> {
    fn of<T: ArrowPrimitiveType>(t: &DataType, max: bool) -> Box<dyn ColumnAggregate>
    where
        T::Native: PartialOrd,
    {
        Box::new(MinMax::<T>::new(t.clone(), max))
    }
    Some(match result {
        DataType::Int8 => of::<Int8Type>(result, max),
        DataType::Int16 => of::<Int16Type>(result, max),
        DataType::Int32 => of::<Int32Type>(result, max),
        DataType::Int64 => of::<Int64Type>(result, max),
        DataType::UInt8 => of::<UInt8Type>(result, max),
        DataType::UInt16 => of::<UInt16Type>(result, max),
        DataType::UInt32 => of::<UInt32Type>(result, max),
        DataType::UInt64 => of::<UInt64Type>(result, max),
        DataType::Date32 => of::<Date32Type>(result, max),
        DataType::Date64 => of::<Date64Type>(result, max),
        DataType::Decimal128(_, _) => of::<Decimal128Type>(result, max),
        DataType::Timestamp(TimeUnit::Second, _) => of::<TimestampSecondType>(result, max),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            of::<TimestampMillisecondType>(result, max)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            of::<TimestampMicrosecondType>(result, max)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => of::<TimestampNanosecondType>(result, max),
        DataType::Utf8 => Box::new(StringMinMax::new(max)),
        _ => return None,
    })
}

/// The first argument as an array of `T`, cast to `to` when its type differs.
pub(super) fn argument<T: ArrowPrimitiveType>(
    args: &[ArrayRef],
    to: &DataType,
) -> EngineResult<PrimitiveArray<T>> {
    let array = args
        .first()
        .ok_or_else(|| EngineError::Internal("aggregate without an argument".into()))?;
    if let Some(values) = array.as_primitive_opt::<T>() {
        return Ok(values.clone());
    }
    let cast = cast(array, to)?;
    cast.as_primitive_opt::<T>().cloned().ok_or_else(|| {
        EngineError::Internal(format!(
            "aggregate argument of type {} is not {to}",
            array.data_type()
        ))
    })
}

fn nulls_where(valid: impl Iterator<Item = bool>) -> Option<NullBuffer> {
    let nulls = NullBuffer::from_iter(valid);
    (nulls.null_count() > 0).then_some(nulls)
}

/// `COUNT(*)` and `COUNT(x, ...)`: rows whose arguments are all non-null.
#[derive(Default)]
struct Count {
    counts: Vec<i64>,
}

impl ColumnAggregate for Count {
    fn grow(&mut self, groups: usize) {
        if self.counts.len() < groups {
            self.counts.resize(groups, 0);
        }
    }

    fn clear(&mut self, id: u32) {
        self.counts[id as usize] = 0;
    }

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        let nulls: Vec<NullBuffer> = rows
            .args
            .iter()
            .filter_map(|a| a.logical_nulls().filter(|n| n.null_count() > 0))
            .collect();
        let counts = &mut self.counts;
        rows.for_each(|row, id, retract| {
            if nulls.iter().all(|n| n.is_valid(row)) {
                counts[id] += if retract { -1 } else { 1 };
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
        Ok(vec![self.evaluate(ids)?])
    }

    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()> {
        let counts = state_column::<Int64Type>(columns, 0)?;
        for (i, &id) in ids.iter().enumerate() {
            self.counts[id as usize] = if counts.is_valid(i) {
                counts.value(i)
            } else {
                0
            };
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.counts.capacity() * 8
    }
}

/// State column `index` as an array of `T`.
pub(super) fn state_column<T: ArrowPrimitiveType>(
    columns: &[ArrayRef],
    index: usize,
) -> EngineResult<&PrimitiveArray<T>> {
    columns
        .get(index)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| {
            EngineError::Config(format!(
                "the checkpoint's aggregation state column {index} is not of type {}",
                T::DATA_TYPE
            ))
        })
}

/// `SUM` of numbers: wrapping, as DataFusion's `SUM` accumulators add.
struct Sum<T: ArrowPrimitiveType> {
    data_type: DataType,
    /// Whether the state is that of the retractable accumulator (with a count).
    retracting: bool,
    sums: Vec<T::Native>,
    /// Non-null values added minus retracted (append-only: 0 or more, "has a sum").
    counts: Vec<u64>,
}

impl<T: ArrowPrimitiveType> Sum<T> {
    fn new(data_type: DataType, retracting: bool) -> Self {
        Sum {
            data_type,
            retracting,
            sums: Vec::new(),
            counts: Vec::new(),
        }
    }

    fn sums_of(&self, ids: &[u32], valid: impl Fn(usize) -> bool) -> ArrayRef {
        let values: Vec<T::Native> = ids.iter().map(|&id| self.sums[id as usize]).collect();
        let nulls = nulls_where(ids.iter().map(|&id| valid(id as usize)));
        Arc::new(
            PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(self.data_type.clone()),
        )
    }
}

impl<T: ArrowPrimitiveType> ColumnAggregate for Sum<T> {
    fn grow(&mut self, groups: usize) {
        if self.sums.len() < groups {
            self.sums.resize(groups, T::Native::default());
            self.counts.resize(groups, 0);
        }
    }

    fn clear(&mut self, id: u32) {
        self.sums[id as usize] = T::Native::default();
        self.counts[id as usize] = 0;
    }

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        let values = argument::<T>(rows.args, &self.data_type)?;
        let (sums, counts) = (&mut self.sums, &mut self.counts);
        let raw = values.values();
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        rows.for_each(|row, id, retract| {
            if nulls.is_some_and(|n| n.is_null(row)) {
                return;
            }
            if retract {
                sums[id] = sums[id].sub_wrapping(raw[row]);
                counts[id] = counts[id].wrapping_sub(1);
            } else {
                sums[id] = sums[id].add_wrapping(raw[row]);
                counts[id] += 1;
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, ids: &[u32]) -> EngineResult<ArrayRef> {
        Ok(self.sums_of(ids, |id| self.counts[id] != 0))
    }

    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        if !self.retracting {
            return Ok(vec![self.evaluate(ids)?]);
        }
        // The retractable accumulator's state: its sum (NULL without values, but a
        // float's running sum, rounding residue included), and its count.
        let float = self.data_type == DataType::Float64;
        let sums = self.sums_of(ids, |id| float || self.counts[id] != 0);
        let counts = UInt64Array::from_iter_values(ids.iter().map(|&id| self.counts[id as usize]));
        Ok(vec![sums, Arc::new(counts)])
    }

    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()> {
        let sums = argument::<T>(&columns[..columns.len().min(1)], &self.data_type)?;
        let counts = if self.retracting {
            Some(state_column::<UInt64Type>(columns, 1)?)
        } else {
            None
        };
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if sums.is_valid(i) {
                self.sums[id] = sums.value(i);
            }
            self.counts[id] = match counts {
                Some(counts) => counts.value(i),
                None => u64::from(sums.is_valid(i)),
            };
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.sums.capacity() * std::mem::size_of::<T::Native>() + self.counts.capacity() * 8
    }
}

/// Whether an AVG's state is DataFusion's DOUBLE one: a count and a DOUBLE sum.
fn float_avg_state(aggregate: &AggregateFunctionExpr) -> bool {
    aggregate.state_fields().is_ok_and(|fields| {
        let types: Vec<&DataType> = fields.iter().map(|f| f.data_type()).collect();
        types == [&DataType::UInt64, &DataType::Float64]
    })
}

/// `AVG` of DOUBLE (DataFusion casts integer arguments to DOUBLE); with `integer`, Flink's
/// `AVG` of an integer type (Weir's `FlinkTyped`): the sum (truncated to BIGINT) divided
/// by the count, truncated toward zero, wrapped into that type.
#[derive(Default)]
struct Avg {
    integer: Option<DataType>,
    counts: Vec<u64>,
    sums: Vec<f64>,
    /// Whether a non-null value was added (DataFusion's sum is `None` before).
    has_sum: Vec<bool>,
}

impl ColumnAggregate for Avg {
    fn grow(&mut self, groups: usize) {
        if self.counts.len() < groups {
            self.counts.resize(groups, 0);
            self.sums.resize(groups, 0.0);
            self.has_sum.resize(groups, false);
        }
    }

    fn clear(&mut self, id: u32) {
        let id = id as usize;
        self.counts[id] = 0;
        self.sums[id] = 0.0;
        self.has_sum[id] = false;
    }

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        let values = argument::<Float64Type>(rows.args, &DataType::Float64)?;
        let raw = values.values();
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        let (counts, sums, has) = (&mut self.counts, &mut self.sums, &mut self.has_sum);
        rows.for_each(|row, id, retract| {
            if nulls.is_some_and(|n| n.is_null(row)) {
                return;
            }
            if retract {
                counts[id] = counts[id].wrapping_sub(1);
                sums[id] -= raw[row];
            } else {
                counts[id] += 1;
                sums[id] += raw[row];
            }
            has[id] = true;
        });
        Ok(())
    }

    fn evaluate(&mut self, ids: &[u32]) -> EngineResult<ArrayRef> {
        if let Some(target) = &self.integer {
            let averages: Int64Array = ids
                .iter()
                .map(|&id| {
                    let id = id as usize;
                    let count = self.counts[id];
                    (count > 0 && self.has_sum[id]).then(|| (self.sums[id] as i64) / count as i64)
                })
                .collect();
            let narrowed: ArrayRef = match target {
                DataType::Int32 => Arc::new(averages.unary::<_, Int32Type>(|x| x as i32)),
                DataType::Int16 => Arc::new(averages.unary::<_, Int16Type>(|x| x as i16)),
                DataType::Int8 => Arc::new(averages.unary::<_, Int8Type>(|x| x as i8)),
                DataType::Int64 => Arc::new(averages),
                other => cast(&averages, other)?,
            };
            return Ok(narrowed);
        }
        let values: Vec<f64> = ids
            .iter()
            .map(|&id| {
                let id = id as usize;
                if self.counts[id] == 0 {
                    0.0
                } else {
                    self.sums[id] / self.counts[id] as f64
                }
            })
            .collect();
        let nulls = nulls_where(ids.iter().map(|&id| {
            let id = id as usize;
            self.counts[id] != 0 && self.has_sum[id]
        }));
        Ok(Arc::new(PrimitiveArray::<Float64Type>::new(
            values.into(),
            nulls,
        )))
    }

    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        let counts = UInt64Array::from_iter_values(ids.iter().map(|&id| self.counts[id as usize]));
        let sums: Vec<f64> = ids.iter().map(|&id| self.sums[id as usize]).collect();
        let nulls = nulls_where(ids.iter().map(|&id| self.has_sum[id as usize]));
        Ok(vec![
            Arc::new(counts),
            Arc::new(PrimitiveArray::<Float64Type>::new(sums.into(), nulls)),
        ])
    }

    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()> {
        let counts = state_column::<UInt64Type>(columns, 0)?;
        let sums = state_column::<Float64Type>(columns, 1)?;
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            self.counts[id] = if counts.is_valid(i) {
                counts.value(i)
            } else {
                0
            };
            self.has_sum[id] = sums.is_valid(i);
            self.sums[id] = if sums.is_valid(i) { sums.value(i) } else { 0.0 };
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.counts.capacity() * 17
    }
}

/// `MIN` / `MAX` of a primitive type over an append-only input.
struct MinMax<T: ArrowPrimitiveType> {
    data_type: DataType,
    max: bool,
    values: Vec<T::Native>,
    has: Vec<bool>,
}

impl<T: ArrowPrimitiveType> MinMax<T> {
    fn new(data_type: DataType, max: bool) -> Self {
        MinMax {
            data_type,
            max,
            values: Vec::new(),
            has: Vec::new(),
        }
    }
}

impl<T: ArrowPrimitiveType> ColumnAggregate for MinMax<T>
where
    T::Native: PartialOrd,
{
    fn grow(&mut self, groups: usize) {
        if self.values.len() < groups {
            self.values.resize(groups, T::Native::default());
            self.has.resize(groups, false);
        }
    }

    fn clear(&mut self, id: u32) {
        self.has[id as usize] = false;
    }

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        let values = argument::<T>(rows.args, &self.data_type)?;
        let raw = values.values();
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        let (current, has, max) = (&mut self.values, &mut self.has, self.max);
        rows.for_each(|row, id, _| {
            if nulls.is_some_and(|n| n.is_null(row)) {
                return;
            }
            let v = raw[row];
            if !has[id] || (max && v > current[id]) || (!max && v < current[id]) {
                current[id] = v;
                has[id] = true;
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, ids: &[u32]) -> EngineResult<ArrayRef> {
        let values: Vec<T::Native> = ids.iter().map(|&id| self.values[id as usize]).collect();
        let nulls = nulls_where(ids.iter().map(|&id| self.has[id as usize]));
        Ok(Arc::new(
            PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(self.data_type.clone()),
        ))
    }

    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(ids)?])
    }

    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()> {
        let values = argument::<T>(&columns[..columns.len().min(1)], &self.data_type)?;
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            self.has[id] = values.is_valid(i);
            if values.is_valid(i) {
                self.values[id] = values.value(i);
            }
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.values.capacity() * (std::mem::size_of::<T::Native>() + 1)
    }
}

/// `MIN` / `MAX` of `STRING` (UTF-8) over an append-only input; a value is allocated
/// only when it replaces the group's current one.
struct StringMinMax {
    max: bool,
    values: Vec<Option<Box<str>>>,
}

impl StringMinMax {
    fn new(max: bool) -> Self {
        StringMinMax {
            max,
            values: Vec::new(),
        }
    }
}

impl ColumnAggregate for StringMinMax {
    fn grow(&mut self, groups: usize) {
        if self.values.len() < groups {
            self.values.resize(groups, None);
        }
    }

    fn clear(&mut self, id: u32) {
        self.values[id as usize] = None;
    }

    fn update(&mut self, rows: &ColumnRows<'_>) -> EngineResult<()> {
        let array = rows
            .args
            .first()
            .ok_or_else(|| EngineError::Internal("MIN/MAX without an argument".into()))?;
        let cast_array;
        let strings = match array.as_string_opt::<i32>() {
            Some(s) => s,
            None => {
                cast_array = cast(array, &DataType::Utf8)?;
                cast_array.as_string::<i32>()
            }
        };
        let (values, max) = (&mut self.values, self.max);
        rows.for_each(|row, id, _| {
            if strings.is_null(row) {
                return;
            }
            let v = strings.value(row);
            let replace = match &values[id] {
                None => true,
                Some(current) => {
                    if max {
                        v > &**current
                    } else {
                        v < &**current
                    }
                }
            };
            if replace {
                values[id] = Some(v.into());
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, ids: &[u32]) -> EngineResult<ArrayRef> {
        Ok(Arc::new(StringArray::from_iter(
            ids.iter().map(|&id| self.values[id as usize].as_deref()),
        )))
    }

    fn state(&mut self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(ids)?])
    }

    fn restore(&mut self, ids: &[u32], columns: &[ArrayRef]) -> EngineResult<()> {
        let column = columns
            .first()
            .ok_or_else(|| EngineError::Config("MIN/MAX state without its column".into()))?;
        let cast_array = cast(column, &DataType::Utf8)?;
        let strings = cast_array.as_string::<i32>();
        for (i, &id) in ids.iter().enumerate() {
            self.values[id as usize] = strings.is_valid(i).then(|| strings.value(i).into());
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.values.capacity() * 16 + self.values.iter().flatten().map(|s| s.len()).sum::<usize>()
    }
}
