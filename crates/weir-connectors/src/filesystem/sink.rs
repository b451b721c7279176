//! The `filesystem` sink: each subtask encodes batches into rolling part files, written
//! hidden and renamed into place once complete: when closed, or, with checkpointing,
//! when the checkpoint that staged them completes ([`super::commit`]).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use weir_formats::{FormatConfig, FormatError, RecordEncoder};
use weir_runtime::{Operator, Output, StateSnapshot, SubtaskContext};
use weir_types::{ChangelogKind, EngineError, EngineResult, ROW_KIND_COLUMN};

use super::commit::{self, Staged, Writer};
use super::{format_error, read_format, resolve_path, CONNECTOR};
use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::options::Options;
use crate::SinkBinding;

/// Flink's default `sink.rolling-policy.file-size`.
const DEFAULT_FILE_SIZE: u64 = 128 << 20;
/// Flink's default `sink.rolling-policy.rollover-interval`.
const DEFAULT_ROLLOVER: Duration = Duration::from_secs(30 * 60);

/// When a part file is closed and the next one started.
#[derive(Debug, Clone, Copy)]
struct RollingPolicy {
    file_size: u64,
    rollover: Duration,
}

/// Creates a `filesystem` sink for `table`. An updating stream needs `debezium-json`.
pub fn create_sink(
    table: &TableDescriptor,
    changelog: ChangelogKind,
) -> Result<SinkBinding, ConnectorError> {
    let mut options = Options::new(table, CONNECTOR);
    let path = options.required("path", "add 'path' = 'out/' (a folder for the part files)")?;
    let format = read_format(&mut options, table)?;
    let file_size = match options.get("sink.rolling-policy.file-size") {
        None => DEFAULT_FILE_SIZE,
        Some(v) => parse_memory_size(v).filter(|n| *n > 0).ok_or_else(|| {
            options.invalid(
                "sink.rolling-policy.file-size",
                v,
                "expected a size such as '128MB', '512 kb' or '1gb'",
            )
        })?,
    };
    let rollover = options
        .duration("sink.rolling-policy.rollover-interval")?
        .unwrap_or(DEFAULT_ROLLOVER);
    // Rolling is checked after every batch; the option is accepted for Flink scripts.
    options.duration("sink.rolling-policy.check-interval")?;
    let parallelism = sink_parallelism(&mut options)?;
    options.finish()?;

    if changelog == ChangelogKind::Updating && !format.accepts_updates() {
        let error = FormatError::UpdatingInput {
            format: format.name().to_string(),
        };
        return Err(format_error(table, error));
    }
    refuse_written_metadata(table)?;
    let schema = data_schema(table);
    format
        .encoder(&schema)
        .map_err(|e| format_error(table, e))?;

    let dir = resolve_path(table, path);
    let id = stable_lineage(&table.name, &dir);
    let sink = Arc::new(SinkSpec {
        table: table.name.clone(),
        path: path.to_string(),
        dir,
        format: format.clone(),
        schema,
        policy: RollingPolicy {
            file_size,
            rollover,
        },
        id,
    });
    let description = format!("{CONNECTOR}(path={path}, format={})", format.name());
    Ok(SinkBinding {
        factory: Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(FileSink::new(sink.clone(), ctx)?))
            },
        ),
        description,
        parallelism,
    })
}

/// The lineage of a sink's in-progress files on a fresh start: a hash (FNV-1a) of the
/// table's name and folder, the same in every run, so that a run can find the files an
/// earlier one left before recording them in a checkpoint. Two jobs must not write the
/// same table's folder at once (they would delete each other's unfinished files).
fn stable_lineage(table: &str, dir: &std::path::Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in table
        .bytes()
        .chain([0])
        .chain(dir.as_os_str().as_encoded_bytes().iter().copied())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Reads `sink.parallelism`, a positive integer.
pub(crate) fn sink_parallelism(options: &mut Options<'_>) -> Result<Option<usize>, ConnectorError> {
    let parallelism: Option<usize> = options.parse("sink.parallelism", "a positive integer")?;
    if parallelism == Some(0) {
        return Err(options.invalid("sink.parallelism", "0", "expected a positive integer"));
    }
    Ok(parallelism)
}

/// Sinks here cannot write metadata: a metadata column must be `VIRTUAL`.
pub(crate) fn refuse_written_metadata(table: &TableDescriptor) -> Result<(), ConnectorError> {
    match table.metadata.iter().find(|m| !m.is_virtual) {
        None => Ok(()),
        Some(m) => Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "connector '{}' cannot write metadata column '{}'; declare it VIRTUAL",
                table.options.get("connector").map_or("?", String::as_str),
                m.column
            ),
        }),
    }
}

/// The columns a sink writes: the table's columns without metadata columns.
pub(crate) fn data_schema(table: &TableDescriptor) -> SchemaRef {
    let fields: Vec<_> = table
        .schema
        .fields()
        .iter()
        .filter(|f| !table.is_metadata(f.name()))
        .cloned()
        .collect();
    Arc::new(Schema::new(fields))
}

/// Parses Flink's memory sizes: a number and a unit (`b`, `kb`, `mb`, `gb`, `tb`, or
/// their one-letter and long forms), powers of 1024; no unit means bytes.
fn parse_memory_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        _ => return None,
    };
    value.checked_mul(1u64 << shift)
}

/// A random UUID (version 4), as Flink names part files.
fn random_uuid() -> String {
    let v: u128 = rand::random();
    let v = (v & !(0xf000 << 64)) | (0x4000 << 64);
    let v = (v & !(0xc000 << 48)) | (0x8000 << 48);
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// What every subtask of one sink shares.
struct SinkSpec {
    table: String,
    /// The `path` option as written.
    path: String,
    dir: PathBuf,
    format: FormatConfig,
    schema: SchemaRef,
    policy: RollingPolicy,
    id: String,
}

/// A part file being written.
struct PartFile {
    in_progress: PathBuf,
    target: PathBuf,
    writer: BufWriter<File>,
    bytes: u64,
    opened: Instant,
}

impl PartFile {
    /// Flushes and syncs the file: it is complete, ready to be renamed.
    fn close(mut self) -> EngineResult<Staged> {
        let context = || format!("cannot complete part file '{}'", self.target.display());
        self.writer
            .flush()
            .map_err(|e| EngineError::io(context(), e))?;
        self.writer
            .get_ref()
            .sync_all()
            .map_err(|e| EngineError::io(context(), e))?;
        Ok(Staged {
            in_progress: self.in_progress,
            target: self.target,
        })
    }
}

/// One sink subtask.
struct FileSink {
    spec: Arc<SinkSpec>,
    encoder: Box<dyn RecordEncoder>,
    subtask: usize,
    parallelism: usize,
    /// Commit at checkpoints (two-phase) rather than when a file is closed.
    checkpointing: bool,
    /// This instance's random id in its part files' names.
    run: String,
    /// Suffix of the in-progress files: the first run's id, kept through restores.
    lineage: String,
    /// Whether a checkpoint was restored (it names the in-progress files to delete).
    restored: bool,
    /// Whether the in-progress files a never-checkpointed run left were deleted.
    swept: bool,
    counter: u64,
    current: Option<PartFile>,
    /// Closed files not yet in a checkpoint (checkpointing only).
    staged: Vec<Staged>,
    /// Closed files in a checkpoint, not yet committed, with its id.
    pending: Vec<(u64, Staged)>,
    buffer: Vec<u8>,
}

impl FileSink {
    fn new(spec: Arc<SinkSpec>, ctx: &SubtaskContext) -> EngineResult<FileSink> {
        fs::create_dir_all(&spec.dir).map_err(|e| {
            EngineError::io(
                format!(
                    "table '{}': cannot create folder '{}'",
                    spec.table,
                    spec.dir.display()
                ),
                e,
            )
        })?;
        let encoder = spec
            .format
            .encoder(&spec.schema)
            .map_err(|e| EngineError::Config(format!("table '{}': {e}", spec.table)))?;
        Ok(FileSink {
            lineage: spec.id.clone(),
            restored: false,
            swept: false,
            spec,
            encoder,
            subtask: ctx.subtask,
            parallelism: ctx.parallelism.max(1),
            checkpointing: ctx.checkpointing,
            run: random_uuid(),
            counter: 0,
            current: None,
            staged: Vec::new(),
            pending: Vec::new(),
            buffer: Vec::new(),
        })
    }

    fn open_part(&mut self) -> EngineResult<PartFile> {
        self.sweep_unrecorded()?;
        let name = format!("part-{}-{}-{}", self.run, self.subtask, self.counter);
        self.counter += 1;
        let in_progress = self
            .spec
            .dir
            .join(commit::in_progress_name(&name, &self.lineage));
        let file = File::create(&in_progress).map_err(|e| {
            EngineError::io(format!("cannot create '{}'", in_progress.display()), e)
        })?;
        Ok(PartFile {
            target: self.spec.dir.join(name),
            in_progress,
            writer: BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            opened: Instant::now(),
        })
    }

    /// On a start without a checkpoint, before the first file: deletes the in-progress
    /// files of this sink's lineage that an earlier run, killed before its first
    /// checkpoint, left (no checkpoint names them). The lineage is derived from the
    /// table and its folder, so every fresh run of the job has the same one.
    fn sweep_unrecorded(&mut self) -> EngineResult<()> {
        if self.swept || self.restored || !self.checkpointing {
            return Ok(());
        }
        self.swept = true;
        let lineages = std::collections::BTreeSet::from([self.lineage.clone()]);
        let deleted =
            commit::delete_strays(&self.spec.dir, &lineages, self.subtask, self.parallelism)?;
        if deleted > 0 {
            tracing::info!(
                "table '{}': deleted {deleted} in-progress file(s) of a run that stopped before its first checkpoint",
                self.spec.table
            );
        }
        Ok(())
    }

    /// Closes a part file: renames it into place, or stages it for the next
    /// checkpoint when checkpointing.
    fn close(&mut self, part: PartFile) -> EngineResult<()> {
        let staged = part.close()?;
        if self.checkpointing {
            self.staged.push(staged);
            Ok(())
        } else {
            commit::commit(&staged)
        }
    }

    /// What identifies this subtask's output in its snapshots.
    fn writer(&self) -> Writer<'_> {
        Writer {
            dir: &self.spec.dir,
            path: &self.spec.path,
            format: self.spec.format.name(),
            subtask: self.subtask,
        }
    }

    /// Keeps the table's data columns (and the row kind): drops anything else by name.
    fn data_columns(&self, batch: RecordBatch) -> EngineResult<RecordBatch> {
        let schema = batch.schema();
        let expected = self.spec.schema.fields().len();
        let has_kind = schema
            .fields()
            .last()
            .is_some_and(|f| f.name() == ROW_KIND_COLUMN);
        if schema.fields().len() == expected + usize::from(has_kind) {
            return Ok(batch);
        }
        let mut indices = Vec::with_capacity(expected + 1);
        for field in self.spec.schema.fields() {
            indices.push(schema.index_of(field.name())?);
        }
        if has_kind {
            indices.push(schema.fields().len() - 1);
        }
        Ok(batch.project(&indices)?)
    }
}

impl Operator for FileSink {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.data_columns(batch)?;
        self.buffer.clear();
        self.encoder
            .encode(&batch, &mut self.buffer)
            .map_err(|e| EngineError::Config(format!("table '{}': {e}", self.spec.table)))?;
        let mut part = match self.current.take() {
            Some(part) => part,
            None => self.open_part()?,
        };
        part.writer.write_all(&self.buffer).map_err(|e| {
            EngineError::io(format!("cannot write '{}'", part.in_progress.display()), e)
        })?;
        part.bytes += self.buffer.len() as u64;
        let policy = self.spec.policy;
        if part.bytes >= policy.file_size || part.opened.elapsed() >= policy.rollover {
            self.close(part)?;
        } else {
            self.current = Some(part);
        }
        Ok(())
    }

    /// Commits the last part file; with checkpointing, stages it for the job's final
    /// checkpoint instead.
    fn finish(&mut self, _out: &mut Output) -> EngineResult<()> {
        match self.current.take() {
            Some(part) => self.close(part),
            None => Ok(()),
        }
    }

    /// Closes the file being written and records every staged file as pending for
    /// `checkpoint_id` (see [`commit`] for the tables).
    fn snapshot_state(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        if let Some(part) = self.current.take() {
            self.staged.push(part.close()?);
        }
        self.pending
            .extend(self.staged.drain(..).map(|s| (checkpoint_id, s)));
        commit::snapshot(self.writer(), &self.lineage, &self.pending)
    }

    /// Commits what the checkpoint staged in the old subtasks this subtask is
    /// responsible for, deletes the in-progress files a crashed run left, and keeps
    /// the job's lineage.
    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let recovery = commit::recovery(snapshot, self.writer(), self.parallelism)
            .map_err(|e| with_table(&self.spec.table, e))?;
        self.restored = true;
        for staged in &recovery.to_commit {
            commit::commit(staged)?;
        }
        if !recovery.to_commit.is_empty() {
            commit::sync_dir(&self.spec.dir)?;
        }
        let deleted = commit::delete_strays(
            &self.spec.dir,
            &recovery.lineages,
            self.subtask,
            self.parallelism,
        )?;
        if deleted > 0 {
            tracing::info!(
                "table '{}': deleted {deleted} in-progress file(s) of a run that stopped",
                self.spec.table
            );
        }
        if let Some(lineage) = recovery.lineage {
            self.lineage = lineage;
        }
        Ok(())
    }

    /// Renames the files pending for checkpoints up to `checkpoint_id` into place.
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        let mut committed = false;
        let mut result = Ok(());
        self.pending.retain(|(id, staged)| {
            if *id > checkpoint_id || result.is_err() {
                return true;
            }
            committed = true;
            result = commit::commit(staged);
            result.is_err()
        });
        result?;
        if committed {
            commit::sync_dir(&self.spec.dir)?;
        }
        Ok(())
    }
}

/// Names the table in a configuration error.
fn with_table(table: &str, error: EngineError) -> EngineError {
    match error {
        EngineError::Config(message) => EngineError::Config(format!("table '{table}': {message}")),
        other => other,
    }
}

impl Drop for FileSink {
    /// A job that fails leaves no half-written file behind, except the files a
    /// checkpoint staged: a restore commits them.
    fn drop(&mut self) {
        let mut unstaged: Vec<PathBuf> = self.staged.drain(..).map(|s| s.in_progress).collect();
        if let Some(part) = self.current.take() {
            let PartFile {
                in_progress,
                writer,
                ..
            } = part;
            drop(writer);
            unstaged.push(in_progress);
        }
        for path in unstaged {
            let _ = fs::remove_file(&path);
        }
    }
}
