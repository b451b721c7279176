//! Job-wide counters, read by the progress line and (later) the metrics endpoint.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters shared by every subtask of a job. Updated once per batch, never per row.
#[derive(Debug)]
pub struct JobMetrics {
    /// Rows produced by sources.
    pub records_in: AtomicU64,
    /// Rows received by sinks.
    pub records_out: AtomicU64,
    /// Malformed records skipped because the table allows it (e.g. `json.ignore-parse-errors`).
    pub records_skipped: AtomicU64,
    /// Rows dropped because they arrived after the watermark passed them.
    pub late_records_dropped: AtomicU64,
    /// Keys whose state was dropped by `table.exec.state.ttl`.
    pub state_keys_expired: AtomicU64,
    /// The highest watermark a sink subtask has reached, epoch millis (`i64::MIN` before
    /// any; the final watermark of a bounded source is not counted).
    pub sink_watermark: AtomicI64,
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            records_skipped: AtomicU64::new(0),
            late_records_dropped: AtomicU64::new(0),
            state_keys_expired: AtomicU64::new(0),
            sink_watermark: AtomicI64::new(i64::MIN),
        }
    }
}

impl JobMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
