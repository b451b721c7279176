//! Flink's result types for `SUM` and `AVG`, around DataFusion's accumulators.
//!
//! DataFusion widens: `SUM(INT)` is `BIGINT`, `AVG(INT)` is `DOUBLE`, `SUM(DECIMAL(p, s))`
//! is `DECIMAL(p + 10, s)`. Flink keeps the argument's type: `SUM` and `AVG` of `TINYINT`,
//! `SMALLINT`, `INT`, `BIGINT` and `FLOAT` are of that type (`AVG` divides as integers,
//! truncating toward zero), `SUM(DECIMAL(p, s))` is `DECIMAL(38, s)` and
//! `AVG(DECIMAL(p, s))` is `DECIMAL(38, max(6, s))`, rounded half up. [`FlinkTyped`] wraps
//! DataFusion's function: arguments keep their types (they are widened batch-wise before
//! the inner accumulator sees them), the inner accumulator and its state are unchanged
//! (so two-phase and slice merging work as before), and only the final value is
//! converted. A `SUM(INT)` that leaves the `INT` range wraps around, as in Flink (the low
//! 32 bits of the 64-bit sum are the 32-bit sum).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, PrimitiveArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Field, FieldRef, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt64Type,
};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};

/// Which Flink function a [`FlinkTyped`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sum,
    Avg,
}

/// `SUM` or `AVG` with Flink's result type (see the module documentation).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkTyped {
    kind: Kind,
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

/// Flink's `SUM` and `AVG`, to register in place of DataFusion's.
pub fn flink_aggregates() -> Vec<AggregateUDF> {
    use datafusion::functions_aggregate::{average::avg_udaf, sum::sum_udaf};
    [(Kind::Sum, sum_udaf()), (Kind::Avg, avg_udaf())]
        .into_iter()
        .map(|(kind, inner)| {
            AggregateUDF::new_from_impl(FlinkTyped {
                kind,
                inner,
                signature: Signature::user_defined(Volatility::Immutable),
            })
        })
        .collect()
}

/// Argument types Flink sums and averages without widening.
fn kept(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32
    )
}

/// How the inner function's final value becomes Flink's.
#[derive(Debug, Clone)]
enum Conversion {
    /// Already Flink's type.
    None,
    /// A cast (integers narrowed by wrapping, decimals rescaled half up).
    Cast(DataType),
    /// `AVG` of integers: the state's sum divided by its count, truncated toward zero.
    IntegerAverage(DataType),
    /// `AVG` of `DECIMAL(_, scale)`: the state's sum divided by its count at
    /// `result_scale`, half up.
    DecimalAverage { scale: i8, result_scale: i8 },
}

impl FlinkTyped {
    /// The inner function's argument types for Flink-typed `arg_types`.
    fn inner_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let fields: Vec<FieldRef> = arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| Arc::new(Field::new(format!("arg{i}"), t.clone(), true)))
            .collect();
        Ok(fields_with_udf(&fields, self.inner.as_ref())?
            .iter()
            .map(|f| f.data_type().clone())
            .collect())
    }

    /// Flink's result type for argument type `arg`, given the inner function's.
    fn flink_type(&self, arg: &DataType, inner: &DataType) -> DataType {
        match (self.kind, arg) {
            (_, DataType::Decimal128(_, s)) if matches!(inner, DataType::Decimal128(..)) => {
                let scale = if self.kind == Kind::Avg {
                    (*s).max(6)
                } else {
                    *s
                };
                DataType::Decimal128(38, scale)
            }
            (_, t) if kept(t) => t.clone(),
            _ => inner.clone(),
        }
    }

    /// The inner function's arguments and how its result converts, for `args`.
    fn plan(&self, args: &AccumulatorArgs) -> Result<(Vec<FieldRef>, FieldRef, Conversion)> {
        let arg_types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let inner_types = self.inner_types(&arg_types)?;
        let inner_return = self.inner.return_type(&inner_types)?;
        let inner_fields: Vec<FieldRef> = args
            .expr_fields
            .iter()
            .zip(&inner_types)
            .map(|(f, t)| Arc::new(f.as_ref().clone().with_data_type(t.clone())))
            .collect();
        let flink = args.return_field.data_type().clone();
        let conversion = if flink == inner_return {
            Conversion::None
        } else {
            match (self.kind, &flink, args.is_distinct) {
                (Kind::Avg, DataType::Decimal128(_, result_scale), false) => {
                    let DataType::Decimal128(_, scale) = arg_types[0] else {
                        return exec_err!("AVG of a decimal has argument type {}", arg_types[0]);
                    };
                    Conversion::DecimalAverage {
                        scale,
                        result_scale: *result_scale,
                    }
                }
                (Kind::Avg, t, false) if t.is_integer() => Conversion::IntegerAverage(t.clone()),
                _ => Conversion::Cast(flink),
            }
        };
        let inner_return_field = Arc::new(Field::new(
            args.return_field.name(),
            inner_return,
            args.return_field.is_nullable(),
        ));
        Ok((inner_fields, inner_return_field, conversion))
    }
}

/// Runs `f` with the inner function's accumulator arguments.
fn with_inner_args<T>(
    typed: &FlinkTyped,
    args: &AccumulatorArgs,
    f: impl FnOnce(&AggregateUDF, AccumulatorArgs, Conversion, Vec<DataType>) -> Result<T>,
) -> Result<T> {
    let (fields, return_field, conversion) = typed.plan(args)?;
    let input_types = fields.iter().map(|f| f.data_type().clone()).collect();
    let inner_args = AccumulatorArgs {
        return_field,
        schema: args.schema,
        ignore_nulls: args.ignore_nulls,
        order_bys: args.order_bys,
        is_reversed: args.is_reversed,
        name: args.name,
        is_distinct: args.is_distinct,
        exprs: args.exprs,
        expr_fields: &fields,
    };
    f(&typed.inner, inner_args, conversion, input_types)
}

impl AggregateUDFImpl for FlinkTyped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let inner = self.inner_types(arg_types)?;
        Ok(arg_types
            .iter()
            .zip(inner)
            .map(|(arg, inner)| if kept(arg) { arg.clone() } else { inner })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let inner_types = self.inner_types(arg_types)?;
        let inner = self.inner.return_type(&inner_types)?;
        match arg_types.first() {
            Some(arg) => Ok(self.flink_type(arg, &inner)),
            None => Ok(inner),
        }
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let arg_types: Vec<DataType> = args
            .input_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let inner_types = self.inner_types(&arg_types)?;
        let inner_return = self.inner.return_type(&inner_types)?;
        let input_fields: Vec<FieldRef> = args
            .input_fields
            .iter()
            .zip(inner_types)
            .map(|(f, t)| Arc::new(f.as_ref().clone().with_data_type(t)))
            .collect();
        self.inner.state_fields(StateFieldsArgs {
            name: args.name,
            input_fields: &input_fields,
            return_field: Arc::new(Field::new(args.return_field.name(), inner_return, true)),
            ordering_fields: args.ordering_fields,
            is_distinct: args.is_distinct,
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        with_inner_args(self, &args, |inner, args, conversion, input_types| {
            Ok(Box::new(TypedAccumulator {
                inner: inner.accumulator(args)?,
                input_types,
                conversion,
            }) as Box<dyn Accumulator>)
        })
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        with_inner_args(self, &args, |inner, args, conversion, input_types| {
            Ok(Box::new(TypedAccumulator {
                inner: inner.create_sliding_accumulator(args)?,
                input_types,
                conversion,
            }) as Box<dyn Accumulator>)
        })
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        with_inner_args(self, &args, |inner, args, _, _| {
            Ok(inner.groups_accumulator_supported(args))
        })
        .unwrap_or(false)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        with_inner_args(self, &args, |inner, args, conversion, input_types| {
            Ok(Box::new(TypedGroupsAccumulator {
                inner: inner.create_groups_accumulator(args)?,
                input_types,
                conversion,
            }) as Box<dyn GroupsAccumulator>)
        })
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        ScalarValue::try_from(data_type)
    }
}

/// Widens argument columns to the inner accumulator's types.
fn widen(values: &[ArrayRef], types: &[DataType]) -> Result<Vec<ArrayRef>> {
    values
        .iter()
        .zip(types)
        .map(|(v, t)| {
            if v.data_type() == t {
                Ok(Arc::clone(v))
            } else {
                Ok(cast(v, t)?)
            }
        })
        .collect()
}

/// Converts the inner function's results (`evaluated`, or computed from `state`) to Flink's.
fn convert(conversion: &Conversion, evaluated: ArrayRef) -> Result<ArrayRef> {
    match conversion {
        Conversion::None => Ok(evaluated),
        Conversion::Cast(target) => narrow(&evaluated, target),
        // Only reached for evaluated values, never for state-based conversions.
        Conversion::IntegerAverage(_) | Conversion::DecimalAverage { .. } => {
            exec_err!("an average needs its state to convert")
        }
    }
}

/// Casts `values` to `target`: integers wrap (or truncate from floats), others cast.
fn narrow(values: &ArrayRef, target: &DataType) -> Result<ArrayRef> {
    let integers = values.as_primitive_opt::<Int64Type>();
    let floats = values.as_primitive_opt::<Float64Type>();
    Ok(match (target, integers, floats) {
        (DataType::Int32, Some(v), _) => Arc::new(v.unary::<_, Int32Type>(|x| x as i32)),
        (DataType::Int16, Some(v), _) => Arc::new(v.unary::<_, Int16Type>(|x| x as i16)),
        (DataType::Int8, Some(v), _) => Arc::new(v.unary::<_, Int8Type>(|x| x as i8)),
        (DataType::Int64, _, Some(v)) => Arc::new(v.unary::<_, Int64Type>(|x| x.trunc() as i64)),
        (DataType::Int32, _, Some(v)) => Arc::new(v.unary::<_, Int32Type>(|x| x.trunc() as i32)),
        (DataType::Int16, _, Some(v)) => Arc::new(v.unary::<_, Int16Type>(|x| x.trunc() as i16)),
        (DataType::Int8, _, Some(v)) => Arc::new(v.unary::<_, Int8Type>(|x| x.trunc() as i8)),
        _ => cast(values, target)?,
    })
}

/// `AVG` from the inner state's count and sum columns.
fn average_from_state(conversion: &Conversion, state: &[ArrayRef]) -> Result<ArrayRef> {
    let (Some(count), Some(sum)) = (
        state
            .iter()
            .find_map(|a| a.as_primitive_opt::<UInt64Type>()),
        state.iter().find(|a| a.data_type() != &DataType::UInt64),
    ) else {
        return exec_err!("AVG state lacks a count or a sum");
    };
    match conversion {
        Conversion::IntegerAverage(target) => {
            let sums: Vec<Option<i64>> = match sum.data_type() {
                DataType::Float64 => sum
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|s| s.map(|s| s as i64))
                    .collect(),
                _ => cast(sum, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .iter()
                    .collect(),
            };
            let averages: PrimitiveArray<Int64Type> = sums
                .iter()
                .zip(count.iter())
                .map(|(s, c)| match (s, c) {
                    (Some(s), Some(c)) if c > 0 => Some(s / c as i64),
                    _ => None,
                })
                .collect();
            narrow(&(Arc::new(averages) as ArrayRef), target)
        }
        Conversion::DecimalAverage {
            scale,
            result_scale,
        } => {
            let sums = cast(sum, &DataType::Decimal128(38, *scale))?;
            let factor = 10i128.checked_pow(u32::try_from(result_scale - scale).unwrap_or(0));
            let averages: Decimal128Array = sums
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .iter()
                .zip(count.iter())
                .map(|(s, c)| match (s, c, factor) {
                    (Some(s), Some(c), Some(f)) if c > 0 => {
                        s.checked_mul(f).map(|n| divide_half_up(n, i128::from(c)))
                    }
                    _ => None,
                })
                .collect();
            Ok(Arc::new(
                averages.with_precision_and_scale(38, *result_scale)?,
            ))
        }
        _ => exec_err!("not an average conversion"),
    }
}

/// `n / d` rounded half away from zero (`d > 0`).
fn divide_half_up(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Whether the conversion reads the state instead of the inner result.
fn from_state(conversion: &Conversion) -> bool {
    matches!(
        conversion,
        Conversion::IntegerAverage(_) | Conversion::DecimalAverage { .. }
    )
}

/// A row-level accumulator with Flink's result type.
#[derive(Debug)]
struct TypedAccumulator {
    inner: Box<dyn Accumulator>,
    input_types: Vec<DataType>,
    conversion: Conversion,
}

impl Accumulator for TypedAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(&widen(values, &self.input_types)?)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(&widen(values, &self.input_types)?)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let array = if from_state(&self.conversion) {
            let state: Vec<ArrayRef> = self
                .inner
                .state()?
                .iter()
                .map(ScalarValue::to_array)
                .collect::<Result<_>>()?;
            average_from_state(&self.conversion, &state)?
        } else {
            convert(&self.conversion, self.inner.evaluate()?.to_array()?)?
        };
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        self.inner.size() + std::mem::size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }
}

/// A groups accumulator with Flink's result type.
struct TypedGroupsAccumulator {
    inner: Box<dyn GroupsAccumulator>,
    input_types: Vec<DataType>,
    conversion: Conversion,
}

impl GroupsAccumulator for TypedGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner.update_batch(
            &widen(values, &self.input_types)?,
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        if from_state(&self.conversion) {
            let state = self.inner.state(emit_to)?;
            average_from_state(&self.conversion, &state)
        } else {
            convert(&self.conversion, self.inner.evaluate(emit_to)?)
        }
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.inner
            .convert_to_state(&widen(values, &self.input_types)?, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
