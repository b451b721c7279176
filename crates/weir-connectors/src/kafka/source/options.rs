//! The `kafka` source's own options, read on top of the shared ones of `config.rs`:
//! Flink's `scan.*` options, `properties.group.id`, the properties Flink's `KafkaSource`
//! reads itself (`commit.offsets.on.checkpoint`, `client.id.prefix`, ...), and the
//! librdkafka consumer configuration they make.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

use crate::descriptor::ConnectorError;
use crate::kafka::config::{KafkaConfig, Topics};
use crate::options::{parse_duration, Options};

/// Where a partition starts when no checkpoint says (`scan.startup.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartupMode {
    /// `earliest-offset`: the partition's first offset.
    Earliest,
    /// `latest-offset`: the partition's end when the job starts (only new records).
    Latest,
    /// `group-offsets` (the default): the offset the consumer group committed; with none,
    /// `properties.auto.offset.reset` decides.
    GroupOffsets,
    /// `timestamp`: the first record with a timestamp at or after these epoch ms.
    Timestamp(i64),
    /// `specific-offsets`: the offset of each listed partition of the topic; other
    /// partitions start at the group's committed offset, else at the earliest one.
    Specific(BTreeMap<i32, i64>),
}

/// Where a bounded source stops (`scan.bounded.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BoundedMode {
    /// `unbounded` (the default): the source never ends.
    Unbounded,
    /// `latest-offset`: each partition's end when the partition is first read.
    Latest,
    /// `group-offsets`: the offsets the consumer group committed.
    GroupOffsets,
    /// `timestamp`: the first record with a timestamp at or after these epoch ms.
    Timestamp(i64),
    /// `specific-offsets`: the listed offsets; other partitions stop at the group's
    /// committed offset, else at the earliest one (they read nothing), as in Flink.
    Specific(BTreeMap<i32, i64>),
}

/// `properties.auto.offset.reset`: where `group-offsets` starts a partition the group
/// has no offset for (Flink's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetReset {
    /// `earliest`.
    Earliest,
    /// `latest`.
    Latest,
    /// `none` (Flink's default): the job fails, naming the partition.
    None,
}

/// Properties that Flink's `KafkaSource` reads itself and that librdkafka does not know:
/// never passed to the client.
const SOURCE_PROPERTIES: [&str; 8] = [
    "commit.offsets.on.checkpoint",
    "client.id.prefix",
    "partition.discovery.interval.ms",
    "register.consumer.metrics",
    "default.api.timeout.ms",
    "auto.offset.reset",
    "key.deserializer",
    "value.deserializer",
];

/// Options of the sink side of a `kafka` table: a table declared once may be read and
/// written (Flink validates both sides' options either way), so the source accepts and
/// ignores them.
pub(crate) const SINK_OPTIONS: [&str; 6] = [
    "sink.partitioner",
    "sink.parallelism",
    "sink.delivery-guarantee",
    "sink.semantic",
    "sink.transactional-id-prefix",
    "sink.transaction-naming-strategy",
];

/// The sink options only an `upsert-kafka` table has.
const UPSERT_SINK_OPTIONS: [&str; 2] = ["sink.buffer-flush.max-rows", "sink.buffer-flush.interval"];

/// Flink's default `scan.topic-partition-discovery.interval`.
const DEFAULT_DISCOVERY: Duration = Duration::from_secs(5 * 60);

/// Java's default `default.api.timeout.ms`: the bound of metadata and offset requests.
const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(60);

/// The source's options.
#[derive(Debug, Clone)]
pub(crate) struct SourceOptions {
    /// `scan.startup.mode` with its offsets or timestamp.
    pub startup: StartupMode,
    /// `properties.auto.offset.reset`, for `group-offsets`.
    pub reset: OffsetReset,
    /// `scan.bounded.mode` with its offsets or timestamp.
    pub bounded: BoundedMode,
    /// `scan.topic-partition-discovery.interval`; `None` when disabled (0, negative, or
    /// a bounded source, as in Flink).
    pub discovery: Option<Duration>,
    /// `properties.group.id`.
    pub group_id: Option<String>,
    /// `properties.commit.offsets.on.checkpoint` (default true): commit each completed
    /// checkpoint's offsets to the group (needs a group id).
    pub commit_on_checkpoint: bool,
    /// `scan.parallelism`.
    pub parallelism: Option<usize>,
    /// `properties.default.api.timeout.ms` (Java's name; default 60 s): how long metadata
    /// and offset lookups may take before the job fails with what to check.
    pub api_timeout: Duration,
    /// `properties.client.id.prefix`, else the group id, else `weir-<table>`: the
    /// consumers' `client.id` is `<prefix>-<subtask>` unless `properties.client.id` is set.
    pub client_id_prefix: String,
}

impl SourceOptions {
    /// Reads the source options of `options`' table, whose shared options `config` holds.
    /// An `upsert-kafka` table (`upsert`) always starts at the earliest offsets and has
    /// no `scan.startup.*` options, as in Flink.
    pub(crate) fn read(
        options: &mut Options<'_>,
        config: &KafkaConfig,
        upsert: bool,
    ) -> Result<SourceOptions, ConnectorError> {
        for key in SINK_OPTIONS {
            options.get(key);
        }
        if upsert {
            for key in UPSERT_SINK_OPTIONS {
                options.get(key);
            }
        }
        let single_topic = matches!(&config.topics, Topics::Names(n) if n.len() == 1);
        let mode = if upsert {
            None
        } else {
            options.get("scan.startup.mode")
        };
        let startup = match mode {
            None if upsert => StartupMode::Earliest,
            None => StartupMode::GroupOffsets,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "earliest-offset" => StartupMode::Earliest,
                "latest-offset" => StartupMode::Latest,
                "group-offsets" => StartupMode::GroupOffsets,
                "timestamp" => StartupMode::Timestamp(timestamp(options, "scan.startup")?),
                "specific-offsets" => {
                    StartupMode::Specific(offsets(options, "scan.startup", single_topic)?)
                }
                _ => {
                    return Err(options.invalid(
                        "scan.startup.mode",
                        v,
                        "expected 'earliest-offset', 'latest-offset', 'group-offsets', \
                         'timestamp' or 'specific-offsets'",
                    ))
                }
            },
        };
        // Read (and so accepted) whatever the mode, as Flink ignores them in other modes.
        if !upsert {
            options.get("scan.startup.timestamp-millis");
            options.get("scan.startup.specific-offsets");
        }
        options.get("scan.bounded.timestamp-millis");
        options.get("scan.bounded.specific-offsets");
        let bounded = match options.get("scan.bounded.mode") {
            None => BoundedMode::Unbounded,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "unbounded" => BoundedMode::Unbounded,
                "latest-offset" => BoundedMode::Latest,
                "group-offsets" => BoundedMode::GroupOffsets,
                "timestamp" => BoundedMode::Timestamp(timestamp(options, "scan.bounded")?),
                "specific-offsets" => {
                    BoundedMode::Specific(offsets(options, "scan.bounded", single_topic)?)
                }
                _ => {
                    return Err(options.invalid(
                        "scan.bounded.mode",
                        v,
                        "expected 'unbounded', 'latest-offset', 'group-offsets', 'timestamp' \
                         or 'specific-offsets'",
                    ))
                }
            },
        };
        let discovery =
            match options.get("scan.topic-partition-discovery.interval") {
                None => Some(DEFAULT_DISCOVERY),
                Some(v) if v.trim().starts_with('-') => None,
                Some(v) => match parse_duration(v) {
                    Some(d) if d.is_zero() => None,
                    Some(d) => Some(d),
                    None => return Err(options.invalid(
                        "scan.topic-partition-discovery.interval",
                        v,
                        "expected a duration such as '30 s' or '5 min' ('0' disables discovery)",
                    )),
                },
            }
            .filter(|_| bounded == BoundedMode::Unbounded);
        let parallelism = match options.parse::<usize>("scan.parallelism", "a positive integer")? {
            Some(0) => {
                return Err(options.invalid("scan.parallelism", "0", "expected a positive integer"))
            }
            p => p,
        };
        let property = |key: &str| config.properties.get(key).map(String::as_str);
        let group_id = property("group.id").map(str::to_string);
        let reset = match property("auto.offset.reset") {
            None => OffsetReset::None,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "earliest" => OffsetReset::Earliest,
                "latest" => OffsetReset::Latest,
                "none" => OffsetReset::None,
                _ => {
                    return Err(options.invalid(
                        "properties.auto.offset.reset",
                        v,
                        "expected 'earliest', 'latest' or 'none' (Flink's values)",
                    ))
                }
            },
        };
        let uses_group =
            startup == StartupMode::GroupOffsets || bounded == BoundedMode::GroupOffsets;
        if uses_group && group_id.is_none() {
            let option = if startup == StartupMode::GroupOffsets {
                "scan.startup.mode"
            } else {
                "scan.bounded.mode"
            };
            return Err(ConnectorError::MissingOption {
                table: options.table().name.clone(),
                option: "properties.group.id".into(),
                hint: format!(
                    "'{option}' = 'group-offsets' (the default startup mode) reads the offsets a \
                     consumer group committed: name it with 'properties.group.id', or set \
                     'scan.startup.mode' to 'earliest-offset' or 'latest-offset'"
                ),
            });
        }
        let commit_on_checkpoint = match property("commit.offsets.on.checkpoint") {
            None => true,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(options.invalid(
                        "properties.commit.offsets.on.checkpoint",
                        v,
                        "expected 'true' or 'false'",
                    ))
                }
            },
        };
        let api_timeout = match property("default.api.timeout.ms") {
            None => DEFAULT_API_TIMEOUT,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(options.invalid(
                        "properties.default.api.timeout.ms",
                        v,
                        "expected a positive number of milliseconds",
                    ))
                }
            },
        };
        let client_id_prefix = property("client.id.prefix")
            .map(str::to_string)
            .or_else(|| group_id.clone())
            .unwrap_or_else(|| format!("weir-{}", options.table().name));
        let source = SourceOptions {
            startup,
            reset,
            bounded,
            discovery,
            group_id,
            commit_on_checkpoint,
            parallelism,
            api_timeout,
            client_id_prefix,
        };
        // Refuses properties librdkafka does not know now, not when the job starts.
        source
            .consumer_config(config, 0)
            .create_native_config()
            .map_err(|e| property_error(options, e))?;
        Ok(source)
    }

    /// Whether the source ends by itself.
    pub(crate) fn is_bounded(&self) -> bool {
        self.bounded != BoundedMode::Unbounded
    }

    /// The librdkafka configuration of subtask `subtask`'s consumer: the table's
    /// `properties.*` (without those only Flink's source reads), no auto commit unless
    /// asked, partition-end events for a bounded source, Flink's `auto.offset.reset`
    /// for offsets out of range and the Java client's `isolation.level`.
    pub(crate) fn consumer_config(&self, config: &KafkaConfig, subtask: usize) -> ClientConfig {
        let mut client = ClientConfig::new();
        for (key, value) in &config.properties {
            if !SOURCE_PROPERTIES.contains(&key.as_str()) {
                client.set(key, value);
            }
        }
        let property = |key: &str| config.properties.get(key).map(String::as_str);
        match &self.group_id {
            Some(_) => {
                client.set(
                    "enable.auto.commit",
                    property("enable.auto.commit").unwrap_or("false"),
                );
            }
            None => {
                // librdkafka assigns partitions incrementally only in a consumer group:
                // a name of Weir's own, in which nothing is ever committed.
                client.set("group.id", format!("{}-no-group", self.client_id_prefix));
                client.set("enable.auto.commit", "false");
            }
        }
        client.set("enable.partition.eof", self.is_bounded().to_string());
        // Where a partition goes when its offset is out of range (deleted by retention):
        // Flink sets the consumer's auto.offset.reset from the startup mode so.
        let reset = match (&self.startup, self.reset) {
            (StartupMode::Latest | StartupMode::Timestamp(_), _) => "latest",
            (StartupMode::GroupOffsets, OffsetReset::Latest) => "latest",
            (StartupMode::GroupOffsets, OffsetReset::None) => "error",
            _ => "earliest",
        };
        client.set("auto.offset.reset", reset);
        if property("isolation.level").is_none() {
            // The Java client's default, which Flink keeps; librdkafka's is read_committed.
            client.set("isolation.level", "read_uncommitted");
        }
        if property("client.id").is_none() {
            client.set("client.id", format!("{}-{subtask}", self.client_id_prefix));
        }
        client
    }
}

/// `<prefix>.timestamp-millis`, required by the `timestamp` mode.
fn timestamp(options: &mut Options<'_>, prefix: &str) -> Result<i64, ConnectorError> {
    let key = format!("{prefix}.timestamp-millis");
    let mode = format!("{prefix}.mode");
    match options.parse::<i64>(&key, "epoch milliseconds, e.g. '1700000000000'")? {
        Some(ms) if ms >= 0 => Ok(ms),
        Some(ms) => Err(options.invalid(&key, &ms.to_string(), "expected epoch milliseconds >= 0")),
        None => Err(ConnectorError::MissingOption {
            table: options.table().name.clone(),
            option: key,
            hint: format!(
                "'{mode}' = 'timestamp' reads from a timestamp: add it in epoch milliseconds"
            ),
        }),
    }
}

/// `<prefix>.specific-offsets` (`partition:0,offset:42;partition:1,offset:300`), required
/// by the `specific-offsets` mode, for a single topic as in Flink.
fn offsets(
    options: &mut Options<'_>,
    prefix: &str,
    single_topic: bool,
) -> Result<BTreeMap<i32, i64>, ConnectorError> {
    let key = format!("{prefix}.specific-offsets");
    let mode = format!("{prefix}.mode");
    let Some(text) = options.get(&key) else {
        return Err(ConnectorError::MissingOption {
            table: options.table().name.clone(),
            option: key,
            hint: format!(
                "'{mode}' = 'specific-offsets' needs the offsets, e.g. \
                 'partition:0,offset:42;partition:1,offset:300'"
            ),
        });
    };
    if !single_topic {
        return Err(options.invalid(
            &mode,
            "specific-offsets",
            "specific offsets need a single topic in 'topic' (as in Flink)",
        ));
    }
    let mut offsets = BTreeMap::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = parse_offset_entry(entry)
            .ok_or_else(|| options.invalid(&key, text, &format!(
                "cannot read '{entry}': expected 'partition:<n>,offset:<n>' entries separated by ';'"
            )))?;
        if offsets.insert(parsed.0, parsed.1).is_some() {
            return Err(options.invalid(
                &key,
                text,
                &format!("partition {} is listed twice", parsed.0),
            ));
        }
    }
    if offsets.is_empty() {
        return Err(options.invalid(
            &key,
            text,
            "expected at least one 'partition:<n>,offset:<n>'",
        ));
    }
    Ok(offsets)
}

/// `partition:<n>,offset:<n>` (spaces allowed around the parts).
fn parse_offset_entry(entry: &str) -> Option<(i32, i64)> {
    let (partition, offset) = entry.split_once(',')?;
    let value = |part: &str, name: &str| -> Option<String> {
        let (k, v) = part.split_once(':')?;
        (k.trim() == name).then(|| v.trim().to_string())
    };
    let partition: i32 = value(partition, "partition")?.parse().ok()?;
    let offset: i64 = value(offset, "offset")?.parse().ok()?;
    (partition >= 0 && offset >= 0).then_some((partition, offset))
}

/// A property librdkafka refused, as an error naming the `properties.*` option.
fn property_error(options: &Options<'_>, error: KafkaError) -> ConnectorError {
    match error {
        KafkaError::ClientConfig(_, description, key, value) => options.invalid(
            &format!("properties.{key}"),
            &value,
            &format!(
                "{description}; Weir's Kafka client is librdkafka, whose properties are listed at \
                 https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md (for SASL, \
                 set 'properties.sasl.mechanism', 'properties.sasl.username' and \
                 'properties.sasl.password' instead of the Java client's 'sasl.jaas.config')"
            ),
        ),
        other => ConnectorError::Unsupported {
            table: options.table().name.clone(),
            message: format!("invalid Kafka client properties: {other}"),
        },
    }
}
