//! `upsert-kafka`'s write buffer (`sink.buffer-flush.max-rows`,
//! `sink.buffer-flush.interval`), as Flink's reducing upsert writer: only the last row of
//! each primary key is kept, so a key updated many times between flushes is written
//! once. A key whose last row is a `-U` (its `+U` was filtered out) is written as a
//! tombstone, as without the buffer. A flush writes the kept rows in the order their
//! last change arrived.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::ArrayRef;
use arrow::compute::interleave_record_batch;
use arrow::record_batch::RecordBatch;
use arrow::row::{OwnedRow, RowConverter, SortField};
use weir_types::{EngineError, EngineResult};

use super::options::BufferFlush;

/// The last row of each key, waiting to be written.
pub(crate) struct UpsertBuffer {
    policy: BufferFlush,
    key_columns: Vec<String>,
    converter: Option<RowConverter>,
    batches: Vec<RecordBatch>,
    /// Per key: (arrival, batch, row) of its last change.
    latest: HashMap<OwnedRow, (u64, usize, usize)>,
    arrivals: u64,
    since: Option<Instant>,
}

impl UpsertBuffer {
    /// A buffer keyed by `key_columns` (the PRIMARY KEY).
    pub(crate) fn new(policy: BufferFlush, key_columns: Vec<String>) -> UpsertBuffer {
        UpsertBuffer {
            policy,
            key_columns,
            converter: None,
            batches: Vec::new(),
            latest: HashMap::new(),
            arrivals: 0,
            since: None,
        }
    }

    /// Keeps the rows of `batch` (the sink's columns and the row kind), replacing earlier
    /// rows of the same keys.
    pub(crate) fn add(&mut self, batch: RecordBatch) -> EngineResult<()> {
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|k| {
                batch.column_by_name(k).cloned().ok_or_else(|| {
                    EngineError::Internal(format!("the upsert sink's input has no column '{k}'"))
                })
            })
            .collect::<EngineResult<_>>()?;
        if self.converter.is_none() {
            let fields = keys
                .iter()
                .map(|k| SortField::new(k.data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields)?);
        }
        let Some(converter) = &self.converter else {
            return Ok(());
        };
        let rows = converter.convert_columns(&keys)?;
        let index = self.batches.len();
        for (row, key) in rows.iter().enumerate() {
            self.latest.insert(key.owned(), (self.arrivals, index, row));
            self.arrivals += 1;
        }
        self.batches.push(batch);
        self.since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Whether `sink.buffer-flush.max-rows` keys are buffered.
    pub(crate) fn is_full(&self) -> bool {
        self.latest.len() >= self.policy.max_rows
    }

    /// Whether the oldest buffered row waited `sink.buffer-flush.interval`.
    pub(crate) fn is_due(&self) -> bool {
        self.since
            .is_some_and(|since| since.elapsed() >= self.policy.interval)
    }

    /// How often a background check should look whether the buffer is due.
    pub(crate) fn tick(&self) -> Duration {
        (self.policy.interval / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Takes the buffered rows as one batch (`None` when empty).
    pub(crate) fn take(&mut self) -> EngineResult<Option<RecordBatch>> {
        self.since = None;
        if self.latest.is_empty() {
            self.batches.clear();
            return Ok(None);
        }
        let mut kept: Vec<(u64, usize, usize)> = self.latest.drain().map(|(_, v)| v).collect();
        kept.sort_unstable();
        let indices: Vec<(usize, usize)> = kept.iter().map(|&(_, b, r)| (b, r)).collect();
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        let out = interleave_record_batch(&batches, &indices)?;
        self.batches.clear();
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int32Array, Int8Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int8Type, Schema};
    use weir_types::{RowKind, ROW_KIND_COLUMN};

    use super::*;

    fn batch(keys: &[&str], values: &[i32], kinds: &[RowKind]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int32, true),
            Field::new(ROW_KIND_COLUMN, DataType::Int8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(Int32Array::from(values.to_vec())),
                Arc::new(Int8Array::from_iter_values(kinds.iter().map(|k| *k as i8))),
            ],
        )
        .unwrap()
    }

    #[test]
    fn keeps_the_last_change_of_each_key_in_arrival_order() {
        use RowKind::*;
        let policy = BufferFlush {
            max_rows: 3,
            interval: Duration::from_secs(60),
        };
        let mut buffer = UpsertBuffer::new(policy, vec!["k".into()]);
        buffer
            .add(batch(
                &["a", "b", "a"],
                &[1, 2, 1],
                &[Insert, Insert, UpdateBefore],
            ))
            .unwrap();
        assert!(!buffer.is_full());
        buffer
            .add(batch(
                &["a", "c", "b"],
                &[3, 4, 2],
                &[UpdateAfter, Insert, Delete],
            ))
            .unwrap();
        assert!(buffer.is_full());
        let out = buffer.take().unwrap().unwrap();
        let keys: Vec<&str> = out.column(0).as_string::<i32>().iter().flatten().collect();
        let values: Vec<i32> = out
            .column(1)
            .as_primitive::<arrow::datatypes::Int32Type>()
            .iter()
            .flatten()
            .collect();
        let kinds: Vec<i8> = out.column(2).as_primitive::<Int8Type>().values().to_vec();
        assert_eq!(keys, ["a", "c", "b"]);
        assert_eq!(values, [3, 4, 2]);
        assert_eq!(kinds, [UpdateAfter as i8, Insert as i8, Delete as i8]);
        assert!(buffer.take().unwrap().is_none());
        assert!(!buffer.is_due());
        // A key whose last change is a -U keeps it (written as a tombstone).
        buffer
            .add(batch(&["d", "d"], &[5, 5], &[Insert, UpdateBefore]))
            .unwrap();
        let last = buffer.take().unwrap().unwrap();
        let kinds: Vec<i8> = last.column(2).as_primitive::<Int8Type>().values().to_vec();
        assert_eq!(kinds, [UpdateBefore as i8]);
    }
}
