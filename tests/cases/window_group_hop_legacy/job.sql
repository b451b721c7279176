-- The older syntax for hopping windows, without keys: HOP_START and HOP_ROWTIME (the
-- window's last millisecond).
CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT HOP_START(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND) AS wstart,
       HOP_ROWTIME(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND) AS wtime,
       SUM(price) AS total
FROM bids
GROUP BY HOP(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND);
