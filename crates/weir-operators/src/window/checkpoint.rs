//! Pieces shared by the checkpoint state of the window operators (window aggregation,
//! session windows, window Top-N and deduplication).
//!
//! Every window operator stores, besides its own keyed tables:
//! - `watermark` (union): one row per old subtask, column `watermark` (Int64, NULL
//!   before the first watermark). A restored subtask takes the minimum (NULL wins): at
//!   an aligned barrier every subtask has seen the same watermarks, so they agree;
//! - `definition` (union): one row per old subtask, column `definition` (Utf8): a
//!   description of the operator (window, number of keys, aggregates, written
//!   explicitly, not with `Debug`). A restore into an operator with another
//!   description fails: the SQL changed.
//!
//! Keyed tables carry [`KEY_GROUP_COLUMN`] computed with
//! [`weir_runtime::partition::key_groups`] over the same columns (same types, same
//! order) the hash exchange into the operator hashes; an operator without keys runs at
//! parallelism 1 and puts all its state in key group 0, which subtask 0 owns at any
//! parallelism.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, UInt16Array};
use arrow::compute::{cast, lexsort_to_indices, take_record_batch, SortColumn};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::{StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{EngineError, EngineResult};

use super::FilteredAggregate;

/// Name of the union table holding each old subtask's watermark.
pub(crate) const WATERMARK_TABLE: &str = "watermark";
/// Name of the union table describing the operator that took the snapshot.
pub(crate) const DEFINITION_TABLE: &str = "definition";

/// Aggregate functions whose intermediate state (`state()`) merged into a fresh
/// accumulator (`merge_batch`) gives an accumulator that behaves exactly like the
/// original for every later row: counts, integer and floating sums (`0 + s == s`),
/// extremes, sets (DISTINCT), first/last values with their ordering, concatenations
/// and HyperLogLog registers. Anything else (unknown functions included) is refused.
const EXACT_FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "first_value",
    "last_value",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "bit_xor",
    "string_agg",
    "array_agg",
    "median",
    "approx_distinct",
];

/// Why a function's state does not round-trip exactly, for the error message.
fn inexact_reason(name: &str) -> &'static str {
    match name {
        "stddev" | "stddev_pop" | "var" | "var_pop" | "var_samp" | "stddev_samp" => {
            "its merged mean is recomputed as mean * n / n, which is not exact in floating point"
        }
        "approx_percentile_cont" | "approx_percentile_cont_with_weight" | "approx_median" => {
            "merging its t-digest re-compresses it, so the restored digest differs"
        }
        _ => "its intermediate state is not known to restore exactly",
    }
}

/// Checks that every aggregate restores exactly from its intermediate state; else a
/// `Config` error naming the first that does not, for `operator` (e.g. "window
/// aggregation").
pub(crate) fn check_exact(aggregates: &[FilteredAggregate], operator: &str) -> EngineResult<()> {
    for (agg, _) in aggregates {
        let name = agg.fun().name();
        let ordered = !agg.order_bys().is_empty();
        let ordered_list = ordered && matches!(name, "string_agg" | "array_agg");
        if !EXACT_FUNCTIONS.contains(&name) || ordered_list {
            let reason = if ordered_list {
                "its ordered state is re-merged, which may reorder ties"
            } else {
                inexact_reason(name)
            };
            return Err(EngineError::Config(format!(
                "checkpoints are not supported for the {operator} with aggregate {} \
                 ({name}): {reason}; remove execution.checkpointing.interval or use \
                 another aggregate function",
                agg.name()
            )));
        }
    }
    Ok(())
}

/// A description of aggregates for the `definition` table: function, DISTINCT, number
/// of arguments, FILTER, output name and number of state fields. It names no Arrow type:
/// type names are not a stable format across Arrow versions (a changed type shows as a
/// mismatch of the stored columns instead).
pub(crate) fn describe_aggregates(aggregates: &[FilteredAggregate]) -> String {
    let parts: Vec<String> = aggregates
        .iter()
        .map(|(agg, filter)| {
            let states = agg.state_fields().map_or(0, |f| f.len());
            format!(
                "{}({}{} args){} AS {} with {states} state fields",
                agg.fun().name(),
                if agg.is_distinct() { "DISTINCT " } else { "" },
                agg.expressions().len(),
                if filter.is_some() { " FILTER" } else { "" },
                agg.name()
            )
        })
        .collect();
    parts.join(", ")
}

/// Maps a snapshot error (from `weir_state`) into an engine error.
pub(crate) fn state_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("building the checkpoint state: {e}"))
}

/// The key group of every row of `keys` (the hash exchange's key columns), or key
/// group 0 for all `rows` when there are no keys.
pub(crate) fn key_group_column(
    keys: &[ArrayRef],
    rows: usize,
    max_parallelism: usize,
) -> EngineResult<ArrayRef> {
    if keys.is_empty() {
        return Ok(Arc::new(UInt16Array::from(vec![0u16; rows])));
    }
    Ok(Arc::new(weir_runtime::partition::key_groups(
        keys,
        max_parallelism,
    )?))
}

/// The key group field of keyed tables.
pub(crate) fn key_group_field() -> Field {
    Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false)
}

/// Adds the `watermark` and `definition` union tables.
pub(crate) fn add_common(
    snapshot: &mut StateSnapshot,
    watermark: Option<i64>,
    definition: &str,
) -> EngineResult<()> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "watermark",
        DataType::Int64,
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![watermark]))])?;
    snapshot
        .add_union(WATERMARK_TABLE, batch)
        .map_err(state_err)?;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "definition",
        DataType::Utf8,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(vec![definition.to_string()]))],
    )?;
    snapshot
        .add_union(DEFINITION_TABLE, batch)
        .map_err(state_err)
}

/// Checks a restored snapshot: only `known` tables, and a `definition` equal to
/// `definition`. Returns the restored watermark: the minimum over the old subtasks
/// (`None` when one of them had none, or when the table is absent).
pub(crate) fn restore_common(
    snapshot: &StateSnapshot,
    known: &[&str],
    definition: &str,
    operator: &str,
) -> EngineResult<Option<i64>> {
    for table in snapshot.tables() {
        let name = table.name();
        if name != WATERMARK_TABLE && name != DEFINITION_TABLE && !known.contains(&name) {
            return Err(EngineError::Config(format!(
                "the checkpoint holds a table {name:?} that the {operator} does not keep; \
                 the job's SQL changed since the checkpoint was taken"
            )));
        }
    }
    if let Some(table) = snapshot.table(DEFINITION_TABLE) {
        for batch in table.batches() {
            let column = batch
                .column_by_name("definition")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| bad_table(DEFINITION_TABLE, "has no Utf8 column definition"))?;
            for old in column.iter().flatten() {
                if old != definition {
                    return Err(EngineError::Config(format!(
                        "the checkpoint's state of the {operator} was taken for [{old}], \
                         but the operator is now [{definition}]; the job's SQL changed \
                         since the checkpoint was taken"
                    )));
                }
            }
        }
    }
    let Some(table) = snapshot.table(WATERMARK_TABLE) else {
        return Ok(None);
    };
    let mut min: Option<Option<i64>> = None;
    for batch in table.batches() {
        let column = batch
            .column_by_name("watermark")
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| bad_table(WATERMARK_TABLE, "has no Int64 column watermark"))?;
        for value in column.iter() {
            min = Some(match (min, value) {
                (None, v) => v,
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.min(b)),
            });
        }
    }
    Ok(min.flatten())
}

/// An error for a stored table that does not have the expected layout.
pub(crate) fn bad_table(table: &str, what: &str) -> EngineError {
    EngineError::Config(format!(
        "the checkpoint's table {table:?} {what}; it was written by another version \
         or the job's SQL changed"
    ))
}

/// The column `name` of a stored table, checking its type.
pub(crate) fn column<'a>(
    batch: &'a RecordBatch,
    table: &str,
    name: &str,
    data_type: &DataType,
) -> EngineResult<&'a ArrayRef> {
    match batch.column_by_name(name) {
        Some(c) if c.data_type() == data_type => Ok(c),
        Some(c) => Err(bad_table(
            table,
            &format!(
                "has column {name} of type {}, expected {data_type}",
                c.data_type()
            ),
        )),
        None => Err(bad_table(table, &format!("has no column {name}"))),
    }
}

/// Sorts `batch` by the Int64 columns `by` (stable) and returns it with the row ranges
/// of equal values.
pub(crate) fn group_by(
    batch: &RecordBatch,
    by: &[&ArrayRef],
) -> EngineResult<(RecordBatch, Vec<std::ops::Range<usize>>)> {
    let mut sort: Vec<SortColumn> = by
        .iter()
        .map(|c| SortColumn {
            values: Arc::clone(c),
            options: None,
        })
        .collect();
    // Keep the stored order within a group.
    let position: ArrayRef = Arc::new(Int64Array::from_iter_values(0..batch.num_rows() as i64));
    sort.push(SortColumn {
        values: position,
        options: None,
    });
    let indices = lexsort_to_indices(&sort, None)?;
    let sorted = take_record_batch(batch, &indices)?;
    let keys: Vec<ArrayRef> = by
        .iter()
        .map(|c| arrow::compute::take(c.as_ref(), &indices, None))
        .collect::<Result<_, _>>()?;
    let ranges = if keys.is_empty() || sorted.num_rows() == 0 {
        std::iter::once(0..sorted.num_rows()).collect()
    } else {
        arrow::compute::kernels::partition::partition(&keys)?.ranges()
    };
    Ok((sorted, ranges))
}

/// Casts key columns to `types` where they differ (stored keys back to the types the
/// hash exchange hashes, restored keys to the operator's key types).
pub(crate) fn cast_keys(keys: &[ArrayRef], types: &[DataType]) -> EngineResult<Vec<ArrayRef>> {
    keys.iter()
        .zip(types)
        .map(|(k, t)| {
            if k.data_type() == t {
                Ok(Arc::clone(k))
            } else {
                Ok(cast(k, t)?)
            }
        })
        .collect()
}

/// All rows of a table of `snapshot`, as one batch (`None` when absent or empty).
pub(crate) fn table_rows(
    snapshot: &StateSnapshot,
    name: &str,
) -> EngineResult<Option<RecordBatch>> {
    match snapshot.table(name) {
        Some(table) if table.num_rows() > 0 => Ok(Some(table.concat().map_err(state_err)?)),
        _ => Ok(None),
    }
}

/// The first value of an Int64 column range (group keys after [`group_by`]).
pub(crate) fn int64_at(column: &ArrayRef, row: usize) -> EngineResult<i64> {
    let values = column
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| EngineError::Internal("expected an Int64 column".into()))?;
    if values.is_null(row) {
        return Err(EngineError::Internal("unexpected NULL in state".into()));
    }
    Ok(values.value(row))
}

/// A batch of buffered input rows as a keyed table stores them: `__weir_key_group`
/// (over the hash exchange's columns `hash_columns` of the rows), then every column of
/// `rows` named `col0`, `col1`.. (nullable, types kept), the last one named `last` when
/// given (e.g. an arrival number).
pub(crate) fn rows_table_batch(
    rows: &RecordBatch,
    hash_columns: &[usize],
    last: Option<&str>,
    max_parallelism: usize,
) -> EngineResult<RecordBatch> {
    let keys: Vec<ArrayRef> = hash_columns
        .iter()
        .map(|&c| {
            rows.columns()
                .get(c)
                .cloned()
                .ok_or_else(|| EngineError::Internal(format!("partition column {c} is missing")))
        })
        .collect::<EngineResult<_>>()?;
    let mut fields = vec![key_group_field()];
    let mut columns = vec![key_group_column(&keys, rows.num_rows(), max_parallelism)?];
    let width = rows.num_columns();
    for (i, c) in rows.columns().iter().enumerate() {
        let name = match last {
            Some(last) if i + 1 == width => last.to_string(),
            _ => format!("col{i}"),
        };
        fields.push(Field::new(name, c.data_type().clone(), true));
        columns.push(Arc::clone(c));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The rows of a table written by [`rows_table_batch`] (without the key group), split
/// by the window end (epoch ms) in column `end_column` of the rows, keeping their order.
/// Checks that there are `width` row columns.
pub(crate) fn rows_by_window_end(
    table: &str,
    stored: &RecordBatch,
    end_column: usize,
    width: usize,
) -> EngineResult<std::collections::BTreeMap<i64, RecordBatch>> {
    if stored.num_columns() != width + 1 {
        return Err(bad_table(
            table,
            &format!(
                "has {} columns, expected {}",
                stored.num_columns(),
                width + 1
            ),
        ));
    }
    let rows = stored.project(&(1..stored.num_columns()).collect::<Vec<_>>())?;
    let ends = rows.column(end_column);
    let DataType::Timestamp(_, tz) = ends.data_type() else {
        return Err(bad_table(table, "has no timestamp window end column"));
    };
    let millis = cast(
        ends,
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, tz.clone()),
    )?;
    let millis = millis.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    let mut rows_of: std::collections::BTreeMap<i64, Vec<u32>> = Default::default();
    for (row, end) in millis.iter().enumerate() {
        let Some(end) = end else {
            return Err(bad_table(table, "has a row without window end"));
        };
        rows_of.entry(end).or_default().push(row as u32);
    }
    let mut out = std::collections::BTreeMap::new();
    for (end, indices) in rows_of {
        let part = take_record_batch(&rows, &arrow::array::UInt32Array::from(indices))?;
        out.insert(end, part);
    }
    Ok(out)
}

/// Checks that the state columns of a stored table (from column `first` on) have the
/// types of the aggregates' state fields, and returns the number of state fields of
/// each aggregate.
pub(crate) fn check_state_types(
    table: &str,
    stored: &RecordBatch,
    first: usize,
    aggregates: &[FilteredAggregate],
) -> EngineResult<Vec<usize>> {
    let mut counts = Vec::with_capacity(aggregates.len());
    let mut next = first;
    for (agg, _) in aggregates {
        let fields = agg.state_fields()?;
        for field in &fields {
            let Some(c) = stored.columns().get(next) else {
                return Err(bad_table(
                    table,
                    "has fewer state columns than the aggregates",
                ));
            };
            if !c.data_type().equals_datatype(field.data_type()) {
                return Err(bad_table(
                    table,
                    &format!(
                        "holds state of type {} for aggregate {}, which now keeps {}",
                        c.data_type(),
                        agg.name(),
                        field.data_type()
                    ),
                ));
            }
            next += 1;
        }
        counts.push(fields.len());
    }
    if next != stored.num_columns() {
        return Err(bad_table(
            table,
            &format!("has {} columns, expected {next}", stored.num_columns()),
        ));
    }
    Ok(counts)
}
