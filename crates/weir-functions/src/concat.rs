//! `CONCAT` with Flink's NULL semantics.
//!
//! Flink's `CONCAT(s1, s2, ...)` is NULL when any argument is NULL; DataFusion's skips
//! NULL arguments. The `||` operator already propagates NULL in DataFusion, as in Flink
//! (`'a' || NULL` is NULL); `CONCAT_WS` skips NULL arguments in both.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{batch_len, finish, null_if_any_null};
use crate::text::flink_strings;
use crate::zone::session_time_zone;

/// `CONCAT(s1, s2, ...) -> STRING`: the arguments one after the other; NULL if any is
/// NULL. Arguments that are not strings are written as `CAST(x AS STRING)` would.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Concat {
    signature: Signature,
}

impl Default for Concat {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// One argument: a column, or a literal repeated on every row.
enum Part {
    Column(ArrayRef),
    Literal(Option<String>),
}

impl ScalarUDFImpl for Concat {
    fn name(&self) -> &str {
        "concat"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        if t.is_empty() {
            return plan_err!("CONCAT: expected at least one argument");
        }
        Ok(t.to_vec())
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        null_if_any_null(self.name(), &args, |t| self.return_type(t))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let tz = session_time_zone(&args.config_options)?;
        let n = batch_len(&args.args);
        let mut parts = Vec::with_capacity(args.args.len());
        for arg in &args.args {
            parts.push(match arg {
                ColumnarValue::Array(a) => Part::Column(flink_strings(a, &tz)?),
                ColumnarValue::Scalar(s) => {
                    let text = flink_strings(&s.to_array_of_size(1)?, &tz)?;
                    let text = text.as_string::<i32>();
                    Part::Literal(text.iter().next().flatten().map(str::to_owned))
                }
            });
        }
        // A NULL literal makes every row NULL.
        if parts.iter().any(|p| matches!(p, Part::Literal(None))) {
            let nulls: StringArray = std::iter::repeat_n(None::<&str>, n).collect();
            return finish(&args.args, Arc::new(nulls));
        }
        let columns: Vec<&StringArray> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Column(a) => Some(a.as_string::<i32>()),
                Part::Literal(_) => None,
            })
            .collect();
        let bytes: usize = columns.iter().map(|c| c.value_data().len()).sum();
        let mut out = StringBuilder::with_capacity(n, bytes);
        let mut row = String::new();
        for i in 0..n {
            if columns.iter().any(|c| c.is_null(i)) {
                out.append_null();
                continue;
            }
            row.clear();
            for part in &parts {
                match part {
                    Part::Column(a) => row.push_str(a.as_string::<i32>().value(i)),
                    Part::Literal(text) => row.push_str(text.as_deref().unwrap_or_default()),
                }
            }
            out.append_value(&row);
        }
        finish(&args.args, Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{run, TestResult};

    #[tokio::test]
    async fn null_argument_gives_null() -> TestResult {
        let rows = run(
            "SELECT CONCAT(s, '-', p), CONCAT('x', s), CONCAT(s, CAST(NULL AS VARCHAR)), \
             CONCAT_WS('-', s, p), s || p, CONCAT('a', 'b', 'c') FROM t ORDER BY id",
        )
        .await?;
        assert_eq!(
            rows,
            vec![
                "2024-01-02 03:04:05-yyyy|x2024-01-02 03:04:05|NULL|2024-01-02 03:04:05-yyyy|2024-01-02 03:04:05yyyy|abc",
                "NULL|NULL|NULL|HH:mm|NULL|abc",
                "NULL|xbad|NULL|bad|NULL|abc",
            ]
        );
        Ok(())
    }

    #[tokio::test]
    async fn literals_and_other_types() -> TestResult {
        let rows = run(
            "SELECT CONCAT('a', NULL), CONCAT('n=', id, ' ', id > 1), CONCAT('x') \
             FROM t ORDER BY id",
        )
        .await?;
        assert_eq!(
            rows,
            vec!["NULL|n=1 FALSE|x", "NULL|n=2 TRUE|x", "NULL|n=3 TRUE|x"]
        );
        Ok(())
    }
}
