//! Column work shared by the joins: evaluating an extra condition over candidate pairs
//! and gathering output rows, both with `take` over the input batch and one decode of
//! the stored rows referenced.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int8Array, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::RowConverter;
use datafusion::physical_expr::PhysicalExpr;
use weir_types::{EngineError, EngineResult, RowKind};

/// The output rows of one batch, as indices into the input batch and into the stored
/// rows they reference.
#[derive(Default)]
pub(super) struct Emitted {
    input: Vec<Option<u32>>,
    other: Vec<Option<u32>>,
    kinds: Vec<i8>,
    /// Bytes of the referenced stored rows, back to back.
    other_bytes: Vec<u8>,
    /// End offset of each referenced stored row in `other_bytes`.
    other_ends: Vec<usize>,
}

impl Emitted {
    /// An output row of input row `input` (or padding) and stored row `other` (or
    /// padding).
    pub fn push(&mut self, input: Option<usize>, other: Option<&[u8]>, kind: RowKind) {
        self.input.push(input.map(|r| r as u32));
        let other = other.map(|bytes| {
            self.other_bytes.extend_from_slice(bytes);
            self.other_ends.push(self.other_bytes.len());
            (self.other_ends.len() - 1) as u32
        });
        self.other.push(other);
        self.kinds.push(kind as i8);
    }
}

/// Where the columns of joined rows come from.
pub(super) struct Layout<'a> {
    /// Which input the batch came from (0: left, its columns first).
    pub input: usize,
    /// The batch's data columns.
    pub data: &'a [ArrayRef],
    /// How many leading data columns of the batch are output.
    pub input_width: usize,
    /// Decodes the other side's stored rows.
    pub other: &'a RowConverter,
    /// The other side's data columns.
    pub other_schema: &'a Schema,
    /// How many leading columns of the other side are output.
    pub other_width: usize,
}

impl Layout<'_> {
    /// Input columns gathered by `indices`, then the other side's, in output order.
    fn columns(&self, indices: &UInt32Array, other: Vec<ArrayRef>) -> EngineResult<Vec<ArrayRef>> {
        let mine = self.data[..self.input_width]
            .iter()
            .map(|c| take(c.as_ref(), indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if self.input == 0 {
            [mine, other].concat()
        } else {
            [other, mine].concat()
        })
    }

    /// The output columns of the stored rows `rows`, gathered by `indices`.
    fn decode<'b>(
        &self,
        rows: impl Iterator<Item = &'b [u8]>,
        indices: Option<&UInt32Array>,
    ) -> EngineResult<Vec<ArrayRef>> {
        let parser = self.other.parser();
        let mut decoded = self.other.convert_rows(rows.map(|r| parser.parse(r)))?;
        decoded.truncate(self.other_width);
        match indices {
            None => Ok(decoded),
            Some(indices) => Ok(decoded
                .iter()
                .map(|c| take(c.as_ref(), indices, None))
                .collect::<Result<Vec<_>, _>>()?),
        }
    }
}

/// The schema of joined rows without the row kind (what an extra condition reads): the
/// first `width` fields of `output`, all nullable.
pub(super) fn pair_schema(output: &Schema, width: usize) -> SchemaRef {
    let fields: Vec<_> = output.fields()[..width]
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// Whether each pair (input row `input_rows[i]`, stored row `stored[i]`) satisfies
/// `filter`, evaluated once over all pairs.
pub(super) fn evaluate_pairs(
    filter: &dyn PhysicalExpr,
    schema: SchemaRef,
    layout: &Layout<'_>,
    input_rows: Vec<u32>,
    stored: &[&[u8]],
) -> EngineResult<Vec<bool>> {
    let pairs = stored.len();
    if pairs == 0 {
        return Ok(Vec::new());
    }
    let other = layout.decode(stored.iter().copied(), None)?;
    let columns = layout.columns(&UInt32Array::from(input_rows), other)?;
    let options = RecordBatchOptions::new().with_row_count(Some(pairs));
    let batch = RecordBatch::try_new_with_options(schema, columns, &options)?;
    let result = filter.evaluate(&batch)?.into_array(pairs)?;
    let result = result
        .as_boolean_opt()
        .ok_or_else(|| EngineError::Internal("the join condition is not a boolean".into()))?;
    Ok((0..pairs)
        .map(|i| result.is_valid(i) && result.value(i))
        .collect())
}

/// The output batch of the rows in `out` (`None` when there are none); with `updating`,
/// the row kinds as last column, else every row must be an insert.
pub(super) fn gather(
    layout: &Layout<'_>,
    out: Emitted,
    output_schema: &SchemaRef,
    updating: bool,
) -> EngineResult<Option<RecordBatch>> {
    let count = out.kinds.len();
    if count == 0 {
        return Ok(None);
    }
    let other: Vec<ArrayRef> = if out.other_ends.is_empty() {
        layout.other_schema.fields()[..layout.other_width]
            .iter()
            .map(|f| new_null_array(f.data_type(), count))
            .collect()
    } else {
        let mut start = 0;
        let rows = out.other_ends.iter().map(|&end| {
            let row = &out.other_bytes[start..end];
            start = end;
            row
        });
        layout.decode(rows, Some(&UInt32Array::from(out.other)))?
    };
    let mut columns = layout.columns(&UInt32Array::from(out.input), other)?;
    if updating {
        columns.push(Arc::new(Int8Array::from(out.kinds)));
    } else if out.kinds.iter().any(|&k| k != RowKind::Insert as i8) {
        return Err(EngineError::Internal(
            "an append-only join produced an update".into(),
        ));
    }
    let options = RecordBatchOptions::new().with_row_count(Some(count));
    Ok(Some(RecordBatch::try_new_with_options(
        Arc::clone(output_schema),
        columns,
        &options,
    )?))
}
