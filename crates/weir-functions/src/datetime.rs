//! Date/time conversion functions with Java patterns: `DATE_FORMAT`, `TO_TIMESTAMP`,
//! `TO_TIMESTAMP_LTZ`, `FROM_UNIXTIME` and `UNIX_TIMESTAMP`.
//!
//! `TIMESTAMP(3)` is Arrow `Timestamp(Millisecond, None)`; `TIMESTAMP_LTZ(3)` is
//! `Timestamp(Millisecond, Some("UTC"))`. Local-zone dependent work uses the session zone.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Float64Array, Int64Array, StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::common::{exec_datafusion_err, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{
    batch_len, check_arity, coerce_datetime, coerce_integer, coerce_string, finish, i64_column,
    scalar_i64, DateTimeColumn, StrColumn,
};
use crate::pattern::{JavaPattern, LastCache, PatternArg};
use crate::zone::{local_to_utc, session_time_zone, utc_to_local};

/// Arrow type of Flink `TIMESTAMP(3)`.
pub(crate) const TIMESTAMP_3: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

/// Arrow type of Flink `TIMESTAMP_LTZ(3)`.
pub(crate) fn timestamp_ltz_3() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn format_error(function: &str) -> datafusion::error::DataFusionError {
    exec_datafusion_err!("{function}: the pattern prints a field the value does not have")
}

/// `DATE_FORMAT(timestamp | date | string, pattern) -> STRING`.
///
/// Zoned timestamps are shown in the session zone; strings are parsed as
/// `yyyy-MM-dd HH:mm:ss[.fff]` first (unparsable text gives NULL).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateFormat {
    signature: Signature,
    cache: LastCache<JavaPattern>,
}

impl Default for DateFormat {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            cache: LastCache::new(),
        }
    }
}

impl ScalarUDFImpl for DateFormat {
    fn name(&self) -> &str {
        "date_format"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        check_arity("DATE_FORMAT", t, 2, 2)?;
        Ok(vec![
            coerce_datetime("DATE_FORMAT", 1, &t[0])?,
            coerce_string("DATE_FORMAT", 2, &t[1])?,
        ])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        const NAME: &str = "DATE_FORMAT";
        let tz = session_time_zone(&args.config_options)?;
        let n = batch_len(&args.args);
        let input = args.args[0].to_array(n)?;
        let column = DateTimeColumn::try_new(NAME, &input, tz)?;
        let mut pattern = PatternArg::new(NAME, args.args.get(1), &self.cache)?;
        let mut out = StringBuilder::with_capacity(n, n * 20);
        let mut scratch = String::with_capacity(32);
        for i in 0..n {
            let Some(p) = pattern.get(NAME, i)? else {
                out.append_null();
                continue;
            };
            if let Some(fast) = p.fast() {
                let Some(civil) = column.civil(i) else {
                    out.append_null();
                    continue;
                };
                scratch.clear();
                if fast.write(&civil, &mut scratch) {
                    out.append_value(&scratch);
                    continue;
                }
                // A year chrono prints with a sign: format with chrono below.
            }
            match column.get(i) {
                Some(dt) => {
                    p.format_into(&mut out, &dt, column.offset_zone())
                        .map_err(|_| format_error(NAME))?;
                    out.append_value("");
                }
                None => out.append_null(),
            }
        }
        finish(&args.args, Arc::new(out.finish()))
    }
}

/// `TO_TIMESTAMP(string[, pattern]) -> TIMESTAMP(3)`; default pattern
/// `yyyy-MM-dd HH:mm:ss` (fractional seconds accepted); unparsable text gives NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestamp {
    signature: Signature,
    cache: LastCache<JavaPattern>,
}

impl Default for ToTimestamp {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            cache: LastCache::new(),
        }
    }
}

impl ScalarUDFImpl for ToTimestamp {
    fn name(&self) -> &str {
        "to_timestamp"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        check_arity("TO_TIMESTAMP", t, 1, 2)?;
        t.iter()
            .enumerate()
            .map(|(i, t)| coerce_string("TO_TIMESTAMP", i + 1, t))
            .collect()
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(TIMESTAMP_3)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let out = parse_each("TO_TIMESTAMP", &args.args, &self.cache, |dt| {
            dt.and_utc().timestamp_millis()
        })?;
        finish(&args.args, Arc::new(TimestampMillisecondArray::from(out)))
    }
}

/// `TO_TIMESTAMP_LTZ(numeric[, precision]) -> TIMESTAMP_LTZ(3)`: precision 0 reads epoch
/// seconds, 3 (the default) epoch milliseconds; fractional inputs are truncated to millis.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestampLtz {
    signature: Signature,
}

impl Default for ToTimestampLtz {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn millis_from_int(v: i64, precision: i64) -> Result<Option<i64>> {
    match precision {
        0 => Ok(v.checked_mul(1000)),
        3 => Ok(Some(v)),
        p => exec_err!("TO_TIMESTAMP_LTZ: precision must be 0 or 3, got {p}"),
    }
}

fn millis_from_float(v: f64, precision: i64) -> Result<Option<i64>> {
    let millis = match precision {
        0 => v * 1000.0,
        3 => v,
        p => return exec_err!("TO_TIMESTAMP_LTZ: precision must be 0 or 3, got {p}"),
    };
    // i64::MAX as f64 rounds up to 2^63, so this bound excludes every overflowing value.
    let in_range = millis.is_finite() && millis.abs() < i64::MAX as f64;
    Ok(in_range.then(|| millis.trunc() as i64))
}

impl ScalarUDFImpl for ToTimestampLtz {
    fn name(&self) -> &str {
        "to_timestamp_ltz"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        const NAME: &str = "TO_TIMESTAMP_LTZ";
        check_arity(NAME, t, 1, 2)?;
        let value = match &t[0] {
            v if v.is_integer() || v.is_null() => DataType::Int64,
            v if v.is_floating() || v.is_decimal() => DataType::Float64,
            v => return plan_err!("{NAME}: argument 1 must be NUMERIC, got {v}"),
        };
        let mut out = vec![value];
        if let Some(p) = t.get(1) {
            out.push(coerce_integer(NAME, 2, p)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(timestamp_ltz_3())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = batch_len(&args.args);
        let values = args.args[0].to_array(n)?;
        let fixed_precision = match args.args.get(1) {
            None => Some(Some(3)),
            Some(p) => scalar_i64(p),
        };
        let precision_column;
        let precision: Box<dyn Fn(usize) -> Option<i64>> = match fixed_precision {
            Some(p) => Box::new(move |_| p),
            None => {
                precision_column = args.args[1].to_array(n)?;
                Box::new(i64_column("TO_TIMESTAMP_LTZ", &precision_column)?)
            }
        };
        let out = convert_epoch(&values, n, precision.as_ref())?;
        let out = TimestampMillisecondArray::from(out).with_timezone("UTC");
        finish(&args.args, Arc::new(out))
    }
}

fn convert_epoch(
    values: &ArrayRef,
    n: usize,
    precision: &dyn Fn(usize) -> Option<i64>,
) -> Result<Vec<Option<i64>>> {
    let mut out = Vec::with_capacity(n);
    if let Some(ints) = values.as_primitive_opt::<Int64Type>() {
        let ints: &Int64Array = ints;
        for (i, v) in ints.iter().enumerate() {
            out.push(match (v, precision(i)) {
                (Some(v), Some(p)) => millis_from_int(v, p)?,
                _ => None,
            });
        }
    } else if let Some(floats) = values.as_primitive_opt::<Float64Type>() {
        let floats: &Float64Array = floats;
        for (i, v) in floats.iter().enumerate() {
            out.push(match (v, precision(i)) {
                (Some(v), Some(p)) => millis_from_float(v, p)?,
                _ => None,
            });
        }
    } else {
        return exec_err!(
            "TO_TIMESTAMP_LTZ: unexpected argument type {}",
            values.data_type()
        );
    }
    Ok(out)
}

/// `FROM_UNIXTIME(seconds[, pattern]) -> STRING`, formatted in the session time zone;
/// default pattern `yyyy-MM-dd HH:mm:ss`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FromUnixtime {
    signature: Signature,
    cache: LastCache<JavaPattern>,
}

impl Default for FromUnixtime {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            cache: LastCache::new(),
        }
    }
}

impl ScalarUDFImpl for FromUnixtime {
    fn name(&self) -> &str {
        "from_unixtime"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        check_arity("FROM_UNIXTIME", t, 1, 2)?;
        let mut out = vec![coerce_integer("FROM_UNIXTIME", 1, &t[0])?];
        if let Some(p) = t.get(1) {
            out.push(coerce_string("FROM_UNIXTIME", 2, p)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        const NAME: &str = "FROM_UNIXTIME";
        let tz = session_time_zone(&args.config_options)?;
        let n = batch_len(&args.args);
        let seconds = args.args[0].to_array(n)?;
        let seconds = i64_column(NAME, &seconds)?;
        let mut pattern = PatternArg::new(NAME, args.args.get(1), &self.cache)?;
        let mut out = StringBuilder::with_capacity(n, n * 20);
        for i in 0..n {
            let utc = seconds(i).and_then(|s| DateTime::from_timestamp(s, 0));
            match (utc, pattern.get(NAME, i)?) {
                (Some(utc), Some(p)) => {
                    let local = utc_to_local(&tz, utc.naive_utc());
                    p.format_into(&mut out, &local, &tz)
                        .map_err(|_| format_error(NAME))?;
                    out.append_value("");
                }
                _ => out.append_null(),
            }
        }
        finish(&args.args, Arc::new(out.finish()))
    }
}

/// `UNIX_TIMESTAMP() -> BIGINT` (current epoch seconds) and
/// `UNIX_TIMESTAMP(string[, pattern]) -> BIGINT`, the text read as a wall-clock time in
/// the session zone; unparsable text gives NULL. Volatile because of the nullary form.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UnixTimestamp {
    signature: Signature,
    cache: LastCache<JavaPattern>,
}

impl Default for UnixTimestamp {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Volatile),
            cache: LastCache::new(),
        }
    }
}

impl ScalarUDFImpl for UnixTimestamp {
    fn name(&self) -> &str {
        "unix_timestamp"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        check_arity("UNIX_TIMESTAMP", t, 0, 2)?;
        t.iter()
            .enumerate()
            .map(|(i, t)| coerce_string("UNIX_TIMESTAMP", i + 1, t))
            .collect()
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        const NAME: &str = "UNIX_TIMESTAMP";
        if args.args.is_empty() {
            let now = Utc::now().timestamp();
            return Ok(ColumnarValue::Array(Arc::new(Int64Array::from_value(
                now,
                args.number_rows,
            ))));
        }
        let tz = session_time_zone(&args.config_options)?;
        let out = parse_each(NAME, &args.args, &self.cache, |local| {
            local_to_utc(&tz, local).and_utc().timestamp()
        })?;
        finish(&args.args, Arc::new(Int64Array::from(out)))
    }
}

/// Each string of `args[0]` parsed with the pattern of `args[1]` (the default pattern
/// when absent) and mapped by `value`; NULL for a NULL or unparsable string or pattern.
fn parse_each(
    name: &str,
    args: &[ColumnarValue],
    cache: &LastCache<JavaPattern>,
    value: impl Fn(NaiveDateTime) -> i64,
) -> Result<Vec<Option<i64>>> {
    let n = batch_len(args);
    let input = args[0].to_array(n)?;
    let text = StrColumn::try_new(name, &input)?;
    let mut pattern = PatternArg::new(name, args.get(1), cache)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let parsed = match (text.get(i), pattern.get(name, i)?) {
            (Some(s), Some(p)) => p.parse(s).map(&value),
            _ => None,
        };
        out.push(parsed);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "datetime_tests.rs"]
mod tests;
