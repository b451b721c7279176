//! One subtask of the `kafka` source: reads its partitions (its splits) with one
//! librdkafka consumer, manually assigned (no group rebalancing, as in Flink).
//!
//! Each partition has its own queue (librdkafka's partition queues), so records arrive
//! grouped by partition and a partition's end is known without ambiguity. `next` waits
//! for a record on any queue (a cancel-safe wait: a dropped wait consumes nothing), then,
//! without awaiting again, takes what every queue holds ready (`split.rs`: up to 8192
//! records per partition), decodes each partition's run into one batch and queues the
//! events; each event carries the partition's position after it, which becomes the
//! checkpointed position when `next` returns the event. Requests that block (offsets,
//! metadata for discovery) run on a thread of their own, which answers on a channel the
//! reader keeps, so a dropped `next` finds the answer again; a job that stops does not
//! wait for a request to an unreachable broker to time out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};

use super::context::SourceContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;
use tokio::time::Instant;
use weir_runtime::{SourceEvent, SourceReader, StateSnapshot};
use weir_types::{EngineError, EngineResult};

use super::assignment::{list_partitions, owner, TopicPartition};
use super::decode::RunDecoder;
use super::offsets::{resolve, Modes, Request, Resolved, Start, Stop};
use super::position::{self, Position};
use super::split::{
    finish, new_split, on_queue_error, restored_request, take_run, Pending, Queue, Split, State,
};
use super::SourceShared;

/// The index [`Woke::Record`] gives the consumer's main queue.
const MAIN_QUEUE: usize = usize::MAX;

/// What a background lookup found.
enum Found {
    /// The offsets of splits waiting for them.
    Resolved(Vec<(usize, Resolved)>),
    /// Partitions new since the last look, this subtask's, with their offsets.
    Discovered(Vec<(TopicPartition, Resolved)>),
}

/// The consumer and the partitions' queues (records borrow them while being decoded).
struct Io {
    consumer: Arc<StreamConsumer<SourceContext>>,
    /// Per split, its queue while it is read.
    queues: Vec<Option<Queue>>,
}

/// What woke a waiting `next`.
enum Woke<'a> {
    Lookup(Result<EngineResult<Found>, oneshot::error::RecvError>),
    Record(usize, KafkaResult<BorrowedMessage<'a>>),
    Discovery,
}

/// The subtask's reader.
pub(crate) struct KafkaReader {
    shared: Arc<SourceShared>,
    subtask: usize,
    parallelism: usize,
    io: Io,
    splits: Vec<Split>,
    decoder: RunDecoder,
    pending: VecDeque<Pending>,
    /// The answer of the lookup in flight.
    lookup: Option<oneshot::Receiver<EngineResult<Found>>>,
    started: bool,
    next_discovery: Option<Instant>,
    /// Positions of the last snapshot, committed when its checkpoint completes (the
    /// coordinator has one checkpoint in flight and says it completed before the next
    /// one starts, so the last snapshot is the completed checkpoint's).
    to_commit: Vec<(TopicPartition, i64)>,
    /// `Finished` was returned.
    ended: bool,
    /// The positions of the restored checkpoint, for partitions discovered later.
    restored: Arc<HashMap<TopicPartition, Position>>,
    /// Where the next drain of ready queues starts (fairness across partitions).
    rotation: usize,
}

impl KafkaReader {
    /// Subtask `subtask` of `parallelism`: connects and lists the partitions it reads
    /// (failing clearly when the brokers do not answer or a topic does not exist).
    pub(crate) fn open(
        shared: Arc<SourceShared>,
        subtask: usize,
        parallelism: usize,
        decoder: RunDecoder,
    ) -> EngineResult<KafkaReader> {
        let table = &shared.table;
        let consumer: StreamConsumer<SourceContext> = shared
            .options
            .consumer_config(&shared.config, subtask)
            .create_with_context(SourceContext {
                table: table.clone(),
            })
            .map_err(|e| {
                EngineError::Config(format!(
                    "table '{table}': cannot create a Kafka consumer: {e}"
                ))
            })?;
        let consumer = Arc::new(consumer);
        let partitions = list_partitions(
            consumer.as_ref(),
            &shared.selector,
            shared.options.api_timeout,
            table,
            shared.config.bootstrap_servers(),
        )?;
        let bounded = shared.options.is_bounded();
        let splits: Vec<Split> = partitions
            .into_iter()
            .filter(|tp| owner(&tp.topic, tp.partition, parallelism) == subtask)
            .map(|tp| new_split(tp, Start::Startup, bounded))
            .collect();
        Ok(KafkaReader {
            io: Io {
                consumer,
                queues: splits.iter().map(|_| None).collect(),
            },
            next_discovery: shared.options.discovery.map(|d| Instant::now() + d),
            shared,
            subtask,
            parallelism,
            splits,
            decoder,
            pending: VecDeque::new(),
            lookup: None,
            started: false,
            to_commit: Vec::new(),
            ended: false,
            restored: Arc::default(),
            rotation: 0,
        })
    }

    /// Resolves the offsets of `splits` (indices) in the background.
    fn spawn_resolve(&mut self, indices: Vec<usize>) {
        let requests: Vec<Request> = indices
            .iter()
            .map(|&i| self.splits[i].request.clone())
            .collect();
        for &i in &indices {
            self.splits[i].state = State::Resolving;
        }
        let consumer = self.io.consumer.clone();
        let shared = self.shared.clone();
        self.lookup = Some(spawn_lookup(move || {
            let resolved = resolve(
                consumer.as_ref(),
                &shared.modes(),
                &requests,
                shared.options.api_timeout,
            )?;
            Ok(Found::Resolved(indices.into_iter().zip(resolved).collect()))
        }));
    }

    /// Looks for partitions new since the last look, in the background.
    fn spawn_discovery(&mut self) {
        let known: HashSet<TopicPartition> = self.splits.iter().map(|s| s.tp.clone()).collect();
        let restored = self.restored.clone();
        let consumer = self.io.consumer.clone();
        let shared = self.shared.clone();
        let (subtask, parallelism) = (self.subtask, self.parallelism);
        self.lookup = Some(spawn_lookup(move || {
            let timeout = shared.options.api_timeout;
            let servers = shared.config.bootstrap_servers();
            let found = match list_partitions(
                consumer.as_ref(),
                &shared.selector,
                timeout,
                &shared.table,
                servers,
            ) {
                Ok(found) => found,
                Err(e) => {
                    // A broker outage must not end the job: the next round tries again.
                    tracing::warn!("partition discovery failed, retrying later: {e}");
                    return Ok(Found::Discovered(Vec::new()));
                }
            };
            let new: Vec<TopicPartition> = found
                .into_iter()
                .filter(|tp| {
                    !known.contains(tp) && owner(&tp.topic, tp.partition, parallelism) == subtask
                })
                .collect();
            // New partitions start at their earliest offset, as in Flink (or where the
            // restored checkpoint says, if it knew them).
            let requests: Vec<Request> = new
                .iter()
                .map(|tp| match restored.get(tp) {
                    Some(saved) => restored_request(tp, saved, false),
                    None => Request {
                        tp: tp.clone(),
                        start: Start::Earliest,
                        stop: Stop::Known(None),
                    },
                })
                .collect();
            match resolve(consumer.as_ref(), &shared.modes(), &requests, timeout) {
                Ok(resolved) => Ok(Found::Discovered(new.into_iter().zip(resolved).collect())),
                Err(e) => {
                    // Found again at the next round.
                    tracing::warn!(
                        "cannot read the offsets of new partitions, retrying later: {e}"
                    );
                    Ok(Found::Discovered(Vec::new()))
                }
            }
        }));
    }

    /// Applies what a lookup found: assigns the partitions with their start offsets.
    fn apply(&mut self, found: Found) -> EngineResult<()> {
        let resolved = match found {
            Found::Resolved(resolved) => resolved,
            Found::Discovered(new) => {
                let mut resolved = Vec::new();
                for (tp, offsets) in new {
                    tracing::info!(
                        "table '{}': reading new partition {} of topic '{}' from offset {}",
                        self.shared.table,
                        tp.partition,
                        tp.topic,
                        offsets.start
                    );
                    resolved.push((self.splits.len(), offsets));
                    self.splits.push(new_split(tp, Start::Earliest, false));
                    self.io.queues.push(None);
                }
                resolved
            }
        };
        let mut assignment = TopicPartitionList::new();
        for (i, offsets) in resolved {
            let split = &mut self.splits[i];
            split.position = Some(offsets.start);
            split.fetched = offsets.start;
            split.stop = offsets.stop;
            split.stop_within_end = offsets.stop_within_end;
            if offsets.stop.is_some_and(|stop| offsets.start >= stop) {
                split.state = State::Finished;
                self.pending.push_back(Pending {
                    event: SourceEvent::SplitFinished(i),
                    split: i,
                    position: offsets.start,
                });
                continue;
            }
            split.state = State::Reading;
            let queue = self
                .io
                .consumer
                .split_partition_queue(&split.tp.topic, split.tp.partition)
                .ok_or_else(|| {
                    EngineError::Internal(format!("no queue for partition {}", split.id))
                })?;
            self.io.queues[i] = Some(queue);
            assignment
                .add_partition_offset(
                    &split.tp.topic,
                    split.tp.partition,
                    Offset::Offset(offsets.start),
                )
                .map_err(|e| self.kafka_error("cannot assign partitions", &e))?;
        }
        if assignment.count() > 0 {
            self.io
                .consumer
                .incremental_assign(&assignment)
                .map_err(|e| self.kafka_error("cannot assign partitions", &e))?;
        }
        Ok(())
    }

    /// Records the position of every event returned.
    fn pop_pending(&mut self) -> Option<SourceEvent> {
        let pending = self.pending.pop_front()?;
        self.splits[pending.split].position = Some(pending.position);
        Some(pending.event)
    }

    fn kafka_error(&self, what: &str, e: &KafkaError) -> EngineError {
        EngineError::Config(format!("table '{}': {what}: {e}", self.shared.table))
    }
}

/// Waits for a record on any queue, the end of the lookup in flight, or the discovery
/// time. Cancel-safe: every wait it drops consumes nothing.
async fn wait<'a>(
    io: &'a Io,
    lookup: Option<&mut oneshot::Receiver<EngineResult<Found>>>,
    discovery: Option<Instant>,
) -> Woke<'a> {
    let mut waits: Vec<Pin<Box<dyn Future<Output = Woke<'a>> + Send + '_>>> = Vec::new();
    for (i, queue) in io.queues.iter().enumerate() {
        if let Some(queue) = queue {
            waits.push(Box::pin(async move { Woke::Record(i, queue.recv().await) }));
        }
    }
    // Serves the consumer's own events (errors, commit results); records all go to the
    // partitions' queues.
    let consumer = &io.consumer;
    waits.push(Box::pin(async move {
        Woke::Record(MAIN_QUEUE, consumer.recv().await)
    }));
    match lookup {
        Some(lookup) => waits.push(Box::pin(async move { Woke::Lookup(lookup.await) })),
        None => {
            if let Some(at) = discovery {
                waits.push(Box::pin(async move {
                    tokio::time::sleep_until(at).await;
                    Woke::Discovery
                }));
            }
        }
    }
    futures::future::select_all(waits).await.0
}

/// Runs `lookup` (blocking requests to the brokers) on a thread of its own.
fn spawn_lookup(
    lookup: impl FnOnce() -> EngineResult<Found> + Send + 'static,
) -> oneshot::Receiver<EngineResult<Found>> {
    let (answer, receiver) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("weir-kafka-lookup".into())
        .spawn(move || {
            // The reader may be gone: nobody to tell.
            let _ = answer.send(lookup());
        });
    if let Err(e) = spawned {
        let (answer, receiver) = oneshot::channel();
        let _ = answer.send(Err(EngineError::Internal(format!(
            "cannot start a thread for Kafka requests: {e}"
        ))));
        return receiver;
    }
    receiver
}

#[async_trait]
impl SourceReader for KafkaReader {
    fn split_count(&self) -> usize {
        self.splits.len()
    }

    fn split_id(&self, split: usize) -> String {
        self.splits
            .get(split)
            .map_or_else(|| split.to_string(), |s| s.id.clone())
    }

    async fn next(&mut self) -> EngineResult<SourceEvent> {
        loop {
            if let Some(event) = self.pop_pending() {
                return Ok(event);
            }
            if !self.started {
                self.started = true;
                self.spawn_resolve((0..self.splits.len()).collect());
            }
            let bounded = self.shared.options.is_bounded();
            if bounded
                && self.lookup.is_none()
                && self.splits.iter().all(|s| s.state == State::Finished)
            {
                self.ended = true;
                return Ok(SourceEvent::Finished);
            }
            let table = self.shared.table.clone();
            let mut to_close: Vec<usize> = Vec::new();
            let mut found = None;
            let mut discover = false;
            match wait(&self.io, self.lookup.as_mut(), self.next_discovery).await {
                Woke::Lookup(result) => {
                    found = Some(result.map_err(|e| {
                        EngineError::Internal(format!("the Kafka lookup thread ended: {e}"))
                    })??);
                }
                Woke::Discovery => discover = true,
                Woke::Record(queue, result) => {
                    let (woken, first) = match (queue, result) {
                        (MAIN_QUEUE, Ok(record)) => {
                            // Not expected (every partition has its queue): taken all the same.
                            let tp = (record.topic(), record.partition());
                            match self
                                .splits
                                .iter()
                                .position(|s| (s.tp.topic.as_str(), s.tp.partition) == tp)
                            {
                                Some(i) => (i, Some(record)),
                                None => continue,
                            }
                        }
                        (
                            MAIN_QUEUE,
                            Err(
                                KafkaError::MessageConsumptionFatal(code)
                                | KafkaError::MessageConsumption(
                                    code @ RDKafkaErrorCode::AutoOffsetReset,
                                ),
                            ),
                        ) => {
                            return Err(EngineError::Config(format!(
                                "table '{table}': the Kafka consumer failed: {code}"
                            )))
                        }
                        (MAIN_QUEUE, Err(e)) => {
                            // Transient (brokers restarting): librdkafka reconnects.
                            tracing::warn!("table '{table}': {e}");
                            continue;
                        }
                        (i, Ok(record)) => (i, Some(record)),
                        (i, Err(e)) => {
                            if on_queue_error(&self.splits[i], e, &table)? {
                                finish(&mut self.splits, &mut self.pending, i);
                                to_close.push(i);
                            }
                            (i, None)
                        }
                    };
                    // The woken queue first, then every other ready queue in turn.
                    let count = self.io.queues.len();
                    let start = self.rotation % count.max(1);
                    self.rotation = self.rotation.wrapping_add(1);
                    let others = (0..count)
                        .map(|k| (start + k) % count)
                        .filter(|&k| k != woken);
                    let mut first = first;
                    for i in std::iter::once(woken).chain(others) {
                        let Some(queue) = self.io.queues[i].as_ref() else {
                            continue;
                        };
                        if self.splits[i].state != State::Reading {
                            continue;
                        }
                        let record = if i == woken { first.take() } else { None };
                        if take_run(
                            &mut self.splits,
                            &mut self.decoder,
                            &mut self.pending,
                            queue,
                            i,
                            record,
                            &table,
                        )? {
                            to_close.push(i);
                        }
                    }
                }
            }
            if let Some(found) = found {
                self.lookup = None;
                self.apply(found)?;
            }
            if discover {
                self.next_discovery = self.shared.options.discovery.map(|d| Instant::now() + d);
                self.spawn_discovery();
            }
            self.close(&to_close)?;
        }
    }

    fn is_rewindable(&self) -> bool {
        true
    }

    fn snapshot_position(&mut self) -> EngineResult<StateSnapshot> {
        // Dead letters are durable before the checkpoint moves past their records.
        self.decoder.flush()?;
        let positions: Vec<(&TopicPartition, Position)> = self
            .splits
            .iter()
            .map(|s| {
                (
                    &s.tp,
                    Position {
                        offset: s.position,
                        stop: s.stop.or(match s.request.stop {
                            Stop::Known(stop) => stop,
                            Stop::Bounded => None,
                        }),
                    },
                )
            })
            .collect();
        self.to_commit = self
            .splits
            .iter()
            .filter_map(|s| s.position.map(|p| (s.tp.clone(), p)))
            .collect();
        position::snapshot(&positions)
    }

    fn restore_position(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let saved = position::restore(snapshot)?;
        let bounded = self.shared.options.is_bounded();
        for split in &mut self.splits {
            split.request = match saved.get(&split.tp) {
                Some(p) => restored_request(&split.tp, p, bounded),
                // New since the checkpoint: from the earliest offset, as in Flink.
                None => Request {
                    tp: split.tp.clone(),
                    start: Start::Earliest,
                    stop: if bounded {
                        Stop::Bounded
                    } else {
                        Stop::Known(None)
                    },
                },
            };
        }
        let mut gone: Vec<String> = saved
            .keys()
            .filter(|tp| !self.shared.selector.matches(&tp.topic))
            .map(TopicPartition::split_id)
            .collect();
        if !gone.is_empty() && self.subtask == 0 {
            gone.sort();
            tracing::warn!(
                "table '{}': the checkpoint holds positions of partitions of topics the table \
                 no longer reads ({}); they are dropped",
                self.shared.table,
                gone.join(", ")
            );
        }
        self.restored = Arc::new(saved);
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> EngineResult<()> {
        let options = &self.shared.options;
        if !options.commit_on_checkpoint || options.group_id.is_none() || self.to_commit.is_empty()
        {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (tp, offset) in self.to_commit.drain(..) {
            if let Err(e) =
                offsets.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(offset))
            {
                tracing::warn!("table '{}': cannot commit offsets: {e}", self.shared.table);
                return Ok(());
            }
        }
        // Asynchronous while reading; once the source ended the consumer may be dropped
        // soon after, so the final commit waits for the broker's answer.
        let mode = if self.ended {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        if let Err(e) = self.io.consumer.commit(&offsets, mode) {
            // The checkpoint holds the positions; the group's offsets are for monitoring
            // and for 'group-offsets' starts, so a failed commit does not fail the job.
            tracing::warn!(
                "table '{}': cannot commit offsets to consumer group '{}': {e}",
                self.shared.table,
                options.group_id.as_deref().unwrap_or_default()
            );
        }
        Ok(())
    }
}

impl KafkaReader {
    /// Stops reading finished partitions: unassigns them and drops their queues.
    fn close(&mut self, finished: &[usize]) -> EngineResult<()> {
        if finished.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for &i in finished {
            self.io.queues[i] = None;
            list.add_partition(&self.splits[i].tp.topic, self.splits[i].tp.partition);
        }
        self.io
            .consumer
            .incremental_unassign(&list)
            .map_err(|e| self.kafka_error("cannot unassign finished partitions", &e))
    }
}

impl super::SourceShared {
    /// What offset resolution needs.
    pub(crate) fn modes(&self) -> Modes<'_> {
        Modes {
            startup: &self.options.startup,
            reset: self.options.reset,
            bounded: &self.options.bounded,
            group_id: self.options.group_id.as_deref(),
            table: &self.table,
        }
    }
}
