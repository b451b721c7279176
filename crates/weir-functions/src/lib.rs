//! FlinkSQL built-in functions that DataFusion lacks, names differently or evaluates with
//! different semantics, implemented as vectorised DataFusion [`ScalarUDF`]s.
//!
//! [`register_flink_functions`] installs them into a session, replacing DataFusion
//! built-ins of the same name (`to_timestamp`, `date_format`, `now`,
//! `current_timestamp`, `concat`, `floor`, `ceil`). Names are registered in lowercase, so unquoted SQL identifiers
//! find them case-insensitively.
//!
//! Type mapping: Flink `TIMESTAMP(3)` is Arrow `Timestamp(Millisecond, None)` and
//! `TIMESTAMP_LTZ(3)` is `Timestamp(Millisecond, Some("UTC"))`. Functions that depend on
//! the local time zone read the session setting `datafusion.execution.time_zone`
//! (see [`session_time_zone`]).
//!
//! Modules: `format` (Java pattern conversion), `pattern` (compiled patterns, default
//! timestamp parser, caches), `civil` (calendar fields of epoch values by integer
//! arithmetic), `fast_format` (digit-writing formatter for numeric patterns), `zone` (session zone), `args` (argument plumbing), `text`
//! (Flink's CAST-to-STRING text of values), `datetime`, `extract`, `clock`, `string`,
//! `conditional`, `concat`, `floor`, `cast` (the functions), `aggregate` (`SUM` and `AVG`
//! with Flink's result types, replacing DataFusion's), `ranking` (`ROW_NUMBER`, `RANK`,
//! `DENSE_RANK` as `BIGINT`).
//!
//! `cast` holds functions the SQL front end calls in place of some CASTs, to give them
//! Flink's semantics (`flink_cast_to_string`, `flink_cast_to_varchar`,
//! `flink_cast_to_char`, `flink_ltz_to_local`, `flink_local_to_ltz`). `concat` (`CONCAT`
//! is NULL when an argument is NULL) and `floor` (`FLOOR`/`CEIL` of `DECIMAL(p, s)` are
//! `DECIMAL(p, 0)`) replace DataFusion built-ins.

mod aggregate;
mod args;
mod cast;
mod civil;
mod clock;
mod concat;
mod conditional;
mod datetime;
mod extract;
mod fast_format;
mod floor;
mod format;
mod pattern;
mod ranking;
mod string;
mod text;
mod zone;

#[cfg(test)]
mod testutil;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub use aggregate::{flink_aggregates, FlinkTyped};
pub use cast::{CastToString, CastZone, StringTarget, ZoneShift};
pub use clock::{Clock, ClockKind};
pub use concat::Concat;
pub use conditional::If;
pub use datetime::{DateFormat, FromUnixtime, ToTimestamp, ToTimestampLtz, UnixTimestamp};
pub use extract::{DateField, DatePart};
pub use floor::{FloorCeil, Rounding};
pub use format::{java_to_chrono_format, FormatPatternError};
pub use ranking::{flink_ranking_functions, FlinkRanking};
pub use string::{RegexpExtract, SplitIndex};
pub use zone::session_time_zone;

/// Every Flink function of this crate, ready to register.
pub fn flink_functions() -> Vec<Arc<ScalarUDF>> {
    udfs().into_iter().map(Arc::new).collect()
}

fn udfs() -> Vec<ScalarUDF> {
    let mut udfs = vec![
        ScalarUDF::from(DateFormat::default()),
        ScalarUDF::from(ToTimestamp::default()),
        ScalarUDF::from(ToTimestampLtz::default()),
        ScalarUDF::from(FromUnixtime::default()),
        ScalarUDF::from(UnixTimestamp::default()),
        ScalarUDF::from(SplitIndex::default()),
        ScalarUDF::from(RegexpExtract::default()),
        ScalarUDF::from(If::default()),
        ScalarUDF::from(Clock::new(ClockKind::Proctime)),
        ScalarUDF::from(Clock::new(ClockKind::CurrentTimestamp)),
        ScalarUDF::from(Clock::new(ClockKind::LocalTimestamp)),
        ScalarUDF::from(CastToString::new(StringTarget::String)),
        ScalarUDF::from(CastToString::new(StringTarget::Varchar)),
        ScalarUDF::from(CastToString::new(StringTarget::Char)),
        ScalarUDF::from(CastZone::new(ZoneShift::LtzToLocal)),
        ScalarUDF::from(CastZone::new(ZoneShift::LocalToLtz)),
        ScalarUDF::from(Concat::default()),
        ScalarUDF::from(FloorCeil::new(Rounding::Floor)),
        ScalarUDF::from(FloorCeil::new(Rounding::Ceil)),
    ];
    udfs.extend(
        DateField::ALL
            .into_iter()
            .map(|f| ScalarUDF::from(DatePart::new(f))),
    );
    udfs
}

/// Registers every Flink function into the session, overriding DataFusion built-ins of
/// the same name.
pub fn register_flink_functions(ctx: &SessionContext) -> Result<()> {
    for udf in udfs() {
        ctx.register_udf(udf);
    }
    for udaf in flink_aggregates() {
        ctx.register_udaf(udaf);
    }
    for udwf in flink_ranking_functions() {
        ctx.register_udwf(udwf);
    }
    Ok(())
}

/// Same as [`register_flink_functions`] for any [`FunctionRegistry`] (e.g. a
/// `SessionState` being built by the planner).
pub fn register_flink_functions_into(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udf in flink_functions() {
        registry.register_udf(udf)?;
    }
    for udaf in flink_aggregates() {
        registry.register_udaf(Arc::new(udaf))?;
    }
    for udwf in flink_ranking_functions() {
        registry.register_udwf(Arc::new(udwf))?;
    }
    Ok(())
}
