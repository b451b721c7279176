//! The RocksDB backend's keyed store: one embedded RocksDB per operator subtask,
//! holding `key group ++ key -> value` byte pairs for the key groups the subtask owns.
//!
//! Keys start with their key group (two bytes, big-endian), so the key groups of a
//! subtask are one contiguous key range: a restore at another parallelism copies the
//! ranges it owns out of the old subtasks' databases. Writes skip RocksDB's write-ahead
//! log: durability comes from checkpoints, which flush the memtable and hard-link the
//! database's files ([`KeyedStore::snapshot`]) without stopping the data path for
//! long; the upload happens later, off the task ([`crate::CheckpointWriter`]).
//!
//! With a state TTL every value starts with its last write time (`i64`, big-endian
//! epoch milliseconds), and a compaction filter drops entries not written for the TTL,
//! as Flink's RocksDB TTL compaction filter does.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::compaction_filter::Decision;
use rocksdb::{
    BlockBasedOptions, DBCompressionType, Env, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};

use crate::backend::RocksConfig;
use crate::error::{StateError, StateResult};
use crate::native::{LocalDir, NativeFile, NativeState, SharedFile, UploadedFiles};

/// The backend name recorded with native state.
pub const BACKEND_NAME: &str = "rocksdb";

/// Prefix of a store's local folder: `weir-rocksdb-<pid>-<label>-<instance>`.
const STORE_PREFIX: &str = "weir-rocksdb-";

/// Prefix of a restore's download folder: `weir-restore-<pid>-...`.
pub(crate) const RESTORE_PREFIX: &str = "weir-restore-";

/// Removes the local folders of stores and restores under `local_dir` whose process
/// is gone (a `kill -9` leaves them behind), so crashes do not fill the disk. Returns
/// how many were removed. Only where `/proc` tells which processes run (Linux).
pub fn remove_stale_folders(local_dir: &Path) -> usize {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return 0;
    }
    let Ok(listing) = std::fs::read_dir(local_dir) else {
        return 0;
    };
    let own = std::process::id().to_string();
    let mut removed = 0;
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(STORE_PREFIX)
            .or_else(|| name.strip_prefix(RESTORE_PREFIX))
        else {
            continue;
        };
        let Some(pid) = rest
            .split('-')
            .next()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if pid != own && !proc.join(pid).exists() && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Entries copied per write batch when a restore copies key ranges.
const COPY_BATCH: usize = 10_000;

/// The store key of `key` in key group `group`.
pub fn store_key(group: u32, key: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(2 + key.len());
    bytes.extend_from_slice(&(group as u16).to_be_bytes());
    bytes.extend_from_slice(key);
    bytes
}

/// The key group and key of a store key.
pub fn split_store_key(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (group, key) = bytes.split_at_checked(2)?;
    Some((u32::from(u16::from_be_bytes([group[0], group[1]])), key))
}

/// State TTL of a store: entries whose last write (the first 8 bytes of the value)
/// is `ttl_ms` or more before `clock()` are dropped by compactions.
#[derive(Clone)]
pub struct StoreTtl {
    /// The TTL in milliseconds.
    pub ttl_ms: i64,
    /// Processing time in epoch milliseconds (the operator's clock).
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// Puts and deletes applied together by [`KeyedStore::write`].
#[derive(Default)]
pub struct StoreBatch {
    batch: WriteBatch,
}

impl StoreBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (a [`store_key`]) to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.batch.put(key, value);
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &[u8]) {
        self.batch.delete(key);
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

/// One subtask's keyed state in RocksDB. Dropping it deletes its local files.
pub struct KeyedStore {
    // Declared before `root` so the database closes before its folder is removed.
    db: DB,
    root: LocalDir,
    key_groups: [u32; 2],
    instance: String,
    incremental: bool,
    /// Shared files a completed checkpoint stored, by local name: reused, not uploaded.
    confirmed: HashMap<String, SharedFile>,
    /// Per checkpoint not yet complete, the shared files its snapshot uploads.
    pending: BTreeMap<u64, Vec<String>>,
    uploaded: UploadedFiles,
    write_options: WriteOptions,
}

impl std::fmt::Debug for KeyedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedStore")
            .field("root", &self.root.path())
            .field("key_groups", &self.key_groups)
            .finish()
    }
}

impl KeyedStore {
    /// Opens the store of a subtask owning `key_groups` (`[first, last]`), in a new
    /// folder under `config.local_dir` named after `label`, with the state `restored`
    /// from a checkpoint (the native states of every old subtask whose key groups
    /// overlap; empty for a fresh start). `ttl` enables the TTL compaction filter.
    pub fn open(
        config: &RocksConfig,
        label: &str,
        key_groups: [u32; 2],
        ttl: Option<StoreTtl>,
        restored: Vec<NativeState>,
    ) -> StateResult<KeyedStore> {
        let instance = format!("{:016x}", rand::random::<u64>());
        let safe: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(64)
            .collect();
        let root = LocalDir::new(config.local_dir.join(format!(
            "{STORE_PREFIX}{}-{safe}-{instance}",
            std::process::id()
        )));
        std::fs::create_dir_all(root.path()).map_err(|source| StateError::Io {
            context: format!("creating RocksDB folder {}", root.path().display()),
            source,
        })?;
        let db_path = root.path().join("db");
        let reuse = match restored.as_slice() {
            [only] if only.key_groups == key_groups => Some(only),
            _ => None,
        };
        if let Some(state) = reuse {
            move_dir(state.dir.path(), &db_path)?;
        }
        let db = DB::open(&db_options(ttl), &db_path)
            .map_err(|e| rocks_error(format!("opening RocksDB at {}", db_path.display()), e))?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        // Reopened on a checkpoint's own files: its SST files are stored already, and
        // the next incremental checkpoint references them instead of uploading them.
        let confirmed = reuse
            .map(|state| {
                state
                    .files
                    .iter()
                    .filter_map(|f| Some((f.name.clone(), f.stored.clone()?)))
                    .collect()
            })
            .unwrap_or_default();
        let store = KeyedStore {
            db,
            root,
            key_groups,
            instance,
            incremental: config.incremental,
            confirmed,
            pending: BTreeMap::new(),
            uploaded: Arc::new(Mutex::new(HashMap::new())),
            write_options,
        };
        if reuse.is_none() {
            for state in &restored {
                store.copy_key_groups_from(state)?;
            }
        }
        Ok(store)
    }

    /// The key groups this store holds, `[first, last]`.
    pub fn key_groups(&self) -> [u32; 2] {
        self.key_groups
    }

    /// Copies the entries of this store's key groups out of a restored database.
    fn copy_key_groups_from(&self, state: &NativeState) -> StateResult<()> {
        let first = state.key_groups[0].max(self.key_groups[0]);
        let last = state.key_groups[1].min(self.key_groups[1]);
        if first > last {
            return Ok(());
        }
        let path = state.dir.path();
        let old = DB::open_for_read_only(&Options::default(), path, false)
            .map_err(|e| rocks_error(format!("opening restored RocksDB {}", path.display()), e))?;
        let start = store_key(first, &[]);
        let mut batch = StoreBatch::new();
        for entry in old.iterator(IteratorMode::From(&start, rocksdb::Direction::Forward)) {
            let (key, value) =
                entry.map_err(|e| rocks_error(format!("reading {}", path.display()), e))?;
            match split_store_key(&key) {
                Some((group, _)) if group <= last => {}
                _ => break,
            }
            batch.put(&key, &value);
            if batch.len() >= COPY_BATCH {
                self.write(std::mem::take(&mut batch))?;
            }
        }
        self.write(batch)
    }

    /// The values of `keys` ([`store_key`]s), in order.
    pub fn get_many(&self, keys: &[Vec<u8>]) -> StateResult<Vec<Option<Vec<u8>>>> {
        self.db
            .multi_get(keys)
            .into_iter()
            .map(|r| r.map_err(|e| rocks_error("reading RocksDB state".into(), e)))
            .collect()
    }

    /// Applies `batch` atomically.
    pub fn write(&self, batch: StoreBatch) -> StateResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.db
            .write_opt(batch.batch, &self.write_options)
            .map_err(|e| rocks_error("writing RocksDB state".into(), e))
    }

    /// Calls `visit` with every entry, in key order (key groups ascending).
    pub fn scan(&self, mut visit: impl FnMut(&[u8], &[u8]) -> StateResult<()>) -> StateResult<()> {
        for entry in self.db.iterator(IteratorMode::Start) {
            let (key, value) = entry.map_err(|e| rocks_error("reading RocksDB state".into(), e))?;
            visit(&key, &value)?;
        }
        Ok(())
    }

    /// Bytes of the database's files on disk (an estimate RocksDB keeps).
    pub fn disk_size(&self) -> u64 {
        self.db
            .property_int_value(rocksdb::properties::TOTAL_SST_FILES_SIZE)
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Snapshots the store for checkpoint `checkpoint_id`: flushes the memtable and
    /// hard-links the database's files into a folder of their own (fast: no data is
    /// copied). With incremental checkpoints, SST files a completed checkpoint already
    /// stored are marked to be referenced, not uploaded again.
    pub fn snapshot(&mut self, checkpoint_id: u64) -> StateResult<NativeState> {
        let dir = LocalDir::new(self.root.path().join(format!("chk-{checkpoint_id}")));
        if dir.path().exists() {
            std::fs::remove_dir_all(dir.path()).map_err(|source| StateError::Io {
                context: format!("removing {}", dir.path().display()),
                source,
            })?;
        }
        Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(dir.path()))
            .map_err(|e| {
                rocks_error(
                    format!("checkpointing RocksDB into {}", dir.path().display()),
                    e,
                )
            })?;
        let mut files = Vec::new();
        let listing = std::fs::read_dir(dir.path()).map_err(|source| StateError::Io {
            context: format!("listing {}", dir.path().display()),
            source,
        })?;
        for entry in listing {
            let entry = entry.map_err(|source| StateError::Io {
                context: format!("listing {}", dir.path().display()),
                source,
            })?;
            let size = entry
                .metadata()
                .map_err(|source| StateError::Io {
                    context: format!("reading {}", entry.path().display()),
                    source,
                })?
                .len();
            let name = entry.file_name().to_string_lossy().into_owned();
            let shared = name.ends_with(".sst");
            let stored = if shared && self.incremental {
                self.confirmed
                    .get(&name)
                    .filter(|s| s.size == size)
                    .cloned()
            } else {
                None
            };
            files.push(NativeFile {
                name,
                size,
                shared,
                stored,
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        // Files compacted away are never referenced again.
        self.confirmed
            .retain(|name, _| files.iter().any(|f| &f.name == name));
        let new_shared = files
            .iter()
            .filter(|f| f.shared && f.stored.is_none())
            .map(|f| f.name.clone())
            .collect();
        self.pending.insert(checkpoint_id, new_shared);
        Ok(NativeState {
            backend: BACKEND_NAME.to_string(),
            dir: Arc::new(dir),
            key_groups: self.key_groups,
            files,
            instance: self.instance.clone(),
            uploaded: Some(Arc::clone(&self.uploaded)),
        })
    }

    /// Checkpoint `checkpoint_id` completed: the shared files its snapshot uploaded
    /// may be referenced by later checkpoints. Snapshots of older, unfinished
    /// checkpoints are forgotten (they were declined or timed out).
    pub fn checkpoint_complete(&mut self, checkpoint_id: u64) {
        let newer = self.pending.split_off(&(checkpoint_id + 1));
        let done = std::mem::replace(&mut self.pending, newer);
        let Some(names) = done.get(&checkpoint_id) else {
            return;
        };
        let Ok(mut uploaded) = self.uploaded.lock() else {
            return;
        };
        for name in names {
            if let Some(file) = uploaded.remove(name) {
                self.confirmed.insert(name.clone(), file);
            }
        }
    }
}

fn db_options(ttl: Option<StoreTtl>) -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_compression_type(DBCompressionType::Lz4);
    options.set_max_background_jobs(2);
    // RocksDB's flush threads are one pool for the whole process, sized for one
    // database (one thread): the subtasks' checkpoint flushes queued behind each other
    // while their tasks waited (45 ms for the first subtask of q17, 80 ms for the
    // second). A flush thread per core lets them flush side by side.
    if let Ok(mut env) = Env::new() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        env.set_high_priority_background_threads(i32::try_from(cores).unwrap_or(2));
        options.set_env(&env);
    }
    options.set_write_buffer_size(64 << 20);
    // Each checkpoint flushes the memtable into a level-0 file, and every one of them
    // spans all key groups: compacting level 0 only when it holds 16 files (not 4)
    // rewrites level 1 (the whole state) a quarter as often, and the next incremental
    // checkpoint uploads it a quarter as often. Reads stay cheap (Bloom filters below).
    options.set_level_zero_file_num_compaction_trigger(16);
    options.set_level_zero_slowdown_writes_trigger(40);
    options.set_level_zero_stop_writes_trigger(64);
    options.set_max_open_files(512);
    // Aggregations look up every key they do not hold in memory, most of them new
    // keys: a Bloom filter per SST file answers "not here" without reading its blocks
    // (each checkpoint flushes the memtable into one more level-0 file).
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    options.set_block_based_table_factory(&table);
    if let Some(StoreTtl { ttl_ms, clock }) = ttl {
        options.set_compaction_filter("weir-state-ttl", move |_level, _key, value: &[u8]| {
            let Some(prefix) = value.first_chunk::<8>() else {
                return Decision::Keep;
            };
            if i64::from_be_bytes(*prefix).saturating_add(ttl_ms) <= clock() {
                Decision::Remove
            } else {
                Decision::Keep
            }
        });
    }
    options
}

/// Moves a restored folder into place (copying when a rename is not possible).
fn move_dir(from: &Path, to: &Path) -> StateResult<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|source| StateError::Io {
        context: format!("creating {}", to.display()),
        source,
    })?;
    let listing = std::fs::read_dir(from).map_err(|source| StateError::Io {
        context: format!("listing {}", from.display()),
        source,
    })?;
    for entry in listing {
        let entry = entry.map_err(|source| StateError::Io {
            context: format!("listing {}", from.display()),
            source,
        })?;
        let target: PathBuf = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target).map_err(|source| StateError::Io {
            context: format!("copying {} to {}", entry.path().display(), target.display()),
            source,
        })?;
    }
    Ok(())
}

fn rocks_error(context: String, error: rocksdb::Error) -> StateError {
    StateError::Backend {
        context,
        reason: error.into_string(),
    }
}

#[cfg(test)]
#[path = "rocks_tests.rs"]
mod tests;
