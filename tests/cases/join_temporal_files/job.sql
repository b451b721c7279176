-- Event-time temporal joins of orders with the currency rate valid at each order's time,
-- INNER and LEFT, against (1) a Debezium changelog of rates (creates, updates, deletes)
-- and (2) an append-only table of rate versions with a primary key. Rows are out of
-- order by less than the 5 s watermark delays, so no row is late and the results are the
-- batch "latest version at or before the order's time" (expected.py computes them with
-- SQLite, and writes the input files). Deletes carry the deletion time in the row they
-- delete, so the key has no rate from then on.
CREATE TABLE orders (
    order_id INT, price INT, currency STRING, order_time TIMESTAMP(3),
    WATERMARK FOR order_time AS order_time - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE rates_cdc (
    currency STRING, rate DOUBLE, update_time TIMESTAMP(3),
    PRIMARY KEY (currency) NOT ENFORCED,
    WATERMARK FOR update_time AS update_time - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'rates_cdc.json', 'format' = 'debezium-json');

CREATE TABLE rates (
    currency STRING, rate DOUBLE, update_time TIMESTAMP(3),
    PRIMARY KEY (currency) NOT ENFORCED,
    WATERMARK FOR update_time AS update_time - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'rates.json', 'format' = 'json');

SELECT o.order_id, o.price, o.currency, r.rate, o.order_time
FROM orders AS o
JOIN rates_cdc FOR SYSTEM_TIME AS OF o.order_time AS r
ON o.currency = r.currency;

SELECT o.order_id, o.price, o.currency, r.rate, o.order_time
FROM orders AS o
LEFT JOIN rates_cdc FOR SYSTEM_TIME AS OF o.order_time AS r
ON o.currency = r.currency;

SELECT o.order_id, o.currency, r.rate, r.update_time
FROM orders AS o
JOIN rates FOR SYSTEM_TIME AS OF o.order_time AS r
ON r.currency = o.currency;

SELECT o.order_id, o.price * r.rate AS converted, o.currency
FROM orders AS o
LEFT JOIN rates FOR SYSTEM_TIME AS OF o.order_time AS r
ON o.currency = r.currency AND r.rate > 1.0;
