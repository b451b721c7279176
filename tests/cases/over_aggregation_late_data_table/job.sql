-- OVER aggregations ordered by event time: a ROWS frame (this row and the one before)
-- and a RANGE frame (the last 2 seconds, peers included). Rows wait for the watermark
-- and are processed per item in time order. The last row (item a at 10:00:02) arrives
-- after the watermark (10:00:04) made 'a' process up to 10:00:03: late, dropped, and
-- (this case) written by both OVER operators to the late-data table with the watermark
-- in force when it arrived (10:00:04). The output is that of over_aggregation.
SET 'pipeline.auto-watermark-interval' = '0';
SET 'weir.late-data.table' = 'late_rows';

CREATE TABLE late_rows (op STRING, event_time TIMESTAMP(3), wm TIMESTAMP(3), `row` STRING)
WITH ('connector' = 'filesystem', 'path' = 'late', 'format' = 'json');

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT item, ts, price,
    SUM(price) OVER (PARTITION BY item ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS last2,
    MAX(price) OVER (PARTITION BY item ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS max2
FROM bids;

SELECT item, ts, price, COUNT(*) OVER w AS cnt, AVG(price) OVER w AS avg_price
FROM bids
WINDOW w AS (PARTITION BY item ORDER BY ts RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW);
