//! End-to-end tests of the `weir` binary.
//!
//! - `sql_cases`: every folder under `tests/cases/` is a job with its inputs and expected
//!   outputs, run by the real binary at each parallelism it lists (default 1 and 4).
//! - `docs_examples`: the SQL examples in `docs/` run and print what the docs show.
//! - `cli`: the command line itself (help, errors for missing scripts).

mod cases;
mod cli;
mod docs_examples;
