//! Weir's FlinkSQL front end.
//!
//! A script is parsed statement by statement ([`parser`]) in the Flink dialect
//! ([`dialect`], [`types`]); `SET` statements change the session ([`config`]);
//! `CREATE TABLE` fills the [`catalog`]; queries are planned by DataFusion and
//! translated into one dataflow graph ([`planner`]), which [`explain`] prints.

pub mod catalog;
pub mod checkpoint_options;
pub mod config;
pub mod dialect;
pub mod error;
pub mod explain;
pub mod parser;
pub mod planner;
pub mod statement;
pub mod types;
pub mod windows;

pub use error::{Position, SqlError, SqlResult};
pub use explain::explain;
pub use planner::{plan_script, PlannedJob};
