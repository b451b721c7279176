//! The `upsert-kafka` source end to end, against a tansu broker each test starts: a
//! `weir run` job reads a compacted-style topic of keyed JSON records (upserts, updates,
//! tombstones, a duplicate, a deletion of an unknown key, a re-insert) as a table, and
//! writes a copy of it and a `GROUP BY` over it to `upsert-kafka` sinks. The sums are
//! right only if the ChangelogNormalize after the source retracts the old row of every
//! update and deletion; the expected final tables are written down here. A second test
//! kills the job (`kill -9`) after a checkpoint of the first records and restarts it
//! after the updates were written: the normalization's kept rows come back from the
//! checkpoint, or the updates of keys read before it would be counted twice.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use weir_connectors::test_servers::{KafkaBroker, TestRecord};

use super::lookup::run;
use super::recovery::start_at;

/// `(partition, key, value)`: every key of `accounts` in partition `id % 2`, in this order.
const ACCOUNTS: [(i32, &str, Option<&str>); 12] = [
    (1, r#"{"id":1}"#, Some(r#"{"region":"eu","balance":100}"#)),
    (0, r#"{"id":2}"#, Some(r#"{"region":"us","balance":200}"#)),
    (1, r#"{"id":3}"#, Some(r#"{"region":"eu","balance":300}"#)),
    (0, r#"{"id":4}"#, Some(r#"{"region":"us","balance":50}"#)),
    // An update.
    (1, r#"{"id":1}"#, Some(r#"{"region":"eu","balance":150}"#)),
    // A deletion.
    (0, r#"{"id":2}"#, None),
    // A move to another group.
    (1, r#"{"id":3}"#, Some(r#"{"region":"us","balance":300}"#)),
    // The same row again: no change.
    (0, r#"{"id":4}"#, Some(r#"{"region":"us","balance":50}"#)),
    // The deletion of a key never written: nothing.
    (1, r#"{"id":5}"#, None),
    // Inserted, deleted, inserted again.
    (0, r#"{"id":6}"#, Some(r#"{"region":"eu","balance":10}"#)),
    (0, r#"{"id":6}"#, None),
    (0, r#"{"id":6}"#, Some(r#"{"region":"eu","balance":20}"#)),
];

/// The last value of every key of `topic` (`None`: a tombstone), keys as JSON text.
fn compacted(broker: &KafkaBroker, topic: &str) -> BTreeMap<String, Option<Value>> {
    broker
        .read_all(topic)
        .into_iter()
        .map(|r| {
            let key: Value = serde_json::from_slice(r.key.as_deref().unwrap()).unwrap();
            let value = r
                .value
                .as_deref()
                .map(|v| serde_json::from_slice::<Value>(v).unwrap());
            (key.to_string(), value)
        })
        .collect()
}

/// The job; `head` comes first (settings), `bounded` is the source's bounded mode.
fn job(bootstrap: &str, head: &str, bounded: &str) -> String {
    format!(
        "SET 'parallelism.default' = '2';
{head}
-- balance NOT NULL: a tombstone's row has it null until the normalization replaces it
-- with the deleted row.
CREATE TABLE accounts (
  id BIGINT, region STRING, balance BIGINT NOT NULL,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = 'accounts',
  'properties.bootstrap.servers' = '{bootstrap}',
  'key.format' = 'json', 'value.format' = 'json',
  {bounded}
);
-- batch.num.messages: tansu 0.6 miscounts the first multi-record batch of a partition.
CREATE TABLE accounts_copy (
  id BIGINT, region STRING, balance BIGINT,
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = 'accounts_copy',
  'properties.bootstrap.servers' = '{bootstrap}', 'properties.batch.num.messages' = '1',
  'key.format' = 'json', 'value.format' = 'json'
);
CREATE TABLE totals (
  region STRING, accounts BIGINT, total BIGINT,
  PRIMARY KEY (region) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = 'totals',
  'properties.bootstrap.servers' = '{bootstrap}', 'properties.batch.num.messages' = '1',
  'key.format' = 'json', 'value.format' = 'json'
);
EXECUTE STATEMENT SET BEGIN
INSERT INTO accounts_copy SELECT * FROM accounts;
INSERT INTO totals
  SELECT region, COUNT(*), SUM(balance) FROM accounts GROUP BY region;
END;
"
    )
}

#[test]
fn a_group_by_over_an_upsert_kafka_table_sees_updates_and_deletions() {
    let broker = KafkaBroker::start();
    for topic in ["accounts", "accounts_copy", "totals"] {
        broker.create_topic(topic, 2);
    }
    let records: Vec<TestRecord<'_>> = ACCOUNTS
        .iter()
        .map(|(p, k, v)| (*p, Some(k.as_bytes()), v.map(str::as_bytes)))
        .collect();
    broker.produce("accounts", &records);
    let dir = tempfile::tempdir().unwrap();
    let sql = job(
        &broker.bootstrap(),
        "",
        "'scan.bounded.mode' = 'latest-offset'",
    );
    run(dir.path(), "job.sql", &sql);
    check_final_tables(&broker);
}

#[test]
fn an_upsert_kafka_job_restored_from_a_checkpoint_keeps_the_rows_it_normalized() {
    let broker = KafkaBroker::start();
    for topic in ["accounts", "accounts_copy", "totals"] {
        broker.create_topic(topic, 2);
    }
    let records: Vec<TestRecord<'_>> = ACCOUNTS
        .iter()
        .map(|(p, k, v)| (*p, Some(k.as_bytes()), v.map(str::as_bytes)))
        .collect();
    // The first row of keys 1 to 4 before the job starts; the rest while it is down.
    let (before, after) = records.split_at(4);
    broker.produce("accounts", before);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    // The job ends at the offsets after every record of ACCOUNTS.
    let sql = job(
        &broker.bootstrap(),
        "SET 'execution.checkpointing.interval' = '100 ms';
SET 'restart-strategy.type' = 'none';",
        "'scan.bounded.mode' = 'specific-offsets',
  'scan.bounded.specific-offsets' = 'partition:0,offset:7;partition:1,offset:5'",
    );
    std::fs::write(&script, sql).unwrap();
    let mut first = start_at(&script, 2, &[]);
    // Reads the 4 records at once, then checkpoints every 100 ms while it waits.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        first.try_wait().unwrap().is_none(),
        "the job waits for the rest"
    );
    first.kill().unwrap();
    let _ = first.wait_with_output().unwrap();
    let totals = compacted(&broker, "totals");
    assert_eq!(
        totals.get(r#"{"region":"eu"}"#),
        Some(&Some(json!({"accounts": 2, "total": 400}))),
        "the first run counted keys 1 and 3: {totals:?}"
    );
    broker.produce("accounts", after);
    // The same command goes on from the latest checkpoint.
    let out = start_at(&script, 2, &[]).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_final_tables(&broker);
}

/// The final `accounts_copy` and `totals` of a job that read all of ACCOUNTS.
fn check_final_tables(broker: &KafkaBroker) {
    // The table at the end: 1, 3, 4 and 6; 2 was deleted.
    let copy = compacted(broker, "accounts_copy");
    let live: BTreeMap<&str, &Value> = copy
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.as_str(), v)))
        .collect();
    assert_eq!(
        live,
        BTreeMap::from([
            (r#"{"id":1}"#, &json!({"region": "eu", "balance": 150})),
            (r#"{"id":3}"#, &json!({"region": "us", "balance": 300})),
            (r#"{"id":4}"#, &json!({"region": "us", "balance": 50})),
            (r#"{"id":6}"#, &json!({"region": "eu", "balance": 20})),
        ])
    );
    assert_eq!(copy.get(r#"{"id":2}"#), Some(&None), "2's deletion");
    assert_eq!(copy.get(r#"{"id":5}"#), None, "5 was never there");
    // eu: 1 (150) and 6 (20); us: 3 (300) and 4 (50).
    assert_eq!(
        compacted(broker, "totals"),
        BTreeMap::from([
            (
                r#"{"region":"eu"}"#.to_string(),
                Some(json!({"accounts": 2, "total": 170}))
            ),
            (
                r#"{"region":"us"}"#.to_string(),
                Some(json!({"accounts": 2, "total": 350}))
            ),
        ])
    );
}

/// An event-time temporal join against an `upsert-kafka` table (Flink's versioned
/// table: a PRIMARY KEY and a watermark): each order gets the rate its currency had at
/// the order's time. Written down by hand: a version is valid from its time until the
/// next one of its key; an order before its currency's first version, or of a currency
/// with none, finds nothing (INNER join).
#[test]
fn a_temporal_join_against_an_upsert_kafka_table_finds_the_version_of_each_order_time() {
    let broker = KafkaBroker::start();
    for topic in ["orders", "rates"] {
        broker.create_topic(topic, 1);
    }
    let rate = |currency: &str, rate: f64, ts: &str| {
        (
            format!(r#"{{"currency":"{currency}"}}"#),
            format!(r#"{{"rate":{rate},"ts":"2024-01-01 {ts}.000"}}"#),
        )
    };
    let rates = [
        rate("EUR", 1.10, "10:00:00"),
        rate("USD", 1.00, "10:00:00"),
        rate("EUR", 1.20, "10:00:10"),
        rate("USD", 0.95, "10:00:20"),
    ];
    let records: Vec<TestRecord<'_>> = rates
        .iter()
        .map(|(k, v)| (0, Some(k.as_bytes()), Some(v.as_bytes())))
        .collect();
    broker.produce("rates", &records);
    let order = |id: i64, currency: &str, amount: f64, ts: &str| {
        format!(
            r#"{{"order_id":{id},"currency":"{currency}","amount":{amount},"ts":"2024-01-01 {ts}.000"}}"#
        )
    };
    // In time order, so that no order is late.
    let orders = [
        order(6, "EUR", 60.0, "09:59:59"),
        order(1, "EUR", 10.0, "10:00:05"),
        order(5, "GBP", 50.0, "10:00:05"),
        order(2, "EUR", 20.0, "10:00:15"),
        order(4, "USD", 40.0, "10:00:15"),
        order(3, "USD", 30.0, "10:00:25"),
    ];
    let records: Vec<TestRecord<'_>> = orders
        .iter()
        .map(|v| (0, None, Some(v.as_bytes())))
        .collect();
    broker.produce("orders", &records);
    let bootstrap = broker.bootstrap();
    let sql = format!(
        "SET 'pipeline.auto-watermark-interval' = '0';
CREATE TABLE orders (order_id BIGINT, currency STRING, amount DOUBLE, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts)
WITH ('connector' = 'kafka', 'topic' = 'orders', 'properties.bootstrap.servers' = '{bootstrap}',
      'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset',
      'format' = 'json');
CREATE TABLE rates (currency STRING, rate DOUBLE, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts, PRIMARY KEY (currency) NOT ENFORCED)
WITH ('connector' = 'upsert-kafka', 'topic' = 'rates', 'properties.bootstrap.servers' = '{bootstrap}',
      'scan.bounded.mode' = 'latest-offset', 'key.format' = 'json', 'value.format' = 'json');
CREATE TABLE priced (order_id BIGINT, amount DOUBLE, rate DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');
INSERT INTO priced
SELECT o.order_id, o.amount, r.rate
FROM orders AS o JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;"
    );
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "job.sql", &sql);
    assert_eq!(
        super::kafka::output(dir.path(), "out"),
        [
            r#"{"amount":10.0,"order_id":1,"rate":1.1}"#,
            r#"{"amount":20.0,"order_id":2,"rate":1.2}"#,
            r#"{"amount":30.0,"order_id":3,"rate":0.95}"#,
            r#"{"amount":40.0,"order_id":4,"rate":1.0}"#,
        ]
    );
}
