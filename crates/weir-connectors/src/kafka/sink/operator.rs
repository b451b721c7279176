//! The Kafka sink operator: one per subtask. It encodes each batch into records and hands
//! them to the writer of its delivery guarantee ([`super::writer::DirectWriter`] for
//! `none` and `at-least-once`, [`super::transactions::TxnWriter`] for `exactly-once`),
//! through `upsert-kafka`'s buffer when `sink.buffer-flush.*` is set (flushed when full,
//! by a background thread when the oldest row is due, at every barrier and at the end).

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use weir_runtime::{Operator, Output, StateSnapshot, SubtaskContext};
use weir_types::{EngineError, EngineResult};

use super::buffer::UpsertBuffer;
use super::encode::{Encoded, MessageEncoder};
use super::options::{DeliveryGuarantee, SinkOptions};
use super::partitioner::PartitionAssigner;
use super::producer::{self, Target};
use super::transactions::TxnWriter;
use super::txn_client::{ParkingLot, RdKafkaTxnClient};
use super::txn_state;
use super::writer::DirectWriter;

/// Time allowed, on top of the checkpoint interval, for a checkpoint to complete and a
/// failed job to restart before its transactions must be committed.
pub(crate) const RESTART_ALLOWANCE: Duration = Duration::from_secs(60);

/// The writer of a delivery guarantee.
enum Writer {
    Direct(DirectWriter),
    Transactional(Box<TxnWriter<RdKafkaTxnClient>>),
}

/// Everything a subtask writes with, shared with the buffer's flush thread.
struct Core {
    options: Arc<SinkOptions>,
    encoder: MessageEncoder,
    encoded: Encoded,
    buffer: Option<UpsertBuffer>,
    writer: Writer,
    subtask: usize,
    parallelism: usize,
    parked: ParkingLot,
    /// A background flush that failed: fails the job at the next call.
    failure: Option<String>,
}

impl Core {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<()> {
        self.encoder.encode(batch, &mut self.encoded)?;
        match &mut self.writer {
            Writer::Direct(w) => w.write(&self.encoded),
            Writer::Transactional(w) => w.write(&self.encoded),
        }
    }

    fn flush_buffer(&mut self) -> EngineResult<()> {
        let rows = match &mut self.buffer {
            Some(buffer) => buffer.take()?,
            None => None,
        };
        match rows {
            Some(rows) => self.write(&rows),
            None => Ok(()),
        }
    }

    fn check_failure(&mut self) -> EngineResult<()> {
        match self.failure.take() {
            Some(message) => Err(EngineError::Config(message)),
            None => Ok(()),
        }
    }
}

/// One subtask of a `kafka` or `upsert-kafka` sink.
pub(crate) struct KafkaSink {
    core: Arc<Mutex<Core>>,
}

impl KafkaSink {
    /// Creates subtask `ctx.subtask`: checks what exactly-once needs, creates the
    /// producer and looks the topic up.
    pub(crate) fn new(
        options: Arc<SinkOptions>,
        ctx: &SubtaskContext,
        parked: ParkingLot,
    ) -> EngineResult<KafkaSink> {
        let writer = match options.guarantee {
            DeliveryGuarantee::ExactlyOnce => Writer::Transactional(Box::new(
                transactional_writer(&options, ctx, parked.clone())?,
            )),
            _ => Writer::Direct(DirectWriter::new(&options, ctx.subtask)?),
        };
        let buffer = options
            .buffer
            .map(|policy| UpsertBuffer::new(policy, options.columns.key.clone()));
        let tick = buffer.as_ref().map(UpsertBuffer::tick);
        let core = Arc::new(Mutex::new(Core {
            encoder: MessageEncoder::new(&options)?,
            encoded: Encoded::default(),
            buffer,
            writer,
            subtask: ctx.subtask,
            parallelism: ctx.parallelism.max(1),
            parked,
            failure: None,
            options,
        }));
        if let Some(tick) = tick {
            spawn_flusher(Arc::downgrade(&core), tick)?;
        }
        Ok(KafkaSink { core })
    }

    fn core(&self) -> EngineResult<MutexGuard<'_, Core>> {
        self.core
            .lock()
            .map_err(|_| EngineError::Internal("the Kafka sink's lock is poisoned".into()))
    }
}

/// The exactly-once writer of a subtask, after checking that the job takes checkpoints
/// and that a transaction outlives an interval.
fn transactional_writer(
    options: &SinkOptions,
    ctx: &SubtaskContext,
    parked: ParkingLot,
) -> EngineResult<TxnWriter<RdKafkaTxnClient>> {
    let table = &options.table;
    let Some(interval) = ctx.checkpoint_interval.filter(|_| ctx.checkpointing) else {
        return Err(EngineError::Config(format!(
            "table '{table}': 'sink.delivery-guarantee' = 'exactly-once' commits Kafka \
             transactions when checkpoints complete, but this job takes no checkpoints: set \
             'execution.checkpointing.interval' (e.g. SET 'execution.checkpointing.interval' \
             = '10 s'), or use 'at-least-once'"
        )));
    };
    let needed = interval + RESTART_ALLOWANCE;
    if options.transaction_timeout < needed {
        return Err(EngineError::Config(format!(
            "table '{table}': 'properties.transaction.timeout.ms' ({} ms) is shorter than the \
             checkpoint interval ({} ms) plus {} s for the checkpoint to complete and a failed \
             job to restart: the brokers would abort a transaction before its checkpoint \
             commits it, losing its rows; set 'properties.transaction.timeout.ms' to at least \
             {} (and at most the brokers' transaction.max.timeout.ms, 900000 by default), or \
             checkpoint more often",
            options.transaction_timeout.as_millis(),
            interval.as_millis(),
            RESTART_ALLOWANCE.as_secs(),
            needed.as_millis()
        )));
    }
    let prefix = options.transactional_id_prefix.clone().ok_or_else(|| {
        EngineError::Config(format!(
            "table '{table}': 'sink.transactional-id-prefix' is required for exactly-once"
        ))
    })?;
    // The topic's partitions, through a plain producer (a transactional one may only
    // send inside transactions).
    let lookup_target = Target::of(options, false);
    let (lookup, deliveries) =
        producer::create_producer(&producer::base_config(options, false), &lookup_target)?;
    let partitions = {
        use rdkafka::producer::Producer;
        producer::topic_partitions(lookup.client(), &lookup_target, &deliveries)?
    };
    drop(lookup);
    let client = RdKafkaTxnClient::new(
        producer::base_config(options, true),
        Target::of(options, true),
        options.transaction_timeout,
        PartitionAssigner::new(options.partitioning, partitions, ctx.subtask),
        parked,
    );
    Ok(TxnWriter::new(
        client,
        table,
        &prefix,
        ctx.subtask,
        ctx.parallelism,
    ))
}

/// Flushes the buffer when its oldest row is due, until the sink is dropped.
fn spawn_flusher(core: Weak<Mutex<Core>>, tick: Duration) -> EngineResult<()> {
    std::thread::Builder::new()
        .name("weir-kafka-flush".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            let Some(core) = core.upgrade() else { return };
            let Ok(mut core) = core.lock() else { return };
            if core.failure.is_some() || !core.buffer.as_ref().is_some_and(UpsertBuffer::is_due) {
                continue;
            }
            if let Err(e) = core.flush_buffer() {
                core.failure = Some(e.to_string());
            }
        })
        .map(drop)
        .map_err(|e| EngineError::io("cannot start the Kafka sink's flush thread", e))
}

impl Operator for KafkaSink {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        let mut core = self.core()?;
        core.check_failure()?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match &mut core.buffer {
            Some(buffer) => {
                buffer.add(batch)?;
                if buffer.is_full() {
                    core.flush_buffer()?;
                }
                Ok(())
            }
            None => core.write(&batch),
        }
    }

    /// Writes what is buffered; `at-least-once` waits for every acknowledgement,
    /// `exactly-once` pre-commits its transaction (listed in the snapshot).
    fn snapshot_state(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        let mut core = self.core()?;
        core.check_failure()?;
        core.flush_buffer()?;
        match &mut core.writer {
            Writer::Direct(w) => {
                w.barrier()?;
                Ok(StateSnapshot::new())
            }
            Writer::Transactional(w) => w.pre_commit(checkpoint_id),
        }
    }

    /// `exactly-once`: commits the transactions pre-committed up to the checkpoint.
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        let mut core = self.core()?;
        match &mut core.writer {
            Writer::Direct(_) => Ok(()),
            Writer::Transactional(w) => w.commit_up_to(checkpoint_id),
        }
    }

    /// Writes what is buffered and waits for every record (`exactly-once`: the job's
    /// final checkpoint then commits).
    fn finish(&mut self, _out: &mut Output) -> EngineResult<()> {
        let mut core = self.core()?;
        core.check_failure()?;
        core.flush_buffer()?;
        match &mut core.writer {
            Writer::Direct(w) => w.flush(),
            Writer::Transactional(w) => w.flush(),
        }
    }

    /// Finishes the transactions the checkpoint lists and aborts lingering ones (whatever
    /// the guarantee now: a job that used exactly-once may restore with another).
    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let restored = txn_state::restore(snapshot).map_err(|e| match e {
            EngineError::Config(m) => {
                EngineError::Config(format!("table '{}': {m}", self.table_name()))
            }
            other => other,
        })?;
        let mut core = self.core()?;
        let Core {
            writer,
            options,
            subtask,
            parallelism,
            parked,
            ..
        } = &mut *core;
        match writer {
            Writer::Transactional(w) => w.recover(&restored),
            Writer::Direct(_) => {
                let Some(prefix) = restored.writers.first().map(|w| w.prefix.clone()) else {
                    return Ok(());
                };
                let client = RdKafkaTxnClient::new(
                    producer::base_config(options, true),
                    Target::of(options, true),
                    options.transaction_timeout,
                    PartitionAssigner::new(options.partitioning, Vec::new(), *subtask),
                    parked.clone(),
                );
                TxnWriter::new(client, &options.table, &prefix, *subtask, *parallelism)
                    .recover(&restored)
            }
        }
    }
}

impl KafkaSink {
    fn table_name(&self) -> String {
        self.core
            .lock()
            .map(|c| c.options.table.clone())
            .unwrap_or_default()
    }
}
