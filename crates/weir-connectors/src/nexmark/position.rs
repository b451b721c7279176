//! The `nexmark` source's checkpointed positions: the union table `nexmark_shards` of
//! [`crate::shards`], with `next_offset` (the generator's offset of the shard's next
//! event), `remaining` (events it still emits, null when unbounded) and `base_time`
//! (time of the stream's first event, epoch ms); `generator` holds the generator's
//! options, to refuse another stream.
//!
//! Events are a function of the options, the base time and the offset, so the restored
//! generator continues with exactly the events an uninterrupted one makes.

use weir_runtime::StateSnapshot;
use weir_types::EngineResult;

pub(crate) use crate::shards::shard_id;
use crate::shards::{ShardRow, ShardTable};

/// The positions table.
const TABLE: ShardTable = ShardTable {
    name: "nexmark_shards",
    source: "nexmark",
    progress: "next_offset",
    bound: "remaining",
    origin: "base_time",
    changed: "events were generated with other options than the table's",
};

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
            progress: p.offset,
            bound: p.remaining,
            origin: p.base_time,
        })
        .collect();
    TABLE.snapshot(&rows, generator)
}

/// Every shard position of a restored snapshot. Errors when the checkpoint was taken
/// with other generator options than `generator`, or holds a shard twice.
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
            offset: r.progress,
            remaining: r.bound,
            base_time: r.origin,
        })
        .collect())
}
