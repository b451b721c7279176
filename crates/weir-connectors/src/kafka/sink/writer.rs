//! The writer of `sink.delivery-guarantee` = `none` and `at-least-once`: one
//! non-transactional producer per subtask, sending each batch without waiting.
//!
//! `at-least-once` waits at every checkpoint barrier until the brokers acknowledged
//! every record sent before it, so a completed checkpoint never covers a record that is
//! not in the topic; a record librdkafka could not deliver fails the checkpoint and the
//! job (it is never dropped). A job restored from a checkpoint writes the records after
//! it again: duplicates, no loss. `none` never waits at barriers (a failure still fails
//! the job at the next batch). Both wait for every record at the end of input.

use std::sync::Arc;

use rdkafka::producer::Producer;
use weir_types::EngineResult;

use super::encode::Encoded;
use super::options::{DeliveryGuarantee, SinkOptions};
use super::partitioner::PartitionAssigner;
use super::producer::{self, Deliveries, SinkProducer, Target};

/// One subtask's non-transactional writer.
pub(crate) struct DirectWriter {
    producer: SinkProducer,
    deliveries: Arc<Deliveries>,
    target: Target,
    guarantee: DeliveryGuarantee,
    assigner: PartitionAssigner,
}

impl DirectWriter {
    /// Creates the producer of subtask `subtask` and looks the topic up (an unknown
    /// topic, or brokers unreachable for `delivery.timeout.ms`, is an error here).
    pub(crate) fn new(options: &SinkOptions, subtask: usize) -> EngineResult<DirectWriter> {
        let target = Target::of(options, false);
        let config = producer::base_config(options, false);
        let (producer, deliveries) = producer::create_producer(&config, &target)?;
        let partitions = producer::topic_partitions(producer.client(), &target, &deliveries)?;
        Ok(DirectWriter {
            assigner: PartitionAssigner::new(options.partitioning, partitions, subtask),
            producer,
            deliveries,
            target,
            guarantee: options.guarantee,
        })
    }

    /// Sends the records of a batch.
    pub(crate) fn write(&mut self, encoded: &Encoded) -> EngineResult<()> {
        producer::send(
            &self.producer,
            &self.deliveries,
            &self.target,
            encoded,
            &mut self.assigner,
        )
    }

    /// At a checkpoint barrier: `at-least-once` waits for every acknowledgement.
    pub(crate) fn barrier(&mut self) -> EngineResult<()> {
        match self.guarantee {
            DeliveryGuarantee::None => producer::check(&self.deliveries, &self.target),
            _ => self.flush(),
        }
    }

    /// Waits for every record sent so far.
    pub(crate) fn flush(&mut self) -> EngineResult<()> {
        producer::wait_for_deliveries(&self.producer, &self.deliveries, &self.target)
    }
}
