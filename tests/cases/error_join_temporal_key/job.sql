-- The equalities of a temporal join must cover the versioned table's whole primary key:
-- rates is keyed by (currency, market), the join equates only currency.
CREATE TABLE orders (id INT, currency STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE rates (
    currency STRING, market STRING, rate DOUBLE, ts TIMESTAMP(3),
    PRIMARY KEY (currency, market) NOT ENFORCED,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

SELECT o.id, r.rate FROM orders AS o
JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;
