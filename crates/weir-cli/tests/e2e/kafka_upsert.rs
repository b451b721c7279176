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
