//! Wall-clock functions, evaluated per batch rather than constant-folded at planning
//! time (Flink streaming semantics): `PROCTIME()`, `CURRENT_TIMESTAMP` / `NOW()` and
//! `LOCALTIMESTAMP`.

use std::sync::Arc;

use arrow::array::TimestampMillisecondArray;
use arrow::datatypes::{DataType, Field, FieldRef};
use chrono::Utc;
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::datetime::{timestamp_ltz_3, TIMESTAMP_3};
use crate::zone::{session_time_zone, utc_to_local};

/// Which clock a [`Clock`] function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockKind {
    /// `PROCTIME() -> TIMESTAMP_LTZ(3)`.
    Proctime,
    /// `CURRENT_TIMESTAMP` (alias `NOW()`) `-> TIMESTAMP_LTZ(3)`.
    CurrentTimestamp,
    /// `LOCALTIMESTAMP -> TIMESTAMP(3)`, the wall clock of the session zone.
    LocalTimestamp,
}

/// A volatile, zero-argument clock function: one reading per call, broadcast to the
/// batch length.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Clock {
    kind: ClockKind,
    signature: Signature,
    aliases: Vec<String>,
}

impl Clock {
    /// The clock function of `kind`.
    pub fn new(kind: ClockKind) -> Self {
        let aliases = match kind {
            ClockKind::CurrentTimestamp => vec!["now".to_owned()],
            _ => vec![],
        };
        Self {
            kind,
            signature: Signature::nullary(Volatility::Volatile),
            aliases,
        }
    }
}

impl ScalarUDFImpl for Clock {
    fn name(&self) -> &str {
        match self.kind {
            ClockKind::Proctime => "proctime",
            ClockKind::CurrentTimestamp => "current_timestamp",
            ClockKind::LocalTimestamp => "localtimestamp",
        }
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            ClockKind::LocalTimestamp => TIMESTAMP_3,
            _ => timestamp_ltz_3(),
        })
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if !args.arg_fields.is_empty() {
            return plan_err!("{}: takes no arguments", self.name().to_uppercase());
        }
        Ok(Arc::new(Field::new(
            self.name(),
            self.return_type(&[])?,
            false,
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let now = Utc::now();
        let out = match self.kind {
            ClockKind::LocalTimestamp => {
                let tz = session_time_zone(&args.config_options)?;
                let local = utc_to_local(&tz, now.naive_utc())
                    .and_utc()
                    .timestamp_millis();
                TimestampMillisecondArray::from_value(local, args.number_rows)
            }
            _ => TimestampMillisecondArray::from_value(now.timestamp_millis(), args.number_rows)
                .with_timezone("UTC"),
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDateTime, Utc};

    use datafusion::logical_expr::{Expr, LogicalPlan};

    use super::Clock;
    use crate::datetime::{timestamp_ltz_3, TIMESTAMP_3};
    use crate::testutil::{context, run, run_in_zone, TestResult};

    fn parse(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").expect("arrow timestamp text")
    }

    fn close_to(text: &str, expected: NaiveDateTime) -> bool {
        let got = parse(text.trim_end_matches('Z'));
        (got - expected).abs() < Duration::seconds(10)
    }

    #[tokio::test]
    async fn current_timestamp_is_not_constant_folded() -> TestResult {
        let ctx = context(None)?;
        for sql in [
            "SELECT CURRENT_TIMESTAMP",
            "SELECT now()",
            "SELECT LOCALTIMESTAMP",
            "SELECT PROCTIME()",
        ] {
            let plan = ctx.sql(sql).await?.into_optimized_plan()?;
            let LogicalPlan::Projection(projection) = &plan else {
                panic!("{sql}: expected a projection, got {plan}");
            };
            let Expr::ScalarFunction(call) = projection.expr[0].clone().unalias() else {
                panic!("{sql} was constant-folded: {plan}");
            };
            let udf: &dyn std::any::Any = call.func.inner().as_ref();
            assert!(udf.downcast_ref::<Clock>().is_some(), "{sql}: {plan}");
        }
        let df = ctx
            .sql("SELECT CURRENT_TIMESTAMP AS c, LOCALTIMESTAMP AS l, id FROM t")
            .await?;
        let schema = df.schema().clone();
        assert_eq!(schema.field(0).data_type(), &timestamp_ltz_3());
        assert_eq!(schema.field(1).data_type(), &TIMESTAMP_3);
        assert!(!schema.field(0).is_nullable());
        Ok(())
    }

    #[tokio::test]
    async fn readings_are_current() -> TestResult {
        let rows =
            run("SELECT CURRENT_TIMESTAMP, NOW(), PROCTIME(), LOCALTIMESTAMP FROM t").await?;
        assert_eq!(rows.len(), 3);
        let now = Utc::now().naive_utc();
        for row in &rows {
            for cell in row.split('|') {
                assert!(close_to(cell, now), "{cell} vs {now}");
            }
        }
        let rows = run_in_zone("SELECT LOCALTIMESTAMP", "+08:00").await?;
        assert!(close_to(&rows[0], now + Duration::hours(8)), "{rows:?}");
        Ok(())
    }
}
