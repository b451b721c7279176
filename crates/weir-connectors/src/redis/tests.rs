//! The redis connector against a real `redis-server` started by each test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    Int8Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use weir_formats::print_rows;
use weir_runtime::{IoRuntime, Operator, Output, SubtaskContext};
use weir_types::{ChangelogKind, ROW_KIND_COLUMN};

use super::*;
use crate::test_servers::RedisServer;

fn customers(server: &RedisServer, extra: &[(&str, &str)]) -> TableDescriptor {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
    ]);
    let mut options: BTreeMap<String, String> = [
        ("connector", "redis".to_string()),
        ("url", server.url()),
        ("key-prefix", "c:".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        options.insert(k.to_string(), v.to_string());
    }
    TableDescriptor {
        name: "customers".into(),
        schema: Arc::new(schema),
        metadata: vec![],
        primary_key: vec!["id".into()],
        options,
        base_dir: ".".into(),
    }
}

/// Rows of `customers` with row kinds (0 = +I, 2 = +U, 1 = -U, 3 = -D).
fn changes(rows: &[(i64, Option<&str>, Option<&str>, i8)]) -> RecordBatch {
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0)));
    let name: ArrayRef = Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1)));
    let country: ArrayRef = Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2)));
    let kind: ArrayRef = Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.3)));
    RecordBatch::try_from_iter(vec![
        ("id", id),
        ("name", name),
        ("country", country),
        (ROW_KIND_COLUMN, kind),
    ])
    .unwrap()
}

fn sink(table: &TableDescriptor) -> Box<dyn Operator> {
    create_sink(table, ChangelogKind::Updating)
        .unwrap()
        .factory
        .create(&SubtaskContext::single("sink"))
        .unwrap()
}

/// Looks up `ids` and prints the rows found, sorted.
fn lookup(table: &TableDescriptor, ids: &[i64]) -> Vec<String> {
    let binding = create_lookup(table, &["id".to_string()]).unwrap();
    let client = binding.factory.create().unwrap();
    let keys = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
    )])
    .unwrap();
    let io = IoRuntime::new("test").unwrap();
    let rows = io
        .block_on(async move { client.lookup(keys).await })
        .unwrap()
        .unwrap();
    assert_eq!(rows.schema(), binding.factory.schema());
    printed(&rows)
}

fn printed(batch: &RecordBatch) -> Vec<String> {
    let mut text = Vec::new();
    print_rows(batch, "", &mut text).unwrap();
    let mut lines: Vec<String> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn string_layout_upserts_deletes_and_looks_up() {
    let server = RedisServer::start();
    let table = customers(&server, &[]);
    let mut sink = sink(&table);
    let mut out = Output::default();
    sink.process_batch(
        0,
        changes(&[
            (1, Some("Ann"), Some("DE"), 0),
            (2, Some("Bob"), None, 0),
            (3, Some("Cid"), Some("FR"), 0),
            (1, Some("Ann"), Some("DE"), 1),
            (1, Some("Anna"), Some("AT"), 2),
            (3, Some("Cid"), Some("FR"), 3),
        ]),
        &mut out,
    )
    .unwrap();
    // Buffered until a barrier (100 rows, 1 s by default).
    assert_eq!(server.cli(&["DBSIZE"]), "0");
    sink.snapshot_state(1).unwrap();
    assert_eq!(
        server.cli(&["GET", "c:1"]),
        r#"{"name":"Anna","country":"AT"}"#
    );
    assert_eq!(
        server.cli(&["GET", "c:2"]),
        r#"{"name":"Bob","country":null}"#
    );
    assert_eq!(server.cli(&["EXISTS", "c:3"]), "0");
    assert_eq!(
        lookup(&table, &[1, 2, 3, 4]),
        vec!["+I[1, Anna, AT]", "+I[2, Bob, null]"]
    );
    // A replay of the same changes converges to the same content.
    sink.process_batch(0, changes(&[(1, Some("Anna"), Some("AT"), 2)]), &mut out)
        .unwrap();
    sink.finish(&mut out).unwrap();
    assert_eq!(server.cli(&["DBSIZE"]), "2");
    assert!(out.is_empty());
}

#[test]
fn hash_layout_round_trips_types() {
    let server = RedisServer::start();
    let schema = Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("n", DataType::Int32, false),
        Field::new("big", DataType::Int64, true),
        Field::new("d", DataType::Float64, true),
        Field::new("amount", DataType::Decimal128(10, 2), true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("day", DataType::Date32, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["a", "b"])),
        Arc::new(Int32Array::from(vec![7, 8])),
        Arc::new(Int64Array::from(vec![Some(9_000_000_000), None])),
        Arc::new(Float64Array::from(vec![Some(1.5), Some(-0.25)])),
        Arc::new(
            Decimal128Array::from(vec![Some(1250), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_704_103_200_123),
            None,
        ])),
        Arc::new(Date32Array::from(vec![Some(19_723), None])),
    ];
    let batch = RecordBatch::try_new(Arc::new(schema.clone()), columns).unwrap();
    let table = TableDescriptor {
        name: "facts".into(),
        schema: Arc::new(schema),
        metadata: vec![],
        primary_key: vec!["k".into(), "n".into()],
        options: [
            ("connector", "redis"),
            ("host", "127.0.0.1"),
            ("port", &server.port().to_string()),
            ("value.layout", "hash"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        base_dir: ".".into(),
    };
    let mut sink = create_sink(&table, ChangelogKind::AppendOnly)
        .unwrap()
        .factory
        .create(&SubtaskContext::single("sink"))
        .unwrap();
    sink.process_batch(0, batch, &mut Output::default())
        .unwrap();
    sink.finish(&mut Output::default()).unwrap();
    assert_eq!(server.cli(&["HGET", "a:7", "amount"]), "12.50");
    assert_eq!(
        server.cli(&["HGET", "a:7", "ts"]),
        "2024-01-01T10:00:00.123"
    );
    assert_eq!(server.cli(&["HEXISTS", "b:8", "amount"]), "0");

    let binding = create_lookup(&table, &["n".to_string(), "k".to_string()]).unwrap();
    assert_eq!(binding.factory.key_columns(), ["k", "n"]);
    let client = binding.factory.create().unwrap();
    let keys = RecordBatch::try_from_iter(vec![
        (
            "k",
            Arc::new(StringArray::from(vec!["b", "a", "a"])) as ArrayRef,
        ),
        ("n", Arc::new(Int32Array::from(vec![8, 7, 8])) as ArrayRef),
    ])
    .unwrap();
    let io = IoRuntime::new("test").unwrap();
    let rows = io
        .block_on(async move { client.lookup(keys).await })
        .unwrap()
        .unwrap();
    assert_eq!(
        printed(&rows),
        vec![
            "+I[a, 7, 9000000000, 1.5, 12.50, true, 2024-01-01T10:00:00.123, 2024-01-01]",
            "+I[b, 8, null, -0.25, null, false, null, null]",
        ]
    );
}

#[test]
fn ttl_expires_keys_and_interval_flushes() {
    let server = RedisServer::start();
    let table = customers(
        &server,
        &[
            ("sink.ttl", "300 ms"),
            ("sink.buffer-flush.interval", "50 ms"),
            ("value.layout", "hash"),
        ],
    );
    let mut sink = sink(&table);
    sink.process_batch(
        0,
        changes(&[(1, Some("Ann"), Some("DE"), 0)]),
        &mut Output::default(),
    )
    .unwrap();
    // Flushed by the interval, without a barrier.
    let mut waited = 0;
    while server.cli(&["EXISTS", "c:1"]) != "1" {
        assert!(waited < 100, "not flushed by the interval");
        std::thread::sleep(Duration::from_millis(20));
        waited += 1;
    }
    let ttl: i64 = server.cli(&["PTTL", "c:1"]).parse().unwrap();
    assert!(ttl > 0 && ttl <= 300, "{ttl}");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(server.cli(&["EXISTS", "c:1"]), "0");
    sink.finish(&mut Output::default()).unwrap();
}

#[test]
fn options_are_checked() {
    let server = RedisServer::start();
    let err = |t: TableDescriptor| {
        create_sink(&t, ChangelogKind::Updating)
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(customers(&server, &[("sink.buffer-flush.max-row", "5")]));
    assert!(
        e.contains("unsupported option(s) for connector 'redis': sink.buffer-flush.max-row"),
        "{e}"
    );
    let e = err(customers(&server, &[("value.layout", "list")]));
    assert!(e.contains("expected 'string'"), "{e}");
    let e = err(customers(&server, &[("format", "csv")]));
    assert!(e.contains("use 'format' = 'json'"), "{e}");
    let e = err(customers(
        &server,
        &[("lookup.partial-cache.max-rows", "5")],
    ));
    assert!(e.contains("add 'lookup.cache' = 'PARTIAL'"), "{e}");
    let mut no_key = customers(&server, &[]);
    no_key.primary_key.clear();
    let e = err(no_key);
    assert!(e.contains("needs a PRIMARY KEY"), "{e}");
    let e = crate::create_source(&customers(&server, &[]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot be scanned (in this version): join it as a lookup table"),
        "{e}"
    );
    let e = create_lookup(&customers(&server, &[]), &["name".to_string()])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("looked up by its whole PRIMARY KEY (id)"), "{e}");
    let binding = create_lookup(
        &customers(
            &server,
            &[
                ("lookup.cache", "partial"),
                ("lookup.partial-cache.max-rows", "5"),
                ("lookup.partial-cache.expire-after-write", "1 min"),
            ],
        ),
        &["id".to_string()],
    )
    .unwrap();
    assert_eq!(
        binding.options.describe(),
        "cache PARTIAL (max-rows 5, expire-after-write 1 min, missing keys cached); 3 retries; \
         timeout 10 s"
    );
}

#[test]
fn unreachable_store_fails_the_sink_with_a_hint() {
    let mut server = RedisServer::start();
    let table = customers(&server, &[("sink.max-retries", "1")]);
    server.stop();
    let mut sink = sink(&table);
    sink.process_batch(
        0,
        changes(&[(1, Some("Ann"), None, 0)]),
        &mut Output::default(),
    )
    .unwrap();
    let e = sink.finish(&mut Output::default()).unwrap_err().to_string();
    assert!(
        e.contains("table 'customers': cannot write to redis at 127.0.0.1:")
            && e.contains("after 2 attempts")
            && e.contains("check that redis-server runs"),
        "{e}"
    );
}
