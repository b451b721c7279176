//! Event-time temporal joins: `FROM l JOIN r FOR SYSTEM_TIME AS OF l.ts ON l.k = r.k`
//! against a versioned table `r` (a PRIMARY KEY and an event-time attribute), INNER or
//! LEFT (Flink's `TemporalRowTimeJoinOperator`).
//!
//! Both inputs arrive hash-partitioned by the key (the versioned table's primary key).
//! The right input is a changelog or an append-only stream; each of its rows is a
//! *version* of its key, valid from its event time until the key's next version:
//!
//! - `+I` and `+U` rows are versions; a `-D` row is a delete: from its time on the key
//!   has no row. `-U` rows are dropped, as Flink's planner drops UPDATE_BEFORE messages
//!   ahead of a temporal join (`StreamPhysicalDropUpdateBefore`): the `+U` after it is
//!   the new version, and a Debezium update's `before` image carries the *old* version's
//!   time, which must not end that version. Of two versions of a key with the same
//!   time, the later arrival wins. An append-only right input: every row is a version.
//!   The input of a versioned view (a deduplication keeping the last row per key by
//!   event time, [`TemporalJoin::right_keeps_last`]): a row older than its key's newest
//!   version is dropped, as the deduplication drops it (Flink's
//!   `RowTimeDeduplicateFunction`); the others are versions.
//! - The left input may be a changelog: each of its rows (`+I`, `-U`, `+U`, `-D`) joins
//!   the version valid at its own time and keeps its kind in the output, as Flink passes
//!   each left row's kind on; the output is then updating. An append-only left input
//!   gives an append-only output.
//! - Left rows wait in state until the watermark (the minimum of both inputs) passes
//!   their time. Then each joins the version of its key valid at its time: the version
//!   with the largest time at most the left row's, unless that version is a delete.
//!   With an extra condition, that version must also satisfy it. INNER drops a left row
//!   without such a version, LEFT emits it padded with NULLs. Output rows are emitted at
//!   the watermark that passes their left time, so the result does not depend on the
//!   arrival order of the two inputs.
//! - Left rows late w.r.t. the watermark are not dropped, as in Flink: they wait for the
//!   next watermark and join the versions still retained then. Versions superseded
//!   below an earlier watermark are gone, so a late row may miss the version that was
//!   valid at its time (and join nothing, or a newer one is not chosen: only versions
//!   at or before its time are). Left rows with a NULL time never join (INNER drops
//!   them, LEFT pads them at once); rows with a NULL key never match.
//! - State: per key, after each watermark `W`, only the newest version at or below `W`
//!   and the newer ones are kept (cleanup timers per key fire when `W` reaches the
//!   second version); a delete left oldest is dropped too. Left rows leave when
//!   emitted. With `table.exec.state.ttl`, a key whose right side was not written for
//!   the TTL (processing time) loses its versions, as Flink's state retention clears
//!   them; left rows of the key then find no version.
//! - The output watermark is the input watermark: every row emitted before it has its
//!   left time at most the watermark.
//!
//! Checkpoints: see [`snapshot`].

mod snapshot;
mod state;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array};
use arrow::buffer::NullBuffer;
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{JobMetrics, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext};
use weir_types::{EngineError, EngineResult, RowKind, Watermark, ROW_KIND_COLUMN};

use super::columns::{evaluate_pairs, gather, pair_schema, Emitted, Layout};
use super::{JoinKind, JoinSide};
use crate::group_agg::{system_clock, Clock};
use crate::ttl::TtlSweep;
use state::{millis, Pending, Version, VersionTable};

/// An event-time temporal join, as the planner builds it.
#[derive(Debug, Clone)]
pub struct TemporalJoin {
    /// INNER or LEFT.
    pub kind: JoinKind,
    /// The left (probe) input: append-only, or a changelog whose rows keep their kinds
    /// in the output (then `output_schema` ends with the row-kind column). Its
    /// `state_ttl_ms` is not used.
    pub left: JoinSide,
    /// The versioned table: append-only or updating; `keys` are its primary key.
    /// `state_ttl_ms` is `table.exec.state.ttl`: how long a key's versions live after
    /// its last right row.
    pub right: JoinSide,
    /// Index of the left event-time column (the `AS OF` attribute).
    pub left_time: usize,
    /// Index of the right event-time column (the versioned table's rowtime).
    pub right_time: usize,
    /// Extra conditions, over the left output columns followed by the right output
    /// columns, which the version valid at the left time must satisfy.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Whether NULL keys are equal (`IS NOT DISTINCT FROM`).
    pub nulls_equal: bool,
    /// Whether the right input is that of a versioned view's deduplication keeping the
    /// last row per key by event time: a row older than its key's newest version is
    /// dropped instead of becoming a version.
    pub right_keeps_last: bool,
    /// Output: left output columns, then right output columns, then the row kind when the
    /// left input is updating.
    pub output_schema: SchemaRef,
}

impl TemporalJoin {
    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(
                    TemporalJoinOperator::with_clock(
                        Arc::clone(&def),
                        Arc::clone(&ctx.metrics),
                        system_clock(),
                    )?
                    .with_max_parallelism(ctx.max_parallelism),
                ))
            },
        )
    }
}

/// The schema of the left input's batches: its columns, and the row kind when updating.
pub(super) fn left_input_schema(left: &JoinSide) -> SchemaRef {
    if !left.updating {
        return Arc::clone(&left.schema);
    }
    let mut fields: Vec<Field> = left
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    Arc::new(Schema::new(fields))
}

/// The row kinds of a batch of `side` (its column after the data), `None` when the side
/// is append-only.
fn row_kinds<'a>(side: &JoinSide, batch: &'a RecordBatch) -> EngineResult<Option<&'a Int8Array>> {
    if !side.updating {
        return Ok(None);
    }
    let width = side.schema.fields().len();
    batch
        .columns()
        .get(width)
        .and_then(|c| c.as_primitive_opt::<Int8Type>())
        .map(Some)
        .ok_or_else(|| EngineError::Internal(format!("{ROW_KIND_COLUMN} column is not Int8")))
}

/// The kind of row `row` of `kinds` (an insert when the input is append-only).
fn kind_of(kinds: Option<&Int8Array>, row: usize) -> EngineResult<RowKind> {
    match kinds {
        Some(kinds) if kinds.is_valid(row) => RowKind::from_i8(kinds.value(row))
            .ok_or_else(|| EngineError::Internal("invalid row kind".into())),
        _ => Ok(RowKind::Insert),
    }
}

/// One subtask of a temporal join.
pub struct TemporalJoinOperator {
    def: Arc<TemporalJoin>,
    /// Encodes the key columns of both inputs.
    keys: RowConverter,
    /// Encodes and decodes the right input's rows.
    right_rows: RowConverter,
    versions: VersionTable,
    pending: Pending,
    /// The combined input watermark (`None` before the first).
    watermark: Option<i64>,
    clock: Clock,
    metrics: Arc<JobMetrics>,
    sweep: TtlSweep,
    max_parallelism: usize,
}

impl TemporalJoinOperator {
    /// Creates a subtask of `def` reading processing time (for the TTL) from `clock`.
    pub fn with_clock(
        def: Arc<TemporalJoin>,
        metrics: Arc<JobMetrics>,
        clock: Clock,
    ) -> EngineResult<TemporalJoinOperator> {
        if !matches!(def.kind, JoinKind::Inner | JoinKind::Left) {
            return Err(EngineError::Internal(
                "a temporal join is INNER or LEFT".into(),
            ));
        }
        if def.left.keys.len() != def.right.keys.len() || def.left.keys.is_empty() {
            return Err(EngineError::Internal(
                "a temporal join needs the same, non-zero number of keys on both sides".into(),
            ));
        }
        let (lf, rf) = (def.left.schema.fields(), def.right.schema.fields());
        let mut key_fields = Vec::new();
        for (&l, &r) in def.left.keys.iter().zip(&def.right.keys) {
            match (lf.get(l), rf.get(r)) {
                (Some(a), Some(b)) if a.data_type() == b.data_type() => {
                    key_fields.push(SortField::new(a.data_type().clone()));
                }
                _ => {
                    return Err(EngineError::Internal(format!(
                        "temporal join key columns {l} and {r} are missing or of different types"
                    )))
                }
            }
        }
        if def.left_time >= lf.len() || def.right_time >= rf.len() {
            return Err(EngineError::Internal(
                "temporal join time column out of range".into(),
            ));
        }
        let right_fields = rf
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(TemporalJoinOperator {
            keys: RowConverter::new(key_fields)?,
            right_rows: RowConverter::new(right_fields)?,
            versions: VersionTable::default(),
            pending: Pending::new(left_input_schema(&def.left), def.left_time),
            watermark: None,
            clock,
            metrics,
            sweep: TtlSweep::new(def.right.state_ttl_ms),
            max_parallelism: weir_types::keygroup::DEFAULT_MAX_PARALLELISM,
            def,
        })
    }

    /// Sets the number of key groups (`pipeline.max-parallelism`) checkpoints use.
    pub fn with_max_parallelism(mut self, max_parallelism: usize) -> TemporalJoinOperator {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Number of left rows waiting for the watermark and of right versions held.
    pub fn state_rows(&self) -> (usize, usize) {
        (self.pending.rows(), self.versions.rows())
    }

    /// Which rows of `key_columns` (and `times`) can match: no NULL time, and no NULL
    /// key unless NULL keys are equal.
    fn valid(&self, key_columns: &[ArrayRef], times: &dyn Array) -> Option<NullBuffer> {
        if self.def.nulls_equal {
            times.logical_nulls()
        } else {
            key_columns.iter().fold(times.logical_nulls(), |acc, c| {
                NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
            })
        }
    }

    /// Buffers left rows; those with a NULL time are emitted padded (LEFT) or dropped.
    fn push_left(&mut self, batch: RecordBatch, out: &mut Output) -> EngineResult<()> {
        let times = batch.column(self.def.left_time);
        if times.null_count() == 0 {
            return self.pending.push(batch);
        }
        let has_time = arrow::compute::is_not_null(times.as_ref())?;
        self.pending.push(filter_record_batch(&batch, &has_time)?)?;
        if self.def.kind == JoinKind::Left {
            let untimed = filter_record_batch(&batch, &arrow::compute::not(&has_time)?)?;
            let kinds = row_kinds(&self.def.left, &untimed)?;
            let mut padded = Emitted::default();
            for row in 0..untimed.num_rows() {
                padded.push(Some(row), None, kind_of(kinds, row)?);
            }
            if let Some(rows) = self.emit(untimed.columns(), padded)? {
                out.batch(rows);
            }
        }
        Ok(())
    }

    /// Stores the versions in a batch of the right input.
    fn push_right(&mut self, batch: &RecordBatch) -> EngineResult<()> {
        let side = &self.def.right;
        let width = side.schema.fields().len();
        let data = &batch.columns()[..width];
        let kinds = row_kinds(side, batch)?;
        let key_columns: Vec<ArrayRef> = side.keys.iter().map(|&k| Arc::clone(&data[k])).collect();
        let times = millis(&data[self.def.right_time])?;
        let valid = self.valid(&key_columns, &times);
        let keys = self.keys.convert_columns(&key_columns)?;
        let rows = self.right_rows.convert_columns(data)?;
        let now = (self.clock)();
        for row in 0..batch.num_rows() {
            if valid.as_ref().is_some_and(|v| v.is_null(row)) {
                continue;
            }
            let kind = kind_of(kinds, row)?;
            if kind == RowKind::UpdateBefore {
                continue;
            }
            let key = keys.row(row);
            let time = times.value(row);
            if self.def.right_keeps_last
                && self
                    .versions
                    .newest_time(key.as_ref())
                    .is_some_and(|newest| newest > time)
            {
                continue;
            }
            let version = Version {
                time,
                row: rows.row(row).as_ref().into(),
                retract: kind == RowKind::Delete,
            };
            self.versions.upsert(key.as_ref(), version, now);
        }
        Ok(())
    }

    /// The output rows in `out`, of left rows `left` and stored right rows.
    fn emit(&self, left: &[ArrayRef], out: Emitted) -> EngineResult<Option<RecordBatch>> {
        let layout = Layout {
            input: 0,
            data: left,
            input_width: self.def.left.output_columns,
            other: &self.right_rows,
            other_schema: &self.def.right.schema,
            other_width: self.def.right.output_columns,
        };
        gather(
            &layout,
            out,
            &self.def.output_schema,
            self.def.left.updating,
        )
    }

    /// Joins the left rows whose time the watermark passed, then cleans the versions.
    fn advance(&mut self, watermark: i64, out: &mut Output) -> EngineResult<()> {
        let now = (self.clock)();
        if let Some(ttl) = self.sweep.due(now) {
            let dropped = self.versions.expire(now, ttl);
            if dropped > 0 {
                JobMetrics::add(&self.metrics.state_keys_expired, dropped);
            }
        }
        if let Some(due) = self.pending.take_due(watermark)? {
            if let Some(rows) = self.join_due(&due, now)? {
                out.batch(rows);
            }
        }
        self.versions.fire_timers(watermark);
        Ok(())
    }

    /// Joins left rows with the versions valid at their times, in one pass.
    fn join_due(&self, due: &RecordBatch, now: i64) -> EngineResult<Option<RecordBatch>> {
        let def = &self.def;
        let data = due.columns();
        let key_columns: Vec<ArrayRef> = def
            .left
            .keys
            .iter()
            .map(|&k| Arc::clone(&data[k]))
            .collect();
        let times = millis(&data[def.left_time])?;
        let valid = self.valid(&key_columns, &times);
        let keys = self.keys.convert_columns(&key_columns)?;
        let ttl = def.right.state_ttl_ms;
        let mut pair_rows: Vec<u32> = Vec::new();
        let mut stored: Vec<&[u8]> = Vec::new();
        for row in 0..due.num_rows() {
            if valid.as_ref().is_some_and(|v| v.is_null(row)) {
                continue;
            }
            let key = keys.row(row);
            if let Some(version) = self
                .versions
                .valid_at(key.as_ref(), times.value(row), now, ttl)
            {
                pair_rows.push(row as u32);
                stored.push(&version.row);
            }
        }
        let accepted = match &def.filter {
            None => vec![true; stored.len()],
            Some(filter) => {
                let layout = Layout {
                    input: 0,
                    data,
                    input_width: def.left.output_columns,
                    other: &self.right_rows,
                    other_schema: &def.right.schema,
                    other_width: def.right.output_columns,
                };
                let width = def.left.output_columns + def.right.output_columns;
                evaluate_pairs(
                    filter.as_ref(),
                    pair_schema(&def.output_schema, width),
                    &layout,
                    pair_rows.clone(),
                    &stored,
                )?
            }
        };
        let kinds = row_kinds(&def.left, due)?;
        let mut out = Emitted::default();
        let mut next = 0;
        for row in 0..due.num_rows() {
            let kind = kind_of(kinds, row)?;
            let matched = pair_rows.get(next).is_some_and(|&r| r as usize == row);
            if matched {
                if accepted[next] {
                    out.push(Some(row), Some(stored[next]), kind);
                } else if def.kind == JoinKind::Left {
                    out.push(Some(row), None, kind);
                }
                next += 1;
            } else if def.kind == JoinKind::Left {
                out.push(Some(row), None, kind);
            }
        }
        self.emit(data, out)
    }
}

impl Operator for TemporalJoinOperator {
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let side = match input {
            0 => &self.def.left,
            1 => &self.def.right,
            _ => {
                return Err(EngineError::Internal(format!(
                    "a join has two inputs, not input {input}"
                )))
            }
        };
        let expected = side.schema.fields().len() + usize::from(side.updating);
        if batch.num_columns() != expected {
            return Err(EngineError::Internal(format!(
                "temporal join input {input} has {} columns, expected {expected}",
                batch.num_columns()
            )));
        }
        if input == 0 {
            self.push_left(batch, out)
        } else {
            self.push_right(&batch)
        }
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        if self.watermark.is_some_and(|w| w >= watermark.0) {
            return Ok(());
        }
        self.watermark = Some(watermark.0);
        self.advance(watermark.0, out)?;
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
