-- Window deduplication (last bid per item and window) and window Top-N (the highest bid
-- per window) write the rows they drop as late to the late-data table. The watermark is
-- the row time, after every row that raises it. Computed by hand:
-- - 10:00:12 fires [10:00, 10:00:10): dedup a (10:00:01, 10), b (10:00:03, 30); Top-N b 30;
-- - 10:00:05 (b) then is late for both: written to the late table with watermark
--   10:00:12 (a window Top-N gives a row's window end as its event time);
-- - the end fires [10:00:10, 10:00:20): dedup a 5, b 1; Top-N a 5.
SET 'pipeline.auto-watermark-interval' = '0';
SET 'weir.late-data.table' = 'late_rows';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

CREATE TABLE late_rows (operator STRING, event_time TIMESTAMP(3), current_watermark TIMESTAMP(3), `row` STRING)
WITH ('connector' = 'filesystem', 'path' = 'late', 'format' = 'json');

SELECT window_start, item, price FROM (
    SELECT *, ROW_NUMBER() OVER (
        PARTITION BY window_start, window_end, item ORDER BY ts DESC) AS rownum
    FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
) WHERE rownum = 1;

SELECT window_start, item, price, rn FROM (
    SELECT *, ROW_NUMBER() OVER (
        PARTITION BY window_start, window_end ORDER BY price DESC) AS rn
    FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
) WHERE rn <= 1;
