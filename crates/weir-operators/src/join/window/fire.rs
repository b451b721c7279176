//! Joining one fired window, columnar: the window's rows of each side as one batch, their
//! keys encoded with Arrow's row format, a hash table over the left keys (one entry per
//! distinct key, rows chained by index), the right rows probed against it, the extra
//! condition evaluated over all candidate pairs at once, and the output gathered with
//! `take` (NULL indices pad the unmatched rows of outer sides; a semi or anti join takes
//! the rows of its side that did or did not match).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, TimestampMillisecondArray, UInt32Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::take;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{Row, RowConverter};
use weir_types::{EngineError, EngineResult};

use super::state::concat;
use super::WindowJoin;

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// End of a chain of left rows.
const NONE: u32 = u32::MAX;

/// The rows of side `input` in the window ending at `end`, as one batch; for rows of a
/// HOP or CUMULATE table function, with the window's bounds in its window columns.
pub(super) fn window_rows(
    def: &WindowJoin,
    input: usize,
    batches: Vec<RecordBatch>,
    end: i64,
) -> EngineResult<RecordBatch> {
    let schema = batches
        .first()
        .map(RecordBatch::schema)
        .unwrap_or_else(|| Arc::clone(&def.side(input).schema));
    let batch = concat(&schema, batches)?;
    let columns = def.columns(input);
    if !columns.assign || batch.num_rows() == 0 {
        return Ok(batch);
    }
    let start = def.window.window_start(end);
    let rows = batch.num_rows();
    let mut data = batch.columns().to_vec();
    let bounds = [
        (columns.start, start),
        (Some(columns.end), end),
        (columns.time, end.saturating_sub(1)),
    ];
    for (index, value) in bounds {
        let Some(index) = index else { continue };
        let tz = match data[index].data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        data[index] =
            Arc::new(TimestampMillisecondArray::from_value(value, rows).with_timezone_opt(tz));
    }
    Ok(RecordBatch::try_new(schema, data)?)
}

/// Where no key is NULL (every row when NULL keys are equal).
fn valid_keys(keys: &[ArrayRef], nulls_equal: bool) -> Option<NullBuffer> {
    if nulls_equal {
        return None;
    }
    keys.iter().fold(None, |acc, c| {
        NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
    })
}

/// The matching pairs (left row, right row) of a window, by key.
fn matching_pairs(
    def: &WindowJoin,
    converter: Option<&RowConverter>,
    left: &RecordBatch,
    right: &RecordBatch,
) -> EngineResult<(Vec<u32>, Vec<u32>)> {
    let (nl, nr) = (left.num_rows(), right.num_rows());
    let mut pairs = (Vec::new(), Vec::new());
    if nl == 0 || nr == 0 {
        return Ok(pairs);
    }
    let Some(converter) = converter else {
        // No keys: every pair of the window.
        for r in 0..nr as u32 {
            for l in 0..nl as u32 {
                pairs.0.push(l);
                pairs.1.push(r);
            }
        }
        return Ok(pairs);
    };
    let key_columns = |batch: &RecordBatch, keys: &[usize]| -> Vec<ArrayRef> {
        keys.iter().map(|&k| Arc::clone(batch.column(k))).collect()
    };
    let (lk, rk) = (
        key_columns(left, &def.left.keys),
        key_columns(right, &def.right.keys),
    );
    let (lrows, rrows) = (
        converter.convert_columns(&lk)?,
        converter.convert_columns(&rk)?,
    );
    let (lvalid, rvalid) = (
        valid_keys(&lk, def.nulls_equal),
        valid_keys(&rk, def.nulls_equal),
    );
    let is_valid = |v: &Option<NullBuffer>, i: usize| v.as_ref().is_none_or(|n| n.is_valid(i));
    let mut heads: Map<Row<'_>, u32> = Map::default();
    heads.reserve(nl);
    let mut next = vec![NONE; nl];
    for (l, link) in next.iter_mut().enumerate() {
        if !is_valid(&lvalid, l) {
            continue;
        }
        let head = heads.entry(lrows.row(l)).or_insert(NONE);
        *link = *head;
        *head = l as u32;
    }
    for r in 0..nr {
        if !is_valid(&rvalid, r) {
            continue;
        }
        let Some(&head) = heads.get(&rrows.row(r)) else {
            continue;
        };
        let mut l = head;
        while l != NONE {
            pairs.0.push(l);
            pairs.1.push(r as u32);
            l = next[l as usize];
        }
    }
    Ok(pairs)
}

/// The output columns of `batch` (its first `width`) gathered by `indices` (all NULL
/// when the batch is empty: its side had no row in the window).
fn gather(batch: &RecordBatch, width: usize, indices: &UInt32Array) -> EngineResult<Vec<ArrayRef>> {
    if batch.num_rows() == 0 {
        return Ok(batch.columns()[..width]
            .iter()
            .map(|c| new_null_array(c.data_type(), indices.len()))
            .collect());
    }
    Ok(batch.columns()[..width]
        .iter()
        .map(|c| take(c.as_ref(), indices, None))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Joins the rows of one window: matched pairs, then the unmatched rows of outer sides
/// padded with NULLs (`None` when the window produces nothing).
pub(super) fn join(
    def: &WindowJoin,
    converter: Option<&RowConverter>,
    left: &RecordBatch,
    right: &RecordBatch,
) -> EngineResult<Option<RecordBatch>> {
    let (mut pl, mut pr) = matching_pairs(def, converter, left, right)?;
    let (lw, rw) = (def.left.output_columns, def.right.output_columns);
    if let (Some(filter), false) = (&def.filter, pl.is_empty()) {
        let pair_schema = {
            let fields: Vec<_> = def.left.schema.fields()[..lw]
                .iter()
                .chain(&def.right.schema.fields()[..rw])
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            Arc::new(Schema::new(fields))
        };
        let (li, ri) = (UInt32Array::from(pl), UInt32Array::from(pr));
        let mut columns = gather(left, lw, &li)?;
        columns.extend(gather(right, rw, &ri)?);
        let options = RecordBatchOptions::new().with_row_count(Some(li.len()));
        let pairs = RecordBatch::try_new_with_options(pair_schema, columns, &options)?;
        let result = filter.evaluate(&pairs)?.into_array(li.len())?;
        let result = result.as_boolean_opt().ok_or_else(|| {
            EngineError::Internal("the window join condition is not a boolean".into())
        })?;
        let keep = |i: usize| result.is_valid(i) && result.value(i);
        pl = (0..li.len())
            .filter(|&i| keep(i))
            .map(|i| li.value(i))
            .collect();
        pr = (0..ri.len())
            .filter(|&i| keep(i))
            .map(|i| ri.value(i))
            .collect();
    }
    let options = |rows: usize| RecordBatchOptions::new().with_row_count(Some(rows));
    if let Some((side, anti)) = def.kind.filtering() {
        let (batch, matched, width) = if side == 0 {
            (left, &pl, lw)
        } else {
            (right, &pr, rw)
        };
        let mut seen = vec![false; batch.num_rows()];
        for &i in matched {
            seen[i as usize] = true;
        }
        let rows: UInt32Array = (0..batch.num_rows() as u32)
            .filter(|&i| seen[i as usize] != anti)
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let columns = gather(batch, width, &rows)?;
        return Ok(Some(RecordBatch::try_new_with_options(
            Arc::clone(&def.output_schema),
            columns,
            &options(rows.len()),
        )?));
    }
    let mut left_rows: Vec<Option<u32>> = pl.iter().map(|&l| Some(l)).collect();
    let mut right_rows: Vec<Option<u32>> = pr.iter().map(|&r| Some(r)).collect();
    let pad = |count: usize,
               matched: &[u32],
               own: &mut Vec<Option<u32>>,
               other: &mut Vec<Option<u32>>| {
        let mut seen = vec![false; count];
        for &i in matched {
            seen[i as usize] = true;
        }
        for (i, _) in seen.iter().enumerate().filter(|(_, s)| !**s) {
            own.push(Some(i as u32));
            other.push(None);
        }
    };
    if def.kind.left_outer() {
        pad(left.num_rows(), &pl, &mut left_rows, &mut right_rows);
    }
    if def.kind.right_outer() {
        pad(right.num_rows(), &pr, &mut right_rows, &mut left_rows);
    }
    let rows = left_rows.len();
    if rows == 0 {
        return Ok(None);
    }
    let mut columns = gather(left, lw, &UInt32Array::from(left_rows))?;
    columns.extend(gather(right, rw, &UInt32Array::from(right_rows))?);
    Ok(Some(RecordBatch::try_new_with_options(
        Arc::clone(&def.output_schema),
        columns,
        &options(rows),
    )?))
}
