-- Nexmark q15's shape: GROUP BY an expression (the day), COUNT(DISTINCT ...) and
-- aggregates with FILTER (WHERE ...).
CREATE TABLE bids (ts TIMESTAMP(3), `user` STRING, amount INT, region STRING)
WITH ('connector' = 'filesystem', 'path' = 'bids', 'format' = 'json');

SELECT
    DATE_FORMAT(ts, 'yyyy-MM-dd') AS `day`,
    COUNT(*) AS bids,
    COUNT(DISTINCT `user`) AS users,
    COUNT(*) FILTER (WHERE amount > 5) AS big_bids,
    SUM(amount) FILTER (WHERE region = 'eu') AS eu_amount
FROM bids
GROUP BY DATE_FORMAT(ts, 'yyyy-MM-dd');

SELECT DISTINCT region FROM bids;
