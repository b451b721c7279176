//! The exactly-once writer: Flink's two-phase commit with Kafka transactions, as a state
//! machine over [`TxnClient`] (one producer per transactional id).
//!
//! - Each checkpoint interval writes in its own transaction, with transactional id
//!   `<prefix>-<subtask>-<n>`, `n` counting the subtask's transactions (recorded in
//!   checkpoints; Flink numbers by checkpoint id, a count has no gaps, so the probe for
//!   lingering transactions below finds every number an earlier run used). The
//!   transaction is opened by the first record after a barrier (an interval without
//!   records opens none).
//! - At a barrier ([`TxnWriter::pre_commit`]) the producer flushes (every record
//!   acknowledged, or the checkpoint fails) and the transaction is *pre-committed*:
//!   recorded in the snapshot, left open.
//! - [`TxnWriter::commit_up_to`] (checkpoint `c` complete) commits the pre-committed
//!   transactions of checkpoints up to `c`.
//! - [`TxnWriter::recover`] (a restore) finishes the transactions the checkpoint lists.
//!   A producer of this process still holding one (the job restarted in-process) commits
//!   it. Otherwise librdkafka cannot resume another producer's transaction: a new producer
//!   of that id runs `InitProducerId`, which completes the transaction if its commit had
//!   been requested (`EndTxn`) and aborts it if not. The rows of a checkpoint whose
//!   process died between the barrier and the commit request are then lost (see
//!   docs/kafka.md, *Guarantees and their limits*).
//! - Lingering transactions (a failed run's open transaction, a pre-commit whose
//!   checkpoint never completed) are aborted at start: for each owner subtask id this
//!   subtask is responsible for, ids are probed upwards from where the checkpoint says the
//!   owner stood, each `InitProducerId` aborting what is open, until an id that was never
//!   used (its producer epoch is 0); owner ids beyond the known parallelisms are probed
//!   until one has no used id, as Flink does.
//! - A writer dropped with a pre-committed transaction (the job failed) parks its
//!   producer for a restore in this process; its open transaction is aborted.

use weir_types::{EngineError, EngineResult};

use super::encode::Encoded;
use super::txn_state::{self, PendingTxn, Restored, WriterState};
use weir_runtime::StateSnapshot;

/// Most ids probed for one owner subtask (a prefix reused by many earlier runs).
const MAX_PROBES: u64 = 10_000;

/// A Kafka producer per transactional id, as the exactly-once writer drives them. The
/// real implementation is `RdKafkaTxnClient`; errors name the table, topic and id.
pub(crate) trait TxnClient: Send {
    /// Creates the producer of `id` and runs `InitProducerId`: fences earlier producers of
    /// `id`, completes a transaction of `id` whose commit was requested and aborts one
    /// that was not.
    fn init(&mut self, id: &str) -> EngineResult<()>;
    /// `init` and close: whether `id` had been used before (`None`: unknown).
    fn probe(&mut self, id: &str) -> EngineResult<Option<bool>>;
    /// Begins a transaction on `id`'s producer.
    fn begin(&mut self, id: &str) -> EngineResult<()>;
    /// Sends records in `id`'s transaction (without waiting).
    fn produce(&mut self, id: &str, records: &Encoded) -> EngineResult<()>;
    /// Waits until every record of `id`'s transaction is acknowledged.
    fn flush(&mut self, id: &str) -> EngineResult<()>;
    /// Commits `id`'s transaction.
    fn commit(&mut self, id: &str) -> EngineResult<()>;
    /// Aborts `id`'s transaction.
    fn abort(&mut self, id: &str) -> EngineResult<()>;
    /// Closes `id`'s producer.
    fn close(&mut self, id: &str);
    /// Keeps `id`'s producer (its transaction pre-committed) for a restore of this job in
    /// this process.
    fn park(&mut self, id: &str);
    /// Takes back a parked producer of `id`; false when this process has none.
    fn unpark(&mut self, id: &str) -> bool;
}

/// The transactional id of transaction `n` of subtask `subtask`.
pub(crate) fn transactional_id(prefix: &str, subtask: usize, n: u64) -> String {
    format!("{prefix}-{subtask}-{n}")
}

/// One subtask's exactly-once writer.
pub(crate) struct TxnWriter<C: TxnClient> {
    client: C,
    table: String,
    prefix: String,
    subtask: usize,
    parallelism: usize,
    /// The transaction of the rows since the last barrier.
    current: Option<String>,
    /// Pre-committed transactions, oldest first.
    pending: Vec<PendingTxn>,
    /// The number of the next transaction.
    next: u64,
    /// Whether lingering transactions were aborted (at the first use, or on restore).
    started: bool,
}

impl<C: TxnClient> TxnWriter<C> {
    /// The writer of subtask `subtask` of `parallelism`.
    pub(crate) fn new(
        client: C,
        table: &str,
        prefix: &str,
        subtask: usize,
        parallelism: usize,
    ) -> TxnWriter<C> {
        TxnWriter {
            client,
            table: table.to_string(),
            prefix: prefix.to_string(),
            subtask,
            parallelism: parallelism.max(1),
            current: None,
            pending: Vec::new(),
            next: 1,
            started: false,
        }
    }

    /// The client (tests look at the broker double through it).
    #[cfg(test)]
    pub(crate) fn client(&self) -> &C {
        &self.client
    }

    /// Writes records in the current transaction, opening one if there is none.
    pub(crate) fn write(&mut self, records: &Encoded) -> EngineResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.start()?;
        let id = match &self.current {
            Some(id) => id.clone(),
            None => {
                let id = transactional_id(&self.prefix, self.subtask, self.next);
                self.client.init(&id)?;
                self.client.begin(&id)?;
                self.next += 1;
                self.current = Some(id.clone());
                id
            }
        };
        self.client.produce(&id, records)
    }

    /// At checkpoint `checkpoint_id`'s barrier: flushes and pre-commits the current
    /// transaction; the snapshot lists every pre-committed transaction.
    pub(crate) fn pre_commit(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        self.start()?;
        if let Some(id) = self.current.take() {
            if let Err(e) = self.client.flush(&id) {
                self.current = Some(id);
                return Err(e);
            }
            self.pending.push(PendingTxn {
                checkpoint_id,
                subtask: self.subtask,
                id,
            });
        }
        txn_state::snapshot(&self.pending, &self.writer_state())
    }

    /// Checkpoint `checkpoint_id` is complete: commits the transactions pre-committed at
    /// its barrier and earlier ones.
    pub(crate) fn commit_up_to(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        while self
            .pending
            .first()
            .is_some_and(|p| p.checkpoint_id <= checkpoint_id)
        {
            let pending = self.pending.remove(0);
            if let Err(e) = self.client.commit(&pending.id) {
                let message = format!(
                    "table '{}': cannot commit Kafka transaction '{}' of checkpoint {}: {e}",
                    self.table, pending.id, pending.checkpoint_id
                );
                self.pending.insert(0, pending);
                return Err(EngineError::Config(message));
            }
            self.client.close(&pending.id);
        }
        Ok(())
    }

    /// End of input: waits for the current transaction's records (the job's final
    /// checkpoint pre-commits and commits it).
    pub(crate) fn flush(&mut self) -> EngineResult<()> {
        self.start()?;
        match &self.current {
            Some(id) => self.client.flush(id),
            None => Ok(()),
        }
    }

    /// Finishes the transactions a restored checkpoint lists for the old subtasks this
    /// subtask is responsible for (old subtask `j` belongs to subtask `j % parallelism`),
    /// then aborts lingering ones.
    pub(crate) fn recover(&mut self, restored: &Restored) -> EngineResult<()> {
        for pending in restored
            .pending
            .iter()
            .filter(|p| p.subtask % self.parallelism == self.subtask)
        {
            if self.client.unpark(&pending.id) {
                self.client.commit(&pending.id).map_err(|e| {
                    EngineError::Config(format!(
                        "table '{}': cannot commit Kafka transaction '{}' of restored checkpoint \
                         {}: {e}",
                        self.table, pending.id, pending.checkpoint_id
                    ))
                })?;
                self.client.close(&pending.id);
                tracing::info!(
                    table = %self.table,
                    "committed Kafka transaction '{}' of restored checkpoint {}",
                    pending.id,
                    pending.checkpoint_id
                );
            } else {
                self.client.init(&pending.id)?;
                self.client.close(&pending.id);
                tracing::warn!(
                    table = %self.table,
                    "finished Kafka transaction '{}' of restored checkpoint {} with a new \
                     producer: the brokers committed it if its commit had been requested before \
                     the failure, and aborted it otherwise (its rows are then lost; see \
                     docs/kafka.md, 'Guarantees and their limits')",
                    pending.id,
                    pending.checkpoint_id
                );
            }
        }
        self.started = true;
        self.abort_lingering(&restored.writers)
    }

    /// A fresh start: aborts lingering transactions of earlier runs.
    fn start(&mut self) -> EngineResult<()> {
        if !self.started {
            self.started = true;
            self.abort_lingering(&[])?;
        }
        Ok(())
    }

    /// Probes the ids of every owner subtask this subtask is responsible for; sets this
    /// subtask's next transaction number past the ids it finds used.
    fn abort_lingering(&mut self, writers: &[WriterState]) -> EngineResult<()> {
        let old_parallelism = writers.iter().map(|w| w.subtask + 1).max().unwrap_or(0);
        let mut own_next = None;
        let (parallelism, subtask) = (self.parallelism, self.subtask);
        for w in writers
            .iter()
            .filter(|w| w.subtask % parallelism == subtask)
        {
            let frontier = self.probe_owner(&w.prefix, w.subtask, w.next)?;
            if w.subtask == self.subtask && w.prefix == self.prefix {
                own_next = Some(frontier);
            }
        }
        if own_next.is_none() {
            own_next = Some(self.probe_owner(&self.prefix.clone(), self.subtask, 1)?);
        }
        self.next = own_next.unwrap_or(1);
        let known = self.parallelism.max(old_parallelism);
        let mut owner = self.subtask + self.parallelism;
        loop {
            if owner < old_parallelism {
                // Probed above from its checkpointed position.
                owner += self.parallelism;
                continue;
            }
            let frontier = self.probe_owner(&self.prefix.clone(), owner, 1)?;
            if owner >= known && frontier == 1 {
                return Ok(());
            }
            owner += self.parallelism;
        }
    }

    /// Probes `<prefix>-<owner>-<n>` from `from` upwards, aborting what each holds open,
    /// until an id that was never used; returns that id's number.
    fn probe_owner(&mut self, prefix: &str, owner: usize, from: u64) -> EngineResult<u64> {
        let mut n = from;
        loop {
            let id = transactional_id(prefix, owner, n);
            match self.client.probe(&id)? {
                Some(true) if n - from < MAX_PROBES => n += 1,
                Some(true) => {
                    tracing::warn!(
                        table = %self.table,
                        "stopped probing transactional ids of '{prefix}-{owner}' after {MAX_PROBES}: \
                         choose a new 'sink.transactional-id-prefix' for a job started afresh"
                    );
                    return Ok(n + 1);
                }
                Some(false) => return Ok(n),
                None => {
                    tracing::warn!(
                        table = %self.table,
                        "cannot tell whether transactional id '{id}' was used before; lingering \
                         transactions of '{prefix}-{owner}' after it, if any, stay open until \
                         'transaction.timeout.ms'"
                    );
                    return Ok(n);
                }
            }
        }
    }

    fn writer_state(&self) -> WriterState {
        WriterState {
            subtask: self.subtask,
            prefix: self.prefix.clone(),
            next: self.next,
        }
    }
}

impl<C: TxnClient> Drop for TxnWriter<C> {
    /// A writer dropped while the job fails: aborts its open transaction (rows no
    /// checkpoint covers) and parks its pre-committed ones for a restore in this process.
    fn drop(&mut self) {
        if let Some(id) = self.current.take() {
            if let Err(e) = self.client.abort(&id) {
                tracing::warn!(table = %self.table, "cannot abort Kafka transaction '{id}': {e}");
            }
            self.client.close(&id);
        }
        for pending in self.pending.drain(..) {
            self.client.park(&pending.id);
        }
    }
}
