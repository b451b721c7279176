//! Flink's SUM and AVG result types and values, through DataFusion's batch engine: the
//! grouped form runs the groups accumulators, the global form the row accumulators, and
//! `OVER (ROWS ...)` the sliding (retracting) accumulators. Expected values follow
//! Flink's `SumAggFunction` / `AvgAggFunction` and were worked out by hand.

use crate::testutil::{context, run_with, TestResult};

/// Rows of `(k, i INT, b BIGINT, d DECIMAL(10, 2), f FLOAT, x DOUBLE, seq)`.
const VALUES: &str = "(VALUES \
    ('a', CAST(1 AS INT), CAST(1 AS BIGINT), CAST(1.00 AS DECIMAL(10, 2)), CAST(1.5 AS FLOAT), CAST(1.5 AS DOUBLE), 1), \
    ('a', CAST(2 AS INT), CAST(2 AS BIGINT), CAST(2.00 AS DECIMAL(10, 2)), CAST(2.0 AS FLOAT), CAST(2.0 AS DOUBLE), 2), \
    ('a', CAST(2 AS INT), CAST(2 AS BIGINT), CAST(2.00 AS DECIMAL(10, 2)), CAST(2.0 AS FLOAT), CAST(2.0 AS DOUBLE), 3), \
    ('b', CAST(-1 AS INT), CAST(-1 AS BIGINT), CAST(-1.00 AS DECIMAL(10, 2)), CAST(1.0 AS FLOAT), CAST(1.0 AS DOUBLE), 4), \
    ('b', CAST(-2 AS INT), CAST(-2 AS BIGINT), CAST(-2.00 AS DECIMAL(10, 2)), CAST(1.0 AS FLOAT), CAST(1.0 AS DOUBLE), 5), \
    ('b', CAST(-2 AS INT), CAST(-2 AS BIGINT), CAST(-2.00 AS DECIMAL(10, 2)), CAST(1.0 AS FLOAT), CAST(1.0 AS DOUBLE), 6)) \
    AS t(k, i, b, d, f, x, seq)";

async fn query(sql: &str) -> datafusion::error::Result<Vec<String>> {
    let ctx = context(None)?;
    run_with(&ctx, &sql.replace("$T", VALUES)).await
}

#[tokio::test]
async fn result_types_are_flinks() -> TestResult {
    let rows = query(
        "SELECT arrow_typeof(SUM(i)), arrow_typeof(AVG(i)), arrow_typeof(SUM(b)), arrow_typeof(AVG(b)), \
         arrow_typeof(SUM(d)), arrow_typeof(AVG(d)), arrow_typeof(SUM(f)), arrow_typeof(AVG(f)), \
         arrow_typeof(AVG(x)), arrow_typeof(SUM(DISTINCT i)) FROM $T",
    )
    .await?;
    assert_eq!(
        rows,
        ["Int32|Int32|Int64|Int64|Decimal128(38, 2)|Decimal128(38, 6)|Float32|Float32|Float64|Int32"]
    );
    Ok(())
}

#[tokio::test]
async fn grouped_averages_divide_as_flink_does() -> TestResult {
    // a: 5 / 3 = 1 (truncated), 5.00 / 3 = 1.666667 (half up); b: -5 / 3 = -1 (toward zero).
    let rows = query(
        "SELECT k, SUM(i), AVG(i), AVG(b), SUM(d), AVG(d), SUM(f), AVG(f), AVG(x) FROM $T GROUP BY k ORDER BY k",
    )
    .await?;
    assert_eq!(
        rows,
        [
            "a|5|1|1|5.00|1.666667|5.5|1.8333334|1.8333333333333333",
            "b|-5|-1|-1|-5.00|-1.666667|3.0|1.0|1.0",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn global_aggregates_use_the_row_accumulators() -> TestResult {
    let rows = query("SELECT SUM(i), AVG(i), AVG(d), AVG(DISTINCT i) FROM $T").await?;
    // 0 / 6 = 0; 0.00 / 6; distinct values 1, 2, -1, -2 average 0.
    assert_eq!(rows, ["0|0|0.000000|0"]);
    Ok(())
}

#[tokio::test]
async fn sum_of_int_wraps_around_as_in_flink() -> TestResult {
    let rows =
        query("SELECT SUM(v) FROM (VALUES (CAST(2147483647 AS INT)), (CAST(1 AS INT))) AS t(v)")
            .await?;
    assert_eq!(rows, ["-2147483648"]);
    Ok(())
}

#[tokio::test]
async fn sliding_averages_retract() -> TestResult {
    // Frames of two rows: (1), (1, 2), (2, 2), (2, -1), (-1, -2), (-2, -2).
    let rows = query(
        "SELECT AVG(i) OVER (ORDER BY seq ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), \
                AVG(d) OVER (ORDER BY seq ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM $T ORDER BY seq",
    )
    .await?;
    assert_eq!(
        rows,
        [
            "1|1.000000",
            "1|1.500000",
            "2|2.000000",
            "0|0.500000",
            "-1|-1.500000",
            "-2|-2.000000"
        ]
    );
    Ok(())
}
