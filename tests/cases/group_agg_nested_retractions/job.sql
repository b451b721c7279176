-- Aggregations over an updating stream: the outer aggregates retract the inner results
-- they replace (MAX and MIN included), so the final tables are exact.
CREATE TABLE orders (id INT, region STRING, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders', 'format' = 'json');

CREATE VIEW region_totals AS
SELECT region, COUNT(*) AS cnt, SUM(amount) AS total FROM orders GROUP BY region;

SELECT MAX(total), MIN(total), COUNT(*), SUM(total) FROM region_totals;

SELECT cnt, COUNT(*) AS regions FROM region_totals GROUP BY cnt;
