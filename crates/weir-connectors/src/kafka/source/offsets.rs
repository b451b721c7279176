//! Resolving where partitions start and stop, as Flink's offsets initializers do: the
//! earliest or latest offsets, the offsets of a timestamp, the group's committed offsets
//! or listed ones. Blocking requests to the brokers (ListOffsets, OffsetFetch), a few per
//! call whatever the number of partitions; the reader runs them off its task.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::Consumer;

use super::context::SourceContext;
use rdkafka::{Offset, TopicPartitionList};
use weir_types::{EngineError, EngineResult};

use super::assignment::TopicPartition;
use super::options::{BoundedMode, OffsetReset, StartupMode};

/// Where a partition starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    /// A known offset (restored from a checkpoint).
    At(i64),
    /// By the startup mode.
    Startup,
    /// The earliest offset (a partition discovered while running, or new since the
    /// restored checkpoint, as in Flink).
    Earliest,
}

/// Where a partition stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Never (unbounded), or a known offset (restored from a checkpoint).
    Known(Option<i64>),
    /// By the bounded mode.
    Bounded,
}

/// A partition whose offsets are to be resolved.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The partition.
    pub tp: TopicPartition,
    /// Where it starts.
    pub start: Start,
    /// Where it stops.
    pub stop: Stop,
}

/// A partition's resolved offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The first offset to read.
    pub start: i64,
    /// The offset to stop before (bounded sources).
    pub stop: Option<i64>,
    /// Whether the stop offset was at or below the partition's end when resolved: reaching
    /// the end then means reaching the stop, even when the last offsets before it hold no
    /// record for the reader (transaction markers).
    pub stop_within_end: bool,
}

/// What the resolution needs to know of the source.
pub(crate) struct Modes<'a> {
    /// `scan.startup.mode`.
    pub startup: &'a StartupMode,
    /// `properties.auto.offset.reset`.
    pub reset: OffsetReset,
    /// `scan.bounded.mode`.
    pub bounded: &'a BoundedMode,
    /// `properties.group.id`.
    pub group_id: Option<&'a str>,
    /// Table name, for messages.
    pub table: &'a str,
}

/// The offsets of `requests`, in order.
pub(crate) fn resolve<C: Consumer<SourceContext>>(
    consumer: &C,
    modes: &Modes<'_>,
    requests: &[Request],
    timeout: Duration,
) -> EngineResult<Vec<Resolved>> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let all: Vec<&TopicPartition> = requests.iter().map(|r| &r.tp).collect();
    let lookup = Lookup {
        consumer,
        timeout,
        table: modes.table,
    };
    let earliest = lookup.list_offsets(&all, Offset::Beginning, "earliest offsets")?;
    let latest = lookup.list_offsets(&all, Offset::End, "latest offsets")?;
    let needs_group = requests.iter().any(|r| {
        (r.start == Start::Startup
            && matches!(
                modes.startup,
                StartupMode::GroupOffsets | StartupMode::Specific(_)
            ))
            || (r.stop == Stop::Bounded
                && matches!(
                    modes.bounded,
                    BoundedMode::GroupOffsets | BoundedMode::Specific(_)
                ))
    });
    let committed = match modes.group_id {
        Some(_) if needs_group => lookup.committed(&all)?,
        _ => HashMap::new(),
    };
    let mut by_time: HashMap<i64, HashMap<TopicPartition, i64>> = HashMap::new();
    for ts in [startup_time(modes.startup), bounded_time(modes.bounded)]
        .into_iter()
        .flatten()
    {
        if let std::collections::hash_map::Entry::Vacant(e) = by_time.entry(ts) {
            e.insert(lookup.list_offsets(&all, Offset::Offset(ts), "offsets of a timestamp")?);
        }
    }
    let known = Known {
        earliest,
        latest,
        committed,
        by_time,
    };
    requests
        .iter()
        .map(|r| {
            let start = match r.start {
                Start::At(offset) => offset,
                Start::Earliest => known.get(&known.earliest, &r.tp)?,
                Start::Startup => known.start(modes, &r.tp)?,
            };
            let stop = match r.stop {
                Stop::Known(stop) => stop,
                Stop::Bounded => known.stop(modes, &r.tp)?,
            };
            let end = known.get(&known.latest, &r.tp)?;
            Ok(Resolved {
                start,
                stop,
                stop_within_end: stop.is_some_and(|s| s <= end),
            })
        })
        .collect()
}

fn startup_time(mode: &StartupMode) -> Option<i64> {
    match mode {
        StartupMode::Timestamp(ts) => Some(*ts),
        _ => None,
    }
}

fn bounded_time(mode: &BoundedMode) -> Option<i64> {
    match mode {
        BoundedMode::Timestamp(ts) => Some(*ts),
        _ => None,
    }
}

/// Blocking offset requests.
struct Lookup<'a, C> {
    consumer: &'a C,
    timeout: Duration,
    table: &'a str,
}

impl<C: Consumer<SourceContext>> Lookup<'_, C> {
    /// ListOffsets of `partitions` for `query` (earliest, latest, or a timestamp: the
    /// first offset at or after it, `None`-like `-1` mapped to absent).
    fn list_offsets(
        &self,
        partitions: &[&TopicPartition],
        query: Offset,
        what: &str,
    ) -> EngineResult<HashMap<TopicPartition, i64>> {
        let mut list = TopicPartitionList::new();
        for tp in partitions {
            list.add_partition_offset(&tp.topic, tp.partition, query)
                .map_err(|e| self.failed(what, &e.to_string()))?;
        }
        let answer = self
            .consumer
            .offsets_for_times(list, self.timeout)
            .map_err(|e| self.failed(what, &e.to_string()))?;
        self.offsets(&answer, what)
    }

    /// The offsets the consumer group committed for `partitions` (absent: none).
    fn committed(
        &self,
        partitions: &[&TopicPartition],
    ) -> EngineResult<HashMap<TopicPartition, i64>> {
        let mut list = TopicPartitionList::new();
        for tp in partitions {
            list.add_partition(&tp.topic, tp.partition);
        }
        let what = "the consumer group's committed offsets";
        let answer = self
            .consumer
            .committed_offsets(list, self.timeout)
            .map_err(|e| self.failed(what, &e.to_string()))?;
        self.offsets(&answer, what)
    }

    /// The concrete offsets of an answer.
    fn offsets(
        &self,
        answer: &TopicPartitionList,
        what: &str,
    ) -> EngineResult<HashMap<TopicPartition, i64>> {
        let mut offsets = HashMap::new();
        for e in answer.elements() {
            if let Err(error) = e.error() {
                return Err(self.failed(
                    what,
                    &format!("topic '{}' partition {}: {error}", e.topic(), e.partition()),
                ));
            }
            if let Offset::Offset(offset) = e.offset() {
                offsets.insert(
                    TopicPartition {
                        topic: e.topic().to_string(),
                        partition: e.partition(),
                    },
                    offset,
                );
            }
        }
        Ok(offsets)
    }

    fn failed(&self, what: &str, error: &str) -> EngineError {
        EngineError::Config(format!(
            "table '{}': cannot read {what} from the Kafka brokers within {:?} \
             ('properties.default.api.timeout.ms'): {error}",
            self.table, self.timeout
        ))
    }
}

/// The offsets the brokers answered.
struct Known {
    earliest: HashMap<TopicPartition, i64>,
    latest: HashMap<TopicPartition, i64>,
    committed: HashMap<TopicPartition, i64>,
    by_time: HashMap<i64, HashMap<TopicPartition, i64>>,
}

impl Known {
    fn get(
        &self,
        offsets: &HashMap<TopicPartition, i64>,
        tp: &TopicPartition,
    ) -> EngineResult<i64> {
        offsets.get(tp).copied().ok_or_else(|| {
            EngineError::Config(format!(
                "the Kafka brokers gave no offset for topic '{}' partition {}",
                tp.topic, tp.partition
            ))
        })
    }

    /// The first offset at or after `ts`, else the end (no record that late yet).
    fn at_time(&self, ts: i64, tp: &TopicPartition) -> EngineResult<i64> {
        match self.by_time.get(&ts).and_then(|m| m.get(tp)) {
            Some(&offset) => Ok(offset),
            None => self.get(&self.latest, tp),
        }
    }

    /// The committed offset, else the listed one, else the earliest (Flink's specified
    /// offsets initializer).
    fn committed_or_earliest(&self, tp: &TopicPartition) -> EngineResult<i64> {
        match self.committed.get(tp) {
            Some(&offset) => Ok(offset),
            None => self.get(&self.earliest, tp),
        }
    }

    fn start(&self, modes: &Modes<'_>, tp: &TopicPartition) -> EngineResult<i64> {
        match modes.startup {
            StartupMode::Earliest => self.get(&self.earliest, tp),
            StartupMode::Latest => self.get(&self.latest, tp),
            StartupMode::Timestamp(ts) => self.at_time(*ts, tp),
            StartupMode::Specific(offsets) => match offsets.get(&tp.partition) {
                Some(&offset) => Ok(offset),
                None => self.committed_or_earliest(tp),
            },
            StartupMode::GroupOffsets => match (self.committed.get(tp), modes.reset) {
                (Some(&offset), _) => Ok(offset),
                (None, OffsetReset::Earliest) => self.get(&self.earliest, tp),
                (None, OffsetReset::Latest) => self.get(&self.latest, tp),
                (None, OffsetReset::None) => Err(EngineError::Config(format!(
                    "table '{}': consumer group '{}' has no committed offset for topic '{}' \
                     partition {} ('scan.startup.mode' = 'group-offsets'); set \
                     'properties.auto.offset.reset' to 'earliest' or 'latest' to start there \
                     when the group has none, or choose another 'scan.startup.mode'",
                    modes.table,
                    modes.group_id.unwrap_or_default(),
                    tp.topic,
                    tp.partition
                ))),
            },
        }
    }

    fn stop(&self, modes: &Modes<'_>, tp: &TopicPartition) -> EngineResult<Option<i64>> {
        match modes.bounded {
            BoundedMode::Unbounded => Ok(None),
            BoundedMode::Latest => self.get(&self.latest, tp).map(Some),
            BoundedMode::Timestamp(ts) => self.at_time(*ts, tp).map(Some),
            BoundedMode::Specific(offsets) => match offsets.get(&tp.partition) {
                Some(&offset) => Ok(Some(offset)),
                None => self.committed_or_earliest(tp).map(Some),
            },
            BoundedMode::GroupOffsets => match self.committed.get(tp) {
                Some(&offset) => Ok(Some(offset)),
                None => Err(EngineError::Config(format!(
                    "table '{}': consumer group '{}' has no committed offset for topic '{}' \
                     partition {} to stop at ('scan.bounded.mode' = 'group-offsets'); commit \
                     offsets for the group first, or choose another 'scan.bounded.mode'",
                    modes.table,
                    modes.group_id.unwrap_or_default(),
                    tp.topic,
                    tp.partition
                ))),
            },
        }
    }
}
