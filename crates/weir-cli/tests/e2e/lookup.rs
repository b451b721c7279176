//! Lookup joins end to end, against real servers each test starts: a `weir run` job
//! loads a dimension table from a file into the store through its sink (`INSERT INTO`),
//! a second job enriches orders from a file with a lookup join into a filesystem sink;
//! its output is compared with a join computed here.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};
use weir_connectors::test_servers::{PostgresServer, RedisServer};

use super::cases::weir;
use super::recovery::committed_lines;

/// Customers 1..=150 (every seventh without a country) and orders of customers 1..=180
/// (so some have none), amounts from -5 to 94.
fn data() -> (Vec<Value>, Vec<Value>) {
    let customers = (1..=150)
        .map(|id: i64| {
            let country = if id % 7 == 0 {
                Value::Null
            } else {
                json!(["DE", "FR", "IT"][(id % 3) as usize])
            };
            json!({"id": id, "name": format!("customer {id}"), "country": country})
        })
        .collect();
    let orders = (0..3000)
        .map(|i: i64| {
            json!({
                "order_id": i,
                "customer_id": (i * 37) % 180 + 1,
                "amount": ((i * 13) % 100 - 5) as f64,
            })
        })
        .collect();
    (customers, orders)
}

pub(super) fn write_lines(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Runs `weir run <script>` in `dir` with `sql`; panics with its output if it fails.
pub(super) fn run(dir: &Path, name: &str, sql: &str) {
    std::fs::write(dir.join(name), sql).unwrap();
    let out = weir()
        .current_dir(dir)
        .args(["run", name, "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "weir run {name} failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout),
    );
}

/// The rows the enrichment job must write: each order with an amount above 0, LEFT
/// joined with its customer when the customer is from DE or FR.
fn expected(customers: &[Value], orders: &[Value]) -> Vec<String> {
    let by_id: HashMap<i64, &Value> = customers
        .iter()
        .map(|c| (c["id"].as_i64().unwrap(), c))
        .collect();
    let mut rows: Vec<String> = orders
        .iter()
        .filter(|o| o["amount"].as_f64().unwrap() > 0.0)
        .map(|o| {
            let customer = by_id
                .get(&o["customer_id"].as_i64().unwrap())
                .filter(|c| matches!(c["country"].as_str(), Some("DE" | "FR")));
            let (name, country) = match customer {
                Some(c) => (c["name"].clone(), c["country"].clone()),
                None => (Value::Null, Value::Null),
            };
            json!({"order_id": o["order_id"], "name": name, "country": country, "amount": o["amount"]})
                .to_string()
        })
        .collect();
    rows.sort();
    rows
}

/// The rows the job wrote, normalised (keys sorted, numbers as written by Weir).
fn actual(dir: &Path) -> Vec<String> {
    let mut rows: Vec<String> = committed_lines(&dir.join("out"))
        .iter()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            json!({"order_id": v["order_id"], "name": v["name"], "country": v["country"],
                   "amount": v["amount"].as_f64().map(Value::from).unwrap_or(Value::Null)})
            .to_string()
        })
        .collect();
    rows.sort();
    rows
}

const ENRICH: &str = "
SET 'parallelism.default' = '2';
SET 'execution.checkpointing.interval' = '20 ms';
SET 'execution.checkpointing.dir' = 'checkpoints';
CREATE TABLE orders (order_id BIGINT, customer_id INT, amount DOUBLE,
                     proc_time AS PROCTIME())
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');
CREATE TABLE enriched (order_id BIGINT, name STRING, country STRING, amount DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');
INSERT INTO enriched
SELECT o.order_id, c.name, c.country, o.amount
FROM orders AS o
LEFT JOIN customers FOR SYSTEM_TIME AS OF o.proc_time AS c
  ON o.customer_id = c.id AND c.country IN ('DE', 'FR')
WHERE o.amount > 0;
";

fn customers_file_table() -> &'static str {
    "CREATE TABLE customers_file (id BIGINT, name STRING, country STRING)
     WITH ('connector' = 'filesystem', 'path' = 'customers.json', 'format' = 'json');"
}

#[test]
fn redis_dimension_loaded_by_a_job_enriches_orders() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (customers, orders) = data();
    write_lines(&dir.path().join("customers.json"), &customers);
    write_lines(&dir.path().join("orders.json"), &orders);
    let table = format!(
        "CREATE TABLE customers (id BIGINT, name STRING, country STRING,
                                 PRIMARY KEY (id) NOT ENFORCED)
         WITH ('connector' = 'redis', 'url' = '{}', 'key-prefix' = 'customer:',
               'value.layout' = 'hash', 'lookup.cache' = 'PARTIAL',
               'lookup.partial-cache.max-rows' = '50',
               'lookup.partial-cache.expire-after-write' = '1 min');",
        server.url()
    );
    run(
        dir.path(),
        "load.sql",
        &format!(
            "{}\n{table}\nINSERT INTO customers SELECT * FROM customers_file;",
            customers_file_table()
        ),
    );
    assert_eq!(server.cli(&["DBSIZE"]), "150");
    assert_eq!(server.cli(&["HGET", "customer:4", "country"]), "FR");
    run(dir.path(), "enrich.sql", &format!("{table}\n{ENRICH}"));
    let (actual, expected) = (actual(dir.path()), expected(&customers, &orders));
    assert_eq!(actual.len(), expected.len());
    assert_eq!(actual, expected);
}

#[test]
fn jdbc_dimension_loaded_by_a_job_enriches_orders() {
    let server = PostgresServer::start();
    server.psql("CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(100), country TEXT)");
    let dir = tempfile::tempdir().unwrap();
    let (customers, orders) = data();
    write_lines(&dir.path().join("customers.json"), &customers);
    write_lines(&dir.path().join("orders.json"), &orders);
    let table = format!(
        "CREATE TABLE customers (id BIGINT, name STRING, country STRING,
                                 PRIMARY KEY (id) NOT ENFORCED)
         WITH ('connector' = 'jdbc', 'url' = '{}', 'table-name' = 'customers',
               'username' = 'weir', 'password' = 'secret', 'lookup.cache' = 'PARTIAL',
               'lookup.partial-cache.max-rows' = '50');",
        server.jdbc_url()
    );
    run(
        dir.path(),
        "load.sql",
        &format!(
            "{}\n{table}\nINSERT INTO customers SELECT * FROM customers_file;",
            customers_file_table()
        ),
    );
    assert_eq!(server.psql("SELECT count(*) FROM customers"), "150");
    assert_eq!(
        server.psql("SELECT name, country FROM customers WHERE id = 4"),
        "customer 4|FR"
    );
    run(dir.path(), "enrich.sql", &format!("{table}\n{ENRICH}"));
    let (actual, expected) = (actual(dir.path()), expected(&customers, &orders));
    assert_eq!(actual.len(), expected.len());
    assert_eq!(actual, expected);
}
