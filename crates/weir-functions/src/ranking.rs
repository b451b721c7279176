//! Flink's result type for `ROW_NUMBER()`, `RANK()` and `DENSE_RANK()`: `BIGINT`.
//!
//! DataFusion's ranking functions give an unsigned 64-bit integer, which Flink does not
//! have, so an `INSERT` of a row number into a `BIGINT` column (Nexmark q19, every
//! Top-N job writing its rank) would be refused. [`FlinkRanking`] wraps DataFusion's
//! function and gives its numbers as `BIGINT`. Weir's own Top-N and deduplication
//! operators take the type from the plan and emit `BIGINT` row numbers as well.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::window_state::WindowAggState;
use datafusion::logical_expr::{
    PartitionEvaluator, ReversedUDWF, Signature, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;

/// A DataFusion ranking function whose numbers are `BIGINT`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkRanking {
    inner: Arc<WindowUDF>,
}

/// Flink's `ROW_NUMBER`, `RANK` and `DENSE_RANK`, to register in place of DataFusion's.
pub fn flink_ranking_functions() -> Vec<WindowUDF> {
    use datafusion::functions_window::{rank, row_number};
    [
        row_number::row_number_udwf(),
        rank::rank_udwf(),
        rank::dense_rank_udwf(),
    ]
    .into_iter()
    .map(|inner| WindowUDF::new_from_impl(FlinkRanking { inner }))
    .collect()
}

impl WindowUDFImpl for FlinkRanking {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn expressions(
        &self,
        expr_args: datafusion::logical_expr::function::ExpressionArgs,
    ) -> Vec<Arc<dyn PhysicalExpr>> {
        self.inner.expressions(expr_args)
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(BigintEvaluator {
            inner: self.inner.partition_evaluator_factory(args)?,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let inner = self.inner.field(field_args)?;
        Ok(Arc::new(Field::new(
            inner.name(),
            DataType::Int64,
            inner.is_nullable(),
        )))
    }

    fn sort_options(&self) -> Option<arrow::compute::SortOptions> {
        self.inner.sort_options()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        ReversedUDWF::NotSupported
    }
}

/// The inner function's evaluator, its numbers cast to `BIGINT`.
#[derive(Debug)]
struct BigintEvaluator {
    inner: Box<dyn PartitionEvaluator>,
}

fn bigint(array: ArrayRef) -> Result<ArrayRef> {
    Ok(cast(&array, &DataType::Int64)?)
}

impl PartitionEvaluator for BigintEvaluator {
    fn memoize(&mut self, state: &mut WindowAggState) -> Result<()> {
        self.inner.memoize(state)
    }

    fn get_range(&self, idx: usize, n_rows: usize) -> Result<Range<usize>> {
        self.inner.get_range(idx, n_rows)
    }

    fn is_causal(&self) -> bool {
        self.inner.is_causal()
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        bigint(self.inner.evaluate_all(values, num_rows)?)
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        self.inner
            .evaluate(values, range)?
            .cast_to(&DataType::Int64)
    }

    fn evaluate_all_with_rank(
        &self,
        num_rows: usize,
        ranks_in_partition: &[Range<usize>],
    ) -> Result<ArrayRef> {
        bigint(
            self.inner
                .evaluate_all_with_rank(num_rows, ranks_in_partition)?,
        )
    }

    fn supports_bounded_execution(&self) -> bool {
        self.inner.supports_bounded_execution()
    }

    fn uses_window_frame(&self) -> bool {
        self.inner.uses_window_frame()
    }

    fn include_rank(&self) -> bool {
        self.inner.include_rank()
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{context, run_with, TestResult};

    #[tokio::test]
    async fn ranking_numbers_are_bigint_with_datafusions_values() -> TestResult {
        let ctx = context(None)?;
        let rows = run_with(
            &ctx,
            "SELECT k, v, \
               ROW_NUMBER() OVER (PARTITION BY k ORDER BY v), \
               RANK() OVER (PARTITION BY k ORDER BY v), \
               DENSE_RANK() OVER (PARTITION BY k ORDER BY v), \
               arrow_typeof(ROW_NUMBER() OVER (ORDER BY v)), \
               arrow_typeof(RANK() OVER (ORDER BY v)), \
               arrow_typeof(DENSE_RANK() OVER (ORDER BY v)) \
             FROM (VALUES ('a', 1), ('a', 2), ('a', 2), ('a', 5), ('b', 7)) AS t(k, v) \
             ORDER BY k, v",
        )
        .await?;
        assert_eq!(
            rows,
            [
                "a|1|1|1|1|Int64|Int64|Int64",
                "a|2|2|2|2|Int64|Int64|Int64",
                "a|2|3|2|2|Int64|Int64|Int64",
                "a|5|4|4|3|Int64|Int64|Int64",
                "b|7|1|1|1|Int64|Int64|Int64",
            ]
        );
        Ok(())
    }
}
