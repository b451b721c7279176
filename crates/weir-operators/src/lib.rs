//! Weir's operators. Each works on whole Arrow batches and evaluates expressions with
//! DataFusion's physical expressions (vectorised kernels), never row by row.
//!
//! - [`calc`]: projection and filter, chained into one operator;
//! - [`union`]: merges its inputs (UNION ALL);
//! - [`event_time`]: evaluates a table's `WATERMARK FOR` expression over a batch;
//! - [`window`]: event-time window aggregation (TUMBLE, HOP, CUMULATE) with slicing;
//! - [`group_agg`]: unbounded GROUP BY producing an updating stream;
//! - [`rank`]: unbounded Top-N and deduplication (`ROW_NUMBER()` without windows);
//! - [`over`]: OVER aggregations ordered by event time;
//! - [`join`]: regular (unbounded) equi-joins, INNER and OUTER, with Flink's changelog;
//!   interval, window and lookup joins.

pub mod calc;
mod calc_shared;
pub mod event_time;
pub mod group_agg;
mod inline_bytes;
pub mod join;
pub mod normalize;
pub mod over;
pub mod rank;
mod ttl;
pub mod union;
pub mod window;
pub mod window_topn;

pub use calc::Calc;
pub use event_time::WatermarkExpression;
pub use group_agg::local::LocalAggregate;
pub use group_agg::{GroupAggregate, MiniBatch};
pub use join::lookup::LookupJoin;
pub use join::{ColdSide, JoinKind, JoinSide, RegularJoin};
pub use normalize::ChangelogNormalize;
pub use over::{OverAggregate, OverFrame};
pub use rank::Rank;
pub use union::Union;
pub use window::{WindowAggregate, WindowSpec};
pub use window_topn::WindowTopN;
