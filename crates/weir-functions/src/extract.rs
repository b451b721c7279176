//! Calendar field extraction: `YEAR`, `QUARTER`, `MONTH`, `WEEK`, `DAYOFYEAR`,
//! `DAYOFMONTH`, `DAYOFWEEK`, `HOUR`, `MINUTE`, `SECOND`, each `-> BIGINT`.
//!
//! Arguments may be timestamps of any unit (zoned ones are read in the session zone),
//! dates, or strings in the default `yyyy-MM-dd HH:mm:ss` format.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use chrono::Datelike;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{batch_len, check_arity, coerce_datetime, finish, DateTimeColumn};
use crate::civil::Civil;
use crate::zone::session_time_zone;

/// Which calendar field a [`DatePart`] extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateField {
    /// Year, e.g. 2024.
    Year,
    /// Quarter 1-4.
    Quarter,
    /// Month 1-12.
    Month,
    /// ISO-8601 week of year 1-53.
    Week,
    /// Day of year 1-366.
    DayOfYear,
    /// Day of month 1-31.
    DayOfMonth,
    /// Day of week, 1 = Sunday ... 7 = Saturday.
    DayOfWeek,
    /// Hour 0-23.
    Hour,
    /// Minute 0-59.
    Minute,
    /// Second 0-59.
    Second,
}

impl DateField {
    /// Every field, in the order above.
    pub const ALL: [DateField; 10] = [
        DateField::Year,
        DateField::Quarter,
        DateField::Month,
        DateField::Week,
        DateField::DayOfYear,
        DateField::DayOfMonth,
        DateField::DayOfWeek,
        DateField::Hour,
        DateField::Minute,
        DateField::Second,
    ];

    /// The SQL function name (lowercase, as registered).
    pub fn function_name(self) -> &'static str {
        match self {
            DateField::Year => "year",
            DateField::Quarter => "quarter",
            DateField::Month => "month",
            DateField::Week => "week",
            DateField::DayOfYear => "dayofyear",
            DateField::DayOfMonth => "dayofmonth",
            DateField::DayOfWeek => "dayofweek",
            DateField::Hour => "hour",
            DateField::Minute => "minute",
            DateField::Second => "second",
        }
    }

    /// The field of `c`; ISO weeks and days of the year are computed by chrono.
    #[inline]
    fn of(self, c: Civil) -> Option<i64> {
        Some(match self {
            DateField::Year => i64::from(c.year),
            DateField::Quarter => i64::from((c.month - 1) / 3 + 1),
            DateField::Month => i64::from(c.month),
            DateField::Week => i64::from(c.to_naive()?.iso_week().week()),
            DateField::DayOfYear => i64::from(c.to_naive()?.ordinal()),
            DateField::DayOfMonth => i64::from(c.day),
            DateField::DayOfWeek => i64::from(c.weekday_from_sunday()),
            DateField::Hour => i64::from(c.hour),
            DateField::Minute => i64::from(c.minute),
            DateField::Second => i64::from(c.second),
        })
    }
}

/// `FIELD(timestamp | date | string) -> BIGINT` for one calendar [`DateField`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DatePart {
    field: DateField,
    signature: Signature,
}

impl DatePart {
    /// The extraction function for `field`.
    pub fn new(field: DateField) -> Self {
        Self {
            field,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl DatePart {
    /// `HOUR`, `MINUTE` or `SECOND` of a TIMESTAMP column (no zone) by integer
    /// arithmetic on its values, vectorised; `None` for other fields and types, which
    /// go through the calendar.
    fn time_of_day(&self, input: &ArrayRef) -> Option<Int64Array> {
        let DataType::Timestamp(unit, None) = input.data_type() else {
            return None;
        };
        let per_second: i64 = match unit {
            TimeUnit::Second => 1,
            TimeUnit::Millisecond => 1_000,
            TimeUnit::Microsecond => 1_000_000,
            TimeUnit::Nanosecond => 1_000_000_000,
        };
        let (per_unit, units) = match self.field {
            DateField::Hour => (3_600 * per_second, 24),
            DateField::Minute => (60 * per_second, 60),
            DateField::Second => (per_second, 60),
            _ => return None,
        };
        // Every timestamp type stores an i64 per row: reinterpret, then one kernel.
        let values = cast(input, &DataType::Int64).ok()?;
        let values = values.as_primitive_opt::<Int64Type>()?;
        Some(values.unary(|v| v.div_euclid(per_unit).rem_euclid(units)))
    }
}

impl ScalarUDFImpl for DatePart {
    fn name(&self) -> &str {
        self.field.function_name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.field.function_name().to_uppercase();
        check_arity(&name, t, 1, 1)?;
        Ok(vec![coerce_datetime(&name, 1, &t[0])?])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let tz = session_time_zone(&args.config_options)?;
        let n = batch_len(&args.args);
        let input = args.args[0].to_array(n)?;
        if let Some(out) = self.time_of_day(&input) {
            return finish(&args.args, Arc::new(out));
        }
        let column = DateTimeColumn::try_new(self.field.function_name(), &input, tz)?;
        let field = self.field;
        let out: Int64Array = (0..n)
            .map(|i| column.civil(i).and_then(|c| field.of(c)))
            .collect();
        finish(&args.args, Arc::new(out))
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{run, run_in_zone, TestResult};

    #[tokio::test]
    async fn fields_of_timestamp_literal() -> TestResult {
        let rows = run(
            "SELECT YEAR(t), QUARTER(t), MONTH(t), WEEK(t), DAYOFYEAR(t), DAYOFMONTH(t), \
             DAYOFWEEK(t), HOUR(t), MINUTE(t), SECOND(t) \
             FROM (SELECT TIMESTAMP '2024-12-31 23:58:59.999' AS t)",
        )
        .await?;
        assert_eq!(rows, vec!["2024|4|12|1|366|31|3|23|58|59"]);
        Ok(())
    }

    #[tokio::test]
    async fn fields_before_the_epoch_and_in_leap_years() -> TestResult {
        let rows = run(
            "SELECT YEAR(t), QUARTER(t), MONTH(t), WEEK(t), DAYOFYEAR(t), DAYOFMONTH(t), \
             DAYOFWEEK(t), HOUR(t), MINUTE(t), SECOND(t) \
             FROM (VALUES (TIMESTAMP '1969-12-31 23:59:59.999'), \
                          (TIMESTAMP '2000-02-29 08:07:06'), \
                          (TIMESTAMP '1900-03-01 00:00:00')) AS v(t)",
        )
        .await?;
        assert_eq!(
            rows,
            vec![
                "1969|4|12|1|365|31|4|23|59|59",
                "2000|1|2|9|60|29|3|8|7|6",
                "1900|1|3|9|60|1|5|0|0|0",
            ]
        );
        let rows = run("SELECT YEAR(d), DAYOFYEAR(d), DAYOFWEEK(d), HOUR(d) \
             FROM (VALUES (DATE '1969-12-31'), (DATE '0001-01-01')) AS v(d)")
        .await?;
        assert_eq!(rows, vec!["1969|365|4|0", "1|1|2|0"]);
        Ok(())
    }

    #[tokio::test]
    async fn dates_strings_and_nulls() -> TestResult {
        let rows = run("SELECT hour(d), dayofweek(d), Year(s), week(s), month(n) \
             FROM (VALUES (DATE '2024-03-03', '2021-01-03 10:00:00', CAST(NULL AS TIMESTAMP)), \
                          (NULL, 'garbage', TIMESTAMP '2024-07-01 00:00:00')) AS v(d, s, n)")
        .await?;
        assert_eq!(rows, vec!["0|1|2021|53|NULL", "NULL|NULL|NULL|NULL|7"]);
        Ok(())
    }

    #[tokio::test]
    async fn zoned_timestamps_use_session_zone() -> TestResult {
        let sql = "SELECT HOUR(ltz), DAYOFMONTH(ltz) FROM t WHERE id = 1";
        assert_eq!(run_in_zone(sql, "UTC").await?, vec!["23|1"]);
        assert_eq!(run_in_zone(sql, "+08:00").await?, vec!["7|2"]);
        Ok(())
    }

    #[test]
    fn time_of_day_by_arithmetic_matches_the_calendar() {
        use std::sync::Arc;

        use arrow::array::{
            ArrayRef, TimestampMicrosecondArray, TimestampMillisecondArray,
            TimestampNanosecondArray, TimestampSecondArray,
        };
        use chrono::{DateTime, Timelike};

        use super::{DateField, DatePart};

        let seconds: Vec<i64> = (-200_000i64..200_000)
            .step_by(997)
            .chain([
                0, -1, 59, 60, 3_599, 3_600, 86_399, 86_400, -86_400, -86_401,
            ])
            .collect();
        for sub in [0i64, 1, 999] {
            let arrays: [(i64, ArrayRef); 4] = [
                (1, Arc::new(TimestampSecondArray::from(seconds.clone()))),
                (
                    1_000,
                    Arc::new(TimestampMillisecondArray::from(
                        seconds.iter().map(|s| s * 1_000 + sub).collect::<Vec<_>>(),
                    )),
                ),
                (
                    1_000_000,
                    Arc::new(TimestampMicrosecondArray::from(
                        seconds
                            .iter()
                            .map(|s| s * 1_000_000 + sub)
                            .collect::<Vec<_>>(),
                    )),
                ),
                (
                    1_000_000_000,
                    Arc::new(TimestampNanosecondArray::from(
                        seconds
                            .iter()
                            .map(|s| s * 1_000_000_000 + sub)
                            .collect::<Vec<_>>(),
                    )),
                ),
            ];
            for (per_second, array) in arrays {
                for field in [DateField::Hour, DateField::Minute, DateField::Second] {
                    let got = DatePart::new(field).time_of_day(&array).unwrap();
                    for (i, s) in seconds.iter().enumerate() {
                        // The sub-second part only counts for units finer than it.
                        let extra = if per_second > 1 { sub } else { 0 };
                        let nanos = (s * per_second + extra) * (1_000_000_000 / per_second);
                        let t = DateTime::from_timestamp_nanos(nanos).naive_utc();
                        let want = match field {
                            DateField::Hour => t.hour(),
                            DateField::Minute => t.minute(),
                            _ => t.second(),
                        };
                        assert_eq!(
                            got.value(i),
                            i64::from(want),
                            "{field:?} {s} {sub} {per_second}"
                        );
                    }
                }
            }
        }
        let dates: ArrayRef = Arc::new(arrow::array::Date32Array::from(vec![1]));
        assert!(DatePart::new(DateField::Hour).time_of_day(&dates).is_none());
        let ts: ArrayRef = Arc::new(TimestampSecondArray::from(vec![1]));
        assert!(DatePart::new(DateField::Year).time_of_day(&ts).is_none());
    }

    #[tokio::test]
    async fn rejects_bad_argument() {
        let err = run("SELECT HOUR(1.5)").await.map(|_| ()).unwrap_err();
        assert!(
            err.to_string()
                .contains("HOUR: argument 1 must be a TIMESTAMP"),
            "{err}"
        );
    }
}
