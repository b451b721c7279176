//! Planning sinks: the edge into a sink that runs at another parallelism.

use std::path::Path;

use crate::explain::explain;
use crate::plan_script;

async fn plan(sink_options: &str, primary_key: &str) -> String {
    let script = format!(
        "SET 'parallelism.default' = '2';
CREATE TABLE orders (customer STRING, amount DOUBLE)
WITH ('connector' = 'datagen', 'number-of-rows' = '10');
CREATE TABLE totals (n BIGINT, customer STRING, total DOUBLE {primary_key})
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'debezium-json' {sink_options});
INSERT INTO totals SELECT COUNT(*), customer, SUM(amount) FROM orders GROUP BY customer;"
    );
    let job = plan_script(&script, Path::new("."), &[]).await.unwrap();
    explain(&job.graph)
}

/// The sink's input edge, as `explain` shows it.
fn sink_input(text: &str) -> &str {
    let sink = text.find("Sink: totals").unwrap();
    let line = text[sink..].lines().nth(1).unwrap();
    line.trim()
}

#[tokio::test]
async fn updates_into_a_keyed_sink_at_another_parallelism_are_hashed_by_the_key() {
    let text = plan(
        ", 'sink.parallelism' = '1'",
        ", PRIMARY KEY (customer) NOT ENFORCED",
    )
    .await;
    // customer is column 1 of the table.
    assert!(sink_input(&text).ends_with("via hash[1]"), "{text}");
}

#[tokio::test]
async fn updates_into_a_sink_without_a_key_are_hashed_by_the_whole_row() {
    let text = plan(", 'sink.parallelism' = '1'", "").await;
    assert!(sink_input(&text).ends_with("via hash[0, 1, 2]"), "{text}");
}

#[tokio::test]
async fn at_the_same_parallelism_the_sink_is_chained() {
    let text = plan("", ", PRIMARY KEY (customer) NOT ENFORCED").await;
    assert!(sink_input(&text).contains("via forward"), "{text}");
}
