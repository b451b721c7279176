//! Temporal values as text, the way Flink writes them.
//!
//! Two families of forms:
//! - Flink's format forms ([`Style::Flink`], used by `json`, `csv`, `debezium-json`):
//!   `2024-01-01 10:00:00.123` (`SQL`) or `2024-01-01T10:00:00.123` (`ISO-8601`); the
//!   fraction has as many digits as needed (none when zero), seconds are always written;
//!   TIMESTAMP_LTZ ends with `Z`; TIME is `10:00:00[.fff]`.
//! - Java's `toString` forms ([`Style::Java`], used by `print`): `LocalDateTime`
//!   (`2024-01-01T10:00`, seconds only when non-zero, fraction in groups of 3 digits),
//!   `Instant` for TIMESTAMP_LTZ (`2024-01-01T10:00:00Z`), `LocalTime`, `LocalDate`.

use arrow::array::{Array, AsArray, StringBuilder};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit,
};

use crate::options::TimestampStandard;
use crate::render::timestamp_values;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Which text forms to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Flink's format forms, with the timestamp standard.
    Flink(TimestampStandard),
    /// Java's `toString` forms (Flink's `print` connector).
    Java,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Timestamp { ltz: bool },
    Date,
    Time,
}

/// A temporal column ready to be written value by value.
pub(crate) struct TemporalColumn<'a> {
    kind: Kind,
    values: Values<'a>,
    /// Multiplier to nanoseconds (timestamps, times) or milliseconds per day (Date64).
    scale: i64,
    style: Style,
}

enum Values<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl<'a> TemporalColumn<'a> {
    /// The column, if `array` is a timestamp, date or time column.
    pub(crate) fn new(array: &'a dyn Array, style: Style) -> Option<TemporalColumn<'a>> {
        let unit_scale = |unit: &TimeUnit| match unit {
            TimeUnit::Second => NANOS_PER_SECOND,
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1,
        };
        let (kind, values, scale) = match array.data_type() {
            DataType::Timestamp(unit, tz) => {
                let values = timestamp_values(array, *unit);
                let kind = Kind::Timestamp { ltz: tz.is_some() };
                (kind, Values::I64(values), unit_scale(unit))
            }
            DataType::Date32 => (
                Kind::Date,
                Values::I32(array.as_primitive::<Date32Type>().values()),
                1,
            ),
            DataType::Date64 => (
                Kind::Date,
                Values::I64(array.as_primitive::<Date64Type>().values()),
                SECONDS_PER_DAY * 1000,
            ),
            DataType::Time32(TimeUnit::Second) => (
                Kind::Time,
                Values::I32(array.as_primitive::<Time32SecondType>().values()),
                NANOS_PER_SECOND,
            ),
            DataType::Time32(TimeUnit::Millisecond) => (
                Kind::Time,
                Values::I32(array.as_primitive::<Time32MillisecondType>().values()),
                1_000_000,
            ),
            DataType::Time64(TimeUnit::Microsecond) => (
                Kind::Time,
                Values::I64(array.as_primitive::<Time64MicrosecondType>().values()),
                1_000,
            ),
            DataType::Time64(TimeUnit::Nanosecond) => (
                Kind::Time,
                Values::I64(array.as_primitive::<Time64NanosecondType>().values()),
                1,
            ),
            _ => return None,
        };
        Some(TemporalColumn {
            kind,
            values,
            scale,
            style,
        })
    }

    /// Writes the (non-null) value at `row`, without quotes.
    pub(crate) fn write(&self, row: usize, out: &mut Vec<u8>) {
        let raw = match self.values {
            Values::I32(v) => i64::from(v[row]),
            Values::I64(v) => v[row],
        };
        match self.kind {
            Kind::Date => push_date(out, raw.div_euclid(self.scale)),
            Kind::Time => {
                let nanos = raw.saturating_mul(self.scale);
                push_time(
                    out,
                    nanos.rem_euclid(SECONDS_PER_DAY * NANOS_PER_SECOND),
                    self.style,
                );
            }
            Kind::Timestamp { ltz } => {
                // Split before scaling: nanoseconds of a far date overflow an i64.
                let per_second = NANOS_PER_SECOND / self.scale;
                let seconds = raw.div_euclid(per_second);
                let nanos = raw.rem_euclid(per_second) * self.scale;
                let days = seconds.div_euclid(SECONDS_PER_DAY);
                let nanos_of_day = seconds.rem_euclid(SECONDS_PER_DAY) * NANOS_PER_SECOND + nanos;
                push_date(out, days);
                match self.style {
                    Style::Flink(TimestampStandard::Sql) => out.push(b' '),
                    Style::Flink(TimestampStandard::Iso8601) | Style::Java => out.push(b'T'),
                }
                if ltz && self.style == Style::Java {
                    // Java's Instant.toString always writes the seconds.
                    push_hms(out, nanos_of_day);
                    push_fraction_groups(out, nanos_of_day % NANOS_PER_SECOND);
                } else {
                    push_time(out, nanos_of_day, self.style);
                }
                if ltz {
                    out.push(b'Z');
                }
            }
        }
    }
}

/// The values of a temporal column as strings in `style`; `None` for other columns.
pub(crate) fn temporal_strings(
    array: &dyn Array,
    style: Style,
) -> Option<arrow::array::StringArray> {
    let column = TemporalColumn::new(array, style)?;
    let mut builder = StringBuilder::with_capacity(array.len(), array.len() * 24);
    let mut buf = Vec::with_capacity(32);
    for row in 0..array.len() {
        if array.is_null(row) {
            builder.append_null();
        } else {
            buf.clear();
            column.write(row, &mut buf);
            // Only ASCII digits and separators were written.
            builder.append_value(String::from_utf8_lossy(&buf));
        }
    }
    Some(builder.finish())
}

/// `yyyy-MM-dd`, with Java's sign and width rules outside years 0..=9999.
fn push_date(out: &mut Vec<u8>, days: i64) {
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        out.push(b'+');
        push_number(out, year as u64, 4);
    } else if year < 0 {
        out.push(b'-');
        push_number(out, year.unsigned_abs(), 4);
    } else {
        push_number(out, year as u64, 4);
    }
    out.push(b'-');
    push_number(out, u64::from(month), 2);
    out.push(b'-');
    push_number(out, u64::from(day), 2);
}

/// A time of day: `HH:mm:ss[.f]` in Flink's forms, `LocalTime.toString` in Java's.
fn push_time(out: &mut Vec<u8>, nanos_of_day: i64, style: Style) {
    let fraction = nanos_of_day % NANOS_PER_SECOND;
    match style {
        Style::Flink(_) => {
            push_hms(out, nanos_of_day);
            if fraction != 0 {
                let mut digits = [0u8; 9];
                let mut f = fraction;
                for d in digits.iter_mut().rev() {
                    *d = b'0' + (f % 10) as u8;
                    f /= 10;
                }
                let len = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
                out.push(b'.');
                out.extend_from_slice(&digits[..len]);
            }
        }
        Style::Java => {
            let seconds = nanos_of_day / NANOS_PER_SECOND;
            push_number(out, (seconds / 3600) as u64, 2);
            out.push(b':');
            push_number(out, (seconds / 60 % 60) as u64, 2);
            if seconds % 60 != 0 || fraction != 0 {
                out.push(b':');
                push_number(out, (seconds % 60) as u64, 2);
                push_fraction_groups(out, fraction);
            }
        }
    }
}

fn push_hms(out: &mut Vec<u8>, nanos_of_day: i64) {
    let seconds = nanos_of_day / NANOS_PER_SECOND;
    push_number(out, (seconds / 3600) as u64, 2);
    out.push(b':');
    push_number(out, (seconds / 60 % 60) as u64, 2);
    out.push(b':');
    push_number(out, (seconds % 60) as u64, 2);
}

/// Java's fraction: none when zero, else 3, 6 or 9 digits.
fn push_fraction_groups(out: &mut Vec<u8>, nanos: i64) {
    if nanos == 0 {
        return;
    }
    out.push(b'.');
    if nanos % 1_000_000 == 0 {
        push_number(out, (nanos / 1_000_000) as u64, 3);
    } else if nanos % 1_000 == 0 {
        push_number(out, (nanos / 1_000) as u64, 6);
    } else {
        push_number(out, nanos as u64, 9);
    }
}

fn push_number(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut v = value;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        v /= 10;
        len += 1;
        if v == 0 {
            break;
        }
    }
    for _ in len..width {
        out.push(b'0');
    }
    out.extend(digits[..len].iter().rev());
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Date32Array, Time32SecondArray, Time64MicrosecondArray,
        TimestampMillisecondArray, TimestampNanosecondArray,
    };

    use super::*;

    fn texts(array: ArrayRef, style: Style) -> Vec<Option<String>> {
        temporal_strings(&array, style)
            .unwrap()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect()
    }

    const SQL: Style = Style::Flink(TimestampStandard::Sql);
    const ISO: Style = Style::Flink(TimestampStandard::Iso8601);

    #[test]
    fn timestamps_in_flink_and_java_forms() {
        // 2024-01-01 10:00:00.000, .120, 10:00:05, and 1969-12-31 23:59:59.999
        let ms = [1_704_103_200_000, 1_704_103_200_120, 1_704_103_205_000, -1];
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(ms.to_vec()));
        let t = |s: &str| Some(s.to_string());
        assert_eq!(
            texts(ts.clone(), SQL),
            vec![
                t("2024-01-01 10:00:00"),
                t("2024-01-01 10:00:00.12"),
                t("2024-01-01 10:00:05"),
                t("1969-12-31 23:59:59.999")
            ]
        );
        assert_eq!(texts(ts.clone(), ISO)[1], t("2024-01-01T10:00:00.12"));
        assert_eq!(
            texts(ts, Style::Java),
            vec![
                t("2024-01-01T10:00"),
                t("2024-01-01T10:00:00.120"),
                t("2024-01-01T10:00:05"),
                t("1969-12-31T23:59:59.999")
            ]
        );
        let ltz: ArrayRef =
            Arc::new(TimestampMillisecondArray::from(ms.to_vec()).with_timezone("UTC"));
        assert_eq!(texts(ltz.clone(), SQL)[0], t("2024-01-01 10:00:00Z"));
        assert_eq!(texts(ltz.clone(), ISO)[1], t("2024-01-01T10:00:00.12Z"));
        assert_eq!(
            texts(ltz.clone(), Style::Java)[0],
            t("2024-01-01T10:00:00Z")
        );
        assert_eq!(texts(ltz, Style::Java)[1], t("2024-01-01T10:00:00.120Z"));
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![Some(1_500), None]));
        assert_eq!(
            texts(ns, Style::Java),
            vec![t("1970-01-01T00:00:00.000001500"), None]
        );
    }

    #[test]
    fn dates_and_times() {
        let d: ArrayRef = Arc::new(Date32Array::from(vec![19_723, -1, 3_000_000]));
        let t = |s: &str| Some(s.to_string());
        assert_eq!(
            texts(d, SQL),
            vec![t("2024-01-01"), t("1969-12-31"), t("+10183-09-21")]
        );
        let secs: ArrayRef = Arc::new(Time32SecondArray::from(vec![36_000, 36_005]));
        assert_eq!(texts(secs.clone(), SQL), vec![t("10:00:00"), t("10:00:05")]);
        assert_eq!(texts(secs, Style::Java), vec![t("10:00"), t("10:00:05")]);
        let micros: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![36_000_000_250]));
        assert_eq!(texts(micros.clone(), SQL), vec![t("10:00:00.00025")]);
        assert_eq!(texts(micros, Style::Java), vec![t("10:00:00.000250")]);
    }
}
