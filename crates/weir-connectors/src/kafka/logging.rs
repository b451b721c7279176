//! librdkafka's log lines as tracing events naming the table whose client wrote them,
//! shared by the source's and the sink's client contexts.

use rdkafka::config::RDKafkaLogLevel;

/// Logs one librdkafka line of `table`'s client at the matching tracing level (debug
/// lines are dropped).
pub(crate) fn log_librdkafka(table: &str, level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(table = %table, "librdkafka {fac}: {message}")
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(table = %table, "librdkafka {fac}: {message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(table = %table, "librdkafka {fac}: {message}")
        }
        RDKafkaLogLevel::Debug => {}
    }
}
