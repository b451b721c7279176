CREATE TABLE orders (id INT, region STRING, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders', 'format' = 'json');
CREATE TABLE totals (region STRING, total BIGINT)
WITH ('connector' = 'filesystem', 'path' = 'totals', 'format' = 'json');
INSERT INTO totals
SELECT region, SUM(amount) FROM orders GROUP BY region;
