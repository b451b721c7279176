//! The `nexmark` source's checkpointed positions.
//!
//! One union table, `nexmark_shards`, one row per shard (a strided slice of the event
//! stream; every old subtask's rows reach every restoring subtask, which keeps the
//! shards it now reads):
//!
//! | column        | type   | meaning                                                   |
//! |---------------|--------|-----------------------------------------------------------|
//! | `split_id`    | Utf8   | `shard-<shard>-of-<shard_count>`                          |
//! | `shard`       | UInt32 | the shard's index `j`                                     |
//! | `shard_count` | UInt32 | number of shards `n`: the shard has events `j, j + n, ...`|
//! | `next_offset` | UInt64 | the generator's offset of the next event                  |
//! | `remaining`   | UInt64 | events the shard still emits (null: unbounded)            |
//! | `base_time`   | UInt64 | time of the stream's first event, epoch ms                |
//! | `generator`   | Utf8   | the generator's options, to refuse another stream         |
//!
//! Events are a function of the options, the base time and the offset, so the restored
//! generator continues with exactly the events an uninterrupted one makes.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use crate::filesystem::state::{column, union_tables};

/// Name of the positions table.
pub(crate) const TABLE: &str = "nexmark_shards";

static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("split_id", DataType::Utf8, false),
        Field::new("shard", DataType::UInt32, false),
        Field::new("shard_count", DataType::UInt32, false),
        Field::new("next_offset", DataType::UInt64, false),
        Field::new("remaining", DataType::UInt64, true),
        Field::new("base_time", DataType::UInt64, false),
        Field::new("generator", DataType::Utf8, false),
    ]))
});

/// Where a shard stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardPosition {
    /// The shard's index `j`.
    pub index: u64,
    /// Number of shards `n`.
    pub count: u64,
    /// The generator's offset of the next event.
    pub offset: u64,
    /// Events left, when bounded.
    pub remaining: Option<u64>,
    /// Time of the stream's first event.
    pub base_time: u64,
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
                positions.iter().map(|p| p.offset),
            )),
            Arc::new(
                positions
                    .iter()
                    .map(|p| p.remaining)
                    .collect::<UInt64Array>(),
            ),
            Arc::new(UInt64Array::from_iter_values(
                positions.iter().map(|p| p.base_time),
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
/// with other generator options than `generator`, or holds a shard twice.
pub(crate) fn restore(
    snapshot: StateSnapshot,
    generator: &str,
) -> EngineResult<Vec<ShardPosition>> {
    let tables = union_tables(snapshot, &[(TABLE, &SCHEMA)], "the nexmark source")?;
    let mut positions: Vec<ShardPosition> = Vec::new();
    for batch in tables.into_iter().flatten() {
        let index = column::<UInt32Array>(&batch, "shard")?;
        let count = column::<UInt32Array>(&batch, "shard_count")?;
        let offset = column::<UInt64Array>(&batch, "next_offset")?;
        let remaining = column::<UInt64Array>(&batch, "remaining")?;
        let base_time = column::<UInt64Array>(&batch, "base_time")?;
        let options = column::<StringArray>(&batch, "generator")?;
        for i in 0..batch.num_rows() {
            if options.value(i) != generator {
                return Err(EngineError::Config(
                    "the checkpoint's nexmark events were generated with other options \
                     than the table's; the job's SQL changed since the checkpoint was taken"
                        .into(),
                ));
            }
            let position = ShardPosition {
                index: u64::from(index.value(i)),
                count: u64::from(count.value(i)),
                offset: offset.value(i),
                remaining: remaining.is_valid(i).then(|| remaining.value(i)),
                base_time: base_time.value(i),
            };
            if positions.iter().any(|p| p.index == position.index) {
                return Err(EngineError::Config(format!(
                    "the checkpoint holds shard {} of the nexmark source twice",
                    position.index
                )));
            }
            positions.push(position);
        }
    }
    Ok(positions)
}
