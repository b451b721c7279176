//! `FLOOR` and `CEIL` with Flink's (Calcite's) result types.
//!
//! Calcite types `FLOOR`/`CEIL` with `ARG0_OR_EXACT_NO_SCALE` (Flink's table API with
//! `DECIMAL_SCALE0`): a `DECIMAL(p, s)` argument gives `DECIMAL(p, 0)`, any other numeric
//! argument gives its own type (so `FLOOR(int)` stays INT). DataFusion keeps the scale of
//! a decimal (`FLOOR(2.345)` is `2.000`) and turns integers into DOUBLE. FLOAT and DOUBLE
//! are left to DataFusion's functions.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::datatypes::{
    ArrowNativeType, ArrowNativeTypeOp, DataType, Decimal128Type, Decimal256Type, Decimal32Type,
    Decimal64Type, DecimalType, FieldRef,
};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::args::{batch_len, check_arity, finish, null_if_any_null};

/// Which rounding the function does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// `FLOOR(x)`: the largest integer not above `x`.
    Floor,
    /// `CEIL(x)`, `CEILING(x)`: the smallest integer not below `x`.
    Ceil,
}

/// `FLOOR(numeric)` / `CEIL(numeric)` typed as in Flink.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FloorCeil {
    rounding: Rounding,
    aliases: Vec<String>,
    signature: Signature,
}

impl FloorCeil {
    /// The function for `rounding`.
    pub fn new(rounding: Rounding) -> Self {
        let aliases = match rounding {
            Rounding::Floor => vec![],
            Rounding::Ceil => vec!["ceiling".to_string()],
        };
        Self {
            rounding,
            aliases,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// DataFusion's function, which handles FLOAT and DOUBLE.
    fn datafusion(&self) -> Arc<ScalarUDF> {
        match self.rounding {
            Rounding::Floor => datafusion::functions::math::floor(),
            Rounding::Ceil => datafusion::functions::math::ceil(),
        }
    }
}

fn is_decimal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Decimal32(_, _)
            | DataType::Decimal64(_, _)
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _)
    )
}

impl ScalarUDFImpl for FloorCeil {
    fn name(&self) -> &str {
        match self.rounding {
            Rounding::Floor => "floor",
            Rounding::Ceil => "ceil",
        }
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(&self.name().to_uppercase(), t, 1, 1)?;
        Ok(vec![match &t[0] {
            d if is_decimal(d) || d.is_integer() => d.clone(),
            DataType::Float32 => DataType::Float32,
            _ => DataType::Float64,
        }])
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        Ok(match t.first() {
            Some(DataType::Decimal32(p, s)) if *s > 0 => DataType::Decimal32(*p, 0),
            Some(DataType::Decimal64(p, s)) if *s > 0 => DataType::Decimal64(*p, 0),
            Some(DataType::Decimal128(p, s)) if *s > 0 => DataType::Decimal128(*p, 0),
            Some(DataType::Decimal256(p, s)) if *s > 0 => DataType::Decimal256(*p, 0),
            Some(t) if is_decimal(t) || t.is_integer() || t == &DataType::Float32 => t.clone(),
            _ => DataType::Float64,
        })
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        null_if_any_null(self.name(), &args, |t| self.return_type(t))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(arg) = args.args.first() else {
            return self.datafusion().invoke_with_args(args);
        };
        let input_type = arg.data_type();
        if input_type.is_integer() {
            return Ok(arg.clone());
        }
        if !is_decimal(&input_type) {
            return self.datafusion().invoke_with_args(args);
        }
        let n = batch_len(&args.args);
        let input = arg.to_array(n)?;
        let ceil = self.rounding == Rounding::Ceil;
        let out: ArrayRef = match input.data_type() {
            DataType::Decimal32(p, s) => {
                round::<Decimal32Type>(input.as_primitive(), *p, *s, ceil)?
            }
            DataType::Decimal64(p, s) => {
                round::<Decimal64Type>(input.as_primitive(), *p, *s, ceil)?
            }
            DataType::Decimal128(p, s) => {
                round::<Decimal128Type>(input.as_primitive(), *p, *s, ceil)?
            }
            DataType::Decimal256(p, s) => {
                round::<Decimal256Type>(input.as_primitive(), *p, *s, ceil)?
            }
            _ => return self.datafusion().invoke_with_args(args),
        };
        finish(&args.args, out)
    }
}

/// Rounds `DECIMAL(precision, scale)` values down (or up if `ceil`) to whole numbers,
/// as `DECIMAL(precision, 0)`.
fn round<T: DecimalType>(
    values: &PrimitiveArray<T>,
    precision: u8,
    scale: i8,
    ceil: bool,
) -> Result<ArrayRef> {
    if scale <= 0 {
        return Ok(Arc::new(values.clone()));
    }
    let ten = T::Native::usize_as(10);
    let divisor = ten.pow_wrapping(u32::from(scale.unsigned_abs()));
    let one = T::Native::ONE;
    let zero = T::Native::ZERO;
    let rounded = values.unary::<_, T>(|v| {
        let quotient = v.div_wrapping(divisor);
        let remainder = v.mod_wrapping(divisor);
        if ceil && remainder.is_gt(zero) {
            quotient.add_wrapping(one)
        } else if !ceil && remainder.is_lt(zero) {
            quotient.sub_wrapping(one)
        } else {
            quotient
        }
    });
    Ok(Arc::new(rounded.with_precision_and_scale(precision, 0)?))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{run, TestResult};

    #[tokio::test]
    async fn decimals_lose_their_scale() -> TestResult {
        let rows = run(
            "SELECT FLOOR(CAST(2.345 AS DECIMAL(5, 3))), CEIL(CAST(2.345 AS DECIMAL(5, 3))), \
             FLOOR(CAST(-2.345 AS DECIMAL(5, 3))), CEIL(CAST(-2.345 AS DECIMAL(5, 3))), \
             CEILING(CAST(99.999 AS DECIMAL(5, 3))), FLOOR(CAST(-7 AS DECIMAL(3, 0))), \
             arrow_typeof(FLOOR(CAST(2.345 AS DECIMAL(5, 3))))",
        )
        .await?;
        assert_eq!(rows, vec!["2|3|-3|-2|100|-7|Decimal128(5, 0)"]);
        Ok(())
    }

    #[tokio::test]
    async fn integers_stay_and_doubles_round() -> TestResult {
        let rows = run(
            "SELECT FLOOR(id), arrow_typeof(CEIL(id)), FLOOR(-1.5e0), CEIL(1.2e0), \
             CEIL(CAST(NULL AS DOUBLE)) FROM t WHERE id = 1",
        )
        .await?;
        assert_eq!(rows, vec!["1|Int64|-2.0|2.0|NULL"]);
        Ok(())
    }
}
