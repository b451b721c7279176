-- Unbounded Top-N: the two biggest orders of each region, with their row numbers. A new
-- leader shifts the others down a rank (-U/+U per rank, as Flink's rank-number mode).
CREATE TABLE orders (id INT, region STRING, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders', 'format' = 'json');

SELECT region, id, amount, rn
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY region ORDER BY amount DESC) AS rn
    FROM orders
)
WHERE rn <= 2;
