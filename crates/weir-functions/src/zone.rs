//! Session time zone handling: reading `datafusion.execution.time_zone` and converting
//! between UTC instants and wall-clock (local) date-times in that zone.

use arrow::array::timezone::Tz;
use chrono::{Duration, NaiveDateTime, Offset, TimeZone};
use datafusion::common::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};

/// The session time zone of `config` (`datafusion.execution.time_zone`).
///
/// Accepts IANA names (`Asia/Shanghai`), fixed offsets (`+08:00`) and `UTC`; an unset or
/// empty setting means UTC. Functions that depend on the local time zone (`FROM_UNIXTIME`,
/// `UNIX_TIMESTAMP(string)`, `LOCALTIMESTAMP`, rendering of `TIMESTAMP_LTZ` values) use it.
pub fn session_time_zone(config: &ConfigOptions) -> Result<Tz> {
    match config.execution.time_zone.as_deref().map(str::trim) {
        None | Some("") => Ok(utc()),
        Some(name) => name.parse::<Tz>().map_err(|e| {
            DataFusionError::Configuration(format!("invalid session time zone '{name}': {e}"))
        }),
    }
}

/// The UTC zone.
pub(crate) fn utc() -> Tz {
    // "+00:00" is always accepted by the fixed-offset parser.
    "+00:00"
        .parse::<Tz>()
        .unwrap_or_else(|_| unreachable!("+00:00 is a valid fixed offset"))
}

/// Wall-clock time in `tz` of the UTC instant `utc`.
pub(crate) fn utc_to_local(tz: &Tz, utc: NaiveDateTime) -> NaiveDateTime {
    let offset = tz.offset_from_utc_datetime(&utc).fix();
    utc + Duration::seconds(i64::from(offset.local_minus_utc()))
}

/// The UTC instant of the wall-clock time `local` in `tz`.
///
/// Like Java's `LocalDateTime.atZone`: an ambiguous time (DST fall-back) takes the earlier
/// offset, a time inside a gap (DST spring-forward) is shifted forward by the gap length.
pub(crate) fn local_to_utc(tz: &Tz, local: NaiveDateTime) -> NaiveDateTime {
    let offset = match tz.offset_from_local_datetime(&local).earliest() {
        Some(offset) => offset.fix(),
        // In a gap: use the offset in force just before it.
        None => tz
            .offset_from_utc_datetime(&(local - Duration::days(1)))
            .fix(),
    };
    local - Duration::seconds(i64::from(offset.local_minus_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .expect("valid test date")
    }

    fn config(tz: Option<&str>) -> ConfigOptions {
        let mut c = ConfigOptions::new();
        c.execution.time_zone = tz.map(str::to_owned);
        c
    }

    #[test]
    fn parses_session_zone() -> Result<()> {
        let local = dt(2024, 1, 2, 3, 4);
        for (name, hours) in [(None, 0), (Some("UTC"), 0), (Some("+08:00"), 8)] {
            let tz = session_time_zone(&config(name))?;
            assert_eq!(utc_to_local(&tz, local), local + Duration::hours(hours));
        }
        let shanghai = session_time_zone(&config(Some("Asia/Shanghai")))?;
        assert_eq!(local_to_utc(&shanghai, local), local - Duration::hours(8));
        assert!(session_time_zone(&config(Some("Mars/Olympus"))).is_err());
        Ok(())
    }

    #[test]
    fn dst_gap_and_overlap() -> Result<()> {
        let berlin = session_time_zone(&config(Some("Europe/Berlin")))?;
        // 2024-03-31 02:30 does not exist in Berlin: shifted to 03:30 CEST = 01:30 UTC.
        assert_eq!(
            local_to_utc(&berlin, dt(2024, 3, 31, 2, 30)),
            dt(2024, 3, 31, 1, 30)
        );
        // 2024-10-27 02:30 happens twice: the earlier (CEST) one is 00:30 UTC.
        assert_eq!(
            local_to_utc(&berlin, dt(2024, 10, 27, 2, 30)),
            dt(2024, 10, 27, 0, 30)
        );
        Ok(())
    }
}
