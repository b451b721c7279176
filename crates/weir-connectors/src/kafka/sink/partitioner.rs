//! Which partition a record goes to (`sink.partitioner`).
//!
//! `default` leaves the choice to librdkafka, configured with `partitioner` =
//! `murmur2_random` unless `properties.partitioner` says otherwise: the murmur2 hash of
//! the key bytes, as the Java client computes it, so Weir and Java producers put a key
//! in the same partition (librdkafka's own default, `consistent_random`, hashes with
//! CRC32 and would not); records without a key go to a sticky random partition.
//! `fixed` and `round-robin` name the partition themselves, from the topic's partitions
//! as the sink saw them when it started.

use super::options::Partitioning;

/// librdkafka's partitioner compatible with the Java client's default partitioner.
pub(crate) const JAVA_COMPATIBLE_PARTITIONER: &str = "murmur2_random";

/// Chooses partitions for one sink subtask.
#[derive(Debug, Clone)]
pub(crate) struct PartitionAssigner {
    mode: Partitioning,
    /// The topic's partition ids, sorted.
    partitions: Vec<i32>,
    subtask: usize,
    next: usize,
}

impl PartitionAssigner {
    /// An assigner for subtask `subtask` writing a topic with `partitions`.
    pub(crate) fn new(mode: Partitioning, mut partitions: Vec<i32>, subtask: usize) -> Self {
        partitions.sort_unstable();
        PartitionAssigner {
            mode,
            partitions,
            subtask,
            next: subtask,
        }
    }

    /// The partition of the next record, `None` to let librdkafka's partitioner choose.
    pub(crate) fn assign(&mut self, has_key: bool) -> Option<i32> {
        if self.partitions.is_empty() {
            return None;
        }
        let n = self.partitions.len();
        match self.mode {
            Partitioning::Default => None,
            Partitioning::Fixed => Some(self.partitions[self.subtask % n]),
            Partitioning::RoundRobin if has_key => None,
            Partitioning::RoundRobin => {
                let partition = self.partitions[self.next % n];
                self.next = (self.next + 1) % n;
                Some(partition)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_takes_the_subtask_modulo_the_sorted_partitions() {
        let mut a = PartitionAssigner::new(Partitioning::Fixed, vec![2, 0, 1], 4);
        assert_eq!(a.assign(true), Some(1));
        assert_eq!(a.assign(false), Some(1));
        let mut b = PartitionAssigner::new(Partitioning::Fixed, vec![0, 1, 2], 2);
        assert_eq!(b.assign(false), Some(2));
    }

    #[test]
    fn round_robin_cycles_keyless_records_and_hashes_keyed_ones() {
        let mut a = PartitionAssigner::new(Partitioning::RoundRobin, vec![0, 1, 2], 1);
        let chosen: Vec<_> = (0..5).map(|_| a.assign(false)).collect();
        assert_eq!(chosen, [Some(1), Some(2), Some(0), Some(1), Some(2)]);
        assert_eq!(a.assign(true), None);
    }

    #[test]
    fn default_leaves_the_choice_to_librdkafka() {
        let mut a = PartitionAssigner::new(Partitioning::Default, vec![0, 1], 0);
        assert_eq!(a.assign(true), None);
        assert_eq!(a.assign(false), None);
    }
}
