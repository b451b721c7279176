//! The partial cache of a lookup join subtask (Flink's `lookup.cache` = `PARTIAL`): the
//! rows of recently looked-up keys, by key (the key columns in Arrow's row format).
//!
//! An entry expires `expire-after-write` after it was read from the store and
//! `expire-after-access` after it was last used; a key without rows is cached only with
//! `cache-missing-key`. Beyond `max-rows` keys, the least recently used go: the cache
//! then drops to nine tenths of `max-rows` at once, so eviction costs O(1) per insert on
//! average. The cache is not state: it starts empty after a restore.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use weir_runtime::LookupCacheOptions;

/// A key's cached rows (the join's right-side columns; no rows for a missing key).
struct Entry {
    rows: RecordBatch,
    written_ms: i64,
    accessed_ms: i64,
    /// Use counter value at the last access, for least-recently-used eviction.
    used: u64,
}

/// Cached rows by key.
pub(crate) struct LookupCache {
    options: LookupCacheOptions,
    entries: HashMap<Box<[u8]>, Entry>,
    tick: u64,
}

impl LookupCache {
    pub(crate) fn new(options: LookupCacheOptions) -> LookupCache {
        LookupCache {
            options,
            entries: HashMap::new(),
            tick: 0,
        }
    }

    /// The rows of `key` if cached and not expired at `now_ms`.
    pub(crate) fn get(&mut self, key: &[u8], now_ms: i64) -> Option<RecordBatch> {
        let expired = {
            let entry = self.entries.get(key)?;
            let older = |since: i64, limit: Option<std::time::Duration>| {
                limit.is_some_and(|d| now_ms.saturating_sub(since) >= d.as_millis() as i64)
            };
            older(entry.written_ms, self.options.expire_after_write)
                || older(entry.accessed_ms, self.options.expire_after_access)
        };
        if expired {
            self.entries.remove(key);
            return None;
        }
        self.tick += 1;
        let entry = self.entries.get_mut(key)?;
        entry.accessed_ms = now_ms;
        entry.used = self.tick;
        Some(entry.rows.clone())
    }

    /// Caches the rows of `key` read from the store at `now_ms` (a key without rows only
    /// with `cache-missing-key`).
    pub(crate) fn put(&mut self, key: &[u8], rows: RecordBatch, now_ms: i64) {
        if rows.num_rows() == 0 && !self.options.cache_missing_key {
            return;
        }
        self.tick += 1;
        self.entries.insert(
            key.into(),
            Entry {
                rows,
                written_ms: now_ms,
                accessed_ms: now_ms,
                used: self.tick,
            },
        );
        if self.entries.len() > self.options.max_rows {
            self.evict();
        }
    }

    /// Drops the least recently used entries down to nine tenths of `max-rows`.
    fn evict(&mut self) {
        let keep = (self.options.max_rows * 9 / 10)
            .max(1)
            .min(self.options.max_rows);
        let drop = self.entries.len().saturating_sub(keep);
        if drop == 0 {
            return;
        }
        let mut used: Vec<u64> = self.entries.values().map(|e| e.used).collect();
        let (_, &mut threshold, _) = used.select_nth_unstable(drop - 1);
        self.entries.retain(|_, e| e.used > threshold);
    }

    /// Number of cached keys.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::datatypes::Schema;

    use super::*;

    fn options(max_rows: usize) -> LookupCacheOptions {
        LookupCacheOptions {
            max_rows,
            expire_after_write: Some(Duration::from_millis(100)),
            expire_after_access: Some(Duration::from_millis(30)),
            cache_missing_key: false,
        }
    }

    fn rows(n: usize) -> RecordBatch {
        RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .unwrap()
    }

    #[test]
    fn expires_after_write_and_access() {
        let mut cache = LookupCache::new(options(10));
        cache.put(b"a", rows(1), 0);
        assert!(cache.get(b"a", 20).is_some());
        assert!(cache.get(b"a", 45).is_some());
        // Accessed at 45: idle for 30 ms at 75.
        assert!(cache.get(b"a", 75).is_none());
        cache.put(b"b", rows(1), 0);
        for t in [20, 40, 60, 80] {
            assert!(cache.get(b"b", t).is_some());
        }
        // Written at 0: gone at 100 although used every 20 ms.
        assert!(cache.get(b"b", 100).is_none());
        // Missing keys are not cached here.
        cache.put(b"c", rows(0), 0);
        assert!(cache.get(b"c", 0).is_none());
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut cache = LookupCache::new(LookupCacheOptions {
            expire_after_write: None,
            expire_after_access: None,
            ..options(10)
        });
        for k in 0u8..10 {
            cache.put(&[k], rows(1), 0);
        }
        // Keys 0 and 1 used again: the oldest are 2, 3, ...
        assert!(cache.get(&[0], 1).is_some());
        assert!(cache.get(&[1], 1).is_some());
        cache.put(&[10], rows(1), 2);
        assert_eq!(cache.len(), 9);
        assert!(cache.get(&[0], 3).is_some());
        assert!(cache.get(&[1], 3).is_some());
        assert!(cache.get(&[10], 3).is_some());
        assert!(cache.get(&[2], 3).is_none());
        assert!(cache.get(&[3], 3).is_none());
    }
}
