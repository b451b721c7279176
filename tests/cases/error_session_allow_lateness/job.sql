SET 'table.exec.emit.allow-lateness' = '1 min';
CREATE TABLE clicks (ts TIMESTAMP(3), `user` STRING, WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'clicks.json', 'format' = 'json');
SELECT window_start, window_end, `user`, COUNT(*) AS clicks
FROM TABLE(SESSION(TABLE clicks PARTITION BY `user`, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, `user`;
