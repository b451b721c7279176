//! The sink operator of external stores (redis, jdbc): buffers rows and writes them with
//! one batched request per flush, through a [`StoreWriter`].
//!
//! A flush happens when `sink.buffer-flush.max-rows` rows are buffered, when the oldest
//! buffered row has waited `sink.buffer-flush.interval` (a background task on the sink's
//! own [`IoRuntime`] checks), on every checkpoint barrier and at the end of input. Flushes
//! are serialised and each takes every row buffered when it starts, so the store sees
//! the changes in stream order. A flush that fails because the store is unreachable is
//! retried `sink.max-retries` times with backoff; after that the job fails with a message
//! naming the table, the address and what to check.
//!
//! Delivery is at-least-once: rows are written before the barrier passes, and a job
//! restored from a checkpoint writes the rows after it again. Upserts and deletes by
//! primary key are idempotent, so replays converge to the same content.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use weir_runtime::{IoRuntime, LookupOptions, Operator, Output, StateSnapshot, SubtaskContext};
use weir_types::{EngineError, EngineResult};

/// Why a write failed.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The store could not be reached: retried.
    Unavailable(String),
    /// Anything else (a refused statement, a value the store rejects): fails at once.
    Failed(String),
}

/// Writes buffered changes to a store.
#[async_trait]
pub(crate) trait StoreWriter: Send + Sync + 'static {
    /// Writes `batches` (the sink's columns, plus the row-kind column for an updating
    /// stream) in order, in as few round trips as the store allows.
    async fn write(&self, batches: Vec<RecordBatch>) -> Result<(), WriteError>;
}

/// How a store sink buffers and retries.
#[derive(Clone, Debug)]
pub(crate) struct FlushPolicy {
    /// `sink.buffer-flush.max-rows` (0: flush every batch).
    pub max_rows: usize,
    /// `sink.buffer-flush.interval` (`None`: only by size, barrier and end).
    pub interval: Option<Duration>,
    /// `sink.max-retries`.
    pub max_retries: u32,
    /// Table name, for messages.
    pub table: String,
    /// E.g. `redis at 127.0.0.1:6379 (db 0)`.
    pub address: String,
    /// What to check when the store is unreachable.
    pub hint: String,
}

impl FlushPolicy {
    /// Reads `sink.buffer-flush.max-rows`, `sink.buffer-flush.interval` (`0` turns
    /// interval flushes off) and `sink.max-retries`, with these defaults.
    pub(crate) fn read(
        options: &mut crate::options::Options<'_>,
        defaults: (usize, Duration, u32),
        address: String,
        hint: String,
    ) -> Result<FlushPolicy, crate::ConnectorError> {
        let max_rows = options
            .parse("sink.buffer-flush.max-rows", "a number of rows")?
            .unwrap_or(defaults.0);
        let interval = options
            .duration("sink.buffer-flush.interval")?
            .unwrap_or(defaults.1);
        let max_retries = options
            .parse("sink.max-retries", "a number of retries")?
            .unwrap_or(defaults.2);
        Ok(FlushPolicy {
            max_rows,
            interval: (!interval.is_zero()).then_some(interval),
            max_retries,
            table: options.table().name.clone(),
            address,
            hint,
        })
    }
}

/// Rows waiting to be written, shared with the interval flusher.
#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    rows: usize,
    since: Option<Instant>,
    /// A background flush that failed: fails the job at the next call.
    failure: Option<String>,
}

struct Shared {
    buffer: Mutex<Buffer>,
    /// Held while writing, so flushes reach the store in order.
    writing: tokio::sync::Mutex<()>,
    writer: Arc<dyn StoreWriter>,
    policy: FlushPolicy,
}

/// Creates sink subtasks writing through writers made by `make_writer`.
pub(crate) fn factory(
    policy: FlushPolicy,
    make_writer: Arc<dyn Fn() -> EngineResult<Arc<dyn StoreWriter>> + Send + Sync>,
) -> Arc<dyn weir_runtime::OperatorFactory> {
    Arc::new(
        move |_ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
            Ok(Box::new(StoreSink::new(policy.clone(), make_writer()?)?))
        },
    )
}

/// One sink subtask.
pub(crate) struct StoreSink {
    shared: Arc<Shared>,
    io: IoRuntime,
}

impl StoreSink {
    /// A sink subtask writing through `writer`.
    pub(crate) fn new(
        policy: FlushPolicy,
        writer: Arc<dyn StoreWriter>,
    ) -> EngineResult<StoreSink> {
        let io = IoRuntime::new("weir-sink-io")?;
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Buffer::default()),
            writing: tokio::sync::Mutex::new(()),
            writer,
            policy,
        });
        if let Some(interval) = shared.policy.interval.filter(|d| !d.is_zero()) {
            let weak = Arc::downgrade(&shared);
            io.spawn(async move {
                let tick = (interval / 4).max(Duration::from_millis(10));
                loop {
                    tokio::time::sleep(tick).await;
                    let Some(shared) = weak.upgrade() else { return };
                    let due = lock(&shared.buffer)
                        .ok()
                        .and_then(|b| b.since)
                        .is_some_and(|since| since.elapsed() >= interval);
                    if due {
                        if let Err(e) = flush(&shared).await {
                            if let Ok(mut b) = lock(&shared.buffer) {
                                b.failure.get_or_insert(e.to_string());
                            }
                        }
                    }
                }
            });
        }
        Ok(StoreSink { shared, io })
    }

    /// Writes everything buffered, waiting for the store.
    fn flush_now(&mut self) -> EngineResult<()> {
        self.check_failure()?;
        let shared = Arc::clone(&self.shared);
        self.io.block_on(async move { flush(&shared).await })?
    }

    fn check_failure(&self) -> EngineResult<()> {
        match lock(&self.shared.buffer)?.failure.take() {
            Some(message) => Err(EngineError::Config(message)),
            None => Ok(()),
        }
    }
}

fn lock(buffer: &Mutex<Buffer>) -> EngineResult<std::sync::MutexGuard<'_, Buffer>> {
    buffer
        .lock()
        .map_err(|_| EngineError::Internal("a store sink's buffer lock is poisoned".into()))
}

/// Writes every buffered row, retrying while the store is unreachable.
async fn flush(shared: &Shared) -> EngineResult<()> {
    let _writing = shared.writing.lock().await;
    let batches = {
        let mut buffer = lock(&shared.buffer)?;
        buffer.rows = 0;
        buffer.since = None;
        std::mem::take(&mut buffer.batches)
    };
    if batches.is_empty() {
        return Ok(());
    }
    let policy = &shared.policy;
    let mut attempt = 0;
    loop {
        match shared.writer.write(batches.clone()).await {
            Ok(()) => return Ok(()),
            Err(WriteError::Failed(message)) => {
                return Err(EngineError::Config(format!(
                    "table '{}': writing to {} failed: {message}",
                    policy.table, policy.address
                )))
            }
            Err(WriteError::Unavailable(message)) if attempt >= policy.max_retries => {
                return Err(EngineError::Config(format!(
                    "table '{}': cannot write to {} after {} attempts: {message}; {}",
                    policy.table,
                    policy.address,
                    attempt + 1,
                    policy.hint
                )))
            }
            Err(WriteError::Unavailable(message)) => {
                attempt += 1;
                tracing::warn!(
                    table = %policy.table,
                    "writing to {} failed (attempt {attempt}), retrying: {message}",
                    policy.address
                );
                tokio::time::sleep(LookupOptions::backoff(attempt)).await;
            }
        }
    }
}

impl Operator for StoreSink {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        self.check_failure()?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let full = {
            let mut buffer = lock(&self.shared.buffer)?;
            buffer.rows += batch.num_rows();
            buffer.batches.push(batch);
            buffer.since.get_or_insert_with(Instant::now);
            buffer.rows >= self.shared.policy.max_rows
        };
        if full {
            self.flush_now()?;
        }
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.flush_now()?;
        Ok(StateSnapshot::new())
    }

    fn finish(&mut self, _out: &mut Output) -> EngineResult<()> {
        self.flush_now()
    }
}
