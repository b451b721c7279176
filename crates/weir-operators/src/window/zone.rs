//! Windows over a `TIMESTAMP_LTZ` time attribute in a session time zone other than UTC
//! (Flink's "shift time zone"): windows are aligned to the wall clock of the zone, so
//! their bounds are local date-times (`window_start` and `window_end` are
//! `TIMESTAMP(3)`), while the rows' times and the watermarks are UTC instants. The
//! window functions convert a row's instant to local time before assigning its slice,
//! and a window operator converts each watermark the same way before firing: a window
//! `[start, end)` of local time fires when the watermark passes the instant of its end.

use arrow::array::temporal_conversions::as_datetime_with_timezone;
use arrow::array::timezone::Tz;
use arrow::datatypes::TimestampMillisecondType;
use weir_types::{EngineError, EngineResult, Watermark};

/// A session time zone that windows are aligned in.
#[derive(Debug, Clone, Copy)]
pub struct TimeShift {
    tz: Tz,
}

/// Whether `name` is a name of UTC, in which windows need no shift.
pub fn is_utc(name: &str) -> bool {
    matches!(
        name.trim(),
        "" | "UTC" | "utc" | "Z" | "+00:00" | "-00:00" | "+00" | "+0000" | "Etc/UTC" | "GMT"
    )
}

impl TimeShift {
    /// The shift of the zone `name` (an IANA name such as `Asia/Shanghai` or a fixed
    /// offset such as `+08:00`); `None` for UTC.
    pub fn new(name: &str) -> EngineResult<Option<TimeShift>> {
        if is_utc(name) {
            return Ok(None);
        }
        let tz = name.parse::<Tz>().map_err(|e| {
            EngineError::Config(format!(
                "the time zone '{name}' of a TIMESTAMP_LTZ window time attribute is not valid: {e}"
            ))
        })?;
        Ok(Some(TimeShift { tz }))
    }

    /// Milliseconds of the local wall-clock time of the UTC instant `utc` (epoch
    /// milliseconds), as a `TIMESTAMP` holds it. Values beyond the calendar's range
    /// (such as the end-of-input watermark) are returned as they are.
    pub fn to_local(&self, utc: i64) -> i64 {
        as_datetime_with_timezone::<TimestampMillisecondType>(utc, self.tz)
            .map_or(utc, |d| d.naive_local().and_utc().timestamp_millis())
    }

    /// A window operator's watermark, in the windows' time: `watermark` (UTC) as local
    /// time when the windows follow the session zone (`shift`), as it is otherwise.
    pub fn watermark_in(shift: Option<&TimeShift>, watermark: Watermark) -> i64 {
        match shift {
            Some(shift) => shift.to_local(watermark.millis()),
            None => watermark.millis(),
        }
    }

    /// The UTC instant of the local wall-clock time `local` (Flink's
    /// `toUtcTimestampMills`): a time repeated by a DST fall-back takes the earlier
    /// instant, a time skipped by a DST spring-forward is read with the offset before
    /// the gap.
    pub fn to_utc(&self, local: i64) -> i64 {
        let offset = |utc: i64| self.to_local(utc).saturating_sub(utc);
        // The offset in force just before `local` read as UTC, then at the instant it
        // gives: exact outside the hours around a transition.
        let before = local.saturating_sub(offset(local.saturating_sub(86_400_000)));
        let guess = local.saturating_sub(offset(before));
        if self.to_local(guess) == local {
            // Of two instants with this wall-clock time, the earlier one.
            let earlier = local.saturating_sub(offset(guess.saturating_sub(3_600_000)));
            if earlier < guess && self.to_local(earlier) == local {
                return earlier;
            }
            return guess;
        }
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn fixed_offsets_and_utc() {
        assert!(TimeShift::new("UTC").unwrap().is_none());
        assert!(TimeShift::new("+00:00").unwrap().is_none());
        assert!(TimeShift::new("Mars/Olympus").is_err());
        let plus8 = TimeShift::new("+08:00").unwrap().unwrap();
        assert_eq!(plus8.to_local(0), 8 * HOUR);
        assert_eq!(plus8.to_utc(8 * HOUR), 0);
        let shanghai = TimeShift::new("Asia/Shanghai").unwrap().unwrap();
        // 2024-01-01T00:00:00Z is 08:00 in Shanghai.
        assert_eq!(
            shanghai.to_local(1_704_067_200_000),
            1_704_067_200_000 + 8 * HOUR
        );
        assert_eq!(
            shanghai.to_utc(1_704_067_200_000 + 8 * HOUR),
            1_704_067_200_000
        );
        assert_eq!(shanghai.to_local(i64::MAX), i64::MAX);
    }

    #[test]
    fn daylight_saving_transitions() {
        let berlin = TimeShift::new("Europe/Berlin").unwrap().unwrap();
        // 2024-03-31 01:00Z: clocks go from 02:00 CET to 03:00 CEST.
        let spring = 1_711_846_800_000;
        assert_eq!(berlin.to_local(spring - 1), spring + HOUR - 1);
        assert_eq!(berlin.to_local(spring), spring + 2 * HOUR);
        // 02:30 local does not exist: read with the offset before the gap (+1 h).
        assert_eq!(berlin.to_utc(spring + HOUR + HOUR / 2), spring + HOUR / 2);
        // 2024-10-27 01:00Z: clocks go from 03:00 CEST back to 02:00 CET; 02:30 local
        // happens at 00:30Z and 01:30Z, the earlier is taken.
        let fall = 1_729_990_800_000;
        assert_eq!(berlin.to_local(fall - HOUR / 2), fall + HOUR + HOUR / 2);
        assert_eq!(berlin.to_local(fall + HOUR / 2), fall + HOUR + HOUR / 2);
        assert_eq!(berlin.to_utc(fall + HOUR + HOUR / 2), fall - HOUR / 2);
        // A summer time and a winter time.
        assert_eq!(berlin.to_utc(spring + 10 * HOUR), spring + 8 * HOUR);
        assert_eq!(berlin.to_utc(fall + 10 * HOUR), fall + 9 * HOUR);
    }
}
