//! How Flink SQL types map to PostgreSQL types, and how values travel.
//!
//! | Flink SQL | PostgreSQL |
//! | --- | --- |
//! | `TINYINT`, `SMALLINT` | `smallint` |
//! | `INT` | `integer` |
//! | `BIGINT` | `bigint` |
//! | `FLOAT` | `real` |
//! | `DOUBLE` | `double precision` |
//! | `DECIMAL(p, s)` | `numeric(p, s)` |
//! | `BOOLEAN` | `boolean` |
//! | `STRING`, `VARCHAR(n)`, `CHAR(n)` | `text`, `varchar(n)`, `char(n)` (any text type) |
//! | `DATE` | `date` |
//! | `TIME(p)` | `time` |
//! | `TIMESTAMP(p)` | `timestamp` |
//! | `TIMESTAMP_LTZ(p)` | `timestamptz` (read in UTC) |
//!
//! Values travel as text in both directions: parameters are text arrays cast by
//! PostgreSQL to the column types (`$1::text[]::bigint[]`), and looked-up columns are
//! selected as `col::text` and cast by Arrow to the table's types. Text is what both
//! sides parse exactly (decimals, timestamps), and one batched statement then carries any
//! number of rows of any types.

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::{cast, cast_with_options, CastOptions};
use arrow::datatypes::{DataType, TimeUnit};

/// The PostgreSQL type a column of `data_type` is cast to, or `None` if the jdbc
/// connector cannot carry it.
pub(crate) fn postgres_type(data_type: &DataType) -> Option<String> {
    use DataType::*;
    Some(match data_type {
        Int8 | Int16 => "smallint".into(),
        Int32 => "integer".into(),
        Int64 => "bigint".into(),
        Float32 => "real".into(),
        Float64 => "double precision".into(),
        Decimal128(p, s) => format!("numeric({p}, {s})"),
        Boolean => "boolean".into(),
        Utf8 | LargeUtf8 | Utf8View => "text".into(),
        Date32 => "date".into(),
        Time32(_) | Time64(_) => "time".into(),
        Timestamp(_, None) => "timestamp".into(),
        Timestamp(_, Some(_)) => "timestamptz".into(),
        _ => return None,
    })
}

/// The SQL that selects column `name` as text for a column of `data_type`.
pub(crate) fn select_as_text(name: &str, data_type: &DataType) -> String {
    match data_type {
        DataType::Timestamp(_, Some(_)) => format!("({name} AT TIME ZONE 'UTC')::text"),
        _ => format!("{name}::text"),
    }
}

/// A column as text values for a statement's parameters (NULL as `None`).
pub(crate) fn to_text(column: &ArrayRef) -> Result<Vec<Option<String>>, String> {
    let text = match column.data_type() {
        // PostgreSQL reads a bare UTC timestamp for a timestamptz; Arrow writes `Z`.
        DataType::Timestamp(unit, Some(_)) => {
            let naive =
                cast(column, &DataType::Timestamp(*unit, None)).map_err(|e| e.to_string())?;
            cast(&naive, &DataType::Utf8)
        }
        _ => cast(column, &DataType::Utf8),
    }
    .map_err(|e| e.to_string())?;
    let text = text.as_string::<i32>();
    Ok((0..text.len())
        .map(|i| text.is_valid(i).then(|| text.value(i).to_string()))
        .collect())
}

/// Text values read from PostgreSQL as a column of `data_type`.
pub(crate) fn from_text(
    values: Vec<Option<String>>,
    data_type: &DataType,
) -> Result<ArrayRef, String> {
    let text = StringArray::from(values);
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    match data_type {
        DataType::Timestamp(unit, Some(_)) => {
            let naive = cast_with_options(&text, &DataType::Timestamp(*unit, None), &strict)
                .map_err(|e| e.to_string())?;
            cast(&naive, data_type).map_err(|e| e.to_string())
        }
        _ => cast_with_options(&text, data_type, &strict).map_err(|e| e.to_string()),
    }
}

/// Whether a timestamp unit keeps what PostgreSQL stores (microseconds at most).
pub(crate) fn fits(data_type: &DataType) -> bool {
    !matches!(data_type, DataType::Timestamp(TimeUnit::Nanosecond, _))
}
