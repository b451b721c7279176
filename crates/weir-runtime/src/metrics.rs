//! Job-wide counters, read by the progress line and (later) the metrics endpoint, and
//! the count of messages in flight between tasks, which tells when a job is quiescent.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters shared by every subtask of a job. Updated once per batch, never per row.
#[derive(Debug)]
pub struct JobMetrics {
    /// Rows produced by sources.
    pub records_in: AtomicU64,
    /// Rows received by sinks.
    pub records_out: AtomicU64,
    /// Malformed records skipped because the table allows it (`weir.dirty-data.strategy` =
    /// `skip`, or e.g. `json.ignore-parse-errors`).
    pub records_skipped: AtomicU64,
    /// Malformed records written to the table's dead-letter target
    /// (`weir.dirty-data.strategy` = `dead-letter`) instead of being read.
    pub records_dead_lettered: AtomicU64,
    /// Rows dropped because they arrived after the watermark passed them.
    pub late_records_dropped: AtomicU64,
    /// Keys whose state was dropped by `table.exec.state.ttl`.
    pub state_keys_expired: AtomicU64,
    /// The highest watermark a sink subtask has reached, epoch millis (`i64::MIN` before
    /// any; the final watermark of a bounded source is not counted).
    pub sink_watermark: AtomicI64,
    /// Messages (batches, watermarks, idleness, barriers; not `End`) sent on a channel
    /// whose receiving task has not finished handling them yet: incremented before a
    /// message is sent, decremented after the receiver processed it and sent everything
    /// it emitted in response. Zero while every source waits means the job is quiescent:
    /// everything read so far has reached the sinks. Read with [`JobMetrics::in_flight`].
    pub in_flight_messages: AtomicI64,
    /// Checkpoints completed (savepoints included) since the job started.
    pub checkpoints_completed: AtomicU64,
    /// Checkpoints that failed (declined, timed out, not stored).
    pub checkpoints_failed: AtomicU64,
    /// Id of the last completed checkpoint (0 before any).
    pub last_checkpoint_id: AtomicU64,
    /// Milliseconds from trigger to completion of the last completed checkpoint.
    pub last_checkpoint_duration_ms: AtomicU64,
    /// Bytes stored by the last completed checkpoint.
    pub last_checkpoint_size_bytes: AtomicU64,
    /// The longest time a task held its inputs for the last completed checkpoint's
    /// barriers to align, in milliseconds.
    pub last_checkpoint_alignment_ms: AtomicU64,
    /// Microseconds operators spent taking their snapshots as barriers passed them,
    /// summed over every subtask and checkpoint: the part of a checkpoint that holds up
    /// the data path (Flink's "sync duration"; encoding and writing happen off the
    /// tasks).
    pub checkpoint_sync_us_total: AtomicU64,
    /// Microseconds tasks held some inputs for barriers to align, summed over every
    /// task and checkpoint.
    pub checkpoint_alignment_us_total: AtomicU64,
    /// Bytes written to checkpoint storage by every completed checkpoint (for
    /// incremental checkpoints, only what each one uploaded).
    pub checkpoint_bytes_total: AtomicU64,
    /// Times the job was restarted after a failure.
    pub restarts: AtomicU64,
    /// Lookup joins: distinct keys of an input batch found in the join's cache.
    pub lookup_cache_hits: AtomicU64,
    /// Lookup joins: distinct keys of an input batch not in the cache, asked of the store.
    pub lookup_cache_misses: AtomicU64,
    /// Lookup joins: batched requests answered by a store (one per input batch with misses).
    pub lookup_requests: AtomicU64,
    /// Regular joins with cold state: rows fetched from the cold table to join.
    pub cold_rows_fetched: AtomicU64,
    /// Lookup joins: attempts that failed and were retried.
    pub lookup_retries: AtomicU64,
    /// Lookup joins: total time spent waiting for stores, retries included, in microseconds.
    pub lookup_latency_us_total: AtomicU64,
    /// Lookup joins: the longest wait for one request, in microseconds.
    pub lookup_latency_us_max: AtomicU64,
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            records_skipped: AtomicU64::new(0),
            records_dead_lettered: AtomicU64::new(0),
            late_records_dropped: AtomicU64::new(0),
            state_keys_expired: AtomicU64::new(0),
            sink_watermark: AtomicI64::new(i64::MIN),
            in_flight_messages: AtomicI64::new(0),
            checkpoints_completed: AtomicU64::new(0),
            checkpoints_failed: AtomicU64::new(0),
            last_checkpoint_id: AtomicU64::new(0),
            last_checkpoint_duration_ms: AtomicU64::new(0),
            last_checkpoint_size_bytes: AtomicU64::new(0),
            last_checkpoint_alignment_ms: AtomicU64::new(0),
            checkpoint_sync_us_total: AtomicU64::new(0),
            checkpoint_alignment_us_total: AtomicU64::new(0),
            checkpoint_bytes_total: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            lookup_cache_hits: AtomicU64::new(0),
            lookup_cache_misses: AtomicU64::new(0),
            lookup_requests: AtomicU64::new(0),
            cold_rows_fetched: AtomicU64::new(0),
            lookup_retries: AtomicU64::new(0),
            lookup_latency_us_total: AtomicU64::new(0),
            lookup_latency_us_max: AtomicU64::new(0),
        }
    }
}

impl JobMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Sets a gauge.
    pub fn set(gauge: &AtomicU64, value: u64) {
        gauge.store(value, Ordering::Relaxed);
    }

    /// Raises a gauge to `value` if it is higher.
    pub fn max(gauge: &AtomicU64, value: u64) {
        gauge.fetch_max(value, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Messages sent between tasks and not yet fully handled by their receivers (see
    /// [`JobMetrics::in_flight_messages`]).
    pub fn in_flight(&self) -> i64 {
        self.in_flight_messages.load(Ordering::Acquire)
    }

    /// Counts a message about to be sent on a channel.
    pub(crate) fn message_sent(&self) {
        self.in_flight_messages.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a message whose receiver handled it (and sent what it emitted), or whose
    /// send failed.
    pub(crate) fn message_done(&self) {
        self.in_flight_messages.fetch_sub(1, Ordering::AcqRel);
    }
}
