//! [`TxnClient`] over librdkafka: one transactional producer per transactional id, and
//! the parking lot that keeps pre-committed producers across a restart of the job in
//! this process.
//!
//! librdkafka's transactional calls block up to a timeout; a retriable error (a
//! coordinator moving, a timeout) is retried until `transaction.timeout.ms` has passed.
//! A broker without transactions answers `EndTxn` (commit or abort) with
//! `UNSUPPORTED_FEATURE`: the job then fails, saying so (tansu 0.6 is such a broker; it
//! answers `InitProducerId`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use rdkafka::ClientConfig;
use weir_types::{EngineError, EngineResult};

use super::encode::Encoded;
use super::partitioner::PartitionAssigner;
use super::producer::{self, Deliveries, SinkProducer, Target};
use super::transactions::TxnClient;

/// How long one transactional call may block before it is retried.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a probe waits for librdkafka's log line with the producer epoch.
const EPOCH_LOG_WAIT: Duration = Duration::from_secs(5);
/// How long a writer being dropped waits to abort its open transaction.
const ABORT_ON_DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// A transactional producer and its delivery reports.
pub(crate) struct TxnProducer {
    producer: SinkProducer,
    deliveries: Arc<Deliveries>,
}

/// Producers whose transactions were pre-committed when their writer was dropped (the
/// job failed), by transactional id; shared by every run of one sink in this process.
pub(crate) type ParkingLot = Arc<Mutex<HashMap<String, TxnProducer>>>;

/// The real [`TxnClient`].
pub(crate) struct RdKafkaTxnClient {
    config: ClientConfig,
    target: Target,
    transaction_timeout: Duration,
    assigner: PartitionAssigner,
    producers: HashMap<String, TxnProducer>,
    parked: ParkingLot,
}

impl RdKafkaTxnClient {
    /// A client creating producers with `config` (the sink's base configuration).
    pub(crate) fn new(
        config: ClientConfig,
        target: Target,
        transaction_timeout: Duration,
        assigner: PartitionAssigner,
        parked: ParkingLot,
    ) -> RdKafkaTxnClient {
        RdKafkaTxnClient {
            config,
            target,
            transaction_timeout,
            assigner,
            producers: HashMap::new(),
            parked,
        }
    }

    fn producer(&self, id: &str) -> EngineResult<&TxnProducer> {
        self.producers.get(id).ok_or_else(|| {
            EngineError::Internal(format!("no Kafka producer for transactional id '{id}'"))
        })
    }

    fn create(&self, id: &str, debug_eos: bool) -> EngineResult<TxnProducer> {
        let mut config = self.config.clone();
        config.set("transactional.id", id);
        if debug_eos {
            // The producer epoch is only in librdkafka's debug log (see `probe`).
            let debug = match config.get("debug") {
                Some(d) if !d.is_empty() => format!("{d},eos"),
                _ => "eos".to_string(),
            };
            config.set("debug", debug);
            config.set_log_level(RDKafkaLogLevel::Debug);
        }
        let (producer, deliveries) = producer::create_producer(&config, &self.target)?;
        Ok(TxnProducer {
            producer,
            deliveries,
        })
    }

    /// Runs a transactional call, retrying retriable errors up to the transaction
    /// timeout; `what` names the call for messages.
    fn call(
        &self,
        id: &str,
        what: &str,
        timeout: Duration,
        f: impl Fn(Duration) -> Result<(), KafkaError>,
    ) -> EngineResult<()> {
        let deadline = Instant::now() + self.transaction_timeout.max(timeout);
        loop {
            let error = match f(timeout) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let (retriable, code) = match &error {
                KafkaError::Transaction(e) => (e.is_retriable(), Some(e.code())),
                other => (false, other.rdkafka_error_code()),
            };
            if code == Some(RDKafkaErrorCode::UnsupportedFeature) {
                return Err(self.unsupported(id, what, &error));
            }
            if !retriable || Instant::now() >= deadline {
                return Err(self.failed(id, what, code, &error));
            }
            tracing::warn!(
                table = %self.target.table,
                "Kafka transaction '{id}': {what} failed ({error}), retrying"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn unsupported(&self, id: &str, what: &str, error: &KafkaError) -> EngineError {
        EngineError::Config(format!(
            "table '{}', topic '{}': the Kafka broker(s) at '{}' do not support transactions \
             ({what} of transaction '{id}' failed: {error}); 'sink.delivery-guarantee' = \
             'exactly-once' needs brokers with transactions (Apache Kafka 0.11 or later, \
             EndTxn): use 'at-least-once' with these brokers",
            self.target.table, self.target.topic, self.target.bootstrap
        ))
    }

    fn failed(
        &self,
        id: &str,
        what: &str,
        code: Option<RDKafkaErrorCode>,
        error: &KafkaError,
    ) -> EngineError {
        let hint = match code {
            Some(RDKafkaErrorCode::InvalidTransactionTimeout) => format!(
                "'properties.transaction.timeout.ms' ({} ms) is above the brokers' \
                 transaction.max.timeout.ms (15 minutes by default): lower it (and keep it \
                 longer than the checkpoint interval plus a restart), or raise the brokers' \
                 limit",
                self.transaction_timeout.as_millis()
            ),
            Some(RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch) => {
                "another producer took over this transactional id: two jobs (or two sinks) \
                 use the same 'sink.transactional-id-prefix'; give each its own"
                    .to_string()
            }
            Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed) => {
                "the client may not use this transactional id: check the brokers' ACLs for \
                 the prefix and the 'properties.sasl.*' options"
                    .to_string()
            }
            _ => format!(
                "check that the brokers at '{}' are reachable",
                self.target.bootstrap
            ),
        };
        EngineError::Config(format!(
            "table '{}', topic '{}': {what} of Kafka transaction '{id}' failed: {error}; {hint}",
            self.target.table, self.target.topic
        ))
    }
}

impl TxnClient for RdKafkaTxnClient {
    fn init(&mut self, id: &str) -> EngineResult<()> {
        // A producer of this id parked by an earlier run is fenced by the new one.
        self.drop_parked(id);
        let created = self.create(id, false)?;
        self.call(id, "InitProducerId", CALL_TIMEOUT, |t| {
            created.producer.init_transactions(t)
        })?;
        self.producers.insert(id.to_string(), created);
        Ok(())
    }

    fn probe(&mut self, id: &str) -> EngineResult<Option<bool>> {
        self.drop_parked(id);
        let created = self.create(id, true)?;
        self.call(id, "InitProducerId", CALL_TIMEOUT, |t| {
            created.producer.init_transactions(t)
        })?;
        // A transactional id the coordinator never saw gets producer epoch 0. librdkafka
        // logged it before InitProducerId completed, through the main queue, which the
        // producer's thread serves: wait for that thread to hand it over.
        let deadline = Instant::now() + EPOCH_LOG_WAIT;
        while created.deliveries.epoch().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(created.deliveries.epoch().map(|epoch| epoch > 0))
    }

    fn begin(&mut self, id: &str) -> EngineResult<()> {
        let p = self.producer(id)?;
        p.producer
            .begin_transaction()
            .map_err(|e| self.failed(id, "BeginTransaction", e.rdkafka_error_code(), &e))
    }

    fn produce(&mut self, id: &str, records: &Encoded) -> EngineResult<()> {
        let p = self.producers.get(id).ok_or_else(|| {
            EngineError::Internal(format!("no Kafka producer for transactional id '{id}'"))
        })?;
        producer::send(
            &p.producer,
            &p.deliveries,
            &self.target,
            records,
            &mut self.assigner,
        )
    }

    fn flush(&mut self, id: &str) -> EngineResult<()> {
        let p = self.producer(id)?;
        producer::wait_for_deliveries(&p.producer, &p.deliveries, &self.target)
    }

    fn commit(&mut self, id: &str) -> EngineResult<()> {
        let p = self.producer(id)?;
        self.call(id, "CommitTransaction (EndTxn)", CALL_TIMEOUT, |t| {
            p.producer.commit_transaction(t)
        })
    }

    fn abort(&mut self, id: &str) -> EngineResult<()> {
        let p = self.producer(id)?;
        p.producer
            .abort_transaction(ABORT_ON_DROP_TIMEOUT)
            .map_err(|e| self.failed(id, "AbortTransaction (EndTxn)", e.rdkafka_error_code(), &e))
    }

    fn close(&mut self, id: &str) {
        self.producers.remove(id);
    }

    fn park(&mut self, id: &str) {
        if let Some(p) = self.producers.remove(id) {
            if let Ok(mut parked) = self.parked.lock() {
                parked.insert(id.to_string(), p);
            }
        }
    }

    fn unpark(&mut self, id: &str) -> bool {
        let parked = self.parked.lock().ok().and_then(|mut p| p.remove(id));
        match parked {
            Some(p) => {
                self.producers.insert(id.to_string(), p);
                true
            }
            None => false,
        }
    }
}

impl RdKafkaTxnClient {
    fn drop_parked(&mut self, id: &str) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.remove(id);
        }
    }
}
