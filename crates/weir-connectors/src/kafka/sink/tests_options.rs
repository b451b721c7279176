//! Tests of the Kafka sink options: Flink's names, defaults and refusals.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use weir_types::ChangelogKind;

use super::options::{DeliveryGuarantee, Partitioning, SinkOptions};
use crate::descriptor::{MetadataColumn, TableDescriptor};

/// `MAP<STRING, BYTES>` as the planner builds it.
pub(super) fn headers_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Binary, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// A table `orders (user_id BIGINT, name STRING, amount DOUBLE)` with `extra` fields
/// (metadata columns among them, as `metadata` says) and options.
pub(super) fn table_with(
    options: &[(&str, &str)],
    primary_key: &[&str],
    extra: Vec<Field>,
    metadata: Vec<MetadataColumn>,
) -> TableDescriptor {
    let mut fields = vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ];
    fields.extend(extra);
    TableDescriptor {
        name: "orders".into(),
        schema: Arc::new(Schema::new(fields)),
        metadata,
        primary_key: primary_key.iter().map(|s| s.to_string()).collect(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        base_dir: ".".into(),
    }
}

/// Writable metadata columns `ts` (the record timestamp) and `hdrs` (its headers).
pub(super) fn timestamp_and_headers() -> (Vec<Field>, Vec<MetadataColumn>) {
    let extra = vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("hdrs", headers_type(), true),
    ];
    let metadata = vec![
        MetadataColumn {
            column: "ts".into(),
            key: "timestamp".into(),
            is_virtual: false,
        },
        MetadataColumn {
            column: "hdrs".into(),
            key: "headers".into(),
            is_virtual: false,
        },
    ];
    (extra, metadata)
}

fn table(options: &[(&str, &str)], primary_key: &[&str]) -> TableDescriptor {
    table_with(options, primary_key, vec![], vec![])
}

fn kafka(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut o = vec![
        ("connector", "kafka"),
        ("properties.bootstrap.servers", "127.0.0.1:9092"),
        ("topic", "orders"),
        ("format", "json"),
    ];
    o.extend_from_slice(extra);
    o
}

fn upsert(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut o = vec![
        ("connector", "upsert-kafka"),
        ("properties.bootstrap.servers", "127.0.0.1:9092"),
        ("topic", "totals"),
        ("key.format", "json"),
        ("value.format", "json"),
    ];
    o.extend_from_slice(extra);
    o
}

fn read(t: &TableDescriptor, changelog: ChangelogKind) -> Result<SinkOptions, String> {
    let upsert = t.options["connector"] == "upsert-kafka";
    SinkOptions::read(t, changelog, upsert).map_err(|e| e.to_string())
}

fn error(options: &[(&str, &str)], primary_key: &[&str], changelog: ChangelogKind) -> String {
    read(&table(options, primary_key), changelog).unwrap_err()
}

#[test]
fn flink_defaults() {
    let o = read(&table(&kafka(&[]), &[]), ChangelogKind::AppendOnly).unwrap();
    assert_eq!(o.topic, "orders");
    assert_eq!(o.guarantee, DeliveryGuarantee::AtLeastOnce);
    assert_eq!(o.partitioning, Partitioning::Default);
    assert_eq!(o.transaction_timeout, Duration::from_secs(3600));
    assert_eq!(o.transactional_id_prefix, None);
    assert!(o.buffer.is_none());
    assert!(o.columns.key.is_empty());
    assert_eq!(o.kafka.value_columns, ["user_id", "name", "amount"]);
}

/// A table declared once may be read and written: its source options are accepted when
/// it is written (and checked when it is read), unknown ones are still refused.
#[test]
fn source_options_are_accepted_and_ignored_when_written() {
    let options = kafka(&[
        ("scan.startup.mode", "earliest-offset"),
        ("scan.bounded.mode", "latest-offset"),
        ("scan.watermark.idle-timeout", "5 s"),
        ("weir.dirty-data.strategy", "skip"),
        ("properties.group.id", "g"),
    ]);
    read(&table(&options, &[]), ChangelogKind::AppendOnly).unwrap();
    let e = error(
        &kafka(&[("sink.partitionner", "fixed")]),
        &[],
        ChangelogKind::AppendOnly,
    );
    assert!(e.contains("sink.partitionner"), "{e}");
}

#[test]
fn a_sink_writes_one_topic() {
    let e = error(&kafka(&[("topic", "a;b")]), &[], ChangelogKind::AppendOnly);
    assert!(e.contains("a sink writes exactly one topic"), "{e}");
    let mut o = kafka(&[("topic-pattern", "orders-.*")]);
    o.retain(|(k, _)| *k != "topic");
    let e = error(&o, &[], ChangelogKind::AppendOnly);
    assert!(
        e.contains("'topic-pattern'") && e.contains("is for sources"),
        "{e}"
    );
}

#[test]
fn partitioners_and_a_refused_java_class() {
    for (value, expected) in [
        ("default", Partitioning::Default),
        ("fixed", Partitioning::Fixed),
        ("round-robin", Partitioning::RoundRobin),
    ] {
        let o = read(
            &table(&kafka(&[("sink.partitioner", value)]), &[]),
            ChangelogKind::AppendOnly,
        )
        .unwrap();
        assert_eq!(o.partitioning, expected);
    }
    let e = error(
        &kafka(&[("sink.partitioner", "com.example.MyPartitioner")]),
        &[],
        ChangelogKind::AppendOnly,
    );
    assert!(e.contains("cannot run in Weir (there is no JVM)"), "{e}");
    let e = error(
        &kafka(&[("sink.partitioner", "hash")]),
        &[],
        ChangelogKind::AppendOnly,
    );
    assert!(
        e.contains("expected 'default', 'fixed' or 'round-robin'"),
        "{e}"
    );
}

#[test]
fn delivery_guarantees_and_the_old_option_name() {
    for (key, value, expected) in [
        ("sink.delivery-guarantee", "none", DeliveryGuarantee::None),
        (
            "sink.delivery-guarantee",
            "AT_LEAST_ONCE",
            DeliveryGuarantee::AtLeastOnce,
        ),
        (
            "sink.semantic",
            "exactly-once",
            DeliveryGuarantee::ExactlyOnce,
        ),
    ] {
        let o = read(
            &table(
                &kafka(&[(key, value), ("sink.transactional-id-prefix", "job-a")]),
                &[],
            ),
            ChangelogKind::AppendOnly,
        )
        .unwrap();
        assert_eq!(o.guarantee, expected);
        assert_eq!(o.transactional_id_prefix.as_deref(), Some("job-a"));
    }
    let e = error(
        &kafka(&[("sink.delivery-guarantee", "exactly-once")]),
        &[],
        ChangelogKind::AppendOnly,
    );
    assert!(
        e.contains("missing required option 'sink.transactional-id-prefix'"),
        "{e}"
    );
    let e = error(
        &kafka(&[("sink.delivery-guarantee", "twice")]),
        &[],
        ChangelogKind::AppendOnly,
    );
    assert!(
        e.contains("expected 'none', 'at-least-once' or 'exactly-once'"),
        "{e}"
    );
    let e = error(
        &kafka(&[("properties.transactional.id", "mine")]),
        &[],
        ChangelogKind::AppendOnly,
    );
    assert!(e.contains("names its transactions itself"), "{e}");
    let o = read(
        &table(
            &kafka(&[("properties.transaction.timeout.ms", "900000")]),
            &[],
        ),
        ChangelogKind::AppendOnly,
    )
    .unwrap();
    assert_eq!(o.transaction_timeout, Duration::from_secs(900));
}

#[test]
fn kafka_refuses_updates_unless_the_value_format_is_a_changelog() {
    let e = error(&kafka(&[]), &[], ChangelogKind::Updating);
    assert!(
        e.contains("doesn't support consuming update and delete changes")
            && e.contains("'upsert-kafka'"),
        "{e}"
    );
    let mut o = kafka(&[]);
    o.retain(|(k, _)| *k != "format");
    o.push(("format", "debezium-json"));
    assert!(read(&table(&o, &[]), ChangelogKind::Updating).is_ok());
}

#[test]
fn upsert_kafka_needs_a_primary_key_and_insert_only_formats() {
    let o = read(&table(&upsert(&[]), &["user_id"]), ChangelogKind::Updating).unwrap();
    assert_eq!(o.columns.key, ["user_id"]);
    assert_eq!(o.kafka.value_columns, ["name", "amount"]);
    let e = error(&upsert(&[]), &[], ChangelogKind::Updating);
    assert!(e.contains("needs a PRIMARY KEY"), "{e}");
    let mut o = upsert(&[]);
    o.retain(|(k, _)| *k != "value.format");
    o.push(("value.format", "debezium-json"));
    let e = error(&o, &["user_id"], ChangelogKind::Updating);
    assert!(e.contains("not in insert-only mode"), "{e}");
    let e = error(
        &upsert(&[("sink.partitioner", "fixed")]),
        &["user_id"],
        ChangelogKind::Updating,
    );
    assert!(e.contains("unsupported option(s)"), "{e}");
}

#[test]
fn upsert_buffering_needs_both_options() {
    let o = read(
        &table(
            &upsert(&[
                ("sink.buffer-flush.max-rows", "100"),
                ("sink.buffer-flush.interval", "1 s"),
            ]),
            &["user_id"],
        ),
        ChangelogKind::Updating,
    )
    .unwrap();
    let buffer = o.buffer.unwrap();
    assert_eq!(
        (buffer.max_rows, buffer.interval),
        (100, Duration::from_secs(1))
    );
    let e = error(
        &upsert(&[("sink.buffer-flush.max-rows", "100")]),
        &["user_id"],
        ChangelogKind::Updating,
    );
    assert!(e.contains("must both be greater than zero"), "{e}");
    let e = error(
        &kafka(&[("sink.buffer-flush.max-rows", "100")]),
        &[],
        ChangelogKind::AppendOnly,
    );
    assert!(e.contains("unsupported option(s)"), "{e}");
}

#[test]
fn writable_metadata_timestamp_and_headers() {
    let (extra, metadata) = timestamp_and_headers();
    let t = table_with(&kafka(&[]), &[], extra, metadata);
    let o = read(&t, ChangelogKind::AppendOnly).unwrap();
    assert_eq!(o.columns.timestamp.as_deref(), Some("ts"));
    assert_eq!(o.columns.headers.as_deref(), Some("hdrs"));
    assert_eq!(o.kafka.value_columns, ["user_id", "name", "amount"]);

    let offset = table_with(
        &kafka(&[]),
        &[],
        vec![Field::new("off", DataType::Int64, true)],
        vec![MetadataColumn {
            column: "off".into(),
            key: "offset".into(),
            is_virtual: false,
        }],
    );
    let e = read(&offset, ChangelogKind::AppendOnly).unwrap_err();
    assert!(
        e.contains("metadata key 'offset' of column 'off' cannot be written")
            && e.contains("VIRTUAL"),
        "{e}"
    );
    let wrong = table_with(
        &kafka(&[]),
        &[],
        vec![Field::new("hdrs", DataType::Utf8, true)],
        vec![MetadataColumn {
            column: "hdrs".into(),
            key: "headers".into(),
            is_virtual: false,
        }],
    );
    let e = read(&wrong, ChangelogKind::AppendOnly).unwrap_err();
    assert!(e.contains("must be MAP<STRING, BYTES>"), "{e}");
}

#[test]
fn the_binding_describes_the_sink_for_explain() {
    let t = table(
        &kafka(&[
            ("key.format", "json"),
            ("key.fields", "user_id"),
            ("sink.parallelism", "3"),
            ("sink.delivery-guarantee", "exactly-once"),
            ("sink.transactional-id-prefix", "orders-job"),
        ]),
        &[],
    );
    let binding = crate::create_sink(&t, ChangelogKind::AppendOnly).unwrap();
    assert_eq!(binding.parallelism, Some(3));
    assert_eq!(
        binding.description,
        "kafka(topic=orders, value=json, key=json(user_id), exactly-once, transactional ids \
         orders-job-<subtask>-<n>, partitioner=default) at 127.0.0.1:9092"
    );
}
