//! Calc: an optional filter followed by an optional projection, evaluated with
//! DataFusion physical expressions over whole batches. Expressions written more than
//! once are evaluated once per batch (module `calc_shared`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::PhysicalExpr;
use weir_runtime::{Operator, OperatorFactory, Output, SubtaskContext};
use weir_types::{EngineError, EngineResult};

use crate::calc_shared::{share, SharedColumns};

/// A filter and projection. Stateless: one definition is shared by every subtask.
#[derive(Debug, Clone)]
pub struct Calc {
    filter: Option<Arc<dyn PhysicalExpr>>,
    projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
    output_schema: SchemaRef,
    /// Evaluated once per input batch, before the filter.
    before_filter: SharedColumns,
    /// Evaluated once per filtered batch, before the projection.
    after_filter: SharedColumns,
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
        let mut filter = filter;
        let mut projection = projection;
        let read_columns = filter
            .iter()
            .chain(projection.iter().flatten())
            .map(|e| max_column(e).map_or(0, |c| c + 1))
            .max()
            .unwrap_or(0);
        let mut exprs: Vec<&mut Arc<dyn PhysicalExpr>> = filter.iter_mut().collect();
        let filters = exprs.len();
        exprs.extend(projection.iter_mut().flatten());
        let all: Vec<usize> = (0..exprs.len()).collect();
        let in_filter: Vec<usize> = (0..filters).collect();
        let before_filter = share(&mut exprs, &all, &in_filter, read_columns);
        let in_projection: Vec<usize> = (filters..exprs.len()).collect();
        let after_filter = share(
            &mut exprs,
            &in_projection,
            &in_projection,
            read_columns + before_filter.exprs.len(),
        );
        Calc {
            filter,
            projection,
            output_schema,
            before_filter,
            after_filter,
        }
    }

    /// Applies the calc to one batch.
    pub fn apply(&self, batch: RecordBatch) -> EngineResult<RecordBatch> {
        let input = batch;
        let batch = if self.before_filter.is_empty() {
            input.clone()
        } else {
            Self::extend(&input, &self.before_filter)?
        };
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
                // Without a projection the output is the input's columns.
                let batch = if self.projection.is_none() {
                    input
                } else {
                    batch
                };
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
                let batch = if self.after_filter.is_empty() {
                    batch
                } else {
                    Self::extend(&batch, &self.after_filter)?
                };
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

    /// `batch`'s columns before `shared.first_column` (the input columns read, and the
    /// shared columns already added) followed by the columns of `shared`.
    fn extend(batch: &RecordBatch, shared: &SharedColumns) -> EngineResult<RecordBatch> {
        let rows = batch.num_rows();
        let keep = shared.first_column;
        let schema = batch.schema();
        let mut fields: Vec<Arc<Field>> = schema.fields().iter().take(keep).cloned().collect();
        let mut columns: Vec<ArrayRef> = batch.columns().iter().take(keep).cloned().collect();
        for (i, expr) in shared.exprs.iter().enumerate() {
            let column = expr.evaluate(batch)?.into_array(rows)?;
            let name = format!("__shared_{}", keep + i);
            fields.push(Arc::new(Field::new(name, column.data_type().clone(), true)));
            columns.push(column);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &options,
        )?)
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

/// The largest column index `expr` reads.
fn max_column(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    let own = expr
        .downcast_ref::<datafusion::physical_expr::expressions::Column>()
        .map(|c| c.index());
    expr.children()
        .into_iter()
        .filter_map(max_column)
        .chain(own)
        .max()
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
#[path = "calc_tests.rs"]
mod tests;
