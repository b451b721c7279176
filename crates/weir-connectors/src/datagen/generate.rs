//! Batch generation of the datagen connector's column generators: whole Arrow arrays,
//! no per-row allocation beyond string contents.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BinaryBuilder, BooleanArray, LargeListArray, ListArray,
    MapArray, PrimitiveArray, StringBuilder, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;
use rand::rngs::SmallRng;
use rand::Rng;

use super::fields::{ColumnGen, GenKind};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const MILLIS_PER_DAY: i64 = 86_400_000;

/// What a generator needs to produce one batch.
pub(crate) struct GenContext<'a> {
    /// The subtask's random numbers.
    pub rng: &'a mut SmallRng,
    /// Index, among this subtask's rows, of the batch's first row.
    pub first_row: u64,
    /// This subtask's index.
    pub subtask: u64,
    /// Number of subtasks.
    pub parallelism: u64,
    /// Wall-clock time of the batch, epoch milliseconds.
    pub now_ms: i64,
}

fn prim<T: ArrowPrimitiveType>(
    n: usize,
    nulls: Option<NullBuffer>,
    dt: &DataType,
    f: impl FnMut(usize) -> T::Native,
) -> ArrayRef {
    let values: Vec<T::Native> = (0..n).map(f).collect();
    Arc::new(PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(dt.clone()))
}

impl ColumnGen {
    /// Generates `n` values. Errors only on a bug (an array that does not fit its type).
    pub fn generate(&self, ctx: &mut GenContext<'_>, n: usize) -> Result<ArrayRef, ArrowError> {
        let nulls = if self.null_rate > 0.0 {
            let rate = self.null_rate;
            Some(NullBuffer::from_iter(
                (0..n).map(|_| ctx.rng.random::<f32>() >= rate),
            ))
        } else {
            None
        };
        let dt = self.field.data_type();
        let rng = &mut *ctx.rng;
        Ok(match &self.kind {
            GenKind::Int { min, max } => {
                let (min, max) = (*min, *max);
                let mut r = move |_: usize| rng.random_range(min..=max);
                match dt {
                    DataType::Int8 => prim::<Int8Type>(n, nulls, dt, |i| r(i) as i8),
                    DataType::Int16 => prim::<Int16Type>(n, nulls, dt, |i| r(i) as i16),
                    DataType::Int32 => prim::<Int32Type>(n, nulls, dt, |i| r(i) as i32),
                    _ => prim::<Int64Type>(n, nulls, dt, r),
                }
            }
            GenKind::Float { min, max } => {
                let (min, max) = (*min, *max);
                let mut r = move |_: usize| rng.random_range(min..=max);
                match dt {
                    DataType::Float32 => prim::<Float32Type>(n, nulls, dt, |i| r(i) as f32),
                    _ => prim::<Float64Type>(n, nulls, dt, r),
                }
            }
            GenKind::Decimal { min, max } => {
                let (min, max) = (*min, *max);
                prim::<Decimal128Type>(n, nulls, dt, |_| rng.random_range(min..=max))
            }
            GenKind::Bool => {
                let values: Vec<bool> = (0..n).map(|_| rng.random()).collect();
                Arc::new(BooleanArray::new(values.into(), nulls))
            }
            GenKind::Str { length, var_len } => {
                let mut b = StringBuilder::with_capacity(n, n * length);
                let mut scratch = String::with_capacity(*length);
                for i in 0..n {
                    if nulls.as_ref().is_some_and(|nb| nb.is_null(i)) {
                        b.append_null();
                        continue;
                    }
                    let len = pick_length(rng, *length, *var_len);
                    scratch.clear();
                    scratch
                        .extend((0..len).map(|_| {
                            ALPHANUMERIC[rng.random_range(0..ALPHANUMERIC.len())] as char
                        }));
                    b.append_value(&scratch);
                }
                cast_to(Arc::new(b.finish()), dt)?
            }
            GenKind::Bytes { length, var_len } => {
                let mut b = BinaryBuilder::with_capacity(n, n * length);
                let mut scratch = vec![0u8; *length];
                for i in 0..n {
                    if nulls.as_ref().is_some_and(|nb| nb.is_null(i)) {
                        b.append_null();
                        continue;
                    }
                    let len = pick_length(rng, *length, *var_len);
                    rng.fill(&mut scratch[..len]);
                    b.append_value(&scratch[..len]);
                }
                cast_to(Arc::new(b.finish()), dt)?
            }
            GenKind::Time { max_past_ms } => {
                let (now, past) = (ctx.now_ms, *max_past_ms);
                let mut ms = move |_: usize| {
                    now - if past > 0 {
                        rng.random_range(0..past)
                    } else {
                        0
                    }
                };
                match dt {
                    DataType::Timestamp(unit, _) => match unit {
                        TimeUnit::Second => {
                            prim::<TimestampSecondType>(n, nulls, dt, |i| ms(i).div_euclid(1000))
                        }
                        TimeUnit::Millisecond => prim::<TimestampMillisecondType>(n, nulls, dt, ms),
                        TimeUnit::Microsecond => {
                            prim::<TimestampMicrosecondType>(n, nulls, dt, |i| ms(i) * 1000)
                        }
                        TimeUnit::Nanosecond => {
                            prim::<TimestampNanosecondType>(n, nulls, dt, |i| ms(i) * 1_000_000)
                        }
                    },
                    DataType::Date32 => prim::<Date32Type>(n, nulls, dt, |i| {
                        ms(i).div_euclid(MILLIS_PER_DAY) as i32
                    }),
                    DataType::Date64 => prim::<Date64Type>(n, nulls, dt, |i| {
                        ms(i).div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY
                    }),
                    DataType::Time32(TimeUnit::Second) => {
                        prim::<Time32SecondType>(n, nulls, dt, |i| {
                            (ms(i).rem_euclid(MILLIS_PER_DAY) / 1000) as i32
                        })
                    }
                    DataType::Time32(_) => prim::<Time32MillisecondType>(n, nulls, dt, |i| {
                        ms(i).rem_euclid(MILLIS_PER_DAY) as i32
                    }),
                    DataType::Time64(TimeUnit::Microsecond) => {
                        prim::<Time64MicrosecondType>(n, nulls, dt, |i| {
                            ms(i).rem_euclid(MILLIS_PER_DAY) * 1000
                        })
                    }
                    _ => prim::<Time64NanosecondType>(n, nulls, dt, |i| {
                        ms(i).rem_euclid(MILLIS_PER_DAY) * 1_000_000
                    }),
                }
            }
            GenKind::Sequence { start } => {
                let first = *start as i128
                    + ctx.subtask as i128
                    + ctx.first_row as i128 * ctx.parallelism as i128;
                let step = ctx.parallelism as i128;
                // Within `start..=end`, checked when the source was created.
                let v = move |i: usize| (first + i as i128 * step) as i64;
                match dt {
                    DataType::Int8 => prim::<Int8Type>(n, nulls, dt, |i| v(i) as i8),
                    DataType::Int16 => prim::<Int16Type>(n, nulls, dt, |i| v(i) as i16),
                    DataType::Int32 => prim::<Int32Type>(n, nulls, dt, |i| v(i) as i32),
                    DataType::Int64 => prim::<Int64Type>(n, nulls, dt, v),
                    DataType::Float32 => prim::<Float32Type>(n, nulls, dt, |i| v(i) as f32),
                    DataType::Float64 => prim::<Float64Type>(n, nulls, dt, |i| v(i) as f64),
                    DataType::Decimal128(_, s) => {
                        let scale = 10i128.pow(u32::from(*s as u8));
                        prim::<Decimal128Type>(n, nulls, dt, |i| v(i) as i128 * scale)
                    }
                    _ => {
                        let mut b = StringBuilder::with_capacity(n, n * 8);
                        for i in 0..n {
                            write!(b, "{}", v(i))
                                .map_err(|e| ArrowError::ComputeError(e.to_string()))?;
                            b.append_value("");
                        }
                        cast_to(Arc::new(b.finish()), dt)?
                    }
                }
            }
            GenKind::List { length, element } => {
                let valid = n - nulls.as_ref().map_or(0, |nb| nb.null_count());
                let values = element.generate(ctx, valid * length)?;
                let lengths = (0..n).map(|i| {
                    if nulls.as_ref().is_some_and(|nb| nb.is_null(i)) {
                        0
                    } else {
                        *length
                    }
                });
                match dt {
                    DataType::LargeList(item) => {
                        let offsets = OffsetBuffer::<i64>::from_lengths(lengths);
                        Arc::new(LargeListArray::try_new(
                            item.clone(),
                            offsets,
                            values,
                            nulls,
                        )?)
                    }
                    DataType::List(item) => {
                        let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
                        Arc::new(ListArray::try_new(item.clone(), offsets, values, nulls)?)
                    }
                    _ => {
                        return Err(ArrowError::InvalidArgumentError(format!(
                            "not a list: {dt}"
                        )))
                    }
                }
            }
            GenKind::Map { length, key, value } => {
                let valid = n - nulls.as_ref().map_or(0, |nb| nb.null_count());
                let DataType::Map(entries, sorted) = dt else {
                    return Err(ArrowError::InvalidArgumentError(format!("not a map: {dt}")));
                };
                let DataType::Struct(kv) = entries.data_type() else {
                    return Err(ArrowError::InvalidArgumentError(format!("not a map: {dt}")));
                };
                let keys = key.generate(ctx, valid * length)?;
                let values = value.generate(ctx, valid * length)?;
                let entries_array = StructArray::try_new(kv.clone(), vec![keys, values], None)?;
                let lengths = (0..n).map(|i| {
                    if nulls.as_ref().is_some_and(|nb| nb.is_null(i)) {
                        0
                    } else {
                        *length
                    }
                });
                let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
                Arc::new(MapArray::try_new(
                    entries.clone(),
                    offsets,
                    entries_array,
                    nulls,
                    *sorted,
                )?)
            }
            GenKind::Struct { fields } => {
                let DataType::Struct(children) = dt else {
                    return Err(ArrowError::InvalidArgumentError(format!(
                        "not a struct: {dt}"
                    )));
                };
                let arrays = fields
                    .iter()
                    .map(|f| f.generate(ctx, n))
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new_with_length(
                    children.clone(),
                    arrays,
                    nulls,
                    n,
                )?)
            }
        })
    }
}

fn pick_length(rng: &mut SmallRng, length: usize, var_len: bool) -> usize {
    if var_len && length > 1 {
        rng.random_range(1..=length)
    } else {
        length
    }
}

fn cast_to(array: ArrayRef, dt: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == dt {
        Ok(array)
    } else {
        arrow::compute::cast(&array, dt)
    }
}
