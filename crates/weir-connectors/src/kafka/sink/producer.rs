//! The sinks' librdkafka producers: their configuration, the delivery reports they
//! collect, sending a batch of encoded records, waiting until every record is
//! acknowledged, looking up the topic, and the errors, each naming the table, the topic,
//! the brokers and what to check.
//!
//! Producers are `ThreadedProducer`s: a librdkafka thread serves the delivery reports as
//! they arrive, so a sink never polls; waiting for deliveries watches the count of
//! records in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::{Client, ClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientConfig;
use weir_types::{EngineError, EngineResult};

use super::encode::Encoded;
use super::options::SinkOptions;
use super::partitioner::{PartitionAssigner, JAVA_COMPATIBLE_PARTITIONER};
use crate::kafka::logging::log_librdkafka;

/// The Java producer's default `delivery.timeout.ms` (librdkafka's is 5 minutes).
pub(crate) const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// A sink's producer.
pub(crate) type SinkProducer = ThreadedProducer<SinkContext>;

/// What error messages name: the table, the topic and the brokers.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Table name.
    pub table: String,
    /// The topic written.
    pub topic: String,
    /// `properties.bootstrap.servers`.
    pub bootstrap: String,
    /// How long librdkafka tries to deliver a record (`delivery.timeout.ms`).
    pub delivery_timeout: Duration,
}

impl Target {
    /// The target of a sink's options; `transactional` producers' records time out with
    /// their transaction.
    pub(crate) fn of(options: &SinkOptions, transactional: bool) -> Target {
        let configured = ["delivery.timeout.ms", "message.timeout.ms"]
            .iter()
            .find_map(|k| options.kafka.properties.get(*k))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis);
        let delivery_timeout = match (configured, transactional) {
            (Some(d), _) => d,
            (None, true) => options.transaction_timeout,
            (None, false) => DEFAULT_DELIVERY_TIMEOUT,
        };
        Target {
            table: options.table.clone(),
            topic: options.topic.clone(),
            bootstrap: options.bootstrap().to_string(),
            delivery_timeout,
        }
    }

    fn prefix(&self) -> String {
        format!("table '{}', topic '{}'", self.table, self.topic)
    }
}

/// A record librdkafka could not deliver.
#[derive(Debug, Clone)]
struct Failure {
    code: Option<RDKafkaErrorCode>,
    error: String,
    partition: i32,
    bytes: usize,
}

/// What a producer's delivery reports and error events said.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    failed: AtomicU64,
    first_failure: Mutex<Option<Failure>>,
    last_broker_error: Mutex<Option<String>>,
    /// The producer epoch of the last InitProducerId answer (with `debug` = `eos`).
    epoch: Mutex<Option<i16>>,
}

impl Deliveries {
    /// The producer epoch librdkafka logged when it acquired its producer id, if it did.
    pub(crate) fn epoch(&self) -> Option<i16> {
        self.epoch.lock().ok().and_then(|e| *e)
    }

    fn last_broker_error(&self) -> Option<String> {
        self.last_broker_error.lock().ok().and_then(|e| e.clone())
    }
}

/// The client context of sink producers: collects failed deliveries and broker errors.
pub(crate) struct SinkContext {
    deliveries: Arc<Deliveries>,
    table: String,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if fac == "GETPID" {
            if let Some(epoch) = acquired_epoch(message) {
                if let Ok(mut e) = self.deliveries.epoch.lock() {
                    *e = Some(epoch);
                }
            }
        }
        log_librdkafka(&self.table, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(table = %self.table, "Kafka producer: {error}: {reason}");
        if let Ok(mut last) = self.deliveries.last_broker_error.lock() {
            *last = Some(reason.to_string());
        }
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            self.deliveries.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.deliveries.first_failure.lock() {
                first.get_or_insert_with(|| Failure {
                    code: error.rdkafka_error_code(),
                    error: error.to_string(),
                    partition: message.partition(),
                    bytes: message.payload_len(),
                });
            }
        }
    }
}

/// The epoch in librdkafka's `Acquired PID{Id:1000,Epoch:0}` debug line (librdkafka
/// 2.12, `rdkafka_idempotence.c`).
pub(crate) fn acquired_epoch(message: &str) -> Option<i16> {
    let rest = message.split("Acquired PID{").nth(1)?;
    let epoch = rest.split("Epoch:").nth(1)?;
    let digits: String = epoch
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

/// The configuration of a sink's producers: the table's `properties.*`, with librdkafka's
/// `partitioner` set to the Java client's default and, for non-transactional producers,
/// the Java client's `delivery.timeout.ms` of two minutes, unless the table sets them.
pub(crate) fn base_config(options: &SinkOptions, transactional: bool) -> ClientConfig {
    let mut config = options.kafka.client_config();
    // librdkafka's warnings reach `SinkContext::log` (rdkafka would take the level from
    // the `log` crate, which Weir does not use).
    config.set_log_level(RDKafkaLogLevel::Warning);
    let props = &options.kafka.properties;
    if !props.contains_key("partitioner") {
        config.set("partitioner", JAVA_COMPATIBLE_PARTITIONER);
    }
    if transactional {
        config.set(
            "transaction.timeout.ms",
            options.transaction_timeout.as_millis().to_string(),
        );
    } else if !props.contains_key("delivery.timeout.ms")
        && !props.contains_key("message.timeout.ms")
    {
        config.set(
            "delivery.timeout.ms",
            DEFAULT_DELIVERY_TIMEOUT.as_millis().to_string(),
        );
    }
    config
}

/// Creates a producer with `config`, collecting its deliveries.
pub(crate) fn create_producer(
    config: &ClientConfig,
    target: &Target,
) -> EngineResult<(SinkProducer, Arc<Deliveries>)> {
    let deliveries = Arc::new(Deliveries::default());
    let context = SinkContext {
        deliveries: deliveries.clone(),
        table: target.table.clone(),
    };
    let producer = config.create_with_context(context).map_err(|e| {
        EngineError::Config(format!(
            "table '{}': cannot create a Kafka producer: {e}; check the table's 'properties.*' \
             options (librdkafka's names, listed in its CONFIGURATION.md)",
            target.table
        ))
    })?;
    Ok((producer, deliveries))
}

/// Sends every record of `encoded` (without waiting for acknowledgements). A full
/// producer queue is waited out; a record larger than `message.max.bytes`, or a failed
/// delivery of an earlier record, is an error.
pub(crate) fn send(
    producer: &SinkProducer,
    deliveries: &Deliveries,
    target: &Target,
    encoded: &Encoded,
    assigner: &mut PartitionAssigner,
) -> EngineResult<()> {
    check(deliveries, target)?;
    for record in encoded.records() {
        let key = encoded.key(record);
        let value = encoded.value(record);
        let mut base: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&target.topic);
        if let Some(key) = key {
            base = base.key(key);
        }
        if let Some(value) = value {
            base = base.payload(value);
        }
        if let Some(partition) = assigner.assign(key.is_some()) {
            base = base.partition(partition);
        }
        if let Some(timestamp) = record.timestamp {
            base = base.timestamp(timestamp);
        }
        if let Some(headers) = encoded.headers(record) {
            base = base.headers(headers);
        }
        let mut pause = Duration::from_micros(200);
        loop {
            match producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // librdkafka's queue is full: wait for deliveries (its thread serves them).
                    check(deliveries, target)?;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                    base = back;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {
                    let bytes = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
                    return Err(EngineError::Config(format!(
                        "{}: a record of {bytes} bytes (key and value) is larger than the \
                         producer's 'message.max.bytes'; raise 'properties.message.max.bytes' \
                         (and the topic's max.message.bytes on the brokers) or write smaller rows",
                        target.prefix()
                    )));
                }
                Err((e, _)) => {
                    return Err(EngineError::Config(format!(
                        "{}: cannot produce a record: {e}",
                        target.prefix()
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Waits until the brokers acknowledged (or librdkafka gave up on) every record sent so
/// far; an undelivered record is an error. Records waiting for `linger.ms` are sent at
/// once.
pub(crate) fn wait_for_deliveries(
    producer: &SinkProducer,
    deliveries: &Deliveries,
    target: &Target,
) -> EngineResult<()> {
    // librdkafka fails each record after `delivery.timeout.ms`; the margin covers the
    // request in flight at that moment.
    let margin = Duration::from_secs(30);
    let deadline = Instant::now() + target.delivery_timeout + margin;
    loop {
        // SAFETY: the handle is the live librdkafka client `producer` owns, borrowed for
        // the call; rd_kafka_flush may be called from any thread. (rdkafka's own `flush`
        // polls in steps of 100 ms; with the producer's thread serving delivery reports,
        // rd_kafka_flush returns as soon as the last one was handled.)
        let result =
            unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), 1000) };
        match result {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR => break,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TIMED_OUT if Instant::now() < deadline => {}
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TIMED_OUT => {
                check(deliveries, target)?;
                return Err(EngineError::Config(format!(
                    "{}: {} record(s) still unacknowledged {margin:?} after \
                     'delivery.timeout.ms'; {}",
                    target.prefix(),
                    producer.in_flight_count(),
                    reachability_hint(target, deliveries)
                )));
            }
            other => {
                return Err(EngineError::Config(format!(
                    "{}: cannot flush the producer: {}",
                    target.prefix(),
                    RDKafkaErrorCode::from(other)
                )))
            }
        }
    }
    check(deliveries, target)
}

/// Fails if a delivery failed.
pub(crate) fn check(deliveries: &Deliveries, target: &Target) -> EngineResult<()> {
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed == 0 {
        return Ok(());
    }
    let first = deliveries
        .first_failure
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .unwrap_or(Failure {
            code: None,
            error: "unknown error".into(),
            partition: -1,
            bytes: 0,
        });
    let hint = match first.code {
        Some(RDKafkaErrorCode::MessageTimedOut) => format!(
            "no broker acknowledged it within 'delivery.timeout.ms' ({} ms); {}",
            target.delivery_timeout.as_millis(),
            reachability_hint(target, deliveries)
        ),
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => format!(
            "the brokers refuse records this large: raise the topic's max.message.bytes or \
             write smaller rows (the value was {} bytes)",
            first.bytes
        ),
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition,
        ) => unknown_topic_hint(target),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => format!(
            "the client may not write topic '{}': check the 'properties.sasl.*' / \
             'properties.security.protocol' options and the topic's ACLs",
            target.topic
        ),
        _ => "see the error above".to_string(),
    };
    Err(EngineError::Config(format!(
        "{}: {failed} record(s) could not be written (first: partition {}): {}; {hint}",
        target.prefix(),
        first.partition,
        first.error
    )))
}

fn reachability_hint(target: &Target, deliveries: &Deliveries) -> String {
    let last = deliveries
        .last_broker_error()
        .map(|e| format!("last broker error: {e}; "))
        .unwrap_or_default();
    format!(
        "{last}check that the brokers at '{}' ('properties.bootstrap.servers') are running and \
         reachable from this machine and that topic '{}' exists, or raise \
         'properties.delivery.timeout.ms' to wait longer",
        target.bootstrap, target.topic
    )
}

fn unknown_topic_hint(target: &Target) -> String {
    format!(
        "topic '{}' does not exist on the brokers at '{}' and they do not create it: create \
         it (e.g. kafka-topics.sh --create --topic {} --partitions 4), or enable the \
         brokers' auto.create.topics.enable (Weir, like Flink, does not create topics)",
        target.topic, target.bootstrap, target.topic
    )
}

/// The partition ids of the target topic, looked up through `client` (a producer's
/// request may let the brokers create the topic, as the Java producer's does). Retries
/// while the topic is being created or the brokers cannot be reached, for up to
/// `delivery.timeout.ms`; a topic the brokers do not know is an error at once.
pub(crate) fn topic_partitions<C: ClientContext>(
    client: &Client<C>,
    target: &Target,
    deliveries: &Deliveries,
) -> EngineResult<Vec<i32>> {
    let deadline = Instant::now() + target.delivery_timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = remaining
            .min(Duration::from_secs(5))
            .max(Duration::from_millis(100));
        let problem = match client.fetch_metadata(Some(&target.topic), attempt) {
            Ok(metadata) => match metadata.topics().iter().find(|t| t.name() == target.topic) {
                Some(topic) => match topic.error() {
                    None if !topic.partitions().is_empty() => {
                        return Ok(topic.partitions().iter().map(|p| p.id()).collect())
                    }
                    Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
                        return Err(EngineError::Config(format!(
                            "{}: {}",
                            target.prefix(),
                            unknown_topic_hint(target)
                        )))
                    }
                    Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) => {
                        return Err(EngineError::Config(format!(
                            "{}: not authorized to describe topic '{}': check the \
                             'properties.sasl.*' / 'properties.security.protocol' options and \
                             the topic's ACLs",
                            target.prefix(),
                            target.topic
                        )))
                    }
                    other => format!(
                        "the topic has no partitions yet ({})",
                        other.map(|e| format!("{e:?}")).unwrap_or_default()
                    ),
                },
                None => "the brokers did not describe the topic".to_string(),
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(EngineError::Config(format!(
                "{}: cannot look up the topic within 'delivery.timeout.ms' ({} ms): {problem}; {}",
                target.prefix(),
                target.delivery_timeout.as_millis(),
                reachability_hint(target, deliveries)
            )));
        }
        std::thread::sleep(Duration::from_millis(200).min(remaining));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_epoch_librdkafka_logs_when_it_acquires_a_producer_id() {
        assert_eq!(
            acquired_epoch("[thrd:main]: Acquired PID{Id:1000,Epoch:0}"),
            Some(0)
        );
        assert_eq!(
            acquired_epoch("Acquired PID{Id:7,Epoch:12} (previous PID{Id:7,Epoch:11})"),
            Some(12)
        );
        assert_eq!(acquired_epoch("Ignoring InitProduceId response"), None);
    }
}
