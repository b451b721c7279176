//! SQL-level tests of `DATE_FORMAT`, `TO_TIMESTAMP`, `TO_TIMESTAMP_LTZ`,
//! `FROM_UNIXTIME` and `UNIX_TIMESTAMP`.

use chrono::Utc;

use crate::testutil::{context, run, run_in_zone, run_with, TestResult};

#[tokio::test]
async fn date_format_literal_and_patterns() -> TestResult {
    let rows = run(
        "SELECT DATE_FORMAT(TIMESTAMP '2024-01-02 03:04:05.678', 'yyyy-MM-dd HH:mm:ss.SSS'), \
         date_format(TIMESTAMP '2024-01-02 03:04:05.678', 'yyyy-MM-dd''T''HH:mm:ss.SSS'), \
         Date_Format(DATE '2024-03-04', 'yyyy-MM-dd HH:mm'), \
         DATE_FORMAT('2024-01-02 03:04:05.5', 'ss.SSS'), \
         DATE_FORMAT(NULL, 'yyyy'), \
         DATE_FORMAT(TIMESTAMP '2024-01-02 03:04:05', NULL)",
    )
    .await?;
    assert_eq!(
        rows,
        vec!["2024-01-02 03:04:05.678|2024-01-02T03:04:05.678|2024-03-04 00:00|05.500|NULL|NULL"]
    );
    Ok(())
}

#[tokio::test]
async fn date_format_columns() -> TestResult {
    let rows = run(
        "SELECT DATE_FORMAT(ts, 'yyyyMMdd'), DATE_FORMAT(ts, 'HH:mm'), \
         DATE_FORMAT(ts, 'EEE, d MMM yyyy hh:mm a'), DATE_FORMAT(s, 'yyyy/MM/dd'), \
         DATE_FORMAT(ts, p) FROM t ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "20240102|03:04|Tue, 2 Jan 2024 03:04 AM|2024/01/02|2024",
            "NULL|NULL|NULL|NULL|NULL",
            "19991231|23:59|Fri, 31 Dec 1999 11:59 PM|NULL|NULL",
        ]
    );
    Ok(())
}

/// The digit-writing path (numeric patterns) against values chrono would print the same
/// way, and the chrono fallback for a five-digit year.
#[tokio::test]
async fn date_format_numeric_patterns_edges() -> TestResult {
    let rows = run(
        "SELECT DATE_FORMAT(TIMESTAMP '1969-12-31 23:59:59.999', 'yyyy-MM-dd HH:mm:ss.SSS'), \
         DATE_FORMAT(TIMESTAMP '2009-02-03 04:05:06', 'yy/M/d H:m:s'), \
         DATE_FORMAT(TIMESTAMP '2000-02-29 12:00:00.123456', 'SSSSSS|SSSSSSSSS'), \
         DATE_FORMAT(TO_TIMESTAMP_LTZ(253402300800, 0), 'yyyy-MM-dd'), \
         DATE_FORMAT(TO_TIMESTAMP_LTZ(0, 0), '''100%'' yyyy'), \
         DATE_FORMAT(CAST(NULL AS TIMESTAMP), 'HH:mm')",
    )
    .await?;
    assert_eq!(
        rows,
        vec!["1969-12-31 23:59:59.999|09/2/3 4:5:6|123456|123456000|+10000-01-01|100% 1970|NULL"]
    );
    let sql = "SELECT DATE_FORMAT(ltz, 'yyyy-MM-dd HH:mm') FROM t ORDER BY id";
    assert_eq!(
        run_in_zone(sql, "Asia/Shanghai").await?,
        vec!["2024-01-02 07:30", "NULL", "1970-01-01 08:00"]
    );
    Ok(())
}

#[tokio::test]
async fn date_format_ltz_uses_session_zone() -> TestResult {
    let sql = "SELECT DATE_FORMAT(ltz, 'yyyy-MM-dd HH:mm Z'), DATE_FORMAT(ts, 'HH:mm XXX') \
               FROM t WHERE id = 1";
    assert_eq!(run(sql).await?, vec!["2024-01-01 23:30 +0000|03:04 +00:00"]);
    assert_eq!(
        run_in_zone(sql, "+08:00").await?,
        vec!["2024-01-02 07:30 +0800|03:04 +00:00"]
    );
    assert_eq!(
        run_in_zone(sql, "Asia/Shanghai").await?,
        vec!["2024-01-02 07:30 +0800|03:04 +00:00"]
    );
    Ok(())
}

#[tokio::test]
async fn date_format_rejects_unsupported_pattern() {
    let err = run("SELECT DATE_FORMAT(ts, 'yyyy-QQ') FROM t")
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("DATE_FORMAT: unsupported pattern letter 'Q' in 'yyyy-QQ'"),
        "{err}"
    );
}

#[tokio::test]
async fn to_timestamp_parses_default_and_custom() -> TestResult {
    let rows = run(
        "SELECT TO_TIMESTAMP('2024-01-02 03:04:05'), TO_TIMESTAMP('2024-01-02 03:04:05.678912'), \
         TO_TIMESTAMP('20240102', 'yyyyMMdd'), TO_TIMESTAMP('02/01/2024 15:04', 'dd/MM/yyyy HH:mm'), \
         TO_TIMESTAMP('nope'), TO_TIMESTAMP(NULL), TO_TIMESTAMP('2024-01-02', NULL)",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "2024-01-02T03:04:05|2024-01-02T03:04:05.678|2024-01-02T00:00:00|2024-01-02T15:04:00|NULL|NULL|NULL"
        ]
    );
    let rows = run("SELECT TO_TIMESTAMP(s), TO_TIMESTAMP(p, p) FROM t ORDER BY id").await?;
    assert_eq!(
        rows,
        vec!["2024-01-02T03:04:05|NULL", "NULL|NULL", "NULL|NULL",]
    );
    Ok(())
}

#[tokio::test]
async fn to_timestamp_overrides_datafusion_type() -> TestResult {
    let ctx = context(None)?;
    let df = ctx
        .sql("SELECT TO_TIMESTAMP(s) AS a, TO_TIMESTAMP_LTZ(n, 0) AS b FROM t")
        .await?;
    assert_eq!(df.schema().field(0).data_type(), &super::TIMESTAMP_3);
    assert_eq!(df.schema().field(1).data_type(), &super::timestamp_ltz_3());
    Ok(())
}

#[tokio::test]
async fn to_timestamp_ltz_precisions() -> TestResult {
    let rows = run("SELECT CAST(TO_TIMESTAMP_LTZ(1704164645, 0) AS BIGINT), \
         CAST(TO_TIMESTAMP_LTZ(1704164645678, 3) AS BIGINT), \
         CAST(TO_TIMESTAMP_LTZ(1704164645678) AS BIGINT), \
         CAST(TO_TIMESTAMP_LTZ(1.5, 0) AS BIGINT), \
         CAST(TO_TIMESTAMP_LTZ(CAST(12.25 AS DECIMAL(10, 2)), 0) AS BIGINT), \
         TO_TIMESTAMP_LTZ(NULL, 0), TO_TIMESTAMP_LTZ(1, NULL)")
    .await?;
    assert_eq!(
        rows,
        vec!["1704164645000|1704164645678|1704164645678|1500|12250|NULL|NULL"]
    );
    let rows = run(
        "SELECT DATE_FORMAT(TO_TIMESTAMP_LTZ(n, 0), 'yyyy-MM-dd HH:mm:ss'), \
         CAST(TO_TIMESTAMP_LTZ(n, CAST(id AS INT) % 2 * 3) AS BIGINT) FROM t ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "2024-01-02 03:04:05|1704164645",
            "NULL|NULL",
            "1970-01-01 00:00:00|0"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn to_timestamp_ltz_rejects_precision() {
    let err = run("SELECT TO_TIMESTAMP_LTZ(n, 6) FROM t")
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("TO_TIMESTAMP_LTZ: precision must be 0 or 3, got 6"),
        "{err}"
    );
}

#[tokio::test]
async fn from_unixtime_in_session_zone() -> TestResult {
    let sql = "SELECT FROM_UNIXTIME(n), FROM_UNIXTIME(n, 'yyyyMMdd HH'), FROM_UNIXTIME(n, p) \
               FROM t ORDER BY id";
    assert_eq!(
        run(sql).await?,
        vec![
            "2024-01-02 03:04:05|20240102 03|2024",
            "NULL|NULL|NULL",
            "1970-01-01 00:00:00|19700101 00|NULL",
        ]
    );
    assert_eq!(
        run_in_zone(sql, "Asia/Shanghai").await?,
        vec![
            "2024-01-02 11:04:05|20240102 11|2024",
            "NULL|NULL|NULL",
            "1970-01-01 08:00:00|19700101 08|NULL",
        ]
    );
    assert_eq!(
        run("SELECT FROM_UNIXTIME(0, 'yyyy-MM-dd''T''HH:mm:ssXXX'), FROM_UNIXTIME(NULL)").await?,
        vec!["1970-01-01T00:00:00+00:00|NULL"]
    );
    Ok(())
}

#[tokio::test]
async fn unix_timestamp_parses_in_session_zone() -> TestResult {
    let sql = "SELECT UNIX_TIMESTAMP(s), UNIX_TIMESTAMP('2024/01/02', 'yyyy/MM/dd'), \
               UNIX_TIMESTAMP('junk'), UNIX_TIMESTAMP(NULL) FROM t ORDER BY id";
    assert_eq!(
        run(sql).await?,
        vec![
            "1704164645|1704153600|NULL|NULL",
            "NULL|1704153600|NULL|NULL",
            "NULL|1704153600|NULL|NULL",
        ]
    );
    assert_eq!(
        run_in_zone(sql, "+08:00").await?[0],
        "1704135845|1704124800|NULL|NULL"
    );
    Ok(())
}

#[tokio::test]
async fn unix_timestamp_now_is_volatile() -> TestResult {
    let ctx = context(None)?;
    let plan = ctx
        .sql("SELECT UNIX_TIMESTAMP()")
        .await?
        .into_optimized_plan()?;
    assert!(
        plan.display_indent()
            .to_string()
            .contains("unix_timestamp()"),
        "{}",
        plan.display_indent()
    );
    let rows = run_with(&ctx, "SELECT UNIX_TIMESTAMP() FROM t").await?;
    assert_eq!(rows.len(), 3);
    let now = Utc::now().timestamp();
    for row in rows {
        let v: i64 = row.parse()?;
        assert!((now - v).abs() < 10, "{v} vs {now}");
    }
    Ok(())
}

#[tokio::test]
async fn set_time_zone_at_runtime_is_honoured() -> TestResult {
    let ctx = context(None)?;
    ctx.sql("SET datafusion.execution.time_zone = '+08:00'")
        .await?
        .collect()
        .await?;
    let rows = run_with(
        &ctx,
        "SELECT FROM_UNIXTIME(0), UNIX_TIMESTAMP('1970-01-01 08:00:00'), \
         DATE_FORMAT(TO_TIMESTAMP_LTZ(0, 0), 'HH:mm')",
    )
    .await?;
    assert_eq!(rows, vec!["1970-01-01 08:00:00|0|08:00"]);
    let df = ctx.sql("SELECT CURRENT_TIMESTAMP, NOW()").await?;
    for field in df.schema().fields() {
        assert_eq!(field.data_type(), &super::timestamp_ltz_3());
    }
    Ok(())
}
