-- Rows that a tumbling window aggregation and a session window aggregation drop as late
-- go to the late-data table ('weir.late-data.table'), a JSON file sink, besides being
-- counted. The watermark is the row time, after every row that raises it. By hand:
-- - tumble: 10:00:12 fires [10:00, 10:00:10) (a: 1, 10); 10:00:05 (b) is late at
--   watermark 10:00:12, and 10:00:09 (a) at 10:00:15; the end fires [10:00:10, 10:00:20):
--   a (1, 30), b (1, 1);
-- - sessions (gap 2 s): a [10:00:01, 10:00:03) fires at 10:00:12; 10:00:05 (b) opens no
--   session (its own window [10:00:05, 10:00:07) has fired): late, as is 10:00:09 (a) at
--   10:00:15, after a [10:00:12, 10:00:14) fired; the end fires b [10:00:15, 10:00:17);
-- - the late table gets both rows from each operator: event time, watermark, row as JSON.
-- The operator column holds each operator's name and id (as `weir explain` prints).
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

SELECT window_start, window_end, item, COUNT(*) AS cnt
FROM TABLE(SESSION(TABLE bids PARTITION BY item, DESCRIPTOR(ts), INTERVAL '2' SECOND))
GROUP BY window_start, window_end, item;
