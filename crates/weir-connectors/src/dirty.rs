//! The dirty-data policy of a source table: what becomes of a record its format cannot
//! decode (a malformed line of a file, a malformed Kafka message).
//!
//! ```sql
//! CREATE TABLE orders (...) WITH (
//!   'connector' = 'filesystem', 'path' = 'in', 'format' = 'json',
//!   'weir.dirty-data.strategy' = 'dead-letter',
//!   'weir.dirty-data.dead-letter.path' = 'dead-letter');
//! ```
//!
//! - `weir.dirty-data.strategy` = `fail` (default): the job fails with an error naming
//!   the table, where the record is (file and line, or topic, partition and offset), why
//!   it is malformed, and what to do.
//! - `skip`: the record is dropped and counted in
//!   [`JobMetrics::records_skipped`]. `<format>.ignore-parse-errors` = `'true'` (Flink's
//!   option) means `skip`; with another strategy it is a conflict, refused.
//! - `dead-letter`: the record is written to the table's dead-letter target and counted
//!   in [`JobMetrics::records_dead_lettered`]. The target is a folder,
//!   `weir.dirty-data.dead-letter.path` (relative paths resolve against the script's
//!   folder; under `weir test`, against the run's temporary folder), where each source
//!   subtask appends JSON lines to `dead-letter-<table>-<subtask>.jsonl`:
//!   `{"table", "source", "partition", "offset", "line", "error", "raw" | "raw_base64",
//!   "time"}` (see [`DeadLetterRecord::to_json_line`]). A Kafka source may instead name a
//!   topic, `weir.dirty-data.dead-letter.topic`, which receives the same JSON as message
//!   values (the Kafka target, in `kafka/dead_letter.rs`, implements
//!   [`DeadLetterTarget`]); exactly one of the two targets is set.
//!
//! Sources build a [`DirtyDataPolicy`] when the table is created
//! ([`DirtyDataPolicy::read`]), a [`DirtyDataHandler`] per subtask, hand it each bad
//! record ([`DirtyDataHandler::on_bad_record`]) and [flush](DirtyDataHandler::flush) it at
//! least after every batch they read and before they snapshot their position for a
//! checkpoint. Dead-letter output is therefore *at least once*: a job restored from a
//! checkpoint reads again what followed the checkpoint, and writes its bad records again.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use weir_formats::{FormatConfig, FormatError};
use weir_runtime::{JobMetrics, SubtaskContext};
use weir_types::{EngineError, EngineResult};

use crate::descriptor::ConnectorError;
use crate::options::Options;

/// The option choosing the strategy.
pub const STRATEGY_OPTION: &str = "weir.dirty-data.strategy";
/// The option naming the dead-letter folder.
pub const DEAD_LETTER_PATH_OPTION: &str = "weir.dirty-data.dead-letter.path";
/// The option naming the dead-letter topic (Kafka sources).
pub const DEAD_LETTER_TOPIC_OPTION: &str = "weir.dirty-data.dead-letter.topic";

/// Builds a dead-letter topic target from the topic's name, for the sources that have
/// one (Kafka): it may read more of the table's options (its cluster).
pub type TopicTarget<'f> =
    &'f dyn Fn(&mut Options<'_>, &str) -> Result<Arc<dyn DeadLetterTarget>, ConnectorError>;

/// A format's `ignore-parse-errors` option, as the table writes it
/// (`value.json.ignore-parse-errors`), and whether it is true.
#[derive(Debug, Clone)]
pub struct IgnoreOption {
    /// The option's name.
    pub option: String,
    /// Its value.
    pub ignores: bool,
}

impl IgnoreOption {
    /// The option of `format`, its keys prefixed with `prefix` (`""`, `"key."`,
    /// `"value."`).
    pub fn of(format: &FormatConfig, prefix: &str) -> IgnoreOption {
        IgnoreOption {
            option: format!("{prefix}{}.ignore-parse-errors", format.name()),
            ignores: format.ignores_parse_errors(),
        }
    }
}

/// What becomes of a malformed record (`weir.dirty-data.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirtyDataStrategy {
    /// `fail`: the job fails (the default, as in Flink).
    #[default]
    Fail,
    /// `skip`: the record is dropped and counted.
    Skip,
    /// `dead-letter`: the record is written to the dead-letter target and counted.
    DeadLetter,
}

impl DirtyDataStrategy {
    /// The option value naming the strategy.
    pub fn name(self) -> &'static str {
        match self {
            DirtyDataStrategy::Fail => "fail",
            DirtyDataStrategy::Skip => "skip",
            DirtyDataStrategy::DeadLetter => "dead-letter",
        }
    }
}

/// A record a source could not decode, with where it came from.
#[derive(Debug, Clone, Copy)]
pub struct BadRecord<'a> {
    /// Its bytes, as read (a line without its terminator, a message value).
    pub raw: &'a [u8],
    /// The file path (as the table's `path` names it) or the topic.
    pub source: &'a str,
    /// The Kafka partition; `None` for files.
    pub partition: Option<i32>,
    /// The Kafka offset; `None` for files.
    pub offset: Option<i64>,
    /// The 1-based line number in the file; `None` for Kafka.
    pub line: Option<u64>,
    /// Why it could not be decoded.
    pub error: &'a FormatError,
}

impl BadRecord<'_> {
    /// Where the record is: `'in/a.json' line 7` or `topic 'orders' partition 2 offset 41`.
    pub fn location(&self) -> String {
        let mut out = match self.partition {
            Some(partition) => format!("topic '{}' partition {partition}", self.source),
            None => format!("'{}'", self.source),
        };
        if let Some(offset) = self.offset {
            out.push_str(&format!(" offset {offset}"));
        }
        if let Some(line) = self.line {
            out.push_str(&format!(" line {line}"));
        }
        out
    }
}

/// A bad record as a dead-letter target receives it.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterRecord<'a> {
    /// The table whose source read it.
    pub table: &'a str,
    /// The record.
    pub record: &'a BadRecord<'a>,
    /// The Kafka message's key, as read (a topic target writes it as the key); `None`
    /// for files and keyless messages.
    pub key: Option<&'a [u8]>,
    /// When it was read.
    pub time: DateTime<Utc>,
}

/// The JSON object of a dead-letter line, fields in this order.
#[derive(Serialize)]
struct JsonLine<'a> {
    table: &'a str,
    source: &'a str,
    partition: Option<i32>,
    offset: Option<i64>,
    line: Option<u64>,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_base64: Option<String>,
    time: String,
}

impl DeadLetterRecord<'_> {
    /// The record as one JSON object (no line break): `{"table":"orders","source":
    /// "in/a.json","partition":null,"offset":null,"line":7,"error":"...","raw":"...",
    /// "time":"2024-05-01T09:00:00.123Z"}`. `raw` holds the record's bytes when they are
    /// UTF-8; otherwise `raw_base64` holds them in Base64 (and `raw` is absent). `error`
    /// is the reason the format gave, without where nor what to do.
    pub fn to_json_line(&self) -> String {
        let bad = self.record;
        let text = std::str::from_utf8(bad.raw).ok();
        let line = JsonLine {
            table: self.table,
            source: bad.source,
            partition: bad.partition,
            offset: bad.offset,
            line: bad.line,
            error: bad.error.reason(),
            raw: text,
            raw_base64: text
                .is_none()
                .then(|| base64::engine::general_purpose::STANDARD.encode(bad.raw)),
            time: self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
        };
        // Serializing strings, numbers and nulls cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// Where dead-lettered records go (a folder of JSON-lines files; a Kafka topic).
pub trait DeadLetterTarget: Send + Sync {
    /// Says where, for `explain` and errors: `folder 'dead-letter'`.
    fn describe(&self) -> String;

    /// The writer of one source subtask of `table`. Called when the subtask meets its
    /// first bad record.
    fn open(&self, table: &str, subtask: usize) -> EngineResult<Box<dyn DeadLetterWriter>>;
}

/// Writes the dead-lettered records of one source subtask.
pub trait DeadLetterWriter: Send {
    /// Writes (or buffers) one record.
    fn write(&mut self, record: &DeadLetterRecord<'_>) -> EngineResult<()>;

    /// Makes every record written so far durable. Called after every batch the source
    /// read and before it snapshots its position for a checkpoint.
    fn flush(&mut self) -> EngineResult<()>;
}

/// `weir.dirty-data.dead-letter.path`: a folder where each source subtask appends JSON
/// lines to `dead-letter-<table>-<subtask>.jsonl`.
#[derive(Debug, Clone)]
pub struct DeadLetterFolder {
    dir: PathBuf,
    /// The path as the option names it.
    display: String,
}

impl DeadLetterFolder {
    /// The folder `dir`, named `display` in messages. Nothing is created before a
    /// subtask writes its first record.
    pub fn new(dir: PathBuf, display: &str) -> DeadLetterFolder {
        DeadLetterFolder {
            dir,
            display: display.to_string(),
        }
    }

    /// The file subtask `subtask` of `table` appends to.
    pub fn file_name(table: &str, subtask: usize) -> String {
        let table: String = table
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("dead-letter-{table}-{subtask}.jsonl")
    }
}

impl DeadLetterTarget for DeadLetterFolder {
    fn describe(&self) -> String {
        format!("folder '{}'", self.display)
    }

    fn open(&self, table: &str, subtask: usize) -> EngineResult<Box<dyn DeadLetterWriter>> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            EngineError::io(
                format!(
                    "table '{table}': cannot create the dead-letter folder '{}' (resolved to \
                     {}); check '{DEAD_LETTER_PATH_OPTION}'",
                    self.display,
                    self.dir.display()
                ),
                e,
            )
        })?;
        let path = self.dir.join(DeadLetterFolder::file_name(table, subtask));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                EngineError::io(
                    format!(
                        "table '{table}': cannot open the dead-letter file {}",
                        path.display()
                    ),
                    e,
                )
            })?;
        Ok(Box::new(DeadLetterFile {
            out: BufWriter::new(file),
            path,
            unsynced: false,
        }))
    }
}

/// One subtask's file in a [`DeadLetterFolder`].
struct DeadLetterFile {
    out: BufWriter<File>,
    path: PathBuf,
    /// Records were written since the last flush.
    unsynced: bool,
}

impl DeadLetterFile {
    fn io_error(&self, e: std::io::Error) -> EngineError {
        EngineError::io(
            format!("cannot write the dead-letter file {}", self.path.display()),
            e,
        )
    }
}

impl DeadLetterWriter for DeadLetterFile {
    fn write(&mut self, record: &DeadLetterRecord<'_>) -> EngineResult<()> {
        let mut line = record.to_json_line();
        line.push('\n');
        self.out
            .write_all(line.as_bytes())
            .map_err(|e| self.io_error(e))?;
        self.unsynced = true;
        Ok(())
    }

    fn flush(&mut self) -> EngineResult<()> {
        if !self.unsynced {
            return Ok(());
        }
        self.out.flush().map_err(|e| self.io_error(e))?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(|e| self.io_error(e))?;
        self.unsynced = false;
        Ok(())
    }
}

/// A table's dirty-data policy: the strategy, and the dead-letter target for
/// `dead-letter`.
#[derive(Clone)]
pub struct DirtyDataPolicy {
    table: String,
    strategy: DirtyDataStrategy,
    target: Option<Arc<dyn DeadLetterTarget>>,
    /// Whether the source can dead-letter to a topic (named in the `fail` message).
    topics: bool,
}

impl fmt::Debug for DirtyDataPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl DirtyDataPolicy {
    /// A policy for `table`. `target` is needed by [`DirtyDataStrategy::DeadLetter`]
    /// and ignored by the other strategies.
    pub fn new(
        table: &str,
        strategy: DirtyDataStrategy,
        target: Option<Arc<dyn DeadLetterTarget>>,
    ) -> Result<DirtyDataPolicy, ConnectorError> {
        if strategy == DirtyDataStrategy::DeadLetter && target.is_none() {
            return Err(ConnectorError::MissingOption {
                table: table.to_string(),
                option: DEAD_LETTER_PATH_OPTION.into(),
                hint: format!(
                    "'{STRATEGY_OPTION}' = 'dead-letter' needs a target: add \
                     '{DEAD_LETTER_PATH_OPTION}' = 'dead-letter' (a folder)"
                ),
            });
        }
        Ok(DirtyDataPolicy {
            table: table.to_string(),
            target: target.filter(|_| strategy == DirtyDataStrategy::DeadLetter),
            strategy,
            topics: false,
        })
    }

    /// Reads `weir.dirty-data.strategy` and `weir.dirty-data.dead-letter.path` of the
    /// table `options` reads, with its `format` (whose `ignore-parse-errors` means
    /// `skip`). Conflicting or incomplete options are refused with what to change.
    pub fn read(
        options: &mut Options<'_>,
        format: &FormatConfig,
    ) -> Result<DirtyDataPolicy, ConnectorError> {
        DirtyDataPolicy::read_with(options, &[IgnoreOption::of(format, "")], None)
    }

    /// [`DirtyDataPolicy::read`] for a table with several formats (a Kafka key and
    /// value), each with its `ignore-parse-errors` option: without a strategy, the
    /// policy is `skip` when every format ignores parse errors and `fail` otherwise (the
    /// source skips the bad records of a format that ignores them itself, see
    /// [`DirtyDataHandler::skip`]); with a strategy other than `skip`, a format ignoring
    /// parse errors is a conflict. `topic`, for a source that can write to a topic,
    /// reads `weir.dirty-data.dead-letter.topic`.
    pub fn read_with(
        options: &mut Options<'_>,
        formats: &[IgnoreOption],
        topic: Option<TopicTarget<'_>>,
    ) -> Result<DirtyDataPolicy, ConnectorError> {
        let table = options.table().name.clone();
        let ignoring = formats.iter().find(|f| f.ignores);
        let all_ignore = !formats.is_empty() && formats.iter().all(|f| f.ignores);
        let strategy = match options.get(STRATEGY_OPTION) {
            None => None,
            Some(v) => Some(match v.trim().to_ascii_lowercase().as_str() {
                "fail" => DirtyDataStrategy::Fail,
                "skip" => DirtyDataStrategy::Skip,
                "dead-letter" => DirtyDataStrategy::DeadLetter,
                _ => {
                    return Err(options.invalid(
                        STRATEGY_OPTION,
                        v,
                        "expected 'fail', 'skip' or 'dead-letter'",
                    ))
                }
            }),
        };
        let strategy = match (strategy, ignoring) {
            (None, _) if all_ignore => DirtyDataStrategy::Skip,
            (None, _) => DirtyDataStrategy::Fail,
            (Some(s), None) | (Some(s @ DirtyDataStrategy::Skip), Some(_)) => s,
            (Some(s), Some(ignoring)) => {
                return Err(ConnectorError::Unsupported {
                    table,
                    message: format!(
                        "'{}' = 'true' skips malformed records, which conflicts \
                         with '{STRATEGY_OPTION}' = '{}'; remove one of the two options",
                        ignoring.option,
                        s.name()
                    ),
                })
            }
        };
        let path = options.get(DEAD_LETTER_PATH_OPTION);
        if let Some(make_topic) = topic {
            if let Some(name) = options.get(DEAD_LETTER_TOPIC_OPTION) {
                let name = name.trim().to_string();
                let problem = if let Some(path) = path {
                    Some(format!(
                        "set either '{DEAD_LETTER_PATH_OPTION}' (now '{path}') or \
                         '{DEAD_LETTER_TOPIC_OPTION}', not both"
                    ))
                } else if strategy != DirtyDataStrategy::DeadLetter {
                    Some(format!(
                        "only used with '{STRATEGY_OPTION}' = 'dead-letter' (the strategy is \
                         '{}'); set that strategy or remove the option",
                        strategy.name()
                    ))
                } else if name.is_empty() {
                    Some("expected a topic name".to_string())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(options.invalid(DEAD_LETTER_TOPIC_OPTION, &name, &problem));
                }
                let target = make_topic(options, &name)?;
                let mut policy = DirtyDataPolicy::new(&table, strategy, Some(target))?;
                policy.topics = true;
                return Ok(policy);
            }
            if strategy == DirtyDataStrategy::DeadLetter && path.is_none() {
                return Err(ConnectorError::MissingOption {
                    table,
                    option: DEAD_LETTER_PATH_OPTION.into(),
                    hint: format!(
                        "'{STRATEGY_OPTION}' = 'dead-letter' needs a target: add \
                         '{DEAD_LETTER_PATH_OPTION}' = 'dead-letter' (a folder) or \
                         '{DEAD_LETTER_TOPIC_OPTION}' = 'orders-dead-letter' (a topic of the \
                         same cluster)"
                    ),
                });
            }
        }
        let target: Option<Arc<dyn DeadLetterTarget>> = match (strategy, path) {
            (DirtyDataStrategy::DeadLetter, Some(path)) => {
                let dir = dead_letter_dir(options, path)?;
                if dir.is_file() {
                    return Err(options.invalid(
                        DEAD_LETTER_PATH_OPTION,
                        path,
                        &format!("{} is a file; name a folder", dir.display()),
                    ));
                }
                Some(Arc::new(DeadLetterFolder::new(dir, path)))
            }
            (_, Some(path)) => {
                return Err(options.invalid(
                    DEAD_LETTER_PATH_OPTION,
                    path,
                    &format!(
                        "only used with '{STRATEGY_OPTION}' = 'dead-letter' (the strategy is \
                         '{}'); set that strategy or remove the option",
                        strategy.name()
                    ),
                ))
            }
            (_, None) => None,
        };
        let mut policy = DirtyDataPolicy::new(&table, strategy, target)?;
        policy.topics = topic.is_some();
        Ok(policy)
    }

    /// The strategy.
    pub fn strategy(&self) -> DirtyDataStrategy {
        self.strategy
    }

    /// E.g. `dead-letter to folder 'dlq'`, for `explain`.
    pub fn describe(&self) -> String {
        match &self.target {
            Some(target) => format!("dead-letter to {}", target.describe()),
            None => self.strategy.name().to_string(),
        }
    }

    /// The handler of source subtask `ctx.subtask`, counting in `ctx.metrics`.
    pub fn handler(&self, ctx: &SubtaskContext) -> DirtyDataHandler {
        DirtyDataHandler {
            table: self.table.clone(),
            strategy: self.strategy,
            target: self.target.clone(),
            subtask: ctx.subtask,
            metrics: ctx.metrics.clone(),
            writer: None,
            topics: self.topics,
        }
    }
}

/// Resolves the dead-letter folder: against the script's folder, or, under `weir test`,
/// against the run's temporary folder (so that tests write nothing beside the script).
fn dead_letter_dir(options: &Options<'_>, path: &str) -> Result<PathBuf, ConnectorError> {
    let bare = path
        .strip_prefix("file://")
        .or_else(|| path.strip_prefix("file:"))
        .unwrap_or(path);
    let bare = Path::new(bare);
    if bare.is_absolute() {
        return Ok(bare.to_path_buf());
    }
    let base = match crate::mock::current() {
        Some(run) => run.output_dir(),
        None => options.table().base_dir.clone(),
    };
    Ok(base.join(bare))
}

/// Applies a table's [`DirtyDataPolicy`] in one source subtask.
pub struct DirtyDataHandler {
    table: String,
    strategy: DirtyDataStrategy,
    target: Option<Arc<dyn DeadLetterTarget>>,
    subtask: usize,
    metrics: Arc<JobMetrics>,
    /// Opened at the first bad record.
    writer: Option<Box<dyn DeadLetterWriter>>,
    /// Whether the source can dead-letter to a topic (named in the `fail` message).
    topics: bool,
}

impl DirtyDataHandler {
    /// The strategy.
    pub fn strategy(&self) -> DirtyDataStrategy {
        self.strategy
    }

    /// Handles a record the format could not decode: `fail` returns the error that
    /// fails the job, `skip` counts it, `dead-letter` writes it to the target (buffered
    /// until [`DirtyDataHandler::flush`]) and counts it.
    pub fn on_bad_record(&mut self, bad: &BadRecord<'_>) -> EngineResult<()> {
        self.on_bad_message(bad, None)
    }

    /// [`DirtyDataHandler::on_bad_record`] for a Kafka message with its key (which a
    /// dead-letter topic receives as the key).
    pub fn on_bad_message(&mut self, bad: &BadRecord<'_>, key: Option<&[u8]>) -> EngineResult<()> {
        match self.strategy {
            DirtyDataStrategy::Fail => Err(self.failure(bad)),
            DirtyDataStrategy::Skip => {
                JobMetrics::add(&self.metrics.records_skipped, 1);
                Ok(())
            }
            DirtyDataStrategy::DeadLetter => {
                let writer = match &mut self.writer {
                    Some(writer) => writer,
                    None => {
                        let target = self.target.as_ref().ok_or_else(|| {
                            EngineError::Internal(format!(
                                "table '{}': dead-letter strategy without a target",
                                self.table
                            ))
                        })?;
                        self.writer.insert(target.open(&self.table, self.subtask)?)
                    }
                };
                writer.write(&DeadLetterRecord {
                    table: &self.table,
                    record: bad,
                    key,
                    time: Utc::now(),
                })?;
                JobMetrics::add(&self.metrics.records_dead_lettered, 1);
                Ok(())
            }
        }
    }

    /// Drops a bad record whatever the strategy, counted as skipped: for a format whose
    /// own `ignore-parse-errors` is true while another format of the table fails.
    pub fn skip(&mut self) {
        JobMetrics::add(&self.metrics.records_skipped, 1);
    }

    /// Makes the dead-lettered records durable (nothing to do for other strategies).
    pub fn flush(&mut self) -> EngineResult<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }

    /// The error of `fail`: the table, where, why, and what to do.
    fn failure(&self, bad: &BadRecord<'_>) -> EngineError {
        let topic = if self.topics {
            format!(" (or '{DEAD_LETTER_TOPIC_OPTION}' = '<topic>')")
        } else {
            String::new()
        };
        EngineError::BadData(format!(
            "table '{}': cannot decode the record at {}: {} (record: {}); fix the data where \
             it is produced, or set '{STRATEGY_OPTION}' = 'skip' to skip malformed records, \
             or 'dead-letter' with '{DEAD_LETTER_PATH_OPTION}' = '<folder>'{topic} to set them \
             aside",
            self.table,
            bad.location(),
            bad.error.reason(),
            excerpt(bad.raw),
        ))
    }
}

/// The first 200 characters of a record, for error messages.
fn excerpt(raw: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(raw);
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests;
