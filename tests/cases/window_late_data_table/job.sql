-- Rows a tumbling window aggregation drops as late go to the late-data table
-- ('weir.late-data.table'), a JSON file sink, besides being counted. The watermark is
-- the row time, after every row that raises it. Computed by hand:
-- - 10:00:12 fires [10:00, 10:00:10) (a: 1, 10);
-- - 10:00:05 (b) is late at watermark 10:00:12, and 10:00:09 (a) at 10:00:15: both are
--   written to the late table with their event time, the watermark and the row as JSON;
-- - the end fires [10:00:10, 10:00:20): a (1, 30), b (1, 1).
-- The operator column holds the window operator's name and id (as `weir explain` prints).
SET 'pipeline.auto-watermark-interval' = '0';
SET 'weir.late-data.table' = 'late_rows';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

CREATE TABLE late_rows (
    operator STRING,
    event_time TIMESTAMP(3),
    current_watermark TIMESTAMP(3),
    `row` STRING
) WITH ('connector' = 'filesystem', 'path' = 'late', 'format' = 'json');

SELECT window_start, item, COUNT(*) AS cnt, SUM(price) AS total
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, item;
