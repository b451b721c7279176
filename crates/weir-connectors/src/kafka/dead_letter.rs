//! The Kafka dead-letter target (`weir.dirty-data.dead-letter.topic`): a Kafka source's
//! malformed records, each as the dead-letter JSON object
//! ([`DeadLetterRecord::to_json_line`]), produced to a topic of the table's own cluster
//! (its `properties.*`) with the original message's key as key.
//!
//! ```sql
//! CREATE TABLE orders (...) WITH (
//!   'connector' = 'kafka', 'topic' = 'orders', 'format' = 'json',
//!   'properties.bootstrap.servers' = 'broker:9092',
//!   'weir.dirty-data.strategy' = 'dead-letter',
//!   'weir.dirty-data.dead-letter.topic' = 'orders-dead-letter');
//! ```
//!
//! Each source subtask opens its own producer at its first bad record, after checking
//! that the topic exists (it is never created). Records are sent without waiting;
//! [`DeadLetterWriter::flush`], which the source calls after every batch with bad
//! records and before it snapshots its position for a checkpoint, waits until the broker
//! acknowledged every record (`acks=all` unless `properties.acks` says otherwise) and
//! fails the job if one could not be delivered, so a completed checkpoint never lies past
//! a lost dead letter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};
use weir_types::{EngineError, EngineResult};

use super::config::KafkaConfig;
use crate::dirty::{
    DeadLetterRecord, DeadLetterTarget, DeadLetterWriter, DEAD_LETTER_TOPIC_OPTION,
};

/// Properties of a table's consumer that a producer does not take (librdkafka would warn
/// about each), and those only Flink's source reads.
const CONSUMER_ONLY: [&str; 20] = [
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "isolation.level",
    "enable.partition.eof",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "commit.offsets.on.checkpoint",
    "client.id.prefix",
    "partition.discovery.interval.ms",
    "register.consumer.metrics",
    "key.deserializer",
    "value.deserializer",
];

/// A dead-letter topic of a Kafka table's cluster.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetterTopic {
    topic: String,
    /// The producer's configuration: the table's properties, without the consumer's.
    config: ClientConfig,
    /// How long metadata requests and a flush may take.
    timeout: Duration,
}

impl DeadLetterTopic {
    /// The topic `topic` of the cluster `config` connects to; requests wait up to
    /// `timeout`.
    pub(crate) fn new(config: &KafkaConfig, topic: &str, timeout: Duration) -> DeadLetterTopic {
        let mut client = ClientConfig::new();
        for (key, value) in &config.properties {
            if !CONSUMER_ONLY.contains(&key.as_str()) && !key.starts_with("fetch.") {
                client.set(key, value);
            }
        }
        client.set_log_level(RDKafkaLogLevel::Warning);
        DeadLetterTopic {
            topic: topic.to_string(),
            config: client,
            timeout,
        }
    }

    /// Fails unless the topic exists (a topic is never created here).
    fn check_topic(
        &self,
        table: &str,
        producer: &ThreadedProducer<Deliveries>,
    ) -> EngineResult<()> {
        let metadata = producer
            .client()
            .fetch_metadata(Some(&self.topic), self.timeout)
            .map_err(|e| {
                EngineError::Config(format!(
                    "table '{table}': cannot read the metadata of the dead-letter topic '{}': \
                     {e}; check 'properties.bootstrap.servers'",
                    self.topic
                ))
            })?;
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic)
            .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty());
        if !found {
            return Err(EngineError::Config(format!(
                "table '{table}': the dead-letter topic '{}' ('{DEAD_LETTER_TOPIC_OPTION}') does \
                 not exist; create it (Weir does not create topics)",
                self.topic
            )));
        }
        Ok(())
    }
}

impl DeadLetterTarget for DeadLetterTopic {
    fn describe(&self) -> String {
        format!("topic '{}'", self.topic)
    }

    fn open(&self, table: &str, subtask: usize) -> EngineResult<Box<dyn DeadLetterWriter>> {
        let mut config = self.config.clone();
        if config.get("client.id").is_none() {
            config.set("client.id", format!("weir-{table}-dead-letter-{subtask}"));
        }
        let deliveries = Deliveries::default();
        let failure = deliveries.failure.clone();
        let producer: ThreadedProducer<Deliveries> =
            config.create_with_context(deliveries).map_err(|e| {
                EngineError::Config(format!(
                    "table '{table}': cannot create the producer of the dead-letter topic '{}': \
                     {e}; check the table's 'properties.*' options",
                    self.topic
                ))
            })?;
        self.check_topic(table, &producer)?;
        Ok(Box::new(TopicWriter {
            producer,
            failure,
            topic: self.topic.clone(),
            table: table.to_string(),
            timeout: self.timeout,
            unflushed: false,
        }))
    }
}

/// The producer's context: remembers the first failed delivery.
#[derive(Default)]
struct Deliveries {
    failure: Arc<Mutex<Option<String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            if let Ok(mut first) = self.failure.lock() {
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// One source subtask's producer to the dead-letter topic.
struct TopicWriter {
    producer: ThreadedProducer<Deliveries>,
    failure: Arc<Mutex<Option<String>>>,
    topic: String,
    table: String,
    timeout: Duration,
    /// Records were sent since the last flush.
    unflushed: bool,
}

impl TopicWriter {
    /// Fails if a delivery failed.
    fn check(&self) -> EngineResult<()> {
        let failure = self.failure.lock().ok().and_then(|f| f.clone());
        match failure {
            None => Ok(()),
            Some(error) => Err(self.error(&error)),
        }
    }

    fn error(&self, reason: &str) -> EngineError {
        EngineError::Config(format!(
            "table '{}': cannot write a malformed record to the dead-letter topic '{}': \
             {reason}; check that the topic exists and that the table's 'properties.*' may \
             write to it, or dead-letter to a folder with 'weir.dirty-data.dead-letter.path'",
            self.table, self.topic
        ))
    }
}

impl DeadLetterWriter for TopicWriter {
    fn write(&mut self, record: &DeadLetterRecord<'_>) -> EngineResult<()> {
        self.check()?;
        let value = record.to_json_line();
        let mut base: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&self.topic).payload(value.as_bytes());
        if let Some(key) = record.key {
            base = base.key(key);
        }
        let mut pause = Duration::from_micros(200);
        loop {
            match self.producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The producer's thread serves deliveries meanwhile.
                    self.check()?;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                    base = back;
                }
                Err((e, _)) => return Err(self.error(&e.to_string())),
            }
        }
        self.unflushed = true;
        Ok(())
    }

    fn flush(&mut self) -> EngineResult<()> {
        if !self.unflushed {
            return self.check();
        }
        self.producer.flush(self.timeout).map_err(|e| {
            self.error(&format!(
                "not every record was acknowledged within {:?} ({e})",
                self.timeout
            ))
        })?;
        self.check()?;
        self.unflushed = false;
        Ok(())
    }
}
