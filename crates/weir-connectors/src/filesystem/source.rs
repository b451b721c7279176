//! The `filesystem` source: files dealt over subtasks, read in chunks of whole lines.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use async_trait::async_trait;
use weir_formats::lines::count_newlines;
use weir_formats::{Decoded, FormatConfig, ReadColumns, RecordDecoder};
use weir_runtime::{
    JobMetrics, SourceEvent, SourceFactory, SourceReader, StateSnapshot, SubtaskContext,
};
use weir_types::{ChangelogKind, EngineError, EngineResult};

use super::chunks::{LineChunks, CHUNK_SIZE};
use super::listing::{list_files, FileInfo};
use super::metadata::{FileValues, MetadataPlan};
use super::position::{self, FilePosition};
use super::{format_error, read_format, resolve_path, CONNECTOR};
use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::dirty::{BadRecord, DirtyDataHandler, DirtyDataPolicy, DirtyDataStrategy};
use crate::options::Options;
use crate::SourceBinding;

/// Creates a `filesystem` source for `table`. The files are listed now: a missing path
/// is an error before the job starts.
pub fn create_source(table: &TableDescriptor) -> Result<SourceBinding, ConnectorError> {
    build_source(table, CHUNK_SIZE)
}

/// Checks a `filesystem` source's options, format and metadata columns without touching
/// the files (for a table whose rows a test mocks).
pub fn validate_source(table: &TableDescriptor) -> Result<(), ConnectorError> {
    source_config(table).map(|_| ())
}

/// What a source table's options say.
struct SourceConfig {
    path: String,
    format: FormatConfig,
    plan: MetadataPlan,
    dirty: DirtyDataPolicy,
}

/// The `path` option, the format, the metadata plan and the dirty-data policy of a
/// source table.
fn source_config(table: &TableDescriptor) -> Result<SourceConfig, ConnectorError> {
    let mut options = Options::new(table, CONNECTOR);
    let path = options
        .required(
            "path",
            "add 'path' = 'data/input.json' (a file, or a folder of files)",
        )?
        .to_string();
    let format = read_format(&mut options, table)?;
    let dirty = DirtyDataPolicy::read(&mut options, &format)?;
    options.finish()?;
    let plan = MetadataPlan::new(table, format.produces_changelog())?;
    // Checks that the format can read the columns.
    format
        .decoder(plan.physical_schema())
        .map_err(|e| format_error(table, e))?;
    Ok(SourceConfig {
        path,
        format,
        plan,
        dirty,
    })
}

/// [`create_source`] reading chunks of about `chunk_size` bytes.
pub(super) fn build_source(
    table: &TableDescriptor,
    chunk_size: usize,
) -> Result<SourceBinding, ConnectorError> {
    let SourceConfig {
        path,
        format,
        plan,
        dirty,
    } = source_config(table)?;
    let path = path.as_str();
    let root = resolve_path(table, path);
    let files = list_files(&root, path).map_err(|source| ConnectorError::Io {
        table: table.name.clone(),
        context: if root.exists() {
            format!("cannot list path '{path}' (resolved to {})", root.display())
        } else {
            format!(
                "path '{path}' does not exist (resolved to {})",
                root.display()
            )
        },
        source,
    })?;
    let mut description = format!("{CONNECTOR}(path={path}, format={}", format.name());
    if dirty.strategy() != DirtyDataStrategy::Fail {
        description.push_str(&format!(", dirty-data={}", dirty.describe()));
    }
    description.push(')');
    let changelog = if format.produces_changelog() {
        ChangelogKind::Updating
    } else {
        ChangelogKind::AppendOnly
    };
    let file_count = files.len();
    Ok(SourceBinding {
        factory: Arc::new(FileSourceFactory {
            files: Arc::new(files),
            format,
            plan,
            dirty,
            chunk_size,
            read: None,
        }),
        description,
        bounded: true,
        max_useful_parallelism: Some(file_count.max(1)),
        parallelism: None,
        changelog,
        upsert_key: Vec::new(),
    })
}

#[derive(Clone)]
struct FileSourceFactory {
    files: Arc<Vec<FileInfo>>,
    format: FormatConfig,
    plan: MetadataPlan,
    dirty: DirtyDataPolicy,
    chunk_size: usize,
    /// The physical columns the job reads (projection pushdown); `None`: all.
    read: Option<ReadColumns>,
}

impl SourceFactory for FileSourceFactory {
    fn is_bounded(&self) -> bool {
        true
    }

    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        let parallelism = ctx.parallelism.max(1);
        let files: Vec<FileInfo> = self
            .files
            .iter()
            .enumerate()
            .filter(|(i, _)| i % parallelism == ctx.subtask)
            .map(|(_, f)| f.clone())
            .collect();
        let schema = self.plan.physical_schema();
        let decoder = match &self.read {
            Some(read) => self.format.decoder_reading(schema, read),
            None => self.format.decoder(schema),
        }
        .map_err(|e| EngineError::Config(e.to_string()))?;
        Ok(Box::new(FileReader {
            positions: vec![FilePosition::START; files.len()],
            files,
            listing: self.files.clone(),
            decoder,
            reports_bad_lines: !self.format.ignores_parse_errors()
                && self.dirty.strategy() != DirtyDataStrategy::Fail,
            dirty: self.dirty.handler(ctx),
            plan: self.plan.clone(),
            metrics: ctx.metrics.clone(),
            chunk_size: self.chunk_size,
            next_file: 0,
            current: None,
            pending: VecDeque::new(),
        }))
    }

    fn reading_only(&self, read: &[bool]) -> Option<Arc<dyn SourceFactory>> {
        if !self.format.reads_by_name() {
            return None;
        }
        let physical = self.plan.physical_read(read);
        if physical.iter().all(|&r| r) {
            return None;
        }
        Some(Arc::new(FileSourceFactory {
            read: Some(ReadColumns::new(physical)),
            ..self.clone()
        }))
    }
}

/// The file being read.
struct OpenFile {
    split: usize,
    chunks: LineChunks<File>,
    /// Number of the next chunk's first line.
    line: u64,
    /// Decoded rows still to drop: rows a restored position had already emitted.
    skip: u64,
    values: FileValues,
}

/// One subtask: reads its files one after the other, each file being one split.
struct FileReader {
    files: Vec<FileInfo>,
    /// Every file of the source (all subtasks'), to recognise a checkpoint's splits.
    listing: Arc<Vec<FileInfo>>,
    /// Per split, the position after the last event `next` returned.
    positions: Vec<FilePosition>,
    decoder: Box<dyn RecordDecoder>,
    /// Whether bad lines go to `dirty` (`weir.dirty-data.strategy` `skip` or
    /// `dead-letter`) rather than failing in the decoder or being skipped by it (the
    /// format's `ignore-parse-errors`, counted as the decoder reports).
    reports_bad_lines: bool,
    dirty: DirtyDataHandler,
    plan: MetadataPlan,
    metrics: Arc<JobMetrics>,
    chunk_size: usize,
    next_file: usize,
    current: Option<OpenFile>,
    /// Events read but not yet returned, each with the position of its split after it.
    pending: VecDeque<(SourceEvent, FilePosition)>,
}

impl FileReader {
    fn open_next(&mut self) -> EngineResult<()> {
        let split = self.next_file;
        self.next_file += 1;
        let position = self.positions[split];
        if position.finished {
            // Finished before the checkpoint: it no longer holds the watermark back.
            self.pending
                .push_back((SourceEvent::SplitFinished(split), position));
            return Ok(());
        }
        let info = &self.files[split];
        let mut file = File::open(&info.path)
            .map_err(|e| EngineError::io(format!("cannot open '{}'", info.display), e))?;
        if position.offset > 0 {
            file.seek(SeekFrom::Start(position.offset)).map_err(|e| {
                EngineError::io(
                    format!(
                        "cannot seek to byte {} of '{}'",
                        position.offset, info.display
                    ),
                    e,
                )
            })?;
        }
        self.decoder.set_origin(&info.display);
        self.current = Some(OpenFile {
            split,
            chunks: LineChunks::at_offset(file, self.chunk_size, position.offset),
            line: position.line,
            skip: position.rows,
            values: self.plan.file_values(info)?,
        });
        Ok(())
    }

    /// Reads and decodes the next chunk of the current file, queueing what it produced.
    fn read_chunk(&mut self) -> EngineResult<()> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let display = &self.files[current.split].display;
        let (chunk_start, chunk_line) = (current.chunks.position(), current.line);
        let chunk = current
            .chunks
            .next_chunk()
            .map_err(|e| EngineError::io(format!("cannot read '{display}'"), e))?;
        let Some(chunk) = chunk else {
            let finished = FilePosition {
                offset: chunk_start,
                line: chunk_line,
                rows: 0,
                finished: true,
            };
            self.pending
                .push_back((SourceEvent::SplitFinished(current.split), finished));
            self.current = None;
            return Ok(());
        };
        let decoded = if self.reports_bad_lines {
            let decoded = self
                .decoder
                .decode_reporting(&chunk, current.line)
                .map_err(|e| EngineError::BadData(e.to_string()))?;
            handle_bad_lines(&mut self.dirty, &decoded, &chunk, display)?;
            decoded
        } else {
            self.decoder
                .decode(&chunk, current.line)
                .map_err(|e| EngineError::BadData(e.to_string()))?
        };
        current.line += decoded.newlines.unwrap_or_else(|| count_newlines(&chunk));
        current.chunks.recycle(chunk);
        if decoded.skipped > 0 {
            let skipped = usize::try_from(decoded.skipped).unwrap_or(usize::MAX);
            JobMetrics::add(&self.metrics.records_skipped, skipped);
        }
        let count = decoded.batches.len();
        let mut rows = 0u64;
        for (i, batch) in decoded.batches.iter().enumerate() {
            let n = batch.num_rows() as u64;
            rows += n;
            let dropped = current.skip.min(n);
            current.skip -= dropped;
            if dropped == n {
                continue;
            }
            // After the chunk's last batch the next read starts at the next chunk.
            let position = if i + 1 == count {
                FilePosition {
                    offset: current.chunks.position(),
                    line: current.line,
                    rows: 0,
                    finished: false,
                }
            } else {
                FilePosition {
                    offset: chunk_start,
                    line: chunk_line,
                    rows,
                    finished: false,
                }
            };
            let batch = batch.slice(dropped as usize, (n - dropped) as usize);
            let batch = self.plan.attach(&batch, &current.values)?;
            let event = SourceEvent::Batch {
                split: current.split,
                batch,
            };
            self.pending.push_back((event, position));
        }
        Ok(())
    }
}

/// Hands the bad lines of a chunk to the dirty-data handler, and makes them durable
/// before any row of the chunk is emitted.
fn handle_bad_lines(
    dirty: &mut DirtyDataHandler,
    decoded: &Decoded,
    chunk: &[u8],
    source: &str,
) -> EngineResult<()> {
    if decoded.bad.is_empty() {
        return Ok(());
    }
    for bad in &decoded.bad {
        dirty.on_bad_record(&BadRecord {
            raw: chunk.get(bad.range.clone()).unwrap_or_default(),
            source,
            partition: None,
            offset: None,
            line: Some(bad.line),
            error: &bad.error,
        })?;
    }
    dirty.flush()
}

#[async_trait]
impl SourceReader for FileReader {
    fn split_count(&self) -> usize {
        self.files.len()
    }

    /// The file's path as the `path` option names it (joined with its path inside the
    /// folder).
    fn split_id(&self, split: usize) -> String {
        self.files
            .get(split)
            .map_or_else(|| split.to_string(), |f| f.display.clone())
    }

    /// Reads synchronously, without awaiting: the future completes on its first poll, so
    /// dropping it can lose nothing.
    async fn next(&mut self) -> EngineResult<SourceEvent> {
        loop {
            if let Some((event, position)) = self.pending.pop_front() {
                if let SourceEvent::Batch { split, .. } | SourceEvent::SplitFinished(split) = &event
                {
                    self.positions[*split] = position;
                }
                return Ok(event);
            }
            if self.current.is_none() {
                if self.next_file >= self.files.len() {
                    return Ok(SourceEvent::Finished);
                }
                self.open_next()?;
            }
            self.read_chunk()?;
        }
    }

    fn is_rewindable(&self) -> bool {
        true
    }

    fn snapshot_position(&mut self) -> EngineResult<StateSnapshot> {
        self.dirty.flush()?;
        position::snapshot(&self.files, &self.positions)
    }

    fn restore_position(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        self.positions = position::restore(snapshot, &self.files, &self.listing)?;
        Ok(())
    }
}
