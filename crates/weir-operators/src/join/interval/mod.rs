//! Interval joins: `l.k = r.k AND l.ts BETWEEN r.ts - INTERVAL a AND r.ts + INTERVAL b`
//! on event-time attributes of two append-only streams, with an append-only output
//! (Flink's `RowTimeIntervalJoin`).
//!
//! With `l.ts - r.ts` in `[lower, upper]`, a left row at `t` matches right rows timed in
//! `[t - upper, t - lower]` and a right row at `t` left rows in `[t + lower, t + upper]`.
//! Each side caches its rows per key with their time and whether they joined. As in
//! Flink, with `W` the operator's watermark (the minimum of both inputs):
//!
//! - a row joins the cached rows of the other side within its range (and the extra
//!   condition), unless that whole range is already expired (`W - size - 1 >= end of the
//!   range`, where `size` is the other side's relative size: `-lower` for the left side,
//!   `upper` for the right); the other side's expired rows of the key are then removed;
//! - it is cached when rows of the other side that are not late can still match it
//!   (`W < end of its range`); otherwise, on an outer side without a match, it is emitted
//!   padded with NULLs at once. Late rows are not dropped: they join what is still cached;
//! - state is removed by per-key cleanup timers, Flink's: when a side first caches a row
//!   of a key, a timer is set at `time + size + (sizes' sum) / 2 + 1`; when the watermark
//!   reaches it, the side's rows of the key timed at most `W - size - 1` are removed (an
//!   outer side's rows that never joined are emitted padded) and a timer is set for the
//!   earliest remaining row. Rows may thus stay, and join late rows, a little after they
//!   expire, exactly as in Flink;
//! - the output watermark is held back by the larger relative size, since a joined row may
//!   be that much older than the input watermark.
//!
//! Unlike Flink, the point up to which the other side was last cleaned is taken from the
//! current watermark rather than a per-subtask field that a restore resets, so a job's
//! output does not depend on its parallelism or on restores. Checkpoints: see
//! [`snapshot`].

mod snapshot;
mod state;

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{new_empty_array, Array, ArrayRef, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext};
use weir_types::{EngineError, EngineResult, RowKind, Watermark};

use super::columns::{evaluate_pairs, gather, pair_schema, Emitted, Layout};
use super::{JoinKind, JoinSide};
use state::IntervalSide;

/// An interval join, as the planner builds it. Both inputs are append-only.
#[derive(Debug, Clone)]
pub struct IntervalJoin {
    /// INNER, LEFT, RIGHT or FULL.
    pub kind: JoinKind,
    /// The left input (its `state_ttl_ms` is not used: the watermark bounds state).
    pub left: JoinSide,
    /// The right input.
    pub right: JoinSide,
    /// Index of the left event-time column (TIMESTAMP(3)) among the left data columns.
    pub left_time: usize,
    /// Index of the right event-time column.
    pub right_time: usize,
    /// Smallest `l.ts - r.ts` that joins, in milliseconds.
    pub lower_ms: i64,
    /// Largest `l.ts - r.ts` that joins, in milliseconds.
    pub upper_ms: i64,
    /// Extra conditions besides the keys and the time range, over the left output
    /// columns followed by the right output columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Whether NULL keys are equal (`IS NOT DISTINCT FROM`).
    pub nulls_equal: bool,
    /// Output: left output columns, then right output columns (append-only).
    pub output_schema: SchemaRef,
}

impl IntervalJoin {
    /// The relative size of side `side`: how far the other side's time may be ahead of
    /// one of its rows (`-lower` for the left, `upper` for the right).
    pub fn relative_size(&self, side: usize) -> i64 {
        if side == 0 {
            -self.lower_ms
        } else {
            self.upper_ms
        }
    }

    /// How far the output watermark is held back behind the input watermark.
    pub fn output_delay_ms(&self) -> i64 {
        self.relative_size(0).max(self.relative_size(1)).max(0)
    }

    /// Flink's minimum delay between cleanups of one key.
    fn cleanup_interval(&self) -> i64 {
        ((self.relative_size(0) + self.relative_size(1)) / 2).max(0)
    }

    fn side(&self, input: usize) -> &JoinSide {
        if input == 0 {
            &self.left
        } else {
            &self.right
        }
    }

    fn outer(&self, input: usize) -> bool {
        if input == 0 {
            self.kind.left_outer()
        } else {
            self.kind.right_outer()
        }
    }

    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(
                    IntervalJoinOperator::new(Arc::clone(&def))?
                        .with_max_parallelism(ctx.max_parallelism),
                ))
            },
        )
    }
}

/// The rows at most `relative` older than the watermark may still be joined; older ones
/// are expired (Flink's `calExpirationTime`).
fn expiration(watermark: Option<i64>, relative: i64) -> i64 {
    match watermark {
        None => i64::MIN,
        Some(i64::MAX) => i64::MAX,
        Some(w) => w.saturating_sub(relative).saturating_sub(1),
    }
}

/// One subtask of an interval join.
pub struct IntervalJoinOperator {
    def: Arc<IntervalJoin>,
    sides: [IntervalSide; 2],
    /// The combined input watermark (`None` before the first).
    watermark: Option<i64>,
    max_parallelism: usize,
}

impl IntervalJoinOperator {
    /// Creates a subtask of `def`.
    pub fn new(def: Arc<IntervalJoin>) -> EngineResult<IntervalJoinOperator> {
        let mut sides = [
            IntervalSide::new(&def.left, def.left_time)?,
            IntervalSide::new(&def.right, def.right_time)?,
        ];
        for (i, side) in sides.iter_mut().enumerate() {
            side.relative = def.relative_size(i);
        }
        Ok(IntervalJoinOperator {
            def,
            sides,
            watermark: None,
            max_parallelism: weir_types::keygroup::DEFAULT_MAX_PARALLELISM,
        })
    }

    /// Sets the number of key groups (`pipeline.max-parallelism`) checkpoints use.
    pub fn with_max_parallelism(mut self, max_parallelism: usize) -> IntervalJoinOperator {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Number of rows cached by the left and the right side.
    pub fn cached_rows(&self) -> (usize, usize) {
        (self.sides[0].rows(), self.sides[1].rows())
    }

    /// Emits the rows in `out` (rows of input `input`, and stored rows of the other side).
    fn emit(
        &self,
        input: usize,
        data: &[ArrayRef],
        out: Emitted,
    ) -> EngineResult<Option<RecordBatch>> {
        let other = self.def.side(1 - input);
        let layout = Layout {
            input,
            data,
            input_width: self.def.side(input).output_columns,
            other: &self.sides[1 - input].rows,
            other_schema: &other.schema,
            other_width: other.output_columns,
        };
        gather(&layout, out, &self.def.output_schema, false)
    }

    /// Emits padded rows of side `side`'s stored rows collected in `out`.
    fn emit_padded(&self, side: usize, out: Emitted) -> EngineResult<Option<RecordBatch>> {
        let opposite = 1 - side;
        let empty: Vec<ArrayRef> = self
            .def
            .side(opposite)
            .schema
            .fields()
            .iter()
            .map(|f| new_empty_array(f.data_type()))
            .collect();
        self.emit(opposite, &empty, out)
    }

    fn join_batch(
        &mut self,
        input: usize,
        batch: &RecordBatch,
    ) -> EngineResult<Option<RecordBatch>> {
        let def = Arc::clone(&self.def);
        let side = def.side(input);
        let other = 1 - input;
        let width = side.schema.fields().len();
        if batch.num_columns() != width {
            return Err(EngineError::Internal(format!(
                "interval join input {input} has {} columns, expected {width}",
                batch.num_columns()
            )));
        }
        let data = batch.columns();
        let rows_in = batch.num_rows();
        let key_columns: Vec<ArrayRef> = side.keys.iter().map(|&k| Arc::clone(&data[k])).collect();
        let times = data[self.sides[input].time_column]
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| {
                EngineError::Internal("interval join time column is not TIMESTAMP(3)".into())
            })?
            .clone();
        let keys = self.sides[input].keys.convert_columns(&key_columns)?;
        let rows = self.sides[input].rows.convert_columns(data)?;
        let valid = if def.nulls_equal {
            times.logical_nulls()
        } else {
            key_columns.iter().fold(times.logical_nulls(), |acc, c| {
                NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
            })
        };
        let is_valid = |row: usize| valid.as_ref().is_none_or(|v| v.is_valid(row));
        let (own_size, other_size) = (def.relative_size(input), def.relative_size(other));
        let other_expired = expiration(self.watermark, other_size);
        // Candidates: rows of the other side in range, for rows whose range is not expired.
        let mut starts = Vec::with_capacity(rows_in + 1);
        let mut slots: Vec<u32> = Vec::new();
        let mut pair_rows: Vec<u32> = Vec::new();
        let mut stored: Vec<&[u8]> = Vec::new();
        let theirs = &self.sides[other];
        for row in 0..rows_in {
            starts.push(slots.len());
            if !is_valid(row) {
                continue;
            }
            let t = times.value(row);
            let (low, high) = (t.saturating_sub(other_size), t.saturating_add(own_size));
            if other_expired >= high {
                continue;
            }
            if let Some(list) = theirs.table.get(keys.row(row).as_ref()) {
                for (j, cached) in list.iter().enumerate() {
                    if cached.time >= low && cached.time <= high {
                        slots.push(j as u32);
                        pair_rows.push(row as u32);
                        stored.push(&cached.row);
                    }
                }
            }
        }
        starts.push(slots.len());
        let accepted = match &def.filter {
            None => vec![true; slots.len()],
            Some(filter) => {
                let layout = Layout {
                    input,
                    data,
                    input_width: side.output_columns,
                    other: &theirs.rows,
                    other_schema: &def.side(other).schema,
                    other_width: def.side(other).output_columns,
                };
                let width = def.left.output_columns + def.right.output_columns;
                evaluate_pairs(
                    filter.as_ref(),
                    pair_schema(&def.output_schema, width),
                    &layout,
                    pair_rows,
                    &stored,
                )?
            }
        };
        drop(stored);

        let mut out = Emitted::default();
        let mut padded_other = Emitted::default();
        let mut cleaned: HashSet<Box<[u8]>> = HashSet::new();
        let interval = def.cleanup_interval();
        let [left, right] = &mut self.sides;
        let (mine, theirs) = if input == 0 {
            (left, right)
        } else {
            (right, left)
        };
        for row in 0..rows_in {
            if !is_valid(row) {
                if def.outer(input) {
                    out.push(Some(row), None, RowKind::Insert);
                }
                continue;
            }
            let t = times.value(row);
            let high = t.saturating_add(own_size);
            let key = keys.row(row);
            let mut emitted = false;
            if other_expired < high {
                let was_cleaned = cleaned.contains(key.as_ref());
                if let Some(list) = theirs.table.get_mut(key.as_ref()) {
                    for c in starts[row]..starts[row + 1] {
                        let cached = &mut list[slots[c] as usize];
                        if !accepted[c] || (was_cleaned && cached.time <= other_expired) {
                            continue;
                        }
                        out.push(Some(row), Some(&cached.row), RowKind::Insert);
                        emitted = true;
                        cached.emitted = true;
                    }
                }
                cleaned.insert(key.as_ref().into());
            }
            if self.watermark.is_none_or(|w| w < high) {
                mine.cache(key.as_ref(), t, rows.row(row).as_ref(), emitted, interval);
            } else if !emitted && def.outer(input) {
                out.push(Some(row), None, RowKind::Insert);
            }
        }
        // Rows of the other side expired at this watermark leave with their keys' first
        // joining row (Flink removes them while joining).
        for key in &cleaned {
            theirs.remove_expired(key, other_expired, &mut padded_other, def.outer(other));
        }
        let joined = self.emit(input, data, out)?;
        let padded = self.emit_padded(other, padded_other)?;
        Ok(match (joined, padded) {
            (Some(a), Some(b)) => Some(arrow::compute::concat_batches(&a.schema(), [&a, &b])?),
            (a, b) => a.or(b),
        })
    }

    /// Fires the cleanup timers due at the current watermark.
    fn fire_timers(&mut self, out: &mut Output) -> EngineResult<()> {
        let interval = self.def.cleanup_interval();
        for side in 0..2 {
            let expired = expiration(self.watermark, self.def.relative_size(side));
            let outer = self.def.outer(side);
            let mut padded = Emitted::default();
            self.sides[side].fire_timers(self.watermark, expired, &mut padded, outer, interval);
            if let Some(batch) = self.emit_padded(side, padded)? {
                out.batch(batch);
            }
        }
        Ok(())
    }
}

impl Operator for IntervalJoinOperator {
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        if input > 1 {
            return Err(EngineError::Internal(format!(
                "a join has two inputs, not input {input}"
            )));
        }
        if let Some(result) = self.join_batch(input, &batch)? {
            out.batch(result);
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        if self.watermark.is_some_and(|w| w >= watermark.0) {
            return Ok(());
        }
        self.watermark = Some(watermark.0);
        self.fire_timers(out)?;
        let delayed = match watermark.0 {
            i64::MAX | i64::MIN => watermark.0,
            w => w.saturating_sub(self.def.output_delay_ms()),
        };
        out.watermark(Watermark(delayed));
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
