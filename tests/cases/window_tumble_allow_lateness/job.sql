-- Tumbling windows of 10 s with 5 s of allowed lateness; a watermark follows every row
-- that raises it (interval 0), equal to the row time. Computed by hand:
-- - 10:00:12 fires [10:00, 10:00:10): a (1, 10) and b (1, 5) as +I;
-- - 10:00:05 (a) is after the window fired but within its lateness (the window is kept
--   until the watermark reaches 10:00:09.999 + 5 s): -U a (1, 10), +U a (2, 30);
-- - 10:00:07 (b), watermark 10:00:14, still within: -U b (1, 5), +U b (2, 7);
-- - 10:00:16 moves the watermark past 10:00:14.999: the window's state is dropped, and
--   10:00:08 (a) is late beyond the allowed lateness: dropped and counted;
-- - the end of input fires [10:00:10, 10:00:20): a (2, 31), b (1, 1).
SET 'pipeline.auto-watermark-interval' = '0';
SET 'table.exec.emit.allow-lateness' = '5 s';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT window_start, item, COUNT(*) AS cnt, SUM(price) AS total
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, item;
