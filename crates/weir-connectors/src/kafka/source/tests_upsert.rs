//! The `upsert-kafka` source against tansu: records with a value are upserts (`+U`),
//! tombstones deletions (`-D` with only the key set), keyless records dropped and
//! counted, rows in offset order with their metadata; the binding asks the planner for a
//! changelog normalization on the PRIMARY KEY; the options' checks.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int8Array};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use weir_runtime::JobMetrics;
use weir_types::{ChangelogKind, RowKind, ROW_KIND_COLUMN};

use super::tests::{ints, read, strings, table};
use crate::descriptor::TableDescriptor;
use crate::test_servers::KafkaBroker;

const QUIET: Duration = Duration::from_millis(300);

/// `users (id BIGINT NOT NULL, name STRING, score INT, off BIGINT METADATA FROM 'offset',
/// PRIMARY KEY (id))` of topic `topic`, `upsert-kafka`, JSON key and value, bounded.
fn users(broker: &KafkaBroker, topic: &str, extra: &[(&str, &str)]) -> TableDescriptor {
    let bootstrap = broker.bootstrap();
    let mut options = vec![
        ("connector", "upsert-kafka"),
        ("topic", topic),
        ("properties.bootstrap.servers", bootstrap.as_str()),
        ("key.format", "json"),
        ("value.format", "json"),
        ("scan.bounded.mode", "latest-offset"),
    ];
    options.extend_from_slice(extra);
    let mut t = table(
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Int32, true),
            Field::new("off", DataType::Int64, false),
        ],
        &[("off", "offset")],
        &options,
    );
    t.primary_key = vec!["id".into()];
    t
}

/// Each row as `<kind> <id> <name> <score> @<offset>` (`-` for null).
fn rows(batches: &[(usize, RecordBatch)]) -> Vec<String> {
    let mut out = Vec::new();
    for (_, b) in batches {
        let kinds = b
            .column_by_name(ROW_KIND_COLUMN)
            .expect("a row-kind column")
            .as_any()
            .downcast_ref::<Int8Array>()
            .expect("i8 kinds");
        let names = strings(b, "name");
        let (ids, scores, offsets) = (ints(b, "id"), ints(b, "score"), ints(b, "off"));
        for r in 0..b.num_rows() {
            let kind = RowKind::from_i8(kinds.value(r)).expect("a row kind");
            let score = if b.column_by_name("score").unwrap().is_null(r) {
                "-".to_string()
            } else {
                scores[r].to_string()
            };
            out.push(format!(
                "{kind} {} {} {score} @{}",
                ids[r],
                names[r].as_deref().unwrap_or("-"),
                offsets[r]
            ));
        }
    }
    out
}

/// Reads `t` to its end; the rows and the count of skipped records.
async fn read_rows(t: &TableDescriptor) -> (Vec<String>, u64) {
    let binding = super::create_source(t, true).unwrap_or_else(|e| panic!("{e}"));
    let metrics = Arc::new(JobMetrics::default());
    let mut ctx = weir_runtime::SubtaskContext::single("source");
    ctx.metrics = metrics.clone();
    let mut reader = binding.factory.create_reader(&ctx).unwrap();
    let read = read(reader.as_mut(), 0, QUIET).await;
    assert!(read.finished);
    (
        rows(&read.batches),
        metrics.records_skipped.load(Ordering::Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_upserts_tombstones_deletes_and_keyless_records_are_dropped() {
    let broker = KafkaBroker::start();
    broker.create_topic("users", 1);
    broker.produce(
        "users",
        &[
            (
                0,
                Some(br#"{"id":1}"#),
                Some(br#"{"name":"ann","score":10}"#),
            ),
            (
                0,
                Some(br#"{"id":2}"#),
                Some(br#"{"name":"bob","score":20}"#),
            ),
            (
                0,
                Some(br#"{"id":1}"#),
                Some(br#"{"name":"ann","score":11}"#),
            ),
            (0, Some(br#"{"id":2}"#), None),
            (0, None, Some(br#"{"name":"nobody","score":99}"#)),
            (0, Some(br#"{"id":3}"#), Some(br#"{"name":"cid"}"#)),
            (0, Some(br#"{"id":9}"#), None),
        ],
    );
    let t = users(&broker, "users", &[]);
    let binding = super::create_source(&t, true).unwrap();
    assert_eq!(binding.upsert_key, vec!["id".to_string()]);
    assert_eq!(binding.changelog, ChangelogKind::Updating);
    assert_eq!(
        binding.description,
        "upsert-kafka(topic=users, format=json, startup=earliest-offset, key=id, \
         bounded=latest-offset)"
    );
    let (rows, skipped) = read_rows(&t).await;
    assert_eq!(
        rows,
        vec![
            "+U 1 ann 10 @0",
            "+U 2 bob 20 @1",
            "+U 1 ann 11 @2",
            "-D 2 - - @3",
            "+U 3 cid - @5",
            // A deletion of a key never seen: the normalization drops it.
            "-D 9 - - @6",
        ]
    );
    assert_eq!(skipped, 1, "the keyless record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_all_fields_the_key_columns_still_come_from_the_key() {
    let broker = KafkaBroker::start();
    broker.create_topic("users", 1);
    broker.produce(
        "users",
        &[
            (
                0,
                Some(br#"{"id":1}"#),
                Some(br#"{"id":1,"name":"ann","score":10}"#),
            ),
            (0, Some(br#"{"id":1}"#), None),
        ],
    );
    let t = users(&broker, "users", &[("value.fields-include", "ALL")]);
    let (rows, _) = read_rows(&t).await;
    assert_eq!(rows, vec!["+U 1 ann 10 @0", "-D 1 - - @1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_key_or_value_goes_to_the_dirty_data_policy() {
    let broker = KafkaBroker::start();
    broker.create_topic("users", 1);
    broker.produce(
        "users",
        &[
            (0, Some(br#"{"id":1}"#), Some(b"{oops")),
            (0, Some(b"[1"), None),
            (
                0,
                Some(br#"{"id":2}"#),
                Some(br#"{"name":"bob","score":20}"#),
            ),
        ],
    );
    let t = users(&broker, "users", &[]);
    let binding = super::create_source(&t, true).unwrap();
    let mut reader = binding
        .factory
        .create_reader(&weir_runtime::SubtaskContext::single("source"))
        .unwrap();
    let err = super::tests::read_error(reader.as_mut()).await;
    assert!(
        err.contains(
            "table 'events': cannot decode the record at topic 'users' partition 0 offset 0"
        ),
        "{err}"
    );
    let t = users(&broker, "users", &[("weir.dirty-data.strategy", "skip")]);
    let (rows, skipped) = read_rows(&t).await;
    assert_eq!((rows, skipped), (vec!["+U 2 bob 20 @2".to_string()], 2));
}

#[test]
fn upsert_options_are_checked_as_in_flink() {
    let broker_less = |columns_key: &[&str], extra: &[(&str, &str)]| {
        let mut options = vec![
            ("connector", "upsert-kafka"),
            ("topic", "users"),
            ("properties.bootstrap.servers", "127.0.0.1:1"),
            ("key.format", "json"),
            ("value.format", "json"),
        ];
        options.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        options.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        let mut t = table(
            vec![
                Field::new("id", DataType::Int64, false),
                Field::new("name", DataType::Utf8, true),
            ],
            &[],
            &options,
        );
        t.primary_key = columns_key.iter().map(|c| c.to_string()).collect();
        t
    };
    let err = |t: &TableDescriptor| match super::create_source(t, true) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let ok = broker_less(&["id"], &[]);
    super::create_source(&ok, true).unwrap();
    assert_eq!(
        super::validate_upsert_source(&ok)
            .unwrap()
            .map(|e| e.to_string()),
        None
    );
    let e = err(&broker_less(&[], &[]));
    assert!(
        e.contains("an upsert-kafka table needs a PRIMARY KEY"),
        "{e}"
    );
    let e = err(&broker_less(&["id"], &[("key.format", "")]));
    assert!(e.contains("'key.format'"), "{e}");
    let e = err(&broker_less(&["id"], &[("key.fields", "id")]));
    assert!(e.contains("remove 'key.fields'"), "{e}");
    let e = err(&broker_less(&["id"], &[("value.format", "debezium-json")]));
    assert!(e.contains("its value format reads plain rows"), "{e}");
    let e = err(&broker_less(
        &["id"],
        &[("scan.startup.mode", "latest-offset")],
    ));
    assert!(e.contains("scan.startup.mode"), "{e}");
    assert!(super::validate_upsert_source(&broker_less(&[], &[])).is_err());
}

/// Measures reading the same keyed topic as `upsert-kafka` and as `kafka` with
/// `key.fields`: `cargo test -p weir-connectors --lib upsert_read_throughput --
/// --ignored --nocapture` (a debug build: compare the two, not absolute numbers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn upsert_read_throughput() {
    let broker = KafkaBroker::start();
    let (partitions, per_partition) = (4, 25_000i64);
    broker.create_topic("users", partitions);
    let started = std::time::Instant::now();
    for p in 0..partitions {
        // 10,000 keys per partition, each written 2.5 times; every 10th record a tombstone.
        let texts: Vec<(String, Option<String>)> = (0..per_partition)
            .map(|i| {
                let id = i64::from(p) * 10_000 + i % 10_000;
                let value = (i % 10 != 9).then(|| format!(r#"{{"name":"n{i}","score":{i}}}"#));
                (format!(r#"{{"id":{id}}}"#), value)
            })
            .collect();
        let records: Vec<_> = texts
            .iter()
            .map(|(k, v)| (p, Some(k.as_bytes()), v.as_deref().map(str::as_bytes)))
            .collect();
        broker.produce("users", &records);
    }
    let total = i64::from(partitions) * per_partition;
    eprintln!("produced {total} records in {:?}", started.elapsed());
    let upsert = users(&broker, "users", &[]);
    let mut plain = upsert.clone();
    plain.primary_key.clear();
    for (k, v) in [
        ("connector", "kafka"),
        ("key.fields", "id"),
        ("value.fields-include", "EXCEPT_KEY"),
        ("scan.startup.mode", "earliest-offset"),
    ] {
        plain.options.insert(k.into(), v.into());
    }
    for (name, t, is_upsert) in [("upsert-kafka", &upsert, true), ("kafka", &plain, false)] {
        let binding = super::create_source(t, is_upsert).unwrap_or_else(|e| panic!("{e}"));
        let mut r = binding
            .factory
            .create_reader(&weir_runtime::SubtaskContext::single("source"))
            .unwrap();
        let started = std::time::Instant::now();
        let mut rows = 0;
        loop {
            match r.next().await.unwrap() {
                weir_runtime::SourceEvent::Batch { batch, .. } => rows += batch.num_rows(),
                weir_runtime::SourceEvent::Finished => break,
                _ => {}
            }
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{name}: {total} records, {rows} rows in {elapsed:?}: {:.0} records/s",
            total as f64 / elapsed.as_secs_f64()
        );
    }
}
