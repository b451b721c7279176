//! Lookup joins against a real `redis-server` (and PostgreSQL for non-unique keys),
//! started by each test.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator as BinaryOp;
use datafusion::physical_expr::expressions::{lit, BinaryExpr, Column};
use datafusion::physical_expr::PhysicalExpr;
use weir_connectors::test_servers::{PostgresServer, RedisServer};
use weir_connectors::TableDescriptor;
use weir_runtime::{JobMetrics, Operator, Output};
use weir_types::Message;

use super::*;

/// `customers (id BIGINT, name STRING, country STRING, PRIMARY KEY (id))` in `server`.
fn customers(server: &RedisServer, extra: &[(&str, &str)]) -> TableDescriptor {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
    ]);
    let mut options: BTreeMap<String, String> = BTreeMap::new();
    options.insert("connector".into(), "redis".into());
    options.insert("url".into(), server.url());
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

fn put(server: &RedisServer, id: i64, name: &str, country: &str) {
    server.cli(&[
        "SET",
        &id.to_string(),
        &format!(r#"{{"name":"{name}","country":"{country}"}}"#),
    ]);
}

/// Orders `(order_id, customer_id)`.
fn orders(rows: &[(i64, Option<i64>)]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "order_id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        (
            "customer_id",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
        ),
    ])
    .unwrap()
}

struct Join {
    op: LookupJoinOperator,
    metrics: Arc<JobMetrics>,
    now: Arc<AtomicI64>,
}

/// A lookup join of orders with `table` on `customer_id = id`, output `order_id, id,
/// name, country`.
fn join(
    table: &TableDescriptor,
    kind: JoinKind,
    right_filter: Option<Arc<dyn PhysicalExpr>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
) -> Join {
    let binding = weir_connectors::create_lookup(table, &["id".to_string()]).unwrap();
    let output_schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
    ]));
    let def = LookupJoin {
        kind,
        table: binding.factory,
        options: binding.options,
        left_keys: vec![1],
        left_width: 2,
        right_filter,
        right_projection: ["id", "name", "country"]
            .iter()
            .enumerate()
            .map(|(i, n)| Arc::new(Column::new(n, i)) as Arc<dyn PhysicalExpr>)
            .collect(),
        filter,
        output_schema,
    };
    let metrics = Arc::new(JobMetrics::default());
    let now = Arc::new(AtomicI64::new(0));
    let clock_now = Arc::clone(&now);
    let op = LookupJoinOperator::new(
        Arc::new(def),
        Arc::clone(&metrics),
        Arc::new(move || clock_now.load(Ordering::SeqCst)),
    )
    .unwrap();
    Join { op, metrics, now }
}

/// The rows emitted, in order, as `a|b|c`.
fn rows(out: &mut Output) -> Vec<String> {
    let mut lines = Vec::new();
    for message in out.drain() {
        if let Message::Batch(batch) = message {
            for row in 0..batch.num_rows() {
                let values: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, row).unwrap().to_string())
                    .collect();
                lines.push(values.join("|"));
            }
        }
    }
    lines
}

impl Join {
    fn run(&mut self, batch: RecordBatch) -> Vec<String> {
        let mut out = Output::default();
        self.op.process_batch(0, batch, &mut out).unwrap();
        rows(&mut out)
    }

    fn counters(&self) -> (u64, u64, u64) {
        let m = &self.metrics;
        (
            JobMetrics::get(&m.lookup_cache_hits),
            JobMetrics::get(&m.lookup_cache_misses),
            JobMetrics::get(&m.lookup_requests),
        )
    }
}

#[test]
fn inner_join_caches_hits_missing_keys_and_expires_after_write() {
    let server = RedisServer::start();
    put(&server, 1, "Ann", "DE");
    put(&server, 2, "Bob", "FR");
    let table = customers(
        &server,
        &[
            ("lookup.cache", "PARTIAL"),
            ("lookup.partial-cache.expire-after-write", "1 min"),
        ],
    );
    let mut j = join(&table, JoinKind::Inner, None, None);
    let out = j.run(orders(&[
        (10, Some(1)),
        (11, Some(2)),
        (12, Some(1)),
        (13, Some(3)),
        (14, None),
    ]));
    assert_eq!(out, vec!["10|1|1|Ann|DE", "11|2|2|Bob|FR", "12|1|1|Ann|DE"]);
    // Three distinct keys missed, in one request.
    assert_eq!(j.counters(), (0, 3, 1));
    // 1 and the missing 3 come from the cache, even after the store changed.
    put(&server, 1, "Anne", "DE");
    put(&server, 3, "Cy", "IT");
    assert_eq!(
        j.run(orders(&[(15, Some(3)), (16, Some(1))])),
        vec!["16|1|1|Ann|DE"]
    );
    assert_eq!(j.counters(), (2, 3, 1));
    // A minute after they were written, the entries expire and are looked up again.
    j.now.store(60_000, Ordering::SeqCst);
    assert_eq!(
        j.run(orders(&[(17, Some(3)), (18, Some(1))])),
        vec!["17|3|3|Cy|IT", "18|1|1|Anne|DE"]
    );
    assert_eq!(j.counters(), (2, 5, 2));
    // Barriers and watermarks pass; the operator has no state.
    assert!(j.op.snapshot_state(1).unwrap().is_empty());
}

#[test]
fn without_cache_every_batch_asks_and_missing_keys_can_be_left_uncached() {
    let server = RedisServer::start();
    put(&server, 1, "Ann", "DE");
    let mut j = join(&customers(&server, &[]), JoinKind::Inner, None, None);
    j.run(orders(&[(1, Some(1)), (2, Some(1))]));
    j.run(orders(&[(3, Some(1))]));
    assert_eq!(j.counters(), (0, 2, 2));

    let table = customers(
        &server,
        &[
            ("lookup.cache", "PARTIAL"),
            ("lookup.partial-cache.cache-missing-key", "false"),
        ],
    );
    let mut j = join(&table, JoinKind::Inner, None, None);
    assert!(j.run(orders(&[(1, Some(5))])).is_empty());
    put(&server, 5, "Eve", "ES");
    assert_eq!(j.run(orders(&[(2, Some(5))])), vec!["2|5|5|Eve|ES"]);
    assert_eq!(j.counters(), (0, 2, 2));
}

#[test]
fn left_join_pads_missing_keys_and_rows_failing_conditions() {
    let server = RedisServer::start();
    put(&server, 1, "Ann", "DE");
    put(&server, 2, "Bob", "FR");
    put(&server, 3, "Cid", "DE");
    // ON o.customer_id = c.id AND c.country = 'DE' AND o.order_id < 13
    let de: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
        Arc::new(Column::new("country", 2)),
        BinaryOp::Eq,
        lit("DE"),
    ));
    let early: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
        Arc::new(Column::new("order_id", 0)),
        BinaryOp::Lt,
        lit(13i64),
    ));
    let mut j = join(
        &customers(&server, &[("lookup.cache", "PARTIAL")]),
        JoinKind::Left,
        Some(de),
        Some(early),
    );
    let out = j.run(orders(&[
        (10, Some(1)),
        (11, Some(2)),
        (12, None),
        (13, Some(3)),
        (14, Some(9)),
        (15, Some(1)),
        (5, Some(3)),
    ]));
    assert_eq!(
        out,
        vec![
            "10|1|1|Ann|DE",
            "11|2|NULL|NULL|NULL",
            "12|NULL|NULL|NULL|NULL",
            "13|3|NULL|NULL|NULL",
            "14|9|NULL|NULL|NULL",
            "15|1|NULL|NULL|NULL",
            "5|3|3|Cid|DE",
        ]
    );
}

#[test]
fn a_store_that_comes_back_within_the_retries_keeps_the_job_going() {
    let mut server = RedisServer::start();
    put(&server, 1, "Ann", "DE");
    let table = customers(&server, &[("lookup.max-retries", "4")]);
    let mut j = join(&table, JoinKind::Inner, None, None);
    assert_eq!(j.run(orders(&[(1, Some(1))])), vec!["1|1|1|Ann|DE"]);
    server.stop();
    let restarted = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        server.restart();
        put(&server, 1, "Ann", "DE");
        server
    });
    // Attempts at about 0, 0.5 s, 1.5 s: the third finds the server back.
    assert_eq!(j.run(orders(&[(2, Some(1))])), vec!["2|1|1|Ann|DE"]);
    assert!(JobMetrics::get(&j.metrics.lookup_retries) >= 1);
    drop(restarted.join().unwrap());
}

#[test]
fn a_store_that_stays_down_fails_the_job_naming_the_table() {
    let mut server = RedisServer::start();
    let table = customers(&server, &[("lookup.max-retries", "2")]);
    let port = server.port();
    server.stop();
    let mut j = join(&table, JoinKind::Left, None, None);
    let mut out = Output::default();
    let e =
        j.op.process_batch(0, orders(&[(1, Some(1))]), &mut out)
            .unwrap_err()
            .to_string();
    assert!(
        e.contains(&format!(
            "lookup join with redis table 'customers' at 127.0.0.1:{port} (db 0): no answer \
             after 3 attempts"
        )) && e.contains("check that redis-server runs"),
        "{e}"
    );
    assert_eq!(JobMetrics::get(&j.metrics.lookup_retries), 2);
}

#[test]
fn a_jdbc_key_with_several_rows_gives_several_output_rows() {
    let server = PostgresServer::start();
    server.psql(
        "CREATE TABLE addresses (id BIGINT PRIMARY KEY, customer BIGINT, city TEXT);
         INSERT INTO addresses VALUES (1, 7, 'Berlin'), (2, 7, 'Bonn'), (3, 8, 'Paris');",
    );
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Int64, true),
        Field::new("city", DataType::Utf8, true),
    ]);
    let options: BTreeMap<String, String> = [
        ("connector", "jdbc".to_string()),
        ("url", server.jdbc_url()),
        ("table-name", "addresses".to_string()),
        ("username", "weir".to_string()),
        ("lookup.cache", "PARTIAL".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let table = TableDescriptor {
        name: "addresses".into(),
        schema: Arc::new(schema),
        metadata: vec![],
        primary_key: vec!["id".into()],
        options,
        base_dir: ".".into(),
    };
    // Looked up by `customer`, which is not the primary key.
    let binding = weir_connectors::create_lookup(&table, &["customer".to_string()]).unwrap();
    let def = LookupJoin {
        kind: JoinKind::Left,
        table: binding.factory,
        options: binding.options,
        left_keys: vec![1],
        left_width: 2,
        right_filter: None,
        right_projection: vec![Arc::new(Column::new("city", 2))],
        filter: None,
        output_schema: Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, true),
            Field::new("city", DataType::Utf8, true),
        ])),
    };
    let metrics = Arc::new(JobMetrics::default());
    let mut op =
        LookupJoinOperator::new(Arc::new(def), Arc::clone(&metrics), Arc::new(|| 0)).unwrap();
    let mut out = Output::default();
    let batch = orders(&[(1, Some(7)), (2, Some(9)), (3, Some(8)), (4, Some(7))]);
    op.process_batch(0, batch.clone(), &mut out).unwrap();
    op.process_batch(0, batch, &mut out).unwrap();
    let mut lines = rows(&mut out);
    // Rows of one key come in the database's order: compare each order's rows as a set.
    for chunk in lines.chunks_mut(6) {
        chunk[0..2].sort();
        chunk[4..6].sort();
    }
    let once = [
        "1|7|Berlin",
        "1|7|Bonn",
        "2|9|NULL",
        "3|8|Paris",
        "4|7|Berlin",
        "4|7|Bonn",
    ];
    assert_eq!(lines, [once, once].concat());
    // The second batch came from the cache: one request in all.
    assert_eq!(JobMetrics::get(&metrics.lookup_requests), 1);
    assert_eq!(JobMetrics::get(&metrics.lookup_cache_hits), 3);
}
