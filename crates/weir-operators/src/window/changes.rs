//! Updating emission of window results (Flink's `table.exec.emit.*`): the last result
//! emitted for each window, and the changes between it and a new result.
//!
//! A window's result is emitted more than once when it fires early (before the
//! watermark passes its end) or is updated by a row arriving within the allowed
//! lateness. Each emission is compared with the previous one of the same window, key by
//! key: a new key is an insert (`+I`), a key whose aggregate values changed is a
//! retraction of the old row (`-U`) directly followed by the new row (`+U`), and an
//! unchanged key emits nothing. Keys and values are compared in Arrow's row format
//! (one buffer per emission, no per-row allocation); the output rows are gathered from
//! the old and new batches with one `interleave` per column.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int8Array};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use weir_types::{EngineResult, RowKind};

/// One emitted result: the batch (window bounds, keys, values) and its rows' keys and
/// values in row format.
struct Emitted {
    batch: RecordBatch,
    keys: Rows,
    values: Option<Rows>,
}

/// The last emitted result of every window that can still change, by window end.
pub(crate) struct Changes {
    /// Output schema with the row kind column last.
    schema: SchemaRef,
    /// Columns identifying a row: window_start and the keys.
    key_columns: Vec<usize>,
    /// The aggregate value columns.
    value_columns: Vec<usize>,
    keys: RowConverter,
    values: Option<RowConverter>,
    emitted: BTreeMap<i64, Emitted>,
}

impl Changes {
    /// Tracks results of `output` (window_start, window_end, `key_count` keys, values);
    /// emitted batches have `schema` (the same columns and the row kind).
    pub fn new(output: &SchemaRef, key_count: usize, schema: SchemaRef) -> EngineResult<Changes> {
        let width = output.fields().len();
        let key_columns: Vec<usize> = std::iter::once(0).chain(2..2 + key_count).collect();
        let value_columns: Vec<usize> = (2 + key_count..width).collect();
        let sort_fields = |columns: &[usize]| -> Vec<SortField> {
            columns
                .iter()
                .map(|&i| SortField::new(output.field(i).data_type().clone()))
                .collect()
        };
        let keys = RowConverter::new(sort_fields(&key_columns))?;
        let values = if value_columns.is_empty() {
            None
        } else {
            Some(RowConverter::new(sort_fields(&value_columns))?)
        };
        Ok(Changes {
            schema,
            key_columns,
            value_columns,
            keys,
            values,
            emitted: BTreeMap::new(),
        })
    }

    /// Records `result` (a batch of the output schema, without row kind) as the latest
    /// of the window ending at `end`, and returns its changes since the previous
    /// emission of that window (`None` when nothing changed).
    pub fn update(&mut self, end: i64, result: RecordBatch) -> EngineResult<Option<RecordBatch>> {
        let (keys, values) = self.convert(&result)?;
        // (source, row): source 0 is the previous result, 1 the new one.
        let mut indices: Vec<(usize, usize)> = Vec::new();
        let mut kinds: Vec<i8> = Vec::new();
        match self.emitted.get(&end) {
            None => {
                indices.extend((0..result.num_rows()).map(|i| (1, i)));
                kinds.resize(result.num_rows(), RowKind::Insert as i8);
            }
            Some(old) => {
                let previous: HashMap<&[u8], usize> = old
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, row)| (row.data(), i))
                    .collect();
                for i in 0..result.num_rows() {
                    match previous.get(keys.row(i).data()) {
                        None => {
                            indices.push((1, i));
                            kinds.push(RowKind::Insert as i8);
                        }
                        Some(&j) => {
                            let changed = match (&old.values, &values) {
                                (Some(a), Some(b)) => a.row(j) != b.row(i),
                                _ => false,
                            };
                            if changed {
                                indices.extend([(0, j), (1, i)]);
                                kinds.extend([
                                    RowKind::UpdateBefore as i8,
                                    RowKind::UpdateAfter as i8,
                                ]);
                            }
                        }
                    }
                }
            }
        }
        let changes = if indices.is_empty() {
            None
        } else {
            let old = self.emitted.get(&end).map(|e| &e.batch).unwrap_or(&result);
            let mut columns = Vec::with_capacity(self.schema.fields().len());
            for c in 0..result.num_columns() {
                let sources: [&dyn Array; 2] = [old.column(c).as_ref(), result.column(c).as_ref()];
                columns.push(interleave(&sources, &indices)?);
            }
            columns.push(Arc::new(Int8Array::from(kinds)) as ArrayRef);
            Some(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
        };
        self.emitted.insert(
            end,
            Emitted {
                batch: result,
                keys,
                values,
            },
        );
        Ok(changes)
    }

    /// The keys and values of `result` in row format.
    fn convert(&self, result: &RecordBatch) -> EngineResult<(Rows, Option<Rows>)> {
        let pick = |columns: &[usize]| -> Vec<ArrayRef> {
            columns
                .iter()
                .map(|&i| Arc::clone(result.column(i)))
                .collect()
        };
        let keys = self.keys.convert_columns(&pick(&self.key_columns))?;
        let values = match &self.values {
            Some(conv) => Some(conv.convert_columns(&pick(&self.value_columns))?),
            None => None,
        };
        Ok((keys, values))
    }

    /// The last emitted result of every tracked window, by window end (for checkpoints).
    pub fn emitted(&self) -> impl Iterator<Item = (i64, &RecordBatch)> + '_ {
        self.emitted.iter().map(|(&end, e)| (end, &e.batch))
    }

    /// Restores `result` (a batch of the output schema, without row kind) as the last
    /// emitted result of the window ending at `end`, from a checkpoint.
    pub fn restore(&mut self, end: i64, result: RecordBatch) -> EngineResult<()> {
        let (keys, values) = self.convert(&result)?;
        self.emitted.insert(
            end,
            Emitted {
                batch: result,
                keys,
                values,
            },
        );
        Ok(())
    }

    /// Forgets the windows ending at or before `end` (their results can no longer change).
    pub fn forget_upto(&mut self, end: i64) {
        while let Some(entry) = self.emitted.first_entry() {
            if *entry.key() > end {
                break;
            }
            entry.remove();
        }
    }

    /// Number of windows whose last result is kept.
    pub fn tracked(&self) -> usize {
        self.emitted.len()
    }
}
