//! Changelog normalization of an upsert stream (Flink's `ChangelogNormalize`): a source
//! such as `upsert-kafka` says only "this key now has this row" (`+I`/`+U`) or "this key
//! is gone" (`-D` with only the key set, from a tombstone). Weir's updating operators
//! need full retractions, so this operator keeps the last row of every key and emits:
//!
//! | input | key not in state | key in state with row `old` |
//! |---|---|---|
//! | `+I`/`+U` row `new` | `+I new` | `-U old`, `+U new` (nothing if `new` equals `old`) |
//! | `-D` | nothing | `-D old` |
//!
//! `-U` input rows are ignored (an upsert stream carries none; Flink drops them too).
//! Input arrives hash-partitioned by the key. Rows are kept in Arrow's row format, so a
//! batch is converted once in and once out; no per-row allocation beyond the kept rows.
//!
//! Checkpoints: one keyed table, **`rows`**: the key group of each key, then the kept
//! row's columns. With `table.exec.state.ttl`, a key not written for the TTL is dropped
//! without a retraction (as Flink's state TTL does).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int8Array, UInt16Array};
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use weir_runtime::partition::key_groups;
use weir_runtime::{
    JobMetrics, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext, KEY_GROUP_COLUMN,
};
use weir_types::{EngineError, EngineResult, RowKind, Watermark};

use crate::group_agg::{system_clock, Clock};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Name of the keyed checkpoint table of kept rows.
const ROWS_TABLE: &str = "rows";

/// A changelog normalization, as the planner builds it.
#[derive(Debug, Clone)]
pub struct ChangelogNormalize {
    /// The input's data columns (without the row-kind column); the output has the same
    /// columns followed by the row kind.
    pub schema: SchemaRef,
    /// The key columns (indices in `schema`).
    pub key_columns: Vec<usize>,
    /// `table.exec.state.ttl` in milliseconds (`None`: keep keys forever).
    pub state_ttl_ms: Option<i64>,
}

impl ChangelogNormalize {
    /// A factory creating one operator per subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                let mut op = NormalizeOperator::with_clock(
                    Arc::clone(&def),
                    Arc::clone(&ctx.metrics),
                    system_clock(),
                )?;
                op.max_parallelism = ctx.max_parallelism;
                Ok(Box::new(op))
            },
        )
    }
}

/// A key's kept row and when it was last written (processing time, ms).
struct Kept {
    row: Box<[u8]>,
    last_write: i64,
}

/// One subtask of a changelog normalization.
pub struct NormalizeOperator {
    def: Arc<ChangelogNormalize>,
    key_rows: RowConverter,
    full_rows: RowConverter,
    state: Map<Box<[u8]>, Kept>,
    clock: Clock,
    metrics: Arc<JobMetrics>,
    sweep: crate::ttl::TtlSweep,
    max_parallelism: usize,
}

impl NormalizeOperator {
    /// Creates a subtask of `def` reading processing time from `clock`.
    pub fn with_clock(
        def: Arc<ChangelogNormalize>,
        metrics: Arc<JobMetrics>,
        clock: Clock,
    ) -> EngineResult<NormalizeOperator> {
        let fields = def.schema.fields();
        let key_fields = def
            .key_columns
            .iter()
            .map(|&i| {
                fields
                    .get(i)
                    .map(|f| SortField::new(f.data_type().clone()))
                    .ok_or_else(|| {
                        EngineError::Internal(format!(
                            "normalize key column {i} is not an input column"
                        ))
                    })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let full_fields = fields
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(NormalizeOperator {
            key_rows: RowConverter::new(key_fields)?,
            full_rows: RowConverter::new(full_fields)?,
            sweep: crate::ttl::TtlSweep::new(def.state_ttl_ms),
            def,
            state: Map::default(),
            clock,
            metrics,
            max_parallelism: weir_types::keygroup::DEFAULT_MAX_PARALLELISM,
        })
    }

    /// The output schema: the data columns and the row kind.
    fn output_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .def
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(
            weir_types::ROW_KIND_COLUMN,
            DataType::Int8,
            false,
        ));
        Arc::new(Schema::new(fields))
    }

    /// Whether a kept key outlived the TTL at `now`.
    fn expired(&self, kept: &Kept, now: i64) -> bool {
        self.def
            .state_ttl_ms
            .is_some_and(|ttl| kept.last_write + ttl <= now)
    }

    /// Drops keys not written for the TTL (a few sweeps per TTL period).
    fn expire(&mut self, now: i64) {
        let Some(ttl) = self.sweep.due(now) else {
            return;
        };
        let before = self.state.len();
        self.state.retain(|_, kept| kept.last_write + ttl > now);
        JobMetrics::add(&self.metrics.state_keys_expired, before - self.state.len());
    }

    /// Applies a batch; returns the normalized changes.
    fn apply(&mut self, batch: &RecordBatch, now: i64) -> EngineResult<Option<RecordBatch>> {
        let width = self.def.schema.fields().len();
        if batch.num_columns() != width + 1 {
            return Err(EngineError::Internal(format!(
                "normalize expects {width} columns and the row kind, got {}",
                batch.num_columns()
            )));
        }
        let kinds = batch
            .column(width)
            .as_primitive_opt::<Int8Type>()
            .ok_or_else(|| {
                EngineError::Internal("normalize: the row-kind column is not Int8".into())
            })?;
        let data = &batch.columns()[..width];
        let keys: Vec<ArrayRef> = self
            .def
            .key_columns
            .iter()
            .map(|&i| Arc::clone(&data[i]))
            .collect();
        let key_rows = self.key_rows.convert_columns(&keys)?;
        let rows = self.full_rows.convert_columns(data)?;
        // Changes as (kind, row bytes); old rows leave the state, so they are owned.
        let mut changes: Vec<(RowKind, Box<[u8]>)> = Vec::new();
        for i in 0..batch.num_rows() {
            let kind = RowKind::from_i8(kinds.value(i)).ok_or_else(|| {
                EngineError::Internal(format!("unknown row kind {}", kinds.value(i)))
            })?;
            let key = key_rows.row(i);
            let expired = self
                .state
                .get(key.as_ref())
                .is_some_and(|kept| self.expired(kept, now));
            if expired {
                self.state.remove(key.as_ref());
                JobMetrics::add(&self.metrics.state_keys_expired, 1);
            }
            let previous = self.state.get_mut(key.as_ref());
            match kind {
                RowKind::Insert | RowKind::UpdateAfter => {
                    let new = rows.row(i);
                    match previous {
                        Some(kept) => {
                            kept.last_write = now;
                            if kept.row.as_ref() != new.as_ref() {
                                let old = std::mem::replace(&mut kept.row, new.as_ref().into());
                                changes.push((RowKind::UpdateBefore, old));
                                changes.push((RowKind::UpdateAfter, new.as_ref().into()));
                            }
                        }
                        None => {
                            self.state.insert(
                                key.as_ref().into(),
                                Kept {
                                    row: new.as_ref().into(),
                                    last_write: now,
                                },
                            );
                            changes.push((RowKind::Insert, new.as_ref().into()));
                        }
                    }
                }
                RowKind::Delete => {
                    if previous.is_some() {
                        if let Some(kept) = self.state.remove(key.as_ref()) {
                            changes.push((RowKind::Delete, kept.row));
                        }
                    }
                }
                RowKind::UpdateBefore => {}
            }
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let parser = self.full_rows.parser();
        let mut columns = self
            .full_rows
            .convert_rows(changes.iter().map(|(_, row)| parser.parse(row)))?;
        columns.push(Arc::new(Int8Array::from_iter_values(
            changes.iter().map(|(kind, _)| *kind as i8),
        )));
        Ok(Some(RecordBatch::try_new(self.output_schema(), columns)?))
    }

    /// The schema of the `rows` checkpoint table.
    fn rows_schema(&self) -> SchemaRef {
        let mut fields = vec![Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)];
        fields.extend(
            self.def
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        fields.push(Field::new("__weir_last_write_ms", DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }

    fn snapshot(&self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        if self.state.is_empty() {
            return Ok(snapshot);
        }
        let parser = self.full_rows.parser();
        let data = self
            .full_rows
            .convert_rows(self.state.values().map(|k| parser.parse(&k.row)))?;
        let keys: Vec<ArrayRef> = self
            .def
            .key_columns
            .iter()
            .map(|&i| Arc::clone(&data[i]))
            .collect();
        let key_group: UInt16Array = key_groups(&keys, self.max_parallelism)?;
        let mut columns: Vec<ArrayRef> = vec![Arc::new(key_group)];
        columns.extend(data);
        columns.push(Arc::new(arrow::array::Int64Array::from_iter_values(
            self.state.values().map(|k| k.last_write),
        )));
        let batch = RecordBatch::try_new(self.rows_schema(), columns)?;
        snapshot
            .add_keyed(ROWS_TABLE, batch)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(snapshot)
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let expected = self.rows_schema();
        let width = self.def.schema.fields().len();
        for table in snapshot.into_tables() {
            let same = table.name() == ROWS_TABLE
                && table.schema().fields().len() == expected.fields().len()
                && table
                    .schema()
                    .fields()
                    .iter()
                    .zip(expected.fields())
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if !same {
                return Err(EngineError::Config(format!(
                    "the checkpoint's changelog normalization state (table {:?}) does not match \
                     this table's columns; the table's definition changed since the checkpoint \
                     was taken",
                    table.name()
                )));
            }
            for batch in table.batches() {
                let data = &batch.columns()[1..1 + width];
                let keys: Vec<ArrayRef> = self
                    .def
                    .key_columns
                    .iter()
                    .map(|&i| Arc::clone(&data[i]))
                    .collect();
                let key_rows = self.key_rows.convert_columns(&keys)?;
                let rows = self.full_rows.convert_columns(data)?;
                let last_writes = batch.columns()[1 + width]
                    .as_primitive_opt::<arrow::datatypes::Int64Type>()
                    .ok_or_else(|| EngineError::Internal("normalize last-write column".into()))?;
                for i in 0..batch.num_rows() {
                    self.state.insert(
                        key_rows.row(i).as_ref().into(),
                        Kept {
                            row: rows.row(i).as_ref().into(),
                            last_write: last_writes.value(i),
                        },
                    );
                }
            }
        }
        Ok(())
    }
}

impl Operator for NormalizeOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let now = (self.clock)();
        self.expire(now);
        if let Some(changes) = self.apply(&batch, now)? {
            out.batch(changes);
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
#[path = "normalize_tests.rs"]
mod tests;
