//! Values as Flink's `CAST(x AS STRING)` writes them (the cast rules of Flink's
//! `CastRuleProvider`, Flink 1.15 and later):
//!
//! - BOOLEAN: `TRUE` / `FALSE`;
//! - integers and DECIMAL: plain digits, DECIMAL with all digits of its scale (`12.30`);
//! - FLOAT / DOUBLE: Java's `Float.toString` / `Double.toString` (`2.5`, `1.0E10`,
//!   `1.0E-5`), shared with the `print`, `json` and `csv` formats;
//! - DATE: `2024-02-29`;
//! - TIME: `10:11:12`, with the fraction only when it is not zero (Arrow's TIME types do
//!   not keep Flink's precision: 3 digits for milliseconds, 6 or 9 otherwise);
//! - TIMESTAMP(p): `2024-02-29 10:11:12` plus exactly the fraction digits of the Arrow
//!   unit that holds p (0, 3, 6 or 9: `.500` for TIMESTAMP(3));
//! - TIMESTAMP_LTZ(p): the same, of the wall-clock time in the session time zone;
//! - BYTES: the bytes decoded as UTF-8 (invalid sequences replaced);
//! - ARRAY `[1, 2]`, MAP `{a=1, b=2}`, ROW `(1, a)`, with `NULL` for null elements.
//!
//! Values are written by `weir_formats::render` in its CAST style; this module supplies
//! the temporal forms (which need the session time zone).

use std::io::Write;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{new_null_array, Array, ArrayRef, AsArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit,
};
use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::common::exec_err;
use datafusion::error::{DataFusionError, Result};
use weir_formats::render::{timestamp_values, Renderer, TemporalText, TextStyle, WriteFn};
use weir_formats::FormatError;

use crate::args::epoch_to_naive;
use crate::zone::utc_to_local;

/// `array` as a `Utf8` column of Flink's CAST-to-STRING text; NULL stays NULL.
pub(crate) fn flink_strings(array: &ArrayRef, session: &Tz) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Utf8 => return Ok(array.clone()),
        DataType::Null => return Ok(new_null_array(&DataType::Utf8, array.len())),
        DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _)
        | DataType::Date32 => return Ok(cast(array, &DataType::Utf8)?),
        _ => {}
    }
    let temporal = CastTemporal { session: *session };
    let render =
        Renderer::new(array.as_ref(), TextStyle::Cast(&temporal)).map_err(|e| match e {
            FormatError::Arrow(e) => DataFusionError::from(e),
            other => DataFusionError::External(Box::new(other)),
        })?;
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut buffer = Vec::with_capacity(64);
    for i in 0..array.len() {
        if array.is_null(i) {
            out.append_null();
            continue;
        }
        buffer.clear();
        render.write(i, &mut buffer);
        match std::str::from_utf8(&buffer) {
            Ok(text) => out.append_value(text),
            Err(e) => return exec_err!("CAST to STRING wrote invalid UTF-8: {e}"),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The temporal forms of CAST to STRING, with TIMESTAMP_LTZ in the session zone.
struct CastTemporal {
    session: Tz,
}

impl TemporalText for CastTemporal {
    fn writer<'a>(&self, array: &'a dyn Array) -> Option<WriteFn<'a>> {
        let write: WriteFn<'a> = match array.data_type() {
            DataType::Timestamp(unit, tz) => {
                timestamp_writer(array, *unit, tz.is_some(), &self.session)
            }
            DataType::Date32 => {
                let a = array.as_primitive::<Date32Type>();
                Box::new(move |i, out| {
                    let days = i64::from(a.value(i));
                    push_date(out, epoch_to_naive(days * 86_400, TimeUnit::Second));
                })
            }
            DataType::Date64 => {
                let a = array.as_primitive::<Date64Type>();
                Box::new(move |i, out| {
                    push_date(out, epoch_to_naive(a.value(i), TimeUnit::Millisecond));
                })
            }
            DataType::Time32(TimeUnit::Second) => {
                let a = array.as_primitive::<Time32SecondType>();
                Box::new(move |i, out| push_time(out, i64::from(a.value(i)) * 1_000_000_000, 0))
            }
            DataType::Time32(_) => {
                let a = array.as_primitive::<Time32MillisecondType>();
                Box::new(move |i, out| push_time(out, i64::from(a.value(i)) * 1_000_000, 3))
            }
            DataType::Time64(TimeUnit::Microsecond) => {
                let a = array.as_primitive::<Time64MicrosecondType>();
                Box::new(move |i, out| push_time(out, a.value(i) * 1_000, 6))
            }
            DataType::Time64(_) => {
                let a = array.as_primitive::<Time64NanosecondType>();
                Box::new(move |i, out| push_time(out, a.value(i), 9))
            }
            _ => return None,
        };
        Some(write)
    }
}

fn timestamp_writer<'a>(
    array: &'a dyn Array,
    unit: TimeUnit,
    ltz: bool,
    session: &Tz,
) -> WriteFn<'a> {
    let values = timestamp_values(array, unit);
    let digits = match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    };
    let session = *session;
    Box::new(move |i, out| {
        let utc = epoch_to_naive(values[i], unit);
        let local = if ltz {
            utc.map(|t| utc_to_local(&session, t))
        } else {
            utc
        };
        push_timestamp(out, local, digits);
    })
}

/// `yyyy-MM-dd HH:mm:ss` and `digits` fraction digits; `?` for an out-of-range value.
fn push_timestamp(out: &mut Vec<u8>, value: Option<NaiveDateTime>, digits: u32) {
    let Some(t) = value else {
        out.push(b'?');
        return;
    };
    push_date(out, Some(t));
    out.push(b' ');
    let nanos = i64::from(t.num_seconds_from_midnight()) * 1_000_000_000
        + i64::from(t.nanosecond() % 1_000_000_000);
    push_hms(out, nanos, digits);
}

fn push_date(out: &mut Vec<u8>, value: Option<NaiveDateTime>) {
    match value {
        Some(t) => {
            let _ = write!(out, "{:04}-{:02}-{:02}", t.year(), t.month(), t.day());
        }
        None => out.push(b'?'),
    }
}

/// `HH:mm:ss` of `nanos` since midnight, with a fraction of `digits` digits when it is
/// not zero.
fn push_time(out: &mut Vec<u8>, nanos: i64, digits: u32) {
    let digits = if nanos % 1_000_000_000 == 0 {
        0
    } else {
        digits
    };
    push_hms(out, nanos, digits);
}

/// `HH:mm:ss` of `nanos` since midnight and exactly `digits` fraction digits.
fn push_hms(out: &mut Vec<u8>, nanos: i64, digits: u32) {
    let seconds = nanos.div_euclid(1_000_000_000);
    let fraction = nanos.rem_euclid(1_000_000_000);
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if digits > 0 {
        let scaled = fraction / 10_i64.pow(9 - digits.min(9));
        let _ = write!(out, ".{:0width$}", scaled, width = digits as usize);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
        Int32Array, Int32Builder, ListArray, MapBuilder, StringArray, StringBuilder, StructArray,
        Time32MillisecondArray, TimestampMicrosecondArray, TimestampMillisecondArray,
        TimestampSecondArray,
    };
    use arrow::datatypes::{Field, Int32Type};

    use super::*;
    use crate::zone::utc;

    fn strings(array: ArrayRef, zone: &Tz) -> Vec<Option<String>> {
        let out = flink_strings(&array, zone).expect("cast to string");
        out.as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    fn texts(array: ArrayRef) -> Vec<String> {
        strings(array, &utc())
            .into_iter()
            .map(|v| v.unwrap_or_else(|| "<null>".into()))
            .collect()
    }

    #[test]
    fn scalars_like_flink() {
        let b = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
        assert_eq!(texts(b), ["TRUE", "FALSE", "<null>"]);
        let d = Arc::new(Float64Array::from(vec![1e10, 0.5, 1e-5, 100.0, 2.5]));
        assert_eq!(texts(d), ["1.0E10", "0.5", "1.0E-5", "100.0", "2.5"]);
        let f = Arc::new(Float32Array::from(vec![0.1f32, 1e7]));
        assert_eq!(texts(f), ["0.1", "1.0E7"]);
        let m = Decimal128Array::from(vec![1230, -5])
            .with_precision_and_scale(4, 2)
            .expect("valid decimal");
        assert_eq!(texts(Arc::new(m)), ["12.30", "-0.05"]);
        let n = Arc::new(Int32Array::from(vec![-7]));
        assert_eq!(texts(n), ["-7"]);
        let d = Arc::new(Date32Array::from(vec![19_782, 0]));
        assert_eq!(texts(d), ["2024-02-29", "1970-01-01"]);
        let t = Arc::new(Time32MillisecondArray::from(vec![36_672_000, 36_672_500]));
        assert_eq!(texts(t), ["10:11:12", "10:11:12.500"]);
        let bytes = Arc::new(BinaryArray::from(vec![&b"hi"[..]]));
        assert_eq!(texts(bytes), ["hi"]);
    }

    #[test]
    fn timestamps_with_the_digits_of_their_precision() {
        let ms = Arc::new(TimestampMillisecondArray::from(vec![
            1_709_201_472_500,
            915_148_800_000,
        ]));
        assert_eq!(
            texts(ms),
            ["2024-02-29 10:11:12.500", "1999-01-01 00:00:00.000"]
        );
        let s = Arc::new(TimestampSecondArray::from(vec![1_709_201_472]));
        assert_eq!(texts(s), ["2024-02-29 10:11:12"]);
        let us = Arc::new(TimestampMicrosecondArray::from(vec![1_709_201_472_000_001]));
        assert_eq!(texts(us), ["2024-02-29 10:11:12.000001"]);
        let before_epoch = Arc::new(TimestampMillisecondArray::from(vec![-1]));
        assert_eq!(texts(before_epoch), ["1969-12-31 23:59:59.999"]);
    }

    #[test]
    fn ltz_in_the_session_zone() {
        let ltz: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![0]).with_timezone("UTC"));
        let shanghai: Tz = "Asia/Shanghai".parse().expect("known zone");
        assert_eq!(
            strings(ltz.clone(), &shanghai),
            [Some("1970-01-01 08:00:00.000".to_string())]
        );
        assert_eq!(texts(ltz), ["1970-01-01 00:00:00.000"]);
    }

    #[test]
    fn nested_values() {
        let list = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            Some(vec![]),
        ]));
        assert_eq!(texts(list), ["[1, NULL]", "[]"]);
        let mut map = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        map.keys().append_value("a");
        map.values().append_value(1);
        map.keys().append_value("b");
        map.values().append_null();
        map.append(true).expect("map entry");
        assert_eq!(texts(Arc::new(map.finish())), ["{a=1, b=NULL}"]);
        let row = Arc::new(StructArray::from(vec![
            (
                Arc::new(Field::new("x", DataType::Boolean, true)),
                Arc::new(BooleanArray::from(vec![Some(true), None])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("y", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec!["p", "q"])) as ArrayRef,
            ),
        ]));
        assert_eq!(texts(row), ["(TRUE, p)", "(NULL, q)"]);
    }
}
