//! The client context of source consumers: librdkafka's logs and errors as tracing
//! events naming the table, without the end-of-partition notices a bounded read asks
//! for (they are how the reader learns a partition is done, not errors).

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

use crate::kafka::logging::log_librdkafka;

/// The context of a table's consumers.
pub(crate) struct SourceContext {
    /// The table read, for messages.
    pub table: String,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_librdkafka(&self.table, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if is_partition_eof(&error) {
            return;
        }
        tracing::warn!(table = %self.table, "Kafka consumer: {error}: {reason}");
    }
}

impl ConsumerContext for SourceContext {}

/// Whether `error` is librdkafka's end-of-partition notice.
fn is_partition_eof(error: &KafkaError) -> bool {
    matches!(error, KafkaError::PartitionEOF(_))
}

#[cfg(test)]
mod tests {
    use rdkafka::types::RDKafkaErrorCode;

    use super::*;

    #[test]
    fn end_of_partition_notices_are_not_errors() {
        assert!(is_partition_eof(&KafkaError::PartitionEOF(3)));
        assert!(!is_partition_eof(&KafkaError::Global(
            RDKafkaErrorCode::AllBrokersDown
        )));
    }
}
