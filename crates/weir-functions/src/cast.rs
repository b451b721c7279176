//! Flink's CAST semantics where they differ from Arrow's casts. The SQL front end
//! rewrites CASTs into calls of these functions:
//!
//! - `CAST(x AS STRING | VARCHAR)` is `flink_cast_to_string(x)`, `CAST(x AS VARCHAR(n))`
//!   is `flink_cast_to_varchar(x, n)` (truncated to n characters) and `CAST(x AS
//!   CHAR(n))` is `flink_cast_to_char(x, n)` (truncated, and padded with spaces to n
//!   characters). The text is Flink's (see the `text` module): `TRUE`, `1.0E10`,
//!   `2024-02-29 10:11:12.500`.
//! - `CAST(x AS TIMESTAMP(p) | DATE | TIME(p))` is `CAST(flink_ltz_to_local(x) AS ...)`:
//!   a TIMESTAMP_LTZ becomes its wall-clock time in the session time zone first.
//! - `CAST(x AS TIMESTAMP_LTZ(p))` is `CAST(flink_local_to_ltz(x) AS ...)`: a TIMESTAMP
//!   or DATE is read as a wall-clock time in the session time zone first.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray, StringArray, StringBuilder};
use arrow::datatypes::{
    ArrowTimestampType, DataType, Date32Type, FieldRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use chrono::NaiveDateTime;
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{
    batch_len, check_arity, coerce_integer, epoch_to_naive, finish, null_if_any_null, scalar_i64,
};
use crate::text::flink_strings;
use crate::zone::{local_to_utc, session_time_zone, utc_to_local};

/// The string type a CAST converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringTarget {
    /// `STRING`, `VARCHAR` without length: any length.
    String,
    /// `VARCHAR(n)`: truncated to n characters.
    Varchar,
    /// `CHAR(n)`: truncated to, or padded with spaces to, n characters.
    Char,
}

/// `flink_cast_to_string(x)`, `flink_cast_to_varchar(x, n)`, `flink_cast_to_char(x, n)`:
/// `x` as Flink's CAST to STRING, VARCHAR(n) or CHAR(n) writes it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CastToString {
    target: StringTarget,
    signature: Signature,
}

impl CastToString {
    /// The function for casts to `target`.
    pub fn new(target: StringTarget) -> Self {
        Self {
            target,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CastToString {
    fn name(&self) -> &str {
        match self.target {
            StringTarget::String => "flink_cast_to_string",
            StringTarget::Varchar => "flink_cast_to_varchar",
            StringTarget::Char => "flink_cast_to_char",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        if self.target == StringTarget::String {
            check_arity("CAST", t, 1, 1)?;
            return Ok(t.to_vec());
        }
        check_arity("CAST", t, 2, 2)?;
        Ok(vec![t[0].clone(), coerce_integer("CAST", 2, &t[1])?])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        null_if_any_null(self.name(), &args, |t| self.return_type(t))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let tz = session_time_zone(&args.config_options)?;
        let n = batch_len(&args.args);
        let input = args.args[0].to_array(n)?;
        let text = flink_strings(&input, &tz)?;
        let out = match self.target {
            StringTarget::String => text,
            StringTarget::Varchar | StringTarget::Char => {
                let length = match args.args.get(1).and_then(scalar_i64) {
                    Some(Some(length)) if length >= 1 => length,
                    _ => return exec_err!("CAST: the length of CHAR/VARCHAR must be at least 1"),
                };
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                fit_length(
                    text.as_string::<i32>(),
                    length,
                    self.target == StringTarget::Char,
                )
            }
        };
        finish(&args.args, out)
    }
}

/// Truncates every string to `length` characters and, if `pad`, pads it with spaces to
/// `length` characters (Flink's `CharVarCharTrimPadCastRule`).
fn fit_length(text: &StringArray, length: usize, pad: bool) -> ArrayRef {
    // Byte length bounds character length: short strings need no look when not padding.
    if !pad && text.iter().flatten().all(|s| s.len() <= length) {
        return Arc::new(text.clone());
    }
    let mut out = StringBuilder::with_capacity(text.len(), text.value_data().len());
    let mut buffer = String::new();
    for value in text.iter() {
        let Some(s) = value else {
            out.append_null();
            continue;
        };
        let (cut, chars) = match s.char_indices().nth(length) {
            Some((at, _)) => (&s[..at], length),
            None => (s, s.chars().count()),
        };
        if pad && chars < length {
            buffer.clear();
            buffer.push_str(cut);
            buffer.extend(std::iter::repeat_n(' ', length - chars));
            out.append_value(&buffer);
        } else {
            out.append_value(cut);
        }
    }
    Arc::new(out.finish())
}

/// Which way a time zone conversion goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneShift {
    /// `flink_ltz_to_local(x)`: a TIMESTAMP_LTZ becomes the TIMESTAMP of its wall-clock
    /// time in the session zone; other values are returned unchanged.
    LtzToLocal,
    /// `flink_local_to_ltz(x)`: a TIMESTAMP or DATE is read as a wall-clock time in the
    /// session zone and becomes a TIMESTAMP_LTZ (a DATE at its midnight); other values
    /// are returned unchanged.
    LocalToLtz,
}

/// The conversion between TIMESTAMP and TIMESTAMP_LTZ that Flink's CAST does, in the
/// session time zone (see [`ZoneShift`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CastZone {
    shift: ZoneShift,
    signature: Signature,
}

impl CastZone {
    /// The conversion `shift`.
    pub fn new(shift: ZoneShift) -> Self {
        Self {
            shift,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CastZone {
    fn name(&self) -> &str {
        match self.shift {
            ZoneShift::LtzToLocal => "flink_ltz_to_local",
            ZoneShift::LocalToLtz => "flink_local_to_ltz",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        check_arity("CAST", t, 1, 1)?;
        Ok(t.to_vec())
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        let Some(input) = t.first() else {
            return plan_err!("CAST: expected one argument");
        };
        Ok(match (self.shift, input) {
            (ZoneShift::LtzToLocal, DataType::Timestamp(unit, Some(_))) => {
                DataType::Timestamp(*unit, None)
            }
            (ZoneShift::LocalToLtz, DataType::Timestamp(unit, None)) => {
                DataType::Timestamp(*unit, Some("UTC".into()))
            }
            (ZoneShift::LocalToLtz, DataType::Date32) => {
                DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
            }
            (_, other) => other.clone(),
        })
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        null_if_any_null(self.name(), &args, |t| self.return_type(t))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(arg) = args.args.first() else {
            return exec_err!("CAST: expected one argument");
        };
        let target = self.return_type(&[arg.data_type()])?;
        if target == arg.data_type() {
            return Ok(arg.clone());
        }
        let tz = session_time_zone(&args.config_options)?;
        let n = batch_len(&args.args);
        let input = arg.to_array(n)?;
        let (unit, zone) = match &target {
            DataType::Timestamp(unit, zone) => (*unit, zone.clone()),
            other => return exec_err!("CAST: cannot shift the time zone of {other}"),
        };
        let out: ArrayRef = match (input.data_type(), unit) {
            (DataType::Date32, _) => {
                let days = input.as_primitive::<Date32Type>();
                let seconds = days.unary::<_, TimestampSecondType>(|d| i64::from(d) * 86_400);
                Arc::new(shift(&seconds, &tz, self.shift).with_timezone_opt(zone))
            }
            (_, TimeUnit::Second) => {
                shift_array::<TimestampSecondType>(&input, &tz, self.shift, zone)?
            }
            (_, TimeUnit::Millisecond) => {
                shift_array::<TimestampMillisecondType>(&input, &tz, self.shift, zone)?
            }
            (_, TimeUnit::Microsecond) => {
                shift_array::<TimestampMicrosecondType>(&input, &tz, self.shift, zone)?
            }
            (_, TimeUnit::Nanosecond) => {
                shift_array::<TimestampNanosecondType>(&input, &tz, self.shift, zone)?
            }
        };
        finish(&args.args, out)
    }
}

/// [`shift`] of a timestamp column of type `T`, labelled with `zone`.
fn shift_array<T: ArrowTimestampType>(
    input: &ArrayRef,
    tz: &Tz,
    direction: ZoneShift,
    zone: Option<Arc<str>>,
) -> Result<ArrayRef> {
    let Some(values) = input.as_primitive_opt::<T>() else {
        return exec_err!(
            "CAST: expected a timestamp column, got {}",
            input.data_type()
        );
    };
    Ok(Arc::new(
        shift(values, tz, direction).with_timezone_opt(zone),
    ))
}

/// Moves every value between UTC instant and session wall-clock time; a value out of
/// chrono's range (hundreds of thousands of years away) is left as it is.
fn shift<T: ArrowTimestampType>(
    values: &PrimitiveArray<T>,
    tz: &Tz,
    shift: ZoneShift,
) -> PrimitiveArray<T> {
    values.unary::<_, T>(|v| {
        epoch_to_naive(v, T::UNIT)
            .and_then(|t| {
                let moved = match shift {
                    ZoneShift::LtzToLocal => utc_to_local(tz, t),
                    ZoneShift::LocalToLtz => local_to_utc(tz, t),
                };
                naive_to_epoch(moved, T::UNIT)
            })
            .unwrap_or(v)
    })
}

fn naive_to_epoch(t: NaiveDateTime, unit: TimeUnit) -> Option<i64> {
    let t = t.and_utc();
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
}

#[cfg(test)]
#[path = "cast_tests.rs"]
mod tests;
