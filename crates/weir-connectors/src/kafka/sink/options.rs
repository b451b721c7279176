//! The options of the `kafka` and `upsert-kafka` sinks, with Flink's names and defaults:
//! the topic, `sink.delivery-guarantee`, `sink.transactional-id-prefix`,
//! `sink.partitioner`, `sink.buffer-flush.*`, `sink.parallelism`, the writable metadata
//! columns (`timestamp`, `headers`) and whether the stream's changelog fits the sink.
//! Reading them connects to nothing.

use std::time::Duration;

use arrow::datatypes::DataType;
use weir_types::ChangelogKind;

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::filesystem::{format_error, sink_parallelism};
use crate::kafka::config::{KafkaConfig, Topics};
use crate::options::Options;

/// Flink's default `transaction.timeout.ms` for its Kafka sink (one hour); a broker's
/// `transaction.max.timeout.ms` is 15 minutes by default, so exactly-once jobs set it.
pub(crate) const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// What a sink promises about its records when the job fails and restarts
/// (`sink.delivery-guarantee`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryGuarantee {
    /// `none`: records are produced and never waited for (until the end of input).
    None,
    /// `at-least-once` (Flink's default): every checkpoint waits until the brokers
    /// acknowledged every record produced before it.
    AtLeastOnce,
    /// `exactly-once`: records are written in Kafka transactions committed when the
    /// checkpoint that covers them completes.
    ExactlyOnce,
}

impl DeliveryGuarantee {
    /// The option value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DeliveryGuarantee::None => "none",
            DeliveryGuarantee::AtLeastOnce => "at-least-once",
            DeliveryGuarantee::ExactlyOnce => "exactly-once",
        }
    }
}

/// How records are spread over the topic's partitions (`sink.partitioner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partitioning {
    /// `default`: librdkafka's `murmur2_random` partitioner, the Java client's default:
    /// the murmur2 hash of the key bytes, or a sticky random partition without a key.
    Default,
    /// `fixed`: every record of subtask `i` goes to partition `i % partitions` (Flink's
    /// `FlinkFixedPartitioner`).
    Fixed,
    /// `round-robin`: records without a key go to each partition in turn; records with a
    /// key are hashed as by `default` (as in Flink, where it applies to keyless records).
    RoundRobin,
}

impl Partitioning {
    /// The option value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Partitioning::Default => "default",
            Partitioning::Fixed => "fixed",
            Partitioning::RoundRobin => "round-robin",
        }
    }
}

/// `sink.buffer-flush.max-rows` and `sink.buffer-flush.interval` of `upsert-kafka`: the
/// last row of each key is kept and written when this many keys are buffered, when the
/// oldest has waited this long, at every checkpoint and at the end of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BufferFlush {
    /// Distinct keys buffered before a flush.
    pub max_rows: usize,
    /// Longest time a buffered row waits.
    pub interval: Duration,
}

/// The columns a sink batch carries, by name (the row kind, if any, comes last).
#[derive(Debug, Clone)]
pub(crate) struct SinkColumns {
    /// The columns the message key carries (`key.fields` or the PRIMARY KEY).
    pub key: Vec<String>,
    /// The column written as the record timestamp (`METADATA FROM 'timestamp'`).
    pub timestamp: Option<String>,
    /// The column written as the record headers (`METADATA FROM 'headers'`).
    pub headers: Option<String>,
}

/// A Kafka sink table's options, read and checked.
#[derive(Debug, Clone)]
pub(crate) struct SinkOptions {
    /// Table name, for messages.
    pub table: String,
    /// `kafka` or `upsert-kafka`.
    pub connector: &'static str,
    /// `upsert-kafka`: the key is the PRIMARY KEY, deletes are tombstones.
    pub upsert: bool,
    /// The one topic written.
    pub topic: String,
    /// The options shared with the source (properties, formats, columns).
    pub kafka: KafkaConfig,
    /// `sink.delivery-guarantee`.
    pub guarantee: DeliveryGuarantee,
    /// `sink.partitioner`.
    pub partitioning: Partitioning,
    /// `sink.transactional-id-prefix`.
    pub transactional_id_prefix: Option<String>,
    /// `properties.transaction.timeout.ms`, or Flink's default of one hour.
    pub transaction_timeout: Duration,
    /// `sink.buffer-flush.*` (`upsert-kafka` only; `None`: write every batch).
    pub buffer: Option<BufferFlush>,
    /// `sink.parallelism`.
    pub parallelism: Option<usize>,
    /// What each batch column is written as.
    pub columns: SinkColumns,
}

impl SinkOptions {
    /// Reads the options of a `kafka` (`upsert` false) or `upsert-kafka` sink writing a
    /// stream of `changelog` kind.
    pub(crate) fn read(
        table: &TableDescriptor,
        changelog: ChangelogKind,
        upsert: bool,
    ) -> Result<SinkOptions, ConnectorError> {
        let connector = if upsert { "upsert-kafka" } else { "kafka" };
        let mut options = Options::new(table, connector);
        let kafka = KafkaConfig::read(&mut options, upsert)?;
        let topic = match &kafka.topics {
            Topics::Names(names) if names.len() == 1 => names[0].clone(),
            Topics::Names(names) => {
                return Err(options.invalid(
                    "topic",
                    &names.join(";"),
                    "a sink writes exactly one topic; name one topic (several are for sources)",
                ))
            }
            Topics::Pattern(p) => {
                return Err(options.invalid(
                    "topic-pattern",
                    p,
                    "a sink writes exactly one topic: set 'topic' (a pattern is for sources)",
                ))
            }
        };
        let partitioning = if upsert {
            Partitioning::Default
        } else {
            read_partitioner(&mut options)?
        };
        let guarantee = read_guarantee(&mut options)?;
        let prefix = options.get("sink.transactional-id-prefix");
        if prefix.is_some_and(|p| p.trim().is_empty()) {
            return Err(options.invalid(
                "sink.transactional-id-prefix",
                "",
                "expected a non-empty prefix, unique to this job and sink",
            ));
        }
        let buffer = if upsert {
            read_buffer(&mut options)?
        } else {
            None
        };
        let parallelism = sink_parallelism(&mut options)?;
        // A table declared once may be read and written: the source's options (checked
        // when the table is read) are accepted and ignored here.
        options.allow_prefix("scan.");
        options.allow_prefix("weir.dirty-data.");
        options.finish()?;

        if let Some(id) = kafka.properties.get("transactional.id") {
            return Err(ConnectorError::InvalidOption {
                table: table.name.clone(),
                option: "properties.transactional.id".into(),
                value: id.clone(),
                reason: "the sink names its transactions itself: remove it, and set \
                         'sink.delivery-guarantee' = 'exactly-once' with \
                         'sink.transactional-id-prefix'"
                    .into(),
            });
        }
        let transaction_timeout = match kafka.properties.get("transaction.timeout.ms") {
            None => DEFAULT_TRANSACTION_TIMEOUT,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| ConnectorError::InvalidOption {
                    table: table.name.clone(),
                    option: "properties.transaction.timeout.ms".into(),
                    value: v.clone(),
                    reason: "expected a number of milliseconds".into(),
                })?,
        };
        if guarantee == DeliveryGuarantee::ExactlyOnce && prefix.is_none() {
            return Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                option: "sink.transactional-id-prefix".into(),
                hint: "'sink.delivery-guarantee' = 'exactly-once' writes in Kafka transactions \
                       whose ids start with this prefix; choose one unique to this job and \
                       sink, e.g. 'sink.transactional-id-prefix' = 'orders-job'"
                    .into(),
            });
        }
        check_changelog(table, &kafka, changelog, upsert)?;
        let columns = sink_columns(table, &kafka)?;
        check_encoders(table, &kafka)?;
        Ok(SinkOptions {
            table: table.name.clone(),
            connector,
            upsert,
            topic,
            transactional_id_prefix: prefix.map(|p| p.trim().to_string()),
            kafka,
            guarantee,
            partitioning,
            transaction_timeout,
            buffer,
            parallelism,
            columns,
        })
    }

    /// `properties.bootstrap.servers`.
    pub(crate) fn bootstrap(&self) -> &str {
        self.kafka.bootstrap_servers()
    }
}

/// `sink.partitioner`: `default`, `fixed` or `round-robin`; a Java class is refused.
fn read_partitioner(options: &mut Options<'_>) -> Result<Partitioning, ConnectorError> {
    let Some(value) = options.get("sink.partitioner") else {
        return Ok(Partitioning::Default);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "default" => Ok(Partitioning::Default),
        "fixed" => Ok(Partitioning::Fixed),
        "round-robin" => Ok(Partitioning::RoundRobin),
        _ if value.contains('.') => Err(options.invalid(
            "sink.partitioner",
            value,
            "a custom FlinkKafkaPartitioner class cannot run in Weir (there is no JVM); use \
             'default' (hash of the key), 'fixed' (subtask i writes partition i) or \
             'round-robin'",
        )),
        _ => Err(options.invalid(
            "sink.partitioner",
            value,
            "expected 'default', 'fixed' or 'round-robin'",
        )),
    }
}

/// `sink.delivery-guarantee` (or Flink 1.13's `sink.semantic`), `at-least-once` by
/// default.
fn read_guarantee(options: &mut Options<'_>) -> Result<DeliveryGuarantee, ConnectorError> {
    let guarantee = options.get("sink.delivery-guarantee");
    let semantic = options.get("sink.semantic");
    let (key, value) = match (guarantee, semantic) {
        (Some(_), Some(s)) => {
            return Err(options.invalid(
                "sink.semantic",
                s,
                "set 'sink.delivery-guarantee' only ('sink.semantic' is its old name)",
            ))
        }
        (Some(v), None) => ("sink.delivery-guarantee", v),
        (None, Some(v)) => ("sink.semantic", v),
        (None, None) => return Ok(DeliveryGuarantee::AtLeastOnce),
    };
    match value.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "none" => Ok(DeliveryGuarantee::None),
        "at-least-once" => Ok(DeliveryGuarantee::AtLeastOnce),
        "exactly-once" => Ok(DeliveryGuarantee::ExactlyOnce),
        _ => Err(options.invalid(
            key,
            value,
            "expected 'none', 'at-least-once' or 'exactly-once'",
        )),
    }
}

/// `sink.buffer-flush.max-rows` and `.interval`: both positive, or both unset / zero
/// (no buffering), as Flink requires.
fn read_buffer(options: &mut Options<'_>) -> Result<Option<BufferFlush>, ConnectorError> {
    let max_rows: Option<usize> =
        options.parse("sink.buffer-flush.max-rows", "a number of rows")?;
    let interval = options.duration("sink.buffer-flush.interval")?;
    let max_rows = max_rows.unwrap_or(0);
    let interval = interval.unwrap_or(Duration::ZERO);
    match (max_rows > 0, !interval.is_zero()) {
        (true, true) => Ok(Some(BufferFlush { max_rows, interval })),
        (false, false) => Ok(None),
        (true, false) => Err(options.invalid(
            "sink.buffer-flush.interval",
            "0",
            "'sink.buffer-flush.max-rows' and 'sink.buffer-flush.interval' must both be \
             greater than zero to buffer (or both unset): set an interval such as '1 s'",
        )),
        (false, true) => Err(options.invalid(
            "sink.buffer-flush.max-rows",
            "0",
            "'sink.buffer-flush.max-rows' and 'sink.buffer-flush.interval' must both be \
             greater than zero to buffer (or both unset): set a number of rows such as '1000'",
        )),
    }
}

/// A `kafka` sink takes updates only with a changelog value format; `upsert-kafka`
/// takes any stream but needs insert-only key and value formats.
fn check_changelog(
    table: &TableDescriptor,
    kafka: &KafkaConfig,
    changelog: ChangelogKind,
    upsert: bool,
) -> Result<(), ConnectorError> {
    let unsupported = |message: String| ConnectorError::Unsupported {
        table: table.name.clone(),
        message,
    };
    if upsert {
        let key = kafka.key.as_ref().map(|k| &k.format);
        for (option, format) in [("key.format", key), ("value.format", Some(&kafka.value))] {
            if let Some(format) = format.filter(|f| f.accepts_updates()) {
                return Err(unsupported(format!(
                    "connector 'upsert-kafka' doesn't support '{name}' as {option}, because \
                     '{name}' is not in insert-only mode (the key and value of an upsert \
                     record are plain rows: use 'json' or 'csv')",
                    name = format.name()
                )));
            }
        }
        return Ok(());
    }
    if changelog == ChangelogKind::Updating && !kafka.value.accepts_updates() {
        return Err(unsupported(format!(
            "connector 'kafka' with format '{}' doesn't support consuming update and delete \
             changes; write the query into an 'upsert-kafka' table (with a PRIMARY KEY), or \
             use a changelog format such as 'debezium-json'",
            kafka.value.name()
        )));
    }
    Ok(())
}

/// Which column is written as what; refuses metadata columns a sink cannot write.
fn sink_columns(
    table: &TableDescriptor,
    kafka: &KafkaConfig,
) -> Result<SinkColumns, ConnectorError> {
    let mut timestamp = None;
    let mut headers = None;
    for m in table.metadata.iter().filter(|m| !m.is_virtual) {
        let field =
            table
                .schema
                .field_with_name(&m.column)
                .map_err(|_| ConnectorError::Unsupported {
                    table: table.name.clone(),
                    message: format!(
                        "metadata column '{}' is not among the table's columns",
                        m.column
                    ),
                })?;
        let wrong_type = |expected: &str| ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "metadata column '{}' (FROM '{}') must be {expected} to be written, not {}",
                m.column,
                m.key,
                field.data_type()
            ),
        };
        match m.key.as_str() {
            "timestamp" => {
                if !matches!(field.data_type(), DataType::Timestamp(_, _)) {
                    return Err(wrong_type("TIMESTAMP_LTZ(3)"));
                }
                timestamp = Some(m.column.clone());
            }
            "headers" => {
                if !is_headers_type(field.data_type()) {
                    return Err(wrong_type("MAP<STRING, BYTES>"));
                }
                headers = Some(m.column.clone());
            }
            other => {
                return Err(ConnectorError::Unsupported {
                    table: table.name.clone(),
                    message: format!(
                        "metadata key '{other}' of column '{}' cannot be written: a Kafka sink \
                         writes the metadata keys 'timestamp' and 'headers'; declare the column \
                         VIRTUAL to only read it",
                        m.column
                    ),
                })
            }
        }
    }
    Ok(SinkColumns {
        key: kafka
            .key
            .as_ref()
            .map(|k| k.columns.clone())
            .unwrap_or_default(),
        timestamp,
        headers,
    })
}

/// `MAP<STRING, BYTES>` (values may be NULL).
pub(crate) fn is_headers_type(data_type: &DataType) -> bool {
    let DataType::Map(entries, _) = data_type else {
        return false;
    };
    let DataType::Struct(fields) = entries.data_type() else {
        return false;
    };
    fields.len() == 2
        && fields[0].data_type() == &DataType::Utf8
        && fields[1].data_type() == &DataType::Binary
}

/// Fails when the key or value format cannot write one of its columns' types.
fn check_encoders(table: &TableDescriptor, kafka: &KafkaConfig) -> Result<(), ConnectorError> {
    kafka
        .value
        .message_encoder(&kafka.value_schema())
        .map_err(|e| format_error(table, e))?;
    if let (Some(key), Some(schema)) = (&kafka.key, kafka.key_schema()) {
        key.format
            .message_encoder(&schema)
            .map_err(|e| format_error(table, e))?;
    }
    Ok(())
}
