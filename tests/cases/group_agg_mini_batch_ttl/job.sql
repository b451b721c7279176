-- Mini-batch holds updates back and emits them in bulk; state TTL bounds state. Neither
-- changes the final result here (nothing is idle for an hour).
SET 'table.exec.mini-batch.enabled' = 'true';
SET 'table.exec.mini-batch.allow-latency' = '1 s';
SET 'table.exec.mini-batch.size' = '1000';
SET 'table.exec.state.ttl' = '1 h';

CREATE TABLE orders (id INT, region STRING, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders', 'format' = 'json');

SELECT region, COUNT(*), SUM(amount) FROM orders GROUP BY region
UNION ALL
SELECT region, CAST(id AS BIGINT), CAST(amount AS BIGINT) FROM orders WHERE amount < 0;
