//! How each aggregate of an unbounded aggregation keeps its state: which accumulator
//! consumes the input's changes ([`AccumulatorKind`]), and whether a checkpoint can
//! hold it exactly.

use arrow::datatypes::DataType;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use weir_types::{EngineError, EngineResult};

use super::distinct::DistinctResult;
use super::retract::sliding_accumulator_is_exact;
/// How the accumulators of one aggregate are created.
#[derive(Debug, Clone)]
pub(crate) enum AccumulatorKind {
    /// DataFusion's accumulator (append-only input).
    Plain,
    /// DataFusion's sliding accumulator, exact under any retraction order.
    Sliding,
    /// [`RetractableMinMax`].
    MinMax { max: bool },
    /// [`DistinctValues`]: `COUNT(DISTINCT x)`, `SUM(DISTINCT x)`, keeping values of this type.
    Distinct {
        value_type: DataType,
        result: DistinctResult,
    },
}

impl AccumulatorKind {
    /// The kind for `aggregate`, or an error when it cannot consume retractions.
    pub fn choose(aggregate: &AggregateFunctionExpr, updating: bool) -> EngineResult<Self> {
        let name = aggregate.fun().name().to_ascii_lowercase();
        if let Some(kind) = Self::distinct(aggregate, &name, updating) {
            return Ok(kind);
        }
        if !updating {
            return Ok(AccumulatorKind::Plain);
        }
        let refuse = || {
            EngineError::Config(format!(
                "aggregate function {} cannot consume an updating input (its rows can be retracted) in this version; \
                 aggregate the append-only stream instead, or use COUNT, SUM, AVG, MIN, MAX, COUNT(DISTINCT ...) or STDDEV/VAR",
                aggregate.name()
            ))
        };
        if name == "min" || name == "max" {
            return Ok(AccumulatorKind::MinMax { max: name == "max" });
        }
        let exact = sliding_accumulator_is_exact(&name)
            && (!aggregate.is_distinct() || name == "count" || name == "sum");
        if !exact {
            return Err(refuse());
        }
        // Fails here, at planning, for the combinations DataFusion lacks (SUM(DISTINCT) of decimals).
        aggregate
            .create_sliding_accumulator()
            .map_err(|_| refuse())?;
        Ok(AccumulatorKind::Sliding)
    }
}

impl AccumulatorKind {
    /// The kind for `COUNT(DISTINCT x)` and `SUM(DISTINCT x)`: [`AccumulatorKind::Distinct`],
    /// except DataFusion's own (faster) accumulator for a `COUNT(DISTINCT x)` of a
    /// primitive type over an append-only input, whose state is exact for checkpoints.
    fn distinct(aggregate: &AggregateFunctionExpr, name: &str, updating: bool) -> Option<Self> {
        let value_type = distinct_value_type(aggregate)?;
        let result = match name {
            "count" if !updating && value_type.is_primitive() => {
                return Some(AccumulatorKind::Plain)
            }
            "count" => DistinctResult::Count,
            "sum" => DistinctResult::Sum(aggregate.field().data_type().clone()),
            _ => return None,
        };
        Some(AccumulatorKind::Distinct { value_type, result })
    }

    /// Why a checkpoint cannot hold this aggregate's accumulators exactly, if it cannot.
    /// A checkpoint stores an accumulator's intermediate state (`state()`) and a restore
    /// merges it into a fresh accumulator (`merge_batch`); this is exact only for the
    /// functions listed here (checked against DataFusion 55's accumulators: their
    /// `state()` does not consume them, and merging into an empty one reproduces them).
    pub fn checkpoint_refusal(&self, aggregate: &AggregateFunctionExpr) -> Option<String> {
        let name = aggregate.fun().name().to_ascii_lowercase();
        let exact = match self {
            AccumulatorKind::MinMax { .. } | AccumulatorKind::Distinct { .. } => true,
            // DataFusion's COUNT(DISTINCT) of a primitive type keeps a set of the values,
            // which its state copies.
            AccumulatorKind::Plain if aggregate.is_distinct() => {
                name == "count" && distinct_value_type(aggregate).is_some_and(|t| t.is_primitive())
            }
            AccumulatorKind::Plain => {
                !aggregate.is_distinct()
                    && matches!(
                        name.as_str(),
                        "count"
                            | "sum"
                            | "avg"
                            | "mean"
                            | "min"
                            | "max"
                            | "first_value"
                            | "last_value"
                    )
            }
            AccumulatorKind::Sliding => {
                !aggregate.is_distinct()
                    && matches!(name.as_str(), "count" | "sum" | "avg" | "mean")
            }
        };
        (!exact).then(|| {
            format!(
                "checkpoints are not supported for aggregate function {} in an unbounded GROUP BY: \
                 its accumulator's state cannot be restored exactly{}",
                aggregate.name(),
                if name.contains("std") || name.contains("var") {
                    " (merging its mean is not exact in floating point)"
                } else if aggregate.is_distinct() {
                    " (its DISTINCT values are not kept with their counts)"
                } else {
                    ""
                }
            )
        })
    }
}

/// The type of the values a one-argument `DISTINCT` aggregate keeps (its state is a
/// list of them in DataFusion).
fn distinct_value_type(aggregate: &AggregateFunctionExpr) -> Option<DataType> {
    if !aggregate.is_distinct() || aggregate.expressions().len() != 1 {
        return None;
    }
    let state = aggregate.state_fields().ok()?;
    match state.first()?.data_type() {
        DataType::List(item) => Some(item.data_type().clone()),
        _ => None,
    }
}
