//! Operator state snapshots and checkpoint storage.
//!
//! This crate owns how state is written down and found again; the runtime decides when
//! (barriers, the checkpoint coordinator) and the operators decide what.
//!
//! - A subtask's snapshot is a [`StateSnapshot`]: named Arrow tables, *keyed* (rows
//!   carry their key group in [`KEY_GROUP_COLUMN`] and are redistributed by key group
//!   on restore, so a job may come back at another parallelism) or *union* (every
//!   subtask receives all rows on restore).
//! - [`CheckpointStorage`] is `execution.checkpointing.dir`, through `object_store`.
//!   Subtasks write their snapshots concurrently through a [`CheckpointWriter`] as Arrow
//!   IPC files; the coordinator then writes `_metadata` (JSON with sizes and CRC32C
//!   checksums) last. [`CheckpointStorage::latest_completed`] skips, and reports,
//!   incomplete and corrupt checkpoints; [`CompletedCheckpoint::restore`] gives each
//!   new subtask its state. Savepoints are the same format in a folder of their own.
//!
//! - With `state.backend.type = rocksdb`, an operator may keep its keyed state in a
//!   [`KeyedStore`] (RocksDB on local disk) and snapshot it as [`NativeState`]: the
//!   store's own files, uploaded once each under `shared/` (incremental checkpoints).
//!   Savepoints are always Arrow tables (the canonical format), so any backend and
//!   parallelism can restore them.
//!
//! - With `state.backend.type = hashmap` and `execution.checkpointing.incremental`,
//!   an operator may snapshot its keyed tables as an incremental chain (a base, then
//!   the changes since each checkpoint) through a [`Changelog`]: see [`changelog`].
//!
//! The layout on storage is documented in docs/checkpoints.md ("Layout").

pub mod backend;
mod buffers;
pub mod changelog;
pub mod checkpoint;
pub mod error;
pub mod format;
pub mod layout;
pub mod metadata;
pub mod native;
pub mod rocks;
pub mod snapshot;
pub mod storage;

pub use backend::{RocksConfig, StateBackend};
pub use changelog::{Changelog, ChangelogHandle};
pub use checkpoint::CompletedCheckpoint;
pub use error::{StateError, StateResult};
pub use metadata::{
    CheckpointMetadata, OperatorState, StateHandle, StoredFile, TableEntry, FORMAT_VERSION,
};
pub use native::{NativeHandle, NativeState};
pub use rocks::KeyedStore;
pub use snapshot::{redistribute, StateSnapshot, StateTable, TableKind, KEY_GROUP_COLUMN};
pub use storage::{CheckpointStorage, CheckpointWriter, LatestCheckpoint};
