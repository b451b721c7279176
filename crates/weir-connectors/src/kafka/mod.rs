//! The `kafka` and `upsert-kafka` connectors, with Flink's option names, on librdkafka.
//!
//! `config.rs` reads the options both share (topics, `properties.*`, key and value
//! formats).
//!
//! `sink/` writes topics: rows encoded into keys, values, timestamps and headers, with
//! `sink.delivery-guarantee` `none`, `at-least-once` (flush at barriers) or
//! `exactly-once` (a Kafka transaction per checkpoint interval, committed when the
//! checkpoint completes), and `upsert-kafka`'s tombstones and buffer.

// Used by the source and the sink, which are being built on top of it.
#[allow(dead_code)]
mod config;
pub(crate) mod sink;
#[cfg(test)]
mod tests_config;
