//! Checkpointed positions of sharded generators (`datagen`, `nexmark`): one union table
//! per source, one row per shard, with the columns
//!
//! | column        | type   | meaning                                                    |
//! |---------------|--------|------------------------------------------------------------|
//! | `split_id`    | Utf8   | `shard-<shard>-of-<shard_count>`                           |
//! | `shard`       | UInt32 | the shard's index `j` (it makes items `j, j + n, ...`)     |
//! | `shard_count` | UInt32 | number of shards `n`                                       |
//! | *progress*    | UInt64 | how far the shard is (named by the source)                 |
//! | *bound*       | UInt64 | how far it goes, null when unbounded (named by the source) |
//! | *origin*      | UInt64 | what the stream derives from, a seed or a base time        |
//! | `generator`   | Utf8   | the generator's definition, to refuse another stream       |
//!
//! Every old subtask's rows reach every restoring subtask, which keeps the shards it
//! now makes, so a job restores at any parallelism.

use std::sync::Arc;

use arrow::array::{Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use crate::filesystem::state::{column, union_tables};

/// Where one shard stands, in the shared columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardRow {
    /// The shard's index `j`.
    pub index: u64,
    /// Number of shards `n`.
    pub count: u64,
    /// The progress column.
    pub progress: u64,
    /// The bound column (`None`: unbounded).
    pub bound: Option<u64>,
    /// The origin column.
    pub origin: u64,
}

/// A source's positions table: its name and the names of its source-specific columns
/// (a stored format: they never change for an existing table).
pub(crate) struct ShardTable {
    /// The table's name, e.g. `datagen_shards`.
    pub name: &'static str,
    /// The source, for messages, e.g. `datagen`.
    pub source: &'static str,
    /// Names of the progress, bound and origin columns.
    pub progress: &'static str,
    pub bound: &'static str,
    pub origin: &'static str,
    /// What differs when the generator text does not match, for the error.
    pub changed: &'static str,
}

/// The split id of shard `index` of `count`.
pub(crate) fn shard_id(index: u64, count: u64) -> String {
    format!("shard-{index}-of-{count}")
}

impl ShardTable {
    fn schema(&self) -> Schema {
        Schema::new(vec![
            Field::new("split_id", DataType::Utf8, false),
            Field::new("shard", DataType::UInt32, false),
            Field::new("shard_count", DataType::UInt32, false),
            Field::new(self.progress, DataType::UInt64, false),
            Field::new(self.bound, DataType::UInt64, true),
            Field::new(self.origin, DataType::UInt64, false),
            Field::new("generator", DataType::Utf8, false),
        ])
    }

    /// The positions of a subtask's shards as a snapshot.
    pub fn snapshot(&self, rows: &[ShardRow], generator: &str) -> EngineResult<StateSnapshot> {
        let u32s = |f: fn(&ShardRow) -> u64| -> EngineResult<UInt32Array> {
            rows.iter()
                .map(|r| {
                    u32::try_from(f(r))
                        .map_err(|_| EngineError::Internal(format!("shard {r:?} out of range")))
                })
                .collect()
        };
        let batch = RecordBatch::try_new(
            Arc::new(self.schema()),
            vec![
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| shard_id(r.index, r.count)),
                )),
                Arc::new(u32s(|r| r.index)?),
                Arc::new(u32s(|r| r.count)?),
                Arc::new(UInt64Array::from_iter_values(
                    rows.iter().map(|r| r.progress),
                )),
                Arc::new(rows.iter().map(|r| r.bound).collect::<UInt64Array>()),
                Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.origin))),
                Arc::new(StringArray::from(vec![generator; rows.len()])),
            ],
        )?;
        let mut snapshot = StateSnapshot::new();
        snapshot
            .add_union(self.name, batch)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(snapshot)
    }

    /// Every shard of a restored snapshot. Errors when the checkpoint was taken with
    /// another generator than `generator`, or holds a shard twice.
    pub fn restore(&self, snapshot: StateSnapshot, generator: &str) -> EngineResult<Vec<ShardRow>> {
        let schema = self.schema();
        let owner = format!("the {} source", self.source);
        let tables = union_tables(snapshot, &[(self.name, &schema)], &owner)?;
        let mut rows: Vec<ShardRow> = Vec::new();
        for batch in tables.into_iter().flatten() {
            let index = column::<UInt32Array>(&batch, "shard")?;
            let count = column::<UInt32Array>(&batch, "shard_count")?;
            let progress = column::<UInt64Array>(&batch, self.progress)?;
            let bound = column::<UInt64Array>(&batch, self.bound)?;
            let origin = column::<UInt64Array>(&batch, self.origin)?;
            let generators = column::<StringArray>(&batch, "generator")?;
            for i in 0..batch.num_rows() {
                if generators.value(i) != generator {
                    return Err(EngineError::Config(format!(
                        "the checkpoint's {} {}; the job's SQL changed since the checkpoint \
                         was taken",
                        self.source, self.changed
                    )));
                }
                let row = ShardRow {
                    index: u64::from(index.value(i)),
                    count: u64::from(count.value(i)),
                    progress: progress.value(i),
                    bound: bound.is_valid(i).then(|| bound.value(i)),
                    origin: origin.value(i),
                };
                if rows.iter().any(|r| r.index == row.index) {
                    return Err(EngineError::Config(format!(
                        "the checkpoint holds shard {} of the {} source twice",
                        row.index, self.source
                    )));
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }
}
