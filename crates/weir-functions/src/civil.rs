//! Calendar fields of epoch-based timestamps by integer arithmetic (no chrono per row).
//!
//! [`Civil`] is a broken-down wall-clock date-time (year, month, day, hour, minute,
//! second, nanoseconds). [`Civil::from_epoch`] computes it from an offset from the Unix
//! epoch with Howard Hinnant's `civil_from_days` algorithm (proleptic Gregorian calendar,
//! the calendar chrono and Java's `java.time` use), for years 0000 to 9999; other values
//! give `None`, so that callers fall back to chrono and keep its results (and its range)
//! exactly. The tests compare every field with chrono's over a wide set of instants.

use arrow::datatypes::TimeUnit;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Seconds from the epoch of 0000-01-01T00:00:00.
const MIN_SECONDS: i64 = -62_167_219_200;
/// Seconds from the epoch of 10000-01-01T00:00:00 (exclusive bound).
const END_SECONDS: i64 = 253_402_300_800;
const SECONDS_PER_DAY: i64 = 86_400;

/// A wall-clock date-time split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i32,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) nanos: u32,
}

impl Civil {
    /// The fields of `value`, an offset from the epoch in `unit` read as a wall-clock time
    /// (UTC); `None` outside years 0000-9999.
    #[inline]
    pub(crate) fn from_epoch(value: i64, unit: TimeUnit) -> Option<Self> {
        let (per_second, nanos_per_unit) = match unit {
            TimeUnit::Second => (1, 1_000_000_000),
            TimeUnit::Millisecond => (1_000, 1_000_000),
            TimeUnit::Microsecond => (1_000_000, 1_000),
            TimeUnit::Nanosecond => (1_000_000_000, 1),
        };
        let seconds = value.div_euclid(per_second);
        if !(MIN_SECONDS..END_SECONDS).contains(&seconds) {
            return None;
        }
        // In range: every cast below is of a small non-negative number.
        let nanos = (value.rem_euclid(per_second) * nanos_per_unit) as u32;
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Some(Self {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            nanos,
        })
    }

    /// The fields of a chrono date-time.
    pub(crate) fn from_naive(dt: &NaiveDateTime) -> Self {
        Self {
            year: dt.year(),
            month: dt.month(),
            day: dt.day(),
            hour: dt.hour(),
            minute: dt.minute(),
            second: dt.second(),
            nanos: dt.nanosecond(),
        }
    }

    /// Back to chrono (for the fields chrono computes, e.g. ISO weeks).
    pub(crate) fn to_naive(self) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)?.and_hms_nano_opt(
            self.hour,
            self.minute,
            self.second,
            self.nanos,
        )
    }

    /// Day of the week, 1 = Sunday ... 7 = Saturday.
    pub(crate) fn weekday_from_sunday(self) -> u32 {
        // Days since the epoch (a Thursday) modulo 7.
        let days = days_from_civil(self.year, self.month, self.day);
        (days + 4).rem_euclid(7) as u32 + 1
    }
}

/// Year, month (1-12) and day (1-31) of `days` since 1970-01-01.
#[inline]
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::epoch_to_naive;

    /// Instants around the epoch, leap days, century rules and the range ends.
    fn samples() -> Vec<i64> {
        let mut v: Vec<i64> = vec![
            0,
            -1,
            1,
            86_399_999,
            86_400_000,
            -86_400_000,
            -86_400_001,
            951_782_400_000,    // 2000-02-29
            951_868_799_999,    // 2000-02-29 23:59:59.999
            4_107_542_400_000,  // 2100-03-01
            -2_203_891_200_000, // 1900-03-01
            -62_167_219_200_000,
            -62_167_219_200_001,
            253_402_300_799_999,
            253_402_300_800_000,
            1_704_164_645_678,
        ];
        // A walk over 0000-9999 with a step that is not a divisor of a day.
        let mut t = -62_167_219_200_000_i64;
        while t < 253_402_300_800_000 {
            v.push(t);
            t += 7_777_777_777_777 / 1000;
        }
        v
    }

    #[test]
    fn fields_match_chrono() {
        for ms in samples() {
            let fast = Civil::from_epoch(ms, TimeUnit::Millisecond);
            let slow = epoch_to_naive(ms, TimeUnit::Millisecond)
                .filter(|d| (0..=9999).contains(&d.year()))
                .map(|d| Civil::from_naive(&d));
            assert_eq!(fast, slow, "{ms}");
            if let Some(c) = fast {
                let naive = c.to_naive().expect("valid civil");
                assert_eq!(
                    c.weekday_from_sunday(),
                    naive.weekday().number_from_sunday(),
                    "{ms}"
                );
            }
        }
    }

    #[test]
    fn units() {
        let expected = Civil {
            year: 2024,
            month: 1,
            day: 2,
            hour: 3,
            minute: 4,
            second: 5,
            nanos: 678_000_000,
        };
        assert_eq!(
            Civil::from_epoch(1_704_164_645_678, TimeUnit::Millisecond),
            Some(expected)
        );
        assert_eq!(
            Civil::from_epoch(1_704_164_645_678_000, TimeUnit::Microsecond),
            Some(expected)
        );
        assert_eq!(
            Civil::from_epoch(1_704_164_645_678_000_001, TimeUnit::Nanosecond),
            Some(Civil {
                nanos: 678_000_001,
                ..expected
            })
        );
        assert_eq!(
            Civil::from_epoch(1_704_164_645, TimeUnit::Second),
            Some(Civil {
                nanos: 0,
                ..expected
            })
        );
        // 1969-12-31 23:59:59.999
        assert_eq!(
            Civil::from_epoch(-1, TimeUnit::Millisecond),
            Some(Civil {
                year: 1969,
                month: 12,
                day: 31,
                hour: 23,
                minute: 59,
                second: 59,
                nanos: 999_000_000
            })
        );
        assert_eq!(Civil::from_epoch(i64::MAX, TimeUnit::Millisecond), None);
        assert_eq!(Civil::from_epoch(i64::MIN, TimeUnit::Second), None);
    }
}
