//! Planning event-time temporal joins against versioned views: the dataflow, and the views
//! that are refused because they are not versioned views.

use std::path::Path;

use crate::explain::explain;
use crate::plan_script;

const TABLES: &str = "
CREATE TABLE orders (id INT, currency STRING, ts TIMESTAMP(3),
                     WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH ('connector' = 'filesystem', 'path' = '.', 'format' = 'json');
CREATE TABLE rates_history (currency STRING, rate DOUBLE, ts TIMESTAMP(3),
                            other TIMESTAMP(3),
                            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH ('connector' = 'filesystem', 'path' = '.', 'format' = 'json');
";

/// Plans a view `rates` over `rates_history` ranked by `rank` and filtered by
/// `condition`, joined FOR SYSTEM_TIME AS OF the orders' time.
async fn plan(rank: &str, condition: &str) -> Result<String, String> {
    let script = format!(
        "SET 'parallelism.default' = '2';\n{TABLES}
         CREATE VIEW rates AS SELECT currency, rate, ts FROM (
             SELECT *, ROW_NUMBER() OVER ({rank}) AS rn FROM rates_history)
         WHERE {condition};
         SELECT o.id, r.rate FROM orders AS o
         LEFT JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;"
    );
    plan_script(&script, Path::new("."), &[])
        .await
        .map(|job| explain(&job.graph))
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_versioned_view_is_its_deduplication_feeding_a_temporal_join() {
    let text = plan("PARTITION BY currency ORDER BY ts DESC", "rn = 1")
        .await
        .unwrap();
    // The join drops what the deduplication would drop: no Deduplicate operator runs.
    assert!(!text.contains("Deduplicate"), "{text}");
    assert!(
        text.contains(
            "temporal LEFT OUTER join (event time) on key [o.currency = r.currency] as of o.ts \
             against versioned table rates (primary key [currency], event time ts, versioned \
             view: the rows of its input, a row older than its key's newest version dropped \
             as the view's deduplication drops it input); append-only output"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn views_that_are_not_versioned_views_are_refused_with_the_reason() {
    let cases = [
        (
            "PARTITION BY currency ORDER BY ts ASC",
            "rn = 1",
            "its ROW_NUMBER() is ordered by ts ASC, which keeps the first row per key; a \
             versioned view keeps the last one: ORDER BY ts DESC",
        ),
        (
            "PARTITION BY currency ORDER BY other DESC",
            "rn = 1",
            "is ordered by rates_history.other, which is not the event-time attribute",
        ),
        (
            "PARTITION BY currency ORDER BY ts DESC",
            "rn <= 2",
            "its condition on ROW_NUMBER() keeps 2 rows per key, and a versioned view keeps \
             one: `WHERE rn = 1`",
        ),
        (
            "ORDER BY ts DESC",
            "rn = 1",
            "its ROW_NUMBER() has no PARTITION BY",
        ),
    ];
    for (rank, condition, why) in cases {
        let error = plan(rank, condition).await.unwrap_err();
        assert!(
            error.contains(
                "rates is joined FOR SYSTEM_TIME AS OF the event time o.ts, but rates is a view \
                 that is not a versioned view: "
            ),
            "{rank} / {condition}: {error}"
        );
        assert!(error.contains(why), "{rank} / {condition}: {error}");
        assert!(
            error.contains("ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) AS rn"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_view_without_row_number_is_not_a_versioned_view() {
    let script = format!(
        "{TABLES}
         CREATE VIEW rates AS SELECT currency, rate, ts FROM rates_history WHERE rate > 0;
         SELECT o.id, r.rate FROM orders AS o
         JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;"
    );
    let error = plan_script(&script, Path::new("."), &[])
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("but rates is a view that is not a versioned view: it does not keep one row per key with ROW_NUMBER()"),
        "{error}"
    );
}

#[tokio::test]
async fn a_changelog_left_input_gives_an_updating_temporal_join() {
    let script = format!(
        "{TABLES}
         CREATE TABLE order_changes (id INT, currency STRING, ts TIMESTAMP(3),
                                     PRIMARY KEY (id) NOT ENFORCED,
                                     WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '.', 'format' = 'debezium-json');
         CREATE TABLE rates (currency STRING, rate DOUBLE, ts TIMESTAMP(3),
                             PRIMARY KEY (currency) NOT ENFORCED,
                             WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '.', 'format' = 'json');
         SELECT o.id, r.rate FROM order_changes AS o
         JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;"
    );
    let text = plan_script(&script, Path::new("."), &[])
        .await
        .map(|job| explain(&job.graph))
        .unwrap();
    assert!(
        text.contains(
            "(primary key [currency], event time ts, append-only input); updating (each left \
             row's kind passed on) output"
        ),
        "{text}"
    );
    assert!(
        text.contains("TemporalJoin  id=") && text.contains("operator, updating"),
        "{text}"
    );
}
