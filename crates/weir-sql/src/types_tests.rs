//! Tests of the Flink rewrites of `rewrite_flink_types`: CASTs to strings and between
//! TIMESTAMP and TIMESTAMP_LTZ.

use datafusion::sql::sqlparser::parser::Parser;

use super::rewrite_flink_types;
use crate::dialect::FlinkDialect;

/// The select item of `SELECT <expr> AS x FROM t` after the rewrite.
fn rewritten(expr: &str) -> String {
    let sql = format!("SELECT {expr} AS x FROM t");
    let mut query = Parser::new(&FlinkDialect)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .expect("valid query");
    rewrite_flink_types(&mut query).expect("rewrite");
    let text = query.to_string();
    text.strip_prefix("SELECT ")
        .and_then(|t| t.strip_suffix(" AS x FROM t"))
        .unwrap_or(&text)
        .to_string()
}

#[test]
fn casts_to_strings_call_the_flink_functions() {
    assert_eq!(rewritten("CAST(a AS STRING)"), "flink_cast_to_string(a)");
    assert_eq!(rewritten("CAST(a AS VARCHAR)"), "flink_cast_to_string(a)");
    assert_eq!(
        rewritten("TRY_CAST(a AS STRING)"),
        "flink_cast_to_string(a)"
    );
    assert_eq!(
        rewritten("CAST(a AS VARCHAR(3))"),
        "flink_cast_to_varchar(a, 3)"
    );
    assert_eq!(rewritten("CAST(a AS CHAR(5))"), "flink_cast_to_char(a, 5)");
    assert_eq!(rewritten("CAST(a AS CHAR)"), "flink_cast_to_char(a, 1)");
    assert_eq!(
        rewritten("CAST(CAST(b AS STRING) AS CHAR(2))"),
        "flink_cast_to_char(flink_cast_to_string(b), 2)"
    );
}

#[test]
fn timestamp_casts_go_through_the_session_zone() {
    assert_eq!(
        rewritten("CAST(a AS TIMESTAMP(3))"),
        "CAST(flink_ltz_to_local(a) AS TIMESTAMP(3))"
    );
    assert_eq!(
        rewritten("CAST(a AS DATE)"),
        "CAST(flink_ltz_to_local(a) AS DATE)"
    );
    assert_eq!(
        rewritten("CAST(a AS TIMESTAMP_LTZ(3))"),
        "CAST(flink_local_to_ltz(a) AS TIMESTAMP(3) WITH TIME ZONE)"
    );
}

#[test]
fn other_casts_are_left_alone() {
    assert_eq!(rewritten("CAST(a AS BIGINT)"), "CAST(a AS BIGINT)");
    assert_eq!(rewritten("CAST(a AS BOOLEAN)"), "CAST(a AS BOOLEAN)");
    assert_eq!(
        rewritten("CAST(a AS DECIMAL(5, 2))"),
        "CAST(a AS DECIMAL(5,2))"
    );
}
