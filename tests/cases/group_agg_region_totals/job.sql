-- Unbounded GROUP BY: an updating stream of per-region results (+I, then -U/+U as
-- orders arrive). The orders folder holds three files, read as separate batches.
CREATE TABLE orders (id INT, region STRING, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders', 'format' = 'json');

CREATE TABLE totals (region STRING, orders BIGINT, total BIGINT, biggest INT, smallest INT)
WITH ('connector' = 'print');

INSERT INTO totals
SELECT region, COUNT(*), SUM(amount), MAX(amount), MIN(amount)
FROM orders
GROUP BY region;
