//! The functions behind the window columns of a window table function:
//! `__weir_window_start(ts, kind, size_ms, slide_ms, offset_ms [, partition keys])` and its
//! `_end` and `_time` siblings. For `TUMBLE` they give the row's window; for `HOP` and
//! `CUMULATE` the row's slice; for `SESSION` the row's own window `[ts, ts + gap)`, with
//! the session's partition keys as trailing arguments for the planner (see the module
//! above). Vectorised over the time column.
//!
//! Types and time zones follow Flink: `window_start` and `window_end` are `TIMESTAMP(3)`,
//! `window_time` has the time attribute's type. Over a `TIMESTAMP_LTZ` attribute the
//! windows are aligned to the local time of the session time zone
//! (`table.local-time-zone`): the bounds are local date-times and `window_time` is the
//! instant of the local `window_end` minus 1 ms (see
//! `weir_operators::window::TimeShift`). [`WindowTimeOfEnd`] gives a window
//! aggregation's `window_time` from its `window_end`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, TimestampMillisecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use datafusion::common::{exec_datafusion_err, exec_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use weir_operators::window::TimeShift;

use super::WindowKind;

/// Name of the window-start function.
pub const WINDOW_START: &str = "__weir_window_start";
/// Name of the window-end function.
pub const WINDOW_END: &str = "__weir_window_end";
/// Name of the window-time function (end minus one millisecond).
pub const WINDOW_TIME: &str = "__weir_window_time";

/// Which window column a function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowColumn {
    /// `window_start`.
    Start,
    /// `window_end`.
    End,
    /// `window_time`.
    Time,
}

/// The arguments of a window function call: the window and its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowArgs {
    /// The window table function.
    pub kind: WindowKind,
    /// Window size (TUMBLE, HOP), maximum size (CUMULATE) or gap (SESSION), ms.
    pub size_ms: i64,
    /// Slide (HOP) or step (CUMULATE); the size for TUMBLE and SESSION, ms.
    pub slide_ms: i64,
    /// Offset of window starts from the epoch, ms.
    pub offset_ms: i64,
}

impl WindowArgs {
    /// Parses the constant arguments 1 to 4 of a window function.
    pub fn from_scalars(
        kind: &ScalarValue,
        size: &ScalarValue,
        slide: &ScalarValue,
        offset: &ScalarValue,
    ) -> Option<WindowArgs> {
        let text = match kind {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => s,
            _ => return None,
        };
        let int = |v: &ScalarValue| match v {
            ScalarValue::Int64(Some(n)) => Some(*n),
            ScalarValue::Int32(Some(n)) => Some(i64::from(*n)),
            _ => None,
        };
        Some(WindowArgs {
            kind: WindowKind::from_name(text)?,
            size_ms: int(size)?,
            slide_ms: int(slide)?,
            offset_ms: int(offset)?,
        })
    }

    /// The length of the unit a row is assigned to: the window for TUMBLE, the
    /// greatest common divisor of size and slide for HOP, the step for CUMULATE, the
    /// gap for SESSION (a row's own window, not aligned to anything).
    pub fn slice_ms(&self) -> i64 {
        match self.kind {
            WindowKind::Tumble | WindowKind::Session => self.size_ms,
            WindowKind::Hop => gcd(self.size_ms, self.slide_ms),
            WindowKind::Cumulate => self.slide_ms,
        }
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// One of the three window functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunction {
    column: WindowColumn,
    signature: Signature,
}

impl WindowFunction {
    /// The function computing `column`.
    pub fn udf(column: WindowColumn) -> ScalarUDF {
        ScalarUDF::new_from_impl(WindowFunction {
            column,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for WindowFunction {
    fn name(&self) -> &str {
        match self.column {
            WindowColumn::Start => WINDOW_START,
            WindowColumn::End => WINDOW_END,
            WindowColumn::Time => WINDOW_TIME,
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            // As in Flink: window_start and window_end are TIMESTAMP(3) (local times of
            // the session zone for a TIMESTAMP_LTZ attribute); window_time keeps the
            // attribute's type.
            Some(DataType::Timestamp(_, tz)) => Ok(DataType::Timestamp(
                TimeUnit::Millisecond,
                match self.column {
                    WindowColumn::Time => tz.clone(),
                    WindowColumn::Start | WindowColumn::End => None,
                },
            )),
            Some(other) => plan_err!(
                "the window time column must be a TIMESTAMP or TIMESTAMP_LTZ, not {other}"
            ),
            None => plan_err!("window functions take the time column first"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arguments after the fifth are SESSION partition keys, read by the planner only.
        let [time, kind, size, slide, offset, ..] = args.args.as_slice() else {
            return exec_err!("{} takes at least 5 arguments", self.name());
        };
        let scalar = |v: &ColumnarValue| match v {
            ColumnarValue::Scalar(s) => Some(s.clone()),
            ColumnarValue::Array(_) => None,
        };
        let (Some(kind), Some(size), Some(slide), Some(offset)) =
            (scalar(kind), scalar(size), scalar(slide), scalar(offset))
        else {
            return exec_err!("{}: window sizes must be constants", self.name());
        };
        let Some(window) = WindowArgs::from_scalars(&kind, &size, &slide, &offset) else {
            return exec_err!("{}: invalid window arguments", self.name());
        };
        let times: ArrayRef = time.to_array(args.number_rows)?;
        let tz = match times.data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            other => return exec_err!("window time column has type {other}"),
        };
        let millis = cast(
            &times,
            &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        )?;
        let millis = millis.as_primitive::<TimestampMillisecondType>();
        // A TIMESTAMP_LTZ attribute in a session zone other than UTC: windows of the
        // zone's local time.
        let shift = match &tz {
            Some(_) => {
                let zone = args.config_options.execution.time_zone.as_deref();
                TimeShift::new(zone.unwrap_or("UTC")).map_err(|e| exec_datafusion_err!("{e}"))?
            }
            None => None,
        };
        let local = match &shift {
            Some(shift) => millis.unary(|ts| shift.to_local(ts)),
            None => millis.clone(),
        };
        let slice = window.slice_ms();
        let offset = window.offset_ms;
        let column = self.column;
        let session = window.kind == WindowKind::Session;
        let out: TimestampMillisecondArray = local.unary(|ts| {
            let start = if session {
                ts
            } else {
                ts - (ts - offset).rem_euclid(slice)
            };
            match column {
                WindowColumn::Start => start,
                WindowColumn::End => start + slice,
                WindowColumn::Time => match &shift {
                    Some(shift) => shift.to_utc(start + slice) - 1,
                    None => start + slice - 1,
                },
            }
        });
        let out = match column {
            WindowColumn::Time => out.with_timezone_opt(tz),
            WindowColumn::Start | WindowColumn::End => out,
        };
        debug_assert_eq!(out.len(), millis.len());
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Name of the function giving a window aggregation's `window_time` from its
/// `window_end`: `__weir_window_time_of_end(window_end, CAST(NULL AS <attribute type>))`.
pub const WINDOW_TIME_OF_END: &str = "__weir_window_time_of_end";

/// `window_time` of a window aggregation's output row: `window_end - 1 ms`, of the time
/// attribute's type (the type of the second argument, a typed NULL). For a
/// `TIMESTAMP_LTZ` attribute in a session zone other than UTC, `window_end` is a local
/// time, and `window_time` the instant of it minus 1 ms (Flink's
/// `toUtcTimestampMills(window_end) - 1`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowTimeOfEnd {
    signature: Signature,
}

impl WindowTimeOfEnd {
    /// The function.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(WindowTimeOfEnd {
            signature: Signature::any(2, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for WindowTimeOfEnd {
    fn name(&self) -> &str {
        WINDOW_TIME_OF_END
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.get(1) {
            Some(DataType::Timestamp(_, tz)) => {
                Ok(DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))
            }
            _ => plan_err!("{WINDOW_TIME_OF_END} takes window_end and a typed NULL timestamp"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [end, proto] = args.args.as_slice() else {
            return exec_err!("{WINDOW_TIME_OF_END} takes 2 arguments");
        };
        let tz = match proto.data_type() {
            DataType::Timestamp(_, tz) => tz,
            other => return exec_err!("{WINDOW_TIME_OF_END}: not a timestamp type: {other}"),
        };
        let shift = match &tz {
            Some(_) => {
                let zone = args.config_options.execution.time_zone.as_deref();
                TimeShift::new(zone.unwrap_or("UTC")).map_err(|e| exec_datafusion_err!("{e}"))?
            }
            None => None,
        };
        let ends = cast(
            &end.to_array(args.number_rows)?,
            &DataType::Timestamp(TimeUnit::Millisecond, None),
        )?;
        let ends = ends.as_primitive::<TimestampMillisecondType>();
        let out: TimestampMillisecondArray = match &shift {
            Some(shift) => ends.unary(|end| shift.to_utc(end) - 1),
            None => ends.unary(|end| end - 1),
        };
        Ok(ColumnarValue::Array(Arc::new(out.with_timezone_opt(tz))))
    }
}

/// The window functions, to register in a session.
pub fn window_functions() -> Vec<ScalarUDF> {
    vec![
        WindowFunction::udf(WindowColumn::Start),
        WindowFunction::udf(WindowColumn::End),
        WindowFunction::udf(WindowColumn::Time),
        WindowTimeOfEnd::udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_of_each_window_kind() {
        let tumble = WindowArgs {
            kind: WindowKind::Tumble,
            size_ms: 10_000,
            slide_ms: 10_000,
            offset_ms: 0,
        };
        assert_eq!(tumble.slice_ms(), 10_000);
        let hop = WindowArgs {
            kind: WindowKind::Hop,
            size_ms: 15_000,
            slide_ms: 10_000,
            offset_ms: 0,
        };
        assert_eq!(hop.slice_ms(), 5_000);
        let cumulate = WindowArgs {
            kind: WindowKind::Cumulate,
            size_ms: 60_000,
            slide_ms: 20_000,
            offset_ms: 0,
        };
        assert_eq!(cumulate.slice_ms(), 20_000);
    }
}
