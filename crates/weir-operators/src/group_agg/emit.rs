//! Emission of an unbounded aggregation's changes: for every pending key, `+I` (a new
//! key), `-U`/`+U` (a changed result; nothing when it did not change, unless state
//! TTL is on) or `-D` (all its rows retracted), as one batch.
//!
//! Columnar aggregates are evaluated for all changed keys at once, and their previous
//! results gathered from the chunks captured when the keys became pending; the
//! per-key accumulators give one value per key.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{make_comparator, Array, ArrayRef, Int8Array};
use arrow::compute::interleave;
use arrow::compute::{cast, SortOptions};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::ScalarValue;
use weir_types::{EngineError, EngineResult, RowKind};

use super::state::{evaluate_rows, GroupState, Previous, Slot};

/// One output row: its key, kind, and where its values are.
struct OutRow {
    id: u32,
    kind: RowKind,
    /// `true`: the key's previous result ([`Previous`], at `at` in the gathered
    /// previous values); `false`: its current one (at `at` in the evaluated ones).
    previous: bool,
    at: usize,
}

impl GroupState {
    /// The changes of the pending keys as one batch of `schema` (keys, aggregate values,
    /// row kind), or `None` when nothing changed. Keys whose rows were all retracted are
    /// removed.
    pub fn emit(&mut self, schema: &SchemaRef) -> EngineResult<Option<RecordBatch>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        // The keys to evaluate now, and the previous results of the others.
        let mut current_ids = Vec::new();
        let mut current_rows: Vec<Vec<ScalarValue>> = Vec::new();
        let mut previous: Vec<Previous> = Vec::new();
        // Per key with a result: (id, index in `previous`, index in `current_ids`).
        let mut changes: Vec<(u32, Option<usize>, Option<usize>)> = Vec::new();
        let mut removed = Vec::new();
        for id in std::mem::take(&mut self.pending) {
            let Some(group) = self.groups[id as usize].as_mut() else {
                continue;
            };
            let before = group.pending.take().flatten().map(|p| {
                previous.push(p);
                previous.len() - 1
            });
            if group.rows <= 0 {
                removed.push(id);
                if before.is_some() {
                    changes.push((id, before, None));
                }
                continue;
            }
            current_rows.push(evaluate_rows(group)?);
            current_ids.push(id);
            changes.push((id, before, Some(current_ids.len() - 1)));
        }
        let chunks = std::mem::take(&mut self.previous);
        let current: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| c.evaluate(&current_ids))
            .collect::<EngineResult<_>>()?;
        let positions: Vec<(usize, usize)> = previous
            .iter()
            .map(|p| (p.chunk as usize, p.index as usize))
            .collect();
        let before: Vec<ArrayRef> = (0..self.columns.len())
            .map(|c| {
                let sources: Vec<&dyn Array> =
                    chunks.iter().map(|chunk| chunk[c].as_ref()).collect();
                if positions.is_empty() {
                    Ok(current[c].slice(0, 0))
                } else {
                    interleave(&sources, &positions).map_err(EngineError::from)
                }
            })
            .collect::<EngineResult<_>>()?;
        let comparators = before
            .iter()
            .zip(&current)
            .map(|(b, c)| make_comparator(b.as_ref(), c.as_ref(), SortOptions::default()))
            .collect::<Result<Vec<_>, _>>()?;
        let unchanged = |p: usize, c: usize| {
            previous[p].row == current_rows[c]
                && comparators.iter().all(|cmp| cmp(p, c) == Ordering::Equal)
        };
        let mut out = Vec::new();
        for (id, before_at, current_at) in changes {
            match (before_at, current_at) {
                (Some(p), None) => out.push(OutRow {
                    id,
                    kind: RowKind::Delete,
                    previous: true,
                    at: p,
                }),
                (None, Some(c)) => out.push(OutRow {
                    id,
                    kind: RowKind::Insert,
                    previous: false,
                    at: c,
                }),
                (Some(p), Some(c)) if self.emits_unchanged() || !unchanged(p, c) => {
                    out.push(OutRow {
                        id,
                        kind: RowKind::UpdateBefore,
                        previous: true,
                        at: p,
                    });
                    out.push(OutRow {
                        id,
                        kind: RowKind::UpdateAfter,
                        previous: false,
                        at: c,
                    });
                }
                _ => {}
            }
        }
        let batch = if out.is_empty() {
            None
        } else {
            Some(self.build_batch(schema, &out, &previous, &current_rows, &before, &current)?)
        };
        for id in removed {
            self.remove(id);
        }
        Ok(batch)
    }

    fn build_batch(
        &self,
        schema: &SchemaRef,
        out: &[OutRow],
        previous: &[Previous],
        current_rows: &[Vec<ScalarValue>],
        before: &[ArrayRef],
        current: &[ArrayRef],
    ) -> EngineResult<RecordBatch> {
        let fields = schema.fields();
        let ids: Vec<u32> = out.iter().map(|r| r.id).collect();
        let mut columns = self.keys.key_columns(&ids)?;
        let positions: Vec<(usize, usize)> = out
            .iter()
            .map(|r| (usize::from(!r.previous), r.at))
            .collect();
        for slot in &self.slots {
            columns.push(match *slot {
                Slot::Column(c) => {
                    interleave(&[before[c].as_ref(), current[c].as_ref()], &positions)?
                }
                Slot::Row(i) => ScalarValue::iter_to_array(out.iter().map(|r| {
                    if r.previous {
                        previous[r.at].row[i].clone()
                    } else {
                        current_rows[r.at][i].clone()
                    }
                }))?,
            });
        }
        columns.push(Arc::new(Int8Array::from_iter_values(
            out.iter().map(|r| r.kind as i8),
        )));
        if columns.len() != fields.len() {
            return Err(EngineError::Internal(format!(
                "aggregation produced {} columns for a schema of {}",
                columns.len(),
                fields.len()
            )));
        }
        let columns = columns
            .into_iter()
            .zip(fields.iter())
            .map(|(c, f)| cast_to(c, f.data_type()))
            .collect::<EngineResult<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(out.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &options,
        )?)
    }
}

fn cast_to(array: ArrayRef, to: &DataType) -> EngineResult<ArrayRef> {
    if array.data_type() == to {
        Ok(array)
    } else {
        Ok(cast(&array, to)?)
    }
}
