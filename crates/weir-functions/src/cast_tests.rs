//! SQL-level tests of the CAST functions: `flink_cast_to_string` / `_varchar` / `_char`,
//! `flink_ltz_to_local` and `flink_local_to_ltz`.

use crate::testutil::{context, run, run_in_zone, TestResult};

#[tokio::test]
async fn cast_to_string_like_flink() -> TestResult {
    let rows = run(
        "SELECT flink_cast_to_string(id > 1), flink_cast_to_string(CAST(id AS DOUBLE) * 1e10), \
         flink_cast_to_string(ts), flink_cast_to_string(CAST(ts AS DATE)) AS d, \
         flink_cast_to_string(CAST(12.3 AS DECIMAL(4, 2))), flink_cast_to_string(s), \
         flink_cast_to_string(ltz) FROM t ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "FALSE|1.0E10|2024-01-02 03:04:05.678|2024-01-02|12.30|2024-01-02 03:04:05|2024-01-01 23:30:00.000",
            "TRUE|2.0E10|NULL|NULL|12.30|NULL|NULL",
            "TRUE|3.0E10|1999-12-31 23:59:59.000|1999-12-31|12.30|bad|1970-01-01 00:00:00.000",
        ]
    );
    let rows = run(
        "SELECT flink_cast_to_string(TRUE), flink_cast_to_string(NULL), \
         flink_cast_to_string(0.5e0), flink_cast_to_string(1e-5)",
    )
    .await?;
    assert_eq!(rows, vec!["TRUE|NULL|0.5|1.0E-5"]);
    Ok(())
}

#[tokio::test]
async fn ltz_to_string_in_the_session_zone() -> TestResult {
    let rows = run_in_zone(
        "SELECT flink_cast_to_string(ltz) FROM t ORDER BY id",
        "Asia/Shanghai",
    )
    .await?;
    assert_eq!(
        rows,
        vec!["2024-01-02 07:30:00.000", "NULL", "1970-01-01 08:00:00.000"]
    );
    Ok(())
}

#[tokio::test]
async fn char_pads_and_varchar_truncates() -> TestResult {
    let rows = run(
        "SELECT '[' || flink_cast_to_char('ab', 5) || ']', flink_cast_to_char('abcdef', 5), \
         flink_cast_to_varchar('abcdef', 3), flink_cast_to_varchar('ab', 3), \
         flink_cast_to_char(TRUE, 3), flink_cast_to_varchar('héllo', 2), \
         char_length(flink_cast_to_char('é', 4)), flink_cast_to_char(NULL, 2)",
    )
    .await?;
    assert_eq!(rows, vec!["[ab   ]|abcde|abc|ab|TRU|hé|4|NULL"]);
    let rows = run("SELECT flink_cast_to_char(s, 4) FROM t ORDER BY id").await?;
    assert_eq!(rows, vec!["2024", "NULL", "bad "]);
    assert!(run("SELECT flink_cast_to_char('a', 0)").await.is_err());
    Ok(())
}

#[tokio::test]
async fn ltz_and_local_timestamps_in_the_session_zone() -> TestResult {
    let rows = run_in_zone(
        "SELECT CAST(flink_ltz_to_local(ltz) AS TIMESTAMP(3)), arrow_typeof(flink_ltz_to_local(ltz)), \
         flink_ltz_to_local(ts), CAST(flink_ltz_to_local(ltz) AS DATE) AS d FROM t ORDER BY id",
        "Asia/Shanghai",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "2024-01-02T07:30:00|Timestamp(ms)|2024-01-02T03:04:05.678|2024-01-02",
            "NULL|Timestamp(ms)|NULL|NULL",
            "1970-01-01T08:00:00|Timestamp(ms)|1999-12-31T23:59:59|1970-01-01",
        ]
    );
    let rows = run_in_zone(
        "SELECT flink_local_to_ltz(ts), flink_local_to_ltz(CAST(ts AS DATE)) AS d, \
         flink_local_to_ltz(s), flink_local_to_ltz(ltz) FROM t WHERE id = 1",
        "Asia/Shanghai",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "2024-01-01T19:04:05.678Z|2024-01-01T16:00:00Z|2024-01-02 03:04:05|2024-01-01T23:30:00Z"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn results_are_null_only_when_the_argument_may_be() -> TestResult {
    let ctx = context(None)?;
    let df = ctx
        .sql(
            "SELECT flink_cast_to_string(1) AS a, flink_cast_to_char('x', 2) AS b, \
             flink_ltz_to_local(ltz) AS c, CONCAT('a', 'b') AS d, flink_cast_to_string(s) AS e \
             FROM t",
        )
        .await?;
    let nullable: Vec<bool> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.is_nullable())
        .collect();
    assert_eq!(nullable, vec![false, false, true, false, true]);
    Ok(())
}
