//! The `kafka` source's dirty-data policy against tansu: malformed values and keys under
//! `fail` (the error names the table, topic, partition, offset and the option to change),
//! `skip` (counted; good rows pass), `dead-letter` to a folder and to a topic (each dead
//! letter carries the topic, partition, offset, raw bytes and error), and the options'
//! checks.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use weir_runtime::{JobMetrics, SourceReader};

use super::tests::{json_table, read, read_error, reader, readers_with};
use crate::test_servers::KafkaBroker;

const QUIET: Duration = Duration::from_millis(300);

/// Partition 0 of `topic` (1 partition): `{"id":1}`, `{oops`, a record with a bad key
/// `[1`, `{"id":4}`, a non-UTF-8 value.
fn produce_dirty(broker: &KafkaBroker, topic: &str) {
    broker.create_topic(topic, 1);
    broker.produce(
        topic,
        &[
            (0, Some(br#"{"id":1}"#), Some(br#"{"id": 1, "name": "a"}"#)),
            (0, Some(br#"{"id":2}"#), Some(b"{oops")),
            (0, Some(b"[1"), Some(br#"{"id": 3, "name": "c"}"#)),
            (0, None, Some(br#"{"id": 4, "name": "d"}"#)),
            (0, Some(br#"{"id":5}"#), Some(&[0xff, 0xfe, 0x00])),
        ],
    );
}

/// A table of `topic` with a JSON key (carrying `id`, also in the value), bounded.
fn keyed(broker: &KafkaBroker, topic: &str, extra: &[(&str, &str)]) -> crate::TableDescriptor {
    let mut options = vec![
        ("key.format", "json"),
        ("key.fields", "id"),
        ("scan.startup.mode", "earliest-offset"),
        ("scan.bounded.mode", "latest-offset"),
        // tansu: one record per produce batch (see test_servers).
        ("properties.batch.num.messages", "1"),
    ];
    options.extend_from_slice(extra);
    json_table(broker, topic, &options)
}

/// The metrics' (skipped, dead-lettered) counts.
fn counts(metrics: &JobMetrics) -> (u64, u64) {
    (
        metrics.records_skipped.load(Ordering::Relaxed),
        metrics.records_dead_lettered.load(Ordering::Relaxed),
    )
}

/// Reads `t` to its end with one reader; returns the ids read and the metrics.
async fn read_all(t: &crate::TableDescriptor) -> (Vec<i64>, Arc<JobMetrics>) {
    let metrics = Arc::new(JobMetrics::default());
    let mut r: Box<dyn SourceReader> = readers_with(t, 1, &metrics).pop().unwrap();
    let read = read(r.as_mut(), 0, QUIET).await;
    assert!(read.finished, "a bounded read ends");
    (read.ids(), metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_names_the_table_topic_partition_offset_and_the_option_to_change() {
    let broker = KafkaBroker::start();
    produce_dirty(&broker, "orders");
    let t = keyed(&broker, "orders", &[]);
    let err = read_error(reader(&t).as_mut()).await;
    assert_eq!(
        err,
        "table 'events': cannot decode the record at topic 'orders' partition 0 \
         offset 1: Encountered unexpected 'o' whilst parsing object (record: {oops); fix the data where it is \
         produced, or set 'weir.dirty-data.strategy' = 'skip' to skip malformed records, or \
         'dead-letter' with 'weir.dirty-data.dead-letter.path' = '<folder>' (or \
         'weir.dirty-data.dead-letter.topic' = '<topic>') to set them aside"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_counts_malformed_values_and_keys_and_good_rows_pass() {
    let broker = KafkaBroker::start();
    produce_dirty(&broker, "orders");
    let t = keyed(&broker, "orders", &[("weir.dirty-data.strategy", "skip")]);
    let (ids, metrics) = read_all(&t).await;
    // 2 and 5: malformed values; 3: a malformed key; 4 has no key (null key columns,
    // but `id` comes from the value with 'ALL').
    assert_eq!(ids, vec![1, 4]);
    assert_eq!(counts(&metrics), (3, 0));
    // `ignore-parse-errors` on both formats means skip.
    let t = keyed(
        &broker,
        "orders",
        &[
            ("json.ignore-parse-errors", "true"),
            ("key.json.ignore-parse-errors", "true"),
        ],
    );
    let (ids, metrics) = read_all(&t).await;
    assert_eq!((ids, counts(&metrics)), (vec![1, 4], (3, 0)));
    // On the value only: its bad records are skipped, a bad key fails.
    let t = keyed(&broker, "orders", &[("json.ignore-parse-errors", "true")]);
    let err = read_error(reader(&t).as_mut()).await;
    assert!(
        err.contains("at topic 'orders' partition 0 offset 2: malformed key:"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_to_a_folder_writes_where_each_record_was_its_bytes_and_error() {
    let broker = KafkaBroker::start();
    produce_dirty(&broker, "orders");
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("dlq");
    let folder_text = folder.display().to_string();
    let t = keyed(
        &broker,
        "orders",
        &[
            ("weir.dirty-data.strategy", "dead-letter"),
            ("weir.dirty-data.dead-letter.path", folder_text.as_str()),
        ],
    );
    let (ids, metrics) = read_all(&t).await;
    assert_eq!(ids, vec![1, 4]);
    assert_eq!(counts(&metrics), (0, 3));
    let text = std::fs::read_to_string(folder.join("dead-letter-events-0.jsonl")).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // A run's bad values are handled before its bad keys.
    lines.sort_by_key(|l| l["offset"].as_i64());
    let summary: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {} {}",
                l["table"], l["source"], l["partition"], l["offset"], l["raw"], l["raw_base64"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            r#""events" "orders" 0 1 "{oops" null"#,
            r#""events" "orders" 0 2 "[1" null"#,
            r#""events" "orders" 0 4 null "//4A""#,
        ]
    );
    assert_eq!(
        lines[0]["error"],
        "Encountered unexpected 'o' whilst parsing object"
    );
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed key: "),
        "{}",
        lines[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_to_a_topic_produces_the_json_with_the_original_key() {
    let broker = KafkaBroker::start();
    produce_dirty(&broker, "orders");
    broker.create_topic("orders-dlq", 1);
    let t = keyed(
        &broker,
        "orders",
        &[
            ("weir.dirty-data.strategy", "dead-letter"),
            ("weir.dirty-data.dead-letter.topic", "orders-dlq"),
        ],
    );
    let binding = super::tests::binding(&t);
    assert!(
        binding
            .description
            .ends_with(", dirty-data=dead-letter to topic 'orders-dlq')"),
        "{}",
        binding.description
    );
    let (ids, metrics) = read_all(&t).await;
    assert_eq!(ids, vec![1, 4]);
    assert_eq!(counts(&metrics), (0, 3));
    // Flushed when the batch was read: on the topic before the reader ended.
    let mut records: Vec<(Value, Option<Vec<u8>>)> = broker
        .read_all("orders-dlq")
        .into_iter()
        .map(|r| {
            (
                serde_json::from_slice(r.value.as_deref().unwrap()).unwrap(),
                r.key,
            )
        })
        .collect();
    records.sort_by_key(|(v, _)| v["offset"].as_i64());
    let summary: Vec<String> = records
        .iter()
        .map(|(v, key)| {
            format!(
                "{} | {} {} {} {} {}",
                String::from_utf8_lossy(key.as_deref().unwrap_or(b"-")),
                v["source"],
                v["partition"],
                v["offset"],
                v["raw"],
                v["raw_base64"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            r#"{"id":2} | "orders" 0 1 "{oops" null"#,
            r#"[1 | "orders" 0 2 "[1" null"#,
            r#"{"id":5} | "orders" 0 4 null "//4A""#,
        ]
    );
    assert_eq!(records[0].0["table"], "events");
    assert_eq!(
        records[0].0["error"],
        "Encountered unexpected 'o' whilst parsing object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dead_letter_topic_fails_at_the_first_bad_record() {
    let broker = KafkaBroker::start();
    produce_dirty(&broker, "orders");
    let t = keyed(
        &broker,
        "orders",
        &[
            ("weir.dirty-data.strategy", "dead-letter"),
            ("weir.dirty-data.dead-letter.topic", "nowhere"),
        ],
    );
    let err = read_error(reader(&t).as_mut()).await;
    assert!(
        err.contains(
            "table 'events': the dead-letter topic 'nowhere' \
             ('weir.dirty-data.dead-letter.topic') does not exist; create it"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_the_brokers_refuse_fails_the_job() {
    let broker = KafkaBroker::start();
    broker.create_topic("orders", 1);
    broker.create_topic("orders-dlq", 1);
    // A malformed value bigger than the producer may send: its dead letter cannot go.
    let big = format!("{{oops {}", "x".repeat(3000));
    broker.produce("orders", &[(0, None, Some(big.as_bytes()))]);
    let t = keyed(
        &broker,
        "orders",
        &[
            ("weir.dirty-data.strategy", "dead-letter"),
            ("weir.dirty-data.dead-letter.topic", "orders-dlq"),
            ("properties.message.max.bytes", "2000"),
        ],
    );
    let err = read_error(reader(&t).as_mut()).await;
    assert!(
        err.starts_with(
            "table 'events': cannot write a malformed record to the dead-letter topic \
             'orders-dlq': "
        ) && err.contains("or dead-letter to a folder with 'weir.dirty-data.dead-letter.path'"),
        "{err}"
    );
}

#[test]
fn dead_letter_options_need_exactly_one_target() {
    let broker_less = |extra: &[(&str, &str)]| {
        let mut options = vec![
            ("connector", "kafka"),
            ("topic", "orders"),
            ("properties.bootstrap.servers", "127.0.0.1:1"),
            ("format", "json"),
            ("scan.startup.mode", "earliest-offset"),
        ];
        options.extend_from_slice(extra);
        let t = super::tests::table(
            vec![arrow::datatypes::Field::new(
                "id",
                arrow::datatypes::DataType::Int64,
                true,
            )],
            &[],
            &options,
        );
        super::create_source(&t, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let e = broker_less(&[("weir.dirty-data.strategy", "dead-letter")]).unwrap_err();
    assert!(
        e.contains(
            "'weir.dirty-data.dead-letter.path' = 'dead-letter' (a folder) or \
             'weir.dirty-data.dead-letter.topic' = 'orders-dead-letter'"
        ),
        "{e}"
    );
    let e = broker_less(&[
        ("weir.dirty-data.strategy", "dead-letter"),
        ("weir.dirty-data.dead-letter.path", "dlq"),
        ("weir.dirty-data.dead-letter.topic", "dlq"),
    ])
    .unwrap_err();
    assert!(
        e.contains("set either 'weir.dirty-data.dead-letter.path' (now 'dlq') or"),
        "{e}"
    );
    let e = broker_less(&[("weir.dirty-data.dead-letter.topic", "dlq")]).unwrap_err();
    assert!(
        e.contains("only used with 'weir.dirty-data.strategy' = 'dead-letter'"),
        "{e}"
    );
    let e = broker_less(&[
        ("json.ignore-parse-errors", "true"),
        ("weir.dirty-data.strategy", "dead-letter"),
        ("weir.dirty-data.dead-letter.topic", "dlq"),
    ])
    .unwrap_err();
    assert!(
        e.contains("'json.ignore-parse-errors' = 'true' skips malformed records"),
        "{e}"
    );
    broker_less(&[
        ("weir.dirty-data.strategy", "dead-letter"),
        ("weir.dirty-data.dead-letter.topic", "dlq"),
    ])
    .unwrap();
}
