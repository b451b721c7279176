-- Session windows of 10 s per user, out-of-order input, watermark 5 s behind the largest
-- time, emitted after every row that raises it ('pipeline.auto-watermark-interval' = '0'):
-- - u1 has sessions [10:00:00, 10:00:10) and [10:00:12, 10:00:22) when the row at
--   10:00:06 arrives (not late: the watermark is 10:00:07); its window [10:00:06,
--   10:00:16) bridges them into one session [10:00:00, 10:00:22) of 3 rows;
-- - the row at 10:00:30 raises the watermark to 10:00:25: u1's session and u2's
--   [10:00:01, 10:00:11) fire;
-- - u1 at 10:00:05 then joins no open session and its own window [10:00:05, 10:00:15)
--   has fired: late, dropped;
-- - u2 at 10:00:18 opens [10:00:18, 10:00:28) (not late: 10:00:27.999 > 10:00:25), which
--   fires at watermark 10:00:35; u2 at 10:00:33 extends [10:00:30, 10:00:40) to 10:00:43.
--
-- Parallelism 1 only: at parallelism 4 the three source subtasks without a split end
-- concurrently with the first rows, and until their end reaches the window subtasks the
-- combined watermark is held back, so whether the row at 10:00:05 is late depends on
-- timing (window_tumble_late_rows has the same race). window_session_legacy runs the same
-- sessions without the late row at parallelism 1 and 4.
SET 'pipeline.auto-watermark-interval' = '0';

CREATE TABLE clicks (
    ts TIMESTAMP(3),
    `user` STRING,
    n INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'clicks.json', 'format' = 'json');

SELECT window_start, window_end, `user`, COUNT(*) AS clicks, SUM(n) AS total
FROM TABLE(SESSION(TABLE clicks PARTITION BY `user`, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, `user`;
