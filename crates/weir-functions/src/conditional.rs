//! Conditional functions: Flink's `IF(condition, then, else)`.

use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::kernels::zip::zip;
use arrow::compute::prep_null_mask_filter;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::binary::{comparison_coercion, type_union_resolution};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    Case, ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::args::check_arity;

/// `IF(condition, then, else)`: `then` where `condition` is TRUE, otherwise (FALSE or
/// NULL) `else`. `then` and `else` are coerced to their common type, so
/// `IF(x > 1, 1, 2.5)` is a DOUBLE/DECIMAL.
///
/// The optimizer rewrites a call to `CASE WHEN condition THEN then ELSE else END`, so
/// only the chosen branch is evaluated per row (as in Flink: `IF(x = 0, 0, 1 / x)` does
/// not divide by zero). The direct implementation (both branches evaluated, then merged)
/// is only used when the plan is not optimized.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct If {
    signature: Signature,
}

impl Default for If {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for If {
    fn name(&self) -> &str {
        "if"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        check_arity("IF", t, 3, 3)?;
        if !matches!(t[0], DataType::Boolean | DataType::Null) {
            return plan_err!("IF: condition must be BOOLEAN, got {}", t[0]);
        }
        let common = type_union_resolution(&t[1..]).or_else(|| comparison_coercion(&t[1], &t[2]));
        match common {
            Some(common) => Ok(vec![DataType::Boolean, common.clone(), common]),
            None => plan_err!("IF: no common type for {} and {}", t[1], t[2]),
        }
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        match t.get(1) {
            Some(t) => Ok(t.clone()),
            None => plan_err!("IF: expected 3 arguments"),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let [_, then, otherwise] = args.arg_fields else {
            return plan_err!("IF: expected 3 arguments, got {}", args.arg_fields.len());
        };
        let nullable = then.is_nullable() || otherwise.is_nullable();
        Ok(Arc::new(Field::new(
            self.name(),
            then.data_type().clone(),
            nullable,
        )))
    }
    fn short_circuits(&self) -> bool {
        true
    }
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let Ok([condition, then, otherwise]) = <[Expr; 3]>::try_from(args) else {
            return plan_err!("IF: expected 3 arguments");
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Case(Case::new(
            None,
            vec![(Box::new(condition), Box::new(then))],
            Some(Box::new(otherwise)),
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [condition, then, otherwise] = args.args.as_slice() else {
            return exec_err!("IF: expected 3 arguments, got {}", args.args.len());
        };
        let n = match (condition, then, otherwise) {
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => 1,
            _ => args.number_rows,
        };
        let condition = condition.to_array(n)?;
        let Some(mask) = condition.as_boolean_opt() else {
            return exec_err!(
                "IF: condition must be BOOLEAN, got {}",
                condition.data_type()
            );
        };
        // A NULL condition picks the ELSE branch; `prep_null_mask_filter` needs nulls.
        let mask: BooleanArray = if arrow::array::Array::null_count(mask) == 0 {
            mask.clone()
        } else {
            prep_null_mask_filter(mask)
        };
        let merged = zip(&mask, &then.to_array(n)?, &otherwise.to_array(n)?)?;
        crate::args::finish(&args.args, merged)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Int64Array};
    use arrow::datatypes::{DataType, Field};
    use datafusion::common::config::ConfigOptions;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

    use super::If;
    use crate::testutil::{context, run, TestResult};

    #[tokio::test]
    async fn picks_branch_and_coerces() -> TestResult {
        let rows = run(
            "SELECT IF(id > 1, 1, 2.5), if(s IS NULL, 'none', s), IF(NULL, 'a', 'b') \
             FROM t ORDER BY id",
        )
        .await?;
        assert_eq!(
            rows,
            vec!["2.5|2024-01-02 03:04:05|b", "1.0|none|b", "1.0|bad|b"]
        );
        Ok(())
    }

    #[tokio::test]
    async fn null_condition_picks_else_and_only_chosen_branch_runs() -> TestResult {
        let rows = run(
            "SELECT IF(n > 0, 100 / n, -1), IF(CAST(NULL AS BOOLEAN), 1, 2) FROM t ORDER BY id",
        )
        .await?;
        assert_eq!(rows, vec!["0|2", "-1|2", "-1|2"]);
        let ctx = context(None)?;
        let plan = ctx
            .sql("SELECT IF(id > 1, 1, 0) FROM t")
            .await?
            .into_optimized_plan()?;
        assert!(
            plan.display_indent().to_string().contains("CASE WHEN"),
            "{}",
            plan.display_indent()
        );
        Ok(())
    }

    #[test]
    fn direct_invocation_merges_branches() -> TestResult {
        let condition: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
        let then: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let field = |t: DataType| Arc::new(Field::new("x", t, true));
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Array(condition),
                ColumnarValue::Array(then),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(-1))),
            ],
            arg_fields: vec![
                field(DataType::Boolean),
                field(DataType::Int64),
                field(DataType::Int64),
            ],
            number_rows: 3,
            return_field: field(DataType::Int64),
            config_options: Arc::new(ConfigOptions::new()),
        };
        let ColumnarValue::Array(out) = If::default().invoke_with_args(args)? else {
            return Err("expected an array".into());
        };
        let expected: ArrayRef = Arc::new(Int64Array::from(vec![1, -1, -1]));
        assert_eq!(&out, &expected);
        Ok(())
    }

    #[tokio::test]
    async fn rejects_non_boolean_condition() {
        let err = run("SELECT IF(1, 2, 3)").await.map(|_| ()).unwrap_err();
        assert!(
            err.to_string().contains("IF: condition must be BOOLEAN"),
            "{err}"
        );
    }
}
