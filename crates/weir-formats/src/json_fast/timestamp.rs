//! Timestamps in their common text forms, read without chrono: `yyyy-MM-dd HH:mm:ss`,
//! with a `T` in place of the space, an optional fraction of 1 to 9 digits and an
//! optional `Z`, the forms Flink writes. Any other form (offsets, dates alone, leap
//! seconds) is left to arrow's `string_to_datetime`, which the caller then uses, so the
//! results are always arrow-json's.

use arrow::datatypes::TimeUnit;

/// The instant of a UTC timestamp text in the common form: seconds since the epoch and
/// nanoseconds, or `None` for any other form or an invalid date or time.
pub(crate) fn parse_utc(text: &[u8]) -> Option<(i64, u32)> {
    if text.len() < 19 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &b in &text[range] {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
        }
        Some(v)
    };
    if text[4] != b'-'
        || text[7] != b'-'
        || !matches!(text[10], b' ' | b'T')
        || text[13] != b':'
        || text[16] != b':'
    {
        return None;
    }
    let year = digits(0..4)?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    let hour = digits(11..13)?;
    let minute = digits(14..16)?;
    let second = digits(17..19)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some((b'.', tail)) = rest.split_first() {
        let n = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(20..20 + n)? * 10u32.pow(9 - n as u32);
        rest = &tail[n..];
    }
    if rest == b"Z" {
        rest = &[];
    }
    if !rest.is_empty() {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some((seconds, nanos))
}

/// The value of an instant in `unit` (fractions truncated, as chrono's `timestamp_millis`
/// and friends do), or `None` when it does not fit an i64.
pub(crate) fn in_unit(seconds: i64, nanos: u32, unit: TimeUnit) -> Option<i64> {
    let nanos = i64::from(nanos);
    match unit {
        TimeUnit::Second => Some(seconds),
        TimeUnit::Millisecond => Some(seconds * 1_000 + nanos / 1_000_000),
        TimeUnit::Microsecond => Some(seconds * 1_000_000 + nanos / 1_000),
        TimeUnit::Nanosecond => seconds.checked_mul(1_000_000_000)?.checked_add(nanos),
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_forms() {
        // 2024-01-01T10:00:00Z is 1_704_103_200 s after the epoch.
        assert_eq!(parse_utc(b"2024-01-01 10:00:00"), Some((1_704_103_200, 0)));
        assert_eq!(
            parse_utc(b"2024-01-01T10:00:00.123Z"),
            Some((1_704_103_200, 123_000_000))
        );
        assert_eq!(
            parse_utc(b"2024-01-01 10:00:00.5"),
            Some((1_704_103_200, 500_000_000))
        );
        assert_eq!(parse_utc(b"1970-01-01 00:00:00.000000001"), Some((0, 1)));
        assert_eq!(parse_utc(b"1969-12-31 23:59:59.9"), Some((-1, 900_000_000)));
        assert_eq!(parse_utc(b"2000-02-29 00:00:00"), Some((951_782_400, 0)));
        assert_eq!(in_unit(-1, 900_000_000, TimeUnit::Millisecond), Some(-100));
    }

    #[test]
    fn other_forms_are_left_to_arrow() {
        for text in [
            &b"2024-01-01"[..],
            b"2024-01-01 10:00:00+01:00",
            b"2024-01-01 10:00:00.",
            b"2024-01-01 10:00:00.1234567891",
            b"2024-01-01t10:00:00",
            b"2023-02-29 00:00:00",
            b"2024-01-01 24:00:00",
            b"2024-01-01 10:00:60",
            b"2024-13-01 10:00:00",
        ] {
            assert_eq!(parse_utc(text), None, "{}", String::from_utf8_lossy(text));
        }
    }
}
