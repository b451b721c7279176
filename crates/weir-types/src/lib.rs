//! Types shared by every Weir crate.
//!
//! This crate owns the vocabulary of the dataflow: the [`Message`]s that travel on
//! edges (data batches, watermarks, idleness, checkpoint barriers, end of input), the
//! changelog model ([`RowKind`], [`ChangelogKind`]), key groups used to partition
//! keyed state and data, stable operator ids, and the engine's error type.

pub mod changelog;
pub mod error;
pub mod ids;
pub mod keygroup;
pub mod message;

pub use changelog::{ChangelogKind, RowKind, ROW_KIND_COLUMN};
pub use error::{EngineError, EngineResult};
pub use ids::OperatorId;
pub use message::{Barrier, Message, Watermark};
