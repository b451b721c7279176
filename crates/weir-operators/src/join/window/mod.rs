//! Window joins (Flink's "Window Join"): two window table functions of the same window
//! (TUMBLE, HOP or CUMULATE) joined on `window_start`, `window_end` and equality keys,
//! INNER, LEFT, RIGHT or FULL OUTER, or the semi and anti joins of `IN` / `EXISTS` /
//! `NOT EXISTS` subqueries correlated on the window, with an append-only output.
//!
//! Each input row carries its window in a `window_end` column: either the exact window
//! (a TUMBLE window, or the output of a window aggregation) or, for the rows of a HOP or
//! CUMULATE table function, the *slice* the row's time falls in (see
//! `crate::window::WindowSpec`), from which the operator assigns the row to every window
//! covering it and writes those windows' bounds into the side's window columns. As in
//! Flink's `WindowJoinOperator`, with `W` the operator's watermark (the minimum of both
//! inputs):
//!
//! - a row is buffered with its window until the watermark reaches `window_end - 1`;
//!   then the window fires: its rows of both sides are joined at once (hash join on the
//!   keys, plus the extra condition), unmatched rows of an outer side are emitted padded
//!   with NULLs (a semi join emits the rows of its side that matched, an anti join those
//!   that did not), and the window's state is dropped. Windows fire in order of their end,
//!   and their rows are emitted before the watermark is forwarded (unchanged);
//! - a row whose windows have all fired (`window_end - 1 <= W`) is late: dropped and
//!   counted in `late_records_dropped` (and written to the late-data table, if the job
//!   has one). A HOP or CUMULATE row with an unfired window joins in its unfired windows
//!   only. Before the first watermark nothing is late; rows without a window (NULL time)
//!   are dropped;
//! - keys with a NULL never match (SQL equality), unless compared with
//!   `IS NOT DISTINCT FROM`.
//!
//! Inputs arrive hash-partitioned by their keys, so a window's rows of one key meet in
//! one subtask. State is the buffered rows of the unfired windows, as Arrow batches per
//! window and side ([`state`]); a fired window is joined columnar ([`fire`]).
//! Checkpoints: see [`snapshot`].

mod fire;
mod snapshot;
mod state;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{
    JobMetrics, LateRowsWriter, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext,
};
use weir_types::{EngineError, EngineResult, Watermark};

use super::{JoinKind, JoinSide};
use crate::window::{TimeShift, WindowSpec};
use state::Windows;

/// Where one input of a window join carries its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowColumns {
    /// Index of the `window_end` column (TIMESTAMP(3)) among the side's data columns.
    pub end: usize,
    /// Index of the `window_start` column, when the side has one.
    pub start: Option<usize>,
    /// Index of the `window_time` column, when the side has one.
    pub time: Option<usize>,
    /// Whether the window columns hold the row's slice of a HOP or CUMULATE window (rows
    /// straight from the table function): the operator then assigns each row to every
    /// window of its slice and writes the window's bounds into these columns. `false`
    /// when they hold the exact window (TUMBLE, or the output of a window aggregation).
    pub assign: bool,
}

/// The kind of a window join: the four joins, and the semi and anti joins of `IN` and
/// `EXISTS` subqueries (`NOT EXISTS`), which output the rows of one side only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowJoinKind {
    /// Only matched pairs.
    Inner,
    /// Matched pairs, and the left rows without a match padded with NULLs.
    Left,
    /// Matched pairs, and the right rows without a match padded with NULLs.
    Right,
    /// Matched pairs, and the rows of either side without a match padded with NULLs.
    Full,
    /// The left rows with a match in their window (once each).
    LeftSemi,
    /// The left rows without a match in their window.
    LeftAnti,
    /// The right rows with a match in their window.
    RightSemi,
    /// The right rows without a match in their window.
    RightAnti,
}

impl WindowJoinKind {
    /// Whether unmatched left rows are output padded.
    pub fn left_outer(self) -> bool {
        matches!(self, WindowJoinKind::Left | WindowJoinKind::Full)
    }

    /// Whether unmatched right rows are output padded.
    pub fn right_outer(self) -> bool {
        matches!(self, WindowJoinKind::Right | WindowJoinKind::Full)
    }

    /// For a semi or anti join: the side whose rows are output and whether it is anti.
    pub fn filtering(self) -> Option<(usize, bool)> {
        match self {
            WindowJoinKind::LeftSemi => Some((0, false)),
            WindowJoinKind::LeftAnti => Some((0, true)),
            WindowJoinKind::RightSemi => Some((1, false)),
            WindowJoinKind::RightAnti => Some((1, true)),
            _ => None,
        }
    }

    /// SQL name, e.g. `LEFT OUTER` or `LEFT SEMI`.
    pub fn sql(self) -> &'static str {
        match self {
            WindowJoinKind::Inner => "INNER",
            WindowJoinKind::Left => "LEFT OUTER",
            WindowJoinKind::Right => "RIGHT OUTER",
            WindowJoinKind::Full => "FULL OUTER",
            WindowJoinKind::LeftSemi => "LEFT SEMI",
            WindowJoinKind::LeftAnti => "LEFT ANTI",
            WindowJoinKind::RightSemi => "RIGHT SEMI",
            WindowJoinKind::RightAnti => "RIGHT ANTI",
        }
    }
}

impl From<JoinKind> for WindowJoinKind {
    fn from(kind: JoinKind) -> WindowJoinKind {
        match kind {
            JoinKind::Inner => WindowJoinKind::Inner,
            JoinKind::Left => WindowJoinKind::Left,
            JoinKind::Right => WindowJoinKind::Right,
            JoinKind::Full => WindowJoinKind::Full,
        }
    }
}

/// A window join, as the planner builds it. Both inputs are append-only.
#[derive(Debug, Clone)]
pub struct WindowJoin {
    /// INNER, LEFT, RIGHT, FULL, or a semi or anti join.
    pub kind: WindowJoinKind,
    /// The left input (`updating` and `state_ttl_ms` are not used: windows bound state).
    pub left: JoinSide,
    /// The right input.
    pub right: JoinSide,
    /// The window of both inputs.
    pub window: WindowSpec,
    /// The left input's window columns.
    pub left_window: WindowColumns,
    /// The right input's window columns.
    pub right_window: WindowColumns,
    /// Extra conditions besides the keys and the window, over the left output columns
    /// followed by the right output columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Whether NULL keys are equal (`IS NOT DISTINCT FROM`).
    pub nulls_equal: bool,
    /// Output: left output columns, then right output columns (append-only); only the
    /// output side's columns for a semi or anti join.
    pub output_schema: SchemaRef,
    /// The session time zone of windows over a `TIMESTAMP_LTZ` attribute when it is not
    /// UTC: the window bounds are then local times, and each watermark is converted to
    /// local time before windows fire (see `crate::window::TimeShift`).
    pub shift: Option<TimeShift>,
}

impl WindowJoin {
    fn side(&self, input: usize) -> &JoinSide {
        if input == 0 {
            &self.left
        } else {
            &self.right
        }
    }

    fn columns(&self, input: usize) -> &WindowColumns {
        if input == 0 {
            &self.left_window
        } else {
            &self.right_window
        }
    }

    /// Checks keys, window columns and the window.
    pub fn validate(&self) -> EngineResult<()> {
        self.window.validate()?;
        if self.left.keys.len() != self.right.keys.len() {
            return Err(EngineError::Internal(
                "a window join needs the same number of keys on both sides".into(),
            ));
        }
        for (&l, &r) in self.left.keys.iter().zip(&self.right.keys) {
            let (lf, rf) = (
                self.left.schema.fields().get(l),
                self.right.schema.fields().get(r),
            );
            match (lf, rf) {
                (Some(lf), Some(rf)) if lf.data_type() == rf.data_type() => {}
                _ => {
                    return Err(EngineError::Internal(format!(
                        "window join key columns {l} and {r} are missing or of different types"
                    )))
                }
            }
        }
        for input in 0..2 {
            let fields = self.side(input).schema.fields();
            let c = self.columns(input);
            for index in [Some(c.end), c.start, c.time].into_iter().flatten() {
                match fields.get(index).map(|f| f.data_type()) {
                    Some(DataType::Timestamp(TimeUnit::Millisecond, _)) => {}
                    other => {
                        return Err(EngineError::Internal(format!(
                            "window join window column {index} of input {input} is {other:?}, \
                             not a TIMESTAMP(3)"
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(
                    WindowJoinOperator::new(
                        Arc::clone(&def),
                        Arc::clone(&ctx.metrics),
                        ctx.late_rows.clone(),
                    )?
                    .with_max_parallelism(ctx.max_parallelism),
                ))
            },
        )
    }
}

/// One subtask of a window join.
pub struct WindowJoinOperator {
    def: Arc<WindowJoin>,
    /// Buffered rows of the unfired windows.
    windows: Windows,
    /// Encodes the key columns of both sides (`None` without keys: every pair of a
    /// window matches).
    keys: Option<RowConverter>,
    /// Windows ending at or before this (watermark + 1) have fired; `i64::MIN` before
    /// the first watermark.
    fired_upto: i64,
    metrics: Arc<JobMetrics>,
    /// Where dropped late rows go, when the job has a late-data table.
    late_rows: Option<Arc<LateRowsWriter>>,
    max_parallelism: usize,
}

impl WindowJoinOperator {
    /// Creates a subtask of `def` (which is validated), counting late rows in `metrics`.
    pub fn new(
        def: Arc<WindowJoin>,
        metrics: Arc<JobMetrics>,
        late_rows: Option<Arc<LateRowsWriter>>,
    ) -> EngineResult<WindowJoinOperator> {
        def.validate()?;
        let keys = if def.left.keys.is_empty() {
            None
        } else {
            let fields = def
                .left
                .keys
                .iter()
                .map(|&k| SortField::new(def.left.schema.field(k).data_type().clone()))
                .collect();
            Some(RowConverter::new(fields)?)
        };
        Ok(WindowJoinOperator {
            def,
            windows: Windows::default(),
            keys,
            fired_upto: i64::MIN,
            metrics,
            late_rows,
            max_parallelism: weir_types::keygroup::DEFAULT_MAX_PARALLELISM,
        })
    }

    /// Sets the number of key groups (`pipeline.max-parallelism`) checkpoints use.
    pub fn with_max_parallelism(mut self, max_parallelism: usize) -> WindowJoinOperator {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Number of rows buffered by the left and the right side (a HOP row counts once
    /// per window), and the number of unfired windows.
    pub fn buffered(&self) -> (usize, usize, usize) {
        self.windows.sizes()
    }

    /// Buffers the rows of `batch` (input `input`) in their unfired windows and returns
    /// the indices of its late rows.
    fn buffer(&mut self, input: usize, batch: &RecordBatch) -> EngineResult<Vec<u32>> {
        let def = Arc::clone(&self.def);
        let columns = def.columns(input);
        let ends = batch
            .column(columns.end)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| {
                EngineError::Internal("window join window_end is not TIMESTAMP(3)".into())
            })?;
        let fired = self.fired_upto;
        let open = |end: i64| fired == i64::MIN || end > fired;
        let mut late = Vec::new();
        let values = ends.values();
        // Fast path: one exact window for the whole batch.
        if !columns.assign && ends.null_count() == 0 {
            if let Some(&first) = values.first() {
                if values.iter().all(|&e| e == first) {
                    if open(first) {
                        self.windows.push(first, input, batch.clone());
                    } else {
                        late.extend(0..batch.num_rows() as u32);
                    }
                    return Ok(late);
                }
            }
        }
        // Row indices per window, in order of first appearance.
        let mut groups: Vec<(i64, Vec<u32>)> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut last: Option<(i64, usize)> = None;
        let mut add = |window: i64, row: u32| {
            let index = match last {
                Some((w, i)) if w == window => i,
                _ => {
                    let i = *index.entry(window).or_insert_with(|| {
                        groups.push((window, Vec::new()));
                        groups.len() - 1
                    });
                    last = Some((window, i));
                    i
                }
            };
            groups[index].1.push(row);
        };
        for (row, &end) in values.iter().enumerate() {
            if ends.is_null(row) {
                continue;
            }
            let mut joined = false;
            if columns.assign {
                for window in def.window.window_ends(end) {
                    if open(window) {
                        add(window, row as u32);
                        joined = true;
                    }
                }
            } else if open(end) {
                add(end, row as u32);
                joined = true;
            }
            if !joined {
                late.push(row as u32);
            }
        }
        for (window, rows) in groups {
            let indices = UInt32Array::from(rows);
            let taken = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            let part = RecordBatch::try_new(batch.schema(), taken)?;
            self.windows.push(window, input, part);
        }
        Ok(late)
    }

    /// Joins and emits every window ending at or before `fired_upto`, in order.
    fn fire_windows(&mut self, out: &mut Output) -> EngineResult<()> {
        for (end, [left, right]) in self.windows.take_upto(self.fired_upto) {
            let left = fire::window_rows(&self.def, 0, left, end)?;
            let right = fire::window_rows(&self.def, 1, right, end)?;
            if let Some(batch) = fire::join(&self.def, self.keys.as_ref(), &left, &right)? {
                out.batch(batch);
            }
        }
        Ok(())
    }
}

impl Operator for WindowJoinOperator {
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        if input > 1 {
            return Err(EngineError::Internal(format!(
                "a join has two inputs, not input {input}"
            )));
        }
        let width = self.def.side(input).schema.fields().len();
        if batch.num_columns() != width {
            return Err(EngineError::Internal(format!(
                "window join input {input} has {} columns, expected {width}",
                batch.num_columns()
            )));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let late = self.buffer(input, &batch)?;
        if !late.is_empty() {
            JobMetrics::add(&self.metrics.late_records_dropped, late.len());
            if let Some(writer) = &self.late_rows {
                let columns = self.def.columns(input);
                let time = columns.start.unwrap_or(columns.end);
                writer.write(&batch, &late, time, self.fired_upto.saturating_sub(1))?;
            }
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        let millis = TimeShift::watermark_in(self.def.shift.as_ref(), watermark);
        let limit = millis.saturating_add(1);
        if self.fired_upto != i64::MIN && limit <= self.fired_upto {
            return Ok(());
        }
        self.fired_upto = limit;
        self.fire_windows(out)?;
        out.watermark(watermark);
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.snapshot()
    }

    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        self.restore(snapshot)
    }
}

#[cfg(test)]
mod tests;
