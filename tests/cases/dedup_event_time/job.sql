-- Deduplication on event time: the last page per user (ORDER BY ts DESC) and the first
-- (ORDER BY ts ASC). A row with an earlier time that arrives later replaces the first.
CREATE TABLE clicks (
    `user` STRING,
    page STRING,
    ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'clicks', 'format' = 'json');

SELECT 'last', `user`, page, ts
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY `user` ORDER BY ts DESC) AS rn FROM clicks)
WHERE rn = 1;

SELECT 'first', `user`, page, ts
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY `user` ORDER BY ts ASC) AS rn FROM clicks)
WHERE rn <= 1;
