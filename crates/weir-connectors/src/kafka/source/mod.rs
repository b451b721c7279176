//! The `kafka` source: reads topics with Flink's options and semantics.
//!
//! - `options.rs`: `scan.startup.*`, `scan.bounded.*`, discovery, `scan.parallelism`,
//!   `properties.group.id` and the librdkafka consumer configuration.
//! - `assignment.rs`: the topics' partitions and the subtask reading each (Flink's
//!   enumerator's rule).
//! - `offsets.rs`: where partitions start and stop (earliest, latest, timestamp, group
//!   offsets, listed offsets).
//! - `reader.rs`: a subtask's reader: partitions are splits, read in batches from
//!   per-partition queues; positions for checkpoints, offsets committed to the group
//!   when a checkpoint completes, partitions discovered while running.
//! - `split.rs`: one partition's state, and its queued records turned into events.
//! - `decode.rs` and `metadata.rs`: records to the table's batches (value and key
//!   columns, metadata columns, malformed records to the dirty-data policy).
//! - `upsert.rs`: `upsert-kafka` records to upserts (`+U`) and deletions (`-D`) of their
//!   key, which the planner normalizes into a changelog (`SourceBinding::upsert_key`).
//! - `position.rs`: the checkpointed positions.
//!
//! Creating the source reads and checks every option without connecting; each subtask
//! connects when the job starts.

mod assignment;
mod context;
mod decode;
mod metadata;
mod offsets;
mod options;
mod position;
mod reader;
mod split;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checkpoint;
#[cfg(test)]
mod tests_columns;
#[cfg(test)]
mod tests_dirty;
#[cfg(test)]
mod tests_options;
#[cfg(test)]
mod tests_upsert;
mod upsert;

use std::sync::Arc;

use weir_formats::ReadColumns;
use weir_runtime::{SourceFactory, SourceReader, SubtaskContext};
use weir_types::{ChangelogKind, EngineResult};

use self::assignment::TopicSelector;
use self::decode::RunDecoder;
use self::metadata::RowPlan;
use self::options::{BoundedMode, SourceOptions, StartupMode};
use self::reader::KafkaReader;
use super::config::{KafkaConfig, Topics};
use super::dead_letter::DeadLetterTopic;
use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::dirty::{DeadLetterTarget, DirtyDataPolicy, DirtyDataStrategy, IgnoreOption};
use crate::options::Options;
use crate::SourceBinding;

/// What every subtask of a source shares.
pub(crate) struct SourceShared {
    /// Table name, for messages.
    pub table: String,
    /// The shared Kafka options.
    pub config: KafkaConfig,
    /// The source's options.
    pub options: SourceOptions,
    /// The topics read.
    pub selector: TopicSelector,
    /// What becomes of malformed records.
    pub dirty: DirtyDataPolicy,
}

/// Creates the source of a `kafka` table (`upsert` false) or an `upsert-kafka` one.
/// Reads and checks every option; connects to nothing.
pub fn create_source(
    table: &TableDescriptor,
    upsert: bool,
) -> Result<SourceBinding, ConnectorError> {
    let Checked {
        config,
        source,
        selector,
        dirty,
        plan,
    } = check(table, upsert)?;
    let description = describe(&config, &source, &dirty, upsert);
    let changelog = if upsert || config.value.produces_changelog() {
        ChangelogKind::Updating
    } else {
        ChangelogKind::AppendOnly
    };
    let upsert_key = match (&config.key, upsert) {
        (Some(key), true) => key.columns.clone(),
        _ => Vec::new(),
    };
    let bounded = source.is_bounded();
    let parallelism = source.parallelism;
    Ok(SourceBinding {
        factory: Arc::new(KafkaSourceFactory {
            shared: Arc::new(SourceShared {
                table: table.name.clone(),
                config,
                options: source,
                selector,
                dirty,
            }),
            table: table.clone(),
            plan,
            upsert,
            value_read: None,
        }),
        description,
        bounded,
        max_useful_parallelism: None,
        parallelism,
        changelog,
        upsert_key,
    })
}

/// Checks the options of an `upsert-kafka` table a query reads (for `weir test`, which
/// mocks its rows); `None`: nothing keeps this build from reading it.
pub fn validate_upsert_source(
    table: &TableDescriptor,
) -> Result<Option<ConnectorError>, ConnectorError> {
    check(table, true)?;
    Ok(None)
}

/// A table's options, read and checked.
struct Checked {
    config: KafkaConfig,
    source: SourceOptions,
    selector: TopicSelector,
    dirty: DirtyDataPolicy,
    plan: RowPlan,
}

/// Reads and checks every option of a `kafka` or `upsert-kafka` (`upsert`) table, and
/// that its formats can read its columns.
fn check(table: &TableDescriptor, upsert: bool) -> Result<Checked, ConnectorError> {
    let (config, source, selector, dirty) = read_options(table, upsert)?;
    if upsert && config.value.produces_changelog() {
        return Err(ConnectorError::InvalidOption {
            table: table.name.clone(),
            option: "value.format".into(),
            value: config.value.name().into(),
            reason: "an upsert-kafka table's records are already upserts of their key: its value \
                     format reads plain rows (e.g. 'json'), not a changelog, as in Flink; read a \
                     changelog topic with the 'kafka' connector instead"
                .into(),
        });
    }
    if !upsert && !table.primary_key.is_empty() && !config.value.produces_changelog() {
        return Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "a 'kafka' table with format '{}' cannot declare a PRIMARY KEY: its records are \
                 appends, so the key cannot be guaranteed (as in Flink); remove the PRIMARY KEY, \
                 or use 'upsert-kafka'",
                config.value.name()
            ),
        });
    }
    let plan = RowPlan::new(table, &config, upsert)?;
    // Checks that the formats can read the columns.
    RunDecoder::new(
        table,
        &config,
        plan.clone(),
        dirty.handler(&SubtaskContext::single("check")),
        None,
    )?;
    Ok(Checked {
        config,
        source,
        selector,
        dirty,
        plan,
    })
}

/// The shared options, the source's options, the topic selector and the dirty-data
/// policy of a table.
fn read_options(
    table: &TableDescriptor,
    upsert: bool,
) -> Result<(KafkaConfig, SourceOptions, TopicSelector, DirtyDataPolicy), ConnectorError> {
    let connector = if upsert { "upsert-kafka" } else { "kafka" };
    let mut options = Options::new(table, connector);
    let config = KafkaConfig::read(&mut options, upsert)?;
    let source = SourceOptions::read(&mut options, &config, upsert)?;
    let value_prefix = if table.options.contains_key("value.format") {
        "value."
    } else {
        ""
    };
    let mut formats = vec![IgnoreOption::of(&config.value, value_prefix)];
    if let Some(key) = &config.key {
        formats.push(IgnoreOption::of(&key.format, "key."));
    }
    let topic_target = |_: &mut Options<'_>, topic: &str| {
        Ok(
            Arc::new(DeadLetterTopic::new(&config, topic, source.api_timeout))
                as Arc<dyn DeadLetterTarget>,
        )
    };
    let dirty = DirtyDataPolicy::read_with(&mut options, &formats, Some(&topic_target))?;
    options.finish()?;
    let selector =
        TopicSelector::new(&config.topics).map_err(|reason| ConnectorError::InvalidOption {
            table: table.name.clone(),
            option: "topic-pattern".into(),
            value: match &config.topics {
                Topics::Pattern(p) => p.clone(),
                Topics::Names(n) => n.join(";"),
            },
            reason: format!("not a valid regular expression: {reason}"),
        })?;
    Ok((config, source, selector, dirty))
}

/// `kafka(topic=orders, format=json, startup=earliest-offset, bounded=latest-offset)`.
fn describe(
    config: &KafkaConfig,
    source: &SourceOptions,
    dirty: &DirtyDataPolicy,
    upsert: bool,
) -> String {
    let topics = match &config.topics {
        Topics::Names(names) => format!("topic={}", names.join(";")),
        Topics::Pattern(pattern) => format!("topic-pattern={pattern}"),
    };
    let startup = match &source.startup {
        StartupMode::Earliest => "earliest-offset".to_string(),
        StartupMode::Latest => "latest-offset".to_string(),
        StartupMode::GroupOffsets => "group-offsets".to_string(),
        StartupMode::Timestamp(ts) => format!("timestamp {ts}"),
        StartupMode::Specific(_) => "specific-offsets".to_string(),
    };
    let connector = if upsert { "upsert-kafka" } else { "kafka" };
    let mut text = format!(
        "{connector}({topics}, format={}, startup={startup}",
        config.value.name()
    );
    if let (true, Some(key)) = (upsert, &config.key) {
        text.push_str(&format!(", key={}", key.columns.join(",")));
    }
    let bounded = match &source.bounded {
        BoundedMode::Unbounded => None,
        BoundedMode::Latest => Some("latest-offset".to_string()),
        BoundedMode::GroupOffsets => Some("group-offsets".to_string()),
        BoundedMode::Timestamp(ts) => Some(format!("timestamp {ts}")),
        BoundedMode::Specific(_) => Some("specific-offsets".to_string()),
    };
    if let Some(b) = bounded {
        text.push_str(&format!(", bounded={b}"));
    }
    if dirty.strategy() != DirtyDataStrategy::Fail {
        text.push_str(&format!(", dirty-data={}", dirty.describe()));
    }
    text.push(')');
    text
}

/// Creates the subtasks' readers.
#[derive(Clone)]
struct KafkaSourceFactory {
    shared: Arc<SourceShared>,
    table: TableDescriptor,
    plan: RowPlan,
    /// An `upsert-kafka` table.
    upsert: bool,
    /// The value columns a job reads (projection pushdown); `None`: all of them.
    value_read: Option<ReadColumns>,
}

impl SourceFactory for KafkaSourceFactory {
    fn is_bounded(&self) -> bool {
        self.shared.options.is_bounded()
    }

    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        let decoder = RunDecoder::new(
            &self.table,
            &self.shared.config,
            self.plan.clone(),
            self.shared.dirty.handler(ctx),
            self.value_read.as_ref(),
        )
        .map_err(|e| weir_types::EngineError::Config(e.to_string()))?;
        let decoder = if self.upsert {
            decoder.upsert()
        } else {
            decoder
        };
        Ok(Box::new(KafkaReader::open(
            self.shared.clone(),
            ctx.subtask,
            ctx.parallelism.max(1),
            decoder,
        )?))
    }

    fn reading_only(&self, read: &[bool]) -> Option<Arc<dyn SourceFactory>> {
        if !self.shared.config.value.reads_by_name() {
            return None;
        }
        let columns = self.shared.config.value_columns.len();
        let value_read = self.plan.value_read(read, columns);
        if value_read.iter().all(|&r| r) {
            return None;
        }
        Some(Arc::new(KafkaSourceFactory {
            value_read: Some(ReadColumns::new(value_read)),
            ..self.clone()
        }))
    }
}
