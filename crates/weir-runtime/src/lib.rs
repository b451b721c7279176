//! Weir's runtime: runs a dataflow graph in one process.
//!
//! The planner (weir-sql) builds a [`graph::JobGraph`] of nodes whose behaviour comes
//! from factories: [`source::SourceFactory`] for sources and
//! [`operator::OperatorFactory`] for everything else, sinks included. The runtime
//! chains forward edges of equal parallelism into one task ([`chain`]), joins tasks by
//! bounded channels ([`channel`]) so that a slow consumer backpressures its producers,
//! partitions batches on exchanges ([`partition`]), tracks watermarks per split and per
//! input channel ([`watermark`]) and runs everything on tokio ([`job`]).

pub mod chain;
pub mod channel;
pub mod checkpoint;
pub mod graph;
pub mod io_runtime;
pub mod job;
#[cfg(test)]
mod job_tests;
pub mod late;
mod launch;
pub mod lookup;
pub mod metrics;
pub mod operator;
mod operator_task;
pub mod partition;
pub mod source;
mod source_task;
mod task;
pub mod watermark;

pub use checkpoint::{CheckpointConfig, CheckpointingMode, RestartStrategy, RestoreFrom};
pub use graph::{Edge, EdgeKind, JobGraph, Node, NodeKind};
pub use io_runtime::IoRuntime;
pub use job::{JobConfig, JobHandle, JobOutcome};
pub use late::{late_data_schema, LateData, LateDataSource, LateRowsWriter, RoutesLateRows};
pub use lookup::{LookupCacheOptions, LookupError, LookupOptions, LookupTable, LookupTableFactory};
pub use metrics::JobMetrics;
pub use operator::{Operator, OperatorFactory, Output, SubtaskContext};
pub use source::{EventTimeExtractor, SourceEvent, SourceFactory, SourceReader};
pub use weir_state::{
    redistribute, KeyedStore, RocksConfig, StateBackend, StateSnapshot, StateTable, TableKind,
    KEY_GROUP_COLUMN,
};
