//! Planning window aggregations and window joins over the output of window
//! aggregations (window-attached windows): the plan `explain` shows, and what keeps its
//! former plan.

use std::path::Path;

use crate::explain::explain;
use crate::plan_script;

const TABLES: &str = "
CREATE TABLE bid (auction BIGINT, bidder BIGINT, ts TIMESTAMP(3),
                  WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)
WITH ('connector' = 'datagen', 'number-of-rows' = '10');
CREATE VIEW counts AS
SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
";

async fn plan(query: &str) -> Result<String, String> {
    let script = format!("SET 'parallelism.default' = '2';\n{TABLES}\n{query}");
    plan_script(&script, Path::new("."), &[])
        .await
        .map(|job| explain(&job.graph))
        .map_err(|e| e.to_string())
}

/// The explained nodes named `name`, one line each.
fn nodes<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.contains(&format!("] {name}  id=")))
        .collect()
}

#[tokio::test]
async fn nexmark_q5_is_a_window_join_of_window_aggregations() {
    let text = plan(
        "SELECT a.auction, a.num FROM counts AS a
         JOIN (SELECT MAX(num) AS maxn, starttime, endtime FROM counts
               GROUP BY starttime, endtime) AS m
         ON a.starttime = m.starttime AND a.endtime = m.endtime AND a.num >= m.maxn",
    )
    .await
    .unwrap();
    assert_eq!(nodes(&text, "WindowJoin").len(), 1, "{text}");
    // The HOP aggregation, computed once for both sides (sub-plan reuse), and the
    // window-attached maximum.
    assert_eq!(nodes(&text, "WindowAggregate").len(), 2, "{text}");
    assert!(
        text.contains(
            "HOP(slide 2 s, size 10 s) window of the window aggregation below (window-attached"
        ),
        "{text}"
    );
    assert!(nodes(&text, "GroupAggregate").is_empty(), "{text}");
    assert!(!text.contains("updating"), "{text}");
}

#[tokio::test]
async fn a_cascaded_tumble_aggregation_with_keys_is_append_only() {
    let text = plan(
        "SELECT window_start, window_end, bidder, COUNT(*) AS auctions FROM (
           SELECT auction, bidder, COUNT(*) AS n, window_start, window_end
           FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(ts), INTERVAL '10' SECOND))
           GROUP BY auction, bidder, window_start, window_end)
         GROUP BY window_start, window_end, bidder",
    )
    .await
    .unwrap();
    assert_eq!(nodes(&text, "WindowAggregate").len(), 2, "{text}");
    assert!(
        text.contains("TUMBLE(size 10 s) window of the window aggregation below"),
        "{text}"
    );
    assert!(nodes(&text, "GroupAggregate").is_empty(), "{text}");
}

#[tokio::test]
async fn a_session_aggregation_output_is_windowed_too() {
    let text = plan(
        "SELECT window_start, window_end, MAX(n) AS top FROM (
           SELECT auction, COUNT(*) AS n, window_start, window_end
           FROM TABLE(SESSION(TABLE bid PARTITION BY auction, DESCRIPTOR(ts), INTERVAL '5' SECOND))
           GROUP BY auction, window_start, window_end)
         GROUP BY window_start, window_end",
    )
    .await
    .unwrap();
    assert!(
        text.contains("SESSION(size 5 s) window of the window aggregation below"),
        "{text}"
    );
    assert!(nodes(&text, "GroupAggregate").is_empty(), "{text}");
}

#[tokio::test]
async fn one_window_bound_of_a_window_aggregation_is_a_regular_group_by() {
    let text = plan("SELECT starttime, MAX(num) AS maxn FROM counts GROUP BY starttime")
        .await
        .unwrap();
    assert_eq!(nodes(&text, "GroupAggregate").len(), 1, "{text}");
    assert!(!text.contains("window-attached"), "{text}");
}

#[tokio::test]
async fn bounds_computed_from_window_columns_are_not_window_attributes() {
    let text = plan(
        "SELECT s, e, MAX(num) AS maxn FROM (
           SELECT num, starttime + INTERVAL '1' SECOND AS s, endtime AS e FROM counts)
         GROUP BY s, e",
    )
    .await
    .unwrap();
    assert_eq!(nodes(&text, "GroupAggregate").len(), 1, "{text}");
    assert!(!text.contains("window-attached"), "{text}");
}

const LTZ: &str = "
SET 'table.local-time-zone' = 'Asia/Shanghai';
CREATE TABLE clicks (k BIGINT, ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3),
                     WATERMARK FOR ts AS ts)
WITH ('connector' = 'datagen', 'number-of-rows' = '10');
";

async fn plan_ltz(query: &str) -> Result<String, String> {
    plan_script(&format!("{LTZ}\n{query}"), Path::new("."), &[])
        .await
        .map(|job| explain(&job.graph))
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn windows_of_a_ltz_attribute_align_to_the_session_zone() {
    let text = plan_ltz(
        "SELECT window_start, window_end, COUNT(*) AS n
         FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' DAY))
         GROUP BY window_start, window_end",
    )
    .await
    .unwrap();
    assert!(
        text.contains("aligned to the local time of the session time zone"),
        "{text}"
    );
}

#[tokio::test]
async fn top_n_dedup_session_and_window_joins_of_a_ltz_attribute_align_to_the_session_zone() {
    let local = "aligned to the local time of the session time zone";
    // The detail line under the operator's header names the alignment.
    let aligned = |text: &str, name: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines.iter().enumerate().any(|(i, l)| {
            l.contains(&format!("] {name}  id="))
                && lines[i + 1..].iter().take(3).any(|d| d.contains(local))
        })
    };
    let topn = plan_ltz(
        "SELECT * FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY k DESC) AS rn
           FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' DAY)))
         WHERE rn <= 2",
    )
    .await
    .unwrap();
    assert!(aligned(&topn, "WindowTopN"), "{topn}");
    let dedup = plan_ltz(
        "SELECT * FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY ts) AS rn
           FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' DAY)))
         WHERE rn = 1",
    )
    .await
    .unwrap();
    assert!(aligned(&dedup, "WindowDeduplicate"), "{dedup}");
    let session = plan_ltz(
        "SELECT window_start, window_end, k, COUNT(*) AS n
         FROM TABLE(SESSION(TABLE clicks PARTITION BY k, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
         GROUP BY window_start, window_end, k",
    )
    .await
    .unwrap();
    assert!(aligned(&session, "SessionWindowAggregate"), "{session}");
    let join = plan_ltz(
        "SELECT L.k, L.window_start
         FROM (SELECT * FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' DAY))) L
         JOIN (SELECT * FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' DAY))) R
         ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end",
    )
    .await
    .unwrap();
    assert!(aligned(&join, "WindowJoin"), "{join}");
}

#[tokio::test]
async fn a_window_join_of_a_ltz_and_a_timestamp_attribute_is_refused() {
    let error = plan_ltz(
        "CREATE TABLE plain (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
         WITH ('connector' = 'datagen', 'number-of-rows' = '10');
         SELECT L.k, L.window_start
         FROM (SELECT * FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' DAY))) L
         JOIN (SELECT * FROM TABLE(TUMBLE(TABLE plain, DESCRIPTOR(ts), INTERVAL '1' DAY))) R
         ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end",
    )
    .await
    .unwrap_err();
    assert!(
        error.contains("time attributes of the same type"),
        "{error}"
    );
}
