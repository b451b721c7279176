//! Event time: evaluates a table's `WATERMARK FOR col AS expr` over a batch and returns
//! the largest watermark candidate, in epoch milliseconds.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::kernels::aggregate::max;
use arrow::datatypes::{
    DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::EventTimeExtractor;
use weir_types::{EngineError, EngineResult};

/// A watermark expression over a table's rows (a TIMESTAMP or TIMESTAMP_LTZ).
#[derive(Debug)]
pub struct WatermarkExpression {
    expr: Arc<dyn PhysicalExpr>,
    monotone_in: Option<usize>,
}

impl WatermarkExpression {
    /// Wraps `expr`, which must evaluate to a timestamp.
    pub fn new(expr: Arc<dyn PhysicalExpr>) -> WatermarkExpression {
        WatermarkExpression {
            expr,
            monotone_in: None,
        }
    }

    /// Declares that `expr` never decreases when timestamp column `column` increases (as
    /// `ts` and `ts - INTERVAL ...` do): the expression is then evaluated on the row with
    /// the largest `column` only, instead of on every row.
    pub fn monotone_in(mut self, column: usize) -> WatermarkExpression {
        self.monotone_in = Some(column);
        self
    }

    /// The row holding the largest value of timestamp column `column`.
    fn row_of_max(batch: &RecordBatch, column: usize) -> Option<usize> {
        fn arg_max<T: arrow::datatypes::ArrowPrimitiveType<Native = i64>>(
            values: &dyn Array,
        ) -> Option<usize> {
            let values = values.as_primitive::<T>();
            let mut best: Option<(usize, i64)> = None;
            for (i, v) in values.iter().enumerate() {
                if let Some(v) = v {
                    if best.is_none_or(|(_, b)| v > b) {
                        best = Some((i, v));
                    }
                }
            }
            best.map(|(i, _)| i)
        }
        let values = batch.column(column);
        match values.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                arg_max::<TimestampMillisecondType>(values)
            }
            DataType::Timestamp(TimeUnit::Second, _) => arg_max::<TimestampSecondType>(values),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                arg_max::<TimestampMicrosecondType>(values)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                arg_max::<TimestampNanosecondType>(values)
            }
            _ => None,
        }
    }
}

/// Epoch milliseconds of a timestamp array of any unit.
fn to_millis(values: &dyn Array) -> EngineResult<Vec<Option<i64>>> {
    Ok(match values.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => values
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect(),
        DataType::Timestamp(TimeUnit::Second, _) => values
            .as_primitive::<TimestampSecondType>()
            .iter()
            .map(|v| v.map(|s| s.saturating_mul(1000)))
            .collect(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => values
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .map(|v| v.map(|us| us.div_euclid(1000)))
            .collect(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => values
            .as_primitive::<TimestampNanosecondType>()
            .iter()
            .map(|v| v.map(|ns| ns.div_euclid(1_000_000)))
            .collect(),
        other => {
            return Err(EngineError::Internal(format!(
                "watermark expression evaluated to {other}, not a timestamp"
            )))
        }
    })
}

impl EventTimeExtractor for WatermarkExpression {
    fn row_watermarks(&self, batch: &RecordBatch) -> EngineResult<Vec<Option<i64>>> {
        let values = self.expr.evaluate(batch)?.into_array(batch.num_rows())?;
        to_millis(values.as_ref())
    }

    fn max_watermark(&self, batch: &RecordBatch) -> EngineResult<Option<i64>> {
        let narrowed;
        let batch = match self.monotone_in {
            Some(column) => match Self::row_of_max(batch, column) {
                Some(row) => {
                    narrowed = batch.slice(row, 1);
                    &narrowed
                }
                None => return Ok(None),
            },
            None => batch,
        };
        let values = self.expr.evaluate(batch)?.into_array(batch.num_rows())?;
        let millis = match values.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                max(values.as_primitive::<TimestampMillisecondType>())
            }
            DataType::Timestamp(TimeUnit::Second, _) => {
                max(values.as_primitive::<TimestampSecondType>()).map(|s| s.saturating_mul(1000))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                max(values.as_primitive::<TimestampMicrosecondType>()).map(|us| us.div_euclid(1000))
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                max(values.as_primitive::<TimestampNanosecondType>())
                    .map(|ns| ns.div_euclid(1_000_000))
            }
            other => {
                return Err(EngineError::Internal(format!(
                    "watermark expression evaluated to {other}, not a timestamp"
                )))
            }
        };
        Ok(millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::TimestampMillisecondArray;
    use arrow::datatypes::{Field, Schema};
    use datafusion::physical_expr::expressions::col;

    #[test]
    fn max_of_timestamps_ignoring_nulls() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(TimestampMillisecondArray::from(vec![
                Some(5),
                None,
                Some(9),
                Some(1),
            ]))],
        )
        .unwrap();
        let w = WatermarkExpression::new(col("ts", &schema).unwrap());
        assert_eq!(w.max_watermark(&batch).unwrap(), Some(9));
        let empty = batch.slice(1, 1);
        assert_eq!(w.max_watermark(&empty).unwrap(), None);
        let monotone = WatermarkExpression::new(col("ts", &schema).unwrap()).monotone_in(0);
        assert_eq!(monotone.max_watermark(&batch).unwrap(), Some(9));
        assert_eq!(monotone.max_watermark(&empty).unwrap(), None);
        assert_eq!(
            w.row_watermarks(&batch).unwrap(),
            vec![Some(5), None, Some(9), Some(1)]
        );
    }
}
