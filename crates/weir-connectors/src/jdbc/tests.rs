//! The jdbc connector against a real PostgreSQL cluster started by each test.

use std::collections::BTreeMap;
use std::sync::Arc;

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
use crate::test_servers::PostgresServer;

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("n", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("d", DataType::Float64, true),
        Field::new("amount", DataType::Decimal128(10, 2), true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("day", DataType::Date32, true),
    ])
}

const CREATE: &str = "CREATE TABLE facts (id BIGINT PRIMARY KEY, n INTEGER, name VARCHAR(20), \
     d DOUBLE PRECISION, amount NUMERIC(10, 2), flag BOOLEAN, ts TIMESTAMP(3), day DATE)";

fn table(
    server: &PostgresServer,
    name: &str,
    key: &[&str],
    extra: &[(&str, &str)],
) -> TableDescriptor {
    let mut options: BTreeMap<String, String> = [
        ("connector", "jdbc".to_string()),
        ("url", server.jdbc_url()),
        ("table-name", name.to_string()),
        ("username", crate::test_servers::POSTGRES_USER.to_string()),
        ("password", "any".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        options.insert(k.to_string(), v.to_string());
    }
    TableDescriptor {
        name: name.into(),
        schema: Arc::new(schema()),
        metadata: vec![],
        primary_key: key.iter().map(|k| k.to_string()).collect(),
        options,
        base_dir: ".".into(),
    }
}

/// Rows `(id, n, name)` with the other columns set from `id`, and row kinds.
fn changes(rows: &[(i64, i32, Option<&str>, i8)]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| (r.0 != 2).then_some(r.0 as f64 / 4.0)),
        )),
        Arc::new(
            Decimal128Array::from_iter(
                rows.iter()
                    .map(|r| (r.0 != 2).then_some(r.0 as i128 * 1005)),
            )
            .with_precision_and_scale(10, 2)
            .unwrap(),
        ),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| (r.0 != 2).then_some(r.0 % 2 == 0)),
        )),
        Arc::new(TimestampMillisecondArray::from_iter(
            rows.iter()
                .map(|r| (r.0 != 2).then_some(1_704_103_200_123 + r.0 * 1000)),
        )),
        Arc::new(Date32Array::from_iter(
            rows.iter()
                .map(|r| (r.0 != 2).then_some(19_723 + r.0 as i32)),
        )),
        Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.3))),
    ];
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn sink(table: &TableDescriptor, changelog: ChangelogKind) -> Box<dyn Operator> {
    create_sink(table, changelog)
        .unwrap()
        .factory
        .create(&SubtaskContext::single("sink"))
        .unwrap()
}

/// Looks up `keys` (columns named as the table's) and prints the rows found, sorted.
fn lookup(table: &TableDescriptor, keys: RecordBatch) -> Vec<String> {
    let names: Vec<String> = keys
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let binding = create_lookup(table, &names).unwrap();
    assert_eq!(binding.factory.key_columns(), names.as_slice());
    let client = binding.factory.create().unwrap();
    let io = IoRuntime::new("test").unwrap();
    let rows = io
        .block_on(async move { client.lookup(keys).await })
        .unwrap()
        .unwrap();
    let mut text = Vec::new();
    print_rows(&rows, "", &mut text).unwrap();
    let mut lines: Vec<String> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn ids(ids: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
    )])
    .unwrap()
}

#[test]
fn upserts_deletes_and_looks_up_every_type() {
    let server = PostgresServer::start();
    server.psql(CREATE);
    let facts = table(&server, "facts", &["id"], &[]);
    let mut sink = sink(&facts, ChangelogKind::Updating);
    let mut out = Output::default();
    sink.process_batch(
        0,
        changes(&[
            (1, 10, Some("one"), 0),
            (2, 20, None, 0),
            (3, 30, Some("three"), 0),
            (1, 10, Some("one"), 1),
            (1, 11, Some("uno"), 2),
            (3, 30, Some("three"), 3),
            (4, 40, Some("four"), 0),
        ]),
        &mut out,
    )
    .unwrap();
    // Buffered until a barrier.
    assert_eq!(server.psql("SELECT count(*) FROM facts"), "0");
    sink.snapshot_state(1).unwrap();
    assert_eq!(
        server.psql("SELECT id, n, name, d, amount, flag, ts, day FROM facts ORDER BY id"),
        "1|11|uno|0.25|10.05|f|2024-01-01 10:00:01.123|2024-01-02\n\
         2|20||||||\n\
         4|40|four|1|40.20|t|2024-01-01 10:00:04.123|2024-01-05"
    );
    // Deleted, and a replay converges.
    sink.process_batch(
        0,
        changes(&[(4, 40, Some("four"), 3), (1, 11, Some("uno"), 2)]),
        &mut out,
    )
    .unwrap();
    sink.finish(&mut out).unwrap();
    assert_eq!(
        server.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM facts"),
        "1,2"
    );
    assert_eq!(
        lookup(&facts, ids(&[1, 2, 3])),
        vec![
            "+I[1, 11, uno, 0.25, 10.05, false, 2024-01-01T10:00:01.123, 2024-01-02]",
            "+I[2, 20, null, null, null, null, null, null]",
        ]
    );
}

#[test]
fn appends_without_a_key_and_looks_up_several_rows_per_key() {
    let server = PostgresServer::start();
    server.psql(&CREATE.replace(" PRIMARY KEY", ""));
    let facts = table(
        &server,
        "facts",
        &[],
        &[("sink.buffer-flush.max-rows", "2")],
    );
    let e = create_sink(&facts, ChangelogKind::Updating)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("has no PRIMARY KEY, so the jdbc sink appends rows"),
        "{e}"
    );
    let mut sink = sink(&facts, ChangelogKind::AppendOnly);
    let mut out = Output::default();
    sink.process_batch(
        0,
        changes(&[(1, 7, Some("a"), 0), (1, 7, Some("b"), 0)]),
        &mut out,
    )
    .unwrap();
    // Two rows reach max-rows: written without a barrier.
    assert_eq!(server.psql("SELECT count(*) FROM facts"), "2");
    sink.process_batch(
        0,
        changes(&[(3, 7, Some("c"), 0), (4, 8, Some("d"), 0)]),
        &mut out,
    )
    .unwrap();
    sink.finish(&mut out).unwrap();
    let by_n = RecordBatch::try_from_iter(vec![(
        "n",
        Arc::new(Int32Array::from(vec![7, 9])) as ArrayRef,
    )])
    .unwrap();
    let rows = lookup(&facts, by_n);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.contains(", 7, ")), "{rows:?}");
    // A composite key.
    let composite = RecordBatch::try_from_iter(vec![
        (
            "name",
            Arc::new(StringArray::from(vec!["b", "d", "c"])) as ArrayRef,
        ),
        ("n", Arc::new(Int32Array::from(vec![7, 8, 8])) as ArrayRef),
    ])
    .unwrap();
    let rows = lookup(&facts, composite);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with("+I[1, 7, b,") && rows[1].starts_with("+I[4, 8, d,"),
        "{rows:?}"
    );
}

#[test]
fn options_are_checked_and_an_unreachable_database_is_named() {
    let mut server = PostgresServer::start();
    let err = |t: &TableDescriptor| {
        create_sink(t, ChangelogKind::AppendOnly)
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(&table(
        &server,
        "facts",
        &["id"],
        &[("scan.fetch-size", "10")],
    ));
    assert!(
        e.contains("unsupported option(s) for connector 'jdbc': scan.fetch-size"),
        "{e}"
    );
    let e = err(&table(
        &server,
        "facts",
        &["id"],
        &[("url", "jdbc:mysql://h/db")],
    ));
    assert!(
        e.contains("expected jdbc:postgresql://host[:port]/database"),
        "{e}"
    );
    let e = err(&table(
        &server,
        "facts",
        &["id"],
        &[("driver", "com.mysql.Driver")],
    ));
    assert!(e.contains("PostgreSQL only"), "{e}");
    let facts = table(&server, "facts", &["id"], &[("sink.max-retries", "1")]);
    let port = server.port();
    server.stop();
    let mut sink = sink(&facts, ChangelogKind::Updating);
    let mut out = Output::default();
    sink.process_batch(0, changes(&[(1, 1, None, 0)]), &mut out)
        .unwrap();
    let e = sink.finish(&mut out).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "table 'facts': cannot write to PostgreSQL at 127.0.0.1:{port}/postgres (table facts) after 2 attempts"
        )) && e.contains("check that PostgreSQL runs"),
        "{e}"
    );
}
