//! Key groups: the unit in which keyed data and state are partitioned.
//!
//! A key hashes to one of `max_parallelism` key groups; each subtask owns a contiguous
//! range of key groups (Flink's scheme), so state can be redistributed when a job is
//! restored with another parallelism.

/// The default number of key groups (`pipeline.max-parallelism`).
pub const DEFAULT_MAX_PARALLELISM: usize = 128;

/// The key group of a key hash.
pub fn key_group_of_hash(hash: u64, max_parallelism: usize) -> usize {
    // Mix the bits so that hashes that differ only in high bits spread too.
    let mixed = murmur_fmix(hash);
    (mixed % max_parallelism.max(1) as u64) as usize
}

/// The subtask that owns `key_group` when an operator runs at `parallelism`.
pub fn subtask_of_key_group(key_group: usize, max_parallelism: usize, parallelism: usize) -> usize {
    key_group * parallelism / max_parallelism.max(1)
}

/// The key groups owned by `subtask` (start inclusive, end exclusive).
pub fn key_group_range(
    subtask: usize,
    max_parallelism: usize,
    parallelism: usize,
) -> std::ops::Range<usize> {
    let start = (subtask * max_parallelism).div_ceil(parallelism);
    let end = ((subtask + 1) * max_parallelism).div_ceil(parallelism);
    start..end.min(max_parallelism)
}

fn murmur_fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition_all_key_groups_and_agree_with_owner() {
        for parallelism in 1..=9 {
            let mut covered = 0;
            for subtask in 0..parallelism {
                let range = key_group_range(subtask, 128, parallelism);
                for kg in range.clone() {
                    assert_eq!(subtask_of_key_group(kg, 128, parallelism), subtask);
                }
                covered += range.len();
            }
            assert_eq!(covered, 128);
        }
    }

    #[test]
    fn hashes_spread_over_key_groups() {
        let mut seen = [0usize; 128];
        for h in 0..12_800u64 {
            seen[key_group_of_hash(h, 128)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
