//! Checkpoint state of the session window aggregation ([`SessionWindowOperator`]).
//!
//! Tables (a stored format: names and columns must stay stable):
//! - `sessions` (keyed): one row per open session. Columns: `__weir_key_group`
//!   (UInt16), `window_start` (Int64, epoch ms: the first row time), `window_end`
//!   (Int64, exclusive: the last row time + gap), `key_0`.. (the partition keys, in the
//!   types the hash exchange hashes), then `agg{i}_state{j}`: the intermediate state of
//!   aggregate `i` for the session, one column per state field. Without partition keys
//!   every row is in key group 0.
//! - `watermark` and `definition` (union): see [`crate::window::checkpoint`].
//!
//! Taking the snapshot first collapses each open session's slots into one (the
//! compaction firing does too), then replaces the accumulators by fresh ones into which
//! the sessions' intermediate states are merged back: exactly what a restore builds.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::EmitTo;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use super::SessionWindowOperator;
use crate::window::checkpoint::{
    add_common, bad_table, cast_keys, check_exact, check_state_types, column, describe_aggregates,
    key_group_column, key_group_field, restore_common, state_err, table_rows,
};

/// Keyed table of open sessions.
const SESSIONS: &str = "sessions";
/// Columns of `sessions` before the keys.
const PREFIX: usize = 3;
/// What the errors call this operator.
const OPERATOR: &str = "session window aggregation";

impl SessionWindowOperator {
    /// A description of the definition, stored to detect a changed SQL on restore.
    fn definition(&self) -> String {
        format!(
            "SESSION(gap {} ms); {} keys; aggregates [{}]",
            self.def.gap_ms,
            self.def.key_columns.len(),
            describe_aggregates(&self.def.aggregates)
        )
    }

    /// Snapshots the open sessions (see the module documentation).
    pub(super) fn take_snapshot(&mut self) -> EngineResult<StateSnapshot> {
        check_exact(&self.def.aggregates, OPERATOR)?;
        let mut snapshot = StateSnapshot::new();
        if self.sessions.slots() > 0 {
            let plan = self.sessions.compact();
            let live_idx = UInt32Array::from(plan.live_slots.clone());
            let sessions = self.sessions.slots();
            let identity: Vec<usize> = (0..sessions).collect();
            let mut compacted = self.aggs.accumulators()?;
            let mut restored = self.aggs.accumulators()?;
            let mut states: Vec<ArrayRef> = Vec::new();
            for ((acc, one), fresh) in self.accs.iter_mut().zip(&mut compacted).zip(&mut restored) {
                let state = acc.state(EmitTo::All)?;
                let picked = state
                    .iter()
                    .map(|a| Ok(take(a.as_ref(), &live_idx, None)?))
                    .collect::<EngineResult<Vec<_>>>()?;
                one.merge_batch(&picked, &plan.live_groups, sessions)?;
                let per_session = one.state(EmitTo::All)?;
                fresh.merge_batch(&per_session, &identity, sessions)?;
                states.extend(per_session);
            }
            self.accs = restored;
            let open = self.sessions.open_in_order();
            let rows = open.len();
            let hash_types = self
                .hash_key_types
                .clone()
                .unwrap_or_else(|| self.aggs.key_types());
            let keys = match &self.keys {
                Some(store) => {
                    let ids: Vec<u32> = open.iter().map(|s| s.0).collect();
                    cast_keys(&store.columns(&ids)?, &hash_types)?
                }
                None => Vec::new(),
            };
            let mut columns: Vec<ArrayRef> = vec![
                key_group_column(&keys, rows, self.max_parallelism)?,
                Arc::new(Int64Array::from_iter_values(open.iter().map(|s| s.1))),
                Arc::new(Int64Array::from_iter_values(open.iter().map(|s| s.2))),
            ];
            let mut fields = vec![
                key_group_field(),
                Field::new("window_start", DataType::Int64, false),
                Field::new("window_end", DataType::Int64, false),
            ];
            for (i, k) in keys.iter().enumerate() {
                fields.push(Field::new(format!("key_{i}"), k.data_type().clone(), true));
            }
            columns.extend(keys);
            let mut next = 0;
            for (i, (agg, _)) in self.def.aggregates.iter().enumerate() {
                for j in 0..agg.state_fields()?.len() {
                    let Some(state) = states.get(next) else {
                        return Err(EngineError::Internal(
                            "an aggregate returned fewer state columns than its fields".into(),
                        ));
                    };
                    fields.push(Field::new(
                        format!("agg{i}_state{j}"),
                        state.data_type().clone(),
                        true,
                    ));
                    columns.push(Arc::clone(state));
                    next += 1;
                }
            }
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
            snapshot.add_keyed(SESSIONS, batch).map_err(state_err)?;
        }
        let watermark = (self.watermark != i64::MIN).then_some(self.watermark);
        add_common(&mut snapshot, watermark, &self.definition())?;
        Ok(snapshot)
    }

    /// Restores open sessions (see the module documentation).
    pub(super) fn restore(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let watermark = restore_common(&snapshot, &[SESSIONS], &self.definition(), OPERATOR)?;
        if let Some(watermark) = watermark {
            self.watermark = self.watermark.max(watermark);
            self.sessions.restore_watermark(watermark);
        }
        let Some(rows) = table_rows(&snapshot, SESSIONS)? else {
            return Ok(());
        };
        let key_count = self.def.key_columns.len();
        let state_counts =
            check_state_types(SESSIONS, &rows, PREFIX + key_count, &self.def.aggregates)?;
        let starts = column(&rows, SESSIONS, "window_start", &DataType::Int64)?;
        let ends = column(&rows, SESSIONS, "window_end", &DataType::Int64)?;
        let starts = starts.as_any().downcast_ref::<Int64Array>();
        let ends = ends.as_any().downcast_ref::<Int64Array>();
        let (Some(starts), Some(ends)) = (starts, ends) else {
            return Err(bad_table(SESSIONS, "has bounds that are not Int64"));
        };
        let stored_keys = &rows.columns()[PREFIX..PREFIX + key_count];
        let mut key_ids = Vec::new();
        match &mut self.keys {
            Some(store) => {
                self.hash_key_types =
                    Some(stored_keys.iter().map(|k| k.data_type().clone()).collect());
                let keys = cast_keys(stored_keys, &self.aggs.key_types())?;
                store.intern(&keys, &mut key_ids)?;
            }
            None => key_ids.resize(rows.num_rows(), 0),
        }
        let mut slots = Vec::with_capacity(rows.num_rows());
        for (i, &key) in key_ids.iter().enumerate() {
            let (start, end) = (starts.value(i), ends.value(i));
            slots.push(self.sessions.restore_session(key, start, end) as usize);
        }
        let total = self.sessions.slots();
        let mut next = PREFIX + key_count;
        for (acc, &count) in self.accs.iter_mut().zip(&state_counts) {
            let states: Vec<ArrayRef> = rows.columns()[next..next + count].to_vec();
            acc.merge_batch(&states, &slots, total)?;
            next += count;
        }
        Ok(())
    }
}
