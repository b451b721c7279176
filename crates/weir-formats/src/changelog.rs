//! The row-kind column of updating streams, as encoders see it.
//!
//! An updating stream carries [`ROW_KIND_COLUMN`] (Int8, Flink's `RowKind` as
//! [`RowKind::from_i8`] reads it) as the last column of its batches; an append-only
//! stream does not have it.

use arrow::array::{Array, AsArray, Int8Array};
use arrow::datatypes::{DataType, Int8Type};
use arrow::record_batch::RecordBatch;
use weir_types::{RowKind, ROW_KIND_COLUMN};

use crate::error::FormatError;

/// Splits the row-kind column off `batch`: the data columns, and the kinds if the batch
/// has them (`None` means every row is `+I`).
pub fn split_row_kind(
    batch: &RecordBatch,
) -> Result<(RecordBatch, Option<Int8Array>), FormatError> {
    let schema = batch.schema();
    let Some(last) = schema.fields().len().checked_sub(1) else {
        return Ok((batch.clone(), None));
    };
    if schema.field(last).name() != ROW_KIND_COLUMN {
        return Ok((batch.clone(), None));
    }
    let column = batch.column(last);
    if column.data_type() != &DataType::Int8 {
        return Err(FormatError::Unsupported(format!(
            "column '{ROW_KIND_COLUMN}' must be Int8, found {}",
            column.data_type()
        )));
    }
    let kinds = column.as_primitive::<Int8Type>().clone();
    let mut data = batch.clone();
    data.remove_column(last);
    Ok((data, Some(kinds)))
}

/// The row kind of row `row`.
pub(crate) fn kind_at(kinds: Option<&Int8Array>, row: usize) -> Result<RowKind, FormatError> {
    let Some(kinds) = kinds else {
        return Ok(RowKind::Insert);
    };
    if kinds.is_null(row) {
        return Ok(RowKind::Insert);
    }
    let value = kinds.value(row);
    RowKind::from_i8(value).ok_or_else(|| {
        FormatError::Unsupported(format!(
            "invalid row kind {value} in column '{ROW_KIND_COLUMN}'"
        ))
    })
}

/// The data columns of `batch`, which must hold only inserts: formats that write plain
/// rows (`json`, `csv`) cannot express updates or deletes.
pub(crate) fn insert_only(batch: &RecordBatch, format: &str) -> Result<RecordBatch, FormatError> {
    let (data, kinds) = split_row_kind(batch)?;
    if let Some(kinds) = kinds {
        let all_inserts = kinds
            .iter()
            .all(|k| k.is_none_or(|k| k == RowKind::Insert as i8));
        if !all_inserts {
            return Err(FormatError::UpdatingInput {
                format: format.to_string(),
            });
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array};

    use super::*;

    fn batch(kinds: &[i8]) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int32Array::from_iter_values(0..kinds.len() as i32));
        let kinds: ArrayRef = Arc::new(Int8Array::from(kinds.to_vec()));
        RecordBatch::try_from_iter(vec![("id", ids), (ROW_KIND_COLUMN, kinds)]).unwrap()
    }

    #[test]
    fn splits_and_refuses_updates_for_plain_formats() {
        let (data, kinds) = split_row_kind(&batch(&[0, 2])).unwrap();
        assert_eq!(data.num_columns(), 1);
        assert_eq!(kind_at(kinds.as_ref(), 1).unwrap(), RowKind::UpdateAfter);
        assert_eq!(
            insert_only(&batch(&[0, 0]), "json").unwrap().num_columns(),
            1
        );
        let err = insert_only(&batch(&[0, 1]), "json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("sink format 'json' cannot write an updating stream"),
            "{err}"
        );
        assert!(kind_at(Some(&Int8Array::from(vec![9])), 0).is_err());
    }
}
