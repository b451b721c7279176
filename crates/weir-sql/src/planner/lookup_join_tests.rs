//! Planning lookup joins: the dataflow, `explain`, and what is refused.

use std::path::Path;

use crate::explain::explain;
use crate::plan_script;

const TABLES: &str = "
CREATE TABLE orders (order_id BIGINT, customer_id INT, amount DOUBLE,
                     proc_time AS PROCTIME())
WITH ('connector' = 'datagen', 'number-of-rows' = '10');
CREATE TABLE customers (id BIGINT, name STRING, country STRING,
                        PRIMARY KEY (id) NOT ENFORCED)
WITH ('connector' = 'redis', 'url' = 'redis://127.0.0.1:1/0', 'key-prefix' = 'c:',
      'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '100',
      'lookup.partial-cache.expire-after-write' = '1 min');
CREATE TABLE files (id BIGINT, name STRING)
WITH ('connector' = 'filesystem', 'path' = '.', 'format' = 'json');
";

async fn plan(query: &str) -> Result<String, String> {
    let script = format!("SET 'parallelism.default' = '2';\n{TABLES}\n{query}");
    plan_script(&script, Path::new("."), &[])
        .await
        .map(|job| explain(&job.graph))
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_lookup_join_is_chained_after_its_input() {
    let text = plan(
        "SELECT o.order_id, c.name FROM orders AS o
         LEFT JOIN customers FOR SYSTEM_TIME AS OF o.proc_time AS c
         ON o.customer_id = c.id AND c.country = 'DE' AND o.amount > 10",
    )
    .await
    .unwrap();
    assert!(text.contains("LookupJoin"), "{text}");
    assert!(
        text.contains(
            "lookup LEFT OUTER join with customers (redis at 127.0.0.1:1 (db 0), key c:id)"
        ),
        "{text}"
    );
    assert!(
        text.contains("cache PARTIAL (max-rows 100, expire-after-write 1 min, missing keys cached); 3 retries; timeout 10 s; no state; one batched lookup per input batch for keys missing from the cache"),
        "{text}"
    );
    assert!(text.contains("country = Utf8(\"DE\")"), "{text}");
    // The key is cast to the table's type; nothing is repartitioned.
    assert!(text.contains("CAST(o.customer_id AS Int64)"), "{text}");
    assert!(!text.contains("hash["), "{text}");
}

#[tokio::test]
async fn lookup_joins_are_refused_where_they_cannot_run() {
    let e = plan(
        "SELECT o.order_id FROM orders AS o
         JOIN files FOR SYSTEM_TIME AS OF o.proc_time AS f ON o.order_id = f.id",
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("connector 'filesystem' cannot be looked up") && e.contains("redis"),
        "{e}"
    );
    let e = plan(
        "SELECT o.order_id FROM orders AS o
         JOIN customers FOR SYSTEM_TIME AS OF o.proc_time AS c ON CAST(o.order_id AS STRING) = c.name",
    )
    .await
    .unwrap_err();
    assert!(e.contains("looked up by its whole PRIMARY KEY (id)"), "{e}");
    let e = plan("SELECT * FROM customers").await.unwrap_err();
    assert!(e.contains("cannot be scanned"), "{e}");
}

#[tokio::test]
async fn a_jdbc_table_is_looked_up_by_any_columns_and_its_sink_takes_updates_with_a_key() {
    let jdbc = "CREATE TABLE people (id BIGINT, name STRING, PRIMARY KEY (id) NOT ENFORCED)
        WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:1/shop',
              'table-name' = 'people', 'username' = 'u');
        CREATE TABLE log (name STRING, n BIGINT)
        WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:1/shop',
              'table-name' = 'log');";
    let text = plan(&format!(
        "{jdbc}
         INSERT INTO people SELECT order_id, CAST(COUNT(*) AS STRING) FROM orders GROUP BY order_id;
         SELECT o.order_id, p.id FROM orders AS o
         JOIN people FOR SYSTEM_TIME AS OF o.proc_time AS p ON CAST(o.order_id AS STRING) = p.name"
    ))
    .await
    .unwrap();
    assert!(text.contains("lookup keys [name]; cache NONE"), "{text}");
    assert!(text.contains("jdbc upsert sink into people"), "{text}");
    let e = plan(&format!(
        "{jdbc}
         INSERT INTO log SELECT CAST(order_id AS STRING), COUNT(*) FROM orders GROUP BY order_id;"
    ))
    .await
    .unwrap_err();
    assert!(
        e.contains("has no PRIMARY KEY, so the jdbc sink appends rows"),
        "{e}"
    );
}

#[tokio::test]
async fn a_view_read_as_of_processing_time_is_refused_as_a_lookup_table() {
    let e = plan(
        "CREATE VIEW dim AS SELECT id, name FROM files;
         SELECT o.order_id, d.name FROM orders AS o
         JOIN dim FOR SYSTEM_TIME AS OF o.proc_time AS d ON o.order_id = d.id",
    )
    .await
    .unwrap_err();
    assert!(
        e.contains(
            "'dim' is a view read FOR SYSTEM_TIME AS OF the processing time o.proc_time: a \
             lookup join reads a table of a lookup connector (redis, jdbc), not a view"
        ),
        "{e}"
    );
}
