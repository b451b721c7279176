//! Hot/cold join state end to end, against a real `redis-server`: a batch job loads the
//! old orders from a file into Redis through the `redis` sink; a streaming job joins
//! refunds with the recent orders only, with `COLD_STATE('o' = 'orders_cold')`, so
//! refunds of old orders find them in Redis. The output must equal the join of the
//! refunds with every order, computed here.

use serde_json::{json, Value};
use weir_connectors::test_servers::RedisServer;

use super::lookup::{run, write_lines};
use super::recovery::committed_lines;

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
