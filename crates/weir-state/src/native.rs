//! Native state: the files of an embedded store's own checkpoint (RocksDB), carried in
//! a [`crate::StateSnapshot`] beside (or instead of) Arrow tables.
//!
//! A subtask whose keyed state lives in a [`crate::rocks::KeyedStore`] snapshots it as
//! a [`NativeState`]: a local folder of hard links to the store's immutable SST files
//! plus its small manifest files. The checkpoint writer uploads SST files to the
//! location's `shared/` folder, once: a file an earlier completed checkpoint already
//! stored is referenced again, not uploaded (incremental checkpoints). The manifest
//! files go into the checkpoint folder. On restore, the files of every old subtask
//! whose key groups overlap the new subtask's are downloaded into local folders, which
//! the store opens (or copies its key groups out of, after a rescale).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Name of the folder, beside the `chk-<id>` folders, that holds SST files shared by
/// several checkpoints.
pub const SHARED_DIR: &str = "shared";

/// A local folder removed (with its contents) when the last reference to it goes.
#[derive(Debug)]
pub struct LocalDir {
    path: PathBuf,
}

impl LocalDir {
    /// Takes ownership of `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        LocalDir { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives up ownership: the folder is kept, and its path returned.
    pub fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.path)
    }
}

impl Drop for LocalDir {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where one SST file is stored: a path relative to the checkpoint location (the
/// folder holding `chk-<id>` and `shared/`), its size and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFile {
    /// `shared/<operator-dir>/<store-instance>-<file name>`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `crc32c:<8 hex digits>`.
    pub checksum: String,
    /// The checkpoint location `path` is relative to: a file is referenced only by
    /// checkpoints of that location, and uploaded again to another one.
    pub location: String,
}

/// Files uploaded by checkpoint writers, by local file name: how a store learns where
/// its files went (it reuses them only once their checkpoint completed).
pub type UploadedFiles = Arc<Mutex<HashMap<String, SharedFile>>>;

/// One file of a native snapshot.
#[derive(Debug, Clone)]
pub struct NativeFile {
    /// The file's name in the store's folder (`000012.sst`, `MANIFEST-000005`, ...).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether the file is an immutable SST file, stored under `shared/`.
    pub shared: bool,
    /// For a shared file an earlier completed checkpoint stored: where. Not uploaded
    /// again.
    pub stored: Option<SharedFile>,
}

/// One subtask's native state: files in a local folder, and the key groups they hold.
#[derive(Debug, Clone)]
pub struct NativeState {
    /// Which store wrote the files (`rocksdb`).
    pub backend: String,
    /// The local folder holding the files; removed when the snapshot is dropped.
    pub dir: Arc<LocalDir>,
    /// The key groups the store held, `[first, last]`.
    pub key_groups: [u32; 2],
    /// The files.
    pub files: Vec<NativeFile>,
    /// The store instance's id: new shared files are stored as `<instance>-<name>`.
    pub instance: String,
    /// Where a writer reports the shared files it uploaded (snapshots only).
    pub uploaded: Option<UploadedFiles>,
}

/// A stored file of a native snapshot, as the metadata records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeFileEntry {
    /// The file's name in the store's folder.
    pub name: String,
    /// Path relative to the checkpoint location for shared files, else relative to
    /// the checkpoint folder.
    pub path: String,
    /// Whether `path` is under the location's `shared/` folder.
    pub shared: bool,
    /// Size in bytes.
    pub size: u64,
    /// `crc32c:<8 hex digits>`.
    pub checksum: String,
}

/// A subtask's stored native state, as the metadata records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeHandle {
    /// Which store wrote it (`rocksdb`).
    pub backend: String,
    /// The key groups it holds, `[first, last]`.
    pub key_groups: [u32; 2],
    /// Its files.
    pub files: Vec<NativeFileEntry>,
    /// Bytes this checkpoint uploaded for it (the rest was stored by earlier ones).
    #[serde(default)]
    pub uploaded: u64,
}

impl NativeHandle {
    /// Bytes of all its files, uploaded now or earlier.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}
