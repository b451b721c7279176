//! Calc: an optional filter followed by an optional projection, evaluated with
//! DataFusion physical expressions over whole batches.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{Operator, OperatorFactory, Output, SubtaskContext};
use weir_types::{EngineError, EngineResult};

/// A filter and projection. Stateless: one definition is shared by every subtask.
#[derive(Debug, Clone)]
pub struct Calc {
    filter: Option<Arc<dyn PhysicalExpr>>,
    projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
    output_schema: SchemaRef,
}

impl Calc {
    /// A calc keeping rows where `filter` is true, then computing `projection` (one
    /// expression per column of `output_schema`). Without a projection the output
    /// schema must equal the input schema.
    pub fn new(
        filter: Option<Arc<dyn PhysicalExpr>>,
        projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
        output_schema: SchemaRef,
    ) -> Calc {
        Calc {
            filter,
            projection,
            output_schema,
        }
    }

    /// Applies the calc to one batch.
    pub fn apply(&self, batch: RecordBatch) -> EngineResult<RecordBatch> {
        let batch = match &self.filter {
            None => batch,
            Some(predicate) => {
                let mask = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
                if mask.data_type() != &DataType::Boolean {
                    return Err(EngineError::Internal(format!(
                        "filter evaluated to {} instead of BOOLEAN",
                        mask.data_type()
                    )));
                }
                let mask = mask.as_boolean();
                if mask.true_count() == batch.num_rows() && mask.null_count() == 0 {
                    batch
                } else {
                    filter_record_batch(&batch, mask)?
                }
            }
        };
        match &self.projection {
            None => Ok(batch),
            Some(exprs) => {
                let rows = batch.num_rows();
                let columns = exprs
                    .iter()
                    .map(|e| e.evaluate(&batch)?.into_array(rows))
                    .collect::<Result<Vec<ArrayRef>, _>>()?;
                let options = RecordBatchOptions::new().with_row_count(Some(rows));
                Ok(RecordBatch::try_new_with_options(
                    self.output_schema.clone(),
                    columns,
                    &options,
                )?)
            }
        }
    }

    /// The schema of the batches this calc produces.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// A factory creating this calc for every subtask.
    pub fn into_factory(self) -> Arc<dyn OperatorFactory> {
        let calc = Arc::new(self);
        Arc::new(
            move |_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(CalcOperator { calc: calc.clone() }))
            },
        )
    }
}

struct CalcOperator {
    calc: Arc<Calc>,
}

impl Operator for CalcOperator {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        out.batch(self.calc.apply(batch)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::Operator as BinOp;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    #[test]
    fn filters_then_projects() {
        let input = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            input.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 5, 10]))],
        )
        .unwrap();
        let a = col("a", &input).unwrap();
        let filter = binary(a.clone(), BinOp::Gt, lit(2i64), &input).unwrap();
        let doubled = binary(a, BinOp::Multiply, lit(2i64), &input).unwrap();
        let output = Arc::new(Schema::new(vec![Field::new("b", DataType::Int64, false)]));
        let calc = Calc::new(Some(filter), Some(vec![doubled]), output);
        let result = calc.apply(batch).unwrap();
        let b = result
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(b.values(), &[10, 20]);
    }
}
