//! Regular (unbounded) equi-joins: INNER, LEFT, RIGHT and FULL OUTER joins of two
//! streams on equality keys, with optional extra conditions, over append-only or updating
//! inputs, producing Flink's changelog.
//!
//! Both inputs arrive hash-partitioned by their join key, so a subtask sees every row of
//! the keys it owns. Each side keeps its live rows per key ([`state`]); a row of one side
//! is stored in its side's state and probes the other side's rows of the same key. The
//! rows of the output follow Flink's `StreamingJoinOperator` exactly:
//!
//! - an accumulate row (`+I`, `+U`) of an outer side without match emits the row padded
//!   with NULLs (`+I`); a row of the other side that gives such a row its first match
//!   retracts the padded row (`-D`) before the joined rows;
//! - a retraction (`-U`, `-D`) retracts the joined rows, and a row of an outer side whose
//!   last match it was is emitted padded again (`+I`);
//! - when neither side is outer, joined rows carry the input row's kind (`+U` stays
//!   `+U`), so an inner join of updating inputs passes updates on; otherwise they are
//!   `+I` / `-D`.
//!
//! A batch is handled column-wise: keys and rows are encoded with Arrow's row format per
//! batch, matches are collected by probing the other side's hash table, the extra
//! condition is evaluated over all candidate pairs at once, and output columns are
//! gathered with `take` from the input batch and from the matched stored rows decoded in
//! one call. Rows whose key has a NULL never match (SQL equality), unless the keys were
//! compared with `IS NOT DISTINCT FROM`.
//!
//! State retention: each side has its own TTL (`table.exec.state.ttl` or the
//! `STATE_TTL` hint); a stored row not written for its side's TTL is gone, as with
//! Flink's state TTL, without retracting anything it produced. A row is expired when
//! read even if no sweep dropped it yet, so the output does not depend on when sweeps
//! run. Checkpoints: see [`snapshot`]. With `state.backend.type = rocksdb` the rows live
//! in RocksDB with a cache in memory ([`store`]).
//!
//! Joins bounded by event time have their own operators: [`interval`] joins,
//! [`window`] joins and event-time [`temporal`] joins against a versioned table.

mod cold;
mod columns;
pub mod interval;
pub mod lookup;
mod probe;
mod snapshot;
mod state;
mod store;
pub mod temporal;
pub mod window;

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int8Array};
use arrow::datatypes::{Int8Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{JobMetrics, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext};
use weir_types::{EngineError, EngineResult, Watermark, ROW_KIND_COLUMN};

use crate::group_agg::{system_clock, Clock};
use state::SideState;

/// The kind of a regular join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matched pairs.
    Inner,
    /// Every left row, padded with NULLs while it has no match.
    Left,
    /// Every right row, padded with NULLs while it has no match.
    Right,
    /// Every row of both sides.
    Full,
}

impl JoinKind {
    /// Whether the left side's unmatched rows are output (padded).
    pub fn left_outer(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full)
    }

    /// Whether the right side's unmatched rows are output (padded).
    pub fn right_outer(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }

    /// SQL name, e.g. `LEFT OUTER`.
    pub fn sql(self) -> &'static str {
        match self {
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT OUTER",
            JoinKind::Right => "RIGHT OUTER",
            JoinKind::Full => "FULL OUTER",
        }
    }
}

/// One input of a join.
#[derive(Debug, Clone)]
pub struct JoinSide {
    /// The input's data columns (without the row-kind column), key columns included.
    pub schema: SchemaRef,
    /// Whether the input is updating (its last column is the row kind).
    pub updating: bool,
    /// Indices of the equality key columns, in the order of the other side's.
    pub keys: Vec<usize>,
    /// How many leading data columns are part of the join's output (the planner may
    /// append computed key columns after them).
    pub output_columns: usize,
    /// How long a stored row of this side lives without being written, in milliseconds
    /// (`None`: forever).
    pub state_ttl_ms: Option<i64>,
}

/// The cold state of one input of a regular join (hot/cold join state, the
/// `COLD_STATE` hint): a row of the other input that finds no row of this input's key
/// in state looks the key up in an external table that a batch job loaded with this
/// input's older rows. Found rows join like stored ones but are not stored.
#[derive(Clone)]
pub struct ColdSide {
    /// The input with a cold table: 0 (left) or 1 (right).
    pub side: usize,
    /// The table, looked up by the input's join key columns.
    pub table: Arc<dyn weir_runtime::LookupTableFactory>,
    /// Retries and timeout (`lookup.*` options of the table).
    pub options: weir_runtime::LookupOptions,
    /// For each column of the input's schema, its column in the table's rows.
    pub columns: Vec<usize>,
}

impl std::fmt::Debug for ColdSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdSide")
            .field("side", &self.side)
            .field("table", &self.table.describe())
            .field("columns", &self.columns)
            .finish()
    }
}

/// A regular join, as the planner builds it.
#[derive(Debug, Clone)]
pub struct RegularJoin {
    /// INNER, LEFT, RIGHT or FULL.
    pub kind: JoinKind,
    /// The left input.
    pub left: JoinSide,
    /// The right input.
    pub right: JoinSide,
    /// Extra (non-equality) condition, over the left output columns followed by the
    /// right output columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Whether NULL keys are equal (`IS NOT DISTINCT FROM`); SQL `=` leaves it false.
    pub nulls_equal: bool,
    /// Output: left output columns, right output columns, then the row kind when the
    /// output is updating.
    pub output_schema: SchemaRef,
    /// The cold state of one input, if the join has one.
    pub cold: Option<ColdSide>,
}

impl RegularJoin {
    /// Whether the output carries row kinds: an outer join, or an updating input.
    pub fn output_updating(&self) -> bool {
        self.kind != JoinKind::Inner || self.left.updating || self.right.updating
    }

    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(
                    JoinOperator::with_clock(
                        Arc::clone(&def),
                        Arc::clone(&ctx.metrics),
                        system_clock(),
                    )?
                    .with_max_parallelism(ctx.max_parallelism)
                    .with_state_backend(ctx)?,
                ))
            },
        )
    }

    fn side(&self, input: usize) -> &JoinSide {
        if input == 0 {
            &self.left
        } else {
            &self.right
        }
    }
}

/// One subtask of a regular join.
pub struct JoinOperator {
    def: Arc<RegularJoin>,
    /// Left (0) and right (1) state.
    sides: [SideState; 2],
    clock: Clock,
    metrics: Arc<JobMetrics>,
    sweep: crate::ttl::TtlSweep,
    /// Number of key groups, for checkpoints.
    max_parallelism: usize,
    /// The RocksDB store, with `state.backend.type = rocksdb`.
    store: Option<store::JoinStore>,
    /// The client of the cold table, if one input has cold state.
    cold: Option<lookup::client::LookupClient>,
}

impl JoinOperator {
    /// Creates a subtask of `def` reading processing time from `clock`.
    pub fn with_clock(
        def: Arc<RegularJoin>,
        metrics: Arc<JobMetrics>,
        clock: Clock,
    ) -> EngineResult<JoinOperator> {
        if def.left.keys.len() != def.right.keys.len() || def.left.keys.is_empty() {
            return Err(EngineError::Internal(
                "a regular join needs the same, non-zero number of keys on both sides".into(),
            ));
        }
        for (&l, &r) in def.left.keys.iter().zip(&def.right.keys) {
            let (lf, rf) = (
                def.left.schema.fields().get(l),
                def.right.schema.fields().get(r),
            );
            match (lf, rf) {
                (Some(lf), Some(rf)) if lf.data_type() == rf.data_type() => {}
                _ => {
                    return Err(EngineError::Internal(format!(
                        "join key columns {l} and {r} are missing or of different types"
                    )))
                }
            }
        }
        let outer = [def.kind.left_outer(), def.kind.right_outer()];
        let sides = [
            SideState::new(&def.left, outer[0])?,
            SideState::new(&def.right, outer[1])?,
        ];
        // Sweep as often as the shortest TTL needs.
        let ttl = match (def.left.state_ttl_ms, def.right.state_ttl_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let cold = def
            .cold
            .as_ref()
            .map(|c| {
                lookup::client::LookupClient::new(
                    Arc::clone(&c.table),
                    c.options.clone(),
                    Arc::clone(&metrics),
                )
            })
            .transpose()?;
        Ok(JoinOperator {
            def,
            sides,
            clock,
            metrics,
            sweep: crate::ttl::TtlSweep::new(ttl),
            max_parallelism: weir_types::keygroup::DEFAULT_MAX_PARALLELISM,
            store: None,
            cold,
        })
    }

    /// Keeps the rows in RocksDB when the subtask's state backend is `rocksdb`.
    pub fn with_state_backend(mut self, ctx: &SubtaskContext) -> EngineResult<JoinOperator> {
        let Some(config) = ctx.state_backend.rocksdb() else {
            return Ok(self);
        };
        let range = weir_types::keygroup::key_group_range(
            ctx.subtask,
            ctx.max_parallelism,
            ctx.parallelism,
        );
        let ttl = match (self.def.left.state_ttl_ms, self.def.right.state_ttl_ms) {
            (Some(a), Some(b)) => Some(weir_state::rocks::StoreTtl {
                ttl_ms: a.max(b),
                clock: Arc::clone(&self.clock),
            }),
            _ => None,
        };
        let settings = store::JoinStoreSettings {
            config: config.clone(),
            label: format!("{}-{}", ctx.node_name, ctx.subtask),
            key_groups: [range.start as u32, range.end.saturating_sub(1) as u32],
            max_parallelism: ctx.max_parallelism,
            ttl,
        };
        self.max_parallelism = ctx.max_parallelism;
        self.store = Some(store::JoinStore::open(&mut self.sides, settings)?);
        Ok(self)
    }

    /// Sets the number of key groups (`pipeline.max-parallelism`) checkpoints use.
    pub fn with_max_parallelism(mut self, max_parallelism: usize) -> JoinOperator {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Number of rows held in the state of the left and the right side.
    pub fn stored_rows(&self) -> (usize, usize) {
        (self.sides[0].rows(), self.sides[1].rows())
    }

    /// Drops rows not written for their side's TTL (a few sweeps per TTL period).
    fn expire(&mut self, now: i64) {
        if self.sweep.due(now).is_none() {
            return;
        }
        let dropped: usize = self.sides.iter_mut().map(|s| s.expire_all(now)).sum();
        if dropped > 0 {
            JobMetrics::add(&self.metrics.state_keys_expired, dropped);
        }
    }

    /// The data columns of `batch` from input `input` and its row kinds (`None` for an
    /// append-only input).
    fn split(
        &self,
        input: usize,
        batch: &RecordBatch,
    ) -> EngineResult<(Vec<ArrayRef>, Option<Int8Array>)> {
        let side = self.def.side(input);
        let width = side.schema.fields().len();
        let expected = width + usize::from(side.updating);
        if batch.num_columns() != expected {
            return Err(EngineError::Internal(format!(
                "join input {input} has {} columns, expected {expected}",
                batch.num_columns()
            )));
        }
        let data = batch.columns()[..width].to_vec();
        let kinds = if side.updating {
            let column = &batch.columns()[width];
            Some(
                column
                    .as_primitive_opt::<Int8Type>()
                    .ok_or_else(|| {
                        EngineError::Internal(format!("{ROW_KIND_COLUMN} column is not Int8"))
                    })?
                    .clone(),
            )
        } else {
            None
        };
        Ok((data, kinds))
    }
}

impl Operator for JoinOperator {
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
        let now = (self.clock)();
        self.expire(now);
        let (data, kinds) = self.split(input, &batch)?;
        if let Some(result) = self.join_batch(input, &data, kinds.as_ref(), now)? {
            out.batch(result);
        }
        if let Some(store) = &self.store {
            if store.over_limit(&self.sides) {
                store.spill(&mut self.sides)?;
            }
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        self.expire((self.clock)());
        out.watermark(watermark);
        Ok(())
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        match self.store.as_mut() {
            Some(store) => store.snapshot(&mut self.sides, checkpoint_id),
            None => self.snapshot(),
        }
    }

    fn snapshot_savepoint(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        match self.store.is_some() {
            true => self.canonical_snapshot(),
            false => self.snapshot_state(checkpoint_id),
        }
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        if let Some(store) = self.store.as_mut() {
            store.checkpoint_complete(checkpoint_id);
        }
        Ok(())
    }

    fn restore_state(&mut self, mut snapshot: StateSnapshot) -> EngineResult<()> {
        let native = snapshot.take_native();
        match self.store.as_mut() {
            Some(store) if !native.is_empty() => store.restore_native(native)?,
            None if !native.is_empty() => {
                return Err(EngineError::Internal(
                    "native state given to a join without a RocksDB store".into(),
                ))
            }
            _ => {}
        }
        self.restore(snapshot)
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checkpoint;
