-- SESSION_PROCTIME (a processing-time session) is refused with what to write instead.
CREATE TABLE clicks (
    ts TIMESTAMP(3),
    `user` STRING,
    n INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'clicks.json', 'format' = 'json');

SELECT `user`, SESSION_PROCTIME(ts, INTERVAL '10' SECOND) AS p, COUNT(*) AS c
FROM clicks
GROUP BY SESSION(ts, INTERVAL '10' SECOND), `user`;
