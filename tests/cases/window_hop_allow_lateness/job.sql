-- Hopping windows of 10 s every 5 s (5 s slices) with 5 s of allowed lateness; the
-- watermark is the row time, after every row that raises it. Computed by hand:
-- - 10:00:06 fires [09:59:55, 10:00:05): (1, 1); 10:00:11 fires [10:00, 10:00:10): (3, 7);
-- - 10:00:03 falls in slice [10:00, 10:00:05), shared by [09:59:55, 10:00:05) and
--   [10:00, 10:00:10). The first is past its lateness (kept until the watermark reaches
--   10:00:04.999 + 5 s, and it is 10:00:11): not updated. The second is updated:
--   -U (3, 7), +U (4, 23). The row is not counted as late;
-- - 10:00:16 fires [10:00:05, 10:00:15): (3, 14), and [10:00, 10:00:10) expires;
-- - 10:00:09 (slice [10:00:05, 10:00:10)) updates only [10:00:05, 10:00:15):
--   -U (3, 14), +U (4, 78);
-- - 10:00:02: both windows of its slice are past their lateness: dropped, counted;
-- - the end fires [10:00:10, 10:00:20): (2, 40) and [10:00:15, 10:00:25): (1, 32).
SET 'pipeline.auto-watermark-interval' = '0';
SET 'table.exec.emit.allow-lateness' = '5 s';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT window_start, window_end, item, COUNT(*) AS cnt, SUM(price) AS total
FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
GROUP BY window_start, window_end, item;
