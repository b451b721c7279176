//! Kafka sources end to end, against a tansu broker each test starts: `weir run` jobs
//! read topics with Flink's options (bounded by `scan.bounded.mode`) into filesystem
//! sinks, whose committed files must hold exactly the rows written down here.

use std::path::Path;

use serde_json::Value;
use weir_connectors::test_servers::KafkaBroker;

use super::lookup::run;
use super::recovery::committed_lines;

/// The lines the job committed in `folder`, normalised (keys sorted) and sorted.
pub(super) fn output(dir: &Path, folder: &str) -> Vec<String> {
    let mut rows: Vec<String> = committed_lines(&dir.join(folder))
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap().to_string())
        .collect();
    rows.sort();
    rows
}

/// Produces JSON values to `partition` of `topic`, one record each.
fn produce(broker: &KafkaBroker, topic: &str, partition: i32, values: &[&str]) {
    let records: Vec<_> = values
        .iter()
        .map(|v| (partition, None, Some(v.as_bytes())))
        .collect();
    broker.produce(topic, &records);
}

fn orders_job(broker: &KafkaBroker, startup: &str) -> String {
    format!(
        "SET 'parallelism.default' = '2';
         SET 'execution.checkpointing.interval' = '50 ms';
         SET 'execution.checkpointing.dir' = 'checkpoints';
         CREATE TABLE orders (
             id BIGINT, customer STRING, amount DOUBLE,
             part INT METADATA FROM 'partition' VIRTUAL,
             `offset` BIGINT METADATA VIRTUAL
         ) WITH (
             'connector' = 'kafka',
             'topic' = 'orders',
             'properties.bootstrap.servers' = '{}',
             'properties.group.id' = 'weir-e2e',
             {startup}
             'scan.bounded.mode' = 'latest-offset',
             'format' = 'json'
         );
         CREATE TABLE big_orders (id BIGINT, who STRING, cents BIGINT, part INT, `offset` BIGINT)
         WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');
         INSERT INTO big_orders
         SELECT id, UPPER(customer), CAST(amount * 100 AS BIGINT), part, `offset`
         FROM orders WHERE amount > 10;",
        broker.bootstrap()
    )
}

#[test]
fn a_bounded_job_reads_a_topic_into_files_and_a_rerun_goes_on_from_the_group_offsets() {
    let broker = KafkaBroker::start();
    broker.create_topic("orders", 2);
    produce(
        &broker,
        "orders",
        0,
        &[
            r#"{"id": 1, "customer": "ann", "amount": 12.5}"#,
            r#"{"id": 2, "customer": "bob", "amount": 3.0}"#,
            r#"{"id": 3, "customer": "cid", "amount": 40.0}"#,
        ],
    );
    produce(
        &broker,
        "orders",
        1,
        &[
            r#"{"id": 4, "customer": "dan", "amount": 99.99}"#,
            r#"{"id": 5, "customer": "eve", "amount": 10.0}"#,
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        "first.sql",
        &orders_job(&broker, "'scan.startup.mode' = 'earliest-offset',"),
    );
    assert_eq!(
        output(dir.path(), "out"),
        vec![
            r#"{"cents":1250,"id":1,"offset":0,"part":0,"who":"ANN"}"#,
            r#"{"cents":4000,"id":3,"offset":2,"part":0,"who":"CID"}"#,
            r#"{"cents":9999,"id":4,"offset":0,"part":1,"who":"DAN"}"#,
        ]
    );
    // The first run committed its final offsets to the group: a run starting from the
    // group's offsets (the default startup mode) reads only what came since.
    produce(
        &broker,
        "orders",
        1,
        &[r#"{"id": 6, "customer": "fay", "amount": 70.0}"#],
    );
    let again = tempfile::tempdir().unwrap();
    run(again.path(), "second.sql", &orders_job(&broker, ""));
    assert_eq!(
        output(again.path(), "out"),
        vec![r#"{"cents":7000,"id":6,"offset":2,"part":1,"who":"FAY"}"#]
    );
}

#[test]
fn a_tumbling_window_over_a_topic_uses_event_time_per_partition() {
    let broker = KafkaBroker::start();
    broker.create_topic("payments", 2);
    // Each partition is in time order; partition 0 runs ahead of partition 1. Watermarks
    // are kept per partition: reading all of partition 0 first must not make partition
    // 1's rows late.
    let row = |second: u32, amount: u32| {
        format!(r#"{{"ts": "2024-05-01 10:00:{second:02}", "amount": {amount}}}"#)
    };
    let p0: Vec<String> = [(1, 1), (4, 2), (8, 3), (12, 4), (15, 5), (27, 6)]
        .iter()
        .map(|&(s, a)| row(s, a))
        .collect();
    let p1: Vec<String> = [(2, 10), (9, 20), (11, 30), (21, 40), (25, 50), (29, 60)]
        .iter()
        .map(|&(s, a)| row(s, a))
        .collect();
    produce(
        &broker,
        "payments",
        0,
        &p0.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    produce(
        &broker,
        "payments",
        1,
        &p1.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let job = format!(
        "SET 'parallelism.default' = '1';
         CREATE TABLE payments (
             ts TIMESTAMP(3), amount INT,
             WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
         ) WITH (
             'connector' = 'kafka',
             'topic' = 'payments',
             'properties.bootstrap.servers' = '{}',
             'scan.startup.mode' = 'earliest-offset',
             'scan.bounded.mode' = 'latest-offset',
             'format' = 'json'
         );
         CREATE TABLE totals (window_start TIMESTAMP(3), window_end TIMESTAMP(3), cnt BIGINT, total INT)
         WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');
         INSERT INTO totals
         SELECT window_start, window_end, COUNT(*), SUM(amount)
         FROM TABLE(TUMBLE(TABLE payments, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end;",
        broker.bootstrap()
    );
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "job.sql", &job);
    assert_eq!(
        output(dir.path(), "out"),
        vec![
            r#"{"cnt":3,"total":39,"window_end":"2024-05-01 10:00:20","window_start":"2024-05-01 10:00:10"}"#,
            r#"{"cnt":4,"total":156,"window_end":"2024-05-01 10:00:30","window_start":"2024-05-01 10:00:20"}"#,
            r#"{"cnt":5,"total":36,"window_end":"2024-05-01 10:00:10","window_start":"2024-05-01 10:00:00"}"#,
        ]
    );
}
