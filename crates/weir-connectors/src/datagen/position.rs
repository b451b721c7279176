//! The `datagen` source's checkpointed positions.
//!
//! One union table, `datagen_shards`, one row per shard (every old subtask's rows reach
//! every restoring subtask, which keeps the shards it now makes):
//!
//! | column        | type   | meaning                                                   |
//! |---------------|--------|-----------------------------------------------------------|
//! | `split_id`    | Utf8   | `shard-<shard>-of-<shard_count>`                          |
//! | `shard`       | UInt32 | the shard's index `j`                                     |
//! | `shard_count` | UInt32 | number of shards `n`: the shard makes rows `j, j + n, ...`|
//! | `emitted`     | UInt64 | rows of the shard emitted                                 |
//! | `limit`       | UInt64 | rows the shard makes in all (null: unbounded)             |
//! | `seed`        | UInt64 | the source's random seed                                  |
//! | `generator`   | Utf8   | the columns' generators, to refuse another table          |
//!
//! A row's values are a function of the seed and its number, so the restored shards
//! continue with exactly the rows an uninterrupted run makes (wall-clock time columns
//! aside).

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use crate::filesystem::state::{column, union_tables};

/// Name of the positions table.
pub(crate) const TABLE: &str = "datagen_shards";

static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("split_id", DataType::Utf8, false),
        Field::new("shard", DataType::UInt32, false),
        Field::new("shard_count", DataType::UInt32, false),
        Field::new("emitted", DataType::UInt64, false),
        Field::new("limit", DataType::UInt64, true),
        Field::new("seed", DataType::UInt64, false),
        Field::new("generator", DataType::Utf8, false),
    ]))
});

/// Where a shard stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardPosition {
    /// The shard's index `j`.
    pub index: u64,
    /// Number of shards `n`.
    pub count: u64,
    /// Rows emitted.
    pub emitted: u64,
    /// Rows in all, when bounded.
    pub limit: Option<u64>,
    /// The source's random seed.
    pub seed: u64,
}

/// The split id of shard `index` of `count`.
pub(crate) fn shard_id(index: u64, count: u64) -> String {
    format!("shard-{index}-of-{count}")
}

/// The positions of a subtask's shards as a snapshot.
pub(crate) fn snapshot(
    positions: &[ShardPosition],
    generator: &str,
) -> EngineResult<StateSnapshot> {
    let u32s = |f: fn(&ShardPosition) -> u64| -> EngineResult<UInt32Array> {
        positions
            .iter()
            .map(|p| {
                u32::try_from(f(p))
                    .map_err(|_| EngineError::Internal(format!("shard {p:?} out of range")))
            })
            .collect()
    };
    let batch = RecordBatch::try_new(
        SCHEMA.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                positions.iter().map(|p| shard_id(p.index, p.count)),
            )),
            Arc::new(u32s(|p| p.index)?),
            Arc::new(u32s(|p| p.count)?),
            Arc::new(UInt64Array::from_iter_values(
                positions.iter().map(|p| p.emitted),
            )),
            Arc::new(positions.iter().map(|p| p.limit).collect::<UInt64Array>()),
            Arc::new(UInt64Array::from_iter_values(
                positions.iter().map(|p| p.seed),
            )),
            Arc::new(StringArray::from(vec![generator; positions.len()])),
        ],
    )?;
    let mut snapshot = StateSnapshot::new();
    snapshot
        .add_union(TABLE, batch)
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(snapshot)
}

/// Every shard position of a restored snapshot. Errors when the checkpoint was taken
/// with other generators than `generator`, or holds a shard twice.
pub(crate) fn restore(
    snapshot: StateSnapshot,
    generator: &str,
) -> EngineResult<Vec<ShardPosition>> {
    let tables = union_tables(snapshot, &[(TABLE, &SCHEMA)], "the datagen source")?;
    let mut positions: Vec<ShardPosition> = Vec::new();
    for batch in tables.into_iter().flatten() {
        let index = column::<UInt32Array>(&batch, "shard")?;
        let count = column::<UInt32Array>(&batch, "shard_count")?;
        let emitted = column::<UInt64Array>(&batch, "emitted")?;
        let limit = column::<UInt64Array>(&batch, "limit")?;
        let seed = column::<UInt64Array>(&batch, "seed")?;
        let generators = column::<StringArray>(&batch, "generator")?;
        for i in 0..batch.num_rows() {
            if generators.value(i) != generator {
                return Err(EngineError::Config(
                    "the checkpoint's datagen rows were generated for other columns or \
                     options than the table's; the job's SQL changed since the checkpoint \
                     was taken"
                        .into(),
                ));
            }
            let position = ShardPosition {
                index: u64::from(index.value(i)),
                count: u64::from(count.value(i)),
                emitted: emitted.value(i),
                limit: limit.is_valid(i).then(|| limit.value(i)),
                seed: seed.value(i),
            };
            if positions.iter().any(|p| p.index == position.index) {
                return Err(EngineError::Config(format!(
                    "the checkpoint holds shard {} of the datagen source twice",
                    position.index
                )));
            }
            positions.push(position);
        }
    }
    Ok(positions)
}
