//! Option tests of the `kafka` source (no broker: creating the source connects to
//! nothing).

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::datatypes::{DataType, Field};

use super::options::{BoundedMode, OffsetReset, SourceOptions, StartupMode};
use super::tests::table;
use crate::descriptor::TableDescriptor;
use crate::kafka::config::KafkaConfig;
use crate::options::Options;

const BASE: [(&str, &str); 4] = [
    ("connector", "kafka"),
    ("topic", "orders"),
    ("properties.bootstrap.servers", "127.0.0.1:9092"),
    ("format", "json"),
];

fn with(extra: &[(&str, &str)]) -> TableDescriptor {
    let mut options = BASE.to_vec();
    options.extend_from_slice(extra);
    table(vec![Field::new("id", DataType::Int64, true)], &[], &options)
}

fn read(extra: &[(&str, &str)]) -> Result<SourceOptions, String> {
    let t = with(extra);
    let mut options = Options::new(&t, "kafka");
    let config = KafkaConfig::read(&mut options, false).map_err(|e| e.to_string())?;
    let source = SourceOptions::read(&mut options, &config, false).map_err(|e| e.to_string())?;
    options.finish().map_err(|e| e.to_string())?;
    Ok(source)
}

fn error(extra: &[(&str, &str)]) -> String {
    match super::create_source(&with(extra), false) {
        Ok(_) => panic!("options {extra:?} should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_follow_flink() {
    let o = read(&[("properties.group.id", "g")]).unwrap();
    assert_eq!(o.startup, StartupMode::GroupOffsets);
    assert_eq!(o.reset, OffsetReset::None);
    assert_eq!(o.bounded, BoundedMode::Unbounded);
    assert_eq!(o.discovery, Some(Duration::from_secs(300)));
    assert!(o.commit_on_checkpoint);
    assert_eq!(o.api_timeout, Duration::from_secs(60));
    assert_eq!(o.parallelism, None);
    let t = with(&[("properties.group.id", "g")]);
    let mut options = Options::new(&t, "kafka");
    let config = KafkaConfig::read(&mut options, false).unwrap();
    let client = o.consumer_config(&config, 3);
    assert_eq!(
        client.get("isolation.level"),
        Some("read_uncommitted"),
        "Java's default"
    );
    assert_eq!(client.get("enable.auto.commit"), Some("false"));
    assert_eq!(client.get("enable.partition.eof"), Some("false"));
    assert_eq!(client.get("auto.offset.reset"), Some("error"));
    assert_eq!(client.get("client.id"), Some("g-3"));
    assert_eq!(client.get("group.id"), Some("g"));
}

#[test]
fn startup_and_bounded_modes_with_their_values() {
    let o = read(&[
        ("scan.startup.mode", "specific-offsets"),
        (
            "scan.startup.specific-offsets",
            "partition:0,offset:42; partition: 1 , offset: 300",
        ),
        ("scan.bounded.mode", "timestamp"),
        ("scan.bounded.timestamp-millis", "1700000000000"),
    ])
    .unwrap();
    assert_eq!(
        o.startup,
        StartupMode::Specific(BTreeMap::from([(0, 42), (1, 300)]))
    );
    assert_eq!(o.bounded, BoundedMode::Timestamp(1_700_000_000_000));
    assert_eq!(
        o.discovery, None,
        "a bounded source discovers nothing, as in Flink"
    );
    let o = read(&[
        ("scan.startup.mode", "timestamp"),
        ("scan.startup.timestamp-millis", "5"),
        ("scan.bounded.mode", "latest-offset"),
        ("properties.isolation.level", "read_committed"),
        ("properties.enable.auto.commit", "true"),
    ])
    .unwrap();
    assert_eq!(o.startup, StartupMode::Timestamp(5));
    assert_eq!(o.bounded, BoundedMode::Latest);
    let t = with(&[("properties.isolation.level", "read_committed")]);
    let mut options = Options::new(&t, "kafka");
    let config = KafkaConfig::read(&mut options, false).unwrap();
    let client = o.consumer_config(&config, 0);
    assert_eq!(client.get("isolation.level"), Some("read_committed"));
    assert_eq!(client.get("enable.partition.eof"), Some("true"));
    assert_eq!(client.get("auto.offset.reset"), Some("latest"));
    // Without a group: a group name of Weir's own, never committed to.
    assert_eq!(client.get("group.id"), Some("weir-events-no-group"));
    assert_eq!(client.get("enable.auto.commit"), Some("false"));
    for mode in ["earliest-offset", "latest-offset"] {
        assert!(read(&[("scan.startup.mode", mode)]).is_ok(), "{mode}");
    }
    let o = read(&[
        ("scan.startup.mode", "earliest-offset"),
        ("properties.group.id", "g"),
        ("scan.bounded.mode", "group-offsets"),
    ])
    .unwrap();
    assert_eq!(o.bounded, BoundedMode::GroupOffsets);
}

#[test]
fn invalid_modes_and_missing_values_name_the_option() {
    let e = error(&[("scan.startup.mode", "beginning")]);
    assert!(
        e.contains("'scan.startup.mode'") && e.contains("earliest-offset"),
        "{e}"
    );
    let e = error(&[("scan.bounded.mode", "forever")]);
    assert!(e.contains("'scan.bounded.mode'"), "{e}");
    let e = error(&[("scan.startup.mode", "timestamp")]);
    assert!(e.contains("'scan.startup.timestamp-millis'"), "{e}");
    let e = error(&[
        ("scan.startup.mode", "timestamp"),
        ("scan.startup.timestamp-millis", "soon"),
    ]);
    assert!(e.contains("epoch milliseconds"), "{e}");
    let e = error(&[("scan.bounded.mode", "specific-offsets")]);
    assert!(e.contains("'scan.bounded.specific-offsets'"), "{e}");
    let e = error(&[
        ("scan.startup.mode", "specific-offsets"),
        ("scan.startup.specific-offsets", "partition:0;offset:1"),
    ]);
    assert!(e.contains("partition:<n>,offset:<n>"), "{e}");
    let e = error(&[
        ("scan.startup.mode", "specific-offsets"),
        (
            "scan.startup.specific-offsets",
            "partition:0,offset:1;partition:0,offset:2",
        ),
    ]);
    assert!(e.contains("listed twice"), "{e}");
    // Specific offsets need a single topic, as in Flink.
    let e = error(&[
        ("topic", "a;b"),
        ("scan.startup.mode", "specific-offsets"),
        ("scan.startup.specific-offsets", "partition:0,offset:1"),
    ]);
    assert!(e.contains("single topic"), "{e}");
    // group-offsets (the default) needs a group.
    let e = error(&[]);
    assert!(
        e.contains("'properties.group.id'") && e.contains("group-offsets"),
        "{e}"
    );
    let e = error(&[
        ("properties.group.id", "g"),
        ("properties.auto.offset.reset", "smallest"),
    ]);
    assert!(e.contains("'properties.auto.offset.reset'"), "{e}");
    let e = error(&[
        ("scan.startup.mode", "earliest-offset"),
        ("scan.parallelism", "0"),
    ]);
    assert!(e.contains("'scan.parallelism'"), "{e}");
    let e = error(&[
        ("scan.startup.mode", "earliest-offset"),
        ("scan.topic-partition-discovery.interval", "often"),
    ]);
    assert!(
        e.contains("'scan.topic-partition-discovery.interval'"),
        "{e}"
    );
    let e = error(&[
        ("scan.startup.mode", "earliest-offset"),
        ("topic-pattern", "x"),
    ]);
    assert!(e.contains("not both"), "{e}");
    let t = table(
        vec![Field::new("id", DataType::Int64, true)],
        &[],
        &[
            ("connector", "kafka"),
            ("topic-pattern", "orders-(eu"),
            ("properties.bootstrap.servers", "127.0.0.1:9092"),
            ("format", "json"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    let e = match super::create_source(&t, false) {
        Ok(_) => panic!("a bad pattern"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("'topic-pattern'") && e.contains("regular expression"),
        "{e}"
    );
}

#[test]
fn discovery_interval_and_parallelism() {
    let base = ("scan.startup.mode", "earliest-offset");
    let interval = |v: &str| {
        read(&[base, ("scan.topic-partition-discovery.interval", v)])
            .unwrap()
            .discovery
    };
    assert_eq!(interval("30 s"), Some(Duration::from_secs(30)));
    assert_eq!(interval("0"), None);
    assert_eq!(interval("-1 ms"), None);
    let o = read(&[base, ("scan.parallelism", "3")]).unwrap();
    assert_eq!(o.parallelism, Some(3));
    let binding = super::create_source(&with(&[base, ("scan.parallelism", "3")]), false).unwrap();
    assert_eq!(binding.parallelism, Some(3));
    assert!(!binding.bounded);
    assert_eq!(
        binding.description,
        "kafka(topic=orders, format=json, startup=earliest-offset)"
    );
}

#[test]
fn unknown_options_and_properties_are_refused_and_sink_options_accepted() {
    let e = error(&[
        ("scan.startup.mode", "earliest-offset"),
        ("scan.satrtup.mode", "x"),
    ]);
    assert!(
        e.contains("scan.satrtup.mode") && e.contains("unsupported option"),
        "{e}"
    );
    // librdkafka refuses Java-only properties: named, with what to use instead.
    let e = error(&[
        ("scan.startup.mode", "earliest-offset"),
        ("properties.sasl.jaas.config", "org.apache.kafka...;"),
    ]);
    assert!(
        e.contains("'properties.sasl.jaas.config'") && e.contains("sasl.username"),
        "{e}"
    );
    // A table read and written declares the sink's options too, as Flink allows.
    let o = read(&[
        ("scan.startup.mode", "earliest-offset"),
        ("sink.partitioner", "fixed"),
        ("sink.delivery-guarantee", "exactly-once"),
        ("sink.transactional-id-prefix", "weir"),
        ("sink.parallelism", "2"),
        // Properties Flink's source reads itself are not passed to librdkafka.
        ("properties.commit.offsets.on.checkpoint", "false"),
        ("properties.partition.discovery.interval.ms", "10"),
        ("properties.client.id.prefix", "etl"),
        ("properties.default.api.timeout.ms", "2000"),
    ])
    .unwrap();
    assert!(!o.commit_on_checkpoint);
    assert_eq!(o.api_timeout, Duration::from_millis(2000));
    assert_eq!(o.client_id_prefix, "etl");
}

#[test]
fn primary_keys_on_append_formats_are_refused_and_upsert_kafka_takes_its_sink_options() {
    let mut t = with(&[("scan.startup.mode", "earliest-offset")]);
    t.primary_key = vec!["id".into()];
    let e = match super::create_source(&t, false) {
        Ok(_) => panic!("a primary key on an append format"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("PRIMARY KEY") && e.contains("upsert-kafka"),
        "{e}"
    );
    let mut t = with(&[("key.format", "json"), ("sink.buffer-flush.max-rows", "10")]);
    t.primary_key = vec!["id".into()];
    t.options.insert("connector".into(), "upsert-kafka".into());
    // A table declared once may be read and written: the sink's options are accepted.
    let binding = super::create_source(&t, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(binding.upsert_key, vec!["id".to_string()]);
}

#[tokio::test]
async fn weir_test_mocks_kafka_and_upsert_kafka_tables_after_checking_their_options() {
    let run = crate::mock::MockRun::new();
    let mut upsert = table(
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ],
        &[],
        &[
            ("connector", "upsert-kafka"),
            ("topic", "t"),
            ("properties.bootstrap.servers", "127.0.0.1:9"),
            ("key.format", "json"),
            ("value.format", "json"),
        ],
    );
    upsert.primary_key = vec!["id".into()];
    let plain = with(&[("scan.startup.mode", "earliest-offset")]);
    let (a, b) = run
        .scope(async { (crate::create_source(&upsert), crate::create_source(&plain)) })
        .await;
    assert_eq!(a.unwrap().description, "mock (weir test)");
    assert_eq!(b.unwrap().description, "mock (weir test)");
    let warnings = run.warnings();
    assert!(warnings.is_empty(), "{warnings:?}");
    // The options are checked all the same: upsert-kafka has no startup mode (it always
    // reads from the earliest offsets, as in Flink).
    let mut bad = upsert.clone();
    bad.options
        .insert("scan.startup.mode".into(), "latest-offset".into());
    let err = run.scope(async { crate::create_source(&bad).err() }).await;
    let err = err.unwrap().to_string();
    assert!(
        err.contains("unsupported option(s)") && err.contains("scan.startup.mode"),
        "{err}"
    );
}
