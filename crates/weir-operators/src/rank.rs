//! Unbounded Top-N and deduplication: `ROW_NUMBER() OVER (PARTITION BY k ORDER BY ...)`
//! with `rn <= N` (or `= 1`) over a stream without windows, as an updating stream.
//!
//! Each partition keeps its rows ordered by the `ORDER BY` columns (encoded with Arrow's
//! row format, so byte order is sort order) and arrival. Over an append-only input only
//! the first N rows are kept (a row that fell out can never come back); over an updating
//! input every row is kept, so a retracted leader is replaced by the next one. After each
//! input batch, every partition it touched compares its first N rows with those it had
//! before and emits the difference: per rank `-U`/`+U` when the row number is output
//! (Flink's rank-number mode), else `-D` for rows that left and `+I` for rows that
//! entered (`-U`/`+U` when one row replaces one row, as deduplication does).
//!
//! Ties are ranked by arrival, earlier first; with `latest_first_on_ties` later first,
//! which makes `ORDER BY time DESC ... = 1` keep the last row (Flink's keep-last-row
//! deduplication). Over a processing-time `ORDER BY ... ASC` with N = 1 the first row of
//! a partition never changes, so the planner declares that output append-only and the
//! row-kind column is left out.
//!
//! With `table.exec.state.ttl`, a partition not written for the TTL is dropped without
//! retracting what it emitted (as Flink's state TTL does): a later row of that partition
//! starts it afresh, and the dropped partitions are counted in `state_keys_expired`.
//! A partition is expired when it is next read even if no sweep dropped it yet, so
//! the output does not depend on when sweeps run (and a restored subtask, which sweeps
//! on its own schedule, emits exactly what the uninterrupted one would).
//!
//! Checkpoints: see [`snapshot`] (the kept rows of every partition). The operator does
//! not act on watermarks (it forwards them), so it keeps none.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, Int8Array};
use arrow::compute::SortOptions;
use arrow::datatypes::{Int8Type, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{RowConverter, SortField};
use weir_runtime::{JobMetrics, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext};
use weir_types::{EngineError, EngineResult, RowKind, Watermark, ROW_KIND_COLUMN};

use crate::group_agg::{system_clock, Clock};

use state::{Partition, Partitions, Row, Rows};

/// An unbounded Top-N, as the planner builds it.
#[derive(Debug, Clone)]
pub struct Rank {
    /// The input's data columns (without the row-kind column).
    pub input_schema: SchemaRef,
    /// Whether the input is updating (its last column is the row kind).
    pub input_updating: bool,
    /// `PARTITION BY` columns (indices in the input).
    pub partition_columns: Vec<usize>,
    /// `ORDER BY` columns and directions.
    pub order: Vec<(usize, SortOptions)>,
    /// Rows kept per partition.
    pub limit: usize,
    /// Later rows rank first among equal `ORDER BY` values.
    pub latest_first_on_ties: bool,
    /// The query reads the row number: emit changes per rank. Otherwise only which rows
    /// are in the top N matters, and the row-number column holds 0.
    pub emit_rank: bool,
    /// Output: the input columns, the row number (BIGINT, as Flink's), then the row kind unless the
    /// output is append-only.
    pub output_schema: SchemaRef,
    /// `table.exec.state.ttl` in milliseconds (`None`: keep partitions forever).
    pub state_ttl_ms: Option<i64>,
}

impl Rank {
    /// Whether the output carries row kinds.
    fn output_updating(&self) -> bool {
        self.output_schema
            .fields()
            .last()
            .is_some_and(|f| f.name() == ROW_KIND_COLUMN)
    }

    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(
                    RankOperator::with_clock(
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

/// One subtask of an unbounded Top-N.
pub struct RankOperator {
    def: Arc<Rank>,
    partition_rows: RowConverter,
    sort_rows: RowConverter,
    full_rows: RowConverter,
    partitions: Partitions,
    /// The partitions the current batch changed, in the order it first did, each with
    /// the range of `before` holding its first N rows before the batch.
    touched: Vec<Touched>,
    /// The first N rows of the touched partitions before the batch.
    before: Vec<Row>,
    arrivals: u64,
    clock: Clock,
    metrics: Arc<JobMetrics>,
    sweep: crate::ttl::TtlSweep,
    /// Number of key groups, for checkpoints.
    max_parallelism: usize,
}

impl RankOperator {
    /// Creates a subtask of `def` on the wall clock, with metrics of its own.
    pub fn new(def: Arc<Rank>) -> EngineResult<RankOperator> {
        Self::with_clock(def, Arc::new(JobMetrics::default()), system_clock())
    }

    /// Creates a subtask of `def` reading processing time from `clock`.
    pub fn with_clock(
        def: Arc<Rank>,
        metrics: Arc<JobMetrics>,
        clock: Clock,
    ) -> EngineResult<RankOperator> {
        let sweep = crate::ttl::TtlSweep::new(def.state_ttl_ms);
        let fields = def.input_schema.fields();
        let field = |i: usize| {
            fields.get(i).ok_or_else(|| {
                EngineError::Internal(format!("Top-N column {i} is not in the input"))
            })
        };
        let partition_fields = def
            .partition_columns
            .iter()
            .map(|&i| Ok(SortField::new(field(i)?.data_type().clone())))
            .collect::<EngineResult<Vec<_>>>()?;
        let sort_fields = def
            .order
            .iter()
            .map(|&(i, options)| {
                Ok(SortField::new_with_options(
                    field(i)?.data_type().clone(),
                    options,
                ))
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let full_fields = fields
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(RankOperator {
            partition_rows: RowConverter::new(partition_fields)?,
            sort_rows: RowConverter::new(sort_fields)?,
            full_rows: RowConverter::new(full_fields)?,
            def,
            partitions: Partitions::default(),
            touched: Vec::new(),
            before: Vec::new(),
            arrivals: 0,
            clock,
            metrics,
            sweep,
            max_parallelism: weir_types::keygroup::DEFAULT_MAX_PARALLELISM,
        })
    }

    /// Sets the number of key groups (`pipeline.max-parallelism`) checkpoints use.
    pub fn with_max_parallelism(mut self, max_parallelism: usize) -> RankOperator {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Whether a partition outlived the state TTL at `now`: not written for the TTL
    /// (and not being changed by the current batch).
    fn expired(&self, partition: &Partition, now: i64) -> bool {
        self.def
            .state_ttl_ms
            .is_some_and(|ttl| !partition.touched && partition.last_write + ttl <= now)
    }

    /// Drops partitions not written for the state TTL (a few sweeps per TTL period).
    fn expire(&mut self, now: i64) {
        let Some(ttl) = self.sweep.due(now) else {
            return;
        };
        let dropped = self
            .partitions
            .retain(|p| p.touched || p.last_write + ttl > now);
        if dropped > 0 {
            JobMetrics::add(&self.metrics.state_keys_expired, dropped);
        }
    }

    /// Number of partitions with rows.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn column(batch: &RecordBatch, i: usize) -> EngineResult<ArrayRef> {
        batch
            .columns()
            .get(i)
            .cloned()
            .ok_or_else(|| EngineError::Internal(format!("Top-N input lacks column {i}")))
    }

    /// Applies a batch to the partitions; the indices of partitions it may have left
    /// without rows.
    fn apply(&mut self, batch: &RecordBatch, now: i64) -> EngineResult<Vec<usize>> {
        let def = Arc::clone(&self.def);
        let pick = |columns: &[usize]| -> EngineResult<Vec<ArrayRef>> {
            columns.iter().map(|&i| Self::column(batch, i)).collect()
        };
        let keys = self
            .partition_rows
            .convert_columns(&pick(&def.partition_columns)?)?;
        let order_columns: Vec<usize> = def.order.iter().map(|(i, _)| *i).collect();
        let sorts = self.sort_rows.convert_columns(&pick(&order_columns)?)?;
        let data: Vec<usize> = (0..def.input_schema.fields().len()).collect();
        let rows = self.full_rows.convert_columns(&pick(&data)?)?;
        let kinds = if def.input_updating {
            let column = Self::column(batch, data.len())?;
            Some(
                column
                    .as_primitive_opt::<Int8Type>()
                    .ok_or_else(|| EngineError::Internal("row kind column is not Int8".into()))?
                    .clone(),
            )
        } else {
            None
        };
        let mut emptied = Vec::new();
        for row in 0..batch.num_rows() {
            let retract = kinds.as_ref().is_some_and(|k| {
                RowKind::from_i8(k.value(row)).is_some_and(|k| !k.is_accumulate())
            });
            let key = keys.row(row);
            let key = key.as_ref();
            let hash = self.partitions.hash(key);
            let found = self.partitions.find(hash, key);
            // An expired partition is gone when read, whether or not a sweep dropped it
            // yet: what is emitted does not depend on when sweeps run. It is emptied
            // here, and dropped after the batch unless a later row refills it.
            if let Some(i) = found {
                let partition = self.partitions.get(i);
                if !partition.rows.is_empty() && self.expired(partition, now) {
                    let partition = self.partitions.get_mut(i);
                    partition.rows.clear();
                    partition.last_write = now;
                    JobMetrics::add(&self.metrics.state_keys_expired, 1);
                    emptied.push(i);
                }
                // An emptied partition is as if absent: retracting from it does nothing.
                let partition = self.partitions.get(i);
                if retract && partition.rows.is_empty() && !partition.touched {
                    continue;
                }
            }
            let i = match found {
                Some(i) => i,
                // A retraction of a row never seen: nothing to do.
                None if retract => continue,
                None => self.partitions.insert(
                    hash,
                    Partition {
                        key: key.into(),
                        rows: Rows::new(def.input_updating),
                        last_write: now,
                        touched: false,
                    },
                ),
            };
            let partition = self.partitions.get_mut(i);
            if !partition.touched {
                partition.touched = true;
                let start = self.before.len();
                self.before.extend(
                    partition
                        .rows
                        .iter()
                        .take(def.limit)
                        .map(|(_, r)| Arc::clone(r)),
                );
                self.touched.push(Touched {
                    partition: i,
                    start,
                    end: self.before.len(),
                });
            }
            partition.last_write = now;
            let sort_key = sorts.row(row);
            let content = rows.row(row);
            if retract {
                partition.rows.retract(sort_key.as_ref(), content.as_ref());
            } else {
                self.arrivals += 1;
                let tie = if def.latest_first_on_ties {
                    u64::MAX - self.arrivals
                } else {
                    self.arrivals
                };
                partition
                    .rows
                    .insert(sort_key.as_ref(), tie, content.as_ref(), def.limit);
            }
        }
        Ok(emptied)
    }

    /// The changes of the partitions touched since the last call, as one batch; drops
    /// the partitions left without rows (and those in `emptied` still without).
    fn emit(&mut self, mut emptied: Vec<usize>) -> EngineResult<Option<RecordBatch>> {
        let limit = self.def.limit;
        let mut out_rows: Vec<Row> = Vec::new();
        let mut ranks: Vec<i64> = Vec::new();
        let mut kinds: Vec<i8> = Vec::new();
        let mut push = |row: &Row, rank: usize, kind: RowKind| {
            out_rows.push(Arc::clone(row));
            ranks.push(rank as i64);
            kinds.push(kind as i8);
        };
        let same = |a: &Row, b: &Row| Arc::ptr_eq(a, b) || a == b;
        let touched = std::mem::take(&mut self.touched);
        let before_rows = std::mem::take(&mut self.before);
        let mut left: Vec<&Row> = Vec::new();
        let mut entered: Vec<&Row> = Vec::new();
        for t in &touched {
            let partition = self.partitions.get_mut(t.partition);
            partition.touched = false;
            if partition.rows.is_empty() {
                emptied.push(t.partition);
            }
        }
        for t in &touched {
            let partition = self.partitions.get(t.partition);
            let before = &before_rows[t.start..t.end];
            let mut after = partition.rows.iter().take(limit).map(|(_, r)| r);
            if self.def.emit_rank {
                let mut rank = 0;
                loop {
                    let b = before.get(rank);
                    let a = after.next();
                    rank += 1;
                    match (b, a) {
                        (Some(b), Some(a)) if same(b, a) => {}
                        (Some(b), Some(a)) => {
                            push(b, rank, RowKind::UpdateBefore);
                            push(a, rank, RowKind::UpdateAfter);
                        }
                        (None, Some(a)) => push(a, rank, RowKind::Insert),
                        (Some(b), None) => push(b, rank, RowKind::Delete),
                        (None, None) => break,
                    }
                }
                continue;
            }
            left.clear();
            left.extend(before);
            entered.clear();
            for row in after {
                match left.iter().position(|b| same(b, row)) {
                    Some(i) => {
                        left.swap_remove(i);
                    }
                    None => entered.push(row),
                }
            }
            if left.len() == 1 && entered.len() == 1 {
                push(left[0], 0, RowKind::UpdateBefore);
                push(entered[0], 0, RowKind::UpdateAfter);
                continue;
            }
            for row in &left {
                push(row, 0, RowKind::Delete);
            }
            for row in &entered {
                push(row, 0, RowKind::Insert);
            }
        }
        drop(before_rows);
        emptied.retain(|&i| self.partitions.get(i).rows.is_empty());
        self.partitions.remove_all(emptied);
        // Reuse the allocations for the next batch.
        self.touched = touched;
        self.touched.clear();
        if out_rows.is_empty() {
            return Ok(None);
        }
        let parser = self.full_rows.parser();
        let mut columns = self
            .full_rows
            .convert_rows(out_rows.iter().map(|r| parser.parse(r)))?;
        columns.push(Arc::new(Int64Array::from(ranks)));
        if self.def.output_updating() {
            columns.push(Arc::new(Int8Array::from(kinds)));
        } else if kinds.iter().any(|&k| k != RowKind::Insert as i8) {
            return Err(EngineError::Internal(
                "an append-only Top-N produced an update".into(),
            ));
        }
        let options = RecordBatchOptions::new().with_row_count(Some(out_rows.len()));
        Ok(Some(RecordBatch::try_new_with_options(
            Arc::clone(&self.def.output_schema),
            columns,
            &options,
        )?))
    }
}

/// A partition the current batch changed.
struct Touched {
    /// Its index in the partitions.
    partition: usize,
    /// Its first N rows before the batch: `before[start..end]`.
    start: usize,
    end: usize,
}

impl Operator for RankOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let now = (self.clock)();
        self.expire(now);
        let emptied = self.apply(&batch, now)?;
        if let Some(batch) = self.emit(emptied)? {
            out.batch(batch);
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        self.expire((self.clock)());
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
#[path = "rank_checkpoint_tests.rs"]
mod checkpoint_tests;
#[path = "rank_snapshot.rs"]
mod snapshot;
#[path = "rank_state.rs"]
mod state;
#[cfg(test)]
#[path = "rank_tests.rs"]
mod tests;
