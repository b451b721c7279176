//! Split distinct aggregation (`table.optimizer.distinct-agg.split.enabled`, Flink's
//! option): a `COUNT(DISTINCT b)` grouped by a few hot keys keeps every distinct `b` of
//! a key on one subtask. Split, the aggregation runs in two levels, as Flink's
//! `SplitAggregateRule` does:
//!
//! ```text
//! SELECT a, SUM(cnt), SUM(s) FROM (
//!     SELECT a, COUNT(DISTINCT b) AS cnt, SUM(c) AS s
//!     FROM t GROUP BY a, bucket(b)           -- bucket(b) = hash(b) % bucket-num
//! ) GROUP BY a
//! ```
//!
//! Each distinct value falls into exactly one bucket, so per-bucket distinct counts add
//! up; the first level spreads a hot key over `bucket-num` keys (and subtasks), and the
//! second level consumes its updates (`SUM` and `MIN`/`MAX` retract exactly). Split when
//! every distinct aggregate reads the same one argument and every aggregate is `COUNT`,
//! `SUM`, `MIN` or `MAX` (`FILTER` clauses allowed); otherwise the aggregation runs as
//! written and the planner says why.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::DataType;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::common::{exec_err, Column, ScalarValue};
use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::{
    Aggregate, ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use super::Planner;
use crate::error::{SqlError, SqlResult};

/// Name of the first level's bucket column and of the function computing it.
pub(crate) const BUCKET: &str = "__weir_split_bucket";

/// Seed of the bucket hash (any fixed value: buckets must not change between runs).
const BUCKET_SEED: u64 = 0x5eed_d157_1ec7;

/// `__weir_split_bucket(value, n)`: a hash of `value` modulo `n`, as a BIGINT.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SplitBucket {
    signature: Signature,
}

impl SplitBucket {
    /// The function, to register in the planner's session.
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(SplitBucket {
            signature: Signature::any(2, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for SplitBucket {
    fn name(&self) -> &str {
        BUCKET
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, buckets] = args.args.as_slice() else {
            return exec_err!("{BUCKET} takes a value and a bucket count");
        };
        let ColumnarValue::Scalar(ScalarValue::Int64(Some(n))) = buckets else {
            return exec_err!("{BUCKET}: the bucket count must be a BIGINT literal");
        };
        let n = u64::try_from(*n).unwrap_or(1).max(1);
        let values: ArrayRef = value.to_array(args.number_rows)?;
        let mut hashes = vec![0u64; values.len()];
        create_hashes([&values], &RandomState::with_seed(BUCKET_SEED), &mut hashes)?;
        let buckets: Int64Array = hashes.iter().map(|h| (h % n) as i64).collect();
        Ok(ColumnarValue::Array(Arc::new(buckets)))
    }
}

/// What the second level applies to each first-level result.
fn outer_function(name: &str) -> Option<&'static str> {
    match name {
        "count" | "sum" => Some("sum"),
        "min" => Some("min"),
        "max" => Some("max"),
        _ => None,
    }
}

/// Why `agg` cannot be split, or the distinct argument it is split by (`None`: it has no
/// distinct aggregate, nothing to split).
fn distinct_argument(agg: &Aggregate) -> std::result::Result<Option<Expr>, String> {
    if agg
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
        return Err("GROUPING SETS, CUBE and ROLLUP are not split".into());
    }
    let mut argument: Option<Expr> = None;
    for expr in &agg.aggr_expr {
        let Expr::AggregateFunction(f) = unalias(expr) else {
            return Err(format!("{expr} is not an aggregate function call"));
        };
        let name = f.func.name().to_ascii_lowercase();
        if outer_function(&name).is_none() {
            return Err(format!(
                "{} cannot be split (only COUNT, SUM, MIN and MAX can)",
                f.func.name().to_ascii_uppercase()
            ));
        }
        if !f.params.order_by.is_empty() {
            return Err(format!("{expr} has an ORDER BY"));
        }
        if f.params.distinct {
            let [arg] = f.params.args.as_slice() else {
                return Err(format!("{expr} has several arguments"));
            };
            match &argument {
                Some(a) if a != arg => {
                    return Err(format!(
                        "distinct aggregates read different arguments ({a} and {arg})"
                    ))
                }
                _ => argument = Some(arg.clone()),
            }
        }
    }
    Ok(argument)
}

fn unalias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(a) => unalias(&a.expr),
        e => e,
    }
}

/// The two-level plan of `agg` when the option is on and `agg` can be split; `None` to
/// plan it as written (with a warning saying why, when the option is on).
pub(crate) fn split(p: &mut Planner, agg: &Aggregate) -> SqlResult<Option<LogicalPlan>> {
    let Some(buckets) = p.options.distinct_split_buckets() else {
        return Ok(None);
    };
    let already_split = agg
        .input
        .schema()
        .fields()
        .iter()
        .any(|f| f.name() == BUCKET);
    if already_split {
        return Ok(None);
    }
    let argument = match distinct_argument(agg) {
        Ok(Some(argument)) => argument,
        Ok(None) => return Ok(None),
        Err(reason) => {
            p.warnings.push(format!(
                "'table.optimizer.distinct-agg.split.enabled' is on, but the aggregation \
                 ({}) runs in one level: {reason}",
                agg.aggr_expr
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Ok(None);
        }
    };
    build(p, agg, argument, buckets).map(Some).map_err(|e| {
        SqlError::new(format!(
            "cannot split the distinct aggregation: {}",
            e.strip_backtrace()
        ))
    })
}

fn build(p: &Planner, agg: &Aggregate, argument: Expr, buckets: usize) -> Result<LogicalPlan> {
    let input = agg.input.as_ref().clone();
    let mut projection: Vec<Expr> = input
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let bucket_count = Expr::Literal(ScalarValue::Int64(Some(buckets as i64)), None);
    projection.push(
        Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::new(SplitBucket::udf()),
            vec![argument, bucket_count],
        ))
        .alias(BUCKET),
    );
    let mut inner_group = agg.group_expr.clone();
    inner_group.push(Expr::Column(Column::from_name(BUCKET)));
    let inner_aggregates: Vec<Expr> = agg
        .aggr_expr
        .iter()
        .enumerate()
        .map(|(i, e)| unalias(e).clone().alias(format!("__weir_partial_{i}")))
        .collect();
    let inner = LogicalPlanBuilder::from(input)
        .project(projection)?
        .aggregate(inner_group, inner_aggregates)?
        .build()?;
    let keys = agg.group_expr.len();
    let inner_column = |i: usize| Expr::Column(Column::from(inner.schema().qualified_field(i)));
    let outer_group: Vec<Expr> = (0..keys).map(inner_column).collect();
    let mut outer_aggregates = Vec::with_capacity(agg.aggr_expr.len());
    for (i, expr) in agg.aggr_expr.iter().enumerate() {
        let Expr::AggregateFunction(f) = unalias(expr) else {
            return exec_err!("{expr} is not an aggregate function call");
        };
        let name = f.func.name().to_ascii_lowercase();
        let outer = outer_function(&name).unwrap_or("sum");
        let func = p.ctx.udaf(outer)?;
        outer_aggregates.push(Expr::AggregateFunction(AggregateFunction::new_udf(
            func,
            vec![inner_column(keys + 1 + i)],
            false,
            None,
            vec![],
            None,
        )));
    }
    let outer = LogicalPlanBuilder::from(inner)
        .aggregate(outer_group, outer_aggregates)?
        .build()?;
    // The original names, so the rest of the plan reads the columns it expects.
    let names: Vec<Expr> = agg
        .schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            Expr::Column(Column::from(outer.schema().qualified_field(i)))
                .alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    LogicalPlanBuilder::from(outer).project(names)?.build()
}

#[cfg(test)]
mod tests {
    use super::super::plan_script;

    const TABLE: &str = "CREATE TABLE bids (bidder STRING, price INT, day STRING) \
        WITH ('connector' = 'datagen', 'number-of-rows' = '10');";

    async fn aggregates_and_warnings(query: &str) -> (usize, Vec<String>) {
        let script =
            format!("SET 'table.optimizer.distinct-agg.split.enabled' = 'true';\n{TABLE}\n{query}");
        let job = plan_script(&script, std::path::Path::new("."), &[])
            .await
            .expect("plans");
        let aggregates = job
            .graph
            .nodes
            .iter()
            .filter(|n| n.name == "GroupAggregate")
            .count();
        (aggregates, job.warnings)
    }

    #[tokio::test]
    async fn distinct_counts_of_one_argument_split_in_two_levels() {
        let (aggregates, warnings) = aggregates_and_warnings(
            "SELECT day, COUNT(DISTINCT bidder), COUNT(DISTINCT bidder) FILTER (WHERE price > 5), SUM(price) \
             FROM bids GROUP BY day;",
        )
        .await;
        assert_eq!(aggregates, 2);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[tokio::test]
    async fn other_aggregates_run_in_one_level_with_a_warning() {
        let (aggregates, warnings) = aggregates_and_warnings(
            "SELECT day, COUNT(DISTINCT bidder), AVG(price) FROM bids GROUP BY day;",
        )
        .await;
        assert_eq!(aggregates, 1);
        assert!(
            warnings.iter().any(|w| w.contains("AVG cannot be split")),
            "{warnings:?}"
        );
        let (aggregates, warnings) = aggregates_and_warnings(
            "SELECT day, COUNT(DISTINCT bidder), COUNT(DISTINCT price) FROM bids GROUP BY day;",
        )
        .await;
        assert_eq!(aggregates, 1);
        assert!(
            warnings.iter().any(|w| w.contains("different arguments")),
            "{warnings:?}"
        );
    }
}
