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
use rand::{Rng, SeedableRng};

use super::fields::{ColumnGen, GenKind};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const MILLIS_PER_DAY: i64 = 86_400_000;

/// What a generator needs to produce one batch.
///
/// Every row has its own random generator, seeded from the source's seed and the row's
/// number, and used by the columns in order: a row's values depend on nothing else (not
/// the batch it is in, nor the parallelism), so a restored source continues with the
/// rows an uninterrupted one makes.
pub(crate) struct GenContext {
    /// One random generator per row of the batch.
    pub rngs: Vec<SmallRng>,
    /// The number of each row of the batch in the whole source (sequences use it).
    pub rows: Vec<u64>,
    /// Wall-clock time of the batch, epoch milliseconds.
    pub now_ms: i64,
}

impl GenContext {
    /// The context of rows `rows` of a source seeded with `seed`.
    pub fn new(seed: u64, rows: Vec<u64>, now_ms: i64) -> GenContext {
        let rngs = rows
            .iter()
            .map(|&row| SmallRng::seed_from_u64(mix(seed, row)))
            .collect();
        GenContext { rngs, rows, now_ms }
    }

    /// Each row once: the owners of a top-level column's values.
    pub fn owners(&self) -> Vec<usize> {
        (0..self.rows.len()).collect()
    }
}

/// SplitMix64 of the seed and the row number.
fn mix(seed: u64, row: u64) -> u64 {
    let mut z = seed ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `length` copies of each non-null owner: the owners of a collection's elements.
fn repeat(owners: &[usize], nulls: Option<&NullBuffer>, length: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(owners.len() * length);
    for (i, &owner) in owners.iter().enumerate() {
        if !nulls.is_some_and(|nb| nb.is_null(i)) {
            out.extend(std::iter::repeat_n(owner, length));
        }
    }
    out
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
    /// Generates one value per entry of `owners`, value `i` from the random numbers of
    /// row `owners[i]` of the batch. Errors only on a bug (an array that does not fit
    /// its type).
    pub fn generate(&self, ctx: &mut GenContext, owners: &[usize]) -> Result<ArrayRef, ArrowError> {
        let n = owners.len();
        let nulls = if self.null_rate > 0.0 {
            let rate = self.null_rate;
            let rngs = &mut ctx.rngs;
            Some(NullBuffer::from_iter(
                owners.iter().map(|&o| rngs[o].random::<f32>() >= rate),
            ))
        } else {
            None
        };
        let dt = self.field.data_type();
        let rows = &ctx.rows;
        let rngs = &mut ctx.rngs;
        Ok(match &self.kind {
            GenKind::Int { min, max } => {
                let (min, max) = (*min, *max);
                let mut r = move |i: usize| rngs[owners[i]].random_range(min..=max);
                match dt {
                    DataType::Int8 => prim::<Int8Type>(n, nulls, dt, |i| r(i) as i8),
                    DataType::Int16 => prim::<Int16Type>(n, nulls, dt, |i| r(i) as i16),
                    DataType::Int32 => prim::<Int32Type>(n, nulls, dt, |i| r(i) as i32),
                    _ => prim::<Int64Type>(n, nulls, dt, r),
                }
            }
            GenKind::Float { min, max } => {
                let (min, max) = (*min, *max);
                let mut r = move |i: usize| rngs[owners[i]].random_range(min..=max);
                match dt {
                    DataType::Float32 => prim::<Float32Type>(n, nulls, dt, |i| r(i) as f32),
                    _ => prim::<Float64Type>(n, nulls, dt, r),
                }
            }
            GenKind::Decimal { min, max } => {
                let (min, max) = (*min, *max);
                prim::<Decimal128Type>(n, nulls, dt, |i| rngs[owners[i]].random_range(min..=max))
            }
            GenKind::Bool => {
                let values: Vec<bool> = owners.iter().map(|&o| rngs[o].random()).collect();
                Arc::new(BooleanArray::new(values.into(), nulls))
            }
            GenKind::Str { length, var_len } => {
                let mut b = StringBuilder::with_capacity(n, n * length);
                let mut scratch = String::with_capacity(*length);
                for (i, &owner) in owners.iter().enumerate() {
                    if nulls.as_ref().is_some_and(|nb| nb.is_null(i)) {
                        b.append_null();
                        continue;
                    }
                    let rng = &mut rngs[owner];
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
                for (i, &owner) in owners.iter().enumerate() {
                    if nulls.as_ref().is_some_and(|nb| nb.is_null(i)) {
                        b.append_null();
                        continue;
                    }
                    let rng = &mut rngs[owner];
                    let len = pick_length(rng, *length, *var_len);
                    rng.fill(&mut scratch[..len]);
                    b.append_value(&scratch[..len]);
                }
                cast_to(Arc::new(b.finish()), dt)?
            }
            GenKind::Time { max_past_ms } => {
                let (now, past) = (ctx.now_ms, *max_past_ms);
                let mut ms = move |i: usize| {
                    now - if past > 0 {
                        rngs[owners[i]].random_range(0..past)
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
                let start = *start as i128;
                // Within `start..=end`, checked when the source was created.
                let v = move |i: usize| (start + rows[owners[i]] as i128) as i64;
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
                let values = element.generate(ctx, &repeat(owners, nulls.as_ref(), *length))?;
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
                let DataType::Map(entries, sorted) = dt else {
                    return Err(ArrowError::InvalidArgumentError(format!("not a map: {dt}")));
                };
                let DataType::Struct(kv) = entries.data_type() else {
                    return Err(ArrowError::InvalidArgumentError(format!("not a map: {dt}")));
                };
                let entry_owners = repeat(owners, nulls.as_ref(), *length);
                let keys = key.generate(ctx, &entry_owners)?;
                let values = value.generate(ctx, &entry_owners)?;
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
                    .map(|f| f.generate(ctx, owners))
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
