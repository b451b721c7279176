//! The state of a window join subtask: the rows of each unfired window, per side, as the
//! Arrow batches they arrived in (or the parts of them that fell in the window).

use std::collections::BTreeMap;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use weir_types::EngineResult;

/// A window's batches of one side are concatenated into one when they exceed this
/// count, so many small input batches do not pile up.
const MAX_BATCHES: usize = 64;

/// Buffered rows of both sides, by window end.
#[derive(Default)]
pub(super) struct Windows {
    /// Left (0) and right (1) batches of each unfired window.
    windows: BTreeMap<i64, [Vec<RecordBatch>; 2]>,
}

impl Windows {
    /// Buffers `batch` (all its rows in the window ending at `end`) for side `side`.
    pub fn push(&mut self, end: i64, side: usize, batch: RecordBatch) {
        let batches = &mut self.windows.entry(end).or_default()[side];
        batches.push(batch);
        if batches.len() > MAX_BATCHES {
            // Cannot fail: the batches share one schema. Keep them apart if it did.
            if let Some(schema) = batches.first().map(RecordBatch::schema) {
                if let Ok(one) = concat_batches(&schema, batches.iter()) {
                    *batches = vec![one];
                }
            }
        }
    }

    /// Removes and returns the windows ending at or before `upto`, in order of their end.
    pub fn take_upto(&mut self, upto: i64) -> Vec<(i64, [Vec<RecordBatch>; 2])> {
        let later = match upto.checked_add(1) {
            Some(next) => self.windows.split_off(&next),
            None => BTreeMap::new(),
        };
        std::mem::replace(&mut self.windows, later)
            .into_iter()
            .collect()
    }

    /// Rows buffered on the left and on the right, and the number of windows.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let rows = |side: usize| -> usize {
            self.windows
                .values()
                .flat_map(|w| w[side].iter())
                .map(RecordBatch::num_rows)
                .sum()
        };
        (rows(0), rows(1), self.windows.len())
    }

    /// Every window with its batches, for a snapshot.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &[Vec<RecordBatch>; 2])> {
        self.windows.iter().map(|(&end, sides)| (end, sides))
    }
}

/// The rows of one side of a window, as one batch (`schema`'s empty batch when none).
pub(super) fn concat(
    schema: &arrow::datatypes::SchemaRef,
    mut batches: Vec<RecordBatch>,
) -> EngineResult<RecordBatch> {
    Ok(match batches.len() {
        0 => RecordBatch::new_empty(schema.clone()),
        1 => batches.remove(0),
        _ => concat_batches(schema, batches.iter())?,
    })
}
