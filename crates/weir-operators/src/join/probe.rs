//! One input batch of a regular join: probe, apply, and gather the output.
//!
//! 1. Encode the batch's keys and rows (Arrow row format, one call each).
//! 2. Probe the other side's table once per row and list the candidate pairs (input row,
//!    stored row); with an extra condition, evaluate it over all candidate pairs as one
//!    batch (input columns gathered with `take`, stored rows decoded in one call).
//! 3. Walk the rows in order, updating both sides' state and recording the output rows
//!    as (input row, stored row, kind) index triples (see the module docs of
//!    [`super`] for the rules).
//! 4. Gather the output columns with `take` from the input batch and from the stored rows
//!    it references, decoded in one call.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int8Array};
use arrow::buffer::NullBuffer;
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;
use weir_runtime::JobMetrics;
use weir_types::{EngineError, EngineResult, RowKind};

use super::columns::{evaluate_pairs, gather, pair_schema, Emitted, Layout};
use super::state::SideState;
use super::{JoinOperator, JoinSide};

/// The candidate pairs of a batch: for input row `r`, stored rows
/// `slots[starts[r]..starts[r + 1]]` of its key's list on the other side.
struct Candidates {
    starts: Vec<usize>,
    slots: Vec<u32>,
    /// Whether each candidate pair satisfies the extra condition.
    accepted: Vec<bool>,
}

impl JoinOperator {
    /// Joins a batch of input `input` (data columns and row kinds); returns the output.
    pub(super) fn join_batch(
        &mut self,
        input: usize,
        data: &[ArrayRef],
        kinds: Option<&Int8Array>,
        now: i64,
    ) -> EngineResult<Option<RecordBatch>> {
        let def = Arc::clone(&self.def);
        let side = def.side(input);
        let other_side = def.side(1 - input);
        let rows_in = data.first().map_or(0, |c| c.len());
        let key_columns: Vec<ArrayRef> = side.keys.iter().map(|&k| Arc::clone(&data[k])).collect();
        let keys = self.sides[input].keys.convert_columns(&key_columns)?;
        let rows = self.sides[input].rows.convert_columns(data)?;
        // Rows with a NULL key never match under SQL equality.
        let valid = if def.nulls_equal {
            None
        } else {
            key_columns.iter().fold(None, |acc: Option<NullBuffer>, c| {
                NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
            })
        };
        let is_valid = |row: usize| valid.as_ref().is_none_or(|v| v.is_valid(row));
        if let Some(store) = &self.store {
            store.load(&mut self.sides, &keys, &key_columns, is_valid)?;
        }
        // Keys of the other input with cold state and nothing in state: their rows are
        // fetched from the cold table and stored until the end of this batch.
        let borrowed = match &def.cold {
            Some(cold) if cold.side == 1 - input => {
                self.borrow_cold(input, &keys, &key_columns, is_valid, now)?
            }
            _ => Vec::new(),
        };
        let theirs = &mut self.sides[1 - input];

        let mut expired = 0;
        let mut candidates = Candidates {
            starts: Vec::with_capacity(rows_in + 1),
            slots: Vec::new(),
            accepted: Vec::new(),
        };
        for row in 0..rows_in {
            candidates.starts.push(candidates.slots.len());
            if !is_valid(row) {
                continue;
            }
            let key = keys.row(row);
            expired += theirs.expire_key(key.as_ref(), now);
            if let Some(list) = theirs.table.get(key.as_ref()) {
                candidates.slots.extend(0..list.len() as u32);
            }
        }
        candidates.starts.push(candidates.slots.len());
        candidates.accepted = self.accept(input, side, other_side, data, &keys, &candidates)?;

        let [left, right] = &mut self.sides;
        let (mine, theirs) = if input == 0 {
            (left, right)
        } else {
            (right, left)
        };
        let mut out = Emitted::default();
        let mut matched: Vec<usize> = Vec::new();
        for row in 0..rows_in {
            let kind = match kinds {
                Some(k) => RowKind::from_i8(k.value(row)).ok_or_else(|| {
                    EngineError::Internal(format!("invalid row kind {}", k.value(row)))
                })?,
                None => RowKind::Insert,
            };
            let accumulate = kind.is_accumulate();
            if !is_valid(row) {
                if mine.outer {
                    let padded = if accumulate {
                        RowKind::Insert
                    } else {
                        RowKind::Delete
                    };
                    out.push(Some(row), None, padded);
                }
                continue;
            }
            let key = keys.row(row);
            let range = candidates.starts[row]..candidates.starts[row + 1];
            matched.clear();
            matched.extend(
                range
                    .filter(|&c| candidates.accepted[c])
                    .map(|c| candidates.slots[c] as usize),
            );
            let content = rows.row(row);
            if accumulate {
                Self::accumulate(
                    mine,
                    theirs,
                    key.as_ref(),
                    row,
                    content.as_ref(),
                    kind,
                    &matched,
                    now,
                    &mut out,
                );
            } else {
                expired += mine.expire_key(key.as_ref(), now);
                mine.retract(key.as_ref(), content.as_ref());
                Self::retract(
                    mine,
                    theirs,
                    key.as_ref(),
                    row,
                    kind,
                    &matched,
                    now,
                    &mut out,
                );
            }
        }
        if expired > 0 {
            JobMetrics::add(&self.metrics.state_keys_expired, expired);
        }
        for key in &borrowed {
            self.sides[1 - input].table.remove(key.as_ref());
        }
        self.gather(input, data, out)
    }

    /// Applies an accumulate row (`+I`, `+U`) of `mine` matching `matched` rows of its
    /// key's list on `theirs`.
    #[allow(clippy::too_many_arguments)]
    fn accumulate(
        mine: &mut SideState,
        theirs: &mut SideState,
        key: &[u8],
        row: usize,
        content: &[u8],
        kind: RowKind,
        matched: &[usize],
        now: i64,
        out: &mut Emitted,
    ) {
        if matched.is_empty() {
            if mine.outer {
                out.push(Some(row), None, RowKind::Insert);
            }
            mine.insert(key, content, 0, now);
            return;
        }
        let joined = if mine.outer || theirs.outer {
            RowKind::Insert
        } else {
            kind
        };
        if theirs.outer {
            theirs.touch(key);
        }
        if let Some(list) = theirs.table.get_mut(key) {
            if theirs.outer {
                for &j in matched {
                    let stored = &mut list[j];
                    if stored.matches == 0 {
                        out.push(None, Some(&stored.row), RowKind::Delete);
                    }
                    stored.matches += 1;
                    stored.last_write = now;
                }
            }
            for &j in matched {
                out.push(Some(row), Some(&list[j].row), joined);
            }
        }
        let matches = if mine.outer { matched.len() as u32 } else { 0 };
        mine.insert(key, content, matches, now);
    }

    /// Applies a retraction (`-U`, `-D`) of `mine` matching `matched` rows of its key's
    /// list on `theirs` (the row was already removed from `mine`).
    #[allow(clippy::too_many_arguments)]
    fn retract(
        mine: &mut SideState,
        theirs: &mut SideState,
        key: &[u8],
        row: usize,
        kind: RowKind,
        matched: &[usize],
        now: i64,
        out: &mut Emitted,
    ) {
        if matched.is_empty() {
            if mine.outer {
                out.push(Some(row), None, RowKind::Delete);
            }
            return;
        }
        if theirs.outer {
            theirs.touch(key);
        }
        let Some(list) = theirs.table.get_mut(key) else {
            return;
        };
        let joined = if mine.outer { RowKind::Delete } else { kind };
        for &j in matched {
            out.push(Some(row), Some(&list[j].row), joined);
        }
        if theirs.outer {
            for &j in matched {
                let stored = &mut list[j];
                if stored.matches == 1 {
                    out.push(None, Some(&stored.row), RowKind::Insert);
                }
                stored.matches = stored.matches.saturating_sub(1);
                stored.last_write = now;
            }
        }
    }

    /// Whether each candidate pair satisfies the extra condition (all do without one).
    fn accept(
        &self,
        input: usize,
        side: &JoinSide,
        other_side: &JoinSide,
        data: &[ArrayRef],
        keys: &Rows,
        candidates: &Candidates,
    ) -> EngineResult<Vec<bool>> {
        let pairs = candidates.slots.len();
        let Some(filter) = &self.def.filter else {
            return Ok(vec![true; pairs]);
        };
        if pairs == 0 {
            return Ok(Vec::new());
        }
        let theirs = &self.sides[1 - input];
        let mut input_rows: Vec<u32> = Vec::with_capacity(pairs);
        let mut stored: Vec<&[u8]> = Vec::with_capacity(pairs);
        for row in 0..candidates.starts.len() - 1 {
            let range = candidates.starts[row]..candidates.starts[row + 1];
            if range.is_empty() {
                continue;
            }
            let list = theirs
                .table
                .get(keys.row(row).as_ref())
                .ok_or_else(|| EngineError::Internal("a join candidate's key vanished".into()))?;
            for c in range {
                input_rows.push(row as u32);
                stored.push(&list[candidates.slots[c] as usize].row);
            }
        }
        let layout = Layout {
            input,
            data,
            input_width: side.output_columns,
            other: &theirs.rows,
            other_schema: &other_side.schema,
            other_width: other_side.output_columns,
        };
        let width = self.def.left.output_columns + self.def.right.output_columns;
        evaluate_pairs(
            filter.as_ref(),
            pair_schema(&self.def.output_schema, width),
            &layout,
            input_rows,
            &stored,
        )
    }

    /// Builds the output batch of the rows in `out`.
    fn gather(
        &self,
        input: usize,
        data: &[ArrayRef],
        out: Emitted,
    ) -> EngineResult<Option<RecordBatch>> {
        let def = &self.def;
        let other_side = def.side(1 - input);
        let layout = Layout {
            input,
            data,
            input_width: def.side(input).output_columns,
            other: &self.sides[1 - input].rows,
            other_schema: &other_side.schema,
            other_width: other_side.output_columns,
        };
        gather(&layout, out, &def.output_schema, def.output_updating())
    }
}
