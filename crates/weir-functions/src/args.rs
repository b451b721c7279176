//! Argument plumbing shared by the UDFs: type coercion rules, typed column accessors
//! (strings, date-times, integers) and scalar/array result handling.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, LargeStringArray, StringArray, StringViewArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Date32Type, Date64Type, Field, FieldRef, Int64Type, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::common::{exec_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs};

use weir_formats::render::timestamp_values;

use crate::civil::Civil;
use crate::pattern::parse_default_timestamp;
use crate::zone::{utc, utc_to_local};

/// Fails planning unless `min <= types.len() <= max`.
pub(crate) fn check_arity(
    function: &str,
    types: &[DataType],
    min: usize,
    max: usize,
) -> Result<()> {
    let n = types.len();
    if n < min || n > max {
        let expected = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return plan_err!("{function}: expected {expected} arguments, got {n}");
    }
    Ok(())
}

/// Strings stay as they are; NULL and string dictionaries become `Utf8`.
pub(crate) fn coerce_string(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(t.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if v.is_string() => Ok(DataType::Utf8),
        _ => plan_err!("{function}: argument {position} must be a STRING, got {t}"),
    }
}

/// Integers and NULL become `Int64`.
pub(crate) fn coerce_integer(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    if t.is_integer() || t.is_null() {
        Ok(DataType::Int64)
    } else {
        plan_err!("{function}: argument {position} must be an INTEGER, got {t}")
    }
}

/// Timestamps (any unit and zone), dates and strings stay; NULL becomes `TIMESTAMP(3)`.
pub(crate) fn coerce_datetime(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => Ok(t.clone()),
        DataType::Null => Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
        _ => coerce_string(function, position, t).or_else(|_| {
            plan_err!(
                "{function}: argument {position} must be a TIMESTAMP, DATE or STRING, got {t}"
            )
        }),
    }
}

/// The result field of a function that is NULL exactly when one of its arguments is:
/// named `name`, typed by `return_type` from the argument types, nullable when an
/// argument is.
pub(crate) fn null_if_any_null(
    name: &str,
    args: &ReturnFieldArgs<'_>,
    return_type: impl FnOnce(&[DataType]) -> Result<DataType>,
) -> Result<FieldRef> {
    let types: Vec<DataType> = args
        .arg_fields
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
    Ok(Arc::new(Field::new(name, return_type(&types)?, nullable)))
}

/// Number of rows the arguments describe: the length of any array argument, else 1.
pub(crate) fn batch_len(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

/// Wraps `out` as a scalar when every argument was a scalar, else as an array.
pub(crate) fn finish(args: &[ColumnarValue], out: ArrayRef) -> Result<ColumnarValue> {
    if !args.is_empty() && args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

/// A scalar integer argument: `Some(None)` for NULL, `None` if not a scalar.
pub(crate) fn scalar_i64(arg: &ColumnarValue) -> Option<Option<i64>> {
    match arg {
        ColumnarValue::Scalar(ScalarValue::Int64(v)) => Some(*v),
        ColumnarValue::Scalar(s) if s.is_null() => Some(None),
        _ => None,
    }
}

/// Any of the three Arrow string layouts, read by row.
pub(crate) enum StrColumn<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrColumn<'a> {
    pub(crate) fn try_new(function: &str, array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::Large(array.as_string::<i64>()),
            DataType::Utf8View => Self::View(array.as_string_view()),
            other => return exec_err!("{function}: expected a string column, got {other}"),
        })
    }

    /// The value at `i`, `None` if null.
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Self::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// An `Int64` column read by row.
pub(crate) fn i64_column<'a>(
    function: &str,
    array: &'a ArrayRef,
) -> Result<impl Fn(usize) -> Option<i64> + 'a> {
    let Some(a) = array.as_primitive_opt::<Int64Type>() else {
        return exec_err!(
            "{function}: expected a BIGINT column, got {}",
            array.data_type()
        );
    };
    Ok(move |i| a.is_valid(i).then(|| a.value(i)))
}

enum DtKind<'a> {
    /// Epoch-based values in `unit`; `instant` when the type carries a time zone.
    Timestamp {
        values: &'a [i64],
        unit: TimeUnit,
        instant: bool,
    },
    Date32(&'a [i32]),
    Date64(&'a [i64]),
    Str(StrColumn<'a>),
}

/// A timestamp/date/string column read as wall-clock date-times.
///
/// Zoned timestamps (`TIMESTAMP_LTZ`) are instants and are shown in the session zone;
/// zone-less timestamps and dates are already wall-clock values; strings are parsed with
/// the default `yyyy-MM-dd HH:mm:ss[.f]` pattern (unparsable text reads as NULL).
pub(crate) struct DateTimeColumn<'a> {
    kind: DtKind<'a>,
    nulls: Option<&'a NullBuffer>,
    session: Tz,
    offset_zone: Tz,
}

impl<'a> DateTimeColumn<'a> {
    pub(crate) fn try_new(function: &str, array: &'a ArrayRef, session: Tz) -> Result<Self> {
        let mut offset_zone = utc();
        let kind = match array.data_type() {
            DataType::Timestamp(unit, tz) => {
                let values = timestamp_values(array.as_ref(), *unit);
                if tz.is_some() {
                    offset_zone = session;
                }
                DtKind::Timestamp {
                    values,
                    unit: *unit,
                    instant: tz.is_some(),
                }
            }
            DataType::Date32 => DtKind::Date32(array.as_primitive::<Date32Type>().values()),
            DataType::Date64 => DtKind::Date64(array.as_primitive::<Date64Type>().values()),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                DtKind::Str(StrColumn::try_new(function, array)?)
            }
            other => {
                return exec_err!(
                    "{function}: expected a TIMESTAMP, DATE or STRING column, got {other}"
                )
            }
        };
        Ok(Self {
            kind,
            nulls: array.nulls(),
            session,
            offset_zone,
        })
    }

    /// Zone whose UTC offset a pattern letter like `Z` prints for this column's values.
    pub(crate) fn offset_zone(&self) -> &Tz {
        &self.offset_zone
    }

    /// The wall-clock fields at row `i`: by integer arithmetic for zone-less timestamps
    /// and dates in years 0000-9999, through [`Self::get`] otherwise; `None` as for `get`.
    #[inline]
    pub(crate) fn civil(&self, i: usize) -> Option<Civil> {
        let fast = match &self.kind {
            DtKind::Timestamp {
                values,
                unit,
                instant: false,
            } => Some((values[i], *unit)),
            DtKind::Date32(days) => Some((i64::from(days[i]) * 86_400, TimeUnit::Second)),
            _ => None,
        };
        if let Some((value, unit)) = fast {
            if self.nulls.is_some_and(|n| n.is_null(i)) {
                return None;
            }
            if let Some(c) = Civil::from_epoch(value, unit) {
                return Some(c);
            }
        }
        self.get(i).map(|d| Civil::from_naive(&d))
    }

    /// The wall-clock date-time at row `i`; `None` for NULL or unparsable/out-of-range.
    pub(crate) fn get(&self, i: usize) -> Option<NaiveDateTime> {
        if self.nulls.is_some_and(|n| n.is_null(i)) {
            return None;
        }
        match &self.kind {
            DtKind::Timestamp {
                values,
                unit,
                instant,
            } => {
                let utc = epoch_to_naive(values[i], *unit)?;
                Some(if *instant {
                    utc_to_local(&self.session, utc)
                } else {
                    utc
                })
            }
            DtKind::Date32(values) => date32_to_naive(values[i])?.and_hms_opt(0, 0, 0),
            DtKind::Date64(values) => {
                DateTime::from_timestamp_millis(values[i]).map(|d| d.naive_utc())
            }
            DtKind::Str(s) => s.get(i).and_then(parse_default_timestamp),
        }
    }
}

/// `value` (an offset from the epoch in `unit`) as a UTC date-time.
pub(crate) fn epoch_to_naive(value: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let dt = match unit {
        TimeUnit::Second => DateTime::from_timestamp(value, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(value),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(value),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(value)),
    };
    dt.map(|d| d.naive_utc())
}

fn date32_to_naive(days: i32) -> Option<NaiveDate> {
    const UNIX_EPOCH_FROM_CE: i32 = 719_163;
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_FROM_CE)?)
}
