//! A completed checkpoint: loading and validating one, and restoring an operator
//! subtask's state from it at any parallelism.
//!
//! Keyed tables are redistributed by key group (each new subtask receives exactly the
//! rows of the key groups it owns, gathered from every old subtask's file); union
//! tables are concatenated from all old subtasks, in subtask order.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use weir_types::keygroup::key_group_range;

use crate::changelog::{restore_chains, ChangelogHandle};
use crate::error::{StateError, StateResult};
use crate::format::{checksum, checksum_text, decode_table};
use crate::layout::{
    operator_dir_name, parse_checkpoint_dir_name, METADATA_FILE, SAVEPOINT_PREFIX,
};
use crate::metadata::{CheckpointMetadata, StoredFile, FORMAT_VERSION};
use crate::native::{LocalDir, NativeFile, NativeState, SharedFile};
use crate::rocks::RESTORE_PREFIX;
use crate::snapshot::{filter_key_groups, StateSnapshot, StateTable, TableKind};
use crate::storage::{Location, IO_CONCURRENCY};

/// How much of a checkpoint's files [`load_checkpoint`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Every file is read and its checksum compared.
    Checksums,
    /// Only presence and size (one metadata request per file).
    Sizes,
}

/// A checkpoint or savepoint whose metadata and files were validated.
#[derive(Debug, Clone)]
pub struct CompletedCheckpoint {
    location: Location,
    metadata: CheckpointMetadata,
}

impl CompletedCheckpoint {
    pub(crate) fn new(location: Location, metadata: CheckpointMetadata) -> Self {
        CompletedCheckpoint { location, metadata }
    }

    /// The checkpoint id.
    pub fn id(&self) -> u64 {
        self.metadata.checkpoint_id
    }

    /// True for a savepoint.
    pub fn is_savepoint(&self) -> bool {
        self.metadata.savepoint
    }

    /// The checkpoint's folder, for messages and `--from-checkpoint`.
    pub fn location(&self) -> &str {
        &self.location.display
    }

    /// The parsed `_metadata`.
    pub fn metadata(&self) -> &CheckpointMetadata {
        &self.metadata
    }

    /// Ids of the operators that have state here (even if all their snapshots were
    /// empty). A caller restoring a changed job refuses ids its graph no longer has,
    /// unless `--allow-non-restored-state`.
    pub fn operator_ids(&self) -> impl Iterator<Item = &str> {
        self.metadata.operators.keys().map(String::as_str)
    }

    /// The parallelism `operator_id` ran at, if it is in the checkpoint.
    pub fn operator_parallelism(&self, operator_id: &str) -> Option<usize> {
        self.metadata
            .operators
            .get(operator_id)
            .map(|o| o.parallelism)
    }

    /// The state of `operator_id`'s `subtask` when it now runs at `parallelism`: keyed
    /// tables hold the rows of the key groups the subtask owns, union tables every old
    /// subtask's rows. Tables with no rows for this subtask are absent; an operator
    /// not in the checkpoint gets an empty snapshot. Files are checked against their
    /// checksum as they are read.
    pub async fn restore(
        &self,
        operator_id: &str,
        subtask: usize,
        parallelism: usize,
    ) -> StateResult<StateSnapshot> {
        let Some(state) = self.metadata.operators.get(operator_id) else {
            return Ok(StateSnapshot::new());
        };
        if parallelism == 0 || subtask >= parallelism {
            return Err(StateError::InvalidRestore {
                operator_id: operator_id.to_string(),
                reason: format!("subtask {subtask} of parallelism {parallelism}"),
            });
        }
        let max_parallelism = self.metadata.max_parallelism;
        let range = key_group_range(subtask, max_parallelism, parallelism);
        let wanted = |file: &&StoredFile| {
            file.tables.iter().any(|t| match (t.kind, t.key_groups) {
                (TableKind::Union, _) => true,
                (TableKind::Keyed, Some([lo, hi])) => {
                    (lo as usize) < range.end && (hi as usize) >= range.start
                }
                (TableKind::Keyed, None) => false,
            })
        };
        let files: Vec<StoredFile> = state
            .subtasks
            .iter()
            .flatten()
            .filter(wanted)
            .cloned()
            .collect();
        let fetched: Vec<(StoredFile, Bytes)> = stream::iter(files)
            .map(|file| {
                let location = self.location.clone();
                let label = self.label();
                async move {
                    let bytes = read_verified(&location, &label, &file).await?;
                    Ok::<_, StateError>((file, bytes))
                }
            })
            .buffered(IO_CONCURRENCY)
            .try_collect()
            .await?;
        let location = self.location.display.clone();
        let label = self.label();
        let chains: Vec<ChangelogHandle> = state
            .changelog_handles()
            .filter(|(_, c)| {
                let [lo, hi] = c.key_groups;
                (lo as usize) < range.end && (hi as usize) >= range.start
            })
            .map(|(_, c)| c.clone())
            .collect();
        let replayed = if chains.is_empty() {
            Vec::new()
        } else {
            let shared = self.location.parent()?;
            restore_chains(&shared, &label, chains, range.clone(), max_parallelism).await?
        };
        let mut snapshot = tokio::task::spawn_blocking(move || {
            assemble(&fetched, &range, max_parallelism, &label, &location)
        })
        .await
        .map_err(|e| StateError::Task(e.to_string()))??;
        for chain in replayed {
            for table in chain.into_tables() {
                let name = table.name().to_string();
                for batch in table.into_batches() {
                    snapshot.add_keyed(&name, batch)?;
                }
            }
        }
        Ok(snapshot)
    }

    /// Whether `operator_id` has native (RocksDB) state in this checkpoint.
    pub fn has_native(&self, operator_id: &str) -> bool {
        self.metadata
            .operators
            .get(operator_id)
            .is_some_and(|o| !o.native.is_empty())
    }

    /// The native (RocksDB) state of `operator_id`'s `subtask` when it now runs at
    /// `parallelism`: the files of every old subtask whose key groups overlap the
    /// subtask's, each downloaded into a new folder under `local_dir` and checked
    /// against its size and checksum. The folders are removed when the returned
    /// states are dropped. Empty when the operator has no native state.
    pub async fn restore_native(
        &self,
        operator_id: &str,
        subtask: usize,
        parallelism: usize,
        local_dir: &Path,
    ) -> StateResult<Vec<NativeState>> {
        let Some(state) = self.metadata.operators.get(operator_id) else {
            return Ok(Vec::new());
        };
        if state.native.is_empty() {
            return Ok(Vec::new());
        }
        let range = key_group_range(subtask, self.metadata.max_parallelism, parallelism);
        let shared = self.location.parent()?;
        let label = self.label();
        let mut restored = Vec::new();
        for (old_subtask, handle) in state.native_handles() {
            let [lo, hi] = handle.key_groups;
            if (lo as usize) >= range.end || (hi as usize) < range.start {
                continue;
            }
            let dir = LocalDir::new(local_dir.join(format!(
                "{RESTORE_PREFIX}{}-{}-{old_subtask}-{:08x}",
                std::process::id(),
                operator_dir_name(operator_id),
                rand::random::<u32>()
            )));
            tokio::fs::create_dir_all(dir.path())
                .await
                .map_err(|source| StateError::Io {
                    context: format!("creating {}", dir.path().display()),
                    source,
                })?;
            stream::iter(handle.files.clone())
                .map(|file| {
                    let at = if file.shared {
                        shared.clone()
                    } else {
                        self.location.clone()
                    };
                    let target = dir.path().join(&file.name);
                    let label = label.clone();
                    async move {
                        let stored = StoredFile {
                            path: file.path,
                            size: file.size,
                            checksum: file.checksum,
                            tables: Vec::new(),
                        };
                        let bytes = read_verified(&at, &label, &stored).await?;
                        tokio::fs::write(&target, &bytes)
                            .await
                            .map_err(|source| StateError::Io {
                                context: format!("writing {}", target.display()),
                                source,
                            })
                    }
                })
                .buffer_unordered(IO_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            restored.push(NativeState {
                backend: handle.backend.clone(),
                dir: Arc::new(dir),
                key_groups: handle.key_groups,
                files: handle
                    .files
                    .iter()
                    .map(|f| NativeFile {
                        name: f.name.clone(),
                        size: f.size,
                        shared: f.shared,
                        // Where the checkpoint keeps the file: a store reopened on
                        // these files references it instead of uploading it again.
                        stored: f.shared.then(|| SharedFile {
                            path: f.path.clone(),
                            size: f.size,
                            checksum: f.checksum.clone(),
                            location: shared.display.clone(),
                        }),
                    })
                    .collect(),
                instance: String::new(),
                uploaded: None,
            });
        }
        Ok(restored)
    }

    fn label(&self) -> String {
        self.metadata.checkpoint_id.to_string()
    }
}

/// Decodes the fetched files' tables in old-subtask order, filtering keyed rows.
fn assemble(
    files: &[(StoredFile, Bytes)],
    range: &std::ops::Range<usize>,
    max_parallelism: usize,
    label: &str,
    location: &str,
) -> StateResult<StateSnapshot> {
    let mut tables: Vec<StateTable> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (file, bytes) in files {
        for entry in &file.tables {
            let (schema, batches) = decode_table(bytes, entry, &file.path)?;
            let position = match index.get(&entry.name) {
                Some(&i) => i,
                None => {
                    index.insert(entry.name.clone(), tables.len());
                    tables.push(StateTable::new(&entry.name, entry.kind, schema.clone())?);
                    tables.len() - 1
                }
            };
            let table = &mut tables[position];
            if table.schema().fields() != schema.fields() {
                return Err(StateError::Corrupt {
                    checkpoint: label.to_string(),
                    location: location.to_string(),
                    reason: format!(
                        "table {:?} has another schema in {} than in earlier files",
                        entry.name, file.path
                    ),
                });
            }
            for batch in batches {
                let batch = match entry.kind {
                    TableKind::Keyed => {
                        filter_key_groups(&entry.name, &batch, range, max_parallelism)?
                    }
                    TableKind::Union => batch,
                };
                table.push(batch)?;
            }
        }
    }
    let mut snapshot = StateSnapshot::new();
    for table in tables.into_iter().filter(|t| t.num_rows() > 0) {
        snapshot.push_table(table)?;
    }
    Ok(snapshot)
}

/// Reads `file` of the checkpoint at `location` and checks its size and checksum.
pub(crate) async fn read_verified(
    location: &Location,
    label: &str,
    file: &StoredFile,
) -> StateResult<Bytes> {
    let corrupt = |reason: String| StateError::Corrupt {
        checkpoint: label.to_string(),
        location: location.display.clone(),
        reason,
    };
    let path = location.path(&file.path);
    let result = match location.store.get(&path).await {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(corrupt(format!("file {} is missing", file.path)))
        }
        Err(e) => {
            return Err(StateError::store(
                format!("reading {}/{}", location.display, file.path),
                e,
            ))
        }
    };
    let bytes = result
        .bytes()
        .await
        .map_err(|e| StateError::store(format!("reading {}/{}", location.display, file.path), e))?;
    if bytes.len() as u64 != file.size {
        return Err(corrupt(format!(
            "file {} has {} bytes, metadata says {} (truncated or overwritten)",
            file.path,
            bytes.len(),
            file.size
        )));
    }
    let (bytes, sum) = tokio::task::spawn_blocking(move || {
        let sum = checksum(&bytes);
        (bytes, sum)
    })
    .await
    .map_err(|e| StateError::Task(e.to_string()))?;
    if sum != file.checksum {
        return Err(corrupt(format!(
            "file {} has checksum {sum}, metadata says {}",
            file.path, file.checksum
        )));
    }
    Ok(bytes)
}

/// Loads and validates the checkpoint folder at `location`. `expected_id` is the id
/// from a `chk-<id>` folder name, checked against the metadata.
pub(crate) async fn load_checkpoint(
    location: Location,
    expected_id: Option<u64>,
    verify: Verify,
) -> StateResult<CompletedCheckpoint> {
    let label = expected_id
        .or_else(|| id_from_folder_name(&location.display))
        .map_or_else(|| "?".to_string(), |id| id.to_string());
    let corrupt = |reason: String| StateError::Corrupt {
        checkpoint: label.clone(),
        location: location.display.clone(),
        reason,
    };
    let metadata_path = location.path(METADATA_FILE);
    let raw = match location.store.get(&metadata_path).await {
        Ok(result) => result.bytes().await.map_err(|e| {
            StateError::store(format!("reading {}/{METADATA_FILE}", location.display), e)
        })?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(match expected_id {
                Some(checkpoint_id) => StateError::Incomplete {
                    checkpoint_id,
                    location: location.display.clone(),
                },
                None => corrupt(format!(
                    "no {METADATA_FILE} file: it is not a completed checkpoint or savepoint \
                     folder (give the chk-<id> or savepoint-... folder itself)"
                )),
            })
        }
        Err(e) => {
            return Err(StateError::store(
                format!("reading {}/{METADATA_FILE}", location.display),
                e,
            ))
        }
    };
    let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
        corrupt(format!(
            "{METADATA_FILE} ({} bytes) is not valid JSON, probably cut short: {e}",
            raw.len()
        ))
    })?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v > u64::from(FORMAT_VERSION) || v == 0 => {
            return Err(StateError::UnsupportedVersion {
                checkpoint: label.clone(),
                location: location.display.clone(),
                found: v,
                supported: FORMAT_VERSION,
            })
        }
        Some(_) => {}
        None => return Err(corrupt(format!("{METADATA_FILE} has no format_version"))),
    }
    let metadata: CheckpointMetadata = serde_json::from_value(value).map_err(|e| {
        corrupt(format!(
            "{METADATA_FILE} does not describe a checkpoint: {e}"
        ))
    })?;
    if let Some(id) = expected_id {
        if metadata.checkpoint_id != id {
            return Err(corrupt(format!(
                "{METADATA_FILE} is of checkpoint {}",
                metadata.checkpoint_id
            )));
        }
    }
    let label = metadata.checkpoint_id.to_string();
    let corrupt = |reason: String| StateError::Corrupt {
        checkpoint: label.clone(),
        location: location.display.clone(),
        reason,
    };
    metadata.check().map_err(corrupt)?;
    // Owned values in each future: borrowed ones make the future not `Send` for every
    // lifetime, which a caller spawning it on tokio needs.
    let mut files: Vec<(Location, FileRef)> = metadata
        .operators
        .values()
        .flat_map(|o| o.subtasks.iter().flatten())
        .map(|f| (location.clone(), FileRef::of(f)))
        .collect();
    if metadata.has_changelog() {
        let shared = location.parent()?;
        for file in metadata.changelog_files() {
            files.push((shared.clone(), FileRef::of(&file.file)));
        }
    }
    if metadata.has_native() {
        let shared = location.parent()?;
        for file in metadata.native_files() {
            let at = if file.shared { &shared } else { &location };
            files.push((
                at.clone(),
                FileRef {
                    path: file.path.clone(),
                    size: file.size,
                    checksum: file.checksum.clone(),
                },
            ));
        }
    }
    stream::iter(files)
        .map(|(at, file)| {
            let label = label.clone();
            async move {
                match verify {
                    Verify::Checksums => check_checksum(&at, &label, &file).await,
                    Verify::Sizes => check_size(&at, &label, &file).await,
                }
            }
        })
        .buffer_unordered(IO_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(CompletedCheckpoint::new(location, metadata))
}

/// A stored file to check: its path in a location, size and checksum.
struct FileRef {
    path: String,
    size: u64,
    checksum: String,
}

impl FileRef {
    fn of(file: &StoredFile) -> FileRef {
        FileRef {
            path: file.path.clone(),
            size: file.size,
            checksum: file.checksum.clone(),
        }
    }
}

/// Streams `file` through CRC32C without holding it in memory, checking size and sum.
async fn check_checksum(location: &Location, label: &str, file: &FileRef) -> StateResult<()> {
    let corrupt = |reason: String| StateError::Corrupt {
        checkpoint: label.to_string(),
        location: location.display.clone(),
        reason,
    };
    let context = || format!("reading {}/{}", location.display, file.path);
    let mut chunks = match location.store.get(&location.path(&file.path)).await {
        Ok(result) => result.into_stream(),
        Err(object_store::Error::NotFound { .. }) => {
            return Err(corrupt(format!("file {} is missing", file.path)))
        }
        Err(e) => return Err(StateError::store(context(), e)),
    };
    let mut crc = 0u32;
    let mut size = 0u64;
    while let Some(chunk) = chunks
        .try_next()
        .await
        .map_err(|e| StateError::store(context(), e))?
    {
        crc = crc32c::crc32c_append(crc, &chunk);
        size += chunk.len() as u64;
    }
    if size != file.size {
        return Err(corrupt(format!(
            "file {} has {size} bytes, metadata says {} (truncated or overwritten)",
            file.path, file.size
        )));
    }
    let sum = checksum_text(crc);
    if sum != file.checksum {
        return Err(corrupt(format!(
            "file {} has checksum {sum}, metadata says {}",
            file.path, file.checksum
        )));
    }
    Ok(())
}

/// The id in a folder name `chk-<id>` or `savepoint-<id>-<random>`, for messages.
fn id_from_folder_name(path: &str) -> Option<u64> {
    let name = path.trim_end_matches('/').rsplit('/').next()?;
    parse_checkpoint_dir_name(name).or_else(|| {
        let rest = name.strip_prefix(SAVEPOINT_PREFIX)?;
        rest.split('-').next()?.parse().ok()
    })
}

async fn check_size(location: &Location, label: &str, file: &FileRef) -> StateResult<()> {
    let corrupt = |reason: String| StateError::Corrupt {
        checkpoint: label.to_string(),
        location: location.display.clone(),
        reason,
    };
    match location.store.head(&location.path(&file.path)).await {
        Ok(meta) if meta.size == file.size => Ok(()),
        Ok(meta) => Err(corrupt(format!(
            "file {} has {} bytes, metadata says {} (truncated or overwritten)",
            file.path, meta.size, file.size
        ))),
        Err(object_store::Error::NotFound { .. }) => {
            Err(corrupt(format!("file {} is missing", file.path)))
        }
        Err(e) => Err(StateError::store(
            format!("reading {}/{}", location.display, file.path),
            e,
        )),
    }
}
