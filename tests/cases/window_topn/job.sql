-- Window Top-N: the two items with the highest totals in each 10 s window, with their rank.
CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT window_start, item, total, rn FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY total DESC) AS rn
    FROM (
        SELECT window_start, window_end, item, SUM(price) AS total
        FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
        GROUP BY window_start, window_end, item
    )
) WHERE rn <= 2;
