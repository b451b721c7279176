//! Column tests of the `kafka` source against tansu: metadata columns, key fields,
//! malformed records and tombstones.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use weir_runtime::JobMetrics;

use super::tests::{
    binding, ints, json_table, read, read_error, reader, readers_with, strings, table,
};
use crate::test_servers::KafkaBroker;

const QUIET: Duration = Duration::from_millis(300);

fn headers_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Binary, true),
            ])),
            false,
        )),
        false,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_columns_carry_each_records_topic_partition_offset_time_and_headers() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 2);
    broker.produce_with(
        "t",
        &[
            (1, None, Some(br#"{"id": 1}"#)),
            (1, None, Some(br#"{"id": 2}"#)),
        ],
        &[
            ("source", b"web"),
            ("trace", b"\x00\x01"),
            ("source", b"app"),
        ],
        Some(1_700_000_000_123),
    );
    let bootstrap = broker.bootstrap();
    let t = table(
        vec![
            Field::new("id", DataType::Int64, true),
            Field::new("topic", DataType::Utf8, false),
            Field::new("part", DataType::Int32, false),
            Field::new("off", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            // Flink allows any type the metadata casts to.
            Field::new(
                "ts_plain",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("ts_type", DataType::Utf8, false),
            Field::new("headers", headers_type(), false),
            Field::new("epoch", DataType::Int32, true),
        ],
        &[
            ("topic", "topic"),
            ("part", "partition"),
            ("off", "offset"),
            ("ts", "timestamp"),
            ("ts_plain", "timestamp"),
            ("ts_type", "timestamp-type"),
            ("headers", "headers"),
            ("epoch", "leader-epoch"),
        ],
        &[
            ("connector", "kafka"),
            ("topic", "t"),
            ("properties.bootstrap.servers", &bootstrap),
            ("format", "json"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    let read = read(reader(&t).as_mut(), 2, QUIET).await;
    assert_eq!(read.batches.len(), 1, "one partition, one run");
    let b = &read.batches[0].1;
    assert_eq!(b.schema(), t.schema, "the table's schema");
    assert_eq!(ints(b, "id"), vec![1, 2]);
    assert_eq!(
        strings(b, "topic"),
        vec![Some("t".into()), Some("t".into())]
    );
    assert_eq!(ints(b, "part"), vec![1, 1]);
    assert_eq!(ints(b, "off"), vec![0, 1]);
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1_700_000_000_123);
    let plain = b
        .column_by_name("ts_plain")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    assert_eq!(plain.value(1), 1_700_000_000_123);
    assert_eq!(strings(b, "ts_type"), vec![Some("CreateTime".into()); 2]);
    let headers = b.column_by_name("headers").unwrap().as_map();
    let first = headers.value(0);
    let keys = first.column(0).as_string::<i32>();
    let values = first.column(1).as_binary::<i32>();
    let entries: Vec<(&str, &[u8])> = (0..keys.len())
        .map(|i| (keys.value(i), values.value(i)))
        .collect();
    // A repeated header keeps its last value, as in Flink's map.
    assert_eq!(
        entries,
        vec![("source", &b"app"[..]), ("trace", &b"\x00\x01"[..])]
    );
    let epoch = b.column_by_name("epoch").unwrap();
    assert!(epoch.is_valid(0), "tansu reports leader epochs");
}

#[test]
fn metadata_columns_of_a_wrong_type_or_unknown_key_are_refused() {
    let t = |field: Field, key: &str| {
        table(
            vec![Field::new("id", DataType::Int64, true), field],
            &[("m", key)],
            &[
                ("connector", "kafka"),
                ("topic", "t"),
                ("properties.bootstrap.servers", "127.0.0.1:9"),
                ("format", "json"),
                ("scan.startup.mode", "earliest-offset"),
            ],
        )
    };
    let err = |table| match super::create_source(&table, false) {
        Ok(_) => panic!("refused"),
        Err(e) => e.to_string(),
    };
    let row = DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int32, true)]));
    let e = err(t(Field::new("m", row, true), "offset"));
    assert!(
        e.contains("metadata column 'm' ('offset')") && e.contains("BIGINT"),
        "{e}"
    );
    let e = err(t(Field::new("m", DataType::Utf8, true), "headers"));
    assert!(e.contains("MAP<STRING, BYTES>"), "{e}");
    let e = err(t(Field::new("m", DataType::Utf8, true), "key"));
    assert!(
        e.contains("no metadata key 'key'") && e.contains("leader-epoch"),
        "{e}"
    );
    // Castable types are accepted (BIGINT for the INT partition, STRING for the offset).
    super::create_source(
        &t(Field::new("m", DataType::Int64, true), "partition"),
        false,
    )
    .unwrap();
    super::create_source(&t(Field::new("m", DataType::Utf8, true), "offset"), false).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_fields_come_from_the_record_key() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 1);
    broker.produce(
        "t",
        &[
            (0, Some(br#"{"id": 7}"#), Some(br#"{"amount": 1.5}"#)),
            // No key: the key columns are null (Flink's behaviour).
            (0, None, Some(br#"{"amount": 2.5}"#)),
            (0, Some(br#"{"id": 9}"#), Some(br#"{"amount": 3.5}"#)),
        ],
    );
    let bootstrap = broker.bootstrap();
    let t = table(
        vec![
            Field::new("k_id", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
        ],
        &[],
        &[
            ("connector", "kafka"),
            ("topic", "t"),
            ("properties.bootstrap.servers", &bootstrap),
            ("key.format", "json"),
            ("key.fields", "k_id"),
            ("key.fields-prefix", "k_"),
            ("value.format", "json"),
            ("value.fields-include", "EXCEPT_KEY"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    let read = read(reader(&t).as_mut(), 3, QUIET).await;
    let b = &read.batches[0].1;
    assert_eq!(ints(b, "k_id"), vec![7, -1, 9]);
    assert!(b.column(0).is_null(1));
    assert_eq!(
        strings(b, "amount"),
        vec![Some("1.5".into()), Some("2.5".into()), Some("3.5".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_all_fields_a_key_column_comes_from_the_value() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 1);
    broker.produce(
        "t",
        &[(
            0,
            Some(br#"{"id": 1}"#),
            Some(br#"{"id": 100, "name": "a"}"#),
        )],
    );
    let t = json_table(
        &broker,
        "t",
        &[
            ("key.format", "json"),
            ("key.fields", "id"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    let read = read(reader(&t).as_mut(), 1, QUIET).await;
    assert_eq!(read.ids(), vec![100], "the value wins, as in Flink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_fails_the_job_naming_where_it_is() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 2);
    broker.produce(
        "t",
        &[
            (1, None, Some(br#"{"id": 1, "name": "a"}"#)),
            (1, None, Some(b"{not json")),
            (1, None, Some(br#"{"id": 3, "name": "c"}"#)),
        ],
    );
    let t = json_table(&broker, "t", &[("scan.startup.mode", "earliest-offset")]);
    let err = read_error(reader(&t).as_mut()).await;
    assert!(
        err.contains("table 'events'")
            && err.contains("cannot decode the record at topic 't' partition 1 offset 1")
            && err.contains("{not json")
            && err.contains("'weir.dirty-data.strategy' = 'skip'"),
        "{err}"
    );
    // A malformed key too, said to be the key.
    broker.create_topic("k", 1);
    broker.produce("k", &[(0, Some(b"oops"), Some(br#"{"name": "x"}"#))]);
    let t = json_table(
        &broker,
        "k",
        &[
            ("key.format", "json"),
            ("key.fields", "id"),
            ("value.fields-include", "EXCEPT_KEY"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    let err = read_error(reader(&t).as_mut()).await;
    assert!(
        err.contains("cannot decode the record at topic 'k' partition 0 offset 0: malformed key")
            && err.contains("(record: oops)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_parse_errors_skips_and_counts_malformed_records_and_tombstones_give_no_row() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 1);
    broker.produce(
        "t",
        &[
            (0, None, Some(br#"{"id": 1}"#)),
            (0, None, Some(b"garbage")),
            (0, Some(b"k"), None),
            (0, None, Some(br#"{"id": 4}"#)),
            (0, None, Some(b"")),
        ],
    );
    let t = json_table(
        &broker,
        "t",
        &[
            ("value.json.ignore-parse-errors", "true"),
            ("scan.startup.mode", "earliest-offset"),
            ("scan.bounded.mode", "latest-offset"),
        ],
    );
    // 'format' = 'json' with 'value.json.*' is not Flink's spelling: refused.
    assert!(super::create_source(&t, false).is_err());
    let t = json_table(
        &broker,
        "t",
        &[
            ("json.ignore-parse-errors", "true"),
            ("scan.startup.mode", "earliest-offset"),
            ("scan.bounded.mode", "latest-offset"),
        ],
    );
    let metrics = Arc::new(JobMetrics::default());
    let mut r = readers_with(&t, 1, &metrics).pop().unwrap();
    let read = read(r.as_mut(), 0, QUIET).await;
    assert!(
        read.finished,
        "the skipped records still move the position to the end"
    );
    assert_eq!(read.ids(), vec![1, 4]);
    assert_eq!(
        metrics
            .records_skipped
            .load(std::sync::atomic::Ordering::Relaxed),
        2,
        "the malformed and the empty record; a tombstone is not malformed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reading_some_columns_decodes_only_their_json_fields() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 1);
    broker.produce(
        "t",
        &[
            (0, None, Some(br#"{"id": 1, "name": "a"}"#)),
            (0, None, Some(br#"{"id": 2, "name": "b"}"#)),
        ],
    );
    let bootstrap = broker.bootstrap();
    let t = table(
        vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("off", DataType::Int64, false),
        ],
        &[("off", "offset")],
        &[
            ("connector", "kafka"),
            ("topic", "t"),
            ("properties.bootstrap.servers", bootstrap.as_str()),
            ("format", "json"),
            ("scan.startup.mode", "earliest-offset"),
            ("scan.bounded.mode", "latest-offset"),
        ],
    );
    let source = binding(&t);
    assert!(
        source.factory.reading_only(&[true, true, false]).is_none(),
        "every value column is read: nothing to skip"
    );
    let narrow = source
        .factory
        .reading_only(&[true, false, true])
        .expect("the name field can be skipped");
    let mut r = narrow
        .create_reader(&weir_runtime::SubtaskContext::single("source"))
        .unwrap();
    let got = read(r.as_mut(), 2, QUIET).await;
    let batch = &got.batches[0].1;
    assert_eq!(batch.num_columns(), 3, "the rows keep the table's schema");
    assert_eq!(ints(batch, "id"), vec![1, 2]);
    assert_eq!(strings(batch, "name"), vec![None, None]);
    assert_eq!(ints(batch, "off"), vec![0, 1]);
}
