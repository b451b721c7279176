//! Which partitions a source reads and which subtask reads each: the topics' partitions
//! from broker metadata (names, or a pattern matched against whole topic names), dealt
//! to subtasks as Flink's `KafkaSourceEnumerator` deals them.
//!
//! Partition `p` of topic `t` goes to subtask `(start(t) + p) % parallelism`, where
//! `start(t) = ((hash(t) * 31) & 0x7FFFFFFF) % parallelism` and `hash` is Java's
//! `String.hashCode`: the same subtask as in Flink, stable across runs, and a topic's
//! partitions spread round-robin from a topic-dependent start, so that several topics
//! with few partitions do not all land on subtask 0.

use std::time::Duration;

use rdkafka::consumer::Consumer;

use super::context::SourceContext;
use rdkafka::types::RDKafkaRespErr;
use regex::Regex;
use weir_types::{EngineError, EngineResult};

use crate::kafka::config::Topics;

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic-partition`, the split's stable name (as Flink's `KafkaPartitionSplit` id).
    pub(crate) fn split_id(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
pub(crate) fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The subtask (of `parallelism`) that reads `partition` of `topic`.
pub(crate) fn owner(topic: &str, partition: i32, parallelism: usize) -> usize {
    let readers = parallelism.max(1) as i64;
    let start = i64::from(java_string_hash(topic).wrapping_mul(31) & 0x7FFF_FFFF) % readers;
    ((start + i64::from(partition)) % readers) as usize
}

/// The topics a source reads: names, or a pattern.
#[derive(Debug, Clone)]
pub(crate) enum TopicSelector {
    /// `topic`: these topics, which must exist.
    Names(Vec<String>),
    /// `topic-pattern`: every topic whose whole name matches (internal topics, whose
    /// names start with `__`, excepted, as the Java admin client lists none).
    Pattern(Regex),
}

impl TopicSelector {
    /// The selector of the `topic` / `topic-pattern` options; `None` with the reason when
    /// the pattern is not a valid regular expression.
    pub(crate) fn new(topics: &Topics) -> Result<TopicSelector, String> {
        match topics {
            Topics::Names(names) => Ok(TopicSelector::Names(names.clone())),
            Topics::Pattern(pattern) => Regex::new(&format!("^(?:{pattern})$"))
                .map(TopicSelector::Pattern)
                .map_err(|e| e.to_string()),
        }
    }

    /// Whether the source reads `topic`.
    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            TopicSelector::Names(names) => names.iter().any(|n| n == topic),
            TopicSelector::Pattern(re) => !topic.starts_with("__") && re.is_match(topic),
        }
    }
}

/// Every partition of the selected topics, in (topic, partition) order. Fails, saying
/// what to check, when the brokers do not answer within `timeout` or a named topic does
/// not exist.
pub(crate) fn list_partitions<C: Consumer<SourceContext>>(
    consumer: &C,
    selector: &TopicSelector,
    timeout: Duration,
    table: &str,
    servers: &str,
) -> EngineResult<Vec<TopicPartition>> {
    let unreachable = |e: rdkafka::error::KafkaError| {
        EngineError::Config(format!(
            "table '{table}': cannot read topic metadata from the Kafka brokers at '{servers}' \
             ('properties.bootstrap.servers') within {timeout:?}: {e}; check that the brokers \
             run and are reachable at that address, and the connection properties \
             ('properties.security.protocol', SASL/SSL settings)"
        ))
    };
    let mut found = Vec::new();
    match selector {
        TopicSelector::Names(names) => {
            for name in names {
                let metadata = consumer
                    .fetch_metadata(Some(name), timeout)
                    .map_err(unreachable)?;
                for topic in metadata.topics() {
                    if topic.partitions().is_empty() {
                        let reason = match topic.error() {
                            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                            | None => "it does not exist".to_string(),
                            Some(other) => format!("the brokers answer {other:?}"),
                        };
                        return Err(EngineError::Config(format!(
                            "table '{table}': cannot read topic '{name}' on the Kafka cluster at \
                             '{servers}': {reason}; create the topic, or fix 'topic'"
                        )));
                    }
                    found.extend(topic.partitions().iter().map(|p| TopicPartition {
                        topic: topic.name().to_string(),
                        partition: p.id(),
                    }));
                }
            }
        }
        TopicSelector::Pattern(_) => {
            let metadata = consumer
                .fetch_metadata(None, timeout)
                .map_err(unreachable)?;
            for topic in metadata.topics() {
                if selector.matches(topic.name()) {
                    found.extend(topic.partitions().iter().map(|p| TopicPartition {
                        topic: topic.name().to_string(),
                        partition: p.id(),
                    }));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}
