//! The `filesystem` source: files dealt over subtasks, read in chunks of whole lines.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::Arc;

use async_trait::async_trait;
use weir_formats::lines::count_newlines;
use weir_formats::{FormatConfig, RecordDecoder};
use weir_runtime::{JobMetrics, SourceEvent, SourceFactory, SourceReader, SubtaskContext};
use weir_types::{EngineError, EngineResult};

use super::chunks::{LineChunks, CHUNK_SIZE};
use super::listing::{list_files, FileInfo};
use super::metadata::{FileValues, MetadataPlan};
use super::{format_error, read_format, resolve_path, CONNECTOR};
use crate::descriptor::{ConnectorError, TableDescriptor};
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

/// The `path` option, the format and the metadata plan of a source table.
fn source_config(
    table: &TableDescriptor,
) -> Result<(String, FormatConfig, MetadataPlan), ConnectorError> {
    let mut options = Options::new(table, CONNECTOR);
    let path = options
        .required(
            "path",
            "add 'path' = 'data/input.json' (a file, or a folder of files)",
        )?
        .to_string();
    let format = read_format(&mut options, table)?;
    options.finish()?;
    let plan = MetadataPlan::new(table)?;
    // Checks that the format can read the columns.
    format
        .decoder(plan.physical_schema())
        .map_err(|e| format_error(table, e))?;
    Ok((path, format, plan))
}

/// [`create_source`] reading chunks of about `chunk_size` bytes.
pub(super) fn build_source(
    table: &TableDescriptor,
    chunk_size: usize,
) -> Result<SourceBinding, ConnectorError> {
    let (path, format, plan) = source_config(table)?;
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
    let description = format!("{CONNECTOR}(path={path}, format={})", format.name());
    let file_count = files.len();
    Ok(SourceBinding {
        factory: Arc::new(FileSourceFactory {
            files: Arc::new(files),
            format,
            plan,
            chunk_size,
        }),
        description,
        bounded: true,
        max_useful_parallelism: Some(file_count.max(1)),
    })
}

struct FileSourceFactory {
    files: Arc<Vec<FileInfo>>,
    format: FormatConfig,
    plan: MetadataPlan,
    chunk_size: usize,
}

impl SourceFactory for FileSourceFactory {
    fn is_bounded(&self) -> bool {
        true
    }

    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        let parallelism = ctx.parallelism.max(1);
        let files = self
            .files
            .iter()
            .enumerate()
            .filter(|(i, _)| i % parallelism == ctx.subtask)
            .map(|(_, f)| f.clone())
            .collect();
        let decoder = self
            .format
            .decoder(self.plan.physical_schema())
            .map_err(|e| EngineError::Config(e.to_string()))?;
        Ok(Box::new(FileReader {
            files,
            decoder,
            plan: self.plan.clone(),
            metrics: ctx.metrics.clone(),
            chunk_size: self.chunk_size,
            next_file: 0,
            current: None,
            pending: VecDeque::new(),
        }))
    }
}

/// The file being read.
struct OpenFile {
    split: usize,
    chunks: LineChunks<File>,
    /// Number of the next chunk's first line.
    line: u64,
    values: FileValues,
}

/// One subtask: reads its files one after the other, each file being one split.
struct FileReader {
    files: Vec<FileInfo>,
    decoder: Box<dyn RecordDecoder>,
    plan: MetadataPlan,
    metrics: Arc<JobMetrics>,
    chunk_size: usize,
    next_file: usize,
    current: Option<OpenFile>,
    pending: VecDeque<SourceEvent>,
}

impl FileReader {
    fn open_next(&mut self) -> EngineResult<()> {
        let split = self.next_file;
        let info = &self.files[split];
        let file = File::open(&info.path)
            .map_err(|e| EngineError::io(format!("cannot open '{}'", info.display), e))?;
        self.decoder.set_origin(&info.display);
        self.current = Some(OpenFile {
            split,
            chunks: LineChunks::new(file, self.chunk_size),
            line: 1,
            values: self.plan.file_values(info)?,
        });
        self.next_file += 1;
        Ok(())
    }

    /// Reads and decodes the next chunk of the current file, queueing what it produced.
    fn read_chunk(&mut self) -> EngineResult<()> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let display = &self.files[current.split].display;
        let chunk = current
            .chunks
            .next_chunk()
            .map_err(|e| EngineError::io(format!("cannot read '{display}'"), e))?;
        let Some(chunk) = chunk else {
            self.pending
                .push_back(SourceEvent::SplitFinished(current.split));
            self.current = None;
            return Ok(());
        };
        let decoded = self
            .decoder
            .decode(&chunk, current.line)
            .map_err(|e| EngineError::BadData(e.to_string()))?;
        current.line += count_newlines(&chunk);
        if decoded.skipped > 0 {
            let skipped = usize::try_from(decoded.skipped).unwrap_or(usize::MAX);
            JobMetrics::add(&self.metrics.records_skipped, skipped);
        }
        for batch in &decoded.batches {
            let batch = self.plan.attach(batch, &current.values)?;
            self.pending.push_back(SourceEvent::Batch {
                split: current.split,
                batch,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl SourceReader for FileReader {
    fn split_count(&self) -> usize {
        self.files.len()
    }

    /// Reads synchronously, without awaiting: the future completes on its first poll, so
    /// dropping it can lose nothing.
    async fn next(&mut self) -> EngineResult<SourceEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
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
}
