//! Checkpoint state of the window aggregation ([`WindowAggregateOperator`]).
//!
//! Tables (a stored format: names and columns must stay stable):
//! - `slices` (keyed): one row per group of a slice part. Columns:
//!   `__weir_key_group` (UInt16), `slice_end` (Int64, epoch ms), `chunk` (UInt32: the
//!   part's position among the slice's frozen chunks; the open part comes last),
//!   `open` (Boolean: the part rows are still added to), `key_0`.. (the GROUP BY keys
//!   besides the window, in the types the hash exchange hashes), then
//!   `agg{i}_state{j}`: the intermediate state (`GroupsAccumulator::state`) of
//!   aggregate `i`, one column per state field. The key group is computed over the key
//!   columns exactly as the exchange does; without keys every row is in key group 0.
//!   Windows already fired but kept for allowed lateness are here too: their slices
//!   live until the lateness has passed.
//! - `emitted` (keyed, updating emission only): the last emitted result of every window
//!   that can still change (early fire, allowed lateness), so `-U`/`+U` are right after
//!   a restore. Columns: `__weir_key_group`, `window_end_ms` (Int64), then the columns
//!   of the output schema (window_start, window_end, keys, aggregates).
//! - `dirty` (union, updating emission only): `window_end` (Int64) of the windows that
//!   received rows since their last emission. A restored subtask takes every old
//!   subtask's: a window re-evaluated without change emits nothing.
//! - `watermark` and `definition` (union): see [`super::checkpoint`].
//!
//! Taking the snapshot replaces each open part by a fresh part into which its
//! intermediate state is merged back, exactly what the restore builds, so only
//! aggregates whose state round-trips exactly are accepted
//! ([`super::checkpoint::check_exact`]).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, UInt32Type};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use super::checkpoint::{
    add_common, bad_table, cast_keys, check_exact, check_state_types, column, describe_aggregates,
    group_by, int64_at, key_group_column, key_group_field, restore_common, state_err, table_rows,
};
use super::state::{cast_to, Chunk};
use super::{WindowAggregateOperator, WindowSpec};

/// Keyed table of slice parts.
const SLICES: &str = "slices";
/// Keyed table of last emitted results (updating emission).
const EMITTED: &str = "emitted";
/// Union table of windows changed since their last emission (updating emission).
const DIRTY: &str = "dirty";
/// Columns of `slices` before the keys.
const SLICE_PREFIX: usize = 4;
/// What the errors call this operator.
const OPERATOR: &str = "window aggregation";

impl WindowAggregateOperator {
    /// A description of the definition, stored to detect a changed SQL on restore.
    fn definition(&self) -> String {
        let window = match self.def.window {
            WindowSpec::Tumble { size_ms, offset_ms } => {
                format!("TUMBLE(size {size_ms} ms, offset {offset_ms} ms)")
            }
            WindowSpec::Hop {
                size_ms,
                slide_ms,
                offset_ms,
            } => format!("HOP(size {size_ms} ms, slide {slide_ms} ms, offset {offset_ms} ms)"),
            WindowSpec::Cumulate {
                step_ms,
                max_size_ms,
                offset_ms,
            } => format!(
                "CUMULATE(step {step_ms} ms, max size {max_size_ms} ms, offset {offset_ms} ms)"
            ),
        };
        let emit = &self.def.emit;
        let early = emit
            .early_fire_delay_ms
            .map_or("off".to_string(), |d| format!("every {d} ms"));
        format!(
            "{window}; allowed lateness {} ms, early fire {early}; {} keys; aggregates [{}]",
            emit.allow_lateness_ms,
            self.def.key_columns.len(),
            describe_aggregates(&self.def.aggregates)
        )
    }

    /// The types the hash exchange hashes the keys in: the input's key types once a
    /// batch was seen (or restored), else the operator's.
    fn hash_key_types(&self) -> Vec<DataType> {
        self.hash_key_types
            .clone()
            .unwrap_or_else(|| self.aggs.key_types())
    }

    /// Snapshots the whole state (see the module documentation).
    pub(super) fn take_snapshot(&mut self) -> EngineResult<StateSnapshot> {
        check_exact(&self.def.aggregates, OPERATOR)?;
        let mut snapshot = StateSnapshot::new();
        let hash_types = self.hash_key_types();
        let parts = self.state.checkpoint(&self.aggs, &mut self.groups)?;
        let mut schema: Option<Arc<Schema>> = None;
        for part in parts {
            let rows = part.chunk.rows;
            let keys = cast_keys(&part.chunk.keys, &hash_types)?;
            let mut columns: Vec<ArrayRef> = vec![
                key_group_column(&keys, rows, self.max_parallelism)?,
                Arc::new(Int64Array::from_value(part.slice_end, rows)),
                Arc::new(UInt32Array::from_value(part.index, rows)),
                Arc::new(BooleanArray::from(vec![part.open; rows])),
            ];
            columns.extend(keys);
            columns.extend(part.chunk.states.into_iter().flatten());
            let schema = match &schema {
                Some(schema) => Arc::clone(schema),
                None => {
                    let built = self.slices_schema(&columns);
                    schema = Some(Arc::clone(&built));
                    built
                }
            };
            let columns = columns
                .into_iter()
                .zip(schema.fields())
                .map(|(c, f)| cast_to(c, f.data_type()))
                .collect::<EngineResult<Vec<_>>>()?;
            let batch = RecordBatch::try_new(schema, columns)?;
            snapshot.add_keyed(SLICES, batch).map_err(state_err)?;
        }
        if let Some(u) = &self.updating {
            let key_count = self.def.key_columns.len();
            let mut fields = vec![
                key_group_field(),
                Field::new("window_end_ms", DataType::Int64, false),
            ];
            fields.extend(
                self.def
                    .output_schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone()),
            );
            let schema = Arc::new(Schema::new(fields));
            for (end, batch) in u.changes.emitted() {
                let rows = batch.num_rows();
                let keys = cast_keys(&batch.columns()[2..2 + key_count], &hash_types)?;
                let mut columns = vec![
                    key_group_column(&keys, rows, self.max_parallelism)?,
                    Arc::new(Int64Array::from_value(end, rows)) as ArrayRef,
                ];
                columns.extend(batch.columns().iter().cloned());
                let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
                snapshot.add_keyed(EMITTED, batch).map_err(state_err)?;
            }
            let dirty: Vec<i64> = u.dirty.iter().copied().collect();
            let schema = Arc::new(Schema::new(vec![Field::new(
                "window_end",
                DataType::Int64,
                false,
            )]));
            let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(dirty))])?;
            snapshot.add_union(DIRTY, batch).map_err(state_err)?;
        }
        let fired_upto = self.state.fired_upto();
        let watermark = match fired_upto {
            i64::MIN => None,
            i64::MAX => Some(i64::MAX),
            f => Some(f - 1),
        };
        add_common(&mut snapshot, watermark, &self.definition())?;
        Ok(snapshot)
    }

    /// The schema of `slices` for a first batch of `columns`.
    fn slices_schema(&self, columns: &[ArrayRef]) -> Arc<Schema> {
        let mut fields = vec![
            key_group_field(),
            Field::new("slice_end", DataType::Int64, false),
            Field::new("chunk", DataType::UInt32, false),
            Field::new("open", DataType::Boolean, false),
        ];
        let key_count = self.def.key_columns.len();
        for (i, c) in columns[SLICE_PREFIX..SLICE_PREFIX + key_count]
            .iter()
            .enumerate()
        {
            fields.push(Field::new(format!("key_{i}"), c.data_type().clone(), true));
        }
        let mut next = SLICE_PREFIX + key_count;
        for (i, (agg, _)) in self.def.aggregates.iter().enumerate() {
            let count = agg.state_fields().map_or(0, |f| f.len());
            for j in 0..count {
                if let Some(c) = columns.get(next) {
                    fields.push(Field::new(
                        format!("agg{i}_state{j}"),
                        c.data_type().clone(),
                        true,
                    ));
                }
                next += 1;
            }
        }
        Arc::new(Schema::new(fields))
    }

    /// Restores the state of a snapshot (see the module documentation).
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let watermark = restore_common(
            &snapshot,
            &[SLICES, EMITTED, DIRTY],
            &self.definition(),
            OPERATOR,
        )?;
        if let Some(watermark) = watermark {
            self.state.restore_fired_upto(watermark.saturating_add(1));
        }
        if let Some(rows) = table_rows(&snapshot, SLICES)? {
            self.restore_slices(&rows)?;
        }
        if let Some(rows) = table_rows(&snapshot, EMITTED)? {
            self.restore_emitted(&rows)?;
        }
        if let Some(rows) = table_rows(&snapshot, DIRTY)? {
            let ends = column(&rows, DIRTY, "window_end", &DataType::Int64)?;
            let ends: Vec<i64> = ends
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .flatten()
                .collect();
            for end in ends {
                if !self.state.is_expired(end) {
                    if let Some(u) = &mut self.updating {
                        u.dirty.insert(end);
                    }
                }
            }
        }
        Ok(())
    }

    fn restore_slices(&mut self, rows: &RecordBatch) -> EngineResult<()> {
        let key_count = self.def.key_columns.len();
        let state_counts =
            check_state_types(SLICES, rows, SLICE_PREFIX + key_count, &self.def.aggregates)?;
        let slice_end = column(rows, SLICES, "slice_end", &DataType::Int64)?;
        let chunk = column(rows, SLICES, "chunk", &DataType::UInt32)?;
        let open = column(rows, SLICES, "open", &DataType::Boolean)?;
        // Frozen chunks in their order, then the open part: one group each.
        let open_values = open.as_boolean();
        let order: ArrayRef = Arc::new(Int64Array::from_iter_values(
            chunk
                .as_primitive::<UInt32Type>()
                .iter()
                .zip(open_values.iter())
                .map(|(c, o)| match o {
                    Some(true) => i64::MAX,
                    _ => i64::from(c.unwrap_or(0)),
                }),
        ));
        let with_order = {
            let mut columns = rows.columns().to_vec();
            columns.push(Arc::clone(&order));
            let mut fields: Vec<Field> = rows
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("__order", DataType::Int64, false));
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?
        };
        let (sorted, ranges) = group_by(&with_order, &[slice_end, &order])?;
        let hash_types: Vec<DataType> = (0..key_count)
            .map(|i| rows.column(SLICE_PREFIX + i).data_type().clone())
            .collect();
        if key_count > 0 {
            self.hash_key_types = Some(hash_types);
        }
        let key_types = self.aggs.key_types();
        for range in ranges {
            let part = sorted.slice(range.start, range.len());
            let slice_end = int64_at(part.column(1), 0)?;
            let open = part.column(3).as_boolean().value(0);
            let keys = cast_keys(
                &part.columns()[SLICE_PREFIX..SLICE_PREFIX + key_count],
                &key_types,
            )?;
            let mut states = Vec::with_capacity(state_counts.len());
            let mut next = SLICE_PREFIX + key_count;
            for &count in &state_counts {
                states.push(part.columns()[next..next + count].to_vec());
                next += count;
            }
            let chunk = Chunk {
                rows: part.num_rows(),
                keys,
                states,
            };
            self.state
                .restore_part(&self.aggs, slice_end, open, &chunk, &mut self.groups)?;
        }
        Ok(())
    }

    fn restore_emitted(&mut self, rows: &RecordBatch) -> EngineResult<()> {
        let Some(u) = &mut self.updating else {
            return Err(EngineError::Config(
                "the checkpoint holds emitted window results, but the window aggregation \
                 no longer emits updates; the job's SQL changed since the checkpoint was taken"
                    .into(),
            ));
        };
        let schema = &self.def.output_schema;
        if rows.num_columns() != 2 + schema.fields().len() {
            return Err(bad_table(EMITTED, "does not match the output schema"));
        }
        let end = column(rows, EMITTED, "window_end_ms", &DataType::Int64)?;
        let (sorted, ranges) = group_by(rows, &[end])?;
        for range in ranges {
            let part = sorted.slice(range.start, range.len());
            let end = int64_at(part.column(1), 0)?;
            let batch = RecordBatch::try_new(Arc::clone(schema), part.columns()[2..].to_vec())?;
            u.changes.restore(end, batch)?;
        }
        Ok(())
    }
}
