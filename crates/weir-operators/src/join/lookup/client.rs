//! A subtask's client of one lookup table: asks the store for a batch of keys on the
//! subtask's own I/O runtime, retrying with backoff while the store is unreachable or
//! slow, and counting requests, retries and latency in the job's metrics. Used by lookup
//! joins and by the cold side of a regular join.

use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use weir_runtime::{
    IoRuntime, JobMetrics, LookupError, LookupOptions, LookupTable, LookupTableFactory,
};
use weir_types::{EngineError, EngineResult};

/// A lookup table's client with its retry policy.
pub(crate) struct LookupClient {
    table: Arc<dyn LookupTableFactory>,
    options: LookupOptions,
    metrics: Arc<JobMetrics>,
    io: IoRuntime,
    client: Option<Arc<dyn LookupTable>>,
}

impl LookupClient {
    /// A client of `table` (it connects on the first request).
    pub fn new(
        table: Arc<dyn LookupTableFactory>,
        options: LookupOptions,
        metrics: Arc<JobMetrics>,
    ) -> EngineResult<LookupClient> {
        Ok(LookupClient {
            table,
            options,
            metrics,
            io: IoRuntime::new("weir-lookup")?,
            client: None,
        })
    }

    /// The table's rows for `keys` (distinct rows of the key columns), retrying while the
    /// store is unreachable.
    pub fn fetch(&mut self, keys: RecordBatch) -> EngineResult<RecordBatch> {
        let client = match &self.client {
            Some(c) => Arc::clone(c),
            None => Arc::clone(self.client.insert(self.table.create()?)),
        };
        let options = self.options.clone();
        let metrics = Arc::clone(&self.metrics);
        let started = Instant::now();
        let outcome = self.io.block_on(async move {
            let mut attempt = 0u32;
            loop {
                let answer = tokio::time::timeout(options.timeout, client.lookup(keys.clone()));
                let message = match answer.await {
                    Ok(Ok(rows)) => return Ok(rows),
                    Ok(Err(LookupError::Failed(e))) => return Err((None, e.to_string())),
                    Ok(Err(LookupError::Unavailable(m))) => m,
                    Err(_) => format!("no answer within {:?} (lookup.timeout)", options.timeout),
                };
                if attempt >= options.max_retries {
                    return Err((Some(attempt + 1), message));
                }
                attempt += 1;
                JobMetrics::add(&metrics.lookup_retries, 1);
                tokio::time::sleep(LookupOptions::backoff(attempt)).await;
            }
        })?;
        let micros = started.elapsed().as_micros() as u64;
        JobMetrics::add(&self.metrics.lookup_requests, 1);
        JobMetrics::add(&self.metrics.lookup_latency_us_total, micros as usize);
        JobMetrics::max(&self.metrics.lookup_latency_us_max, micros);
        let table = self.table.describe();
        match outcome {
            Ok(rows) if rows.schema().fields() == self.table.schema().fields() => Ok(rows),
            Ok(rows) => Err(EngineError::Internal(format!(
                "{table} answered with columns {:?}, expected {:?}",
                rows.schema(),
                self.table.schema()
            ))),
            Err((None, message)) => Err(EngineError::BadData(format!(
                "lookup join with {table}: {message}"
            ))),
            Err((Some(attempts), message)) => Err(EngineError::io(
                format!(
                    "lookup join with {table}: no answer after {attempts} attempts over {:.1} s \
                     (lookup.max-retries = {}); {}",
                    started.elapsed().as_secs_f64(),
                    self.options.max_retries,
                    self.table.unreachable_hint()
                ),
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, message),
            )),
        }
    }
}
