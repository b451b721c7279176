//! The `datagen` source's checkpointed positions: the union table `datagen_shards` of
//! [`crate::shards`], with `emitted` (rows of the shard emitted), `limit` (rows it makes
//! in all, null when unbounded) and `seed` (the source's random seed); `generator` holds
//! the columns' generators, to refuse another table.
//!
//! A row's values are a function of the seed and its number, so the restored shards
//! continue with exactly the rows an uninterrupted run makes (wall-clock time columns
//! aside).

use weir_runtime::StateSnapshot;
use weir_types::EngineResult;

pub(crate) use crate::shards::shard_id;
use crate::shards::{ShardRow, ShardTable};

/// The positions table.
const TABLE: ShardTable = ShardTable {
    name: "datagen_shards",
    source: "datagen",
    progress: "emitted",
    bound: "limit",
    origin: "seed",
    changed: "rows were generated for other columns or options than the table's",
};

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

/// The positions of a subtask's shards as a snapshot.
pub(crate) fn snapshot(
    positions: &[ShardPosition],
    generator: &str,
) -> EngineResult<StateSnapshot> {
    let rows: Vec<ShardRow> = positions
        .iter()
        .map(|p| ShardRow {
            index: p.index,
            count: p.count,
            progress: p.emitted,
            bound: p.limit,
            origin: p.seed,
        })
        .collect();
    TABLE.snapshot(&rows, generator)
}

/// Every shard position of a restored snapshot. Errors when the checkpoint was taken
/// with other generators than `generator`, or holds a shard twice.
pub(crate) fn restore(
    snapshot: StateSnapshot,
    generator: &str,
) -> EngineResult<Vec<ShardPosition>> {
    Ok(TABLE
        .restore(snapshot, generator)?
        .into_iter()
        .map(|r| ShardPosition {
            index: r.index,
            count: r.count,
            emitted: r.progress,
            limit: r.bound,
            seed: r.origin,
        })
        .collect())
}
