//! Checkpoint storage: where checkpoints and savepoints are written, found, validated
//! and deleted, through `object_store`.
//!
//! [`CheckpointStorage`] is one `execution.checkpointing.dir`; a [`CheckpointWriter`]
//! writes one checkpoint (or savepoint) folder: subtask files first, concurrently, then
//! `_metadata`, last. A folder without valid metadata is never restored.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::changelog::write_changelog;
use crate::checkpoint::{load_checkpoint, CompletedCheckpoint, Verify};
use crate::error::{StateError, StateResult};
use crate::format::{checksum, encode_snapshot};
use crate::layout::{
    checkpoint_dir_name, operator_dir_name, parse_checkpoint_dir_name, savepoint_dir_name,
    subtask_file, METADATA_FILE,
};
use crate::metadata::{
    CheckpointMetadata, StateHandle, StoredFile, FORMAT_VERSION, NATIVE_VERSION,
    TABLES_ONLY_VERSION,
};
use crate::native::{NativeFileEntry, NativeHandle, NativeState, SharedFile, SHARED_DIR};
use crate::snapshot::StateSnapshot;

/// How many files are read or checked at once.
pub(crate) const IO_CONCURRENCY: usize = 8;

/// A folder in an object store: the store, the folder's path in it, and a name for
/// messages.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) root: Path,
    pub(crate) display: String,
    /// For a local folder, its file system path (to remove empty folders).
    local: Option<PathBuf>,
}

impl Location {
    /// Opens `location`: a local folder path, a `file://` URL, or (with the `s3`
    /// feature) an `s3://bucket/path` URL. A local folder is created when `create`.
    pub(crate) fn open(location: &str, create: bool) -> StateResult<Location> {
        let invalid = |reason: &str| StateError::InvalidLocation {
            location: location.to_string(),
            reason: reason.to_string(),
        };
        if location.is_empty() {
            return Err(invalid("it is empty"));
        }
        let local = match location.split_once("://") {
            None => location,
            Some(("file", rest)) => rest,
            #[cfg(feature = "s3")]
            Some(("s3", _)) => return open_s3(location),
            Some((scheme, _)) => {
                return Err(invalid(&format!(
                    "scheme {scheme}:// is not supported; use a local folder path or file:// \
                     URL{}",
                    if cfg!(feature = "s3") {
                        " or s3://bucket/path"
                    } else {
                        " (this build has no S3 support: the `s3` feature is off)"
                    }
                )))
            }
        };
        let path = PathBuf::from(local);
        if create {
            std::fs::create_dir_all(&path).map_err(|source| StateError::Io {
                context: format!("creating checkpoint folder {local}"),
                source,
            })?;
        } else if !path.is_dir() {
            return Err(invalid("no such folder"));
        }
        let canonical = std::fs::canonicalize(&path).map_err(|source| StateError::Io {
            context: format!("resolving checkpoint folder {local}"),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(&canonical)
            .map_err(|e| StateError::store(format!("opening {local}"), e))?
            .with_automatic_cleanup(true);
        Ok(Location {
            store: Arc::new(store),
            root: Path::default(),
            display: canonical.display().to_string(),
            local: Some(canonical),
        })
    }

    /// The sub-folder (or file) `relative` (`/`-separated) of this location.
    pub(crate) fn child(&self, relative: &str) -> Location {
        let mut root = self.root.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            root = root.join(part);
        }
        Location {
            store: Arc::clone(&self.store),
            root,
            display: format!("{}/{relative}", self.display.trim_end_matches('/')),
            local: self.local.as_ref().map(|l| l.join(relative)),
        }
    }

    /// The folder holding this one (a checkpoint's location, for its shared files).
    pub(crate) fn parent(&self) -> StateResult<Location> {
        if let Some(local) = &self.local {
            let parent = local.parent().ok_or_else(|| StateError::InvalidLocation {
                location: self.display.clone(),
                reason: "it has no parent folder".into(),
            })?;
            return Location::open(&parent.to_string_lossy(), false);
        }
        let parts: Vec<_> = self.root.parts().collect();
        let root: Path = parts[..parts.len().saturating_sub(1)]
            .iter()
            .cloned()
            .collect();
        let display = match self.display.trim_end_matches('/').rsplit_once('/') {
            Some((parent, _)) => parent.to_string(),
            None => self.display.clone(),
        };
        Ok(Location {
            store: Arc::clone(&self.store),
            root,
            display,
            local: None,
        })
    }

    /// The object path of `relative` inside this folder.
    pub(crate) fn path(&self, relative: &str) -> Path {
        self.child(relative).root
    }

    /// Writes `bytes` (an encoding buffer from `buffers::take`, kept again afterwards)
    /// as `relative` in this folder; the error names the file.
    pub(crate) async fn put_buffer(&self, relative: &str, bytes: Vec<u8>) -> StateResult<()> {
        let path = self.path(relative);
        crate::buffers::put(self.store.as_ref(), &path, bytes, PutOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| StateError::store(format!("writing {}/{relative}", self.display), e))
    }

    /// Deletes everything under this folder, and the folder itself when local.
    pub(crate) async fn delete_all(&self) -> StateResult<()> {
        let listed = self
            .store
            .list(Some(&self.root))
            .map_ok(|meta| meta.location);
        let context = || format!("deleting {}", self.display);
        self.store
            .delete_stream(listed.boxed())
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| StateError::store(context(), e))?;
        if let Some(local) = &self.local {
            match tokio::fs::remove_dir_all(local).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(StateError::Io {
                        context: context(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

#[cfg(feature = "s3")]
fn open_s3(location: &str) -> StateResult<Location> {
    // Endpoint, credentials and region from AWS_* (docs/checkpoints.md); tested against
    // moto by crates/weir-cli/tests/e2e/s3_checkpoints.rs.
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_url(location)
        .build()
        .map_err(|e| StateError::store(format!("opening {location}"), e))?;
    let rest = location.trim_start_matches("s3://");
    let prefix = rest.split_once('/').map_or("", |(_, p)| p);
    let mut root = Path::default();
    for part in prefix.split('/').filter(|p| !p.is_empty()) {
        root = root.join(part);
    }
    Ok(Location {
        store: Arc::new(store),
        root,
        display: location.trim_end_matches('/').to_string(),
        local: None,
    })
}

/// The checkpoints of one job: `execution.checkpointing.dir`.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    location: Location,
}

/// What [`CheckpointStorage::latest_completed`] found.
#[derive(Debug)]
pub struct LatestCheckpoint {
    /// The newest valid completed checkpoint, if any.
    pub checkpoint: Option<CompletedCheckpoint>,
    /// Newer checkpoints that were skipped, newest first, each with its reason
    /// (incomplete, corrupt, unsupported version). Report them to the user.
    pub skipped: Vec<StateError>,
}

impl CheckpointStorage {
    /// Opens (creating a local folder if needed) the checkpoint location: a local
    /// folder path or `file://` URL (or `s3://bucket/path` with the `s3` feature).
    pub async fn open(location: &str) -> StateResult<Self> {
        Ok(CheckpointStorage {
            location: Location::open(location, true)?,
        })
    }

    /// The location, for messages.
    pub fn location(&self) -> &str {
        &self.location.display
    }

    /// A writer for checkpoint `checkpoint_id` into `<dir>/chk-<id>`.
    pub fn checkpoint(&self, checkpoint_id: u64) -> CheckpointWriter {
        CheckpointWriter {
            location: self.location.child(&checkpoint_dir_name(checkpoint_id)),
            checkpoint_id,
            savepoint: false,
            shared: Some(self.location.clone()),
        }
    }

    /// A writer for a savepoint of checkpoint `checkpoint_id` into a new folder
    /// `<savepoint_dir>/savepoint-<id>-<random>` (same format; `savepoint: true`).
    pub async fn savepoint(
        savepoint_dir: &str,
        checkpoint_id: u64,
    ) -> StateResult<CheckpointWriter> {
        let base = Location::open(savepoint_dir, true)?;
        let name = savepoint_dir_name(checkpoint_id, rand::random());
        Ok(CheckpointWriter {
            location: base.child(&name),
            checkpoint_id,
            savepoint: true,
            shared: None,
        })
    }

    /// Writes one subtask's snapshot of checkpoint `checkpoint_id`; see
    /// [`CheckpointWriter::write_snapshot`].
    pub async fn write_snapshot(
        &self,
        checkpoint_id: u64,
        operator_id: &str,
        subtask: usize,
        snapshot: &StateSnapshot,
    ) -> StateResult<StateHandle> {
        self.checkpoint(checkpoint_id)
            .write_snapshot(operator_id, subtask, snapshot)
            .await
    }

    /// Completes the checkpoint `metadata` describes; see [`CheckpointWriter::complete`].
    pub async fn complete(&self, metadata: CheckpointMetadata) -> StateResult<CompletedCheckpoint> {
        self.checkpoint(metadata.checkpoint_id)
            .complete(metadata)
            .await
    }

    /// Ids of all `chk-<id>` folders, complete or not, newest first.
    pub async fn checkpoint_ids(&self) -> StateResult<Vec<u64>> {
        let listed = self
            .location
            .store
            .list_with_delimiter(Some(&self.location.root))
            .await
            .map_err(|e| StateError::store(format!("listing {}", self.location.display), e))?;
        let mut ids: Vec<u64> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(parse_checkpoint_dir_name))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }

    /// One more than the largest checkpoint id in the folder (complete or not), or 1:
    /// the id a restarted job's coordinator continues from, so no folder is reused.
    pub async fn next_checkpoint_id(&self) -> StateResult<u64> {
        Ok(self.checkpoint_ids().await?.first().map_or(1, |id| id + 1))
    }

    /// The newest checkpoint whose metadata is valid and whose files are all present
    /// with the recorded size and checksum. Newer, bad ones are returned in `skipped`
    /// (and logged); a store failure (e.g. no permission) is an error, not a skip.
    pub async fn latest_completed(&self) -> StateResult<LatestCheckpoint> {
        let mut skipped = Vec::new();
        for id in self.checkpoint_ids().await? {
            let location = self.location.child(&checkpoint_dir_name(id));
            match load_checkpoint(location, Some(id), Verify::Checksums).await {
                Ok(checkpoint) => {
                    return Ok(LatestCheckpoint {
                        checkpoint: Some(checkpoint),
                        skipped,
                    })
                }
                Err(e) if is_bad_checkpoint(&e) => {
                    tracing::warn!("skipping checkpoint: {e}");
                    skipped.push(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(LatestCheckpoint {
            checkpoint: None,
            skipped,
        })
    }

    /// Deletes every `chk-<id>` folder and the shared files (a job that ended
    /// normally: running its script again starts afresh). Savepoints are not touched.
    /// Returns the deleted ids.
    pub async fn discard_all(&self) -> StateResult<Vec<u64>> {
        let ids = self.checkpoint_ids().await?;
        for &id in &ids {
            self.location
                .child(&checkpoint_dir_name(id))
                .delete_all()
                .await?;
        }
        self.location.child(SHARED_DIR).delete_all().await?;
        Ok(ids)
    }

    /// Opens the checkpoint or savepoint folder at `path` (`--from-checkpoint`,
    /// `--from-savepoint`) and validates it fully: a bad one is an error.
    pub async fn open_checkpoint(path: &str) -> StateResult<CompletedCheckpoint> {
        let location = Location::open(path, false)?;
        load_checkpoint(location, None, Verify::Checksums).await
    }

    /// Keeps the newest `num_retained` completed checkpoints
    /// (`execution.checkpointing.num-retained`) and deletes older completed ones and
    /// incomplete or corrupt ones older than the newest completed. Folders newer than
    /// the newest completed one are kept (they may be in progress). "Completed" here
    /// means valid metadata and every file present with its size; checksums are not
    /// read, to keep this cheap after every checkpoint. Returns the deleted ids.
    pub async fn retain(&self, num_retained: usize) -> StateResult<Vec<u64>> {
        if num_retained == 0 {
            return Err(StateError::InvalidLocation {
                location: self.location.display.clone(),
                reason: "at least one checkpoint must be retained".into(),
            });
        }
        let mut kept = 0usize;
        let mut deleted = Vec::new();
        let mut referenced: HashSet<String> = HashSet::new();
        for id in self.checkpoint_ids().await? {
            let location = self.location.child(&checkpoint_dir_name(id));
            let completed = match load_checkpoint(location.clone(), Some(id), Verify::Sizes).await {
                Ok(checkpoint) => {
                    if kept < num_retained {
                        referenced.extend(
                            checkpoint
                                .metadata()
                                .native_files()
                                .filter(|f| f.shared)
                                .map(|f| f.path.clone()),
                        );
                        referenced.extend(
                            checkpoint
                                .metadata()
                                .changelog_files()
                                .map(|f| f.file.path.clone()),
                        );
                    }
                    true
                }
                Err(e) if is_bad_checkpoint(&e) => false,
                Err(e) => return Err(e),
            };
            let keep = if completed {
                kept += 1;
                kept <= num_retained
            } else {
                kept == 0
            };
            if !keep {
                location.delete_all().await?;
                deleted.push(id);
            }
        }
        if kept > 0 {
            self.delete_unreferenced_shared(&referenced).await?;
        }
        Ok(deleted)
    }

    /// Deletes the shared files no retained checkpoint references: those of deleted
    /// checkpoints, and those uploaded by checkpoints that were declined. Called only
    /// between checkpoints (the coordinator runs one at a time), when no upload is
    /// waiting for its metadata.
    async fn delete_unreferenced_shared(&self, referenced: &HashSet<String>) -> StateResult<()> {
        let shared = self.location.child(SHARED_DIR);
        let root_parts = self.location.root.parts().count();
        let listed: Vec<Path> = self
            .location
            .store
            .list(Some(&shared.root))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| StateError::store(format!("listing {}", shared.display), e))?;
        let unreferenced: Vec<Path> = listed
            .into_iter()
            .filter(|path| {
                let relative: Vec<String> = path
                    .parts()
                    .skip(root_parts)
                    .map(|p| p.as_ref().to_string())
                    .collect();
                !referenced.contains(&relative.join("/"))
            })
            .collect();
        self.location
            .store
            .delete_stream(stream::iter(unreferenced.into_iter().map(Ok)).boxed())
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| {
                StateError::store(format!("deleting old files in {}", shared.display), e)
            })?;
        Ok(())
    }
}

/// True for errors that mean "this checkpoint is bad" rather than "the store failed".
fn is_bad_checkpoint(e: &StateError) -> bool {
    matches!(
        e,
        StateError::Incomplete { .. }
            | StateError::Corrupt { .. }
            | StateError::UnsupportedVersion { .. }
    )
}

/// Put options that fail instead of replacing an existing object.
fn create_only() -> PutOptions {
    PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    }
}

/// Writes one checkpoint or savepoint folder. Cheap to clone; share it between the
/// subtasks writing concurrently.
#[derive(Debug, Clone)]
pub struct CheckpointWriter {
    location: Location,
    checkpoint_id: u64,
    savepoint: bool,
    /// The checkpoint location, whose `shared/` folder takes native SST files; `None`
    /// for a savepoint (always Arrow tables, self-contained).
    shared: Option<Location>,
}

impl CheckpointWriter {
    /// The checkpoint id.
    pub fn checkpoint_id(&self) -> u64 {
        self.checkpoint_id
    }

    /// The folder written, for messages and for `--from-savepoint`.
    pub fn location(&self) -> &str {
        &self.location.display
    }

    /// True when writing a savepoint.
    pub fn is_savepoint(&self) -> bool {
        self.savepoint
    }

    /// Encodes the snapshot of `operator_id`'s `subtask` (off the async threads) and
    /// stores it as `<operator-dir>/<subtask>.arrow`. An empty snapshot stores nothing.
    /// Safe to call concurrently for different subtasks.
    pub async fn write_snapshot(
        &self,
        operator_id: &str,
        subtask: usize,
        snapshot: &StateSnapshot,
    ) -> StateResult<StateHandle> {
        let mut handle = StateHandle {
            operator_id: operator_id.to_string(),
            subtask,
            file: None,
            native: None,
            changelog: None,
        };
        if let Some(log) = snapshot.changelog() {
            let (shared, id) = (self.shared.as_ref(), self.checkpoint_id);
            let chain = write_changelog(shared, operator_id, subtask, id, snapshot, log).await?;
            handle.changelog = Some(chain);
            return Ok(handle);
        }
        match snapshot.native() {
            [] => {}
            [native] => {
                handle.native = Some(self.write_native(operator_id, subtask, native).await?)
            }
            _ => {
                return Err(StateError::InvalidSnapshot(format!(
                "operator {operator_id:?} subtask {subtask} snapshotted more than one native state"
            )))
            }
        }
        if snapshot.tables().iter().all(|t| t.num_rows() == 0) {
            return Ok(handle);
        }
        let owned = snapshot.clone();
        let (bytes, tables, sum) = tokio::task::spawn_blocking(move || {
            encode_snapshot(&owned).map(|(bytes, tables)| {
                let sum = checksum(&bytes);
                (bytes, tables, sum)
            })
        })
        .await
        .map_err(|e| StateError::Task(e.to_string()))??;
        let relative = subtask_file(operator_id, subtask);
        let size = bytes.len() as u64;
        let path = self.location.path(&relative);
        match crate::buffers::put(self.location.store.as_ref(), &path, bytes, create_only()).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(StateError::InvalidMetadata {
                    checkpoint_id: self.checkpoint_id,
                    reason: format!(
                        "{}/{relative} already exists: checkpoint ids must not be reused \
                         (see CheckpointStorage::next_checkpoint_id)",
                        self.location.display
                    ),
                })
            }
            Err(e) => {
                return Err(StateError::store(
                    format!("writing {}/{relative}", self.location.display),
                    e,
                ))
            }
        }
        handle.file = Some(StoredFile {
            path: relative,
            size,
            checksum: sum,
            tables,
        });
        Ok(handle)
    }

    /// Uploads a native snapshot's files: SST files not stored before into the
    /// location's `shared/` folder (reporting them to the store through
    /// `native.uploaded`), the others into this checkpoint's folder.
    async fn write_native(
        &self,
        operator_id: &str,
        subtask: usize,
        native: &NativeState,
    ) -> StateResult<NativeHandle> {
        let Some(shared) = &self.shared else {
            return Err(StateError::InvalidSnapshot(format!(
                "operator {operator_id:?} snapshotted native state for a savepoint; \
                 savepoints hold Arrow tables only"
            )));
        };
        let operator_dir = operator_dir_name(operator_id);
        let entries = stream::iter(native.files.clone())
            .map(|file| {
                let local = native.dir.path().join(&file.name);
                let operator_dir = operator_dir.clone();
                let instance = native.instance.clone();
                let shared = shared.clone();
                let own = self.location.clone();
                let uploaded = native.uploaded.clone();
                async move {
                    // A file stored in this location is referenced; one stored in
                    // another (restored from another job's checkpoint) is uploaded.
                    if let Some(stored) = file.stored.filter(|s| s.location == shared.display) {
                        return Ok((
                            NativeFileEntry {
                                name: file.name,
                                path: stored.path,
                                shared: true,
                                size: stored.size,
                                checksum: stored.checksum,
                            },
                            0,
                        ));
                    }
                    let (bytes, sum) = tokio::task::spawn_blocking(move || {
                        use std::io::Read;
                        let mut bytes = crate::buffers::take();
                        std::fs::File::open(&local)
                            .and_then(|mut file| file.read_to_end(&mut bytes))
                            .map_err(|source| StateError::Io {
                                context: format!("reading {}", local.display()),
                                source,
                            })?;
                        let sum = checksum(&bytes);
                        Ok::<_, StateError>((bytes, sum))
                    })
                    .await
                    .map_err(|e| StateError::Task(e.to_string()))??;
                    let size = bytes.len() as u64;
                    let (target, path) = if file.shared {
                        let path = format!("{SHARED_DIR}/{operator_dir}/{instance}-{}", file.name);
                        (shared.clone(), path)
                    } else {
                        (
                            own,
                            format!("{operator_dir}/{subtask}-native/{}", file.name),
                        )
                    };
                    target.put_buffer(&path, bytes).await?;
                    if file.shared {
                        if let Some(uploaded) = &uploaded {
                            if let Ok(mut uploaded) = uploaded.lock() {
                                uploaded.insert(
                                    file.name.clone(),
                                    SharedFile {
                                        path: path.clone(),
                                        size,
                                        checksum: sum.clone(),
                                        location: shared.display.clone(),
                                    },
                                );
                            }
                        }
                    }
                    Ok::<_, StateError>((
                        NativeFileEntry {
                            name: file.name,
                            path,
                            shared: file.shared,
                            size,
                            checksum: sum,
                        },
                        size,
                    ))
                }
            })
            .buffered(IO_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        let uploaded = entries.iter().map(|(_, size)| size).sum();
        Ok(NativeHandle {
            backend: native.backend.clone(),
            key_groups: native.key_groups,
            files: entries.into_iter().map(|(entry, _)| entry).collect(),
            uploaded,
        })
    }

    /// Completes the checkpoint: checks `metadata` (its id, every referenced file
    /// present with its size), marks it a savepoint when this writer writes one, and
    /// writes `_metadata` last. Only then is the checkpoint restorable.
    pub async fn complete(
        &self,
        mut metadata: CheckpointMetadata,
    ) -> StateResult<CompletedCheckpoint> {
        let invalid = |reason: String| StateError::InvalidMetadata {
            checkpoint_id: self.checkpoint_id,
            reason,
        };
        if metadata.checkpoint_id != self.checkpoint_id {
            return Err(invalid(format!(
                "metadata of checkpoint {} given to the writer of checkpoint {}",
                metadata.checkpoint_id, self.checkpoint_id
            )));
        }
        metadata.format_version = if metadata.has_changelog() {
            FORMAT_VERSION
        } else if metadata.has_native() {
            NATIVE_VERSION
        } else {
            TABLES_ONLY_VERSION
        };
        metadata.savepoint = self.savepoint;
        metadata.check().map_err(invalid)?;
        // Owned values in each future, so callers can spawn this on tokio.
        let mut files: Vec<(Location, String, u64)> = metadata
            .operators
            .values()
            .flat_map(|o| o.subtasks.iter().flatten())
            .map(|f| (self.location.clone(), f.path.clone(), f.size))
            .collect();
        for file in metadata.native_files() {
            let location = match (&self.shared, file.shared) {
                (Some(shared), true) => shared.clone(),
                (None, true) => {
                    return Err(invalid(format!(
                        "a savepoint cannot reference the shared file {}",
                        file.path
                    )))
                }
                (_, false) => self.location.clone(),
            };
            files.push((location, file.path.clone(), file.size));
        }
        for file in metadata.changelog_files() {
            let Some(shared) = &self.shared else {
                return Err(invalid(format!(
                    "a savepoint cannot reference the shared file {}",
                    file.file.path
                )));
            };
            files.push((shared.clone(), file.file.path.clone(), file.file.size));
        }
        let checkpoint_id = self.checkpoint_id;
        stream::iter(files)
            .map(|(location, path, size)| async move {
                let invalid = |reason: String| StateError::InvalidMetadata {
                    checkpoint_id,
                    reason,
                };
                let meta = location
                    .store
                    .head(&location.path(&path))
                    .await
                    .map_err(|e| invalid(format!("file {path} cannot be read back: {e}")))?;
                if meta.size != size {
                    return Err(invalid(format!(
                        "file {path} has {} bytes, its handle says {size}",
                        meta.size
                    )));
                }
                Ok(())
            })
            .buffer_unordered(IO_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        let json = serde_json::to_vec_pretty(&metadata)
            .map_err(|e| invalid(format!("cannot serialize: {e}")))?;
        // Create, never overwrite: completing an id twice (e.g. a coordinator that did
        // not continue ids after a restore) must not replace a completed checkpoint.
        match self
            .location
            .store
            .put_opts(
                &self.location.path(METADATA_FILE),
                PutPayload::from(json),
                create_only(),
            )
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(invalid(format!(
                    "{} already has a {METADATA_FILE}: checkpoint ids must continue after \
                     the restored checkpoint's (see CheckpointStorage::next_checkpoint_id)",
                    self.location.display
                )))
            }
            Err(e) => {
                return Err(StateError::store(
                    format!("writing {}/{METADATA_FILE}", self.location.display),
                    e,
                ))
            }
        }
        Ok(CompletedCheckpoint::new(self.location.clone(), metadata))
    }

    /// Deletes whatever was written for this checkpoint (declined or timed out).
    pub async fn abort(&self) -> StateResult<()> {
        self.location.delete_all().await
    }
}
