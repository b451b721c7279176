//! Unbounded aggregation (`GROUP BY` without a window): an updating stream of results.
//!
//! Each key's result is updated as rows arrive and emitted as Flink's changelog: `+I`
//! for a new key, `-U` (the previous result) and `+U` (the new one) for a change, `-D`
//! when every row of a key was retracted. The input may itself be updating: `-U`/`-D`
//! rows retract from the accumulators (MIN and MAX keep value counts, see [`retract`]).
//!
//! Emission is batched: all rows of one input batch are applied before the changed keys
//! are emitted, so a key changed by several rows of a batch yields one `-U`/`+U` pair
//! (Flink emits one pair per row unless mini-batch is on; the final table is the same).
//! With mini-batch ([`MiniBatch`]) changes are held back further, until `allow_latency`
//! has passed since the first held change or `size` rows were applied, and emitted on a
//! watermark or the next batch after that, and at end of input. As in Flink, a result
//! that did not change is not emitted again, unless state TTL is on. With state TTL,
//! keys not written for the TTL are dropped without retracting their results.
//!
//! Checkpoints: held changes are emitted ahead of the barrier
//! ([`Operator::prepare_snapshot_pre_barrier`]); the keys and their accumulators are
//! snapshotted as described in [`snapshot`]. The operator does not act on watermarks
//! (it forwards them), so it keeps none. With `state.backend.type = rocksdb` the keys
//! live in RocksDB, with a cache in memory (see [`store`]).

mod columnar;
mod columnar_distinct;
mod distinct;
mod emit;
mod keys;
mod kind;
pub mod local;
mod retract;
pub(crate) mod snapshot;
mod state;
mod store;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checkpoint;
#[cfg(test)]
mod tests_columnar;
#[cfg(test)]
mod tests_incremental;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt16Array};
use arrow::compute::{cast, prep_null_mask_filter};
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use weir_runtime::partition::key_groups;
use weir_runtime::{JobMetrics, Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext};
use weir_types::{EngineError, EngineResult, RowKind, Watermark, ROW_KIND_COLUMN};

use crate::window::FilteredAggregate;
use state::{AccumulatorKind, BatchInputs, GroupState};

/// Processing time in milliseconds since the epoch; tests supply their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// `table.exec.mini-batch.*`: how long and how many rows changes may be held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiniBatch {
    /// `table.exec.mini-batch.allow-latency` in milliseconds.
    pub allow_latency_ms: i64,
    /// `table.exec.mini-batch.size`: rows applied before changes are emitted.
    pub size: usize,
}

/// An unbounded aggregation, as the planner builds it.
#[derive(Debug, Clone)]
pub struct GroupAggregate {
    /// Grouping keys (indices in the input schema); empty for a global aggregate.
    pub key_columns: Vec<usize>,
    /// DataFusion physical aggregates over the input schema, with their FILTER predicates.
    pub aggregates: Vec<FilteredAggregate>,
    /// Output: the key columns, one column per aggregate, then [`ROW_KIND_COLUMN`].
    pub output_schema: SchemaRef,
    /// Whether the input is updating (its last column is [`ROW_KIND_COLUMN`]).
    pub input_updating: bool,
    /// `table.exec.state.ttl` in milliseconds (`None`: keep state forever).
    pub state_ttl_ms: Option<i64>,
    /// Mini-batch settings (`None`: emit after every input batch).
    pub mini_batch: Option<MiniBatch>,
    /// The input is the output of a [`local::LocalAggregate`] (two-phase aggregation):
    /// keys first, then each aggregate's state columns, then the row count.
    pub input_partial: bool,
}

impl GroupAggregate {
    /// The output schema for keys and aggregates with these fields: theirs plus the row kind.
    pub fn output_schema_of(fields: Vec<Field>) -> SchemaRef {
        let mut fields = fields;
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
        Arc::new(Schema::new(fields))
    }

    /// Checks the output schema and that every aggregate can take the input's changes.
    pub fn validate(&self) -> EngineResult<()> {
        let expected = self.key_columns.len() + self.aggregates.len() + 1;
        let fields = self.output_schema.fields();
        if fields.len() != expected || fields[expected - 1].name() != ROW_KIND_COLUMN {
            return Err(EngineError::Config(format!(
                "aggregation output has {} columns, expected {expected} ({} keys, {} aggregates, row kind)",
                fields.len(),
                self.key_columns.len(),
                self.aggregates.len()
            )));
        }
        for (aggregate, _) in &self.aggregates {
            AccumulatorKind::choose(aggregate, self.input_updating)?;
        }
        Ok(())
    }

    /// Fails, naming the function, when a checkpoint could not hold some aggregate's
    /// state exactly (what [`Operator::snapshot_state`] would fail with); for planning
    /// a job that takes checkpoints.
    pub fn check_checkpointable(&self) -> EngineResult<()> {
        for (aggregate, _) in &self.aggregates {
            let kind = AccumulatorKind::choose(aggregate, self.input_updating)?;
            if let Some(message) = kind.checkpoint_refusal(aggregate) {
                return Err(EngineError::Config(message));
            }
        }
        Ok(())
    }

    /// A factory creating one [`GroupAggregateOperator`] per subtask, on the wall clock.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(GroupAggregateOperator::new(
                    Arc::clone(&def),
                    ctx,
                    system_clock(),
                )?))
            },
        )
    }
}

/// One subtask of an unbounded aggregation.
pub struct GroupAggregateOperator {
    def: Arc<GroupAggregate>,
    state: GroupState,
    key_types: Vec<DataType>,
    clock: Clock,
    metrics: Arc<JobMetrics>,
    /// When the oldest change held back by mini-batch was applied.
    held_since: Option<i64>,
    held_rows: usize,
    sweep: crate::ttl::TtlSweep,
    max_parallelism: usize,
    /// The RocksDB store, with `state.backend.type = rocksdb`.
    store: Option<store::GroupStore>,
    /// The incremental chain, with the `hashmap` backend and incremental checkpoints.
    changelog: Option<weir_state::Changelog>,
}

impl GroupAggregateOperator {
    /// Creates a subtask of `def` reading processing time from `clock`.
    pub fn new(def: Arc<GroupAggregate>, ctx: &SubtaskContext, clock: Clock) -> EngineResult<Self> {
        let sweep = crate::ttl::TtlSweep::new(def.state_ttl_ms);
        def.validate()?;
        let key_types: Vec<DataType> = def
            .output_schema
            .fields()
            .iter()
            .take(def.key_columns.len())
            .map(|f| f.data_type().clone())
            .collect();
        let key_schema = Arc::new(Schema::new(
            key_types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("k{i}"), t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let aggregates = def
            .aggregates
            .iter()
            .map(|(a, _)| {
                Ok((
                    Arc::clone(a),
                    AccumulatorKind::choose(a, def.input_updating)?,
                ))
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let mut state = GroupState::new(
            &key_schema,
            aggregates,
            def.state_ttl_ms,
            !def.input_partial,
        )?;
        let store = match ctx.state_backend.rocksdb() {
            None => None,
            Some(config) => {
                let range = weir_types::keygroup::key_group_range(
                    ctx.subtask,
                    ctx.max_parallelism,
                    ctx.parallelism,
                );
                let settings = store::StoreSettings {
                    config: config.clone(),
                    label: format!("{}-{}", ctx.node_name, ctx.subtask),
                    key_groups: [range.start as u32, range.end.saturating_sub(1) as u32],
                    max_parallelism: ctx.max_parallelism,
                    keyed: !def.key_columns.is_empty(),
                    ttl: def.state_ttl_ms.map(|ttl_ms| weir_state::rocks::StoreTtl {
                        ttl_ms,
                        clock: Arc::clone(&clock),
                    }),
                };
                Some(store::GroupStore::open(&mut state, settings)?)
            }
        };
        // Changes are tracked only when checkpoints take them (else they would pile up).
        let incremental = ctx.checkpointing && ctx.state_backend.incremental();
        let changelog = (store.is_none() && incremental).then(|| {
            let range = weir_types::keygroup::key_group_range(
                ctx.subtask,
                ctx.max_parallelism,
                ctx.parallelism,
            );
            state.track_changes = true;
            weir_state::Changelog::new(
                [range.start as u32, range.end.saturating_sub(1) as u32],
                std::collections::BTreeMap::from([(
                    snapshot::GROUPS_TABLE.to_string(),
                    GroupState::groups_key_columns(key_types.len()),
                )]),
            )
        });
        Ok(GroupAggregateOperator {
            def,
            state,
            key_types,
            clock,
            metrics: Arc::clone(&ctx.metrics),
            held_since: None,
            held_rows: 0,
            sweep,
            max_parallelism: ctx.max_parallelism,
            store,
            changelog,
        })
    }

    /// Number of keys with state.
    pub fn keys(&self) -> usize {
        self.state.keys()
    }

    /// Approximate bytes of state: in memory, plus the store's files on disk.
    pub fn state_size(&self) -> usize {
        self.state.memory_size() + self.store.as_ref().map_or(0, |s| s.disk_size() as usize)
    }

    fn inputs(&self, batch: &RecordBatch) -> EngineResult<BatchInputs> {
        let rows = batch.num_rows();
        let mut keys = Vec::with_capacity(self.def.key_columns.len());
        for (&i, to) in self.def.key_columns.iter().zip(&self.key_types) {
            let column = batch.columns().get(i).ok_or_else(|| {
                EngineError::Internal(format!("aggregation key column {i} is not in the input"))
            })?;
            keys.push(if column.data_type() == to {
                Arc::clone(column)
            } else {
                cast(column, to)?
            });
        }
        let mut args = Vec::with_capacity(self.def.aggregates.len());
        let mut filters = Vec::with_capacity(self.def.aggregates.len());
        if self.def.input_partial {
            let mut next = self.def.key_columns.len();
            for (aggregate, _) in &self.def.aggregates {
                let width = aggregate.state_fields()?.len();
                let columns = batch.columns().get(next..next + width).ok_or_else(|| {
                    EngineError::Internal("partial aggregate input lacks state columns".into())
                })?;
                args.push(columns.to_vec());
                filters.push(None);
                next += width;
            }
            let counts = batch
                .columns()
                .get(next)
                .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>())
                .ok_or_else(|| {
                    EngineError::Internal("partial aggregate input lacks its row counts".into())
                })?
                .clone();
            return Ok(BatchInputs {
                keys,
                args,
                filters,
                retract: None,
                rows,
                partial_rows: Some(counts),
            });
        }
        for (index, (aggregate, filter)) in self.def.aggregates.iter().enumerate() {
            let values = aggregate
                .expressions()
                .iter()
                .map(|e| e.evaluate(batch)?.into_array(rows))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            args.push(values);
            // Aggregates often share a FILTER (Nexmark q16: three predicates over nine
            // aggregates): an identical earlier one's mask is reused.
            let same = filter.as_ref().and_then(|predicate| {
                self.def.aggregates[..index]
                    .iter()
                    .position(|(_, f)| f.as_ref().is_some_and(|f| f.as_ref() == predicate.as_ref()))
            });
            filters.push(match filter {
                None => None,
                Some(_) if same.is_some() => same.and_then(|i| filters[i].clone()),
                Some(predicate) => {
                    let mask = predicate.evaluate(batch)?.into_array(rows)?;
                    let Some(mask) = mask.as_boolean_opt() else {
                        return Err(EngineError::Internal(format!(
                            "aggregate FILTER evaluated to {} instead of BOOLEAN",
                            mask.data_type()
                        )));
                    };
                    Some(if mask.null_count() > 0 {
                        prep_null_mask_filter(mask)
                    } else {
                        mask.clone()
                    })
                }
            });
        }
        let retract = if self.def.input_updating {
            let column = batch
                .schema()
                .index_of(ROW_KIND_COLUMN)
                .map(|i| batch.column(i).clone())
                .map_err(|_| {
                    EngineError::Internal("updating input without a row kind column".into())
                })?;
            let kinds = column.as_primitive_opt::<Int8Type>().ok_or_else(|| {
                EngineError::Internal(format!("row kind column is {}", column.data_type()))
            })?;
            Some(
                kinds
                    .iter()
                    .map(|k| {
                        k.and_then(RowKind::from_i8)
                            .is_some_and(|k| !k.is_accumulate())
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok(BatchInputs {
            keys,
            args,
            filters,
            retract,
            rows,
            partial_rows: None,
        })
    }

    /// Emits the held changes when mini-batch allows it (always without mini-batch).
    fn maybe_emit(&mut self, now: i64, out: &mut Output) -> EngineResult<()> {
        let due = match (self.def.mini_batch, self.held_since) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mini), Some(since)) => {
                self.held_rows >= mini.size || now - since >= mini.allow_latency_ms
            }
        };
        if due {
            self.emit(out)?;
        }
        self.bound_cache()
    }

    /// With the RocksDB backend: when memory holds more keys than the cache allows and
    /// no change waits to be emitted, writes the changes back and drops clean keys.
    fn bound_cache(&mut self) -> EngineResult<()> {
        if let Some(store) = &self.store {
            if self.state.pending() == 0 && self.state.keys() > store.cache_keys() {
                store.write_back(&mut self.state)?;
                store.shrink(&mut self.state);
            }
        }
        Ok(())
    }

    fn emit(&mut self, out: &mut Output) -> EngineResult<()> {
        self.held_since = None;
        self.held_rows = 0;
        if let Some(batch) = self.state.emit(&self.def.output_schema)? {
            out.batch(batch);
        }
        Ok(())
    }

    fn expire(&mut self, now: i64) {
        let Some(ttl) = self.sweep.due(now) else {
            return;
        };
        let dropped = self.state.expire(now, ttl);
        if dropped > 0 {
            JobMetrics::add(&self.metrics.state_keys_expired, dropped);
        }
    }
}

impl Operator for GroupAggregateOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let now = (self.clock)();
        self.expire(now);
        let inputs = self.inputs(&batch)?;
        match &self.store {
            None => self.state.apply(&inputs, now)?,
            Some(store) => {
                let encoded = self.state.keys.encode(&inputs.keys)?;
                store.load(&mut self.state, &inputs.keys, encoded.as_ref(), inputs.rows)?;
                self.state.apply_encoded(&inputs, encoded.as_ref(), now)?;
            }
        }
        let expired = self.state.take_expired_on_read();
        if expired > 0 {
            JobMetrics::add(&self.metrics.state_keys_expired, expired);
        }
        if self.state.pending() > 0 && self.held_since.is_none() {
            self.held_since = Some(now);
        }
        self.held_rows += inputs.rows;
        self.maybe_emit(now, out)
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        let now = (self.clock)();
        self.maybe_emit(now, out)?;
        self.expire(now);
        out.watermark(watermark);
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> EngineResult<()> {
        self.emit(out)
    }

    fn prepare_snapshot_pre_barrier(
        &mut self,
        _checkpoint_id: u64,
        out: &mut Output,
    ) -> EngineResult<()> {
        self.emit(out)
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        if let Some(store) = self.store.as_mut() {
            self.state.check_checkpointable()?;
            return store.snapshot(&mut self.state, checkpoint_id);
        }
        if self.changelog.is_some() {
            return self.snapshot_incremental(checkpoint_id);
        }
        self.snapshot_tables()
    }

    fn snapshot_savepoint(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        match &self.store {
            Some(store) => {
                self.state.check_checkpointable()?;
                store.canonical_snapshot(&mut self.state)
            }
            // Savepoints are full and leave the incremental chain alone.
            None => self.snapshot_tables(),
        }
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        if let Some(store) = self.store.as_mut() {
            store.checkpoint_complete(checkpoint_id);
        }
        if let Some(log) = self.changelog.as_mut() {
            log.checkpoint_complete(checkpoint_id);
        }
        Ok(())
    }

    fn restore_state(&mut self, mut snapshot: StateSnapshot) -> EngineResult<()> {
        let native = snapshot.take_native();
        if let Some(store) = self.store.as_mut() {
            if !native.is_empty() {
                store.restore_native(native)?;
            }
        } else if !native.is_empty() {
            return Err(EngineError::Internal(
                "native state given to an aggregation without a RocksDB store".into(),
            ));
        }
        for table in snapshot.into_tables() {
            if table.name() != snapshot::GROUPS_TABLE {
                return Err(EngineError::Config(format!(
                    "the checkpoint holds a table {:?} an unbounded aggregation does not keep; \
                     the job's SQL changed since the checkpoint was taken",
                    table.name()
                )));
            }
            for batch in table.batches() {
                match &self.store {
                    Some(store) => store.import(&self.state, batch, &self.key_types)?,
                    None => self.state.restore(batch, &self.key_types)?,
                }
            }
        }
        Ok(())
    }
}

impl GroupAggregateOperator {
    /// The in-memory backend's snapshot: the `groups` table.
    fn snapshot_tables(&mut self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        let keyed = !self.def.key_columns.is_empty();
        let max_parallelism = self.max_parallelism;
        self.state.snapshot(&mut snapshot, |keys, rows| {
            if keyed {
                key_groups(keys, max_parallelism)
            } else {
                Ok(UInt16Array::from(vec![0u16; rows]))
            }
        })?;
        Ok(snapshot)
    }

    /// The in-memory backend's incremental snapshot: every key when the chain wants a
    /// new base, else the keys changed and removed since the previous snapshot.
    fn snapshot_incremental(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        let live = self.state.keys() as u64;
        let full = self.changelog.as_ref().is_none_or(|l| l.wants_full(live));
        let tables = if full {
            self.state.clear_changes();
            self.snapshot_tables()?
        } else {
            let mut snapshot = StateSnapshot::new();
            let keyed = !self.def.key_columns.is_empty();
            let max_parallelism = self.max_parallelism;
            self.state.snapshot_changes(&mut snapshot, |keys, rows| {
                if keyed {
                    key_groups(keys, max_parallelism)
                } else {
                    Ok(UInt16Array::from(vec![0u16; rows]))
                }
            })?;
            snapshot
        };
        match self.changelog.as_mut() {
            Some(log) => log
                .snapshot(checkpoint_id, full, tables)
                .map_err(|e| EngineError::Checkpoint(e.to_string())),
            None => Ok(tables),
        }
    }
}
