-- Projection, arithmetic, filter and CASE over a JSON file into a JSON folder.
CREATE TABLE orders (
  id BIGINT,
  customer STRING,
  amount DOUBLE,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE big_orders (
  id BIGINT,
  who STRING,
  amount_cents BIGINT,
  size STRING
) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');

INSERT INTO big_orders
SELECT id,
       COALESCE(UPPER(customer), 'UNKNOWN'),
       CAST(amount * 100 AS BIGINT),
       CASE WHEN amount >= 50 THEN 'large' ELSE 'medium' END
FROM orders
WHERE amount > 10;
