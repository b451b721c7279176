-- An event-time temporal join whose left input is a changelog (Debezium orders): as in
-- Flink 2.3, each left row (+I, -U, +U, -D) joins the rate valid at its own time and
-- keeps its kind, so the output is updating. Order 1 (EUR, 10:00:05, rate 1.1) is
-- updated to 10:00:25 (rate 1.3 from 10:00:20); order 2 is deleted; order 3 is
-- unchanged; order 4 (USD, no rate) is updated, and only the LEFT join keeps it, padded.
-- The final tables are checked (the changelog's order between keys may vary).
CREATE TABLE orders (id INT, currency STRING, amount INT, ts TIMESTAMP(3),
    PRIMARY KEY (id) NOT ENFORCED, WATERMARK FOR ts AS ts - INTERVAL '30' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'orders_cdc.json', 'format' = 'debezium-json');

CREATE TABLE rates (currency STRING, rate DOUBLE, ts TIMESTAMP(3),
    PRIMARY KEY (currency) NOT ENFORCED, WATERMARK FOR ts AS ts - INTERVAL '30' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'rates.json', 'format' = 'json');

SELECT o.id, o.amount, r.rate, o.ts FROM orders AS o
JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;

SELECT o.id, o.amount, r.rate, o.ts FROM orders AS o
LEFT JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;
