-- The older group-window syntax: GROUP BY TUMBLE(...) with TUMBLE_START and TUMBLE_END.
CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT TUMBLE_START(ts, INTERVAL '10' SECOND) AS wstart,
       TUMBLE_END(ts, INTERVAL '10' SECOND) AS wend,
       item,
       COUNT(*) AS cnt
FROM bids
GROUP BY TUMBLE(ts, INTERVAL '10' SECOND), item;
