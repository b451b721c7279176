-- Flink's versioned views (the last row per key by event time, read FOR SYSTEM_TIME AS
-- OF) are not supported yet: refused, pointing to a versioned table.
CREATE TABLE orders (id INT, currency STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE rates_history (currency STRING, rate DOUBLE, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE VIEW rates AS
SELECT currency, rate, ts FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY currency ORDER BY ts DESC) AS rn
    FROM rates_history)
WHERE rn = 1;

SELECT o.id, r.rate FROM orders AS o
JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;
