-- CREATE TABLE with computed columns (arithmetic on a DECIMAL, TO_TIMESTAMP of a physical
-- column, a function of a function) read from JSON, one of them used in WHERE.
CREATE TABLE orders (
  id INT,
  price DECIMAL(10, 2),
  qty INT,
  ts_text STRING,
  total AS price * qty,
  ts AS TO_TIMESTAMP(ts_text),
  day_of_month AS DAYOFMONTH(TO_TIMESTAMP(ts_text))
) WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

SELECT id, total, ts, day_of_month FROM orders WHERE total > 10;
