//! Hot/cold join state end to end, against a real `redis-server` and a real PostgreSQL
//! server: a batch job loads the old orders from a file into the store through the
//! `redis` or `jdbc` sink; a streaming job joins refunds with the recent orders only, with
//! `COLD_STATE('o' = 'orders_cold')`, so refunds of old orders find them in the store.
//! The output must equal the join of the refunds with every order, computed here (and,
//! for PostgreSQL, run as a join that keeps every order). With a short `STATE_TTL`, the join's state
//! (read from a savepoint's `_metadata`) stays a small part of what a join keeping
//! every order and refund holds (`scripts/bench/cold_join.sh` measures it over time).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use weir_connectors::test_servers::{PostgresServer, RedisServer};

use super::lookup::{run, write_lines};
use super::recovery::{committed_lines, start_at, stop_after};

const JOIN: &str = "
SET 'parallelism.default' = '2';
CREATE TABLE orders (order_id BIGINT, amount DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'orders_recent.json', 'format' = 'json');
CREATE TABLE refunds (refund_id BIGINT, order_id BIGINT)
WITH ('connector' = 'filesystem', 'path' = 'refunds.json', 'format' = 'json');
CREATE TABLE refunded (refund_id BIGINT, order_id BIGINT, amount DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');
INSERT INTO refunded
SELECT /*+ COLD_STATE('o' = 'orders_cold') */ r.refund_id, r.order_id, o.amount
FROM refunds AS r JOIN orders AS o ON r.order_id = o.order_id;
";

#[test]
fn refunds_of_orders_older_than_the_hot_state_find_them_in_the_cold_table() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let order = |id: i64| json!({"order_id": id, "amount": (id * 7 % 100) as f64 + 0.5});
    // Orders 1..=120 are old (only in Redis), 121..=200 recent (only in the stream).
    let old: Vec<Value> = (1..=120).map(order).collect();
    let recent: Vec<Value> = (121..=200).map(order).collect();
    // Refunds of old, recent and unknown orders, in no particular order.
    let refunds: Vec<Value> = (0..400)
        .map(|i: i64| json!({"refund_id": i, "order_id": (i * 53) % 230 + 1}))
        .collect();
    write_lines(&dir.path().join("orders_old.json"), &old);
    write_lines(&dir.path().join("orders_recent.json"), &recent);
    write_lines(&dir.path().join("refunds.json"), &refunds);
    let cold = format!(
        "CREATE TABLE orders_cold (order_id BIGINT, amount DOUBLE,
                                   PRIMARY KEY (order_id) NOT ENFORCED)
         WITH ('connector' = 'redis', 'url' = '{}', 'key-prefix' = 'order:');",
        server.url()
    );
    run(
        dir.path(),
        "load.sql",
        &format!(
            "CREATE TABLE orders_old (order_id BIGINT, amount DOUBLE)
             WITH ('connector' = 'filesystem', 'path' = 'orders_old.json', 'format' = 'json');
             {cold}
             INSERT INTO orders_cold SELECT * FROM orders_old;"
        ),
    );
    assert_eq!(server.cli(&["DBSIZE"]), "120");
    run(dir.path(), "join.sql", &format!("{cold}\n{JOIN}"));

    let amount_of = |id: i64| (1..=200).contains(&id).then(|| order(id)["amount"].clone());
    let mut expected: Vec<String> = refunds
        .iter()
        .filter_map(|r| {
            let id = r["order_id"].as_i64()?;
            let amount = amount_of(id)?;
            Some(json!({"refund_id": r["refund_id"], "order_id": id, "amount": amount}).to_string())
        })
        .collect();
    expected.sort();
    let mut actual: Vec<String> = committed_lines(&dir.path().join("out"))
        .iter()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            json!({"refund_id": v["refund_id"], "order_id": v["order_id"], "amount": v["amount"]})
                .to_string()
        })
        .collect();
    actual.sort();
    let old_refunds = refunds
        .iter()
        .filter(|r| r["order_id"].as_i64().is_some_and(|id| id <= 120))
        .count();
    assert!(old_refunds > 150, "refunds of old orders: {old_refunds}");
    assert_eq!(actual, expected);
}

/// Refunds of old orders (1..=120, only in the cold table), recent ones (121..=200, only
/// in the stream) and unknown ones, and the orders: the same data as the Redis test.
fn refund_data(dir: &Path) -> (Vec<Value>, Vec<String>) {
    let order = |id: i64| json!({"order_id": id, "amount": (id * 7 % 100) as f64 + 0.5});
    let old: Vec<Value> = (1..=120).map(order).collect();
    let recent: Vec<Value> = (121..=200).map(order).collect();
    let refunds: Vec<Value> = (0..400)
        .map(|i: i64| json!({"refund_id": i, "order_id": (i * 53) % 230 + 1}))
        .collect();
    write_lines(&dir.join("orders_old.json"), &old);
    write_lines(&dir.join("orders_recent.json"), &recent);
    write_lines(&dir.join("refunds.json"), &refunds);
    let mut expected: Vec<String> = refunds
        .iter()
        .filter_map(|r| {
            let id = r["order_id"].as_i64()?;
            let amount = (1..=200)
                .contains(&id)
                .then(|| order(id)["amount"].clone())?;
            Some(json!({"refund_id": r["refund_id"], "order_id": id, "amount": amount}).to_string())
        })
        .collect();
    expected.sort();
    (refunds, expected)
}

/// The rows committed to the folder `out`, as sorted JSON lines in a fixed field order.
fn output_rows(out: &Path) -> Vec<String> {
    let mut rows: Vec<String> = committed_lines(out)
        .iter()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            json!({"refund_id": v["refund_id"], "order_id": v["order_id"], "amount": v["amount"]})
                .to_string()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn refunds_of_orders_older_than_the_hot_state_find_them_in_a_postgresql_cold_table() {
    let server = PostgresServer::start();
    server.psql("CREATE TABLE orders_cold (order_id BIGINT PRIMARY KEY, amount DOUBLE PRECISION)");
    let dir = tempfile::tempdir().unwrap();
    let (refunds, expected) = refund_data(dir.path());
    let old_table = "CREATE TABLE orders_old (order_id BIGINT, amount DOUBLE)
        WITH ('connector' = 'filesystem', 'path' = 'orders_old.json', 'format' = 'json');";
    let cold = format!(
        "CREATE TABLE orders_cold (order_id BIGINT, amount DOUBLE,
                                   PRIMARY KEY (order_id) NOT ENFORCED)
         WITH ('connector' = 'jdbc', 'url' = '{}', 'table-name' = 'orders_cold',
               'username' = 'weir', 'password' = 'secret');",
        server.jdbc_url()
    );
    run(
        dir.path(),
        "load.sql",
        &format!("{old_table}\n{cold}\nINSERT INTO orders_cold SELECT * FROM orders_old;"),
    );
    assert_eq!(server.psql("SELECT count(*) FROM orders_cold"), "120");
    // The orders kept in state live 1 s at most: the old ones are only in PostgreSQL.
    let hot_join = JOIN.replace(
        "/*+ COLD_STATE('o' = 'orders_cold') */",
        "/*+ STATE_TTL('o' = '1 s'), COLD_STATE('o' = 'orders_cold') */",
    );
    assert_ne!(hot_join, JOIN);
    run(dir.path(), "join.sql", &format!("{cold}\n{hot_join}"));
    // The same join keeping every order (old and recent ones streamed) in state.
    let all_join = JOIN
        .replace("'path' = 'out'", "'path' = 'out_all'")
        .replace("/*+ COLD_STATE('o' = 'orders_cold') */", "")
        .replace("JOIN orders AS o", "JOIN all_orders AS o")
        .replace(
            "INSERT INTO refunded",
            "CREATE VIEW all_orders AS SELECT * FROM orders_old UNION ALL SELECT * FROM orders;
             INSERT INTO refunded",
        );
    run(dir.path(), "all.sql", &format!("{old_table}\n{all_join}"));
    let old_refunds = refunds
        .iter()
        .filter(|r| r["order_id"].as_i64().is_some_and(|id| id <= 120))
        .count();
    assert!(old_refunds > 150, "refunds of old orders: {old_refunds}");
    let kept_everything = output_rows(&dir.path().join("out_all"));
    assert_eq!(kept_everything, expected);
    assert_eq!(output_rows(&dir.path().join("out")), kept_everything);
}

/// Two throttled streams (500 orders and 500 refunds per second, for longer than the
/// test runs) and a sink that drops the output: half the refunds are of old orders
/// (ids 1..=1000), the others of the order made 0.2 s before.
const STREAMS: &str = "
SET 'execution.checkpointing.interval' = '1 s';
CREATE TABLE order_ids (order_id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '500',
  'fields.order_id.kind' = 'sequence', 'fields.order_id.start' = '1001',
  'fields.order_id.end' = '100000000');
CREATE TABLE refund_ids (refund_id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '500',
  'fields.refund_id.kind' = 'sequence', 'fields.refund_id.start' = '1',
  'fields.refund_id.end' = '100000000');
CREATE VIEW orders_new AS
SELECT order_id, CAST(order_id * 7 % 100 AS DOUBLE) + 0.5 AS amount FROM order_ids;
CREATE VIEW refunds AS
SELECT refund_id, CASE WHEN refund_id % 2 = 0 OR refund_id <= 100 THEN refund_id % 1000 + 1
                       ELSE 1000 + refund_id - 100 END AS order_id
FROM refund_ids;
CREATE TABLE refunded (refund_id BIGINT, order_id BIGINT, amount DOUBLE)
WITH ('connector' = 'blackhole');
";

/// Runs `sql` as `name` in `dir` for `seconds`, stops it with a savepoint and returns
/// the rows of the regular join's state in that savepoint (its `left_rows` and
/// `right_rows` tables, summed over subtasks).
fn join_rows_after(dir: &Path, name: &str, sql: &str, seconds: u64) -> u64 {
    let script = dir.join(name);
    std::fs::write(&script, sql).unwrap();
    let savepoints = dir.join(format!("{name}.savepoints"));
    let sp = savepoints.to_string_lossy().into_owned();
    let child = start_at(&script, 1, &["--savepoint-dir", &sp]);
    let text = stop_after(child, Duration::from_secs(seconds));
    assert!(text.contains("savepoint written to"), "{text}");
    let folder = std::fs::read_dir(&savepoints)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("savepoint-")
        })
        .expect("a savepoint folder");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("_metadata")).unwrap()).unwrap();
    let tables = meta["operators"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|op| op["subtasks"].as_array().unwrap().iter())
        .filter(|subtask| !subtask.is_null())
        .flat_map(|subtask| subtask["tables"].as_array().unwrap().iter());
    let mut found = false;
    let rows = tables
        .filter(|t| matches!(t["name"].as_str(), Some("left_rows" | "right_rows")))
        .map(|t| {
            found = true;
            t["rows"].as_u64().unwrap()
        })
        .sum();
    assert!(found, "no join state in {}", folder.display());
    rows
}

/// Processing-time TTL makes the exact sizes depend on timing; the margin does not: after
/// 6 s, the join without TTL holds the 1,000 old orders and about 6,000 streamed rows,
/// the hot/cold join the last 0.5 to 0.625 s of both inputs (about 600 rows), unless the
/// machine stalls for more than a second just before the stop.
#[test]
fn hot_state_stays_a_small_part_of_a_join_that_keeps_everything() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let order = |id: i64| json!({"order_id": id, "amount": (id * 7 % 100) as f64 + 0.5});
    let old: Vec<Value> = (1..=1000).map(order).collect();
    write_lines(&dir.path().join("orders_old.json"), &old);
    let old_table = "CREATE TABLE orders_old (order_id BIGINT, amount DOUBLE)
        WITH ('connector' = 'filesystem', 'path' = 'orders_old.json', 'format' = 'json');";
    let cold = format!(
        "CREATE TABLE orders_cold (order_id BIGINT, amount DOUBLE,
                                   PRIMARY KEY (order_id) NOT ENFORCED)
         WITH ('connector' = 'redis', 'url' = '{}', 'key-prefix' = 'order:');",
        server.url()
    );
    run(
        dir.path(),
        "load.sql",
        &format!("{old_table}\n{cold}\nINSERT INTO orders_cold SELECT * FROM orders_old;"),
    );
    assert_eq!(server.cli(&["DBSIZE"]), "1000");
    server.cli(&["CONFIG", "RESETSTAT"]);

    let hot = join_rows_after(
        dir.path(),
        "hot.sql",
        &format!(
            "{STREAMS}\n{cold}
             INSERT INTO refunded
             SELECT /*+ STATE_TTL('r' = '500 ms', 'o' = '500 ms'),
                        COLD_STATE('o' = 'orders_cold') */ r.refund_id, r.order_id, o.amount
             FROM refunds AS r JOIN orders_new AS o ON r.order_id = o.order_id;"
        ),
        6,
    );
    let stats = server.cli(&["INFO", "stats"]);
    let cold_hits: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("keyspace_hits:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let all = join_rows_after(
        dir.path(),
        "all.sql",
        &format!(
            "{STREAMS}\n{old_table}
             CREATE VIEW orders AS SELECT * FROM orders_old UNION ALL SELECT * FROM orders_new;
             INSERT INTO refunded
             SELECT r.refund_id, r.order_id, o.amount
             FROM refunds AS r JOIN orders AS o ON r.order_id = o.order_id;"
        ),
        6,
    );
    eprintln!(
        "join state: hot/cold {hot} rows, without TTL {all} rows; {cold_hits} cold rows fetched"
    );
    assert!(
        cold_hits > 500,
        "refunds of old orders found in Redis: {cold_hits}"
    );
    assert!(
        all > 4000,
        "the join without TTL holds only {all} rows after 6 s"
    );
    assert!(
        hot * 4 < all,
        "hot/cold join state: {hot} rows, join without TTL: {all} rows"
    );
}
