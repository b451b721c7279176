//! Exchanges: how a batch is split over the subtasks of the next node.

use arrow::array::{ArrayRef, UInt16Array, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use weir_types::keygroup::{key_group_of_hash, subtask_of_key_group};
use weir_types::EngineResult;

use crate::graph::EdgeKind;

/// The fixed hash seed: key groups must be the same in every run and every process,
/// or restored state would land on the wrong subtask.
const KEY_HASH_SEED: u64 = 0x5745_4952_5f4b_4559; // "WEIR_KEY"

/// Splits batches for one output edge.
pub struct Partitioner {
    kind: EdgeKind,
    targets: usize,
    max_parallelism: usize,
    next: usize,
    hashes: Vec<u64>,
    indices: Vec<Vec<u32>>,
}

impl Partitioner {
    /// A partitioner over `targets` downstream subtasks. `first` is where round-robin
    /// starts, so upstream subtasks do not all start at the same target.
    pub fn new(
        kind: EdgeKind,
        targets: usize,
        max_parallelism: usize,
        first: usize,
    ) -> Partitioner {
        Partitioner {
            kind,
            targets: targets.max(1),
            max_parallelism,
            next: first % targets.max(1),
            hashes: Vec::new(),
            indices: vec![Vec::new(); targets.max(1)],
        }
    }

    /// Splits `batch` into `(target index, rows)` parts. Forward edges have one target.
    pub fn partition(&mut self, batch: RecordBatch) -> EngineResult<Vec<(usize, RecordBatch)>> {
        match &self.kind {
            EdgeKind::Forward => Ok(vec![(0, batch)]),
            EdgeKind::Broadcast => Ok((0..self.targets).map(|t| (t, batch.clone())).collect()),
            EdgeKind::Rebalance => {
                let target = self.next;
                self.next = (self.next + 1) % self.targets;
                Ok(vec![(target, batch)])
            }
            EdgeKind::Hash { keys } => {
                if self.targets == 1 {
                    return Ok(vec![(0, batch)]);
                }
                let columns: Vec<ArrayRef> =
                    keys.iter().map(|&k| batch.column(k).clone()).collect();
                key_hashes(&columns, &mut self.hashes)?;
                for list in &mut self.indices {
                    list.clear();
                }
                for (row, &hash) in self.hashes.iter().enumerate() {
                    let key_group = key_group_of_hash(hash, self.max_parallelism);
                    let target =
                        subtask_of_key_group(key_group, self.max_parallelism, self.targets);
                    self.indices[target].push(row as u32);
                }
                let mut parts = Vec::new();
                for (target, list) in self.indices.iter().enumerate() {
                    if list.is_empty() {
                        continue;
                    }
                    if list.len() == batch.num_rows() {
                        parts.push((target, batch.clone()));
                        continue;
                    }
                    let idx = UInt32Array::from(list.clone());
                    parts.push((target, take_record_batch(&batch, &idx)?));
                }
                Ok(parts)
            }
        }
    }

    /// Number of downstream subtasks this edge reaches.
    pub fn targets(&self) -> usize {
        self.targets
    }
}

/// Hashes the key columns of every row with the job-wide fixed seed, into `hashes`.
fn key_hashes(columns: &[ArrayRef], hashes: &mut Vec<u64>) -> EngineResult<()> {
    let rows = columns.first().map_or(0, |c| c.len());
    hashes.clear();
    hashes.resize(rows, 0);
    create_hashes(columns, &RandomState::with_seed(KEY_HASH_SEED), hashes)?;
    Ok(())
}

/// The key group of every row of `columns` (the key columns, in the order of the hash
/// edge's `keys`), exactly as a [`EdgeKind::Hash`] exchange computes it to route the row.
/// Stateful operators put this in the `__weir_key_group` column of their keyed state
/// tables, so a restored subtask receives the state of the keys it will be sent.
pub fn key_groups(columns: &[ArrayRef], max_parallelism: usize) -> EngineResult<UInt16Array> {
    let mut hashes = Vec::new();
    key_hashes(columns, &mut hashes)?;
    Ok(hashes
        .iter()
        .map(|&hash| key_group_of_hash(hash, max_parallelism) as u16)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::collections::HashMap;
    use std::sync::Arc;

    fn batch(keys: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Utf8, false),
        ]));
        let names: Vec<String> = keys.iter().map(|k| format!("v{k}")).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(keys.to_vec())),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn hash_sends_every_key_to_one_subtask_consistently() {
        let mut p = Partitioner::new(EdgeKind::Hash { keys: vec![0] }, 4, 128, 0);
        let mut owner: HashMap<i64, usize> = HashMap::new();
        let mut total = 0;
        for round in 0..3 {
            let keys: Vec<i64> = (0..1000).map(|i| (i * 7 + round) % 100).collect();
            for (target, part) in p.partition(batch(&keys)).unwrap() {
                total += part.num_rows();
                let col = part
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                for i in 0..col.len() {
                    let previous = owner.insert(col.value(i), target);
                    assert!(
                        previous.is_none_or(|t| t == target),
                        "key moved between subtasks"
                    );
                }
            }
        }
        assert_eq!(total, 3000, "no row lost or duplicated");
        let used: std::collections::HashSet<_> = owner.values().collect();
        assert_eq!(used.len(), 4, "100 keys spread over all 4 subtasks");
    }

    #[test]
    fn key_groups_agree_with_the_routing_of_hash_edges() {
        let keys: Vec<i64> = (0..500).collect();
        let groups = key_groups(&[batch(&keys).column(0).clone()], 128).unwrap();
        let mut p = Partitioner::new(EdgeKind::Hash { keys: vec![0] }, 3, 128, 0);
        for (target, part) in p.partition(batch(&keys)).unwrap() {
            let col = part
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for i in 0..col.len() {
                let group = groups.value(col.value(i) as usize) as usize;
                assert_eq!(subtask_of_key_group(group, 128, 3), target);
            }
        }
    }

    #[test]
    fn rebalance_rotates_and_broadcast_copies() {
        let mut r = Partitioner::new(EdgeKind::Rebalance, 3, 128, 1);
        let targets: Vec<usize> = (0..4)
            .map(|_| r.partition(batch(&[1])).unwrap()[0].0)
            .collect();
        assert_eq!(targets, vec![1, 2, 0, 1]);
        let mut b = Partitioner::new(EdgeKind::Broadcast, 3, 128, 0);
        let parts = b.partition(batch(&[1, 2])).unwrap();
        assert_eq!(
            parts
                .iter()
                .map(|(t, p)| (*t, p.num_rows()))
                .collect::<Vec<_>>(),
            vec![(0, 2), (1, 2), (2, 2)]
        );
    }
}
