//! One partition a reader reads (a split): where it stands (its position after the events
//! returned, the offsets it resolved, whether it finished), and how the records its
//! queue holds become events: decoded in runs of up to [`RUN_RECORDS`] records into one
//! batch each, cut at the stop offset of a bounded read, and ended at the partition's end
//! when that is the stop.

use std::collections::VecDeque;

use futures::{FutureExt, StreamExt};
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use weir_runtime::SourceEvent;
use weir_types::{EngineError, EngineResult};

use super::assignment::TopicPartition;
use super::context::SourceContext;
use super::decode::RunDecoder;
use super::offsets::{Request, Start, Stop};
use super::position::Position;

/// The most records of one partition decoded into one batch.
pub(crate) const RUN_RECORDS: usize = 8192;

/// A partition's own queue of records.
pub(crate) type Queue = StreamPartitionQueue<SourceContext>;

/// What a partition's reading is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Its offsets are being resolved.
    Resolving,
    /// Assigned, records arriving.
    Reading,
    /// Reached its stop offset (a bounded source).
    Finished,
}

/// One partition of the subtask.
pub(crate) struct Split {
    /// The partition.
    pub tp: TopicPartition,
    /// Its stable name, `topic-partition`.
    pub id: String,
    /// How to find its offsets (before they are resolved).
    pub request: Request,
    /// What its reading is at.
    pub state: State,
    /// The next offset after the events `next` returned; `None` until resolved.
    pub position: Option<i64>,
    /// The offset after the last record taken from the queue (returned or pending).
    pub fetched: i64,
    /// The offset a bounded read stops before.
    pub stop: Option<i64>,
    /// Whether reaching the partition's end means reaching `stop`.
    pub stop_within_end: bool,
}

/// An event read but not returned yet, with its split's position after it.
pub(crate) struct Pending {
    /// The event.
    pub event: SourceEvent,
    /// Its split.
    pub split: usize,
    /// The split's position once the event is returned.
    pub position: i64,
}

/// The request of a partition the restored checkpoint holds: its position wins over the
/// startup mode (unless the checkpoint was taken before it was known), its stop offset
/// over the bounded mode.
pub(crate) fn restored_request(tp: &TopicPartition, saved: &Position, bounded: bool) -> Request {
    Request {
        tp: tp.clone(),
        start: saved.offset.map_or(Start::Startup, Start::At),
        stop: match (saved.stop, bounded) {
            (Some(stop), _) => Stop::Known(Some(stop)),
            (None, true) => Stop::Bounded,
            (None, false) => Stop::Known(None),
        },
    }
}

/// A split not resolved yet.
pub(crate) fn new_split(tp: TopicPartition, start: Start, bounded: bool) -> Split {
    Split {
        id: tp.split_id(),
        request: Request {
            tp: tp.clone(),
            start,
            stop: if bounded {
                Stop::Bounded
            } else {
                Stop::Known(None)
            },
        },
        tp,
        state: State::Resolving,
        position: None,
        fetched: 0,
        stop: None,
        stop_within_end: false,
    }
}

/// Takes the records of split `i` (`first`, then what its queue holds ready), decodes
/// them and queues the events; returns whether the split reached its stop.
pub(crate) fn take_run(
    splits: &mut [Split],
    decoder: &mut RunDecoder,
    pending: &mut VecDeque<Pending>,
    queue: &Queue,
    i: usize,
    first: Option<BorrowedMessage<'_>>,
    table: &str,
) -> EngineResult<bool> {
    let mut run: Vec<BorrowedMessage<'_>> = Vec::new();
    run.extend(first);
    let mut trailing: Option<KafkaError> = None;
    {
        let mut stream = queue.stream();
        while run.len() < RUN_RECORDS {
            match stream.next().now_or_never() {
                Some(Some(Ok(record))) => run.push(record),
                Some(Some(Err(e))) => {
                    trailing = Some(e);
                    break;
                }
                _ => break,
            }
        }
    }
    let split = &mut splits[i];
    // At the stop offset, reading ends.
    let stop = split.stop.unwrap_or(i64::MAX);
    let to = run
        .iter()
        .position(|r| r.offset() >= stop)
        .unwrap_or(run.len());
    let mut finished = to < run.len();
    if to > 0 {
        let records = &run[..to];
        let end = records[records.len() - 1].offset() + 1;
        split.fetched = end;
        if let Some(batch) = decoder.decode(records)? {
            pending.push_back(Pending {
                event: SourceEvent::Batch { split: i, batch },
                split: i,
                position: end,
            });
        } else if let Some(last) = pending.iter_mut().rev().find(|p| p.split == i) {
            // No rows (tombstones, skipped records): the position still moves on.
            last.position = last.position.max(end);
        } else {
            split.position = Some(end);
        }
        finished |= end >= stop;
    }
    if let Some(e) = trailing {
        finished |= on_queue_error(split, e, table)?;
    }
    if finished {
        finish(splits, pending, i);
    }
    Ok(finished)
}

/// Split `i` reached its stop: it ends after the events queued for it.
pub(crate) fn finish(splits: &mut [Split], pending: &mut VecDeque<Pending>, i: usize) {
    let split = &mut splits[i];
    if split.state != State::Reading {
        return;
    }
    let stop = split.stop.unwrap_or(split.fetched);
    split.state = State::Finished;
    split.fetched = split.fetched.max(stop);
    pending.push_back(Pending {
        event: SourceEvent::SplitFinished(i),
        split: i,
        position: stop,
    });
}

/// An error on a partition's queue; returns whether the partition reached its stop (its
/// end, with the stop within it).
pub(crate) fn on_queue_error(split: &Split, error: KafkaError, table: &str) -> EngineResult<bool> {
    match error {
        KafkaError::PartitionEOF(_) => Ok(split.stop_within_end),
        KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset)
        | KafkaError::MessageConsumption(RDKafkaErrorCode::OffsetOutOfRange) => {
            Err(EngineError::Config(format!(
                "table '{table}': offset {} of topic '{}' partition {} is out of range (the \
                 records were deleted by retention, or the topic was recreated) and \
                 'properties.auto.offset.reset' is 'none'; set it to 'earliest' or 'latest'",
                split.fetched, split.tp.topic, split.tp.partition
            )))
        }
        KafkaError::MessageConsumptionFatal(code) => Err(EngineError::Config(format!(
            "table '{table}': reading topic '{}' partition {} failed: {code}",
            split.tp.topic, split.tp.partition
        ))),
        other => {
            // Transient (a broker restarting): librdkafka reconnects and fetches on.
            tracing::warn!(
                "table '{table}': topic '{}' partition {}: {other}",
                split.tp.topic,
                split.tp.partition
            );
            Ok(false)
        }
    }
}
