-- Split distinct aggregation (Flink's table.optimizer.distinct-agg.split.enabled): the
-- distinct counts per day run in two levels, first per (day, hash bucket of bidder), then
-- summed per day. The final table equals the one-level aggregation's (computed by hand).
SET 'table.optimizer.distinct-agg.split.enabled' = 'true';
SET 'table.optimizer.distinct-agg.split.bucket-num' = '4';

CREATE TABLE bids (
    bidder STRING,
    price INT,
    day STRING
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT day,
    COUNT(*) AS bids,
    COUNT(DISTINCT bidder) AS bidders,
    COUNT(DISTINCT bidder) FILTER (WHERE price < 100) AS small_bidders,
    SUM(price) AS total,
    MAX(price) AS top,
    MIN(price) FILTER (WHERE price >= 100) AS smallest_large
FROM bids
GROUP BY day;
