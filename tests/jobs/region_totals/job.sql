-- An unbounded aggregation (an updating result) tested with weir test: the cases check
-- the final table and the changelog.
CREATE TABLE orders (id INT, region STRING, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders', 'format' = 'json');

CREATE TABLE totals (region STRING, orders BIGINT, total BIGINT, biggest INT)
WITH ('connector' = 'print');

INSERT INTO totals
SELECT region, COUNT(*), SUM(amount), MAX(amount) FROM orders GROUP BY region;
