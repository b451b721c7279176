-- COLD_STATE on the preserved side of a LEFT JOIN: refused, since a cold input's rows
-- are not kept and could not be padded or retracted.
CREATE TABLE orders (order_id BIGINT, amount DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');
CREATE TABLE refunds (refund_id BIGINT, order_id BIGINT)
WITH ('connector' = 'filesystem', 'path' = 'refunds.json', 'format' = 'json');
CREATE TABLE orders_cold (order_id BIGINT, amount DOUBLE, PRIMARY KEY (order_id) NOT ENFORCED)
WITH ('connector' = 'redis', 'url' = 'redis://127.0.0.1:1', 'key-prefix' = 'order:');
CREATE TABLE out (order_id BIGINT, refund_id BIGINT) WITH ('connector' = 'print');

INSERT INTO out
SELECT /*+ COLD_STATE('o' = 'orders_cold') */ o.order_id, r.refund_id
FROM orders AS o LEFT JOIN refunds AS r ON o.order_id = r.order_id;
