//! The `kafka` and `upsert-kafka` connectors, with Flink's option names, on librdkafka.
//!
//! `config.rs` reads the options both share (topics, `properties.*`, key and value
//! formats).
//!
//! `sink/` writes topics: rows encoded into keys, values, timestamps and headers, with
//! `sink.delivery-guarantee` `none`, `at-least-once` (flush at barriers) or
//! `exactly-once` (a Kafka transaction per checkpoint interval, committed when the
//! checkpoint completes), and `upsert-kafka`'s tombstones and buffer.
//!
//! The source (`source/`) reads topics: every partition is a split, dealt to subtasks
//! as Flink deals them, read by a manually assigned librdkafka consumer per subtask
//! (no group rebalancing) from `scan.startup.mode` or a checkpoint's positions up to
//! `scan.bounded.mode`'s offsets; partitions appearing while it runs are read from
//! their earliest offset; a completed checkpoint's offsets are committed to
//! `properties.group.id`. Malformed records go to the table's dirty-data policy
//! (`crate::dirty`), whose dead-letter target may be a topic (`dead_letter.rs`). An
//! `upsert-kafka` table is read as upserts and deletions of its PRIMARY KEY, which the
//! planner normalizes into a changelog.

mod config;
mod dead_letter;
mod logging;
pub(crate) mod sink;
mod source;
#[cfg(test)]
mod tests_config;

pub use source::{create_source, validate_upsert_source};
