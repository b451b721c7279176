//! The `kafka` and `upsert-kafka` connectors, with Flink's option names, on librdkafka.
//!
//! `config.rs` reads the options both share (topics, `properties.*`, key and value
//! formats).

// Used by the source and the sink, which are being built on top of it.
#[allow(dead_code)]
mod config;
pub(crate) mod sink;
#[cfg(test)]
mod tests_config;
