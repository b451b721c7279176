//! The `kafka` and `upsert-kafka` sinks: rows written as Kafka records with Flink's
//! options and semantics (docs/kafka.md, *Writing a topic*, *upsert-kafka*, *Guarantees
//! and their limits*).
//!
//! - [`options`] reads the sink options, checked at planning (no connection);
//! - [`encode`] turns rows into keys, values, timestamps and headers;
//! - [`partitioner`] chooses partitions (`sink.partitioner`);
//! - [`producer`] makes librdkafka producers, collects delivery reports, words errors;
//! - [`writer`] writes `none` and `at-least-once`; [`transactions`] (a state machine
//!   over [`transactions::TxnClient`]), [`txn_client`] (librdkafka) and [`txn_state`]
//!   (checkpoint tables) write `exactly-once`;
//! - [`buffer`] is `upsert-kafka`'s `sink.buffer-flush.*`;
//! - [`operator`] is the sink operator tying them together.

mod buffer;
mod encode;
mod operator;
mod options;
mod partitioner;
mod producer;
mod transactions;
mod txn_client;
mod txn_state;
mod writer;

#[cfg(test)]
mod tests_broker;
#[cfg(test)]
mod tests_encode;
#[cfg(test)]
mod tests_options;
#[cfg(test)]
mod tests_transactions;
#[cfg(test)]
mod tests_txn_double;

use std::sync::Arc;

use weir_runtime::{Operator, SubtaskContext};
use weir_types::{ChangelogKind, EngineResult};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::SinkBinding;
use options::{DeliveryGuarantee, SinkOptions};
use txn_client::ParkingLot;

/// Creates the sink of a `kafka` table (`upsert` false) or an `upsert-kafka` table
/// writing a stream of `changelog` kind. Nothing connects until the job starts.
pub fn create_sink(
    table: &TableDescriptor,
    changelog: ChangelogKind,
    upsert: bool,
) -> Result<SinkBinding, ConnectorError> {
    let options = Arc::new(SinkOptions::read(table, changelog, upsert)?);
    let description = describe(&options);
    let parallelism = options.parallelism;
    // Pre-committed transactions of a run that failed, for the next run in this process.
    let parked = ParkingLot::default();
    Ok(SinkBinding {
        factory: Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(operator::KafkaSink::new(
                    options.clone(),
                    ctx,
                    parked.clone(),
                )?))
            },
        ),
        description,
        parallelism,
    })
}

/// E.g. `kafka(topic=orders, value=json, key=json(id), at-least-once, partitioner=default)
/// at 127.0.0.1:9092`.
fn describe(options: &SinkOptions) -> String {
    let key = options
        .kafka
        .key
        .as_ref()
        .map(|k| format!(", key={}({})", k.format.name(), k.columns.join(", ")))
        .unwrap_or_default();
    let guarantee = match (&options.guarantee, &options.transactional_id_prefix) {
        (DeliveryGuarantee::ExactlyOnce, Some(prefix)) => {
            format!("exactly-once, transactional ids {prefix}-<subtask>-<n>")
        }
        (g, _) => g.name().to_string(),
    };
    let buffer = options
        .buffer
        .map(|b| format!(", buffer {} rows or {:?}", b.max_rows, b.interval))
        .unwrap_or_default();
    format!(
        "{}(topic={}, value={}{key}, {guarantee}, partitioner={}{buffer}) at {}",
        options.connector,
        options.topic,
        options.kafka.value.name(),
        options.partitioning.name(),
        options.bootstrap()
    )
}
