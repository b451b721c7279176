//! End-to-end tests of the `weir` binary.
//!
//! - `sql_cases`: every folder under `tests/cases/` is a job with its inputs and its
//!   `weir test` cases (`job.tests/*.toml`), run with `weir test` at the parallelisms
//!   each case lists.
//! - `docs_examples`: the SQL examples in `docs/` run and print what the docs show.
//! - `cli`: the command line itself (help, errors for missing scripts).
//! - `weir_test_cases`: `weir test` on the jobs under `tests/jobs/` and their cases
//!   (passing, failing with a diff, `--update`, JUnit, errors), and `weir sample`.
//! - `recovery`: `kill -9` at 20 random moments, resumed each time, commits exactly
//!   what an uninterrupted run does.
//! - `recovery_join`: the same for a FULL OUTER join's changelog, and a savepoint of it
//!   restored at other parallelisms.
//! - `lookup`: lookup joins with Redis and PostgreSQL (servers started by the tests),
//!   dimensions loaded by a job through the redis and jdbc sinks.
//! - `weir_test_docs`: the walkthrough of `docs/testing.md`, run as written.
//! - `kafka_recovery`: Kafka to Kafka killed at 20 random moments and restarted: no
//!   record lost (at least once), every window with its one correct result.
//! - `kafka_broker_restart`: Kafka to Kafka while the broker (tansu on a local S3 server)
//!   is killed and started again twice: no record lost, every window correct.
//! - `kafka_support`: what the Kafka to Kafka failure tests share (input, job, checks).
//! - `kafka_upsert`: `upsert-kafka` tables read as changelogs (updates, deletions, a
//!   restore from a checkpoint).
//! - `kafka_sink`: jobs writing `kafka` and `upsert-kafka` tables of a tansu broker the
//!   tests start, read back and compared.
//! - `s3_checkpoints`: checkpoints in a local S3 server (moto): a job killed three times
//!   resumes from them and commits exactly what an uninterrupted run does.
//! - `kafka`: jobs reading Kafka topics (a tansu broker started by the tests) into
//!   files: bounded reads, group offsets across runs, event-time windows.

mod cases;
mod cli;
mod cold_join;
mod docs_examples;
mod kafka;
mod kafka_broker_restart;
mod kafka_recovery;
mod kafka_sink;
mod kafka_support;
mod kafka_upsert;
mod lookup;
mod recovery;
mod recovery_join;
mod s3_checkpoints;
mod weir_test_cases;
mod weir_test_docs;
