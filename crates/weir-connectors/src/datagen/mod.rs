//! The `datagen` connector: random and sequence data, as Flink's DataGen connector.
//!
//! ```sql
//! CREATE TABLE orders (id BIGINT, amount DOUBLE, note STRING, ts TIMESTAMP(3))
//! WITH ('connector' = 'datagen', 'rows-per-second' = '1000', 'number-of-rows' = '10000',
//!       'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '10000',
//!       'fields.amount.min' = '1', 'fields.amount.max' = '100',
//!       'fields.note.length' = '10', 'fields.ts.max-past' = '5 s');
//! ```
//!
//! Options (Flink's names and defaults):
//! - `rows-per-second` (10000): rate limit of the whole source, shared by its subtasks.
//! - `number-of-rows`: makes the source bounded; split over the subtasks so that the
//!   total is exact.
//! - `fields.<f>.kind`: `random` (default) or `sequence`.
//! - random: `fields.<f>.min` / `.max` (numbers, inclusive; default the type's range),
//!   `.length` (strings and bytes, default 100; arrays and maps, default 3 elements),
//!   `.var-len` (strings and bytes of random length `1..=length`), `.max-past`
//!   (timestamps: now minus a random duration below it; default 0, i.e. now),
//!   `.null-rate` (0 to 1). Nested types take options on `fields.<f>.<subfield>.*`,
//!   `fields.<f>.element.*`, `fields.<f>.key.*` and `fields.<f>.value.*`.
//! - sequence (integers, floating point, decimals, strings): `fields.<f>.start` and
//!   `.end` (inclusive). The source is then bounded by `end - start + 1` rows; the
//!   values are dealt over the subtasks (subtask `i` of `n` makes `start + i`,
//!   `start + i + n`, ...) so that together they make each value once, as Flink does.
//!
//! Each subtask has one split and builds whole Arrow arrays per batch. Random strings
//! are alphanumeric (Flink's are hexadecimal). DATE and TIME columns get the current
//! date and time of day, as in Flink.
//!
//! Row `g` of the source (rows are dealt round-robin: subtask `i` of `n` makes rows
//! `i, i + n, ...`) takes its random values from a generator seeded with the source's
//! seed and `g`, and its sequence values are `start + g`. Checkpoints: the source is
//! rewindable; each subtask's rows are a shard whose position (rows emitted, seed) is
//! checkpointed (see `position.rs`), and a job restored at another parallelism keeps
//! the old shards, subtask `i` of `n` taking the old shards `j` with `j % n == i`. The
//! rows after a restore are exactly those of an uninterrupted run, but for the
//! wall-clock time columns.

mod fields;
mod generate;
mod position;
mod reader;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rewind;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use weir_runtime::{SourceFactory, SourceReader, SubtaskContext};
use weir_types::{EngineError, EngineResult};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::options::Options;
use crate::SourceBinding;
use fields::{ColumnGen, FieldOptions};
use position::ShardPosition;
use reader::DatagenReader;

/// Flink's default `rows-per-second`.
const DEFAULT_ROWS_PER_SECOND: u64 = 10_000;
/// Largest batch a reader emits.
const MAX_BATCH_ROWS: u64 = 4096;

/// Creates a `datagen` source for `table`.
pub fn create_source(table: &TableDescriptor) -> Result<SourceBinding, ConnectorError> {
    let mut options = Options::new(table, "datagen");
    let rows_per_second: u64 = options
        .parse("rows-per-second", "a positive integer")?
        .unwrap_or(DEFAULT_ROWS_PER_SECOND);
    if rows_per_second == 0 {
        return Err(options.invalid("rows-per-second", "0", "expected a positive integer"));
    }
    let number_of_rows: Option<u64> = options.parse("number-of-rows", "a non-negative integer")?;
    options.allow_prefix("fields.");
    options.finish()?;

    if let Some(m) = table.metadata.first() {
        return Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "connector 'datagen' provides no metadata, but column '{}' is declared METADATA",
                m.column
            ),
        });
    }

    let mut field_options = FieldOptions::new(table);
    let mut columns = Vec::with_capacity(table.schema.fields().len());
    let mut bound = number_of_rows;
    for field in table.schema.fields() {
        let (gen, sequence_len) = fields::build_column(&mut field_options, field)?;
        if let Some(len) = sequence_len {
            bound = Some(bound.map_or(len, |b| b.min(len)));
        }
        columns.push(gen);
    }
    field_options.finish()?;

    let mut description = format!("datagen(rows-per-second={rows_per_second}");
    if let Some(rows) = bound {
        description.push_str(&format!(", rows={rows}"));
    }
    description.push(')');
    Ok(SourceBinding {
        factory: Arc::new(DatagenFactory {
            schema: table.schema.clone(),
            columns: Arc::new(columns),
            rows_per_second,
            rows: bound,
            seed: rand::random(),
        }),
        description,
        bounded: bound.is_some(),
        max_useful_parallelism: None,
        parallelism: None,
        changelog: weir_types::ChangelogKind::AppendOnly,
        upsert_key: Vec::new(),
    })
}

/// Number of the `total` items (rows, sequence values) that subtask `index` of
/// `parallelism` gets when they are dealt round-robin.
pub(crate) fn share(total: u64, index: usize, parallelism: usize) -> u64 {
    let (index, parallelism) = (index as u64, parallelism.max(1) as u64);
    total / parallelism + u64::from(total % parallelism > index)
}

struct DatagenFactory {
    schema: SchemaRef,
    columns: Arc<Vec<ColumnGen>>,
    rows_per_second: u64,
    rows: Option<u64>,
    /// Seed of the random values: drawn when the source is created; a restored reader
    /// takes the checkpoint's.
    seed: u64,
}

impl SourceFactory for DatagenFactory {
    fn is_bounded(&self) -> bool {
        self.rows.is_some()
    }

    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        let parallelism = ctx.parallelism.max(1);
        if ctx.subtask >= parallelism {
            return Err(EngineError::Internal(format!(
                "datagen subtask {} of {parallelism}",
                ctx.subtask
            )));
        }
        let rate = self.rows_per_second as f64 / parallelism as f64;
        let batch_rows = ((rate / 10.0).ceil() as u64).clamp(1, MAX_BATCH_ROWS);
        let fingerprint = format!("{:?} rows={:?}", self.columns, self.rows);
        let shard = ShardPosition {
            index: ctx.subtask as u64,
            count: parallelism as u64,
            emitted: 0,
            limit: self.rows.map(|r| share(r, ctx.subtask, parallelism)),
            seed: self.seed,
        };
        Ok(Box::new(DatagenReader::new(
            self.schema.clone(),
            self.columns.clone(),
            fingerprint,
            ctx,
            shard,
            rate,
            batch_rows,
            self.rows.is_some(),
        )))
    }
}
