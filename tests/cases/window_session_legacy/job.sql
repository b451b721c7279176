-- The older group-window syntax: GROUP BY SESSION(ts, gap), key, with SESSION_START,
-- SESSION_END and SESSION_ROWTIME (the session's last millisecond). Sessions are per
-- GROUP BY key; the input of window_session_merge_late without its late row, so the
-- sessions are the same whatever the watermark's timing (u1's rows at 10:00:00 and
-- 10:00:12 are bridged by the one at 10:00:06; u2's rows at 10:00:01, 10:00:18 and
-- 10:00:30 + 10:00:33 are three sessions).
SET 'pipeline.auto-watermark-interval' = '0';

CREATE TABLE clicks (
    ts TIMESTAMP(3),
    `user` STRING,
    n INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'clicks.json', 'format' = 'json');

SELECT `user`,
       SESSION_START(ts, INTERVAL '10' SECOND) AS sstart,
       SESSION_END(ts, INTERVAL '10' SECOND) AS send,
       SESSION_ROWTIME(ts, INTERVAL '10' SECOND) AS srowtime,
       SUM(n) AS total
FROM clicks
GROUP BY SESSION(ts, INTERVAL '10' SECOND), `user`;
