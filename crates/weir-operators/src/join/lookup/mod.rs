//! Lookup joins: each row of a stream joined with the rows of an external table (Redis,
//! PostgreSQL) that have its key at the time the row is processed (Flink's `JOIN t FOR
//! SYSTEM_TIME AS OF o.proc_time`), INNER or LEFT.
//!
//! Per input batch: the distinct keys (rows with a NULL key never match) are looked up
//! in the subtask's cache ([`cache`]); those it misses go to the store in one batched
//! request through [`weir_runtime::LookupTable`], so a batch costs at most one round
//! trip. The table's rows are filtered by the conditions on the table alone and
//! projected to the join's right-side columns, then joined: each left row with each of
//! its key's rows (a non-unique key gives several), the rest of the ON condition
//! evaluated over the joined rows, and in a LEFT join a left row with no row left padded
//! with NULLs. The output keeps the input's order.
//!
//! A request that fails because the store is unreachable or slow (`lookup.timeout`) is
//! retried `lookup.max-retries` times with backoff ([`LookupOptions::backoff`]); then the
//! job fails with a message naming the table, its address and what to check.
//!
//! No state: the cache is not checkpointed (a restored job starts with an empty one);
//! barriers and watermarks pass through, after the output of the rows before them.
//! Metrics: [`weir_runtime::JobMetrics`]'s `lookup_*` counters.

mod cache;
pub(crate) mod client;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::{filter_record_batch, interleave, take};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{
    JobMetrics, LookupOptions, LookupTableFactory, Operator, OperatorFactory, Output,
    SubtaskContext,
};
use weir_types::{EngineError, EngineResult};

use crate::group_agg::{system_clock, Clock};
use crate::join::JoinKind;
use cache::LookupCache;
use client::LookupClient;

/// A lookup join's definition, shared by its subtasks.
pub struct LookupJoin {
    /// [`JoinKind::Inner`] or [`JoinKind::Left`].
    pub kind: JoinKind,
    /// The table's clients.
    pub table: Arc<dyn LookupTableFactory>,
    /// Cache, retries, timeout.
    pub options: LookupOptions,
    /// Columns of the left input holding the lookup key, in the order of the table's
    /// [`LookupTableFactory::key_columns`] and with their types.
    pub left_keys: Vec<usize>,
    /// The first `left_width` columns of the left input are output (the input may carry
    /// computed key columns after them).
    pub left_width: usize,
    /// Conditions on the table's columns alone, over [`LookupTableFactory::schema`].
    pub right_filter: Option<Arc<dyn PhysicalExpr>>,
    /// The right side's columns, over [`LookupTableFactory::schema`].
    pub right_projection: Vec<Arc<dyn PhysicalExpr>>,
    /// The rest of the ON condition, over the output's columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Left columns then right columns (the right ones nullable).
    pub output_schema: SchemaRef,
}

impl LookupJoin {
    /// The factory of the join's subtasks.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let def = Arc::new(self);
        Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(LookupJoinOperator::new(
                    Arc::clone(&def),
                    Arc::clone(&ctx.metrics),
                    system_clock(),
                )?))
            },
        )
    }

    fn right_schema(&self) -> SchemaRef {
        let fields: Vec<_> = self.output_schema.fields()[self.left_width..].to_vec();
        Arc::new(Schema::new(fields))
    }
}

/// One subtask of a lookup join.
pub(crate) struct LookupJoinOperator {
    def: Arc<LookupJoin>,
    metrics: Arc<JobMetrics>,
    clock: Clock,
    cache: Option<LookupCache>,
    client: LookupClient,
    converter: RowConverter,
    key_schema: SchemaRef,
    right_schema: SchemaRef,
    /// Indices of the key columns in the table's schema.
    table_keys: Vec<usize>,
    /// A right-side row of NULLs, for padding.
    nulls: RecordBatch,
}

impl LookupJoinOperator {
    pub(crate) fn new(
        def: Arc<LookupJoin>,
        metrics: Arc<JobMetrics>,
        clock: Clock,
    ) -> EngineResult<LookupJoinOperator> {
        let table_schema = def.table.schema();
        let table_keys = def
            .table
            .key_columns()
            .iter()
            .map(|k| table_schema.index_of(k))
            .collect::<Result<Vec<_>, _>>()?;
        let key_schema = Arc::new(table_schema.project(&table_keys)?);
        let converter = RowConverter::new(
            key_schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        let right_schema = def.right_schema();
        let nulls = RecordBatch::try_new(
            Arc::clone(&right_schema),
            right_schema
                .fields()
                .iter()
                .map(|f| new_null_array(f.data_type(), 1))
                .collect(),
        )?;
        let client = LookupClient::new(
            Arc::clone(&def.table),
            def.options.clone(),
            Arc::clone(&metrics),
        )?;
        Ok(LookupJoinOperator {
            cache: def.options.cache.clone().map(LookupCache::new),
            def,
            metrics,
            clock,
            client,
            converter,
            key_schema,
            right_schema,
            table_keys,
            nulls,
        })
    }

    /// Asks the store for the rows of `keys`, retrying while it is unreachable.
    fn fetch(&mut self, keys: RecordBatch) -> EngineResult<RecordBatch> {
        self.client.fetch(keys)
    }

    /// The right-side rows of each key in `found` (the table's rows for `keys`), after
    /// the right-side filter and projection; one batch per row of `keys`.
    fn rows_per_key(
        &self,
        keys: &arrow::row::Rows,
        found: &RecordBatch,
    ) -> EngineResult<Vec<RecordBatch>> {
        let found = match &self.def.right_filter {
            Some(f) => {
                let mask = f.evaluate(found)?.into_array(found.num_rows())?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| EngineError::Internal("lookup filter is not boolean".into()))?;
                filter_record_batch(found, mask)?
            }
            None => found.clone(),
        };
        let key_columns: Vec<ArrayRef> = self
            .table_keys
            .iter()
            .map(|&k| Arc::clone(found.column(k)))
            .collect();
        let found_keys = self.converter.convert_columns(&key_columns)?;
        let mut by_key: HashMap<&[u8], Vec<u32>> = HashMap::new();
        for (row, key) in found_keys.iter().enumerate() {
            by_key.entry(key.data()).or_default().push(row as u32);
        }
        let projected = self
            .def
            .right_projection
            .iter()
            .map(|e| e.evaluate(&found)?.into_array(found.num_rows()))
            .collect::<Result<Vec<_>, _>>()?;
        let projected = RecordBatch::try_new_with_options(
            Arc::clone(&self.right_schema),
            projected,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(found.num_rows())),
        )?;
        keys.iter()
            .map(|key| {
                let rows = by_key.get(key.as_ref()).map(Vec::as_slice).unwrap_or(&[]);
                let indices = UInt32Array::from(rows.to_vec());
                let columns = projected
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(RecordBatch::try_new_with_options(
                    Arc::clone(&self.right_schema),
                    columns,
                    &arrow::record_batch::RecordBatchOptions::new()
                        .with_row_count(Some(rows.len())),
                )?)
            })
            .collect()
    }

    /// The output rows for `pairs` of (left row, right batch, right row); right batch
    /// `right.len()` is the row of NULLs.
    fn assemble(
        &self,
        left: &RecordBatch,
        right: &[RecordBatch],
        pairs: &[(u32, usize, usize)],
    ) -> EngineResult<RecordBatch> {
        let indices = UInt32Array::from_iter_values(pairs.iter().map(|p| p.0));
        let mut columns = Vec::with_capacity(self.def.output_schema.fields().len());
        for column in &left.columns()[..self.def.left_width] {
            columns.push(take(column.as_ref(), &indices, None)?);
        }
        let at: Vec<(usize, usize)> = pairs.iter().map(|p| (p.1, p.2)).collect();
        for c in 0..self.right_schema.fields().len() {
            let arrays: Vec<&dyn Array> = right
                .iter()
                .chain(std::iter::once(&self.nulls))
                .map(|b| b.column(c).as_ref())
                .collect();
            columns.push(interleave(&arrays, &at)?);
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.def.output_schema),
            columns,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(pairs.len())),
        )?)
    }
}

impl Operator for LookupJoinOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let now = (self.clock)();
        let key_columns: Vec<ArrayRef> = self
            .def
            .left_keys
            .iter()
            .map(|&k| Arc::clone(batch.column(k)))
            .collect();
        let keys = self.converter.convert_columns(&key_columns)?;
        // The distinct keys of the batch: their rows (once known) and first row.
        let mut slots: HashMap<&[u8], usize> = HashMap::new();
        let mut resolved: Vec<Option<RecordBatch>> = Vec::new();
        let mut missing: Vec<(usize, u32)> = Vec::new();
        let mut slot_of_row: Vec<Option<usize>> = Vec::with_capacity(batch.num_rows());
        for (row, key) in keys.iter().enumerate() {
            if key_columns.iter().any(|c| c.is_null(row)) {
                slot_of_row.push(None);
                continue;
            }
            let next = resolved.len();
            let slot = *slots.entry(key.data()).or_insert(next);
            if slot == next {
                let cached = self.cache.as_mut().and_then(|c| c.get(key.as_ref(), now));
                if cached.is_none() {
                    missing.push((slot, row as u32));
                }
                resolved.push(cached);
            }
            slot_of_row.push(Some(slot));
        }
        JobMetrics::add(&self.metrics.lookup_cache_misses, missing.len());
        JobMetrics::add(
            &self.metrics.lookup_cache_hits,
            resolved.len() - missing.len(),
        );
        if !missing.is_empty() {
            let rows = UInt32Array::from_iter_values(missing.iter().map(|m| m.1));
            let columns = key_columns
                .iter()
                .map(|c| take(c.as_ref(), &rows, None))
                .collect::<Result<Vec<_>, _>>()?;
            let request = RecordBatch::try_new(Arc::clone(&self.key_schema), columns)?;
            let request_keys = self.converter.convert_columns(request.columns())?;
            let found = self.fetch(request)?;
            let per_key = self.rows_per_key(&request_keys, &found)?;
            for (i, ((slot, _), rows)) in missing.iter().zip(per_key).enumerate() {
                if let Some(cache) = self.cache.as_mut() {
                    cache.put(request_keys.row(i).as_ref(), rows.clone(), now);
                }
                resolved[*slot] = Some(rows);
            }
        }
        // Candidates: (left row, slot, right row), in input order.
        let right: Vec<RecordBatch> = resolved
            .into_iter()
            .map(|r| r.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&self.right_schema))))
            .collect();
        let padding = right.len();
        let mut pairs = Vec::new();
        for (row, slot) in slot_of_row.iter().enumerate() {
            let matches = slot.map_or(0, |s| right[s].num_rows());
            if matches == 0 {
                if self.def.kind == JoinKind::Left {
                    pairs.push((row as u32, padding, 0));
                }
                continue;
            }
            if let Some(s) = slot {
                pairs.extend((0..matches).map(|r| (row as u32, *s, r)));
            }
        }
        let joined = self.assemble(&batch, &right, &pairs)?;
        let Some(filter) = &self.def.filter else {
            out.batch(joined);
            return Ok(());
        };
        let mask = filter.evaluate(&joined)?.into_array(joined.num_rows())?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| EngineError::Internal("lookup join condition is not boolean".into()))?;
        if self.def.kind == JoinKind::Inner {
            out.batch(filter_record_batch(&joined, mask)?);
            return Ok(());
        }
        // LEFT: a left row whose rows all fail the condition is padded instead.
        let mut kept = Vec::with_capacity(pairs.len());
        let mut i = 0;
        while i < pairs.len() {
            let row = pairs[i].0;
            let mut any = false;
            while i < pairs.len() && pairs[i].0 == row {
                let padded = pairs[i].1 == padding;
                if padded || (mask.is_valid(i) && mask.value(i)) {
                    kept.push(pairs[i]);
                    any = true;
                }
                i += 1;
            }
            if !any {
                kept.push((row, padding, 0));
            }
        }
        out.batch(self.assemble(&batch, &right, &kept)?);
        Ok(())
    }
}
