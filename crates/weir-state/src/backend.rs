//! Which state backend a job's operators keep their keyed state in
//! (`state.backend.type`), and the RocksDB backend's settings.

use std::path::PathBuf;

/// `state.backend.type`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StateBackend {
    /// `hashmap` (default): state in memory, snapshotted as Arrow tables.
    #[default]
    HashMap,
    /// `hashmap` with `execution.checkpointing.incremental = true`: state in memory;
    /// a checkpoint stores only the keys changed since the previous one, on a chain
    /// of a full base and deltas (see [`crate::changelog`]).
    IncrementalHashMap,
    /// `rocksdb`: keyed state in an embedded RocksDB per operator subtask, on local
    /// disk, so it may be much larger than memory; checkpoints upload its files.
    RocksDb(RocksConfig),
}

impl StateBackend {
    /// The option value naming this backend.
    pub fn name(&self) -> &'static str {
        match self {
            StateBackend::HashMap | StateBackend::IncrementalHashMap => "hashmap",
            StateBackend::RocksDb(_) => "rocksdb",
        }
    }

    /// The RocksDB settings, for the RocksDB backend.
    pub fn rocksdb(&self) -> Option<&RocksConfig> {
        match self {
            StateBackend::HashMap | StateBackend::IncrementalHashMap => None,
            StateBackend::RocksDb(config) => Some(config),
        }
    }

    /// Whether checkpoints are incremental (`execution.checkpointing.incremental`).
    pub fn incremental(&self) -> bool {
        match self {
            StateBackend::HashMap => false,
            StateBackend::IncrementalHashMap => true,
            StateBackend::RocksDb(config) => config.incremental,
        }
    }
}

/// Settings of the RocksDB backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksConfig {
    /// `state.backend.rocksdb.localdir`: where each subtask's database and the files
    /// of a restore are kept while the job runs (removed when it ends). Default: the
    /// system's temporary folder.
    pub local_dir: PathBuf,
    /// `execution.checkpointing.incremental`: a checkpoint uploads only the files no
    /// earlier completed checkpoint stored.
    pub incremental: bool,
    /// Keys an operator keeps in memory, on top of the store, before it writes them
    /// back and drops them (its cache of hot keys).
    pub cache_keys: usize,
}

impl Default for RocksConfig {
    fn default() -> Self {
        RocksConfig {
            local_dir: std::env::temp_dir(),
            incremental: false,
            cache_keys: 100_000,
        }
    }
}
